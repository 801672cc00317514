/**
 * The journal, on both backends with the same test bodies: SQLite (always)
 * and PostgreSQL (a server from ESPLINE_TEST_PG, or a throwaway cluster
 * started from Debian's binaries; ignored where neither exists). Then the
 * SQLite file's own guarantees and the `journal` CLI.
 *
 * Multi-process tests (several stations, killed processes, PID 1, a server
 * restart) are in journal_stations_test.ts.
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
// @ts-types="@types/pg"
import pg from "pg";
import { type Journal, openJournal, type OpenJournalOptions } from "../lib/station/journal.ts";
import { EsplineError } from "../lib/errors.ts";
import { runCli } from "../lib/cli/main.ts";
import { externalTest, postgres, type Resource } from "./support/external.ts";
import { testSchema } from "./support/postgres.ts";

const MOD = new URL("../mod.ts", import.meta.url).href;
// Child scripts live in a temp dir: point them at the project config for its import map.
const CONFIG = new URL("../deno.json", import.meta.url).pathname;

/** A fresh, empty journal location on one backend, with raw SQL access for setting up odd states. */
interface Fresh {
  target: string;
  /** Run SQL on the journal's own tables (`$T.devices` names them on both backends). */
  raw(sql: string, args?: (string | number | null)[]): Promise<Record<string, unknown>[]>;
  cleanup(): Promise<void>;
}

interface Backend {
  name: "sqlite" | "postgres";
  needs: Resource[];
  fresh(): Promise<Fresh>;
}

const SQLITE: Backend = {
  name: "sqlite",
  needs: [],
  async fresh() {
    const dir = await Deno.makeTempDir();
    const target = `${dir}/journal.db`;
    return {
      target,
      raw(sql, args = []) {
        const db = new DatabaseSync(target);
        try {
          db.exec("PRAGMA busy_timeout = 5000");
          const st = db.prepare(sql.replaceAll("$T.", "").replace(/\$\d+/g, "?"));
          const rows = /^\s*(SELECT|WITH)/i.test(sql) ? st.all(...args) : (st.run(...args), []);
          return Promise.resolve(rows as Record<string, unknown>[]);
        } finally {
          db.close();
        }
      },
      cleanup: () => Deno.remove(dir, { recursive: true }),
    };
  },
};

const POSTGRES: Backend = {
  name: "postgres",
  needs: [postgres()],
  async fresh() {
    const s = await testSchema();
    return {
      target: s.url,
      async raw(sql, args = []) {
        const client = new pg.Client({ connectionString: s.url.replace(/[?&]schema=\w+/, "") });
        await client.connect();
        try {
          return (await client.query(sql.replaceAll("$T.", `"${s.schema}".`), args)).rows;
        } finally {
          await client.end();
        }
      },
      cleanup: s.drop,
    };
  },
};

/** Register one test body for both backends. */
function both(name: string, fn: (b: Backend, f: Fresh) => Promise<void>): void {
  for (const b of [SQLITE, POSTGRES]) {
    externalTest({
      name: `${b.name}: ${name}`,
      needs: b.needs,
      async fn() {
        const f = await b.fresh();
        try {
          await fn(b, f);
        } finally {
          await f.cleanup();
        }
      },
    });
  }
}

const rejectsWith = (code: string) => (e: unknown) => e instanceof EsplineError && e.code === code;

async function open(f: Fresh, options: OpenJournalOptions = {}): Promise<Journal> {
  return await openJournal(f.target, { retryMs: 5000, ...options });
}

// ---------------------------------------------------------------------------
// The same behaviour on both backends.

both("records round-trip: facts, events, pass and fail, history newest first", async (_b, f) => {
  await using j = await open(f);
  const a = await j.begin({
    port: "p1",
    station: "s",
    files: [{ path: "app.bin", sha256: "ab", address: 0x10000 }],
  });
  await a.update({
    mac: "24:0A:C4:00:00:01",
    chip: "esp32",
    revision: "v3.1",
    flashSize: 4194304,
    stage: "flash",
  });
  await a.event("recovery", "E_TIMEOUT: retrying at 115200");
  await a.fail(new EsplineError("E_VERIFY_FAILED", "bad md5"), { stage: "verify" });
  const b = await j.begin({ port: "p1", station: "s" });
  await b.update({ mac: "24:0a:c4:00:00:01", fields: { serial: "ESP-1" } });
  await b.update({ fields: { tested: true } });
  await b.pass();
  const h = await j.history("24:0A:C4:00:00:01");
  assert.deepEqual(h.map((r) => r.result), ["passed", "failed"]);
  assert.equal(h[1].errorCode, "E_VERIFY_FAILED");
  assert.equal(h[1].stage, "verify");
  assert.equal(h[1].revision, "v3.1");
  assert.equal(h[1].flashSize, 4194304);
  assert.deepEqual(h[1].files, [{ path: "app.bin", sha256: "ab", address: 0x10000 }]);
  assert.deepEqual(h[1].events.map((e) => [e.kind, e.detail]), [[
    "recovery",
    "E_TIMEOUT: retrying at 115200",
  ]]);
  assert.deepEqual(h[0].fields, { serial: "ESP-1", tested: true });
  assert.ok(h[0].endedAt && h[0].endedAt >= h[0].startedAt);
  assert.deepEqual(h[0].damaged, []);
  assert.equal(await j.lastResult("24:0a:c4:00:00:01"), "passed");
  assert.equal(await j.lastResult("00:00:00:00:00:00"), null);
  assert.deepEqual(await j.summary(), { total: 2, passed: 1, failed: 1 });
});

