/**
 * The device journal: one record per board touched, in an SQLite file
 * (node:sqlite), safe against crashes and shared by several stations.
 *
 * - Every state change is its own transaction in WAL mode with
 *   `synchronous=FULL`, so a killed process loses at most the change it was
 *   making and never corrupts the file.
 * - A record is written `in-progress` before the board is touched. When a
 *   journal is opened, records left in progress by a process that is gone
 *   become `incomplete`: a board that was mid-flash is never counted passed.
 * - Serial numbers are allocated in an `IMMEDIATE` transaction, so two
 *   stations sharing a file never hand out the same number, and a MAC that
 *   has one gets it back.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { EsplineError } from "../errors.ts";
import type { StationJournal, StationRecord } from "./runner.ts";

/** A record's result. */
export type JournalResult = "in-progress" | "passed" | "failed" | "aborted" | "incomplete";

/** One board's record, as read back. */
export interface JournalRecord {
  /** Row id. */
  id: number;
  /** Base MAC, when read. */
  mac: string | null;
  /** Chip key. */
  chip: string | null;
  /** Silicon revision (`v3.1`). */
  revision: string | null;
  /** Flash size in bytes. */
  flashSize: number | null;
  /** Station name. */
  station: string | null;
  /** Port. */
  port: string;
  /** Firmware files written, with their SHA-256. */
  files: { path: string; sha256: string; address: number }[];
  /** Fields the script added. */
  fields: Record<string, unknown>;
  /** Last stage reached. */
  stage: string | null;
  /** Result. */
  result: JournalResult;
  /** Error code on failure. */
  errorCode: string | null;
  /** Error message on failure. */
  errorMessage: string | null;
  /** Start time (ISO 8601). */
  startedAt: string;
  /** End time (ISO 8601), null while in progress. */
  endedAt: string | null;
  /** Events (recoveries, notes), oldest first. */
  events: { time: string; kind: string; detail: string }[];
}

