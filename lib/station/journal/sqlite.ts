/**
 * The SQLite journal backend (node:sqlite): one file, shared by the station
 * processes of one machine (or of containers on one machine).
 *
 * - WAL mode, `synchronous=FULL`: a killed process loses at most the change
 *   it was making and never damages the file.
 * - Every write, and every read-modify-write, is its own `BEGIN IMMEDIATE`
 *   transaction: the write lock is taken before the first read, so another
 *   writer in between cannot turn it into SQLITE_BUSY half-way. A locked
 *   file is retried with a growing, jittered pause (without blocking the
 *   event loop, so the station's serial traffic keeps flowing) up to
 *   `retryMs`, then fails with `E_JOURNAL_BUSY`.
 * - The file says what it is: `PRAGMA application_id` marks an espline
 *   journal and `PRAGMA user_version` its schema version, so a file that is
 *   not a journal is refused before anything is written to it, and an older
 *   journal is migrated on open.
 * - A run (one open journal) holds an exclusive `flock` on its own lock file
 *   beside the journal (`FILE-runs/RUN.lock`) and renews a lease (heartbeat)
 *   in the `runs` table. Another process on the same kernel (same boot id)
 *   knows the run is dead the moment its lock is free, whatever its PID;
 *   elsewhere the lease expiring says so.
 *
 * @module
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";
import { EsplineError, UsageError } from "../../errors.ts";
import {
  closedError,
  formatSerial,
  incompleteMessage,
  type JournalBackend,
  type JournalEvent,
  type JournalFilter,
  likeLiteral,
  type RecordEnd,
  type RecordFacts,
  type RecordInit,
  type RowQuery,
  type RunIdentity,
  type SerialOptions,
  type StoredRecord,
  writerOf,
} from "./types.ts";

/** `PRAGMA application_id` of an espline journal: ASCII "EspJ". */
export const SQLITE_APPLICATION_ID = 0x4573704a;
/** Schema version this code writes (`PRAGMA user_version`). */
export const SQLITE_SCHEMA_VERSION = 2;

/** The tables and columns of the first journal format (no application id, version 0). */
export const SQLITE_V1_TABLES: Record<string, string[]> = {
  devices: [
    "id",
    "mac",
    "chip",
    "revision",
    "flash_size",
    "station",
    "port",
    "files",
    "fields",
    "stage",
    "result",
    "error_code",
    "error_message",
    "started_at",
    "ended_at",
    "pid",
    "run_id",
  ],
  events: ["id", "device_id", "time", "kind", "detail"],
  serials: ["mac", "number", "serial", "allocated_at"],
};

/** The first format's tables (for migrating, and for tools that make old files). */
export const SQLITE_V1_SCHEMA = `
CREATE TABLE devices (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  mac TEXT, chip TEXT, revision TEXT, flash_size INTEGER,
  station TEXT, port TEXT NOT NULL,
  files TEXT NOT NULL DEFAULT '[]', fields TEXT NOT NULL DEFAULT '{}',
  stage TEXT, result TEXT NOT NULL, error_code TEXT, error_message TEXT,
  started_at TEXT NOT NULL, ended_at TEXT,
  pid INTEGER NOT NULL, run_id TEXT NOT NULL
);
CREATE INDEX devices_mac ON devices(mac);
CREATE TABLE events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  device_id INTEGER NOT NULL REFERENCES devices(id),
  time TEXT NOT NULL, kind TEXT NOT NULL, detail TEXT NOT NULL
);
CREATE TABLE serials (
  mac TEXT PRIMARY KEY, number INTEGER NOT NULL UNIQUE, serial TEXT NOT NULL, allocated_at TEXT NOT NULL
);
`;

/** Version 1 → 2: idempotent record ids, runs with leases, indexes for sweeps and events. */
const V2_MIGRATION = `
ALTER TABLE devices ADD COLUMN uid TEXT;
CREATE UNIQUE INDEX devices_uid ON devices(uid);
CREATE INDEX devices_in_progress ON devices(run_id) WHERE result = 'in-progress';
CREATE INDEX events_device ON events(device_id);
CREATE TABLE runs (
  run_id TEXT PRIMARY KEY, host TEXT NOT NULL, boot_id TEXT, pid INTEGER NOT NULL,
  started_at TEXT NOT NULL, heartbeat_ms INTEGER NOT NULL, lease_ms INTEGER NOT NULL,
  ended_ms INTEGER, lock_file TEXT
);
`;

