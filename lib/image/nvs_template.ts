/**
 * Per-board NVS data for a production line: a template (namespaces, keys,
 * types, encodings: what the firmware reads) plus values that come from the
 * run — the serial number just allocated, the MAC, files kept per board
 * (`certs/{serial}.pem`), a script's function — turned into the rows
 * {@link buildNvs} lays out, one board at a time.
 *
 * Templates are read from the files ESP-IDF users already have:
 *
 * - the mass-manufacturing utility's (`mfg_gen`) configuration CSV: no
 *   header; `name,namespace,` rows, then `key,type,encoding` rows (`type`
 *   `data` or `file`), optionally tagged `REPEAT` (same value for every
 *   board) or, as espline reads it, `SECRET`; with its master values CSV
 *   (a header of key names, then values) for the values;
 * - or the NVS partition generator's CSV (`key,type,encoding,value`) whose
 *   values name the run's facts.
 *
 * In values and file paths, `{serial}`, `{mac}` (`aa:bb:cc:dd:ee:ff`),
 * `{mac_hex}` (`aabbccddeeff`) and `{chip}` are replaced by the board's.
 * Keys marked secret (device keys, passwords) keep their values out of
 * every error message this module and the builder raise; what the station
 * journals of them is their names.
 *
 * @module
 */

import { NvsInputError } from "./nvs_format.ts";
import { NVS_ENCODINGS, type NvsEncoding } from "./nvs_gen.ts";
import {
  type NvsRow,
  type NvsScalar,
  parseNvsCsv,
  readCsvRecords,
  readFailure,
  rowPlace,
} from "./nvs_csv.ts";

/** What a board brings to its NVS values. */
export interface NvsBoard {
  /** Base MAC (any spelling; `{mac}` gives it as `aa:bb:cc:dd:ee:ff`). */
  mac: string;
  /** Serial number allocated for the board, when it has one yet. */
  serial?: string;
  /** Chip key (`esp32c3`). */
  chip?: string;
  /** Port the board is on. */
  port?: string;
  /** Fields the job noted so far (test results, calibration …), for value functions. */
  fields?: Record<string, unknown>;
}

/** A file read for each board: its path may name the board (`certs/{serial}.pem`). */
export interface NvsFileSource {
  /** Path; relative paths start from the template's `files` folder. */
  file: string;
}

/**
 * Where a key's value comes from, per board: text (with `{serial}`, `{mac}`,
 * `{mac_hex}`, `{chip}` replaced), a number, bigint or bytes as they are, a
 * file, or a function of the board that returns any of these.
 */
export type NvsValueSource =
  | NvsScalar
  | NvsFileSource
  | ((board: NvsBoard) => NvsScalar | NvsFileSource | Promise<NvsScalar | NvsFileSource>);

/** One key of a template. */
export interface NvsTemplateEntry {
  /** How it is stored: an integer type, `string`, or a blob from `hex2bin`, `base64` or `binary`. */
  type: NvsEncoding;
  /** Its value, per board. Give this or {@link NvsTemplateEntry.file}. */
  value?: NvsValueSource;
  /** A file whose content is the value (path with placeholders), per board. */
  file?: string;
  /** Keep the value out of journals, logs and error messages. Default false. */
  secret?: boolean;
}

/** A template as data: namespaces, each with its keys in writing order. */
export type NvsTemplateSpec = Record<string, Record<string, NvsTemplateEntry>>;

/** What a template says about one key (no values). */
export interface NvsTemplateKey {
  /** Namespace. */
  namespace: string;
  /** Key. */
  key: string;
  /** `data` (the value is the value) or `file` (the value is a path; the file's content is stored). */
  kind: "data" | "file";
  /** Encoding (`u8` … `i64`, `string`, `hex2bin`, `base64`, `binary`, `blob_fill(…)`). */
  encoding: string;
  /** Never shown or journaled with its value. */
  secret: boolean;
  /** The template gives it a value (otherwise each board's values must). */
  hasValue: boolean;
}

