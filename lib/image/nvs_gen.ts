/**
 * NVS partition images, byte for byte as ESP-IDF's NVS partition generator
 * (`esp-idf-nvs-partition-gen` 0.2.0, `nvs_partition_gen.py generate`)
 * writes them for the same input: from its CSV rows ({@link parseNvsCsv},
 * {@link loadNvsCsv}) or from a typed object
 * (`{ namespace: { key: value } }`).
 *
 * The page layout follows the generator step by step (where a value starts
 * a new page, how blobs split into chunks, which page stays active, the
 * empty and reserved pages at the end), because the same bytes are what
 * makes an image checkable against the reference tool. Where the generator
 * crashes or writes a damaged entry for some input, {@link buildNvs} throws
 * an {@link NvsInputError} instead; where it writes something other than
 * what its input says, the differences are listed on {@link buildNvs}.
 *
 * Building is pure and fast (no I/O): call it once per board.
 *
 * Room for encryption: pages are laid out in plain text first. NVS
 * encryption (the generator's `encrypt` mode) is XTS-AES-256 over each
 * 32-byte entry the bitmap marks written, with the entry's offset in the
 * partition as the tweak, and leaves headers and bitmaps plain, so it is a
 * pass over the finished image that needs nothing from the layout code.
 *
 * @module
 */

import { pbkdf2Sync } from "node:crypto";
import {
  isNvsIntegerType,
  NVS_BITMAP_OFFSET,
  NVS_CHUNK_ANY,
  NVS_ENTRIES_PER_PAGE,
  NVS_ENTRY_SIZE,
  NVS_FIRST_ENTRY_OFFSET,
  NVS_INTEGER_TYPES,
  NVS_MAX_KEY_LENGTH,
  NVS_NAMESPACE_INDEX,
  NVS_PAGE_SIZE,
  NVS_VERSION1_BYTE,
  NVS_VERSION2_BYTE,
  nvsCrc32,
  nvsEntryCrc,
  nvsHeaderCrc,
  NvsInputError,
  type NvsIntegerType,
  NvsItemTypeCode,
  NvsPageStateValue,
} from "./nvs_format.ts";
import {
  decodeBase64Py,
  decodeHex2bin,
  latin1,
  type NvsRow,
  type NvsScalar,
  parsePyInt,
  rowPlace,
} from "./nvs_csv.ts";

/** How a value is stored: one of the integer types, a string, or a blob from hex, base64 or bytes. */
export type NvsEncoding = NvsIntegerType | "string" | "hex2bin" | "base64" | "binary";

/** The encodings a typed value may name. */
export const NVS_ENCODINGS: readonly NvsEncoding[] = [
  "u8",
  "i8",
  "u16",
  "i16",
  "u32",
  "i32",
  "u64",
  "i64",
  "string",
  "hex2bin",
  "base64",
  "binary",
];

/** A value with its encoding spelled out: `{ type: "u32", value: 7 }`. */
export interface NvsTypedValue {
  /** How to store it. */
  type: NvsEncoding;
  /** The value: a number, bigint or decimal text for integers; text for strings, hex and base64; text or bytes for binary. */
  value: NvsScalar;
}

/**
 * A value in {@link NvsData}. Without a type: text is a `string`, bytes a
 * blob (`binary`), a bigint an `i64`, and a number an `i32` (give the type
 * for any other integer type: `{ type: "u8", value: 1 }`).
 */
export type NvsValue = NvsScalar | NvsTypedValue;

/** Namespaces, each with its keys and values, in writing order. */
export type NvsData = Record<string, Record<string, NvsValue>>;

/** Smallest NVS partition the generator accepts at all (one page, read-only). */
export const NVS_MIN_SIZE = NVS_PAGE_SIZE;
/** Smallest read/write NVS partition: two pages of data and a free one (nvs_partition_gen `check_size`). */
export const NVS_MIN_READ_WRITE_SIZE = 3 * NVS_PAGE_SIZE;
/** Largest size accepted: the largest SPI flash esptool knows (128 MB). */
export const NVS_MAX_SIZE = 128 * 1024 * 1024;
/** Longest value of a version-1 entry, strings and blobs (nvs_partition_gen `max_blob_size`). */
const V1_MAX_VARLEN = 1984;
/** Longest string the generator accepts in version 2 (nvs_partition_gen `max_blob_size`). */
const V2_MAX_STRING = 4000;
/** Version-2 blob chunks of one blob use indices below this (nvs_types.hpp `VER_1_OFFSET`). */
const MAX_BLOB_CHUNKS = 0x80;

