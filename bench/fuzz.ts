/**
 * Fuzz every parser with random and mutated inputs.
 *
 *     deno task fuzz --inputs 100000 --seed 1 [--target slip]
 *
 * Prints per target: inputs, typed errors, successes, heap growth and
 * findings (saved with a reproducer under .tmp/fuzz-findings/); exits
 * non-zero on any finding. A line on stderr shows how far it is and about
 * how long is left.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { fuzz, type FuzzTarget } from "../lib/fuzz/harness.ts";
import { TARGETS } from "../lib/fuzz/targets.ts";
import { Progress } from "./progress.ts";

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      inputs: { type: "string", default: "100000" },
      seed: { type: "string", default: "1" },
      target: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(`Feed random and mutated inputs to every parser; any untyped error is a finding.

usage: deno task fuzz [--inputs N] [--seed N] [--target NAME]

  --inputs N     inputs per target (default 100000); the slow ones (session, read-flash,
                 rfc2217: a virtual chip or a TCP server per input) get fewer, in proportion
                 to their share of the test suite's short run (session 3000 of 100000)
  --seed N       seed (default 1); a finding's seed and index replay it
  --target NAME  one target only: ${TARGETS.map((t) => t.name).join(", ")}

Findings are saved under .tmp/fuzz-findings/; the exit code is 1 when there are any.`);
    Deno.exit(0);
  }
  const targets = TARGETS.filter((t) => !values.target || t.name === values.target);
  if (!targets.length) {
    console.error(`unknown target ${values.target}: ${TARGETS.map((t) => t.name).join(", ")}`);
    Deno.exit(2);
  }
  let findings = 0;
  const inputs = Number(values.inputs);
  // A slow target (a virtual chip or a TCP server per input) gets fewer, in proportion to its test run.
  const inputsFor = (t: FuzzTarget) =>
    Math.max(1, Math.round(inputs * Math.min(1, (t.quickInputs ?? 2000) / 2000)));
  const total = targets.reduce((n, t) => n + inputsFor(t), 0);
  const progress = new Progress({ total, label: "fuzz" });
  for (const [n, t] of targets.entries()) {
    const note = `${t.name} (${n + 1} of ${targets.length})`;
    progress.partial(0, note);
    const r = await fuzz(t, {
      inputs: inputsFor(t),
      seed: Number(values.seed),
      onProgress: (done) => progress.partial(done),
    });
    progress.advance(inputsFor(t));
    findings += r.findings.length;
    progress.log(
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
        progress.log(`  ${f.problem} (seed ${f.seed}, input ${f.index}) -> ${file}`);
      }
    }
  }
  progress.finish();
  Deno.exit(findings ? 1 : 0);
}
