/**
 * The device journal: one record per board touched, kept in an SQLite file
 * (the zero-setup default) or in a PostgreSQL database shared by every
 * station of a line (`postgres://…`). Both backends have the same API and
 * meaning:
 *
 * - A record is written `in-progress` before the board is touched; each
 *   change is durable when its Promise resolves.
 * - A record ends `passed`, `unverified` (written but not verifiable),
 *   `failed` or `aborted`. A record whose station process died (crash, kill,
 *   power loss) becomes `incomplete`, never `passed`: every open journal
 *   holds a lease it renews while the process lives (and, on one machine,
 *   an OS lock that dies with it), so the PID alone is never trusted.
 * - Serial numbers are unique across every process and station sharing the
 *   journal, one transaction per allocation; a MAC that has one gets it back.
 * - Opening creates the schema only in a new file or database, migrates an
 *   older journal, and refuses anything else without changing it;
 *   `readOnly` opens change nothing at all.
 *
 * @module
 */

import { EsplineError } from "../errors.ts";
import type { StationJournal, StationRecord } from "./runner.ts";
import { decodeRecord } from "./journal/decode.ts";
import { recordsToCsv, recordsToJsonl } from "./journal/export.ts";
import { bootId, openSqliteBackend } from "./journal/sqlite.ts";
import {
  closedError,
  JOURNAL_RESULTS,
  type JournalBackend,
  type JournalFilter,
  type JournalRecord,
  type JournalResult,
  type JournalSummary,
  type RecordEnd,
  type RecordFacts,
  type RecordInit,
  type RunIdentity,
  type SerialOptions,
} from "./journal/types.ts";

export type {
  DamagedValue,
  JournalEvent,
  JournalFile,
  JournalFilter,
  JournalRecord,
  JournalResult,
  JournalSummary,
  RecordFacts,
  RecordInit,
  SerialOptions,
} from "./journal/types.ts";

/** Options for {@link openJournal}. */
export interface OpenJournalOptions {
  /**
   * Open for reading only: nothing is created, migrated or changed (records
   * of dead stations are still *shown* `incomplete`). Default false.
   */
  readOnly?: boolean;
  /**
   * How long a call keeps retrying while the SQLite file is locked by
   * another process, or the PostgreSQL server cannot be reached, before it
   * fails with `E_JOURNAL_BUSY` / `E_JOURNAL_UNREACHABLE`. Default 30000 ms.
   */
  retryMs?: number;
  /**
   * How long this process's lease lasts without a heartbeat (renewed every
   * quarter of it): after that, other processes count its records in
   * progress as `incomplete`. Default 30000 ms.
   */
  leaseMs?: number;
  /** How long opening waits for a PostgreSQL server. Default 10000 ms. */
  connectTimeoutMs?: number;
  /** PostgreSQL connections this journal may open. Default 4. */
  maxConnections?: number;
  /** This host's name in the journal's list of stations. Default `Deno.hostname()`. */
  host?: string;
}

/** What the entry needs from its journal. */
interface EntryContext {
  backend: JournalBackend;
  track(p: Promise<unknown>): void;
}

let makeEntry: (ctx: EntryContext, id: number) => JournalEntry;
let makeJournal: (backend: JournalBackend, run: RunIdentity | null) => Journal;

function hostName(): string {
  try {
    return Deno.hostname();
  } catch {
    return "unknown-host";
  }
}

/** Let the process exit while the timer runs (Deno's timers are Node-style objects here). */
function unrefTimer(timer: ReturnType<typeof setInterval>): void {
  const t = timer as unknown as { unref?: () => void };
  if (typeof t.unref === "function") t.unref();
  else Deno.unrefTimer(timer as unknown as number);
}

function normalMac(mac: string): string {
  return mac.trim().toLowerCase();
}