/** Options for {@link nvsTemplate} and {@link loadNvsTemplate}. */
export interface NvsTemplateOptions {
  /** Folder that relative file paths start from. Default the current directory (as `mfg_gen`). */
  files?: string;
  /**
   * Keys whose values are secret (`key`, or `namespace/key` where a key
   * name is in several namespaces), besides those the template marks.
   * A name the template does not have is an error: a typo must not leave
   * a secret in the open. Default none.
   */
  secret?: readonly string[];
}

/** Options for {@link loadNvsTemplate}. */
export interface LoadNvsTemplateOptions extends NvsTemplateOptions {
  /**
   * The mass-manufacturing utility's master values CSV: a header of key
   * names, then one row that serves every board (with placeholders), or
   * one row per board matched by a `mac` column. Default none.
   */
  values?: string;
}

/** Options for {@link NvsTemplate.rows}. */
export interface NvsRowsOptions {
  /** Values for this board by key (`key` or `namespace/key`); they win over the template's. Default none. */
  values?: Record<string, NvsValueSource>;
  /** Folder for relative file paths. Default the template's. */
  files?: string;
}

/** The run's facts a value or path may name. */
export const NVS_PLACEHOLDERS = ["serial", "mac", "mac_hex", "chip"] as const;

const PLACEHOLDER = /\{(serial|mac|mac_hex|chip)\}/g;
const ANY_PLACEHOLDER = /\{([a-z_]+)\}/g;
const FILL_ENCODING = /^(blob_fill|blob_sz_fill)\(\d+;0x[0-9a-fA-F]{2}\)$/;

interface Entry extends NvsTemplateKey {
  source?: NvsValueSource;
  /** Same value for every board (mfg_gen `REPEAT`). */
  repeat: boolean;
  /** Where it was written, for messages. */
  line?: number;
  sourceName?: string;
}

interface ValueTable {
  /** Where the values came from. */
  path: string;
  /** One row for every board. */
  shared?: Map<string, string>;
  /** Rows by MAC (`aa:bb:cc:dd:ee:ff`). */
  byMac?: Map<string, Map<string, string>>;
}

function place(e: { namespace: string; key: string; line?: number; sourceName?: string }): string {
  return e.line !== undefined
    ? rowPlace({ key: e.key, line: e.line, source: e.sourceName })
    : `${e.namespace}/${e.key}`;
}

function normalMac(text: string): string | null {
  const hex = text.trim().toLowerCase().replace(/[:\-. ]/g, "");
  return /^[0-9a-f]{12}$/.test(hex) ? hex.match(/../g)!.join(":") : null;
}

/** Refuse `{seriall}` and friends at load time, not on the first board. */
function checkPlaceholders(text: string, where: string): void {
  for (const m of text.matchAll(ANY_PLACEHOLDER)) {
    if (!(NVS_PLACEHOLDERS as readonly string[]).includes(m[1])) {
      throw new NvsInputError(
        "E_NVS_TEMPLATE",
        `${where}: unknown placeholder {${m[1]}}: use ${
          NVS_PLACEHOLDERS.map((p) => `{${p}}`).join(", ")
        }, or a value function from a script`,
        { details: { placeholder: m[1] } },
      );
    }
  }
}

function checkKeyName(key: string, what: string, where: string): void {
  // deno-lint-ignore no-control-regex
  if (key === "" || /[^\x01-\x7f]/.test(key) || key.length > 15) {
    throw new NvsInputError(
      "E_NVS_KEY",
      `${where}: the ${what} "${key}" is not an NVS ${what}: 1 to 15 ASCII characters`,
      { details: { key } },
    );
  }
}

function checkEncoding(encoding: string, kind: "data" | "file", where: string): void {
  const known = (NVS_ENCODINGS as readonly string[]).includes(encoding) ||
    (kind === "data" && FILL_ENCODING.test(encoding));
  if (!known) {
    throw new NvsInputError(
      "E_NVS_ENCODING",
      `${where}: unknown encoding "${encoding}": use one of ${NVS_ENCODINGS.join(", ")}` +
        (kind === "data" ? ", blob_fill(N;0xPP) or blob_sz_fill(N;0xPP)" : ""),
      { details: { encoding } },
    );
  }
}