both("unverified boards are their own result: summary, history, CSV and JSONL", async (_b, f) => {
  await using j = await open(f);
  const a = await j.begin({ port: "p1" });
  await a.update({ mac: "18:fe:34:00:00:01", chip: "esp8266" });
  await a.unverified("the ESP8266 ROM loader has no MD5: data written, not read back", {
    serial: "ESP-7",
  });
  const b = await j.begin({ port: "p2" });
  await b.pass();
  assert.deepEqual(await j.summary(), { total: 2, passed: 1, unverified: 1 });
  assert.equal(await j.lastResult("18:fe:34:00:00:01"), "unverified");
  const [rec] = await j.history("18:fe:34:00:00:01");
  assert.equal(rec.errorCode, "E_NOT_VERIFIED");
  assert.match(rec.errorMessage ?? "", /no MD5/);
  assert.equal(rec.fields.serial, "ESP-7");
  const csv = (await j.exportCsv()).split("\r\n");
  const col = csv[0].split(",").indexOf("result");
  assert.deepEqual(csv.slice(1, 3).map((l) => l.split(",")[col]), ["unverified", "passed"]);
  const jsonl = (await j.exportJsonl()).trim().split("\n").map((l) => JSON.parse(l).result);
  assert.deepEqual(jsonl, ["unverified", "passed"]);
});

both(
  "serial numbers: unique, prefix and width, the same MAC gets its number back",
  async (_b, f) => {
    await using j = await open(f);
    const opts = { prefix: "LINE1-", digits: 4, start: 100 };
    const s1 = await j.allocateSerial("aa:00:00:00:00:01", opts);
    const s2 = await j.allocateSerial("aa:00:00:00:00:02", opts);
    assert.equal(s1, "LINE1-0100");
    assert.equal(s2, "LINE1-0101");
    assert.equal(await j.allocateSerial("AA:00:00:00:00:01", opts), s1);
    // A number wider than `digits` is written whole, never cut.
    assert.equal(await j.allocateSerial("aa:00:00:00:00:03", { prefix: "S", digits: 2 }), "S102");
    // Concurrent calls in one process: each MAC once, numbers unique.
    const macs = Array.from(
      { length: 20 },
      (_, i) => `bb:00:00:00:00:${i.toString(16).padStart(2, "0")}`,
    );
    const got = await Promise.all([...macs, ...macs].map((m) => j.allocateSerial(m)));
    assert.equal(new Set(got).size, 20);
    assert.deepEqual(got.slice(0, 20), got.slice(20));
  },
);

both("search by MAC in any spelling or by part of a MAC or serial, newest first", async (_b, f) => {
  await using j = await open(f);
  const boards = [
    ["24:0a:c4:12:34:56", "LINE1-000042"],
    ["24:0a:c4:12:34:57", "LINE1-000043"],
    ["58:cf:79:ab:cd:ef", "LINE2-100_%"], // LIKE's wildcards, taken literally
  ];
  for (const [mac, serial] of boards) {
    const r = await j.begin({ port: "p" });
    await r.update({ mac });
    await r.pass({ serial });
  }
  const again = await j.begin({ port: "p" });
  await again.update({ mac: "24:0a:c4:12:34:56" });
  await again.fail(new Error("rework"), { stage: "flash" });
  const macs = async (q: string, limit?: number) =>
    (await j.search(q, { limit })).map((r) => `${r.mac} ${r.result}`);
  assert.deepEqual(await macs("24-0A-C4-12-34-56"), [
    "24:0a:c4:12:34:56 failed",
    "24:0a:c4:12:34:56 passed",
  ]);
  assert.deepEqual(await macs("240ac4123456", 1), ["24:0a:c4:12:34:56 failed"]);
  assert.deepEqual(await macs("12:34"), [
    "24:0a:c4:12:34:56 failed",
    "24:0a:c4:12:34:57 passed",
    "24:0a:c4:12:34:56 passed",
  ]);
  assert.deepEqual(await macs("line1-000043"), ["24:0a:c4:12:34:57 passed"]);
  assert.deepEqual(await macs("100_%"), ["58:cf:79:ab:cd:ef passed"]);
  assert.deepEqual(await macs("4_"), [], "_ is not a wildcard");
  assert.deepEqual(await macs("  "), []);
});

