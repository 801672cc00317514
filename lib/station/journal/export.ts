/**
 * Journal exports: CSV for spreadsheets (RFC 4180 quoting, formula cells
 * neutralised) and JSON Lines for programs.
 *
 * @module
 */

import type { JournalRecord } from "./types.ts";

/** The CSV columns, in order. */
export const CSV_COLUMNS: readonly string[] = [
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
  "damaged",
];

/**
 * First characters that make a spreadsheet read a cell as a formula (OWASP
 * "CSV Injection" and ASVS 1.2.10: `=`, `+`, `-`, `@`, tab, carriage return,
 * NUL), plus their full-width forms, which some spreadsheet locales accept too.
 */
const FORMULA_START = /^[=+\-@\t\r\0\uFF1D\uFF0B\uFF0D\uFF20]/;

/**
 * One CSV cell: text starting like a formula gets a leading `'` (the
 * spreadsheet then shows it as text), and a cell with a comma, quote or line
 * break is quoted with its quotes doubled (RFC 4180).
 *
 * @example
 * ```ts
 * import { csvCell } from "./export.ts";
 * console.log(csvCell("=HYPERLINK(\"x\")")); // "'=HYPERLINK(""x"")"
 * ```
 */
export function csvCell(value: unknown): string {
  let s: string;
  if (value === null || value === undefined) s = "";
  else if (typeof value === "number") return Number.isFinite(value) ? String(value) : "";
  else s = typeof value === "string" ? value : JSON.stringify(value);
  if (FORMULA_START.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** Records as CSV, header first, CRLF line ends. */
export function recordsToCsv(records: JournalRecord[]): string {
  const lines = [CSV_COLUMNS.join(",")];
  for (const r of records) {
    // A damaged value is exported as it was stored, and named in `damaged`.
    const raw = (column: string, decoded: unknown) =>
      r.damaged.find((d) => d.column === column)?.raw ?? decoded;
    lines.push(
      [
        r.id,
        r.mac,
        r.chip,
        r.revision,
        raw("flash_size", r.flashSize),
        r.station,
        r.port,
        r.stage,
        raw("result", r.result),
        r.errorCode,
        r.errorMessage,
        r.startedAt,
        r.endedAt,
        raw("files", r.files),
        raw("fields", r.fields),
        r.damaged.map((d) => d.column).join(" "),
      ].map(csvCell).join(","),
    );
  }
  return lines.join("\r\n") + "\r\n";
}

/** Records as JSON Lines (one record per line; empty text for none). */
export function recordsToJsonl(records: JournalRecord[]): string {
  return records.map((r) => JSON.stringify(r) + "\n").join("");
}