/** The text of a board's fact for a placeholder. */
function fact(board: NvsBoard, name: string, where: string): string {
  switch (name) {
    case "serial":
      if (board.serial === undefined || board.serial === "") {
        throw new NvsInputError(
          "E_NVS_NO_SERIAL",
          `${where} uses {serial}, but this board has no serial number yet: allocate one ` +
            "before writing its NVS (note({ serial }) in a station job, or pass { serial })",
        );
      }
      return board.serial;
    case "mac":
      return normalMac(board.mac) ?? board.mac;
    case "mac_hex":
      return (normalMac(board.mac) ?? board.mac).replaceAll(":", "");
    default:
      if (!board.chip) {
        throw new NvsInputError("E_NVS_TEMPLATE", `${where} uses {chip}, but the chip is unknown`);
      }
      return board.chip;
  }
}

function expand(text: string, board: NvsBoard, where: string): string {
  return text.replace(PLACEHOLDER, (_, name: string) => fact(board, name, where));
}

function isFileSource(v: unknown): v is NvsFileSource {
  return typeof v === "object" && v !== null && !(v instanceof Uint8Array) &&
    typeof (v as NvsFileSource).file === "string";
}

async function readBoardFile(path: string, where: string, board: NvsBoard): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    const why = readFailure(e);
    const who = [board.serial ? `serial ${board.serial}` : "", `MAC ${board.mac}`]
      .filter(Boolean).join(", ");
    throw new NvsInputError(
      "E_NVS_FILE",
      `${where}: the file ${path} for this board (${who}) cannot be read (${why}): add it, ` +
        "or fix the template's path; nothing was written to the board's NVS",
      { details: { path } },
    );
  }
}

function joinPath(base: string | undefined, path: string): string {
  if (path.startsWith("/") || /^[A-Za-z]:[\\/]/.test(path) || base === undefined) return path;
  return `${base.replace(/[\\/]+$/, "")}/${path}`;
}

type TemplateInit = NvsTemplateOptions & { valueTable?: ValueTable | null };
let makeTemplate: (entries: readonly Entry[], options: TemplateInit) => NvsTemplate;

/**
 * A template for the NVS partition of every board. Make one with
 * {@link nvsTemplate} or {@link loadNvsTemplate}; a station job writes a
 * board's with `nvs(template)`.
 *
 * @example
 * ```ts
 * import { nvsTemplate } from "./nvs_template.ts";
 * import { buildNvs } from "./nvs_gen.ts";
 * const template = nvsTemplate({ factory: { serial_no: { type: "string", value: "{serial}" } } });
 * const rows = await template.rows({ mac: "58:cf:79:00:00:01", serial: "SN-000001" });
 * const image = buildNvs(rows, { size: 0x6000 }); // what `nvs(template)` writes for this board
 * ```
 */
export class NvsTemplate {
  /** The keys in writing order, with their namespaces (no values). */
  readonly keys: readonly NvsTemplateKey[];
  #entries: Entry[];
  #files: string | undefined;
  #values: ValueTable | null;

  static {
    makeTemplate = (entries, options) => new NvsTemplate(entries, options);
  }