/**
 * A journal. Implements the station's {@link StationJournal}. Open it with
 * {@link openJournal}; every method returns a Promise.
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
  /** Where it is: the file path, or the PostgreSQL URL without its password. */
  readonly path: string;
  /** `sqlite` or `postgres`. */
  readonly backend: "sqlite" | "postgres";
  /** True when opened with `readOnly`. */
  readonly readOnly: boolean;
  #b: JournalBackend;
  #run: RunIdentity | null;
  #timer: ReturnType<typeof setInterval> | undefined;
  #tick: Promise<void> | null = null;
  #pending = new Set<Promise<unknown>>();
  #closed = false;

  static {
    makeJournal = (backend, run) => new Journal(backend, run);
  }

  private constructor(backend: JournalBackend, run: RunIdentity | null) {
    this.#b = backend;
    this.#run = run;
    this.path = backend.location;
    this.backend = backend.kind;
    this.readOnly = run === null;
    if (run) {
      // Renew the lease and look for dead stations; the timer never keeps the process alive.
      this.#timer = setInterval(() => {
        if (this.#tick || this.#closed) return;
        this.#tick = (async () => {
          try {
            await this.#b.heartbeat();
            await this.#b.sweep();
          } catch {
            // Unreachable for now: the next tick tries again; calls report their own errors.
          } finally {
            this.#tick = null;
          }
        })();
      }, Math.max(50, Math.floor(run.leaseMs / 4)));
      unrefTimer(this.#timer);
    }
  }

  #track<T>(p: Promise<T>): Promise<T> {
    this.#pending.add(p);
    const done = () => this.#pending.delete(p);
    p.then(done, done);
    return p;
  }

  #open(doing: string): void {
    if (this.#closed) {
      throw closedError(this.path, doing);
    }
  }

  /** Start a record; it is stored (in progress) when the Promise resolves. */
  async begin(init: RecordInit): Promise<JournalEntry> {
    this.#open("beginning a record");
    const id = await this.#track(this.#b.insert(
      crypto.randomUUID(),
      { ...init, mac: init.mac === undefined ? undefined : normalMac(init.mac) },
      new Date().toISOString(),
    ));
    return makeEntry({ backend: this.#b, track: (p) => this.#track(p) }, id);
  }

  /** Every record for a MAC, newest first. */
  async history(mac: string): Promise<JournalRecord[]> {
    this.#open("reading a history");
    const rows = await this.#b.rows({ mac: normalMac(mac), newestFirst: true });
    return rows.map(decodeRecord);
  }

  /** The newest result for a MAC, or null if it was never journaled. */
  async lastResult(mac: string): Promise<JournalResult | null> {
    return (await this.history(mac))[0]?.result ?? null;
  }

  /** Records, oldest first: all, or since a time, or one station's. */
  async records(filter: JournalFilter = {}): Promise<JournalRecord[]> {
    this.#open("reading records");
    return (await this.#b.rows(filter)).map(decodeRecord);
  }

  /**
   * Records of a board by MAC or serial number, newest first: a whole MAC in
   * any spelling (`aa:bb:cc:dd:ee:ff`, `AA-BB-…`, `aabbccddeeff`) finds that
   * board's history; other text finds the records whose MAC or
   * `fields.serial` contains it (any case). At most `limit` (default 50).
   */
  async search(query: string, options: { limit?: number } = {}): Promise<JournalRecord[]> {
    this.#open("searching");
    const limit = options.limit ?? 50;
    const hex = query.trim().toLowerCase().replace(/[:\-. ]/g, "");
    const text = query.trim().toLowerCase();
    if (!text) return [];
    const rows = /^[0-9a-f]{12}$/.test(hex)
      ? await this.#b.rows({ mac: hex.match(/../g)!.join(":"), newestFirst: true, limit })
      : await this.#b.rows({ contains: text, newestFirst: true, limit });
    return rows.map(decodeRecord);
  }

  /** Counts by result (`unverified` apart from `passed`). */
  async summary(filter: JournalFilter = {}): Promise<JournalSummary> {
    this.#open("counting records");
    const counts = await this.#b.counts(filter);
    const byResult = new Map<JournalResult, number>();
    for (const [result, n] of counts) {
      // A result this version does not know (a hand-edited row) counts as incomplete,
      // as records() shows it.
      const key = JOURNAL_RESULTS.includes(result as JournalResult)
        ? result as JournalResult
        : "incomplete";
      byResult.set(key, (byResult.get(key) ?? 0) + n);
    }
    const out: JournalSummary = { total: 0 };
    for (const result of JOURNAL_RESULTS) {
      const n = byResult.get(result);
      if (n === undefined) continue;
      out[result] = n;
      out.total += n;
    }
    return out;
  }

  /**
   * A serial number for a MAC: the same MAC always gets its number back; a
   * new MAC gets the next one, unique across every process and station
   * sharing this journal.
   */
  allocateSerial(mac: string, options: SerialOptions = {}): Promise<string> {
    this.#open("allocating a serial number");
    return this.#track(this.#b.allocateSerial(normalMac(mac), options));
  }

  /** Records as CSV (RFC 4180; cells that would run as spreadsheet formulas are neutralised). */
  async exportCsv(filter: JournalFilter = {}): Promise<string> {
    return recordsToCsv(await this.records(filter));
  }

  /** Records as JSON Lines, one record per line. */
  async exportJsonl(filter: JournalFilter = {}): Promise<string> {
    return recordsToJsonl(await this.records(filter));
  }

  /**
   * Close: waits for writes in flight; this process's records still in
   * progress become `incomplete`. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    await Promise.allSettled([...this.#pending, this.#tick]);
    await this.#b.close();
  }

  /** `await using` support: {@link Journal.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * One board's record. Calls on one record are applied in the order they are
 * made, so a call that is not awaited still lands before the next one, and a
 * failed one makes `pass()` fail rather than record a board as passed with
 * facts missing.
 */
export class JournalEntry implements StationRecord {
  /** Row id. */
  readonly id: number;
  #ctx: EntryContext;
  #chain: Promise<void> = Promise.resolve();
  #failure: unknown = null;
  #ended = false;

  static {
    makeEntry = (ctx, id) => new JournalEntry(ctx, id);
  }

  private constructor(ctx: EntryContext, id: number) {
    this.#ctx = ctx;
    this.id = id;
  }

  #enqueue(fn: () => Promise<void>): Promise<void> {
    const p = this.#chain.then(fn);
    this.#chain = p.catch((e) => {
      this.#failure ??= e;
    });
    p.catch(() => {}); // a call nobody awaits must not crash the process; pass() reports it
    this.#ctx.track(p);
    return p;
  }

  /** Add facts (durable when the Promise resolves); `fields` merge into the stored ones. */
  update(facts: RecordFacts): Promise<void> {
    const f = { ...facts, mac: facts.mac === undefined ? undefined : normalMac(facts.mac) };
    return this.#enqueue(() => this.#ctx.backend.update(this.id, f));
  }

  /** Append an event (recovery, log line, note), timed now. */
  event(kind: string, detail: string): Promise<void> {
    const e = { time: new Date().toISOString(), kind, detail };
    const uid = crypto.randomUUID();
    return this.#enqueue(() => this.#ctx.backend.event(this.id, uid, e));
  }

  /**
   * The board passed: every step succeeded and its data was verified.
   * Rejects (and records nothing) if an earlier call on this record failed.
   */
  pass(extra?: Record<string, unknown>): Promise<void> {
    return this.#end({ result: "passed", errorCode: null, errorMessage: null, stage: null }, extra);
  }

  /**
   * Every step succeeded but the data written could not be verified (an
   * ESP8266 through its ROM loader has no MD5, a script skipped the check):
   * recorded `unverified`, counted apart from `passed`, with `reason` as its
   * message (`errorCode` `E_NOT_VERIFIED`).
   */
  unverified(reason: string, extra?: Record<string, unknown>): Promise<void> {
    return this.#end(
      { result: "unverified", errorCode: "E_NOT_VERIFIED", errorMessage: reason, stage: null },
      extra,
    );
  }

  /** The board failed at `stage`. */
  fail(error: unknown, options: { stage: string }): Promise<void> {
    const e = error instanceof EsplineError
      ? { code: error.code, message: error.message }
      : { code: "E_INTERNAL", message: error instanceof Error ? error.message : String(error) };
    return this.#end({
      result: "failed",
      errorCode: e.code,
      errorMessage: e.message,
      stage: options.stage,
    });
  }

  /** The run was cancelled while this board was in progress. */
  abort(reason: string): Promise<void> {
    return this.#end({
      result: "aborted",
      errorCode: "E_ABORTED",
      errorMessage: reason,
      stage: null,
    });
  }

  #end(end: RecordEnd, extra?: Record<string, unknown>): Promise<void> {
    const endedAt = new Date().toISOString();
    return this.#enqueue(async () => {
      if (this.#ended) return;
      if ((end.result === "passed" || end.result === "unverified") && this.#failure) {
        const why = this.#failure instanceof Error ? this.#failure.message : String(this.#failure);
        throw new EsplineError(
          "E_JOURNAL_WRITE",
          `an earlier journal write for this board failed (${why}), so it is not recorded as ${end.result}`,
          { cause: this.#failure },
        );
      }
      if (extra && Object.keys(extra).length) {
        await this.#ctx.backend.update(this.id, { fields: extra });
      }
      await this.#ctx.backend.end(this.id, end, endedAt);
      this.#ended = true;
    });
  }
}

