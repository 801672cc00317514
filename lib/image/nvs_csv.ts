/**
 * The input side of ESP-IDF's NVS partition generator: its CSV format
 * (`key,type,encoding,value` with `namespace` rows) and the way it turns
 * value text into numbers and bytes.
 *
 * The generator reads its CSV with Python's `csv.DictReader` after dropping
 * every line whose first character is `#`, then decodes values with
 * Python's `int()`, `binascii.a2b_hex` and `binascii.a2b_base64`. No library
 * here reads text the way those do (quoting, `1_000`, base64 that skips
 * stray characters), so the small readers below are written by hand from
 * Python's documented behaviour; where the generator would crash or write a
 * damaged entry they raise an {@link NvsInputError} instead.
 *
 * @module
 */

import { NvsInputError } from "./nvs_format.ts";

/** What a row of the generator's CSV asks for. */
export type NvsRowType = "namespace" | "data" | "file";

/** A value as rows carry it: CSV text, or for the typed API a number, bigint or bytes. */
export type NvsScalar = string | number | bigint | Uint8Array;

/** A `namespace` row: the rows after it belong to this namespace. */
export interface NvsNamespaceRow {
  /** Row type. */
  type: "namespace";
  /** Namespace name (ASCII, at most 15 bytes). */
  key: string;
  /** 1-based CSV line, for messages. */
  line?: number;
  /** CSV file name, for messages. */
  source?: string;
}

/** A `data` row: the value is in the row. */
export interface NvsDataRow {
  /** Row type. */
  type: "data";
  /** Key (ASCII, at most 15 bytes). */
  key: string;
  /** `u8` … `i64`, `string`, `hex2bin`, `base64`, `binary`, `blob_fill(N;0xPP)`, `blob_sz_fill(N;0xPP)`. */
  encoding: string;
  /** The value: CSV text, or a number, bigint or bytes from the typed API. */
  value: NvsScalar;
  /** 1-based CSV line, for messages. */
  line?: number;
  /** CSV file name, for messages. */
  source?: string;
}

/** A `file` row: the value is the content of a file. */
export interface NvsFileRow {
  /** Row type. */
  type: "file";
  /** Key (ASCII, at most 15 bytes). */
  key: string;
  /** How the file's content is encoded (`string`, `hex2bin`, `base64`, `binary`, or an integer type). */
  encoding: string;
  /** The file's path as the CSV gives it. */
  path: string;
  /** The file's content, once read ({@link loadNvsCsv} reads it). */
  content?: Uint8Array;
  /** 1-based CSV line, for messages. */
  line?: number;
  /** CSV file name, for messages. */
  source?: string;
}

/** One row of NVS input. */
export type NvsRow = NvsNamespaceRow | NvsDataRow | NvsFileRow;

/** Where a row came from, for error messages: `nvs.csv line 7 (key "serial")`. */
export function rowPlace(row: { key: string; line?: number; source?: string }): string {
  const where = row.line !== undefined
    ? `${row.source ?? "CSV"} line ${row.line} (key "${row.key}")`
    : `key "${row.key}"`;
  return where;
}

// ---------------------------------------------------------------------------
// CSV records, as Python's csv module (excel dialect, non-strict) reads them.

/** One CSV record and the line it starts on. */
export interface CsvRecord {
  /** Its fields. */
  fields: string[];
  /** 1-based line of the text where it starts. */
  line: number;
}

const enum CsvState {
  StartRecord,
  StartField,
  InField,
  InQuotedField,
  QuoteInQuotedField,
}

/**
 * Split CSV text into records as the generator sees them: universal
 * newlines, lines starting with `#` dropped first, then Python's csv rules
 * (a field that starts with `"` is quoted, `""` inside it is one quote,
 * characters after the closing quote are kept, quoted fields may span
 * lines). Blank lines give no record.
 */