/** How a partition of a given size is used. */
export interface NvsLayout {
  /** Pages in the partition. */
  pages: number;
  /** Pages that may hold data (the rest is the page ESP-IDF keeps free). */
  dataPages: number;
  /**
   * Below 0x3000 bytes the partition can only be read-only (flag it
   * `readonly` in the partition table); its image then holds only the pages
   * in use, as the generator writes it.
   */
  readOnly: boolean;
}

/**
 * Check a partition size as the generator does and say how it is used.
 *
 * @example
 * ```ts
 * import { nvsLayout } from "./nvs_gen.ts";
 * console.log(nvsLayout(0x6000)); // { pages: 6, dataPages: 5, readOnly: false }
 * ```
 *
 * @throws {NvsInputError} `E_NVS_SIZE` for sizes that are not whole pages, too small or too large.
 */
export function nvsLayout(size: number): NvsLayout {
  const hex = Number.isFinite(size) ? `0x${Math.trunc(size).toString(16)}` : String(size);
  if (!Number.isSafeInteger(size) || size % NVS_PAGE_SIZE !== 0) {
    throw new NvsInputError(
      "E_NVS_SIZE",
      `NVS partition size ${size} (${hex}) is not a multiple of 4096: NVS pages are 4 KiB flash ` +
        "sectors; give the partition's size from the partition table, e.g. 0x6000",
      { details: { size } },
    );
  }
  if (size < NVS_MIN_SIZE) {
    throw new NvsInputError(
      "E_NVS_SIZE",
      `NVS partition size ${hex} is too small: a read/write NVS partition needs at least 0x3000 ` +
        "bytes, a read-only one 0x1000",
      { details: { size } },
    );
  }
  if (size > NVS_MAX_SIZE) {
    throw new NvsInputError(
      "E_NVS_SIZE",
      `NVS partition size ${hex} is larger than any flash chip (128 MB): check the number`,
      { details: { size } },
    );
  }
  const pages = size / NVS_PAGE_SIZE;
  const readOnly = size < NVS_MIN_READ_WRITE_SIZE;
  return { pages, dataPages: readOnly ? pages : pages - 1, readOnly };
}

/**
 * Read a partition size as people write it: decimal (`24576`), hex with
 * `0x` or `0X` (`0x6000`, `0X6A000`), or with a `K`/`M` suffix (`24K`).
 * Whether it suits NVS is {@link nvsLayout}'s question.
 *
 * @example
 * ```ts
 * import { parseNvsSize } from "./nvs_gen.ts";
 * console.log(parseNvsSize("0X6000"), parseNvsSize("24K")); // 24576 24576
 * ```
 *
 * @throws {NvsInputError} `E_NVS_SIZE` when the text is not a size.
 */
export function parseNvsSize(text: string): number {
  const m = /^(0x[0-9a-f]+|\d+)\s*(k|m)?(?:i?b)?$/i.exec(text.trim().replaceAll("_", ""));
  const n = m
    ? Number(m[1].replace(/^0X/, "0x")) * ({ k: 1024, m: 1024 * 1024 }[
      (m[2] ?? "").toLowerCase() as "k" | "m"
    ] ?? 1)
    : NaN;
  if (!Number.isSafeInteger(n)) {
    throw new NvsInputError(
      "E_NVS_SIZE",
      `"${text}" is not a partition size: give bytes as 0x6000, 24576 or 24K`,
      { details: { size: text } },
    );
  }
  return n;
}

