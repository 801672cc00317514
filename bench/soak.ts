/**
 * Fault-injection soak: many seeded runs of write + verify against the
 * virtual chip with random byte corruption, dropped frames, stalls,
 * brown-out resets mid-write and disconnects. Every run must end in one of
 * two ways: the flash verifies, or the operation fails with a typed error
 * and the journal says failed. A run reported as passed whose flash content
 * is wrong is a silent corruption.
 *
 *     deno task soak --runs 1000 --seed 1
 *
 * 1000 runs took 5 minutes on two shared cores; a line on stderr shows how
 * far it is and about how long is left.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { EsplineError } from "../lib/errors.ts";
import { runOne } from "../lib/station/runner.ts";
import { sessionOf } from "../lib/device/device.ts";
import type { FlashRegion } from "../lib/flash/write.ts";
import type { SimPort } from "../lib/sim/sim_port.ts";
import { openJournal } from "../lib/station/journal.ts";
import { prng } from "../lib/fuzz/harness.ts";
import { Progress } from "./progress.ts";

/** Result of a soak. */
export interface SoakReport {
  /** Runs performed. */
  runs: number;
  /** Faults the virtual chips injected. */
  faultsInjected: number;
  /** Runs with faults that still ended verified. */
  recovered: number;
  /** Runs without any fault that ended verified. */
  clean: number;
  /** Runs that failed with a typed error and a failed journal record. */
  failedCleanly: number;
  /** Runs reported passed whose flash differs from the image. */
  silentCorruptions: number;
  /** Runs that failed with something other than a typed error, or whose journal disagrees. */
  untyped: number;
  /** Descriptions of the bad runs, for replay. */
  problems: string[];
}

/** Options for {@link soak}. */
export interface SoakOptions {
  /** Number of runs. Default 200. */
  runs?: number;
  /** First seed; run i uses seed + i. Default 1. */
  seed?: number;
  /** Runs at once. Default 8. */
  parallel?: number;
  /** Called after each run. */
  onRun?: (index: number, summary: string) => void;
}

const CHIPS = ["esp32", "esp32s3", "esp32c3", "esp32c6", "esp32s2", "esp32h2", "esp8266"];

function image(rand: () => number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) {
    out[i] = rand() < 0.3 ? Math.floor(rand() * 256) : "soak-data-"[i % 10].charCodeAt(0);
  }
  return out;
}

function portUrl(seed: number, rand: () => number): string {
  const chip = CHIPS[Math.floor(rand() * CHIPS.length)];
  const p = new URLSearchParams({ seed: String(seed), stallms: "150" });
  // A quarter of the runs are fault-free; the rest get a random mix.
  if (rand() >= 0.25) {
    if (rand() < 0.6) p.set("corrupt", (rand() * 0.02).toFixed(4));
    if (rand() < 0.5) p.set("drop", (rand() * 0.02).toFixed(4));
    if (rand() < 0.4) p.set("stall", (rand() * 0.01).toFixed(4));
    if (rand() < 0.3) p.set("reset", (rand() * 0.05).toFixed(4));
    if (rand() < 0.2) p.set("disconnect", (rand() * 0.003).toFixed(4));
  }
  return `sim://${chip}?${p}`;
}