  private constructor(entries: readonly Entry[], options: TemplateInit) {
    this.#entries = entries.map((e) => ({ ...e }));
    this.#files = options.files;
    this.#values = options.valueTable ?? null;
    for (const name of options.secret ?? []) {
      const hits = this.#match(name);
      if (hits.length === 0) {
        throw new NvsInputError(
          "E_NVS_TEMPLATE",
          `secret key "${name}" is not in the template (its keys: ${
            this.#entries.map((e) => `${e.namespace}/${e.key}`).join(", ")
          }): fix the name, or the value would be shown`,
        );
      }
      for (const e of hits) e.secret = true;
    }
    this.keys = this.#entries.map((e) => ({
      namespace: e.namespace,
      key: e.key,
      kind: e.kind,
      encoding: e.encoding,
      secret: e.secret,
      hasValue: e.source !== undefined || this.#tableHas(e),
    }));
  }

  /** Entries named `key` or `namespace/key`. */
  #match(name: string): Entry[] {
    const slash = name.indexOf("/");
    return slash < 0
      ? this.#entries.filter((e) => e.key === name)
      : this.#entries.filter((e) =>
        e.namespace === name.slice(0, slash) && e.key === name.slice(slash + 1)
      );
  }

  #tableHas(e: Entry): boolean {
    const t = this.#values;
    if (!t) return false;
    const row = t.shared ?? t.byMac?.values().next().value;
    return row !== undefined && (row.has(`${e.namespace}/${e.key}`) || row.has(e.key));
  }

  /** `namespace/key` of every key marked secret. */
  get secretKeys(): string[] {
    return this.#entries.filter((e) => e.secret).map((e) => `${e.namespace}/${e.key}`);
  }

  /** `namespace/key` of every key, in writing order. */
  get keyNames(): string[] {
    return this.#entries.map((e) => `${e.namespace}/${e.key}`);
  }

  /**
   * The generator rows for one board: every value resolved (placeholders
   * replaced, files read, functions called) and nothing written anywhere.
   * Values given here win over the values file, which wins over the
   * template's own.
   *
   * @throws {NvsInputError} `E_NVS_FILE` for a board's file that cannot be
   *   read, `E_NVS_NO_SERIAL` when `{serial}` is used before the board has one,
   *   `E_NVS_NO_VALUE` for a key without a value, `E_NVS_VALUE` when a value
   *   function fails. Messages name the key, never a secret key's value.
   */
  async rows(board: NvsBoard, options: NvsRowsOptions = {}): Promise<NvsRow[]> {
    const given = new Map<Entry, NvsValueSource>();
    for (const [name, value] of Object.entries(options.values ?? {})) {
      const hits = this.#match(name);
      if (hits.length === 0) {
        throw new NvsInputError(
          "E_NVS_TEMPLATE",
          `a value is given for "${name}", which the template does not have (its keys: ${
            this.keyNames.join(", ")
          })`,
        );
      }
      for (const e of hits) given.set(e, value);
    }
    const tableRow = this.#tableRow(board);
    const files = options.files ?? this.#files;
    const rows: NvsRow[] = [];
    let namespace: string | null = null;
    for (const e of this.#entries) {
      if (e.namespace !== namespace) {
        namespace = e.namespace;
        rows.push({ type: "namespace", key: namespace });
      }
      const where = place(e);
      let source: NvsValueSource | undefined = given.get(e);
      if (source === undefined && tableRow) {
        const text = tableRow.get(`${e.namespace}/${e.key}`) ?? tableRow.get(e.key);
        if (text !== undefined) source = e.kind === "file" ? { file: text } : text;
      }
      source ??= e.source;
      if (source === undefined) {
        throw new NvsInputError(
          "E_NVS_NO_VALUE",
          `${where} has no value for this board (MAC ${board.mac}): give it in the template, ` +
            "the values file, or the job's values",
          { details: { key: e.key } },
        );
      }
      if (typeof source === "function") {
        try {
          source = await source(board);
        } catch (err) {
          if (err instanceof NvsInputError) throw err;
          const why = e.secret
            ? `its message is not shown: the key is secret (${(err as Error)?.name ?? "error"})`
            : (err instanceof Error ? err.message : String(err));
          throw new NvsInputError(
            "E_NVS_VALUE",
            `${where}: the value function failed for this board (MAC ${board.mac}): ${why}`,
            { details: { key: e.key } },
          );
        }
      }
      const base = { key: e.key, encoding: e.encoding, line: e.line, source: e.sourceName };
      if (isFileSource(source) || e.kind === "file") {
        const path = isFileSource(source) ? source.file : String(source);
        const full = joinPath(files, expand(path, board, where));
        const content = await readBoardFile(full, where, board);
        rows.push({ type: "file", ...base, path: full, content });
      } else {
        const value = typeof source === "string" ? expand(source, board, where) : source;
        rows.push({ type: "data", ...base, value: value as NvsScalar });
      }
    }
    return rows;
  }

  #tableRow(board: NvsBoard): Map<string, string> | null {
    const t = this.#values;
    if (!t) return null;
    if (t.shared) return t.shared;
    const mac = normalMac(board.mac);
    const row = mac ? t.byMac!.get(mac) : undefined;
    if (!row) {
      throw new NvsInputError(
        "E_NVS_NO_VALUE",
        `${t.path} has no row for this board's MAC ${board.mac}: add one (its mac column ` +
          "names the board), or nothing can be written to its NVS",
        { details: { mac: board.mac } },
      );
    }
    return row;
  }

  /**
   * The same error without a secret key's value in it: the builder names
   * values it cannot store ("300 is out of range for u8"); for a secret key
   * only the key, the encoding and the code are kept. Other errors are
   * returned as they are.
   */
  redact(error: unknown): unknown {
    if (!(error instanceof NvsInputError)) return error;
    const key = error.details.key;
    if (typeof key !== "string" || !this.#entries.some((e) => e.secret && e.key === key)) {
      return error;
    }
    const colon = error.message.indexOf(": ");
    const where = colon > 0 ? error.message.slice(0, colon) : `key "${key}"`;
    const encoding = error.details.encoding;
    return new NvsInputError(
      error.code,
      `${where}: the value of the secret key "${key}" cannot be stored${
        typeof encoding === "string" ? ` as ${encoding}` : ""
      } (${error.code}); it is not shown: check where it comes from`,
      { details: { key, ...(typeof encoding === "string" ? { encoding } : {}) } },
    );
  }
}