/** Options for {@link buildNvs}. */
export interface BuildNvsOptions {
  /** Partition size in bytes, a multiple of 4096 (the `nvs` partition's size, e.g. 0x6000). Required. */
  size: number;
  /**
   * Format version: 2 (default) splits blobs into chunks across pages; 1 is
   * the pre-ESP-IDF-4 format with single-page blobs of at most 1984 bytes.
   */
  version?: 1 | 2;
  /**
   * Write the companion entries ESP-IDF's Wi-Fi driver expects next to the
   * Wi-Fi keys, as the generator does: `sta.apinfo`, `sta.pmk`, `sta.apsw`
   * after the first `sta.ssid` or `sta.pswd`, and `ap.pmk_info` (PBKDF2 of
   * the password) once `ap.ssid`, `ap.passwd` and a non-zero `ap.authmode`
   * are all given. Default true.
   */
  wifiExtras?: boolean;
}

/** What a row turns into once its value is decoded. */
type Op =
  | { kind: "int"; type: NvsIntegerType; value: bigint }
  | { kind: "string"; bytes: Uint8Array }
  | { kind: "blob"; bytes: Uint8Array };

/** Raised inside the writer when the partition has no page left; turned into E_NVS_FULL. */
class OutOfPages extends Error {}

/**
 * Lays entries into pages the way the generator's `Page` and `NVS` classes
 * do. `remaining` counts bytes not yet given to a page, as the generator's
 * `size` does.
 */
class PageWriter {
  readonly pages: Uint8Array[] = [];
  private page: Uint8Array = new Uint8Array(0);
  private entry = 0;
  private remaining: number;

  constructor(private readonly versionByte: number, dataBytes: number) {
    this.remaining = dataBytes;
    this.newPage();
  }

  get pageCount(): number {
    return this.pages.length;
  }

  /** Close the current page (FULL) and start the next one (ACTIVE, next sequence number). */
  newPage(): void {
    if (this.pages.length) {
      const view = new DataView(this.page.buffer, this.page.byteOffset, 4);
      if (view.getUint32(0, true) === NvsPageStateValue.ACTIVE) {
        view.setUint32(0, NvsPageStateValue.FULL, true);
      }
    }
    if (this.remaining <= 0) throw new OutOfPages();
    this.remaining -= NVS_PAGE_SIZE;
    const page = new Uint8Array(NVS_PAGE_SIZE).fill(0xff);
    const view = new DataView(page.buffer);
    view.setUint32(0, NvsPageStateValue.ACTIVE, true);
    view.setUint32(4, this.pages.length, true);
    page[8] = this.versionByte;
    view.setUint32(28, nvsHeaderCrc(page), true);
    this.pages.push(page);
    this.page = page;
    this.entry = 0;
  }

  /** Copy `bytes` at the next free entry and mark `count` entries written. */
  private put(bytes: Uint8Array, count: number): void {
    this.page.set(bytes, NVS_FIRST_ENTRY_OFFSET + NVS_ENTRY_SIZE * this.entry);
    for (let i = 0; i < count; i++) {
      const bit = this.entry * 2;
      this.page[NVS_BITMAP_OFFSET + (bit >> 3)] &= ~(1 << (bit & 7));
      this.entry++;
    }
  }

  /** Seal an entry header with its CRC and put it. */
  private putHeader(e: Uint8Array): void {
    new DataView(e.buffer).setUint32(4, nvsEntryCrc(e), true);
    this.put(e, 1);
  }

  writeInt(ns: number, key: string, type: NvsIntegerType, value: bigint): void {
    if (this.entry >= NVS_ENTRIES_PER_PAGE) this.newPage();
    const facts = NVS_INTEGER_TYPES[type];
    const e = entryHeader(ns, facts.code, 1, key);
    const view = new DataView(e.buffer);
    if (facts.bytes === 8) {
      if (facts.signed) view.setBigInt64(24, value, true);
      else view.setBigUint64(24, value, true);
    } else {
      let v = Number(value);
      if (v < 0) v += 2 ** (facts.bytes * 8); // two's complement
      for (let i = 0; i < facts.bytes; i++) e[24 + i] = Math.floor(v / 2 ** (8 * i)) & 0xff;
    }
    this.putHeader(e);
  }

