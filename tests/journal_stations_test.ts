/**
 * Several station processes on one journal, on both backends: no record
 * lost or left in progress, serial numbers unique; a killed station's
 * boards become `incomplete` (at once on one kernel through its lock, after
 * its lease on PostgreSQL) while live stations' boards are left alone; a
 * restarted station that is PID 1 again (a container) is not taken for the
 * dead one; a PostgreSQL server restarted mid-run loses nothing.
 *
 * The stations are tests/support/journal_station.ts processes: they write
 * what a station writes, without boards, so only the journal is under test.
 */

import assert from "node:assert/strict";
import { openJournal } from "../lib/station/journal.ts";
import { externalTest, postgres, postgresBinaries, type Resource } from "./support/external.ts";
import { startPgCluster, testSchema, withSchema } from "./support/postgres.ts";
import { stationMac } from "./support/journal_station.ts";

const CONFIG = new URL("../deno.json", import.meta.url).pathname;
const STATION = new URL("./support/journal_station.ts", import.meta.url).pathname;

interface Place {
  target: string;
  cleanup(): Promise<void>;
}

interface Backend {
  name: "sqlite" | "postgres";
  needs: Resource[];
  fresh(): Promise<Place>;
}

const SQLITE: Backend = {
  name: "sqlite",
  needs: [],
  async fresh() {
    const dir = await Deno.makeTempDir();
    return { target: `${dir}/line.db`, cleanup: () => Deno.remove(dir, { recursive: true }) };
  },
};

const POSTGRES: Backend = {
  name: "postgres",
  needs: [postgres()],
  async fresh() {
    const s = await testSchema();
    return { target: s.url, cleanup: s.drop };
  },
};

function both(name: string, fn: (b: Backend, target: string) => Promise<void>): void {
  for (const b of [SQLITE, POSTGRES]) {
    externalTest({
      name: `${b.name}: ${name}`,
      needs: b.needs,
      async fn() {
        const p = await b.fresh();
        try {
          await fn(b, p.target);
        } finally {
          await p.cleanup();
        }
      },
    });
  }
}

interface StationRun {
  code: number;
  boards: { mac: string; serial?: string; id?: number; error?: string }[];
  done?: { errors: number; seconds: number };
  stderr: string;
}

function stationArgv(args: string[], prefix: string[]): string[] {
  return [...prefix, Deno.execPath(), "run", "-A", "--config", CONFIG, STATION, ...args];
}