both("filters: since and station", async (_b, f) => {
  await using j = await open(f);
  await (await j.begin({ port: "p", station: "east" })).pass();
  const mid = new Date();
  await new Promise((r) => setTimeout(r, 5));
  await (await j.begin({ port: "p", station: "west" })).pass();
  await (await j.begin({ port: "p", station: "east" })).fail(new Error("x"), { stage: "flash" });
  assert.equal((await j.records()).length, 3);
  assert.deepEqual((await j.records({ station: "east" })).map((r) => r.result), [
    "passed",
    "failed",
  ]);
  assert.equal((await j.records({ since: mid })).length, 2);
  assert.deepEqual(await j.summary({ station: "east", since: mid }), { total: 1, failed: 1 });
});

both("calls on a record keep their order unawaited; a lost write stops pass()", async (_b, f) => {
  const j = await open(f);
  const r = await j.begin({ port: "p" });
  // The station's stage()/note() do not await: the writes still land in order.
  void r.update({ stage: "connect" });
  void r.update({ stage: "flash" });
  void r.event("log", "one");
  void r.event("log", "two");
  void r.update({ stage: "serial", fields: { n: 1 } });
  await r.pass();
  const [rec] = await j.records();
  assert.equal(rec.stage, "serial");
  assert.deepEqual(rec.events.map((e) => e.detail), ["one", "two"]);
  assert.equal(rec.result, "passed");

  // After close, a record cannot be written; the board is not recorded as passed.
  const open2 = await j.begin({ port: "q" });
  await j.close();
  await assert.rejects(open2.update({ stage: "x" }), rejectsWith("E_JOURNAL_CLOSED"));
  await assert.rejects(open2.pass(), rejectsWith("E_JOURNAL_WRITE"));
  await using again = await open(f, { readOnly: true });
  const q = (await again.records()).find((x) => x.port === "q")!;
  assert.equal(q.result, "incomplete", "closed with the board in progress");
  assert.match(q.errorMessage ?? "", /closed/);
});

both("read-only: reads work, writes are refused, and nothing is created", async (b, f) => {
  if (b.name === "sqlite") {
    await assert.rejects(open(f, { readOnly: true }), rejectsWith("E_JOURNAL_NOT_FOUND"));
    assert.throws(() => Deno.statSync(f.target), Deno.errors.NotFound);
  } else {
    await assert.rejects(open(f, { readOnly: true }), rejectsWith("E_JOURNAL_NOT_FOUND"));
  }
  {
    await using w = await open(f);
    await (await w.begin({ port: "p" })).pass();
  }
  await using r = await open(f, { readOnly: true });
  assert.equal(r.readOnly, true);
  assert.deepEqual(await r.summary(), { total: 1, passed: 1 });
  await assert.rejects(r.begin({ port: "p" }), rejectsWith("E_JOURNAL_READONLY"));
  await assert.rejects(r.allocateSerial("aa:00:00:00:00:01"), rejectsWith("E_JOURNAL_READONLY"));
});