/**
 * A template from data: namespaces, keys, types and where each value comes
 * from.
 *
 * @example
 * ```ts
 * import { nvsTemplate } from "./nvs_template.ts";
 * const template = nvsTemplate({
 *   factory: {
 *     serial_no: { type: "string", value: "{serial}" },
 *     mac: { type: "hex2bin", value: "{mac_hex}" },
 *     hw_rev: { type: "u8", value: 3 },
 *     device_cert: { type: "string", file: "certs/{serial}.pem" },
 *     device_key: { type: "binary", file: "certs/{serial}.key", secret: true },
 *   },
 * });
 * console.log(template.secretKeys); // ["factory/device_key"]
 * ```
 *
 * @throws {NvsInputError} `E_NVS_KEY`, `E_NVS_ENCODING`, `E_NVS_TEMPLATE` for a
 *   bad name, encoding, placeholder or secret key name.
 */
export function nvsTemplate(spec: NvsTemplateSpec, options: NvsTemplateOptions = {}): NvsTemplate {
  const entries: Entry[] = [];
  for (const [namespace, keys] of Object.entries(spec)) {
    checkKeyName(namespace, "namespace name", `namespace "${namespace}"`);
    for (const [key, entry] of Object.entries(keys ?? {})) {
      const where = `${namespace}/${key}`;
      checkKeyName(key, "key", where);
      if (typeof entry !== "object" || entry === null || typeof entry.type !== "string") {
        throw new NvsInputError(
          "E_NVS_TEMPLATE",
          `${where}: give { type, value } or { type, file }, e.g. { type: "string", value: "{serial}" }`,
        );
      }
      const kind = entry.file !== undefined ? "file" : "data";
      checkEncoding(entry.type, kind, where);
      if (entry.file !== undefined && entry.value !== undefined) {
        throw new NvsInputError("E_NVS_TEMPLATE", `${where}: give value or file, not both`);
      }
      const source: NvsValueSource | undefined = entry.file !== undefined
        ? { file: entry.file }
        : entry.value;
      if (typeof source === "string") checkPlaceholders(source, where);
      if (isFileSource(source)) checkPlaceholders(source.file, where);
      entries.push({
        namespace,
        key,
        kind,
        encoding: entry.type,
        secret: entry.secret ?? false,
        hasValue: source !== undefined,
        source,
        repeat: false,
      });
    }
  }
  return makeTemplate(entries, options);
}

/**
 * Read a template: `text` is the mass-manufacturing utility's configuration
 * CSV (no header; `name,namespace,` then `key,type,encoding[,REPEAT|SECRET]`)
 * or the NVS partition generator's CSV (`key,type,encoding,value` header;
 * values and `file` paths may hold placeholders). `values` is the text of a
 * master values CSV, if any. Pure: no file is read.
 *
 * @example
 * ```ts
 * import { parseNvsTemplate } from "./nvs_template.ts";
 * const template = parseNvsTemplate(
 *   "key,type,encoding,value\nfactory,namespace,,\nserial_no,data,string,{serial}\n",
 * );
 * console.log(template.keyNames); // ["factory/serial_no"]
 * ```
 *
 * @throws {NvsInputError} `E_NVS_CSV`, `E_NVS_TYPE`, `E_NVS_KEY`, `E_NVS_ENCODING`,
 *   `E_NVS_NO_NAMESPACE`, `E_NVS_TEMPLATE` with the file and line.
 */