/** Options for {@link openJournal}. */
export interface OpenJournalOptions {
  /** How long to wait for another process's write lock, ms. Default 5000. */
  busyTimeoutMs?: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS devices (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  mac TEXT, chip TEXT, revision TEXT, flash_size INTEGER,
  station TEXT, port TEXT NOT NULL,
  files TEXT NOT NULL DEFAULT '[]', fields TEXT NOT NULL DEFAULT '{}',
  stage TEXT, result TEXT NOT NULL, error_code TEXT, error_message TEXT,
  started_at TEXT NOT NULL, ended_at TEXT,
  pid INTEGER NOT NULL, run_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS devices_mac ON devices(mac);
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  device_id INTEGER NOT NULL REFERENCES devices(id),
  time TEXT NOT NULL, kind TEXT NOT NULL, detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS serials (
  mac TEXT PRIMARY KEY, number INTEGER NOT NULL UNIQUE, serial TEXT NOT NULL, allocated_at TEXT NOT NULL
);
`;

type Row = Record<string, unknown>;

function pidAlive(pid: number): boolean {
  if (pid === Deno.pid) return true;
  try {
    // Linux and macOS: /proc on Linux; elsewhere assume alive (conservative: stays in-progress).
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return Deno.build.os !== "linux";
    return true;
  }
}

/**
 * The journal. Implements the station's {@link StationJournal}.
 *
 * @example
 * ```ts
 * import { openJournal } from "./journal.ts";
 * await using j = await openJournal(":memory:");
 * const rec = await j.begin({ port: "sim://esp32", station: "line-1" });
 * await rec.update({ mac: "24:0a:c4:00:00:01", chip: "esp32" });
 * await rec.pass();
 * console.log(await j.lastResult("24:0a:c4:00:00:01")); // "passed"
 * ```
 */
export class Journal implements StationJournal {
  /** The file path. */
  readonly path: string;
  #db: DatabaseSync;
  #runId = crypto.randomUUID();
  #closed = false;

  /** Use {@link openJournal}. */
  constructor(path: string, options: OpenJournalOptions = {}) {
    this.path = path;
    try {
      this.#db = new DatabaseSync(path);
      this.#db.exec(`PRAGMA busy_timeout = ${options.busyTimeoutMs ?? 5000}`);
      if (path !== ":memory:") this.#db.exec("PRAGMA journal_mode = WAL");
      this.#db.exec("PRAGMA synchronous = FULL");
      this.#db.exec(SCHEMA);
      const check = this.#db.prepare("PRAGMA quick_check").get() as Row | undefined;
      if (check && Object.values(check)[0] !== "ok") {
        throw new EsplineError(
          "E_JOURNAL_CORRUPT",
          `journal ${path} is damaged (${Object.values(check)[0]})`,
        );
      }
    } catch (e) {
      if (e instanceof EsplineError) throw e;
      const msg = e instanceof Error ? e.message : String(e);
      throw new EsplineError(
        /locked|busy/i.test(msg) ? "E_JOURNAL_LOCKED" : "E_JOURNAL_CORRUPT",
        `cannot open journal ${path}: ${msg}. ` +
          (/locked|busy/i.test(msg)
            ? "another process holds it; retry, or use another file"
            : "it may not be an espline journal; move it aside and start a new one"),
        { cause: e },
      );
    }
    this.#markIncomplete();
  }

  /** Records in progress whose process is gone become `incomplete`. */
  #markIncomplete(): void {
    const rows = this.#db.prepare(
      "SELECT id, pid, run_id FROM devices WHERE result = 'in-progress'",
    ).all() as Row[];
    const stale = rows.filter((r) => r.run_id !== this.#runId && !pidAlive(Number(r.pid)));
    if (stale.length === 0) return;
    this.#tx(() => {
      const upd = this.#db.prepare(
        "UPDATE devices SET result = 'incomplete', ended_at = ?, error_message = COALESCE(error_message, ?) WHERE id = ?",
      );
      for (const r of stale) {
        upd.run(
          new Date().toISOString(),
          "the process stopped while this device was in progress",
          Number(r.id),
        );
      }
    });
  }

  #tx<T>(fn: () => T, immediate = false): T {
    this.#db.exec(immediate ? "BEGIN IMMEDIATE" : "BEGIN");
    try {
      const out = fn();
      this.#db.exec("COMMIT");
      return out;
    } catch (e) {
      this.#db.exec("ROLLBACK");
      throw e;
    }
  }

  /** Start a record; it is written (in progress) before this returns. */
  begin(init: {
    port: string;
    station?: string;
    chip?: string;
    mac?: string;
    files?: { path: string; sha256: string; address: number }[];
    fields?: Record<string, unknown>;
  }): Promise<JournalEntry> {
    const r = this.#db.prepare(
      `INSERT INTO devices (port, station, chip, mac, files, fields, stage, result, started_at, pid, run_id)
       VALUES (?, ?, ?, ?, ?, ?, 'start', 'in-progress', ?, ?, ?)`,
    ).run(
      init.port,
      init.station ?? null,
      init.chip ?? null,
      init.mac ?? null,
      JSON.stringify(init.files ?? []),
      JSON.stringify(init.fields ?? {}),
      new Date().toISOString(),
      Deno.pid,
      this.#runId,
    );
    return Promise.resolve(new JournalEntry(this, Number(r.lastInsertRowid)));
  }

  /** @internal update one record's columns. */
  _update(id: number, facts: Parameters<StationRecord["update"]>[0]): void {
    this.#tx(() => {
      const cur = this.#db.prepare("SELECT fields FROM devices WHERE id = ?").get(id) as Row;
      const fields = { ...JSON.parse(String(cur.fields)), ...(facts.fields ?? {}) };
      this.#db.prepare(
        `UPDATE devices SET mac = COALESCE(?, mac), chip = COALESCE(?, chip), revision = COALESCE(?, revision),
         flash_size = COALESCE(?, flash_size), stage = COALESCE(?, stage), fields = ? WHERE id = ?`,
      ).run(
        facts.mac ?? null,
        facts.chip ?? null,
        facts.revision ?? null,
        facts.flashSize ?? null,
        facts.stage ?? null,
        JSON.stringify(fields),
        id,
      );
    });
  }

  /** @internal append an event. */
  _event(id: number, kind: string, detail: string): void {
    this.#db.prepare("INSERT INTO events (device_id, time, kind, detail) VALUES (?, ?, ?, ?)").run(
      id,
      new Date().toISOString(),
      kind,
      detail,
    );
  }

  /** @internal end a record. */
  _end(
    id: number,
    result: JournalResult,
    error?: { code: string; message: string },
    stage?: string,
  ): void {
    this.#db.prepare(
      `UPDATE devices SET result = ?, ended_at = ?, error_code = ?, error_message = ?, stage = COALESCE(?, stage)
       WHERE id = ?`,
    ).run(
      result,
      new Date().toISOString(),
      error?.code ?? null,
      error?.message ?? null,
      stage ?? null,
      id,
    );
  }

  #toRecord(r: Row): JournalRecord {
    const events = this.#db.prepare(
      "SELECT time, kind, detail FROM events WHERE device_id = ? ORDER BY id",
    ).all(
      Number(r.id),
    ) as Row[];
    return {
      id: Number(r.id),
      mac: (r.mac as string | null) ?? null,
      chip: (r.chip as string | null) ?? null,
      revision: (r.revision as string | null) ?? null,
      flashSize: r.flash_size === null ? null : Number(r.flash_size),
      station: (r.station as string | null) ?? null,
      port: String(r.port),
      files: JSON.parse(String(r.files)),
      fields: JSON.parse(String(r.fields)),
      stage: (r.stage as string | null) ?? null,
      result: r.result as JournalResult,
      errorCode: (r.error_code as string | null) ?? null,
      errorMessage: (r.error_message as string | null) ?? null,
      startedAt: String(r.started_at),
      endedAt: (r.ended_at as string | null) ?? null,
      events: events.map((e) => ({
        time: String(e.time),
        kind: String(e.kind),
        detail: String(e.detail),
      })),
    };
  }

  /** Every record for a MAC, newest first. */
  history(mac: string): Promise<JournalRecord[]> {
    return Promise.resolve(this.#history(mac));
  }

  #history(mac: string): JournalRecord[] {
    const rows = this.#db.prepare("SELECT * FROM devices WHERE mac = ? ORDER BY id DESC").all(
      mac.toLowerCase(),
    ) as Row[];
    return rows.map((r) => this.#toRecord(r));
  }

  /** The newest result for a MAC, or null if it was never journaled. */
  lastResult(mac: string): Promise<JournalResult | null> {
    return Promise.resolve(this.#history(mac)[0]?.result ?? null);
  }

  /** All records (oldest first), optionally since a time or for one station. */
  records(filter: { since?: Date; station?: string } = {}): Promise<JournalRecord[]> {
    return Promise.resolve(this.#records(filter));
  }

  #records(filter: { since?: Date; station?: string } = {}): JournalRecord[] {
    const rows = this.#db.prepare(
      "SELECT * FROM devices WHERE started_at >= ? AND (? IS NULL OR station = ?) ORDER BY id",
    ).all(
      filter.since?.toISOString() ?? "",
      filter.station ?? null,
      filter.station ?? null,
    ) as Row[];
    return rows.map((r) => this.#toRecord(r));
  }

  /** Counts by result. */
  summary(
    filter: { since?: Date; station?: string } = {},
  ): Promise<Partial<Record<JournalResult, number>> & { total: number }> {
    const rows = this.#db.prepare(
      `SELECT result, count(*) AS n FROM devices WHERE started_at >= ? AND (? IS NULL OR station = ?) GROUP BY result`,
    ).all(
      filter.since?.toISOString() ?? "",
      filter.station ?? null,
      filter.station ?? null,
    ) as Row[];
    const out: Partial<Record<JournalResult, number>> & { total: number } = { total: 0 };
    for (const r of rows) {
      out[r.result as JournalResult] = Number(r.n);
      out.total += Number(r.n);
    }
    return Promise.resolve(out);
  }

  /**
   * A unique serial number for a MAC: the same MAC always gets its number
   * back; a new MAC gets the next one, even with several processes sharing
   * the file.
   */
  allocateSerial(
    mac: string,
    options: { prefix?: string; start?: number; digits?: number } = {},
  ): Promise<string> {
    const key = mac.toLowerCase();
    return Promise.resolve(this.#tx(() => {
      const have = this.#db.prepare("SELECT serial FROM serials WHERE mac = ?").get(key) as
        | Row
        | undefined;
      if (have) return String(have.serial);
      const max = this.#db.prepare("SELECT MAX(number) AS n FROM serials").get() as Row;
      const number = max.n === null ? (options.start ?? 1) : Number(max.n) + 1;
      const serial = `${options.prefix ?? "ESP-"}${
        String(number).padStart(options.digits ?? 6, "0")
      }`;
      this.#db.prepare(
        "INSERT INTO serials (mac, number, serial, allocated_at) VALUES (?, ?, ?, ?)",
      ).run(
        key,
        number,
        serial,
        new Date().toISOString(),
      );
      return serial;
    }, true));
  }

  /** All records as CSV (RFC 4180 quoting), header first. */
  exportCsv(): Promise<string> {
    const cols = [
      "id",
      "mac",
      "chip",
      "revision",
      "flash_size",
      "station",
      "port",
      "stage",
      "result",
      "error_code",
      "error_message",
      "started_at",
      "ended_at",
      "files",
      "fields",
    ];
    const q = (v: unknown) => {
      const s = v === null || v === undefined ? "" : typeof v === "string" ? v : JSON.stringify(v);
      return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
    };
    const lines = [cols.join(",")];
    for (const r of this.#records()) {
      lines.push(
        [
          r.id,
          r.mac,
          r.chip,
          r.revision,
          r.flashSize,
          r.station,
          r.port,
          r.stage,
          r.result,
          r.errorCode,
          r.errorMessage,
          r.startedAt,
          r.endedAt,
          r.files,
          r.fields,
        ].map(q).join(","),
      );
    }
    return Promise.resolve(lines.join("\r\n") + "\r\n");
  }

  /** All records as JSON Lines. */
  exportJsonl(): Promise<string> {
    return Promise.resolve(this.#records().map((r) => JSON.stringify(r)).join("\n") + "\n");
  }

  /** Close the file. Idempotent. */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#db.close();
    }
    return Promise.resolve();
  }

  /** `await using` support. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** One board's record handle. */
export class JournalEntry implements StationRecord {
  /** Row id. */
  readonly id: number;
  #journal: Journal;
  #ended = false;

  /** Use {@link Journal.begin}. */
  constructor(journal: Journal, id: number) {
    this.#journal = journal;
    this.id = id;
  }

  /** Add facts (each update is durable at once). */
  update(facts: Parameters<StationRecord["update"]>[0]): Promise<void> {
    this.#journal._update(this.id, { ...facts, mac: facts.mac?.toLowerCase() });
    return Promise.resolve();
  }

  /** Append an event. */
  event(kind: string, detail: string): Promise<void> {
    this.#journal._event(this.id, kind, detail);
    return Promise.resolve();
  }

  /** The board passed. */
  pass(extra?: Record<string, unknown>): Promise<void> {
    if (extra) this.update({ fields: extra });
    this.#end("passed");
    return Promise.resolve();
  }

  /** The board failed at `stage`. */
  fail(error: unknown, options: { stage: string }): Promise<void> {
    const e = error instanceof EsplineError
      ? { code: error.code, message: error.message }
      : { code: "E_INTERNAL", message: error instanceof Error ? error.message : String(error) };
    this.#end("failed", e, options.stage);
    return Promise.resolve();
  }

  /** The run was cancelled while this board was in progress. */
  abort(reason: string): Promise<void> {
    this.#end("aborted", { code: "E_ABORTED", message: reason });
    return Promise.resolve();
  }

  #end(result: JournalResult, error?: { code: string; message: string }, stage?: string): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#journal._end(this.id, result, error, stage);
  }
}

/**
 * Open (or create) a journal file. `:memory:` gives a journal for tests.
 *
 * @example
 * ```ts
 * import { openJournal } from "./journal.ts";
 * await using j = await openJournal(":memory:");
 * console.log(await j.allocateSerial("24:0a:c4:00:00:01")); // "ESP-000001"
 * ```
 */
export function openJournal(path: string, options: OpenJournalOptions = {}): Promise<Journal> {
  try {
    return Promise.resolve(new Journal(path, options));
  } catch (e) {
    return Promise.reject(e);
  }
}