  /** Strings (and all values in version 1) on one page; version-2 blobs in chunks. */
  writeVarlen(ns: number, key: string, data: Uint8Array, isString: boolean, where: string): void {
    const v1 = this.versionByte === NVS_VERSION1_BYTE;
    const limit = v1 ? V1_MAX_VARLEN : V2_MAX_STRING;
    const what = isString ? "string" : "blob";
    const tooLong = () =>
      new NvsInputError(
        "E_NVS_TOO_LONG",
        `${where}: the ${what} is ${data.length} bytes${
          isString ? " with its NUL" : ""
        }, more than one NVS page holds for one ${v1 ? "version-1 value" : "string"} (${
          v1 ? V1_MAX_VARLEN : (NVS_ENTRIES_PER_PAGE - 2) * NVS_ENTRY_SIZE
        } bytes): ${
          v1 ? "use format version 2, which splits blobs across pages" : "store it as a blob " +
            "(encoding hex2bin, base64 or binary), which may span pages"
        }`,
        { details: { key, bytes: data.length } },
      );
    if ((v1 || isString) && data.length > limit) throw tooLong();
    const dataEntries = Math.ceil(data.length / NVS_ENTRY_SIZE);
    const chunked = !v1 && !isString;
    const fits = () =>
      this.entry < NVS_ENTRIES_PER_PAGE &&
      (chunked || this.entry + dataEntries + 1 < NVS_ENTRIES_PER_PAGE);
    if (!fits()) {
      this.newPage();
      if (!fits()) throw tooLong();
    }
    if (chunked) return this.writeBlobChunks(ns, key, data, where);
    const e = entryHeader(ns, isString ? NvsItemTypeCode.SZ : NvsItemTypeCode.BLOB, 0, key);
    e[2] = dataEntries + 1;
    const view = new DataView(e.buffer);
    view.setUint16(24, data.length, true);
    view.setUint32(28, nvsCrc32(data), true);
    this.putHeader(e);
    this.put(data, dataEntries);
  }

  /** A version-2 blob: data chunks filling each page's tailroom, then the blob index. */
  private writeBlobChunks(ns: number, key: string, data: Uint8Array, where: string): void {
    const chunkStart = 0;
    let chunkCount = 0;
    let offset = 0;
    let remaining = data.length;
    const e = entryHeader(ns, NvsItemTypeCode.BLOB_DATA, 0, key);
    const view = new DataView(e.buffer);
    for (;;) {
      if (chunkCount >= MAX_BLOB_CHUNKS) {
        throw new NvsInputError(
          "E_NVS_TOO_LONG",
          `${where}: the blob is ${data.length} bytes and needs more than ${MAX_BLOB_CHUNKS} ` +
            "chunks (one per page), more than ESP-IDF can read back: split it or store it elsewhere",
          { details: { key, bytes: data.length } },
        );
      }
      // Room for data after the chunk's header entry on this page.
      const tailroom = (NVS_ENTRIES_PER_PAGE - this.entry - 1) * NVS_ENTRY_SIZE;
      const size = Math.min(tailroom, remaining);
      remaining -= size;
      const chunkEntries = Math.ceil(size / NVS_ENTRY_SIZE);
      e[1] = NvsItemTypeCode.BLOB_DATA;
      e[2] = chunkEntries + 1;
      e[3] = chunkStart + chunkCount;
      const chunk = data.subarray(offset, offset + size);
      view.setUint16(24, size, true);
      view.setUint32(28, nvsCrc32(chunk), true);
      this.putHeader(e);
      this.put(chunk, chunkEntries);
      chunkCount++;
      if (remaining > 0 || tailroom - size < NVS_ENTRY_SIZE) this.newPage();
      offset += size;
      if (remaining === 0) {
        e.fill(0xff, 24, 32);
        e[1] = NvsItemTypeCode.BLOB_IDX;
        e[2] = 1;
        e[3] = NVS_CHUNK_ANY;
        view.setUint32(24, data.length, true);
        e[28] = chunkCount;
        e[29] = chunkStart;
        this.putHeader(e);
        return;
      }
    }
  }

  /** The image: used pages, then (read/write) empty pages and the reserved page. */
  finish(size: number, readOnly: boolean): Uint8Array {
    const out = new Uint8Array(readOnly ? this.pages.length * NVS_PAGE_SIZE : size).fill(0xff);
    this.pages.forEach((p, i) => out.set(p, i * NVS_PAGE_SIZE));
    return out;
  }
}