/** Set up runs of other processes in the journal's runs table, as another host would leave them. */
async function addRun(
  b: Backend,
  f: Fresh,
  run: { id: string; host: string; pid: number; ageMs: number; leaseMs: number; bootId?: string },
  records: number,
): Promise<void> {
  if (b.name === "sqlite") {
    await f.raw(
      `INSERT INTO runs (run_id, host, boot_id, pid, started_at, heartbeat_ms, lease_ms, lock_file)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [
        run.id,
        run.host,
        run.bootId ?? "another-kernel",
        run.pid,
        new Date().toISOString(),
        Date.now() - run.ageMs,
        run.leaseMs,
        `${run.id}.lock`,
      ],
    );
  } else {
    await f.raw(
      `INSERT INTO $T.runs (run_id, host, boot_id, pid, heartbeat_at, lease_ms)
       VALUES ($1, $2, $3, $4, now() - $5 * interval '1 millisecond', $6)`,
      [run.id, run.host, run.bootId ?? "another-kernel", run.pid, run.ageMs, run.leaseMs],
    );
  }
  for (let i = 0; i < records; i++) {
    await f.raw(
      `INSERT INTO $T.devices (uid, port, station, mac, result, stage, started_at, pid, run_id)
       VALUES ($1, $2, $3, $4, 'in-progress', 'flash', $5, $6, $7)`,
      [
        crypto.randomUUID(),
        `/dev/ttyUSB${i}`,
        run.host,
        `02:${run.id.slice(0, 2)}:00:00:00:0${i}`,
        new Date().toISOString(),
        run.pid,
        run.id,
      ],
    );
  }
}

both(
  "another host's live records stay in progress; an expired lease makes them incomplete",
  async (b, f) => {
    { // create the tables
      await using _j = await open(f);
    }
    // A station on another host: its PID means nothing here (no such process on this machine).
    const live = crypto.randomUUID();
    const dead = crypto.randomUUID();
    await addRun(
      b,
      f,
      { id: live, host: "station-b", pid: 999_999, ageMs: 0, leaseMs: 600_000 },
      3,
    );
    await addRun(b, f, {
      id: dead,
      host: "station-c",
      pid: 999_998,
      ageMs: 120_000,
      leaseMs: 60_000,
    }, 2);
    if (b.name === "sqlite") {
      // Its lock file sits beside the journal, unlocked as seen from this kernel (a network share):
      // only the same kernel's locks are trusted.
      await Deno.mkdir(`${f.target}-runs`, { recursive: true });
      await Deno.writeTextFile(`${f.target}-runs/${live}.lock`, "");
    }
    await using j = await open(f);
    const s = await j.summary();
    assert.equal(s["in-progress"], 3, "the live station's boards are still in progress");
    assert.equal(s.incomplete, 2, "the expired lease's boards are incomplete");
    const rec = (await j.records({ station: "station-c" }))[0];
    assert.equal(rec.errorCode, "E_INCOMPLETE");
    assert.match(
      rec.errorMessage ?? "",
      /station process 999998 on station-c .*no heartbeat since/,
    );
    // Persisted, not only shown: a raw look at the table agrees.
    const rows = await f.raw(`SELECT result, count(*) AS n FROM $T.devices GROUP BY result`);
    assert.deepEqual(Object.fromEntries(rows.map((r) => [r.result, Number(r.n)])), {
      "in-progress": 3,
      incomplete: 2,
    });
  },
);

// ---------------------------------------------------------------------------
// SQLite: the file's own guarantees.

async function tempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function sha256(path: string): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, "0")).join("");
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("sqlite: a locked file is waited for without blocking the event loop, then E_JOURNAL_BUSY", async () => {
  await tempDir(async (dir) => {
    const path = `${dir}/j.db`;
    await using j = await openJournal(path, { retryMs: 10_000 });
    // Another writer holds the write lock; it lets go from a timer, which can only fire if
    // the journal's wait leaves the event loop running (a station's serial I/O needs it too).
    const other = new DatabaseSync(path);
    other.exec("BEGIN IMMEDIATE");
    let released = false;
    setTimeout(() => {
      other.exec("COMMIT");
      released = true;
    }, 300);
    const r = await j.begin({ port: "p" });
    assert.ok(released, "the record was written after the other writer let go");
    await r.pass();
    // A lock that is never let go: a typed error after retryMs, saying what to do.
    await using short = await openJournal(path, { retryMs: 300 });
    other.exec("BEGIN IMMEDIATE");
    try {
      const err = await short.allocateSerial("aa:00:00:00:00:01").then(() => null, (e) => e);
      assert.ok(err instanceof EsplineError, String(err));
      assert.equal(err.code, "E_JOURNAL_BUSY");
      assert.match(err.message, /locked by another process .* while allocating a serial number/);
    } finally {
      other.exec("ROLLBACK");
      other.close();
    }
    assert.deepEqual(await j.summary(), { total: 1, passed: 1 });
  });
});

Deno.test("sqlite: a restarted station with the same PID (PID 1 in a container) marks the dead rows incomplete", async () => {
  await tempDir(async (dir) => {
    const path = `${dir}/line.db`;
    { // create the tables
      await using _j = await openJournal(path);
    }
    // The previous container's station had PID 1 too: here, the same PID as this process.
    // Its lock file is still there, released when it died.
    const old = crypto.randomUUID();
    const db = new DatabaseSync(path);
    const boot = Deno.readTextFileSync("/proc/sys/kernel/random/boot_id").trim();
    db.prepare(
      `INSERT INTO runs (run_id, host, boot_id, pid, started_at, heartbeat_ms, lease_ms, lock_file)
       VALUES (?, 'line-1', ?, ?, ?, ?, 600000, ?)`,
    ).run(old, boot, Deno.pid, new Date().toISOString(), Date.now(), `${old}.lock`);
    db.prepare(
      `INSERT INTO devices (uid, port, result, stage, started_at, pid, run_id, mac)
       VALUES (?, '/dev/ttyUSB0', 'in-progress', 'flash', ?, ?, ?, '02:00:00:00:00:01')`,
    ).run(crypto.randomUUID(), new Date().toISOString(), Deno.pid, old);
    db.close();
    Deno.mkdirSync(`${path}-runs`, { recursive: true });
    Deno.writeTextFileSync(`${path}-runs/${old}.lock`, "");
    await using j = await openJournal(path);
    const [rec] = await j.history("02:00:00:00:00:01");
    assert.equal(rec.result, "incomplete");
    assert.match(rec.errorMessage ?? "", /its process has exited/);
    assert.equal(exists(`${path}-runs/${old}.lock`), false, "the dead run's lock file is removed");
  });
});

Deno.test("sqlite: a foreign SQLite file is refused in one line and left byte-for-byte unchanged", async () => {
  await tempDir(async (dir) => {
    const path = `${dir}/inventory.db`;
    const db = new DatabaseSync(path);
    // A `devices` table of another shape (once made espline dump the schema in its error).
    db.exec(
      "CREATE TABLE devices (serial TEXT PRIMARY KEY, owner TEXT); CREATE TABLE rooms (n INT);",
    );
    db.prepare("INSERT INTO devices VALUES ('X1', 'ann')").run();
    db.close();
    const before = await sha256(path);
    for (const readOnly of [true, false]) {
      const err = await openJournal(path, { readOnly }).then(() => null, (e) => e);
      assert.ok(err instanceof EsplineError, String(err));
      assert.equal(err.code, "E_JOURNAL_FOREIGN");
      assert.equal(err.message.split("\n").length, 1);
      assert.doesNotMatch(err.message, /CREATE|serial TEXT/);
      assert.match(err.message, /not an espline journal/);
    }
    assert.equal(await sha256(path), before);
    assert.equal(exists(`${path}-wal`), false, "not switched to WAL");
    assert.equal(exists(`${path}-runs`), false);
    const check = new DatabaseSync(path, { readOnly: true });
    assert.deepEqual(
      (check.prepare("SELECT name FROM sqlite_master ORDER BY name").all() as { name: string }[])
        .map((r) => r.name),
      ["devices", "rooms", "sqlite_autoindex_devices_1"],
    );
    assert.equal(
      (check.prepare("PRAGMA journal_mode").get() as { journal_mode: string }).journal_mode,
      "delete",
    );
    check.close();
  });
});

Deno.test("sqlite: text, an empty file, a folder and a missing folder give typed errors", async () => {
  await tempDir(async (dir) => {
    await Deno.writeTextFile(
      `${dir}/notes.db`,
      "this is not sqlite, just text padding ".repeat(50),
    );
    await assert.rejects(openJournal(`${dir}/notes.db`), rejectsWith("E_JOURNAL_CORRUPT"));
    await Deno.writeTextFile(`${dir}/empty.db`, "");
    await assert.rejects(
      openJournal(`${dir}/empty.db`, { readOnly: true }),
      rejectsWith("E_JOURNAL_FOREIGN"),
    );
    await assert.rejects(openJournal(dir), rejectsWith("E_JOURNAL_PATH"));
    await assert.rejects(openJournal(`${dir}/no/such/j.db`), rejectsWith("E_JOURNAL_PATH"));
    // An empty file may become a journal when opened for writing.
    await using j = await openJournal(`${dir}/empty.db`);
    await (await j.begin({ port: "p" })).pass();
  });
});

Deno.test("sqlite: damaged pages are a typed error, not a crash", async () => {
  await tempDir(async (dir) => {
    const path = `${dir}/j.db`;
    {
      await using j = await openJournal(path);
      for (let i = 0; i < 50; i++) {
        await (await j.begin({ port: `p${i}`, station: "x".repeat(200) })).pass();
      }
    }
    const bytes = await Deno.readFile(path);
    for (let i = 4096 + 100; i < bytes.length; i += 7) bytes[i] ^= 0x5a; // every page but the first
    await Deno.writeFile(path, bytes);
    await assert.rejects(openJournal(path, { readOnly: true }), rejectsWith("E_JOURNAL_CORRUPT"));
  });
});

/** The first journal format, as espline wrote it before schema versions. */
const V1_SCHEMA = `
CREATE TABLE devices (
  id INTEGER PRIMARY KEY AUTOINCREMENT, mac TEXT, chip TEXT, revision TEXT, flash_size INTEGER,
  station TEXT, port TEXT NOT NULL, files TEXT NOT NULL DEFAULT '[]', fields TEXT NOT NULL DEFAULT '{}',
  stage TEXT, result TEXT NOT NULL, error_code TEXT, error_message TEXT,
  started_at TEXT NOT NULL, ended_at TEXT, pid INTEGER NOT NULL, run_id TEXT NOT NULL);
CREATE INDEX devices_mac ON devices(mac);
CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, device_id INTEGER NOT NULL REFERENCES devices(id),
  time TEXT NOT NULL, kind TEXT NOT NULL, detail TEXT NOT NULL);
CREATE TABLE serials (mac TEXT PRIMARY KEY, number INTEGER NOT NULL UNIQUE, serial TEXT NOT NULL, allocated_at TEXT NOT NULL);
`;

Deno.test("sqlite: a first-format journal is migrated on open, its records and serials kept", async () => {
  await tempDir(async (dir) => {
    const path = `${dir}/old.db`;
    const db = new DatabaseSync(path);
    db.exec(V1_SCHEMA);
    const now = new Date().toISOString();
    db.prepare(
      `INSERT INTO devices (mac, chip, port, fields, stage, result, started_at, ended_at, pid, run_id)
       VALUES ('02:00:00:00:00:01', 'esp32', 'p1', '{"serial":"ESP-000001"}', 'done', 'passed', ?, ?, 1, 'r1')`,
    ).run(now, now);
    db.prepare(
      `INSERT INTO devices (mac, port, stage, result, started_at, pid, run_id)
       VALUES ('02:00:00:00:00:02', 'p2', 'flash', 'in-progress', ?, 1, 'r2')`,
    ).run(now);
    db.prepare("INSERT INTO events (device_id, time, kind, detail) VALUES (1, ?, 'log', 'hi')").run(
      now,
    );
    db.prepare("INSERT INTO serials VALUES ('02:00:00:00:00:01', 1, 'ESP-000001', ?)").run(now);
    db.close();
    // Readable as it is, read-only, without being changed.
    const before = await sha256(path);
    {
      await using r = await openJournal(path, { readOnly: true });
      assert.equal((await r.history("02:00:00:00:00:01"))[0].events[0].detail, "hi");
    }
    assert.equal(await sha256(path), before);
    {
      // Opened for writing: migrated. The old in-progress record gets a lease from now.
      await using j = await openJournal(path, { leaseMs: 300 });
      assert.equal((await j.history("02:00:00:00:00:01"))[0].fields.serial, "ESP-000001");
      assert.equal(await j.allocateSerial("02:00:00:00:00:01"), "ESP-000001");
      assert.equal(await j.allocateSerial("02:00:00:00:00:03"), "ESP-000002");
      const raw = new DatabaseSync(path, { readOnly: true });
      assert.equal(
        (raw.prepare("PRAGMA user_version").get() as { user_version: number }).user_version,
        2,
      );
      raw.close();
      let last = await j.lastResult("02:00:00:00:00:02");
      for (let i = 0; i < 100 && last !== "incomplete"; i++) {
        await new Promise((r) => setTimeout(r, 50));
        last = await j.lastResult("02:00:00:00:00:02");
      }
      assert.equal(last, "incomplete");
    }
  });
});

Deno.test("sqlite: a journal from a newer espline is refused", async () => {
  await tempDir(async (dir) => {
    const path = `${dir}/new.db`;
    {
      await using _ = await openJournal(path);
    }
    const db = new DatabaseSync(path);
    db.exec("PRAGMA user_version = 99");
    db.close();
    await assert.rejects(openJournal(path), rejectsWith("E_JOURNAL_VERSION"));
    await assert.rejects(openJournal(path, { readOnly: true }), rejectsWith("E_JOURNAL_VERSION"));
  });
});

Deno.test("sqlite: rows with damaged values are exported anyway, flagged, their text kept", async () => {
  await tempDir(async (dir) => {
    const path = `${dir}/j.db`;
    {
      await using j = await openJournal(path);
      await (await j.begin({ port: "good" })).pass({ serial: "ESP-1" });
      await (await j.begin({ port: "bad" })).pass();
    }
    const db = new DatabaseSync(path);
    db.prepare(
      `UPDATE devices SET fields = '{"serial": ESP-2', files = 'nope', result = 'shipped',
       flash_size = 'big' WHERE port = 'bad'`,
    ).run();
    db.close();
    await using j = await openJournal(path, { readOnly: true });
    const recs = await j.records();
    assert.equal(recs.length, 2);
    assert.deepEqual(recs[0].damaged, []);
    assert.deepEqual(recs[1].damaged.map((d) => d.column).sort(), [
      "fields",
      "files",
      "flash_size",
      "result",
    ]);
    assert.equal(recs[1].damaged.find((d) => d.column === "fields")?.raw, '{"serial": ESP-2');
    assert.deepEqual(recs[1].fields, {});
    const csv = (await j.exportCsv()).split("\r\n");
    assert.equal(csv.length, 4); // header, two rows, final empty
    assert.match(csv[2], /"\{""serial"": ESP-2"/);
    assert.match(csv[2], /,shipped,/);
    assert.ok(csv[2].endsWith(",fields files result flash_size"), csv[2]);
    const lines = (await j.exportJsonl()).trim().split("\n").map((l) => JSON.parse(l));
    assert.equal(lines.length, 2);
    assert.equal(lines[1].damaged.length, 4);
  });
});

Deno.test("CSV export: formula cells are neutralised (OWASP), quoting per RFC 4180", async () => {
  await using j = await openJournal(":memory:");
  const cells = [
    '=HYPERLINK("http://x")',
    "+1+1",
    "-2+3",
    "@SUM(A1)",
    "\tlead",
    "\rcr",
    "ok, fine",
  ];
  for (const c of cells) {
    const r = await j.begin({ port: c, station: 'line "1"' });
    await r.fail(new EsplineError("E_X", c), { stage: "flash" });
  }
  const csv = await j.exportCsv();
  // Parse it back (RFC 4180) and look at the port and error_message cells.
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < csv.length; i++) {
    const ch = csv[i];
    if (quoted) {
      if (ch === '"' && csv[i + 1] === '"') (cell += '"', i++);
      else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") (row.push(cell), cell = "");
    else if (ch === "\r" && csv[i + 1] === "\n") {
      (row.push(cell), rows.push(row), row = [], cell = "", i++);
    } else cell += ch;
  }
  const header = rows[0];
  const port = header.indexOf("port");
  const msg = header.indexOf("error_message");
  const station = header.indexOf("station");
  assert.deepEqual(rows.slice(1).map((r) => r[port]), [
    '\'=HYPERLINK("http://x")',
    "'+1+1",
    "'-2+3",
    "'@SUM(A1)",
    "'\tlead",
    "'\rcr",
    "ok, fine",
  ]);
  assert.deepEqual(rows.slice(1).map((r) => r[msg]), rows.slice(1).map((r) => r[port]));
  assert.equal(rows[1][station], 'line "1"');
  for (const r of rows.slice(1)) {
    assert.ok(!/^[=+\-@\t\r]/.test(r[port]), `no cell starts like a formula: ${r[port]}`);
  }
});

// ---------------------------------------------------------------------------
// The journal CLI.

function cli() {
  let out = "";
  let err = "";
  const sinks = {
    stdout: (t: string) => (out += t),
    stderr: (t: string) => (err += t),
    isTerminal: false,
  };
  return {
    run: (args: string[]) => runCli(args, { sinks }),
    get out() {
      return out;
    },
    get err() {
      return err;
    },
    reset() {
      out = "";
      err = "";
    },
  };
}

Deno.test("journal CLI: summary, history and export", async () => {
  await tempDir(async (dir) => {
    const path = `${dir}/j.db`;
    {
      await using j = await openJournal(path);
      const r = await j.begin({ port: "sim://esp32" });
      await r.update({ mac: "02:00:00:00:00:01", chip: "esp32" });
      await r.pass();
      const u = await j.begin({ port: "sim://esp8266" });
      await u.update({ mac: "18:fe:34:00:00:01", chip: "esp8266" });
      await u.unverified("no MD5 in the ESP8266 ROM");
    }
    const c = cli();
    assert.equal(await c.run(["journal", "--journal", path, "summary"]), 0);
    assert.match(c.out, /total\s+2\npassed\s+1\nunverified\s+1/);
    c.reset();
    assert.equal(await c.run(["journal", "--journal", path, "history", "02:00:00:00:00:01"]), 0);
    assert.match(c.out, /passed\s+esp32 sim:\/\/esp32/);
    c.reset();
    assert.equal(await c.run(["journal", "--journal", path, "export", "-o", `${dir}/j.csv`]), 0);
    assert.match(await Deno.readTextFile(`${dir}/j.csv`), /^id,mac,chip/);
    assert.equal(
      await c.run([
        "journal",
        "--journal",
        path,
        "export",
        "--format",
        "jsonl",
        "-o",
        `${dir}/j.jsonl`,
      ]),
      0,
    );
    assert.equal((await Deno.readTextFile(`${dir}/j.jsonl`)).trim().split("\n").length, 2);
    assert.equal(await c.run(["journal", "--journal", `${dir}/none.db`, "summary"]), 2);
    // Reading created no journal and no run lock (SQLite's own -wal/-shm index files aside,
    // which a reader of a WAL database needs).
    assert.deepEqual(
      [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => !/-(wal|shm)$/.test(n)).sort(),
      ["j.csv", "j.db", "j.jsonl"],
    );
  });
});

Deno.test("journal CLI: a foreign SQLite file is refused in one line and not changed", async () => {
  await tempDir(async (dir) => {
    const path = `${dir}/app.db`;
    const db = new DatabaseSync(path);
    db.exec("CREATE TABLE devices (id INTEGER PRIMARY KEY, name TEXT NOT NULL, secret TEXT)");
    db.close();
    const before = await sha256(path);
    const c = cli();
    assert.equal(await c.run(["journal", "--journal", path, "summary"]), 2);
    assert.equal(c.err.trim().split("\n").length, 1, c.err);
    assert.match(c.err, /not an espline journal/);
    assert.doesNotMatch(c.err, /secret|CREATE/);
    assert.equal(await sha256(path), before);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["app.db"]);
  });
});

Deno.test("journal CLI: a bad export path fails first, typed, and leaves nothing behind", async () => {
  await tempDir(async (dir) => {
    const path = `${dir}/j.db`;
    {
      await using j = await openJournal(path);
      await (await j.begin({ port: "p" })).pass();
    }
    await Deno.mkdir(`${dir}/adir`);
    const c = cli();
    for (
      const target of ["/nonexistent/dir/x.csv", `${dir}/adir`, `${dir}/adir/`, "/proc/version"]
    ) {
      c.reset();
      const code = await c.run(["journal", "--journal", path, "export", "-o", target]);
      assert.equal(code, 2, `${target}: ${c.err}`);
      assert.match(c.err, /^\nerror: cannot write /, c.err);
      assert.doesNotMatch(c.err, /Internal error|bug/);
    }
    // The journal was not even opened for these (so no bad path costs a read), and nothing was left.
    assert.deepEqual([...Deno.readDirSync(`${dir}/adir`)], []);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["adir", "j.db"]);
    // Same journal, but missing: the output path is still checked first.
    c.reset();
    assert.equal(
      await c.run(["journal", "--journal", `${dir}/none.db`, "export", "-o", `${dir}/adir`]),
      2,
    );
    assert.match(c.err, /cannot write/);
  });
});

externalTest({
  name:
    "journal CLI: a postgres:// journal; wrong credentials and an unreachable server are one line",
  needs: [postgres()],
  async fn() {
    const s = await testSchema();
    try {
      {
        await using j = await openJournal(s.url);
        const r = await j.begin({ port: "sim://esp32c3" });
        await r.update({ mac: "58:cf:79:00:00:01", chip: "esp32c3" });
        await r.pass();
      }
      const c = cli();
      assert.equal(await c.run(["journal", "--journal", s.url, "summary"]), 0, c.err);
      assert.match(c.out, /total\s+1\npassed\s+1/);
      c.reset();
      assert.equal(await c.run(["journal", "--journal", s.url, "history", "58:CF:79:00:00:01"]), 0);
      assert.match(c.out, /passed\s+esp32c3/);
      const url = new URL(s.url.replace(/^postgres:/, "http:"));
      if (url.password) {
        c.reset();
        const wrong = s.url.replace(`:${url.password}@`, ":not-the-password@");
        assert.equal(await c.run(["journal", "--journal", wrong, "summary"]), 1);
        assert.match(c.err, /refused the journal's credentials/);
        assert.doesNotMatch(c.err, /not-the-password/, "the password is not printed");
        assert.equal(c.err.trim().split("\n").length, 1);
      }
      c.reset();
      const port = (await import("./support/external.ts")).freePort();
      assert.equal(
        await c.run(["journal", "--journal", `postgres://x:y@127.0.0.1:${port}/db`, "summary"]),
        1,
      );
      assert.match(c.err, /cannot reach the PostgreSQL journal at 127\.0\.0\.1:\d+/);
    } finally {
      await s.drop();
    }
  },
});

