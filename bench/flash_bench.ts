/**
 * Flash throughput benchmark against the virtual chip with byte pacing at
 * the line baud and modelled flash erase/program times.
 *
 *     deno task bench                 # 1 MiB and 4 MiB at 115200, 460800, 921600
 *     deno task bench --quick         # 1 MiB at 921600 only
 *     deno task bench --sizes 1 --bauds 921600,460800
 *     deno task bench --rom           # espline vs esptool on the genuine ROM (bench/rom_bench.ts)
 *
 * Prints, for a forced full write (`--no-skip`): seconds, effective kbit/s,
 * the compression ratio and the ratio of the time to the wire limit
 * (compressed bytes × 10 / baud); the time of a default write to a fresh
 * (erased) chip, where chunks already 0xFF are skipped; the time to
 * re-flash an unchanged image as a share of the full write, and the wall
 * time of 8 boards written in parallel against one.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { zlibSync } from "fflate";
import { openSimPort } from "../lib/sim/sim_port.ts";
import type { SimChipKey } from "../lib/sim/virtual_chip.ts";
import { LoaderSession } from "../lib/loader/session.ts";
import { writeFlash } from "../lib/flash/write.ts";

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

async function timedWrite(data: Uint8Array, baud: number, skipUnchanged: boolean) {
  const session = await connect("esp32", baud);
  const t0 = performance.now();
  const report = await writeFlash(session, [{ address: 0x10000, data }], { skipUnchanged });
  return { session, report, seconds: (performance.now() - t0) / 1000 };
}

async function benchOne(data: Uint8Array, baud: number): Promise<Row> {
  // Full write, forced (--no-skip): every byte goes over the wire.
  const full = await timedWrite(data, baud, false);
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

if (import.meta.main && Deno.args.includes("--rom")) {
  // The side-by-side with esptool on the genuine ROM (same as `deno task bench:rom`).
  const { romBenchOptions, runRomBench } = await import("./rom_bench.ts");
  await runRomBench(romBenchOptions(Deno.args));
} else if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      quick: { type: "boolean" },
      sizes: { type: "string" },
      bauds: { type: "string" },
      boards: { type: "string" },
    },
  });
  const sizes = (values.sizes ?? (values.quick ? "1" : "1,4")).split(",").map(Number);
  const bauds = (values.bauds ?? (values.quick ? "921600" : "115200,460800,921600")).split(",").map(
    Number,
  );
  const boards = Number(values.boards ?? 8);
  console.log(
    "espline flash benchmark: virtual ESP32, stub, paced at the baud, modelled flash timing",
  );
  for (const mib of sizes) {
    const { data, source } = await payload(mib * 1024 * 1024);
    const comp = zlibSync(data, { level: 9 }).length;
    console.log(
      `\npayload ${mib} MiB from ${source}: compresses to ${comp} bytes (ratio ${
        (data.length / comp).toFixed(2)
      }:1)`,
    );
    console.log(
      "size     baud     full s   kbit/s   wire-limit s  full/wire  fresh-chip s  re-flash s  re-flash %",
    );
    for (const baud of bauds) {
      const r = await benchOne(data, baud);
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
      console.log(cells.join(" "));
    }
  }
  const { data } = await payload(1024 * 1024);
  const baud = 921600;
  const one = await parallel(data, baud, 1);
  const many = await parallel(data, baud, boards);
  console.log(
    `\nparallel: 1 board ${one.toFixed(2)} s, ${boards} boards ${many.toFixed(2)} s wall: ${
      (many / one).toFixed(2)
    }x (target < 1.3x)`,
  );
}