/** A 32-byte entry with namespace, type, span, chunk index CHUNK_ANY and the key. */
function entryHeader(ns: number, type: number, span: number, key: string): Uint8Array {
  const e = new Uint8Array(NVS_ENTRY_SIZE).fill(0xff);
  e[0] = ns;
  e[1] = type;
  e[2] = span;
  e[3] = NVS_CHUNK_ANY;
  e.fill(0, 8, 24);
  for (let i = 0; i < key.length; i++) e[8 + i] = key.charCodeAt(i);
  return e;
}

function checkKey(key: string, what: string, where: string): void {
  // deno-lint-ignore no-control-regex
  const bad = /[^\x01-\x7f]/.exec(key);
  if (bad) {
    throw new NvsInputError(
      "E_NVS_KEY",
      `${where}: the ${what} "${key}" has the character "${bad[0]}": NVS ${what}s are ASCII ` +
        "(without NUL)",
      { details: { key } },
    );
  }
  if (key.length > NVS_MAX_KEY_LENGTH) {
    throw new NvsInputError(
      "E_NVS_KEY",
      `${where}: the ${what} "${key}" is ${key.length} characters long; NVS allows at most ` +
        `${NVS_MAX_KEY_LENGTH}: shorten it (the firmware must use the same ${what})`,
      { details: { key } },
    );
  }
}

const FILL_ENCODING = /^(blob_fill|blob_sz_fill)\((\d+);(0x[0-9a-fA-F]{2})\)/;

function scalarText(value: NvsScalar): string {
  if (value instanceof Uint8Array) return new TextDecoder().decode(value);
  return String(value);
}

/**
 * Decode a row's value by its encoding, as the generator's `NVS.write_entry`
 * does. `room` (the partition size) bounds fill lengths before any memory is
 * taken for them.
 */
