/**
 * Flash throughput benchmark against the virtual chip with byte pacing at
 * the line baud and modelled flash erase/program times.
 *
 *     deno task bench                 # 1 MiB and 4 MiB at 115200, 460800, 921600
 *     deno task bench --quick         # 1 MiB at 921600 only
 *     deno task bench --sizes 1 --bauds 921600,460800
 *     deno task bench --rom           # espline vs esptool on the genuine ROM (bench/rom_bench.ts)
 *     deno task bench --journal       # the journal's cost per board only (bench/journal_bench.ts)
 *
 * Prints, for a forced full write (`--no-skip`): seconds, effective kbit/s,
 * the compression ratio and the ratio of the time to the wire limit
 * (compressed bytes × 10 / baud); the time of a default write to a fresh
 * (erased) chip, where chunks already 0xFF are skipped; the time to
 * re-flash an unchanged image as a share of the full write, and the wall
 * time of 8 boards written in parallel against one. A progress line with
 * the time left runs on stderr (the whole benchmark took 11 minutes on two
 * shared cores; `--quick` about half a minute). The default run ends with
 * the journal benchmark (SQLite and PostgreSQL: cost per board, serial
 * numbers per second with four station processes), as `--journal` alone.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { zlibSync } from "fflate";
import { openSimPort } from "../lib/sim/sim_port.ts";
import type { SimChipKey } from "../lib/sim/virtual_chip.ts";
import { LoaderSession } from "../lib/loader/session.ts";
import { writeFlash } from "../lib/flash/write.ts";
import { Progress } from "./progress.ts";

const FIXTURES = new URL("../../shared/fixtures/esptool-images/", import.meta.url);

/** A payload of realistic compressibility: real images repeated, then 0xFF padding (25 %). */
async function payload(size: number): Promise<{ data: Uint8Array; source: string }> {
  const parts: Uint8Array[] = [];
  try {
    for await (const e of Deno.readDir(FIXTURES)) {
      if (e.isFile && e.name.endsWith(".bin")) {
        parts.push(await Deno.readFile(new URL(e.name, FIXTURES)));
      }
    }
  } catch {
    // fixtures absent: fall back to generated code-like data
  }
  const source = parts.length ? "reference images" : "generated data (fixtures absent)";
  if (!parts.length) {
    let x = 12345;
    const gen = new Uint8Array(256 * 1024);
    for (let i = 0; i < gen.length; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      gen[i] = i % 4 === 3 ? (x >>> 24) : (x >>> 28) * 16;
    }
    parts.push(gen);
  }
  const data = new Uint8Array(size).fill(0xff);
  const fill = Math.floor(size * 0.75);
  let off = 0;
  for (let i = 0; off < fill; i++) {
    const p = parts[i % parts.length].subarray(0, fill - off);
    data.set(p, off);
    off += p.length;
  }
  return { data, source };
}

async function connect(chip: SimChipKey, baud: number) {
  const port = openSimPort({
    chip,
    pace: true,
    latencyMs: 1,
    flashTiming: true,
    flashSize: 8 * 1024 * 1024,
  });
  const session = await LoaderSession.connect(port, { connectAttempts: 3 });
  await session.runStub();
  if (baud !== port.baud) await session.changeBaud(baud);
  return session;
}

interface Row {
  size: string;
  baud: number;
  seconds: number;
  kbits: number;
  ratio: number;
  wireLimit: number;
  vsWire: number;
  freshSeconds: number;
  reflash: number;
  reflashPct: number;
}

async function timedWrite(
  data: Uint8Array,
  baud: number,
  skipUnchanged: boolean,
  onBytes?: (done: number) => void,
) {
  const session = await connect("esp32", baud);
  const t0 = performance.now();
  const report = await writeFlash(session, [{ address: 0x10000, data }], {
    skipUnchanged,
    onProgress: (p) => p.stage === "write" && onBytes?.(p.done),
  });
  return { session, report, seconds: (performance.now() - t0) / 1000 };
}

async function benchOne(
  data: Uint8Array,
  baud: number,
  onBytes?: (done: number) => void,
): Promise<Row> {
  // Full write, forced (--no-skip): every byte goes over the wire.
  const full = await timedWrite(data, baud, false, onBytes);
  try {
    const t1 = performance.now();
    const again = await writeFlash(full.session, [{ address: 0x10000, data }]);
    const reflash = (performance.now() - t1) / 1000;
    if (again.skipped !== 1) throw new Error("unchanged re-flash was not skipped");
    // Default options on a fresh (erased) chip: chunks already 0xFF are skipped.
    const fresh = await timedWrite(data, baud, true);
    await fresh.session.close();
    const wireLimit = (full.report.bytesOnWire * 10) / baud;
    return {
      size: `${data.length / 1024 / 1024} MiB`,
      baud,
      seconds: full.seconds,
      kbits: (data.length * 8) / full.seconds / 1000,
      ratio: data.length / full.report.bytesOnWire,
      wireLimit,
      vsWire: full.seconds / wireLimit,
      freshSeconds: fresh.seconds,
      reflash,
      reflashPct: (reflash / full.seconds) * 100,
    };
  } finally {
    await full.session.close();
  }
}

