/**
 * Journal cost, on both backends (SQLite file; PostgreSQL on a local
 * server with fsync on): what the journal adds to each board, and how fast
 * serial numbers are handed out when four station processes ask at once.
 *
 *     deno task bench:journal                  # 200 boards ×3, 4 stations × 250 serials
 *     deno task bench:journal --boards 500 --serials 1000
 *     ESPLINE_TEST_PG=postgres://… deno task bench:journal   # an existing server
 *
 * Without ESPLINE_TEST_PG it starts a throwaway cluster from Debian's
 * PostgreSQL binaries (and skips PostgreSQL if they are not installed).
 *
 * Per backend it prints (per-board figures: the median of `--repeat` runs, since the
 * machine may be shared):
 * - ms per board, one board at a time: the journal calls a station makes
 *   for a board (begin, 5 updates, 2 events, a serial number, pass), each
 *   durable before the next;
 * - boards/s with 8 boards in flight in one process (a station with 8 ports);
 * - serial numbers per second with 4 station processes allocating at once
 *   (each a new MAC, one transaction each), and whether all were unique.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { openJournal } from "../lib/station/journal.ts";
import { findPgBin, PG_URL_ENV } from "../tests/support/external.ts";
import { type PgCluster, startPgCluster, testSchema } from "../tests/support/postgres.ts";
import { stationMac } from "../tests/support/journal_station.ts";

const CONFIG = new URL("../deno.json", import.meta.url).pathname;
const STATION = new URL("../tests/support/journal_station.ts", import.meta.url).pathname;

/** The journal calls one board costs a station. */
async function board(j: Awaited<ReturnType<typeof openJournal>>, mac: string): Promise<void> {
  const r = await j.begin({
    port: "sim://bench",
    station: "bench",
    files: [{ path: "app.bin", sha256: "00".repeat(32), address: 0x10000 }],
  });
  await r.update({ stage: "connect" });
  await r.update({ mac, chip: "esp32c3", revision: "v0.4", flashSize: 4 << 20 });
  await r.update({ stage: "flash" });
  await r.event("recovery", "E_TIMEOUT: retrying at 115200 baud");
  await r.update({ stage: "boot-check" });
  await r.event("log", "boot ok");
  await r.update({ stage: "serial" });
  const serial = await j.allocateSerial(mac);
  await r.pass({ serial });
}

interface Row {
  backend: string;
  msPerBoard: number;
  boardsPerSecond: number;
  serialsPerSecond: number;
  serialsUnique: boolean;
}

async function measure(
  name: string,
  target: string,
  { boards, serials, repeat }: { boards: number; serials: number; repeat: number },
): Promise<Row> {
  // The machine may be shared: each figure is the median of `repeat` runs.
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  await using j = await openJournal(target);
  // Warm up: tables, statements, connections, and the SQLite WAL file at its working size.
  for (let i = 0; i < 20; i++) await board(j, stationMac("02:ff", i));
  let mac = 0;
  const oneAtATime: number[] = [];
  const inFlight: number[] = [];
  for (let rep = 0; rep < repeat; rep++) {
    let t0 = performance.now();
    for (let i = 0; i < boards; i++) await board(j, stationMac("02:a0", mac++));
    oneAtATime.push((performance.now() - t0) / boards);
    // 8 in flight (a station with 8 ports).
    t0 = performance.now();
    let done = 0;
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (done++ < boards) await board(j, stationMac("02:a0", mac++));
    }));
    inFlight.push(boards / ((performance.now() - t0) / 1000));
  }
  const msPerBoard = median(oneAtATime);
  const boardsPerSecond = median(inFlight);
  // 4 station processes allocating serial numbers at once.
  const startAt = Date.now() + 3000; // after every process has started and connected
  const outs = await Promise.all([1, 2, 3, 4].map(async (n) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--config",
        CONFIG,
        STATION,
        "--journal",
        target,
        "--serials",
        String(serials),
        "--start-at",
        String(startAt),
        "--mac-prefix",
        `02:b${n}`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
    return JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!) as {
      serials: number;
      unique: number;
      start: number;
      end: number;
    };
  }));
  const total = outs.reduce((a, o) => a + o.serials, 0);
  const seconds = (Math.max(...outs.map((o) => o.end)) - Math.min(...outs.map((o) => o.start))) /
    1000;
  return {
    backend: name,
    msPerBoard,
    boardsPerSecond,
    serialsPerSecond: total / seconds,
    serialsUnique: outs.every((o) => o.unique === o.serials) && total === 4 * serials,
  };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      boards: { type: "string", default: "200" },
      serials: { type: "string", default: "250" },
      repeat: { type: "string", default: "3" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(`Journal cost on SQLite and PostgreSQL: ms per board, boards/s, serial numbers/s.

usage: deno task bench:journal [--boards N] [--serials N] [--repeat N]

  --boards N     boards per measurement (default 200)
  --serials N    serial numbers per station process, 4 processes (default 250)
  --repeat N     runs per per-board figure, the median is reported (default 3)

PostgreSQL: the server in ${PG_URL_ENV}, else a throwaway cluster from Debian's
binaries (skipped when they are not installed).`);
    Deno.exit(0);
  }
  const boards = Number(values.boards);
  const serials = Number(values.serials);
  const sizes = { boards, serials, repeat: Number(values.repeat) };
  const rows: Row[] = [];
  const dir = await Deno.makeTempDir({ prefix: "espline-journal-bench-" });
  let cluster: PgCluster | null = null;
  try {
    rows.push(await measure("sqlite", `${dir}/bench.db`, sizes));
    let pgUrl = Deno.env.get(PG_URL_ENV) ?? null;
    if (!pgUrl && findPgBin()) {
      cluster = await startPgCluster({ fsync: true });
      pgUrl = cluster.url;
    }
    if (pgUrl) {
      // A schema of its own, dropped afterwards (the server may not be ours).
      await using schema = await testSchema(pgUrl);
      rows.push(await measure("postgres", schema.url, sizes));
    } else {
      console.log(`PostgreSQL skipped: set ${PG_URL_ENV} or apt-get install postgresql`);
    }
  } finally {
    await cluster?.destroy();
    await Deno.remove(dir, { recursive: true });
  }
  console.log(
    `journal cost per board (begin, 5 updates, 2 events, serial, pass; each durable): ${boards} boards`,
  );
  console.log(
    "backend    ms/board (1 at a time)   boards/s (8 in flight)   serials/s (4 stations)",
  );
  for (const r of rows) {
    console.log(
      `${r.backend.padEnd(10)} ${r.msPerBoard.toFixed(2).padStart(10)}               ${
        r.boardsPerSecond.toFixed(0).padStart(8)
      }                 ${r.serialsPerSecond.toFixed(0).padStart(8)}${
        r.serialsUnique ? "" : "  DUPLICATES!"
      }`,
    );
  }
  console.log(`(serials: 4 station processes × ${serials} new MACs each, one transaction each)`);
  const load = Deno.loadavg().map((x) => x.toFixed(1)).join(" ");
  console.log(`(machine: ${navigator.hardwareConcurrency} cores, load average ${load})`);
  if (rows.some((r) => !r.serialsUnique)) Deno.exit(1);
}
