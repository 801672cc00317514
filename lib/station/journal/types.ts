/**
 * The journal's types: what a record is, as scripts read it, and the
 * internal interface each storage backend (SQLite, PostgreSQL) implements.
 *
 * @module
 */

import { EsplineError } from "../../errors.ts";

/**
 * A record's result.
 *
 * - `in-progress`: the board is being worked on by a live station process.
 * - `passed`: every step succeeded and the data written was verified.
 * - `unverified`: every step succeeded but the data could not be verified
 *   (e.g. an ESP8266 written through its ROM loader, which has no MD5);
 *   never counted as passed.
 * - `failed`: a step failed (`errorCode`, `stage` say which).
 * - `aborted`: the run was cancelled while the board was in progress.
 * - `incomplete`: the station process stopped (crash, kill, power loss,
 *   lost lease) while the board was in progress; its state is unknown.
 */
export type JournalResult =
  | "in-progress"
  | "passed"
  | "unverified"
  | "failed"
  | "aborted"
  | "incomplete";

/** Every result, in the order summaries list them. */
export const JOURNAL_RESULTS: readonly JournalResult[] = [
  "passed",
  "unverified",
  "failed",
  "aborted",
  "incomplete",
  "in-progress",
];

/** A firmware file written to a board. */
export interface JournalFile {
  /** Path as given. */
  path: string;
  /** SHA-256 of its contents, hex. */
  sha256: string;
  /** Flash address. */
  address: number;
}

/** One event in a record (recovery, log line, note). */
export interface JournalEvent {
  /** When (ISO 8601). */
  time: string;
  /** Kind (`recovery`, `log`, `lease-lost` …). */
  kind: string;
  /** Text. */
  detail: string;
}

/** A stored value that could not be read as what it should be. */
export interface DamagedValue {
  /** Column (`fields`, `files`, `result` …). */
  column: string;
  /** The stored text, as found. */
  raw: string;
}

/** One board's record, as read back. */
export interface JournalRecord {
  /** Row id (increasing in the order records were begun). */
  id: number;
  /** Base MAC (lower case), when read. */
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
  files: JournalFile[];
  /** Fields the script added (serial number, test results …). */
  fields: Record<string, unknown>;
  /** Last stage reached. */
  stage: string | null;
  /** Result. */
  result: JournalResult;
  /** Error code on failure (`E_NOT_VERIFIED` for `unverified`, `E_INCOMPLETE`). */
  errorCode: string | null;
  /** Error message on failure, or why the record is unverified/incomplete. */
  errorMessage: string | null;
  /** Start time (ISO 8601). */
  startedAt: string;
  /** End time (ISO 8601), null while in progress. */
  endedAt: string | null;
  /** Events (recoveries, notes), oldest first. */
  events: JournalEvent[];
  /**
   * Values that were stored damaged (e.g. `fields` that is not JSON after a
   * hand edit): the record is still read, with that value empty, and the
   * stored text is kept here. Empty for a healthy record.
   */
  damaged: DamagedValue[];
}

/** Which records a query covers. */
export interface JournalFilter {
  /** Only records begun at or after this time. Default all. */
  since?: Date;
  /** Only this station's records. Default all stations. */
  station?: string;
}

/** Counts by result; only results that occur are present. */
export type JournalSummary = Partial<Record<JournalResult, number>> & {
  /** Every record. */
  total: number;
};

/** Facts a station adds to a record as they become known. */
export interface RecordFacts {
  /** Base MAC (stored lower case). */
  mac?: string;
  /** Chip key. */
  chip?: string;
  /** Silicon revision. */
  revision?: string;
  /** Flash size, bytes. */
  flashSize?: number;
  /** Current stage. */
  stage?: string;
  /** Fields to merge into the record's fields (shallow). */
  fields?: Record<string, unknown>;
}

/** What a record starts with. */
export interface RecordInit {
  /** Port the board is on. */
  port: string;
  /** Station name. Default none. */
  station?: string;
  /** Chip key, when known. */
  chip?: string;
  /** MAC, when known. */
  mac?: string;
  /** Firmware files. */
  files?: JournalFile[];
  /** Initial fields. */
  fields?: Record<string, unknown>;
}

/** Options for {@link JournalBackend.allocateSerial}. */
export interface SerialOptions {
  /** Text before the number. Default `ESP-`. */
  prefix?: string;
  /** The first number, when the journal has none yet. Default 1. */
  start?: number;
  /** Zero-padded width of the number. Default 6. */
  digits?: number;
}