export function readCsvRecords(text: string): CsvRecord[] {
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  const records: CsvRecord[] = [];
  let fields: string[] = [];
  let field = "";
  let state = CsvState.StartRecord;
  let recordLine = 0;
  const saveField = () => {
    fields.push(field);
    field = "";
  };
  const endRecord = () => {
    records.push({ fields, line: recordLine });
    fields = [];
    state = CsvState.StartRecord;
  };
  lines.forEach((raw, i) => {
    const isLast = i === lines.length - 1;
    if (isLast && raw === "") return; // text ended with a newline
    if (raw[0] === "#") return; // the generator filters comment lines before parsing
    const line = isLast ? raw : raw + "\n";
    if (state === CsvState.StartRecord) recordLine = i + 1;
    for (const c of line) {
      switch (state) {
        case CsvState.StartRecord:
          if (c === "\n") continue; // blank line: no record
          state = CsvState.StartField;
        // falls through
        case CsvState.StartField:
          if (c === "\n") {
            saveField();
            endRecord();
          } else if (c === '"') state = CsvState.InQuotedField;
          else if (c === ",") saveField();
          else {
            field += c;
            state = CsvState.InField;
          }
          break;
        case CsvState.InField:
          if (c === "\n") {
            saveField();
            endRecord();
          } else if (c === ",") {
            saveField();
            state = CsvState.StartField;
          } else field += c;
          break;
        case CsvState.InQuotedField:
          if (c === '"') state = CsvState.QuoteInQuotedField;
          else field += c;
          break;
        case CsvState.QuoteInQuotedField:
          if (c === '"') {
            field += c;
            state = CsvState.InQuotedField;
          } else if (c === ",") {
            saveField();
            state = CsvState.StartField;
          } else if (c === "\n") {
            saveField();
            endRecord();
          } else {
            field += c;
            state = CsvState.InField;
          }
          break;
      }
    }
  });
  // End of text: a record without a final newline, or an unclosed quoted field.
  if (state !== CsvState.StartRecord) {
    saveField();
    endRecord();
  }
  return records;
}

/** Options for {@link parseNvsCsv}. */
export interface ParseNvsCsvOptions {
  /** Name of the CSV for messages. Default `"CSV"`. */
  source?: string;
}

const REQUIRED_COLUMNS = ["key", "type", "encoding", "value"] as const;

/**
 * Read the generator's CSV into rows. The first line that is not a comment
 * is the header naming the columns (`key,type,encoding,value`, in any
 * order); lines whose first character is `#` are comments. Keys and values
 * are kept exactly as written (a space after a comma is part of the
 * value, as in the generator); the type and encoding columns may carry
 * surrounding spaces. `file` rows keep their path: read the files with
 * {@link loadNvsCsv}, or set `content` yourself.
 *
 * @example
 * ```ts
 * import { parseNvsCsv } from "./nvs_csv.ts";
 * const rows = parseNvsCsv("key,type,encoding,value\nstorage,namespace,,\nserial,data,string,SN-1\n");
 * console.log(rows.length); // 2
 * ```
 *
 * @throws {NvsInputError} `E_NVS_CSV` for a missing header column or a row without its fields,
 *   `E_NVS_TYPE` for a type other than namespace, data or file.
 */