async function parallel(data: Uint8Array, baud: number, boards: number): Promise<number> {
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: boards }, async () => {
      const s = await connect("esp32c3", baud);
      try {
        await writeFlash(s, [{ address: 0x10000, data }], { skipUnchanged: false });
      } finally {
        await s.close();
      }
    }),
  );
  return (performance.now() - t0) / 1000;
}

/** Run the journal benchmark (bench/journal_bench.ts) as a child process, its output here. */
async function journalBench(args: string[]): Promise<void> {
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("./journal_bench.ts", import.meta.url).pathname, ...args],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (code !== 0) Deno.exit(code);
}

if (import.meta.main && Deno.args.includes("--journal")) {
  await journalBench(Deno.args.filter((a) => a !== "--journal"));
} else if (import.meta.main && Deno.args.includes("--rom")) {
  // The side-by-side with esptool on the genuine ROM (same as `deno task bench:rom`).
  const { ROM_BENCH_USAGE, romBenchOptions, runRomBench, wantsHelp } = await import(
    "./rom_bench.ts"
  );
  if (wantsHelp(Deno.args)) {
    console.log(ROM_BENCH_USAGE);
    Deno.exit(0);
  }
  await runRomBench(romBenchOptions(Deno.args));
} else if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      quick: { type: "boolean" },
      sizes: { type: "string" },
      bauds: { type: "string" },
      boards: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(`Flash throughput against the virtual chip, paced at the baud rate.

usage: deno task bench [--quick] [--sizes MIB,…] [--bauds BAUD,…] [--boards N]
       deno task bench --journal [journal bench options]   (the journal part only)
       deno task bench --rom [rom bench options]           (espline vs esptool on the genuine ROM)

  --quick         1 MiB at 921600 only (about half a minute)
  --sizes 1,4     payload sizes in MiB (default 1,4)
  --bauds …       baud rates (default 115200,460800,921600)
  --boards N      boards written in parallel at the end (default 8)

The default run ends with the journal benchmark (cost per board on SQLite
and PostgreSQL, serial numbers per second with 4 station processes; half a
minute). The whole default run took 11 minutes on two shared cores; a line on
stderr shows how far it is and about how long is left.`);
    Deno.exit(0);
  }
  const sizes = (values.sizes ?? (values.quick ? "1" : "1,4")).split(",").map(Number);
  const bauds = (values.bauds ?? (values.quick ? "921600" : "115200,460800,921600")).split(",").map(
    Number,
  );
  const boards = Number(values.boards ?? 8);
  console.log(
    "espline flash benchmark: virtual ESP32, stub, paced at the baud, modelled flash timing",
  );
  // Each step's weight is a guess at its time: two paced writes (the full one and the one to a
  // fresh chip) of the compressed payload at the baud, plus the modelled flash time. The
  // estimate of the time left follows what the steps really take as they finish.
  const payloads = await Promise.all(sizes.map(async (mib) => {
    const p = await payload(mib * 1024 * 1024);
    return { mib, ...p, comp: zlibSync(p.data, { level: 9 }).length };
  }));
  const weight = (comp: number, mib: number, baud: number) => 2 * (comp * 10 / baud + mib);
  const parallelWeight = 2 * weight(payloads[0]?.comp ?? 0, 1, 921600);
  const total = payloads.reduce(
    (n, p) => n + bauds.reduce((m, b) => m + weight(p.comp, p.mib, b), 0),
    parallelWeight,
  );
  const progress = new Progress({ total, label: "bench" });
  for (const { mib, data, source, comp } of payloads) {
    progress.log(
      `\npayload ${mib} MiB from ${source}: compresses to ${comp} bytes (ratio ${
        (data.length / comp).toFixed(2)
      }:1)`,
    );
    progress.log(
      "size     baud     full s   kbit/s   wire-limit s  full/wire  fresh-chip s  re-flash s  re-flash %",
    );
    for (const baud of bauds) {
      const w = weight(comp, mib, baud);
      progress.partial(0, `${mib} MiB at ${baud} baud`);
      // The full write is about half of the step.
      const r = await benchOne(
        data,
        baud,
        (done) => progress.partial((w / 2) * done / data.length),
      );
      progress.advance(w);
      const cells = [
        r.size.padEnd(8),
        String(r.baud).padEnd(8),
        r.seconds.toFixed(2).padStart(6),
        r.kbits.toFixed(0).padStart(7),
        r.wireLimit.toFixed(2).padStart(13),
        `${r.vsWire.toFixed(3)}x`.padStart(10),
        r.freshSeconds.toFixed(2).padStart(13),
        r.reflash.toFixed(3).padStart(11),
        r.reflashPct.toFixed(2).padStart(11),
      ];
      progress.log(cells.join(" "));
    }
  }
  const { data } = await payload(1024 * 1024);
  const baud = 921600;
  progress.partial(0, `1 board, then ${boards} in parallel`);
  const one = await parallel(data, baud, 1);
  progress.partial(parallelWeight / 2);
  const many = await parallel(data, baud, boards);
  progress.finish();
  console.log(
    `\nparallel: 1 board ${one.toFixed(2)} s, ${boards} boards ${many.toFixed(2)} s wall: ${
      (many / one).toFixed(2)
    }x (target < 1.3x)`,
  );
  if (!values.quick && !values.sizes && !values.bauds) {
    console.log("");
    await journalBench([]);
  }
}