/** What an opened file turned out to be. */
type Identity =
  | { kind: "new" }
  | { kind: "espline"; version: number }
  | { kind: "foreign"; why: string };

type Row = Record<string, unknown>;

const LOCK_NAME = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.lock$/;

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function isBusy(e: unknown): boolean {
  return /database is locked|database table is locked|SQLITE_BUSY|SQLITE_LOCKED/i.test(message(e));
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A node:sqlite error as a typed one that says what to do. */
export function sqliteError(e: unknown, path: string, doing: string): EsplineError {
  if (e instanceof EsplineError) return e;
  const m = message(e).replace(/\s+/g, " ");
  if (
    /not a database|malformed|corrupt|no such (table|column)|database schema|unsupported file format/i
      .test(m)
  ) {
    return new EsplineError(
      "E_JOURNAL_CORRUPT",
      `journal ${path} is damaged (${m}) while ${doing}: move it aside and start a new journal, or restore a backup`,
      { cause: e },
    );
  }
  if (/readonly|read-only|permission|access/i.test(m)) {
    return new EsplineError(
      "E_JOURNAL_READONLY",
      `cannot write journal ${path} (${m}): check the permissions of the file and its folder`,
      { cause: e },
    );
  }
  if (/unable to open|cannot open/i.test(m)) {
    return new EsplineError(
      "E_JOURNAL_OPEN",
      `cannot open journal ${path} (${m}): check the path and its folder's permissions`,
      { cause: e },
    );
  }
  return new EsplineError(
    "E_JOURNAL_IO",
    `journal ${path}: ${m} while ${doing}; check the disk (space, permissions) and retry`,
    { cause: e },
  );
}

/** Kernel boot id (Linux): equal for every process and container on one running kernel. */
export function bootId(): string | null {
  try {
    return Deno.readTextFileSync("/proc/sys/kernel/random/boot_id").trim() || null;
  } catch {
    return null;
  }
}

/** Options for {@link openSqliteBackend}. */
export interface SqliteBackendOptions {
  /** The writing run, or null to open read-only. */
  run: RunIdentity | null;
  /** How long a locked file is retried, ms. */
  retryMs: number;
}

/** Open (and create or migrate, when writing) an SQLite journal. */
export async function openSqliteBackend(
  path: string,
  options: SqliteBackendOptions,
): Promise<JournalBackend> {
  const memory = path === ":memory:";
  const readOnly = options.run === null;
  let existed = memory;
  if (!memory) {
    try {
      const st = Deno.statSync(path);
      if (st.isDirectory) {
        throw new UsageError(
          `journal ${path} is a folder: give a file name, e.g. ${path.replace(/\/+$/, "")}/line.db`,
          { code: "E_JOURNAL_PATH" },
        );
      }
      existed = true;
    } catch (e) {
      if (e instanceof EsplineError) throw e;
      if (!(e instanceof Deno.errors.NotFound)) throw sqliteError(e, path, "opening");
      if (readOnly) {
        throw new UsageError(`no journal at ${path}: pass --journal FILE`, {
          code: "E_JOURNAL_NOT_FOUND",
        });
      }
      const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) || "/" : ".";
      try {
        if (!Deno.statSync(dir).isDirectory) throw new Deno.errors.NotFound();
      } catch {
        throw new UsageError(
          `cannot create journal ${path}: folder ${dir} does not exist; create it or choose another path`,
          { code: "E_JOURNAL_PATH" },
        );
      }
    }
  }
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path, { readOnly });
  } catch (e) {
    throw sqliteError(e, path, "opening");
  }
  const backend = new SqliteBackend(db, path, options, memory);
  try {
    await backend.init(existed);
    return backend;
  } catch (e) {
    await backend.discard(!existed);
    throw sqliteError(e, path, "opening");
  }
}

class SqliteBackend implements JournalBackend {
  readonly kind = "sqlite" as const;
  readonly location: string;
  #db: DatabaseSync;
  #path: string;
  #run: RunIdentity | null;
  #retryMs: number;
  #memory: boolean;
  #version = SQLITE_SCHEMA_VERSION;
  #statements = new Map<string, StatementSync>();
  #lock: Deno.FsFile | null = null;
  #lockPath: string | null = null;
  #closed = false;

