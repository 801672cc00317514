/**
 * How often a wrong identity reaches the caller: seeded connects to virtual
 * chips that corrupt frames (`corrupt=RATE`), each asked for its chip, MAC,
 * revision and flash size through the public API, compared with what the
 * virtual chip was made with.
 *
 *     deno run -A bench/identity_bench.ts                      # 500 connects, esp32c6, corrupt=0.03
 *     deno run -A bench/identity_bench.ts --connects 200 --chip esp32 --corrupt 0.05 --seed 1000
 *
 * Prints, per run: connects that succeeded, connects refused with a typed
 * error (by code), and wrong values that reached the caller (must be 0).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { measureIdentity } from "../tests/support/identity_runs.ts";

if (import.meta.main) {
  const args = parseArgs({
    args: Deno.args,
    options: {
      connects: { type: "string", default: "500" },
      chip: { type: "string", default: "esp32c6" },
      corrupt: { type: "string", default: "0.03" },
      seed: { type: "string", default: "90000" },
      parallel: { type: "string", default: "10" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (args.values.help) {
    console.log(
      `How often a wrong identity reaches the caller, over seeded connects to corrupting virtual chips.

usage: deno run -A bench/identity_bench.ts [--connects N] [--chip KEY] [--corrupt RATE] [--seed N] [--parallel N]

  --connects N    connects (default 500)
  --chip KEY      virtual chip (default esp32c6)
  --corrupt RATE  share of frames corrupted (default 0.03)
  --seed N        first seed; connect i uses seed + i (default 90000)
  --parallel N    connects at once (default 10)

Wrong values that reach the caller must be 0.`,
    );
    Deno.exit(0);
  }
  const connects = Number(args.values.connects);
  const t0 = performance.now();
  const r = await measureIdentity({
    chip: args.values.chip!,
    corrupt: Number(args.values.corrupt),
    firstSeed: Number(args.values.seed),
    connects,
    parallel: Number(args.values.parallel),
  });
  const pct = (n: number) => `${(100 * n / Math.max(1, r.connected)).toFixed(2)}%`;
  console.log(
    `${args.values.chip} corrupt=${args.values.corrupt}, seeds ${args.values.seed}..${
      Number(args.values.seed) + connects - 1
    }: ${connects} connects in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  console.log(`  connected (identity returned): ${r.connected}`);
  console.log(`  refused with a typed error:    ${r.refused} ${JSON.stringify(r.refusedByCode)}`);
  console.log(`  wrong MAC returned:            ${r.wrongMac} (${pct(r.wrongMac)})`);
  console.log(`  wrong chip returned:           ${r.wrongChip}`);
  console.log(`  wrong revision returned:       ${r.wrongRevision}`);
  console.log(`  wrong flash size returned:     ${r.wrongFlashSize}`);
  if (r.examples.length) console.log(`  e.g. ${r.examples.join("; ")}`);
}