// ---------------------------------------------------------------------------
// Internal: what the backends implement (not part of mod.ts).

/** Who is writing: one per open (writing) journal. */
export interface RunIdentity {
  /** Random UUID of this open journal. */
  runId: string;
  /** Host name. */
  host: string;
  /** Kernel boot id (Linux), so runs on one kernel can check each other's locks. */
  bootId: string | null;
  /** Process id (for people reading the journal; never trusted alone). */
  pid: number;
  /** Lease length, ms: without a heartbeat for this long a run counts as dead. */
  leaseMs: number;
}

/** A record as stored: values not yet checked (a file may have been edited). */
export interface StoredRecord {
  /** Row id. */
  id: unknown;
  /** Columns by their stored names (snake_case). */
  row: Record<string, unknown>;
  /** Result with dead runs' in-progress records shown as `incomplete`. */
  result: unknown;
  /** Events, oldest first. */
  events: Record<string, unknown>[];
}

/** Which records {@link JournalBackend.rows} returns. */
export interface RowQuery extends JournalFilter {
  /** Only this MAC (lower case). */
  mac?: string;
  /** Only records whose MAC or `fields.serial` contains this text (any case). */
  contains?: string;
  /** Newest first. Default oldest first. */
  newestFirst?: boolean;
  /** At most this many. Default all. */
  limit?: number;
}

/** `text` for a LIKE pattern: `\`, `%` and `_` taken literally (with `ESCAPE '\'`). */
export function likeLiteral(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** How a record ends. */
export interface RecordEnd {
  /** Final result. */
  result: Exclude<JournalResult, "in-progress">;
  /** Error code or null. */
  errorCode: string | null;
  /** Error message or null. */
  errorMessage: string | null;
  /** Stage to record (on failure), or null to keep the last one. */
  stage: string | null;
}

/** A storage backend. Every method throws only EsplineErrors. */
export interface JournalBackend {
  /** `sqlite` or `postgres`. */
  readonly kind: "sqlite" | "postgres";
  /** Where (file path, or URL without its password). */
  readonly location: string;
  /** Insert a record in progress (idempotent on `uid`); its row id. */
  insert(uid: string, init: RecordInit, startedAt: string): Promise<number>;
  /** Set facts; `fields` merge into the stored ones. */
  update(id: number, facts: RecordFacts): Promise<void>;
  /** Append an event (idempotent on `uid`). */
  event(id: number, uid: string, event: JournalEvent): Promise<void>;
  /** End a record (also one another process marked incomplete meanwhile). */
  end(id: number, end: RecordEnd, endedAt: string): Promise<void>;
  /** Records matching a query, oldest first unless `newestFirst`. */
  rows(query: RowQuery): Promise<StoredRecord[]>;
  /** Counts by effective result. */
  counts(filter: JournalFilter): Promise<Map<string, number>>;
  /** A serial number for a MAC, in one transaction. */
  allocateSerial(mac: string, options: SerialOptions): Promise<string>;
  /** Renew this run's lease (writers). */
  heartbeat(): Promise<void>;
  /** Mark dead runs' in-progress records `incomplete`; how many. */
  sweep(): Promise<number>;
  /** Close; a writer's own in-progress records become `incomplete`. */
  close(): Promise<void>;
}

/** The run that may write, or `E_JOURNAL_READONLY`. */
export function writerOf(run: RunIdentity | null, location: string, doing: string): RunIdentity {
  if (!run) {
    throw new EsplineError(
      "E_JOURNAL_READONLY",
      `journal ${location} was opened read-only: cannot write while ${doing}`,
    );
  }
  return run;
}

/** `E_JOURNAL_CLOSED`: a call on a closed journal. */
export function closedError(location: string, doing: string): EsplineError {
  return new EsplineError("E_JOURNAL_CLOSED", `journal ${location} is closed (while ${doing})`);
}

/** Serial number text for a number. */
export function formatSerial(number: number, options: SerialOptions): string {
  return `${options.prefix ?? "ESP-"}${String(number).padStart(options.digits ?? 6, "0")}`;
}

/** Why a record of a dead run is `incomplete`. */
export function incompleteMessage(
  run: { host?: unknown; pid?: unknown } | null,
  why: string,
): string {
  const who = run && run.host !== undefined && run.host !== null && run.host !== ""
    ? `station process ${run.pid} on ${run.host}`
    : "the station process";
  return `${who} stopped while this board was in progress (${why}); the board's state is unknown: check it and run it again`;
}