/**
 * Open (or create) a journal: an SQLite file path (`:memory:` for tests), or
 * `postgres://USER:PASSWORD@HOST:PORT/DATABASE[?schema=NAME]` for a journal
 * shared by several stations. Fails with a typed error (`E_JOURNAL_FOREIGN`,
 * `E_JOURNAL_CORRUPT`, `E_JOURNAL_VERSION`, `E_JOURNAL_UNREACHABLE`,
 * `E_JOURNAL_AUTH` …) that says what to do.
 *
 * @example
 * ```ts
 * import { openJournal } from "./journal.ts";
 * await using j = await openJournal(":memory:");
 * console.log(await j.allocateSerial("24:0a:c4:00:00:01")); // "ESP-000001"
 * ```
 */
export async function openJournal(
  target: string,
  options: OpenJournalOptions = {},
): Promise<Journal> {
  const run: RunIdentity | null = options.readOnly ? null : {
    runId: crypto.randomUUID(),
    host: options.host ?? hostName(),
    bootId: bootId(),
    pid: Deno.pid,
    leaseMs: options.leaseMs ?? 30_000,
  };
  const retryMs = options.retryMs ?? 30_000;
  // The PostgreSQL client is loaded only when a postgres:// journal is opened.
  const backend = /^postgres(ql)?:\/\//i.test(target)
    ? await (await import("./journal/postgres.ts")).openPostgresBackend(target, {
      run,
      retryMs,
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      maxConnections: options.maxConnections ?? 4,
    })
    : await openSqliteBackend(target, { run, retryMs });
  return makeJournal(backend, run);
}