export function parseNvsTemplate(
  text: string,
  options: NvsTemplateOptions & { source?: string; values?: string; valuesSource?: string } = {},
): NvsTemplate {
  const sourceName = options.source ?? "template";
  const records = readCsvRecords(text.replace(/^\ufeff/, ""))
    .filter((r) => !(r.fields.length === 1 && r.fields[0].trim() === ""));
  const first = records[0];
  if (!first) {
    throw new NvsInputError(
      "E_NVS_CSV",
      `${sourceName} is empty: start it with a namespace row (name,namespace,) or the ` +
        "header key,type,encoding,value",
    );
  }
  // The generator's CSV starts with its header; the configuration CSV has none.
  const names = first.fields.map((f) => f.trim().toLowerCase());
  const entries = names.includes("key") && names.includes("type")
    ? generatorEntries(text, sourceName)
    : configEntries(records, sourceName);
  const valueTable = options.values === undefined
    ? null
    : readValueTable(options.values, options.valuesSource ?? "values CSV", entries);
  return makeTemplate(entries, { ...options, valueTable });
}

/** The mfg_gen configuration CSV. */
function configEntries(
  records: { fields: string[]; line: number }[],
  sourceName: string,
): Entry[] {
  const entries: Entry[] = [];
  let namespace: string | null = null;
  for (const rec of records) {
    const key = rec.fields[0] ?? "";
    const type = rec.fields[1]?.trim() ?? "";
    const where = rowPlace({ key, line: rec.line, source: sourceName });
    if (type === "namespace") {
      checkKeyName(key, "namespace name", where);
      namespace = key;
      continue;
    }
    if (type !== "data" && type !== "file") {
      throw new NvsInputError(
        "E_NVS_TYPE",
        `${where}: type "${type}": a configuration row is key,type,encoding with type ` +
          "namespace, data or file",
      );
    }
    if (namespace === null) {
      throw new NvsInputError(
        "E_NVS_NO_NAMESPACE",
        `${where}: the key comes before any namespace: start with a row NAME,namespace,`,
      );
    }
    checkKeyName(key, "key", where);
    const encoding = rec.fields[2]?.trim() ?? "";
    checkEncoding(encoding, type, where);
    const tags = rec.fields.slice(3).map((t) => t.trim().toUpperCase()).filter(Boolean);
    for (const tag of tags) {
      if (tag !== "REPEAT" && tag !== "SECRET") {
        throw new NvsInputError(
          "E_NVS_TEMPLATE",
          `${where}: unknown tag "${tag}" after the encoding: use REPEAT or SECRET`,
        );
      }
    }
    entries.push({
      namespace,
      key,
      kind: type,
      encoding,
      secret: tags.includes("SECRET"),
      repeat: tags.includes("REPEAT"),
      hasValue: false,
      line: rec.line,
      sourceName,
    });
  }
  return entries;
}

/** The generator's CSV, values as templates. */
function generatorEntries(text: string, sourceName: string): Entry[] {
  const entries: Entry[] = [];
  let namespace: string | null = null;
  for (const row of parseNvsCsv(text, { source: sourceName })) {
    const where = rowPlace(row);
    if (row.type === "namespace") {
      checkKeyName(row.key, "namespace name", where);
      namespace = row.key;
      continue;
    }
    if (namespace === null) {
      throw new NvsInputError(
        "E_NVS_NO_NAMESPACE",
        `${where}: the key comes before any namespace: add a row NAME,namespace,, above it`,
      );
    }
    checkKeyName(row.key, "key", where);
    checkEncoding(row.encoding, row.type, where);
    const raw = row.type === "file" ? row.path : String(row.value);
    checkPlaceholders(raw, where);
    entries.push({
      namespace,
      key: row.key,
      kind: row.type,
      encoding: row.encoding,
      secret: false,
      repeat: false,
      hasValue: true,
      source: row.type === "file" ? { file: raw } : raw,
      line: row.line,
      sourceName,
    });
  }
  return entries;
}