function decodeValue(
  encoding: string,
  value: NvsScalar,
  where: string,
  key: string,
  room: number,
): Op {
  const fail = (code: string, message: string) =>
    new NvsInputError(code, `${where}: ${message}`, { details: { key, encoding } });
  if (encoding.startsWith("blob_fill") || encoding.startsWith("blob_sz_fill")) {
    const m = FILL_ENCODING.exec(encoding);
    if (!m) {
      throw fail(
        "E_NVS_ENCODING",
        `"${encoding}" is not a fill encoding: write blob_fill(LENGTH;0xPP) or ` +
          "blob_sz_fill(LENGTH;0xPP), e.g. blob_fill(32;0xff)",
      );
    }
    if (value instanceof Uint8Array) {
      throw fail("E_NVS_ENCODING", `${m[1]} takes its value from the row: use type data`);
    }
    const length = Number(m[2]);
    if (length > room) {
      throw fail(
        "E_NVS_TOO_LONG",
        `${m[1]} reserves ${m[2]} bytes, more than the whole 0x${room.toString(16)}-byte partition`,
      );
    }
    const pad = parseInt(m[3], 16);
    const text = new TextEncoder().encode(String(value));
    if (text.length > length) {
      throw fail(
        "E_NVS_TOO_LONG",
        `the value is ${text.length} bytes, longer than the ${length} bytes ${m[1]} reserves`,
      );
    }
    const sized = m[1] === "blob_sz_fill";
    const bytes = new Uint8Array((sized ? 4 : 0) + length).fill(pad);
    if (sized) new DataView(bytes.buffer).setUint32(0, text.length, true);
    bytes.set(text, sized ? 4 : 0);
    return { kind: "blob", bytes };
  }
  if (encoding === "hex2bin") {
    const bytes = decodeHex2bin(typeof value === "string" ? value : scalarBytes(value));
    if (typeof bytes === "string") throw fail("E_NVS_VALUE", `hex2bin value: ${bytes}`);
    return { kind: "blob", bytes };
  }
  if (encoding === "base64") {
    const bytes = decodeBase64Py(typeof value === "string" ? value : scalarBytes(value));
    if (typeof bytes === "string") throw fail("E_NVS_VALUE", `base64 value: ${bytes}`);
    return { kind: "blob", bytes };
  }
  if (encoding === "string") {
    let text: string;
    if (value instanceof Uint8Array) {
      try {
        text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(value);
      } catch {
        throw fail(
          "E_NVS_VALUE",
          "the file is not UTF-8 text: use encoding binary to store its bytes as a blob",
        );
      }
    } else text = String(value);
    const utf8 = new TextEncoder().encode(text);
    const bytes = new Uint8Array(utf8.length + 1);
    bytes.set(utf8);
    return { kind: "string", bytes };
  }
  const lower = encoding.toLowerCase();
  if (lower === "string" || lower === "hex2bin" || lower === "base64") {
    throw fail(
      "E_NVS_ENCODING",
      `write the encoding "${encoding}" in lowercase (${lower}): nvs_partition_gen would store ` +
        "the text without decoding it",
    );
  }
  if (lower === "binary") return { kind: "blob", bytes: scalarBytes(value) };
  if (isNvsIntegerType(lower)) {
    const facts = NVS_INTEGER_TYPES[lower];
    let n: bigint | null;
    if (typeof value === "bigint") n = value;
    else if (typeof value === "number") n = Number.isInteger(value) ? BigInt(value) : null;
    else n = parsePyInt(typeof value === "string" ? value : latin1(value));
    if (n === null) {
      throw fail(
        "E_NVS_VALUE",
        `"${scalarText(value)}" is not a whole decimal number for ${lower} ` +
          "(write 16, not 0x10 or 16.0)",
      );
    }
    if (n < facts.min || n > facts.max) {
      throw fail(
        "E_NVS_RANGE",
        `${n} is out of range for ${lower} (${facts.min} to ${facts.max}): use a wider type ` +
          "or fix the value",
      );
    }
    return { kind: "int", type: lower, value: n };
  }
  throw fail(
    "E_NVS_ENCODING",
    `unknown encoding "${encoding}": use one of ${NVS_ENCODINGS.join(", ")}, ` +
      "blob_fill(N;0xPP) or blob_sz_fill(N;0xPP)",
  );
}

function scalarBytes(value: NvsScalar): Uint8Array {
  return value instanceof Uint8Array ? value : new TextEncoder().encode(String(value));
}

const STA_KEYS = new Set(["sta.ssid", "sta.pswd"]);
const AP_KEYS = new Set(["ap.ssid", "ap.passwd", "ap.authmode"]);
/** Companion entries the generator writes after the first station Wi-Fi key. */
const STA_EXTRAS: [string, Uint8Array][] = [
  ["sta.apinfo", new Uint8Array(140).fill(0xff)],
  ["sta.pmk", new Uint8Array(32)],
  ["sta.apsw", new Uint8Array(2)],
];
/** Zero bytes before the PMK in `ap.pmk_info` (nvs_partition_gen `first_part`). */
const AP_PMK_INFO_PREFIX = 100;
/** PBKDF2-SHA1 parameters of a WPA2 PMK (IEEE 802.11i): 4096 rounds, 32 bytes. */
const PMK_ROUNDS = 4096;
const PMK_BYTES = 32;

