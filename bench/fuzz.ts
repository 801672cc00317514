/**
 * Fuzz every parser with random and mutated inputs.
 *
 *     deno task fuzz --inputs 100000 --seed 1 [--target slip]
 *
 * Prints per target: inputs, typed errors, successes, heap growth and
 * findings (saved with a reproducer under .tmp/fuzz-findings/); exits
 * non-zero on any finding.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { fuzz } from "../lib/fuzz/harness.ts";
import { TARGETS } from "../lib/fuzz/targets.ts";

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      inputs: { type: "string", default: "100000" },
      seed: { type: "string", default: "1" },
      target: { type: "string" },
    },
  });
  const targets = TARGETS.filter((t) => !values.target || t.name === values.target);
  if (!targets.length) {
    console.error(`unknown target ${values.target}: ${TARGETS.map((t) => t.name).join(", ")}`);
    Deno.exit(2);
  }
  let findings = 0;
  for (const t of targets) {
    const r = await fuzz(t, { inputs: Number(values.inputs), seed: Number(values.seed) });
    findings += r.findings.length;
    console.log(
      `${
        r.target.padEnd(13)
      } inputs ${r.inputs}  typed errors ${r.typedErrors}  ok ${r.successes}  findings ${r.findings.length}  heap ${
        (r.heapGrowth / 1024 / 1024).toFixed(1)
      } MiB  ${r.seconds.toFixed(1)} s`,
    );
    if (r.findings.length) {
      await Deno.mkdir(".tmp/fuzz-findings", { recursive: true });
      for (const f of r.findings.slice(0, 20)) {
        const file = `.tmp/fuzz-findings/${f.target}-${f.seed}-${f.index}.json`;
        await Deno.writeTextFile(file, JSON.stringify(f, null, 2));
        console.log(`  ${f.problem} (seed ${f.seed}, input ${f.index}) -> ${file}`);
      }
    }
  }
  Deno.exit(findings ? 1 : 0);
}