externalTest({
  name: "postgres: a schema of another program is refused; a newer schema version is refused",
  needs: [postgres()],
  async fn() {
    const f = await POSTGRES.fresh();
    try {
      const schema = /schema=(\w+)/.exec(f.target)![1];
      await f.raw(`CREATE SCHEMA "${schema}"`);
      await f.raw(`CREATE TABLE "${schema}".devices (id int, owner text)`);
      await assert.rejects(openJournal(f.target), rejectsWith("E_JOURNAL_FOREIGN"));
      const tables = await f.raw(
        `SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY 1`,
        [schema],
      );
      assert.deepEqual(tables.map((t) => t.tablename), ["devices"], "nothing was added");
      await f.raw(`DROP TABLE "${schema}".devices`);
      {
        await using _ = await openJournal(f.target);
      }
      await f.raw(`UPDATE $T.meta SET value = '99' WHERE key = 'schema_version'`);
      await assert.rejects(openJournal(f.target), rejectsWith("E_JOURNAL_VERSION"));
    } finally {
      await f.cleanup();
    }
  },
});

Deno.test("SIGKILL mid-flash leaves the journal consistent and the board incomplete, never passed", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/line.db`;
    // A real station run in a child process, killed while the board is being flashed.
    const script = `
      import { openJournal, runStation } from ${JSON.stringify(MOD)};
      const j = await openJournal(${JSON.stringify(path)});
      const data = new Uint8Array(2 * 1024 * 1024).map((_, i) => (i * 2654435761) >>> 24);
      await runStation(["sim://esp32?mac=02:00:00:00:00:99&pace=1"], async ({ device, stage }) => {
        stage("flash");
        console.log("FLASHING");
        // device.flash on the Device-level API, device.writeFlash before it.
        const write = device.flash ?? device.writeFlash;
        await write.call(device, [{ address: 0x10000, data }], { skipUnchanged: false });
      }, { journal: j, connect: { baud: 115200 } });
      console.log("FINISHED");
    `;
    await Deno.writeTextFile(`${dir}/child.ts`, script);
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--config", CONFIG, `${dir}/child.ts`],
      stdout: "piped",
      stderr: "null",
      env: { RUST_BACKTRACE: "0" },
    }).spawn();
    const reader = child.stdout.getReader();
    let seen = "";
    while (!seen.includes("FLASHING")) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += new TextDecoder().decode(value);
    }
    assert.match(seen, /FLASHING/);
    await new Promise((r) => setTimeout(r, 300)); // well into the multi-second write
    child.kill("SIGKILL");
    await child.status;
    await reader.cancel();

    // The file is intact and the record is still marked in progress…
    const raw = new DatabaseSync(path);
    assert.deepEqual(Object.values(raw.prepare("PRAGMA integrity_check").get() as object), ["ok"]);
    assert.equal(
      (raw.prepare("SELECT result FROM devices").get() as { result: string }).result,
      "in-progress",
    );
    raw.close();
    // …until a journal is opened: the dead process's lock is free, so its record is incomplete.
    await using j = await openJournal(path);
    const h = await j.history("02:00:00:00:00:99");
    assert.equal(h.length, 1);
    assert.equal(h[0].result, "incomplete");
    assert.equal(h[0].stage, "flash");
    assert.equal((await j.summary()).passed ?? 0, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