/** Lay out the rows; throws OutOfPages when `dataBytes` runs out. */
function layOut(
  rows: readonly NvsRow[],
  versionByte: number,
  dataBytes: number,
  options: { wifiExtras: boolean; room: number },
): PageWriter {
  const { wifiExtras, room } = options;
  const w = new PageWriter(versionByte, dataBytes);
  const namespaces = new Map<string, number>();
  let ns: number | null = null;
  let nsName = "";
  let staExtrasWritten = false;
  const ap: { ssid?: string; passwd?: string; authmode?: string } = {};
  const put = (key: string, op: Op, where: string, nsIndex: number) => {
    if (op.kind === "int") w.writeInt(nsIndex, key, op.type, op.value);
    else w.writeVarlen(nsIndex, key, op.bytes, op.kind === "string", where);
  };
  for (const row of rows) {
    // CSV rows are named by line; typed data by namespace/key.
    const where = row.line !== undefined
      ? rowPlace(row)
      : row.type === "namespace"
      ? `namespace "${row.key}"`
      : ns === null
      ? `key "${row.key}"`
      : `${nsName}/${row.key}`;
    checkKey(row.key, row.type === "namespace" ? "namespace name" : "key", where);
    if (row.type === "namespace") {
      const known = namespaces.get(row.key);
      if (known !== undefined) {
        ns = known;
        nsName = row.key;
        continue;
      }
      // Indices 1..254: 0 holds the namespace entries, 255 means "any" (nvs_storage.cpp).
      if (namespaces.size >= 254) {
        throw new NvsInputError(
          "E_NVS_NAMESPACES",
          `${where}: a 255th namespace; NVS holds at most 254: merge some namespaces`,
          { details: { key: row.key } },
        );
      }
      ns = namespaces.size + 1;
      namespaces.set(row.key, ns);
      nsName = row.key;
      w.writeInt(NVS_NAMESPACE_INDEX, row.key, "u8", BigInt(ns));
      continue;
    }
    if (ns === null) {
      throw new NvsInputError(
        "E_NVS_NO_NAMESPACE",
        `${where}: the key comes before any namespace: add a row NAME,namespace,, above it ` +
          "(the firmware opens the namespace by that name)",
        { details: { key: row.key } },
      );
    }
    const value = row.type === "file" ? fileContent(row) : row.value;
    if (wifiExtras && AP_KEYS.has(row.key)) {
      const text = row.type === "file" ? row.path : scalarText(row.value);
      if (row.key === "ap.ssid") ap.ssid = text;
      if (row.key === "ap.passwd") ap.passwd = text;
      if (row.key === "ap.authmode" && text !== "0") ap.authmode = text;
      if (ap.ssid && ap.passwd && ap.authmode) {
        const info = new Uint8Array(AP_PMK_INFO_PREFIX + PMK_BYTES);
        info.set(pbkdf2Sync(ap.passwd, ap.ssid, PMK_ROUNDS, PMK_BYTES, "sha1"), AP_PMK_INFO_PREFIX);
        put("ap.pmk_info", { kind: "blob", bytes: info }, where, ns);
      }
    }
    if (wifiExtras && STA_KEYS.has(row.key)) {
      if (row.type === "file") {
        throw new NvsInputError(
          "E_NVS_TYPE",
          `${where}: give ${row.key} as data, not a file (nvs_partition_gen would store the ` +
            "file's name)",
          { details: { key: row.key } },
        );
      }
      put(row.key, decodeValue(row.encoding, value, where, row.key, room), where, ns);
      if (!staExtrasWritten) {
        for (const [k, bytes] of STA_EXTRAS) put(k, { kind: "blob", bytes }, where, ns);
        staExtrasWritten = true;
      }
      continue;
    }
    put(row.key, decodeValue(row.encoding, value, where, row.key, room), where, ns);
  }
  return w;
}

function fileContent(row: NvsRow & { type: "file" }): Uint8Array {
  if (!row.content) {
    throw new NvsInputError(
      "E_NVS_FILE",
      `${rowPlace(row)}: the file ${row.path} was not read: load the CSV with loadNvsCsv, ` +
        "or set the row's content",
      { details: { key: row.key, path: row.path } },
    );
  }
  return row.content;
}

/**
 * Turn typed data into generator rows (a namespace row, then its keys, for
 * each namespace in order).
 *
 * @throws {NvsInputError} `E_NVS_TYPE` for a number that is not a whole i32, or a value of another kind.
 */
