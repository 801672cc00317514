/**
 * Stored rows to {@link JournalRecord}s, whatever is in them. A journal file
 * can be edited by hand or damaged; reading it must still work, so every
 * value is checked, and one that is not what it should be is replaced by an
 * empty value and reported in the record's `damaged` list with its text.
 *
 * @module
 */

import {
  type DamagedValue,
  JOURNAL_RESULTS,
  type JournalEvent,
  type JournalFile,
  type JournalRecord,
  type JournalResult,
  type StoredRecord,
} from "./types.ts";

function text(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (v instanceof Date) return isNaN(v.getTime()) ? "" : v.toISOString();
  if (v instanceof Uint8Array) {
    return Array.from(v, (b) => b.toString(16).padStart(2, "0")).join("");
  }
  if (typeof v === "object") {
    try {
      return JSON.stringify(v) ?? "";
    } catch {
      return String(v);
    }
  }
  return String(v);
}

function optText(v: unknown): string | null {
  return v === null || v === undefined ? null : text(v);
}

/** A JSON value stored as text (SQLite) or already parsed (PostgreSQL jsonb). */
function json(v: unknown): { ok: true; value: unknown } | { ok: false } {
  if (typeof v !== "string") {
    return v === null || v === undefined ? { ok: false } : { ok: true, value: v };
  }
  try {
    return { ok: true, value: JSON.parse(v) };
  } catch {
    return { ok: false };
  }
}

function isFile(f: unknown): f is JournalFile {
  if (typeof f !== "object" || f === null) return false;
  const o = f as Record<string, unknown>;
  return typeof o.path === "string" && typeof o.sha256 === "string" &&
    typeof o.address === "number";
}

/** Decode one stored record; never throws. */
export function decodeRecord(stored: StoredRecord): JournalRecord {
  const r = stored.row;
  const damaged: DamagedValue[] = [];
  const flag = (column: string, value: unknown) => damaged.push({ column, raw: text(value) });

  const fieldsJson = json(r.fields);
  let fields: Record<string, unknown> = {};
  if (
    fieldsJson.ok && typeof fieldsJson.value === "object" && fieldsJson.value !== null &&
    !Array.isArray(fieldsJson.value)
  ) {
    fields = fieldsJson.value as Record<string, unknown>;
  } else if (r.fields !== null && r.fields !== undefined) flag("fields", r.fields);

  const filesJson = json(r.files);
  let files: JournalFile[] = [];
  if (filesJson.ok && Array.isArray(filesJson.value) && filesJson.value.every(isFile)) {
    files = filesJson.value;
  } else if (r.files !== null && r.files !== undefined) flag("files", r.files);

  let result: JournalResult = "incomplete";
  if (JOURNAL_RESULTS.includes(stored.result as JournalResult)) {
    result = stored.result as JournalResult;
  } else flag("result", stored.result);

  let flashSize: number | null = null;
  if (r.flash_size !== null && r.flash_size !== undefined) {
    const n = Number(r.flash_size);
    if (Number.isSafeInteger(n) && n >= 0) flashSize = n;
    else flag("flash_size", r.flash_size);
  }

  let id = Number(stored.id);
  if (!Number.isSafeInteger(id)) {
    flag("id", stored.id);
    id = -1;
  }

  const events: JournalEvent[] = stored.events.map((e) => ({
    time: text(e.time),
    kind: text(e.kind),
    detail: text(e.detail),
  }));

  return {
    id,
    mac: optText(r.mac),
    chip: optText(r.chip),
    revision: optText(r.revision),
    flashSize,
    station: optText(r.station),
    port: text(r.port),
    files,
    fields,
    stage: optText(r.stage),
    result,
    errorCode: optText(r.error_code),
    errorMessage: optText(r.error_message),
    startedAt: text(r.started_at),
    endedAt: optText(r.ended_at),
    events,
    damaged,
  };
}
