/**
 * What the dashboard reads from a journal: a search by MAC or serial, the
 * failures of the shift and the counts. Every method returns a Promise, so a
 * journal on the network (PostgreSQL, shared by every station of a line) fits
 * as well as the SQLite file; {@link journalReader} adapts the project's
 * journal, whose methods are synchronous today and asynchronous next.
 *
 * @module
 */

/** One board's record as the dashboard shows it. */
export interface DashboardRecord {
  /** Record id in the journal. */
  id: number | string;
  /** Base MAC, when read. */
  mac: string | null;
  /** Serial number the script noted (`fields.serial`), when any. */
  serial: string | null;
  /** Chip key. */
  chip: string | null;
  /** Station name. */
  station: string | null;
  /** Port. */
  port: string;
  /** Last stage reached (the failing one on failure). */
  stage: string | null;
  /** `passed`, `failed`, `unverified`, `aborted`, `incomplete`, `in-progress`. */
  result: string;
  /** Error code on failure. */
  errorCode: string | null;
  /** Error message on failure. */
  errorMessage: string | null;
  /** Start time (ISO 8601). */
  startedAt: string;
  /** End time (ISO 8601), null while in progress. */
  endedAt: string | null;
}

/** Counts by result of the records started since a time. */
export interface JournalCounts {
  /** Passed. */
  passed: number;
  /** Failed. */
  failed: number;
  /** Written but not verified. */
  unverified: number;
  /** Aborted. */
  aborted: number;
  /** Left in progress by a process that stopped. */
  incomplete: number;
  /** In progress now. */
  inProgress: number;
  /** All records. */
  total: number;
}

/** Options for {@link DashboardJournal.search}. */
export interface JournalSearchOptions {
  /** Most records to return. */
  limit: number;
}

/** The read side of a journal the dashboard needs. */
export interface DashboardJournal {
  /**
   * Records whose MAC or serial matches `query`, newest first: a whole MAC
   * (any of `aa:bb:cc:dd:ee:ff`, `aa-bb-…`, `aabbccddeeff`) finds that
   * board's history; a part of a MAC (`dd:ee:ff`) or of a serial finds
   * every board containing it.
   */
  search(query: string, options: JournalSearchOptions): Promise<DashboardRecord[]>;
  /** Records that did not pass (failed, unverified, incomplete) started since `since`, newest first. */
  failures(options: { since: Date; limit: number }): Promise<DashboardRecord[]>;
  /** Counts by result of the records started since `since`. */
  counts(options: { since: Date }): Promise<JournalCounts>;
}

/** A value, or a Promise of it (sync and async journals alike). */
export type MaybePromise<T> = T | Promise<T>;

/** A journal record as the project's journal returns it: the serial is in its script fields. */
export interface JournalRecordLike extends Omit<DashboardRecord, "serial"> {
  /** Script fields (`serial`). */
  fields: Record<string, unknown>;
}

/**
 * The journal methods {@link journalReader} uses; the project's `Journal`
 * (SQLite today, sync or async, and the PostgreSQL one) has them. A journal
 * that also has `search(query, { limit })` is searched through it instead
 * of a scan of its records.
 */
export interface ReadableJournal {
  /** Every record for a MAC, newest first. */
  history(mac: string): MaybePromise<JournalRecordLike[]>;
  /** Records started since a time, oldest first. */
  records(filter?: { since?: Date; station?: string }): MaybePromise<JournalRecordLike[]>;
  /** Counts by result. */
  summary(
    filter?: { since?: Date; station?: string },
  ): MaybePromise<Partial<Record<string, number>> & { total: number }>;
  /** Optional server-side search by MAC or serial. */
  search?(query: string, options: JournalSearchOptions): MaybePromise<JournalRecordLike[]>;
}

/** `aabbccddeeff`, `aa:bb:…`, `AA-BB-…` → `aa:bb:cc:dd:ee:ff`; null if not a whole MAC. */
export function canonicalMac(text: string): string | null {
  const hex = text.trim().toLowerCase().replace(/[:\-. ]/g, "");
  if (!/^[0-9a-f]{12}$/.test(hex)) return null;
  return hex.match(/../g)!.join(":");
}

function toDashboardRecord(r: JournalRecordLike): DashboardRecord {
  const serial = r.fields?.serial;
  return {
    id: r.id,
    mac: r.mac,
    serial: typeof serial === "string" || typeof serial === "number" ? String(serial) : null,
    chip: r.chip,
    station: r.station,
    port: r.port,
    stage: r.stage,
    result: r.result,
    errorCode: r.errorCode,
    errorMessage: r.errorMessage,
    startedAt: r.startedAt,
    endedAt: r.endedAt,
  };
}

/** Whether a record matches a partial MAC or serial query. */
export function matchesQuery(record: DashboardRecord, query: string): boolean {
  const q = query.trim().toLowerCase();
  if (q === "") return false;
  const qHex = q.replace(/[:\-. ]/g, "");
  const macHex = (record.mac ?? "").toLowerCase().replace(/[:\-. ]/g, "");
  if (/^[0-9a-f]+$/.test(qHex) && qHex.length >= 2 && macHex.includes(qHex)) return true;
  return (record.serial ?? "").toLowerCase().includes(q);
}

const NOT_PASSED = new Set(["failed", "unverified", "incomplete"]);

/**
 * Adapt the project's journal to {@link DashboardJournal}. Whether its
 * methods return values (SQLite today) or Promises (the async journal and
 * PostgreSQL), each is awaited.
 *
 * @example
 * ```ts
 * import { journalReader } from "./journal_reader.ts";
 * import { openJournal } from "../journal.ts";
 * // `await` fits the synchronous journal of today and the asynchronous one alike.
 * await using journal = await openJournal(":memory:");
 * const reader = journalReader(journal);
 * console.log(await reader.counts({ since: new Date(0) }));
 * ```
 */
export function journalReader(journal: ReadableJournal): DashboardJournal {
  return {
    async search(query, options) {
      const mac = canonicalMac(query);
      if (mac) {
        const rows = await journal.history(mac);
        return rows.slice(0, options.limit).map(toDashboardRecord);
      }
      if (journal.search) {
        const rows = await journal.search(query, options);
        return rows.slice(0, options.limit).map(toDashboardRecord);
      }
      // No index on serials in today's journal: a scan, newest first.
      const rows = (await journal.records()).map(toDashboardRecord);
      const out: DashboardRecord[] = [];
      for (let i = rows.length - 1; i >= 0 && out.length < options.limit; i--) {
        if (matchesQuery(rows[i], query)) out.push(rows[i]);
      }
      return out;
    },
    async failures(options) {
      const rows = await journal.records({ since: options.since });
      const out: DashboardRecord[] = [];
      for (let i = rows.length - 1; i >= 0 && out.length < options.limit; i--) {
        if (NOT_PASSED.has(rows[i].result)) out.push(toDashboardRecord(rows[i]));
      }
      return out;
    },
    async counts(options) {
      const s = await journal.summary({ since: options.since });
      return {
        passed: s.passed ?? 0,
        failed: s.failed ?? 0,
        unverified: s.unverified ?? 0,
        aborted: s.aborted ?? 0,
        incomplete: s.incomplete ?? 0,
        inProgress: s["in-progress"] ?? 0,
        total: s.total,
      };
    },
  };
}