  constructor(db: DatabaseSync, path: string, options: SqliteBackendOptions, memory: boolean) {
    this.#db = db;
    this.#path = path;
    this.location = path;
    this.#run = options.run;
    this.#retryMs = options.retryMs;
    this.#memory = memory;
  }

  get #runsDir(): string {
    return `${this.#path}-runs`;
  }

  #stmt(sql: string): StatementSync {
    let s = this.#statements.get(sql);
    if (!s) {
      s = this.#db.prepare(sql);
      // Integers beyond 2^53 (a damaged or edited file) must read, not throw.
      s.setReadBigInts(true);
      this.#statements.set(sql, s);
    }
    return s;
  }

  /** Run `fn` (synchronous SQLite calls), retrying while the file is locked. */
  async #retry<T>(doing: string, fn: () => T): Promise<T> {
    if (this.#closed) {
      throw closedError(this.location, doing);
    }
    const deadline = Date.now() + this.#retryMs;
    let pause = 1;
    for (;;) {
      try {
        return fn();
      } catch (e) {
        if (!isBusy(e)) throw sqliteError(e, this.#path, doing);
        if (Date.now() >= deadline) {
          throw new EsplineError(
            "E_JOURNAL_BUSY",
            `journal ${this.#path} stayed locked by another process for ${
              this.#retryMs / 1000
            } s while ${doing}: a process may be stuck holding it; stop it or raise retryMs`,
            { cause: e },
          );
        }
        await sleep(pause * (0.5 + Math.random()));
        pause = Math.min(pause * 2, 50);
      }
    }
  }

  /** One `BEGIN IMMEDIATE` transaction, retried while the file is locked. */
  #write<T>(doing: string, fn: () => T): Promise<T> {
    return this.#retry(doing, () => {
      this.#db.exec("BEGIN IMMEDIATE");
      try {
        const out = fn();
        this.#db.exec("COMMIT");
        return out;
      } catch (e) {
        try {
          this.#db.exec("ROLLBACK");
        } catch { /* no transaction left to roll back */ }
        throw e;
      }
    });
  }

  #identify(): Identity {
    const appId = Number(
      (this.#stmt("PRAGMA application_id").get() as Row | undefined)?.application_id,
    );
    const version = Number(
      (this.#stmt("PRAGMA user_version").get() as Row | undefined)?.user_version,
    );
    const tables = (this.#stmt(
      "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
    ).all() as Row[]).map((r) => String(r.name));
    if (appId === SQLITE_APPLICATION_ID) return { kind: "espline", version };
    const listed = tables.length > 6 ? `${tables.slice(0, 6).join(", ")} …` : tables.join(", ");
    if (appId !== 0) {
      return {
        kind: "foreign",
        why: `application id 0x${(appId >>> 0).toString(16)}${
          tables.length ? `, tables ${listed}` : ""
        }`,
      };
    }
    if (tables.length === 0) return { kind: "new" };
    const isV1 = Object.entries(SQLITE_V1_TABLES).every(([table, cols]) => {
      if (!tables.includes(table)) return false;
      const have = (this.#stmt("SELECT name FROM pragma_table_info(?)").all(table) as Row[]).map(
        (r) => String(r.name),
      );
      return cols.every((c) => have.includes(c));
    });
    if (isV1 && version === 0) return { kind: "espline", version: 1 };
    return { kind: "foreign", why: `tables ${listed}` };
  }

  #refuse(id: Identity): void {
    if (id.kind === "foreign") {
      throw new UsageError(
        `${this.#path} is an SQLite database but not an espline journal (${id.why}): it was left unchanged; give another --journal file`,
        { code: "E_JOURNAL_FOREIGN" },
      );
    }
    if (id.kind === "espline" && id.version > SQLITE_SCHEMA_VERSION) {
      throw new EsplineError(
        "E_JOURNAL_VERSION",
        `journal ${this.#path} has schema version ${id.version}, newer than this espline knows (${SQLITE_SCHEMA_VERSION}): update espline to use it`,
      );
    }
  }

  /** Identify, create or migrate, check, and (writers) register the run. */
  async init(existed: boolean): Promise<void> {
    // One read transaction: the header and the table list from the same snapshot (a writer
    // creating the tables in between must not make a half-seen new journal look foreign).
    const first = await this.#retry("reading its header", () => {
      this.#db.exec("BEGIN");
      try {
        return this.#identify();
      } finally {
        this.#db.exec("COMMIT");
      }
    });
    this.#refuse(first);
    if (this.#run === null) {
      if (first.kind === "new") {
        throw new UsageError(
          `${this.#path} is not an espline journal (an empty file or database): give another --journal file`,
          { code: "E_JOURNAL_FOREIGN" },
        );
      }
      this.#version = first.kind === "espline" ? first.version : SQLITE_SCHEMA_VERSION;
      if (this.#version < 1) {
        throw new EsplineError(
          "E_JOURNAL_CORRUPT",
          `journal ${this.#path} is marked as an espline journal but has no schema version: move it aside and start a new one`,
        );
      }
    } else {
      // Only now, knowing the file is new or a journal, change its settings.
      await this.#retry("setting it up", () => {
        this.#db.exec("PRAGMA busy_timeout = 0");
        if (!this.#memory) this.#db.exec("PRAGMA journal_mode = WAL");
        this.#db.exec("PRAGMA synchronous = FULL");
      });
      const current = first.kind === "espline" && first.version === SQLITE_SCHEMA_VERSION;
      if (!current) {
        await this.#write("creating or migrating its tables", () => {
          const id = this.#identify(); // again, inside the lock: another process may have done it
          this.#refuse(id);
          const version = id.kind === "new" ? 0 : id.kind === "espline" ? id.version : 0;
          if (version < 1) {
            if (version === 0 && id.kind === "espline") {
              throw new EsplineError(
                "E_JOURNAL_CORRUPT",
                `journal ${this.#path} is marked as an espline journal but has no schema version: move it aside and start a new one`,
              );
            }
            this.#db.exec(SQLITE_V1_SCHEMA);
          }
          if (version < 2) {
            this.#db.exec(V2_MIGRATION);
            // Records left in progress by the first format's stations get a lease from now.
            this.#stmt(
              `INSERT INTO runs (run_id, host, boot_id, pid, started_at, heartbeat_ms, lease_ms)
             SELECT run_id, '', NULL, MAX(pid), ?, ?, ? FROM devices WHERE result = 'in-progress' GROUP BY run_id`,
            ).run(new Date().toISOString(), Date.now(), this.#run!.leaseMs);
          }
          if (version < SQLITE_SCHEMA_VERSION || id.kind === "new") {
            this.#db.exec(`PRAGMA application_id = ${SQLITE_APPLICATION_ID}`);
            this.#db.exec(`PRAGMA user_version = ${SQLITE_SCHEMA_VERSION}`);
          }
        });
      }
    }
    if (existed) {
      const check = await this.#retry("checking it", () => this.#stmt("PRAGMA quick_check").all());
      const verdict = check.map((r) => String(Object.values(r as Row)[0]));
      if (verdict.length !== 1 || verdict[0] !== "ok") {
        throw new EsplineError(
          "E_JOURNAL_CORRUPT",
          `journal ${this.#path} is damaged (${
            verdict.slice(0, 2).join("; ")
          }): move it aside and start a new journal, or restore a backup`,
        );
      }
    }
    if (this.#run) {
      await this.#registerRun();
      await this.sweep();
      this.#pruneLocks(); // after the sweep, which needed them as evidence
    }
  }

  /** Delete lock files nobody holds (runs that ended without closing the journal). */
  #pruneLocks(): void {
    let names: string[];
    try {
      names = [...Deno.readDirSync(this.#runsDir)].map((e) => e.name);
    } catch {
      return;
    }
    for (const name of names) this.#lockState(name, true);
  }

  async #registerRun(): Promise<void> {
    const run = this.#run!;
    let lockName: string | null = null;
    if (!this.#memory) {
      try {
        Deno.mkdirSync(this.#runsDir, { recursive: true });
        lockName = `${run.runId}.lock`;
        this.#lockPath = `${this.#runsDir}/${lockName}`;
        this.#lock = Deno.openSync(this.#lockPath, { write: true, create: true });
        if (!this.#lock.tryLockSync(true)) throw new Error("could not lock a new file");
        // flock must work here (it does on local file systems): a second open of the
        // same file must see the lock, or other processes could not rely on it.
        const probe = Deno.openSync(this.#lockPath, { read: true });
        const sharedLock = probe.tryLockSync(true);
        if (sharedLock) probe.unlockSync();
        probe.close();
        if (sharedLock) lockName = null;
      } catch {
        lockName = null; // no lock: the lease alone tells other processes this run is alive
      }
      if (lockName === null) this.#releaseLock();
    }
    await this.#write("registering this station", () => {
      this.#stmt(
        `INSERT OR REPLACE INTO runs (run_id, host, boot_id, pid, started_at, heartbeat_ms, lease_ms, ended_ms, lock_file)
         VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?)`,
      ).run(
        run.runId,
        run.host,
        run.bootId,
        run.pid,
        new Date().toISOString(),
        Date.now(),
        run.leaseMs,
        lockName,
      );
    });
  }

  #releaseLock(): void {
    if (this.#lock) {
      try {
        this.#lock.close(); // closing releases the flock
      } catch { /* already closed */ }
      this.#lock = null;
    }
    if (this.#lockPath) {
      try {
        Deno.removeSync(this.#lockPath);
      } catch { /* already gone */ }
      this.#lockPath = null;
    }
  }

  /**
   * A run's lock: `released` (its file is there and nobody holds it: the
   * process is gone), `held` (the process lives), or `unknown` (no lock file).
   */
  #lockState(name: unknown, remove: boolean): "released" | "held" | "unknown" {
    if (this.#memory || typeof name !== "string" || !LOCK_NAME.test(name)) return "unknown";
    const path = `${this.#runsDir}/${name}`;
    let f: Deno.FsFile;
    try {
      f = Deno.openSync(path, { read: true });
    } catch {
      return "unknown";
    }
    try {
      if (!f.tryLockSync(true)) return "held";
      if (remove) {
        try {
          Deno.removeSync(path);
        } catch { /* a read-only folder: leave it */ }
      }
      return "released";
    } catch {
      return "unknown";
    } finally {
      f.close();
    }
  }

  /** Runs with records in progress that are dead, and why. */
  #deadRuns(remove: boolean): Map<string, string> {
    const dead = new Map<string, string>();
    if (this.#version < 2) return dead; // the first format has no runs: nothing to go on
    const me = this.#run?.runId ?? null;
    const myBoot = bootId();
    const now = Date.now();
    const rows = this.#stmt(
      `SELECT p.run_id AS id, r.run_id AS known, r.host, r.boot_id, r.pid, r.heartbeat_ms, r.lease_ms,
              r.ended_ms, r.lock_file
       FROM (SELECT DISTINCT run_id FROM devices WHERE result = 'in-progress') p
       LEFT JOIN runs r ON r.run_id = p.run_id`,
    ).all() as Row[];
    for (const r of rows) {
      const id = String(r.id);
      if (id === me) continue;
      if (r.known === null) {
        dead.set(id, incompleteMessage(null, "no station process is registered for it"));
        continue;
      }
      if (r.ended_ms !== null) {
        dead.set(id, incompleteMessage(r, "it closed the journal"));
        continue;
      }
      // On this kernel the run's lock decides: free means gone (whatever its PID), held
      // means alive however late its heartbeat (a starved or suspended process).
      const lock = myBoot !== null && r.boot_id === myBoot
        ? this.#lockState(r.lock_file, remove)
        : "unknown";
      if (lock === "released") {
        dead.set(id, incompleteMessage(r, "its process has exited"));
      } else if (lock === "unknown" && now - Number(r.heartbeat_ms) > Number(r.lease_ms)) {
        dead.set(
          id,
          incompleteMessage(
            r,
            `no heartbeat since ${new Date(Number(r.heartbeat_ms)).toISOString()}, lease ${
              Number(r.lease_ms) / 1000
            } s`,
          ),
        );
      }
    }
    return dead;
  }

  async insert(uid: string, init: RecordInit, startedAt: string): Promise<number> {
    const run = this.#writer("beginning a record");
    return await this.#write("beginning a record", () => {
      this.#stmt(
        `INSERT OR IGNORE INTO devices (uid, port, station, chip, mac, files, fields, stage, result, started_at, pid, run_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, 'start', 'in-progress', ?, ?, ?)`,
      ).run(
        uid,
        init.port,
        init.station ?? null,
        init.chip ?? null,
        init.mac ?? null,
        JSON.stringify(init.files ?? []),
        JSON.stringify(init.fields ?? {}),
        startedAt,
        run.pid,
        run.runId,
      );
      return Number((this.#stmt("SELECT id FROM devices WHERE uid = ?").get(uid) as Row).id);
    });
  }

  #writer(doing: string): RunIdentity {
    return writerOf(this.#run, this.location, doing);
  }

  async update(id: number, facts: RecordFacts): Promise<void> {
    this.#writer("updating a record");
    await this.#write("updating a record", () => {
      let fieldsText: string | null = null;
      if (facts.fields && Object.keys(facts.fields).length) {
        const cur = this.#stmt("SELECT fields FROM devices WHERE id = ?").get(id) as
          | Row
          | undefined;
        let stored: Record<string, unknown> = {};
        try {
          const v = JSON.parse(String(cur?.fields ?? "{}"));
          if (typeof v === "object" && v !== null && !Array.isArray(v)) stored = v;
          else stored = { _unreadable: cur?.fields };
        } catch {
          stored = { _unreadable: cur?.fields };
        }
        fieldsText = JSON.stringify({ ...stored, ...facts.fields });
      }
      this.#stmt(
        `UPDATE devices SET mac = COALESCE(?, mac), chip = COALESCE(?, chip), revision = COALESCE(?, revision),
         flash_size = COALESCE(?, flash_size), stage = COALESCE(?, stage), fields = COALESCE(?, fields)
         WHERE id = ?`,
      ).run(
        facts.mac ?? null,
        facts.chip ?? null,
        facts.revision ?? null,
        facts.flashSize ?? null,
        facts.stage ?? null,
        fieldsText,
        id,
      );
    });
  }

  async event(id: number, _uid: string, event: JournalEvent): Promise<void> {
    this.#writer("adding an event");
    await this.#write("adding an event", () => {
      this.#stmt("INSERT INTO events (device_id, time, kind, detail) VALUES (?, ?, ?, ?)").run(
        id,
        event.time,
        event.kind,
        event.detail,
      );
    });
  }

  async end(id: number, end: RecordEnd, endedAt: string): Promise<void> {
    this.#writer("ending a record");
    await this.#write("ending a record", () => {
      const prev = this.#stmt("SELECT result, error_message FROM devices WHERE id = ?").get(id) as
        | Row
        | undefined;
      if (prev?.result === "incomplete") {
        this.#stmt("INSERT INTO events (device_id, time, kind, detail) VALUES (?, ?, ?, ?)").run(
          id,
          endedAt,
          "lease-lost",
          `marked incomplete meanwhile (${prev.error_message}); the station finished it afterwards`,
        );
      }
      this.#stmt(
        `UPDATE devices SET result = ?, ended_at = ?, error_code = ?, error_message = ?, stage = COALESCE(?, stage)
         WHERE id = ?`,
      ).run(end.result, endedAt, end.errorCode, end.errorMessage, end.stage, id);
    });
  }

  #where(query: RowQuery): { sql: string; args: (string | number)[] } {
    const parts: string[] = [];
    const args: (string | number)[] = [];
    if (query.mac !== undefined) {
      parts.push("mac = ?");
      args.push(query.mac);
    }
    if (query.since) {
      parts.push("started_at >= ?");
      args.push(query.since.toISOString());
    }
    if (query.station !== undefined) {
      parts.push("station = ?");
      args.push(query.station);
    }
    if (query.contains !== undefined) {
      const like = `%${likeLiteral(query.contains)}%`;
      parts.push(
        `(mac LIKE ? ESCAPE '\\' OR (json_valid(fields) AND json_extract(fields, '$.serial') LIKE ? ESCAPE '\\'))`,
      );
      args.push(like, like);
    }
    let sql = parts.length ? `WHERE ${parts.join(" AND ")}` : "";
    sql += query.newestFirst ? " ORDER BY id DESC" : " ORDER BY id";
    if (query.limit !== undefined) {
      sql += " LIMIT ?";
      args.push(query.limit);
    }
    return { sql, args };
  }

  async rows(query: RowQuery): Promise<StoredRecord[]> {
    const { sql, args } = this.#where(query);
    return await this.#retry("reading records", () => {
      const dead = this.#deadRuns(false);
      const rows = this.#stmt(`SELECT * FROM devices ${sql}`).all(...args) as Row[];
      const events = new Map<unknown, Row[]>();
      if (rows.length) {
        for (
          const e of this.#stmt(
            `SELECT device_id, time, kind, detail FROM events
             WHERE device_id IN (SELECT value FROM json_each(?)) ORDER BY id`,
          ).all(JSON.stringify(rows.map((r) => String(r.id)))) as Row[]
        ) {
          const list = events.get(e.device_id) ?? [];
          list.push(e);
          events.set(e.device_id, list);
        }
      }
      return rows.map((row) => {
        const why = row.result === "in-progress" ? dead.get(String(row.run_id)) : undefined;
        return {
          id: row.id,
          row: why ? { ...row, error_code: "E_INCOMPLETE", error_message: why } : row,
          result: why ? "incomplete" : row.result,
          events: events.get(row.id) ?? [],
        };
      });
    });
  }

  async counts(filter: JournalFilter): Promise<Map<string, number>> {
    const { sql, args } = this.#where(filter);
    return await this.#retry("counting records", () => {
      const dead = this.#deadRuns(false);
      const out = new Map<string, number>();
      for (
        const r of this.#stmt(
          `SELECT result, run_id, count(*) AS n FROM (SELECT result, run_id FROM devices ${sql})
           GROUP BY result, run_id`,
        ).all(...args) as Row[]
      ) {
        const result = r.result === "in-progress" && dead.has(String(r.run_id))
          ? "incomplete"
          : String(r.result);
        out.set(result, (out.get(result) ?? 0) + Number(r.n));
      }
      return out;
    });
  }

  async allocateSerial(mac: string, options: SerialOptions): Promise<string> {
    this.#writer("allocating a serial number");
    return await this.#write("allocating a serial number", () => {
      const have = this.#stmt("SELECT serial FROM serials WHERE mac = ?").get(mac) as
        | Row
        | undefined;
      if (have) return String(have.serial);
      const max = this.#stmt("SELECT MAX(number) AS n FROM serials").get() as Row;
      const number = max.n === null ? (options.start ?? 1) : Number(max.n) + 1;
      const serial = formatSerial(number, options);
      this.#stmt("INSERT INTO serials (mac, number, serial, allocated_at) VALUES (?, ?, ?, ?)")
        .run(mac, number, serial, new Date().toISOString());
      return serial;
    });
  }

  async heartbeat(): Promise<void> {
    const run = this.#writer("renewing the lease");
    await this.#write("renewing this station's lease", () => {
      this.#stmt("UPDATE runs SET heartbeat_ms = ?, ended_ms = NULL WHERE run_id = ?").run(
        Date.now(),
        run.runId,
      );
    });
  }

  async sweep(): Promise<number> {
    this.#writer("marking dead stations' records");
    // Lock checks touch files: decide outside the transaction, apply inside it.
    const dead = await this.#retry("looking for dead stations", () => this.#deadRuns(true));
    if (dead.size === 0) return 0;
    const now = new Date().toISOString();
    return await this.#write("marking dead stations' records incomplete", () => {
      let n = 0;
      for (const [runId, why] of dead) {
        n += Number(
          this.#stmt(
            `UPDATE devices SET result = 'incomplete', ended_at = ?, error_code = 'E_INCOMPLETE',
             error_message = ? WHERE result = 'in-progress' AND run_id = ?`,
          ).run(now, why, runId).changes,
        );
      }
      return n;
    });
  }

  /** Close a half-opened backend (failed open); delete a file this open created. */
  async discard(createdFile: boolean): Promise<void> {
    this.#closeNow();
    if (createdFile && !this.#memory) {
      for (const suffix of ["", "-wal", "-shm", "-journal"]) {
        try {
          const st = Deno.statSync(this.#path + suffix);
          if (suffix === "" && st.size > 0) continue; // something was written: keep it
          Deno.removeSync(this.#path + suffix);
        } catch { /* not there */ }
      }
    }
    await Promise.resolve();
  }

  #closeNow(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#statements.clear();
    try {
      this.#db.close();
    } catch { /* already closed */ }
    this.#releaseLock();
    try {
      Deno.removeSync(this.#runsDir); // only when empty
    } catch { /* other runs' locks, or never made */ }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    const run = this.#run;
    let failure: unknown = null;
    if (run) {
      try {
        await this.#write("closing", () => {
          const now = new Date().toISOString();
          this.#stmt(
            `UPDATE devices SET result = 'incomplete', ended_at = ?, error_code = 'E_INCOMPLETE',
             error_message = ? WHERE result = 'in-progress' AND run_id = ?`,
          ).run(
            now,
            incompleteMessage(run, "the journal was closed while the board was in progress"),
            run.runId,
          );
          this.#stmt("UPDATE runs SET ended_ms = ? WHERE run_id = ?").run(Date.now(), run.runId);
        });
      } catch (e) {
        failure = e;
      }
    }
    this.#closeNow();
    if (failure) throw failure;
  }
}