export function parseNvsCsv(text: string, options: ParseNvsCsvOptions = {}): NvsRow[] {
  const source = options.source ?? "CSV";
  const records = readCsvRecords(text.replace(/^\ufeff/, ""));
  const header = records.shift();
  if (!header) {
    throw new NvsInputError(
      "E_NVS_CSV",
      `${source} is empty: start it with the header line key,type,encoding,value`,
      { details: { source } },
    );
  }
  const names = header.fields.map((f) => f.trim().toLowerCase());
  const column: Record<string, number> = {};
  names.forEach((n, i) => (column[n] = i));
  const missing = REQUIRED_COLUMNS.filter((c) => column[c] === undefined);
  if (missing.length) {
    throw new NvsInputError(
      "E_NVS_CSV",
      `${source} line ${header.line}: the header has no ${missing.join(", ")} column${
        missing.length > 1 ? "s" : ""
      } (found "${header.fields.join(",")}"): the first line that is not a comment must be ` +
        "key,type,encoding,value",
      { details: { source, line: header.line } },
    );
  }
  const rows: NvsRow[] = [];
  for (const rec of records) {
    if (rec.fields.length === 1 && rec.fields[0].trim() === "") continue; // a line of spaces
    const get = (name: (typeof REQUIRED_COLUMNS)[number]) => rec.fields[column[name]];
    const key = get("key") ?? "";
    const type = get("type")?.trim();
    const place = `${source} line ${rec.line} (key "${key}")`;
    const details = { source, line: rec.line, key };
    if (type === undefined) {
      throw new NvsInputError(
        "E_NVS_CSV",
        `${place}: the row has no type: write key,type,encoding,value (type namespace, data or file)`,
        { details },
      );
    }
    if (type === "namespace") {
      rows.push({ type, key, line: rec.line, source });
      continue;
    }
    if (type !== "data" && type !== "file") {
      throw new NvsInputError(
        "E_NVS_TYPE",
        `${place}: unknown type "${type}": use namespace, data or file`,
        { details },
      );
    }
    const encoding = get("encoding")?.trim();
    const value = get("value");
    if (encoding === undefined || value === undefined) {
      throw new NvsInputError(
        "E_NVS_CSV",
        `${place}: the row has no ${encoding === undefined ? "encoding" : "value"}: ` +
          "write key,type,encoding,value",
        { details },
      );
    }
    if (type === "file") {
      rows.push({ type, key, encoding, path: value, line: rec.line, source });
    } else rows.push({ type, key, encoding, value, line: rec.line, source });
  }
  return rows;
}

/** Options for {@link loadNvsCsv}. */
export interface LoadNvsCsvOptions {
  /**
   * Folder that relative paths in `file` rows start from. Default: the
   * current directory, as the generator does.
   */
  baseDir?: string;
}

/**
 * Read one or more generator CSV files and the files their `file` rows name
 * (rows of several CSVs follow one another, as the generator's several
 * inputs do).
 *
 * @example
 * ```ts
 * import { loadNvsCsv } from "./nvs_csv.ts";
 * import { buildNvs } from "./nvs_gen.ts";
 * const rows = await loadNvsCsv(["factory.csv"]);
 * await Deno.writeFile("nvs.bin", buildNvs(rows, { size: 0x6000 }));
 * ```
 *
 * @throws {NvsInputError} `E_NVS_FILE` when a CSV or a file it names cannot be read, and
 *   the errors of {@link parseNvsCsv}.
 */
export async function loadNvsCsv(
  paths: string | readonly string[],
  options: LoadNvsCsvOptions = {},
): Promise<NvsRow[]> {
  const rows: NvsRow[] = [];
  for (const path of typeof paths === "string" ? [paths] : paths) {
    const text = new TextDecoder().decode(await readInput(path, `CSV file ${path}`));
    for (const row of parseNvsCsv(text, { source: path })) {
      if (row.type === "file") {
        const full = row.path.startsWith("/") || options.baseDir === undefined
          ? row.path
          : `${options.baseDir.replace(/\/$/, "")}/${row.path}`;
        row.content = await readInput(full, `${rowPlace(row)}: file ${row.path}`);
      }
      rows.push(row);
    }
  }
  return rows;
}

/** Why a file could not be read, in a few words (`not found`, `permission denied` …). */
export function readFailure(e: unknown): string {
  return e instanceof Deno.errors.NotFound
    ? "not found"
    : e instanceof Deno.errors.PermissionDenied
    ? "permission denied"
    : e instanceof Deno.errors.IsADirectory
    ? "it is a folder"
    : e instanceof Error
    ? e.message
    : String(e);
}

async function readInput(path: string, what: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    const why = readFailure(e);
    throw new NvsInputError(
      "E_NVS_FILE",
      `${what}: cannot read it (${why}); check the path (relative paths start from ${
        path.startsWith("/") ? "/" : "the current directory"
      })`,
      { cause: e, details: { path } },
    );
  }
}

// ---------------------------------------------------------------------------
// Value text, read as the generator's Python calls read it.

/** Characters Python's `str.strip()` removes (`str.isspace()`). */
const PY_WHITESPACE = "\t\n\v\f\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004" +
  "\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000";