export function nvsRowsFromData(data: NvsData): NvsRow[] {
  const rows: NvsRow[] = [];
  for (const [namespace, keys] of Object.entries(data)) {
    rows.push({ type: "namespace", key: namespace });
    if (typeof keys !== "object" || keys === null) {
      throw new NvsInputError(
        "E_NVS_TYPE",
        `namespace "${namespace}" must map keys to values: { "${namespace}": { key: value } }`,
      );
    }
    for (const [key, v] of Object.entries(keys)) {
      const fail = (why: string) =>
        new NvsInputError("E_NVS_TYPE", `${namespace}/${key}: ${why}`, { details: { key } });
      let encoding: string;
      let value: NvsScalar;
      if (typeof v === "string") [encoding, value] = ["string", v];
      else if (v instanceof Uint8Array) [encoding, value] = ["binary", v];
      else if (typeof v === "bigint") [encoding, value] = ["i64", v];
      else if (typeof v === "number") {
        if (!Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31) {
          throw fail(
            `${v} is not a whole i32: give its type, e.g. { type: "u32", value: ${v} }`,
          );
        }
        [encoding, value] = ["i32", v];
      } else if (typeof v === "object" && v !== null && "type" in v && "value" in v) {
        if (!NVS_ENCODINGS.includes(v.type)) {
          throw fail(`unknown type "${v.type}": use one of ${NVS_ENCODINGS.join(", ")}`);
        }
        [encoding, value] = [v.type, v.value];
      } else {
        throw fail(
          "give a string, number, bigint, Uint8Array or { type, value }",
        );
      }
      rows.push({ type: "data", key, encoding, value });
    }
  }
  return rows;
}

/**
 * Build an NVS partition image: the same bytes ESP-IDF's
 * `nvs_partition_gen.py generate` writes for the same rows, or an
 * {@link NvsInputError} where the generator would fail.
 *
 * Input: typed data (`{ namespace: { key: value } }`, see {@link NvsValue})
 * or generator rows ({@link parseNvsCsv}, {@link loadNvsCsv}).
 *
 * Where espline differs from nvs_partition_gen 0.2.0 on purpose:
 * - a namespace named again later takes the keys after it (the generator
 *   puts them into the most recently created namespace instead);
 * - keys before any namespace row, non-ASCII keys, types other than
 *   namespace/data/file, `string`/`hex2bin`/`base64` spelled in capitals and
 *   a 255th namespace are errors (the generator writes damaged or misplaced
 *   entries);
 * - `binary` text with non-ASCII characters is stored as its UTF-8 bytes.
 *
 * @example
 * ```ts
 * import { buildNvs } from "./nvs_gen.ts";
 * const image = buildNvs({
 *   factory: { serial: "SN-000123", hw_rev: { type: "u8", value: 3 }, cal: new Uint8Array([1, 2]) },
 * }, { size: 0x6000 });
 * console.log(image.length); // 24576
 * ```
 *
 * @throws {NvsInputError} for a bad size (`E_NVS_SIZE`), data that does not fit (`E_NVS_FULL`),
 *   and bad keys, types, encodings or values (see {@link NvsInputError}).
 */
export function buildNvs(input: NvsData | readonly NvsRow[], options: BuildNvsOptions): Uint8Array {
  const layout = nvsLayout(options.size);
  const version = options.version ?? 2;
  if (version !== 1 && version !== 2) {
    throw new NvsInputError("E_NVS_VERSION", `NVS format version ${version}: use 1 or 2`);
  }
  const versionByte = version === 1 ? NVS_VERSION1_BYTE : NVS_VERSION2_BYTE;
  const rows = Array.isArray(input)
    ? input as readonly NvsRow[]
    : nvsRowsFromData(input as NvsData);
  const layoutOptions = { wifiExtras: options.wifiExtras ?? true, room: options.size };
  let writer: PageWriter;
  try {
    writer = layOut(rows, versionByte, layout.dataPages * NVS_PAGE_SIZE, layoutOptions);
  } catch (e) {
    if (!(e instanceof OutOfPages)) throw e;
    const needed = layOut(rows, versionByte, Infinity, layoutOptions).pageCount;
    const minSize = Math.max(needed + 1, 3) * NVS_PAGE_SIZE;
    throw new NvsInputError(
      "E_NVS_FULL",
      `the data needs ${needed} NVS pages but a 0x${options.size.toString(16)} partition ` +
        `holds ${layout.dataPages}${
          layout.readOnly ? " (read-only)" : " (one page stays free)"
        }: ` +
        `make the partition at least 0x${minSize.toString(16)} bytes, or store less`,
      { details: { size: options.size, pagesNeeded: needed, minSize } },
    );
  }
  return writer.finish(options.size, layout.readOnly);
}