/** Run one station process to its end (`prefix`: e.g. unshare and its flags). */
async function station(args: string[], prefix: string[] = []): Promise<StationRun> {
  const [cmd, ...rest] = stationArgv(args, prefix);
  const out = await new Deno.Command(cmd, {
    args: rest,
    stdout: "piped",
    stderr: "piped",
    env: { RUST_BACKTRACE: "0", NO_COLOR: "1" },
  }).output();
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n").filter(Boolean).map((l) =>
    JSON.parse(l)
  );
  return {
    code: out.code,
    boards: lines.filter((l) => l.mac),
    done: lines.find((l) => l.done),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

/** A station holding its boards in progress. */
interface Holding {
  ids: number[];
  pid: number;
  /** Let the boards pass (closes its stdin) and wait for the process to end. */
  release(): Promise<number>;
  /** SIGKILL it (idempotent). */
  stop(): Promise<void>;
}

/** Start a station that begins its boards and holds them until released or killed. */
async function holdingStation(args: string[], prefix: string[] = []): Promise<Holding> {
  const [cmd, ...rest] = stationArgv(["--hold", ...args], prefix);
  const child = new Deno.Command(cmd, {
    args: rest,
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
    env: { RUST_BACKTRACE: "0", NO_COLOR: "1" },
  }).spawn();
  const writer = child.stdin.getWriter();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  let ended = false;
  const finish = async () => {
    ended = true;
    await writer.close().catch(() => {});
    const status = await child.status;
    await reader.cancel().catch(() => {});
    return status.code;
  };
  const stop = async () => {
    if (ended) return;
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await finish();
  };
  if (!text.includes("holding")) {
    await stop();
    throw new Error(`the station did not start: ${text}`);
  }
  const first = JSON.parse(text.split("\n")[0]) as { holding: number[] };
  return {
    ids: first.holding,
    pid: child.pid,
    async release() {
      await writer.close();
      ended = true;
      const code = (await child.status).code;
      await reader.cancel().catch(() => {});
      return code;
    },
    stop,
  };
}

/** Poll `probe` until it returns true (a generous deadline; not a timing assertion). */
async function eventually(what: string, probe: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

both("4 station processes × 8 boards: every record complete, serials unique", async (b, target) => {
  // SQLite gets more rounds: its lock is what used to lose records under contention.
  const rounds = b.name === "sqlite" ? 6 : 1;
  const runs = await Promise.all([1, 2, 3, 4].map((n) =>
    station([
      "--journal",
      target,
      "--station",
      `station-${n}`,
      "--boards",
      "8",
      "--rounds",
      String(rounds),
      "--mac-prefix",
      `02:0${n}`,
    ])
  ));
  for (const r of runs) {
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.done?.errors, 0, JSON.stringify(r.boards.filter((x) => x.error)));
  }
  const boards = runs.flatMap((r) => r.boards);
  assert.equal(boards.length, 4 * 8 * rounds);
  const serials = boards.map((x) => x.serial);
  assert.equal(new Set(serials).size, boards.length, "no serial number given twice");
  // Gapless too: one transaction per allocation.
  const numbers = serials.map((s) => Number(s!.slice(4))).sort((x, y) => x - y);
  assert.deepEqual(numbers, numbers.map((_, i) => i + 1));

  await using j = await openJournal(target, { readOnly: true });
  const records = await j.records();
  assert.equal(records.length, boards.length);
  assert.deepEqual(await j.summary(), { total: boards.length, passed: boards.length });
  for (const rec of records) {
    assert.equal(rec.stage, "serial");
    assert.deepEqual(rec.events.map((e) => e.kind), ["recovery", "log"]);
  }
  const bySerial = new Map(records.map((r) => [r.fields.serial, r.mac]));
  for (const x of boards) assert.equal(bySerial.get(x.serial), x.mac);

  // A board reworked at another station keeps its number.
  const again = await station([
    "--journal",
    target,
    "--station",
    "rework",
    "--boards",
    "8",
    "--mac-prefix",
    "02:03",
  ]);
  assert.equal(again.code, 0, again.stderr);
  for (const x of again.boards) {
    assert.equal(x.serial, boards.find((y) => y.mac === x.mac)!.serial, x.mac);
  }
});

both(
  "a killed station's boards become incomplete; a live station's are left alone",
  async (b, target) => {
    const leaseMs = 3000;
    const live = await holdingStation([
      "--journal",
      target,
      "--station",
      "live",
      "--lease-ms",
      String(leaseMs),
      "--mac-prefix",
      "02:0a",
    ]);
    const doomed = await holdingStation([
      "--journal",
      target,
      "--station",
      "doomed",
      "--lease-ms",
      String(leaseMs),
      "--mac-prefix",
      "02:0b",
    ]);
    try {
      await using j = await openJournal(target, { leaseMs });
      await doomed.stop(); // SIGKILL: no close, no clean-up
      await eventually("the killed station's 8 boards are incomplete", async () => {
        const s = await j.summary();
        return s.incomplete === 8;
      });
      // Several leases later, the live station's boards are still in progress.
      await new Promise((r) => setTimeout(r, 2 * leaseMs));
      const s = await j.summary();
      assert.deepEqual(s, { total: 16, incomplete: 8, "in-progress": 8 });
      for (const r of await j.records({ station: "doomed" })) {
        assert.equal(r.result, "incomplete");
        assert.equal(r.stage, "flash", "the stage it died in is kept");
        assert.match(r.errorMessage ?? "", new RegExp(`station process ${doomed.pid} on doomed`));
        if (b.name === "sqlite") assert.match(r.errorMessage ?? "", /its process has exited/);
        else assert.match(r.errorMessage ?? "", /no heartbeat since/);
      }
      assert.deepEqual(
        (await j.records({ station: "live" })).map((r) => r.result),
        Array(8).fill("in-progress"),
      );
    } finally {
      await live.stop();
      await doomed.stop();
    }
  },
);

both(
  "a suspended station: on one machine its lock keeps its boards; a lapsed lease marks them, and its later end is recorded",
  async (b, target) => {
    const leaseMs = 1000;
    const st = await holdingStation([
      "--journal",
      target,
      "--station",
      "sleepy",
      "--boards",
      "2",
      "--lease-ms",
      String(leaseMs),
      "--mac-prefix",
      "02:0e",
    ]);
    try {
      Deno.kill(st.pid, "SIGSTOP"); // alive, but no heartbeat
      await using j = await openJournal(target, { leaseMs: 10_000 });
      if (b.name === "sqlite") {
        // Its lock is held: alive, however late its heartbeat.
        await new Promise((r) => setTimeout(r, 4 * leaseMs));
        await j.records(); // reads check liveness too
        assert.deepEqual(await j.summary(), { total: 2, "in-progress": 2 });
      } else {
        // A lease is all PostgreSQL has: lapsed, the boards are incomplete.
        await eventually("the lease lapses", async () => (await j.summary()).incomplete === 2);
        // Another station opening the journal writes that down (each open sweeps).
        await (await openJournal(target)).close();
      }
      Deno.kill(st.pid, "SIGCONT");
      assert.equal(await st.release(), 0);
      // The station finished its boards afterwards: that is recorded, and so is the lapse.
      const recs = await j.records();
      assert.deepEqual(recs.map((r) => r.result), ["passed", "passed"]);
      for (const r of recs) {
        const lapses = r.events.filter((e) => e.kind === "lease-lost");
        assert.equal(lapses.length, b.name === "postgres" ? 1 : 0);
        if (lapses.length) assert.match(lapses[0].detail, /marked incomplete meanwhile/);
      }
    } finally {
      try {
        Deno.kill(st.pid, "SIGCONT");
      } catch { /* gone */ }
      await st.stop();
    }
  },
);

/** `unshare` can give a process its own PID namespace here (root on Linux). */
function pidNamespaces(): Resource {
  let missing: string | null = null;
  try {
    const out = new Deno.Command("unshare", {
      args: ["--pid", "--fork", "--mount-proc", "sh", "-c", "echo $$"],
      stdout: "piped",
      stderr: "null",
    }).outputSync();
    if (!out.success || new TextDecoder().decode(out.stdout).trim() !== "1") {
      missing = "unshare --pid is not permitted here (needs root or user namespaces)";
    }
  } catch {
    missing = "unshare is not installed";
  }
  return { name: "pid-namespaces", missing };
}

externalTest({
  name:
    "sqlite: stations that are PID 1 in their container: a restarted one marks the dead one's boards incomplete, never its own",
  needs: [pidNamespaces()],
  async fn() {
    const p = await SQLITE.fresh();
    const ns = ["unshare", "--pid", "--fork", "--kill-child", "--mount-proc"];
    try {
      // The first container's station is PID 1; it dies mid-run.
      const first = await holdingStation(
        ["--journal", p.target, "--station", "box", "--mac-prefix", "02:0c"],
        ns,
      );
      await first.stop();
      // The restarted container's station is PID 1 again: its own boards must stay in progress,
      // the dead one's must not.
      const second = await holdingStation(
        ["--journal", p.target, "--station", "box", "--mac-prefix", "02:0d"],
        ns,
      );
      try {
        await using j = await openJournal(p.target, { readOnly: true });
        const recs = await j.records();
        assert.equal(recs.length, 16);
        const pids = new Set(
          recs.map((r) => /station process (\d+)/.exec(r.errorMessage ?? "")?.[1]).filter(Boolean),
        );
        assert.deepEqual([...pids], ["1"], "the dead station was PID 1");
        assert.deepEqual(
          recs.map((r) => `${r.mac?.slice(0, 5)} ${r.result}`),
          [...Array(8).fill("02:0c incomplete"), ...Array(8).fill("02:0d in-progress")],
        );
      } finally {
        await second.stop();
      }
    } finally {
      await p.cleanup();
    }
  },
});

externalTest({
  name: "postgres: the server restarted mid-run: stations retry, nothing lost or doubled",
  needs: [postgresBinaries()],
  async fn() {
    await using cluster = await startPgCluster({ fsync: false });
    const target = withSchema(cluster.url, "line");
    { // tables made before the stations start
      await using _ = await openJournal(target);
    }
    const runs = Promise.all([1, 2, 3, 4].map((n) =>
      station([
        "--journal",
        target,
        "--station",
        `station-${n}`,
        "--boards",
        "8",
        "--rounds",
        "6",
        "--mac-prefix",
        `02:1${n}`,
        "--retry-ms",
        "60000",
      ])
    ));
    // Restart once the stations are under way.
    await eventually("the stations have written records", async () => {
      await using j = await openJournal(target, { readOnly: true });
      return (await j.summary()).total >= 8;
    });
    await cluster.stopServer();
    await new Promise((r) => setTimeout(r, 500));
    await cluster.startServer();
    const done = await runs;
    for (const r of done) {
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.done?.errors, 0, JSON.stringify(r.boards.filter((x) => x.error)));
    }
    const boards = done.flatMap((r) => r.boards);
    assert.equal(boards.length, 4 * 8 * 6);
    await using j = await openJournal(target, { readOnly: true });
    assert.deepEqual(await j.summary(), { total: boards.length, passed: boards.length });
    const records = await j.records();
    assert.equal(new Set(records.map((r) => r.fields.serial)).size, boards.length);
    for (const r of records) {
      // Retried writes were not doubled.
      assert.deepEqual(r.events.map((e) => e.kind), ["recovery", "log"], `record ${r.id}`);
    }
  },
});

externalTest({
  name: "postgres: a server that stays down fails the call clearly after retryMs",
  needs: [postgresBinaries()],
  async fn() {
    await using cluster = await startPgCluster({ fsync: false });
    const j = await openJournal(withSchema(cluster.url, "down"), { retryMs: 1500 });
    const r = await j.begin({ port: "p" });
    await cluster.stopServer();
    await assert.rejects(
      r.update({ stage: "flash" }),
      (e) =>
        e instanceof Error && "code" in e && e.code === "E_JOURNAL_UNREACHABLE" &&
        /check that the server is running/.test(e.message),
    );
    await assert.rejects(
      r.pass(),
      (e) => e instanceof Error && "code" in e && e.code === "E_JOURNAL_WRITE",
    );
    await j.close().catch(() => {}); // the server is down: close cannot record anything
  },
});

Deno.test("stationMac gives distinct MACs", () => {
  const macs = new Set(Array.from({ length: 300 }, (_, n) => stationMac("02:01", n)));
  assert.equal(macs.size, 300);
  assert.match(stationMac("02:01", 258), /^02:01:00:01:02:aa$/);
});