/** Run the soak and count outcomes. */
export async function soak(options: SoakOptions = {}): Promise<SoakReport> {
  const runs = options.runs ?? 200;
  const seed0 = options.seed ?? 1;
  const report: SoakReport = {
    runs: 0,
    faultsInjected: 0,
    recovered: 0,
    clean: 0,
    failedCleanly: 0,
    silentCorruptions: 0,
    untyped: 0,
    problems: [],
  };
  const dir = await Deno.makeTempDir({ prefix: "espline-soak-" });
  await using journal = await openJournal(`${dir}/soak.db`);
  let next = 0;
  const worker = async () => {
    while (next < runs) {
      const index = next++;
      const seed = seed0 + index;
      const rand = prng(seed);
      const url = portUrl(seed, rand);
      const regions: FlashRegion[] = [
        { address: 0x1000, data: image(rand, 4096 + Math.floor(rand() * 8192)), name: "boot" },
        { address: 0x10000, data: image(rand, 16384 + Math.floor(rand() * 65536)), name: "app" },
      ];
      let faults = 0;
      let flashOk = false;
      const outcome = await runOne(url, async ({ device }) => {
        try {
          await device.flash(regions, { resume: { attempts: 3, fallbackBauds: [115200] } });
        } finally {
          // Ground truth: the virtual chip's own flash, whatever the client believes.
          const chip = (sessionOf(device).transport as unknown as SimPort).chip;
          faults += chip.stats.faultsInjected;
          flashOk = regions.every((r) => r.data.every((b, i) => chip.flash[r.address + i] === b));
        }
      }, { journal, connect: { baud: 460800, connectAttempts: 3, after: "no-reset" } }).catch((
        e,
      ) => ({
        result: "crash" as const,
        error: e,
      }));
      report.runs++;
      report.faultsInjected += faults;
      let verdict: string;
      if (outcome.result === "passed") {
        if (!flashOk) {
          report.silentCorruptions++;
          verdict = "SILENT CORRUPTION";
          report.problems.push(`seed ${seed} ${url}: passed but the flash differs`);
        } else if (faults > 0) {
          report.recovered++;
          verdict = "recovered";
        } else {
          report.clean++;
          verdict = "clean";
        }
      } else if (
        outcome.result === "failed" && outcome.error && outcome.error.code !== "E_INTERNAL"
      ) {
        report.failedCleanly++;
        verdict = `failed cleanly (${outcome.error.code})`;
      } else {
        report.untyped++;
        const e = "error" in outcome ? outcome.error : undefined;
        verdict = `UNTYPED (${
          e instanceof EsplineError ? e.code : String((e as { message?: string })?.message ?? e)
        })`;
        report.problems.push(`seed ${seed} ${url}: ${verdict}`);
      }
      options.onRun?.(index, `${seed} ${url} -> ${verdict}`);
    }
  };
  await Promise.all(Array.from({ length: options.parallel ?? 8 }, worker));
  // The journal must agree: every failed run is recorded failed, none passed.
  const summary = await journal.summary();
  const passedInJournal = summary.passed ?? 0;
  const expectedPassed = report.clean + report.recovered + report.silentCorruptions;
  if (passedInJournal !== expectedPassed) {
    report.untyped++;
    report.problems.push(
      `journal says ${passedInJournal} passed, the soak counted ${expectedPassed}`,
    );
  }
  await Deno.remove(dir, { recursive: true });
  return report;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      runs: { type: "string", default: "200" },
      seed: { type: "string", default: "1" },
      parallel: { type: "string", default: "8" },
      verbose: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(`Seeded fault-injection runs of write + verify against the virtual chip.

usage: deno task soak [--runs N] [--seed N] [--parallel N] [--verbose]

  --runs N       runs (default 200, about a minute; 1000 took 5 minutes on two shared cores)
  --seed N       first seed; run i uses seed + i (default 1), so a bad run can be replayed
  --parallel N   runs at once (default 8)
  --verbose      print every run's seed, port and verdict

Exits 1 on a silent corruption or an untyped failure.`);
    Deno.exit(0);
  }
  const t0 = performance.now();
  const runs = Number(values.runs);
  const progress = new Progress({ total: runs, label: "soak" });
  const r = await soak({
    runs,
    seed: Number(values.seed),
    parallel: Number(values.parallel),
    onRun: (_i, s) => {
      if (values.verbose) progress.log(s);
      progress.advance(1);
    },
  });
  progress.finish();
  console.log(`runs: ${r.runs}`);
  console.log(`faults injected: ${r.faultsInjected}`);
  console.log(`clean: ${r.clean}`);
  console.log(`recovered: ${r.recovered}`);
  console.log(`failed cleanly: ${r.failedCleanly}`);
  console.log(`untyped failures: ${r.untyped}`);
  console.log(`silent corruptions: ${r.silentCorruptions}`);
  console.log(`seconds: ${((performance.now() - t0) / 1000).toFixed(1)}`);
  for (const p of r.problems) console.log(`  ${p}`);
  Deno.exit(r.silentCorruptions || r.untyped ? 1 : 0);
}