/** Python's `str.strip()`. */
export function pyStrip(text: string): string {
  let a = 0;
  let b = text.length;
  while (a < b && PY_WHITESPACE.includes(text[a])) a++;
  while (b > a && PY_WHITESPACE.includes(text[b - 1])) b--;
  return text.slice(a, b);
}

/**
 * Python's `int(text)`: optional sign, decimal digits with single `_`
 * between them, surrounding whitespace allowed. Returns null if Python would
 * refuse it (so `0x10` and `1.5` are refused, as the generator does).
 */
export function parsePyInt(text: string): bigint | null {
  const m = /^([+-]?)(\d+(?:_\d+)*)$/.exec(pyStrip(text));
  if (!m) return null;
  const n = BigInt(m[2].replaceAll("_", ""));
  return m[1] === "-" ? -n : n;
}

/** Bytes as a string of the same code units (Python bytes seen as text). */
export function latin1(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return s;
}

/**
 * `binascii.a2b_hex` after `str.strip()`: an even number of hex digits.
 * Returns an error description instead of bytes when Python would fail.
 */
export function decodeHex2bin(text: string | Uint8Array): Uint8Array | string {
  // bytes.strip() removes ASCII whitespace only; str.strip() all of Python's whitespace.
  const t = typeof text === "string"
    ? pyStrip(text)
    : latin1(text).replace(/^[ \t\n\r\v\f]+|[ \t\n\r\v\f]+$/g, "");
  if (t.length % 2 !== 0) {
    return `the hex text has ${t.length} digits: give an even number (two per byte)`;
  }
  const bad = /[^0-9a-fA-F]/.exec(t);
  if (bad) {
    return `"${bad[0]}" at position ${bad.index + 1} is not a hex digit`;
  }
  const out = new Uint8Array(t.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(t.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_VALUE = new Int8Array(256).fill(-1);
for (let i = 0; i < 64; i++) B64_VALUE[B64_ALPHABET.charCodeAt(i)] = i;

/**
 * `binascii.a2b_base64` in its default (non-strict) mode: characters outside
 * the alphabet are skipped, decoding stops at the first complete padding,
 * and a dangling group is an error. Text must be ASCII (Python refuses other
 * characters in a str); bytes may hold anything. Returns an error
 * description instead of bytes when Python would fail.
 */
export function decodeBase64Py(input: string | Uint8Array): Uint8Array | string {
  let bytes: Uint8Array;
  if (typeof input === "string") {
    // deno-lint-ignore no-control-regex
    const nonAscii = /[^\x00-\x7f]/.exec(input);
    if (nonAscii) {
      return `"${nonAscii[0]}" at position ${nonAscii.index + 1} is not an ASCII character`;
    }
    bytes = new TextEncoder().encode(input);
  } else bytes = input;
  const out = new Uint8Array(Math.floor((bytes.length + 3) / 4) * 3);
  let n = 0;
  let quadPos = 0;
  let left = 0;
  let pads = 0;
  for (const ch of bytes) {
    if (ch === 0x3d /* = */) {
      if (quadPos >= 2 && quadPos + ++pads >= 4) return out.slice(0, n);
      continue;
    }
    const v = B64_VALUE[ch];
    if (v < 0) continue;
    pads = 0;
    switch (quadPos) {
      case 0:
        quadPos = 1;
        left = v;
        break;
      case 1:
        quadPos = 2;
        out[n++] = (left << 2) | (v >> 4);
        left = v & 0x0f;
        break;
      case 2:
        quadPos = 3;
        out[n++] = ((left << 4) | (v >> 2)) & 0xff;
        left = v & 0x03;
        break;
      default:
        quadPos = 0;
        out[n++] = ((left << 6) | v) & 0xff;
        left = 0;
    }
  }
  if (quadPos === 1) {
    return "the base64 text has one character too many (a group of 4 cannot end after 1)";
  }
  if (quadPos !== 0) return "the base64 text is not padded: end it with = or == as needed";
  return out.slice(0, n);
}