/** The mfg_gen master values CSV. */
function readValueTable(text: string, path: string, entries: Entry[]): ValueTable {
  const records = readCsvRecords(text.replace(/^\ufeff/, ""))
    .filter((r) => !(r.fields.length === 1 && r.fields[0].trim() === ""));
  const header = records.shift();
  if (!header) {
    throw new NvsInputError("E_NVS_CSV", `${path} is empty: its first line names the keys`);
  }
  const names = header.fields.map((f) => f.trim());
  for (const e of entries) {
    if (
      e.source === undefined && !names.includes(e.key) && !names.includes(`${e.namespace}/${e.key}`)
    ) {
      throw new NvsInputError(
        "E_NVS_TEMPLATE",
        `${path} line ${header.line} has no column for ${e.namespace}/${e.key}: every key of ` +
          "the configuration needs one (other columns are kept as metadata)",
      );
    }
  }
  if (records.length === 0) {
    throw new NvsInputError("E_NVS_CSV", `${path} has no values: add a row under the key names`);
  }
  // Columns of keys are values; the others are the utility's metadata, kept as they are.
  names.forEach((name, i) => {
    if (!entries.some((e) => e.key === name || `${e.namespace}/${e.key}` === name)) return;
    for (const r of records) {
      const cell = r.fields[i];
      if (cell !== undefined) checkPlaceholders(cell, `${path} line ${r.line} (key "${name}")`);
    }
  });
  const repeat = new Set(
    entries.filter((e) => e.repeat).flatMap((e) => [e.key, `${e.namespace}/${e.key}`]),
  );
  const rowOf = (r: { fields: string[] }, firstRow: { fields: string[] }) => {
    const m = new Map<string, string>();
    names.forEach((name, i) => {
      let cell = r.fields[i] ?? "";
      // REPEAT: the value is on the first row only (mass-manufacturing utility).
      if (cell === "" && repeat.has(name)) cell = firstRow.fields[i] ?? "";
      m.set(name, cell);
    });
    return m;
  };
  const macColumn = names.indexOf("mac");
  const keyed = macColumn >= 0 &&
    records.every((r) => normalMac(r.fields[macColumn] ?? "") !== null);
  if (!keyed) {
    if (records.length > 1) {
      throw new NvsInputError(
        "E_NVS_TEMPLATE",
        `${path} has ${records.length} rows of values but no mac column naming each board: ` +
          "a station cannot tell which row is which board; add a mac column, or use one row " +
          "with {serial} and {mac} where values differ",
      );
    }
    return { path, shared: rowOf(records[0], records[0]) };
  }
  const byMac = new Map<string, Map<string, string>>();
  for (const r of records) {
    const mac = normalMac(r.fields[macColumn])!;
    if (byMac.has(mac)) {
      throw new NvsInputError(
        "E_NVS_TEMPLATE",
        `${path} line ${r.line}: MAC ${mac} has a row already: one row per board`,
      );
    }
    byMac.set(mac, rowOf(r, records[0]));
  }
  return { path, byMac };
}

/**
 * Read a template file (and its values file), as {@link parseNvsTemplate}
 * reads their text.
 *
 * @example
 * ```ts
 * import { loadNvsTemplate } from "./nvs_template.ts";
 * const template = await loadNvsTemplate("mfg_config.csv", {
 *   values: "mfg_values.csv",
 *   files: "certs/",
 *   secret: ["device_key"],
 * });
 * console.log(template.keyNames);
 * ```
 *
 * @throws {NvsInputError} `E_NVS_FILE` when a file cannot be read, and the
 *   errors of {@link parseNvsTemplate}.
 */
export async function loadNvsTemplate(
  path: string,
  options: LoadNvsTemplateOptions = {},
): Promise<NvsTemplate> {
  const read = async (p: string, what: string) => {
    try {
      return await Deno.readTextFile(p);
    } catch (e) {
      throw new NvsInputError("E_NVS_FILE", `${what} ${p}: cannot read it (${readFailure(e)})`, {
        cause: e,
        details: { path: p },
      });
    }
  };
  const text = await read(path, "NVS template");
  const values = options.values === undefined
    ? undefined
    : await read(options.values, "NVS values file");
  return parseNvsTemplate(text, {
    ...options,
    source: path,
    values,
    valuesSource: options.values,
  });
}
