/**
 * Reading NVS partitions back: an image file, or the partition read from a
 * chip. Decodes pages, namespaces, keys and values (blobs reassembled from
 * their chunks) the way ESP-IDF's NVS library reads them on the device
 * (`nvs_page.cpp`, `nvs_storage.cpp`), and reports what the device would
 * skip or erase (bad CRCs, bad spans, half-written entries, orphan blob
 * chunks) instead of throwing: an audit wants the whole picture.
 *
 * @module
 */

import {
  NVS_BITMAP_OFFSET,
  NVS_CHUNK_ANY,
  NVS_ENTRIES_PER_PAGE,
  NVS_ENTRY_SIZE,
  NVS_FIRST_ENTRY_OFFSET,
  NVS_INTEGER_TYPES,
  NVS_NAMESPACE_INDEX,
  NVS_PAGE_SIZE,
  NVS_VERSION1_BYTE,
  NVS_VERSION2_BYTE,
  nvsCrc32,
  nvsEntryCrc,
  NvsEntryStateValue,
  NvsFormatError,
  nvsHeaderCrc,
  type NvsIntegerType,
  NvsItemTypeCode,
  NvsPageStateValue,
} from "./nvs_format.ts";

/** A page's state as its header says (or `corrupt` when the header cannot be trusted). */
export type NvsPageState =
  | "uninitialized"
  | "active"
  | "full"
  | "freeing"
  | "corrupt"
  | "unknown";

/** One page of the partition. */
export interface NvsPageInfo {
  /** Page number in the partition (its offset / 4096). */
  index: number;
  /** Byte offset in the image. */
  offset: number;
  /** State. `corrupt` also for a header whose CRC does not match, or an erased header over data. */
  state: NvsPageState;
  /** The raw state word. */
  stateValue: number;
  /** Sequence number (the order ESP-IDF wrote pages in); null when the header is not valid. */
  sequence: number | null;
  /** Format version (1 or 2) from the header; null when unknown or the header is not valid. */
  version: 1 | 2 | null;
  /** Whether the header's CRC matches; null for an uninitialized page. */
  headerCrcOk: boolean | null;
  /** Entry counts from the state bitmap (all zero for a page whose entries are not read). */
  entries: { written: number; erased: number; empty: number; illegal: number };
}

/** What an item holds: an integer type, a string, or a blob. */
export type NvsItemType = NvsIntegerType | "string" | "blob";

/** A value as read: a number (integers up to 32 bits), a bigint (64-bit), text, or bytes. */
export type NvsItemValue = number | bigint | string | Uint8Array;

/** One key with its value, as the firmware would read it. */
export interface NvsItem {
  /** Namespace name; null when no namespace entry defines its index. */
  namespace: string | null;
  /** Namespace index (1..254). */
  nsIndex: number;
  /** Key. */
  key: string;
  /** Type. */
  type: NvsItemType;
  /** Value: integers up to 32 bits as numbers, 64-bit as bigints, strings without their NUL, blobs as bytes. */
  value: NvsItemValue;
  /** Size of the value in bytes (strings without NUL). */
  size: number;
  /** Page of the item's entry (the blob index for a chunked blob). */
  page: number;
  /** Entry number in that page. */
  entry: number;
  /** Entries the item takes there (header and data). */
  span: number;
  /** For a version-2 blob: where its chunks are. */
  chunks?: { page: number; entry: number; index: number; size: number }[];
}

/** An entry marked erased (a value that was overwritten or deleted). */
export interface NvsErasedEntry {
  /** Page number. */
  page: number;
  /** Entry number. */
  entry: number;
  /** Namespace index. */
  nsIndex: number;
  /** Key. */
  key: string;
  /** Type name (`u8` … `string`, `blob`, `blob-data`, `blob-index`) or the hex code. */
  type: string;
  /** Entries it took. */
  span: number;
}

/** Kinds of damage {@link parseNvs} reports. */
export type NvsProblemKind =
  | "truncated"
  | "page-header-crc"
  | "page-not-empty"
  | "page-state"
  | "page-version"
  | "duplicate-sequence"
  | "entry-crc"
  | "data-crc"
  | "span"
  | "half-written"
  | "illegal-state"
  | "unknown-type"
  | "namespace-entry"
  | "unknown-namespace"
  | "blob-incomplete"
  | "orphan-chunk"
  | "duplicate-key"
  | "string-terminator";

/** Something wrong in the partition, where, and what it means. */
export interface NvsProblem {
  /** What kind of damage. */
  kind: NvsProblemKind;
  /** Page number. */
  page: number;
  /** First entry concerned, if one. */
  entry?: number;
  /** Number of entries concerned (for runs of bad entries). */
  count?: number;
  /** The key concerned, when readable. */
  key?: string;
  /** For people. */
  message: string;
}

/** Everything {@link parseNvs} found. */
export interface NvsReport {
  /** Image size in bytes. */
  size: number;
  /** Every page, in partition order. */
  pages: NvsPageInfo[];
  /** Namespaces defined, in index order. */
  namespaces: { name: string; index: number; page: number; entry: number }[];
  /** Live items, in the order ESP-IDF wrote them (page sequence, then entry). */
  items: NvsItem[];
  /** Erased entries with a readable header. */
  erased: NvsErasedEntry[];
  /** Damage found; empty for a healthy partition. */
  problems: NvsProblem[];
}

const TYPE_NAMES = new Map<number, string>([
  ...Object.entries(NVS_INTEGER_TYPES).map(([name, f]) => [f.code, name] as [number, string]),
  [NvsItemTypeCode.SZ, "string"],
  [NvsItemTypeCode.BLOB, "blob"],
  [NvsItemTypeCode.BLOB_DATA, "blob-data"],
  [NvsItemTypeCode.BLOB_IDX, "blob-index"],
]);

const INT_BY_CODE = new Map<number, NvsIntegerType>(
  Object.entries(NVS_INTEGER_TYPES).map(([name, f]) => [f.code, name as NvsIntegerType]),
);

function isVarlen(code: number): boolean {
  return code === NvsItemTypeCode.SZ || code === NvsItemTypeCode.BLOB ||
    code === NvsItemTypeCode.BLOB_DATA;
}

function typeName(code: number): string {
  return TYPE_NAMES.get(code) ?? `0x${code.toString(16).padStart(2, "0")}`;
}

function keyOf(e: Uint8Array): string {
  const raw = e.subarray(8, 24);
  const end = raw.indexOf(0);
  return String.fromCharCode(...raw.subarray(0, end < 0 ? 16 : end));
}

/** An entry read from a page, before items are put together. */
interface Rec {
  seq: number;
  page: number;
  entry: number;
  ns: number;
  code: number;
  span: number;
  chunkIndex: number;
  key: string;
  e: Uint8Array;
  data?: Uint8Array;
}

const STATE_NAMES: [number, NvsPageState][] = [
  [NvsPageStateValue.UNINITIALIZED, "uninitialized"],
  [NvsPageStateValue.ACTIVE, "active"],
  [NvsPageStateValue.FULL, "full"],
  [NvsPageStateValue.FREEING, "freeing"],
  [NvsPageStateValue.CORRUPT, "corrupt"],
];

/**
 * Decode an NVS partition: pages (state, sequence number, version),
 * namespaces, and every key with its type and value; erased entries and
 * damage are reported, not thrown.
 *
 * @example
 * ```ts
 * import { parseNvs } from "./nvs_parse.ts";
 * const report = parseNvs(await Deno.readFile("nvs.bin"));
 * for (const item of report.items) console.log(item.namespace, item.key, item.value);
 * if (report.problems.length) console.log(report.problems.map((p) => p.message));
 * ```
 *
 * @throws {NvsFormatError} only when the data is shorter than one page.
 */
export function parseNvs(image: Uint8Array): NvsReport {
  if (image.length < NVS_PAGE_SIZE) {
    throw new NvsFormatError(
      `${image.length} bytes is less than one 4096-byte NVS page: read the whole partition ` +
        "(its size is in the partition table)",
      { details: { size: image.length } },
    );
  }
  const problems: NvsProblem[] = [];
  const pages: NvsPageInfo[] = [];
  const recs: Rec[] = [];
  const erased: NvsErasedEntry[] = [];
  const pageCount = Math.floor(image.length / NVS_PAGE_SIZE);
  if (image.length % NVS_PAGE_SIZE) {
    problems.push({
      kind: "truncated",
      page: pageCount,
      message: `the image ends ${
        image.length % NVS_PAGE_SIZE
      } bytes into page ${pageCount}: that part page is not read`,
    });
  }
  for (let p = 0; p < pageCount; p++) {
    const page = image.subarray(p * NVS_PAGE_SIZE, (p + 1) * NVS_PAGE_SIZE);
    const info = readPage(page, p, problems);
    pages.push(info);
    if (
      info.sequence !== null && (info.state === "active" || info.state === "full" ||
        info.state === "freeing")
    ) {
      readEntries(page, info, recs, erased, problems);
    }
  }
  const seqs = new Map<number, number>();
  for (const pg of pages) {
    if (pg.sequence === null || pg.state === "corrupt" || pg.state === "unknown") continue;
    const other = seqs.get(pg.sequence);
    if (other !== undefined) {
      problems.push({
        kind: "duplicate-sequence",
        page: pg.index,
        message: `pages ${other} and ${pg.index} both have sequence number ${pg.sequence}: ` +
          "ESP-IDF cannot tell which is newer",
      });
    } else seqs.set(pg.sequence, pg.index);
  }
  // ESP-IDF reads pages in sequence-number order; later entries win.
  recs.sort((a, b) => a.seq - b.seq || a.page - b.page || a.entry - b.entry);
  return { size: image.length, pages, ...assemble(recs, problems), erased, problems };
}

function readPage(page: Uint8Array, index: number, problems: NvsProblem[]): NvsPageInfo {
  const view = new DataView(page.buffer, page.byteOffset, page.byteLength);
  const stateValue = view.getUint32(0, true);
  const info: NvsPageInfo = {
    index,
    offset: index * NVS_PAGE_SIZE,
    state: "unknown",
    stateValue,
    sequence: null,
    version: null,
    headerCrcOk: null,
    entries: { written: 0, erased: 0, empty: 0, illegal: 0 },
  };
  if (stateValue === NvsPageStateValue.UNINITIALIZED) {
    if (page.every((b) => b === 0xff)) {
      info.state = "uninitialized";
      info.entries.empty = NVS_ENTRIES_PER_PAGE;
    } else {
      info.state = "corrupt";
      problems.push({
        kind: "page-not-empty",
        page: index,
        message: `page ${index} has an erased header but holds data (an interrupted write or ` +
          "stray data): ESP-IDF treats it as corrupt and ignores it",
      });
    }
    return info;
  }
  info.headerCrcOk = view.getUint32(28, true) === nvsHeaderCrc(page);
  if (!info.headerCrcOk) {
    info.state = "corrupt";
    problems.push({
      kind: "page-header-crc",
      page: index,
      message: `page ${index}'s header CRC does not match: ESP-IDF treats the page as corrupt ` +
        "and ignores its entries",
    });
    return info;
  }
  info.sequence = view.getUint32(4, true);
  const versionByte = page[8];
  info.version = versionByte === NVS_VERSION2_BYTE
    ? 2
    : versionByte === NVS_VERSION1_BYTE
    ? 1
    : null;
  if (info.version === null) {
    problems.push({
      kind: "page-version",
      page: index,
      message: `page ${index} has format version byte 0x${
        versionByte.toString(16)
      }, neither 1 (0xff) nor 2 (0xfe): written by a newer NVS library?`,
    });
  }
  info.state = STATE_NAMES.find(([v]) => v === stateValue)?.[1] ?? "unknown";
  if (info.state === "corrupt" || info.state === "unknown") {
    problems.push({
      kind: "page-state",
      page: index,
      message: info.state === "corrupt"
        ? `page ${index} was marked corrupt by the device: its entries are ignored`
        : `page ${index} has the state word 0x${
          stateValue.toString(16).padStart(8, "0")
        }, which is no NVS page state: its entries are ignored`,
    });
  }
  return info;
}

function entryState(page: Uint8Array, i: number): number {
  const bit = i * 2;
  return (page[NVS_BITMAP_OFFSET + (bit >> 3)] >> (bit & 7)) & 0b11;
}

function readEntries(
  page: Uint8Array,
  info: NvsPageInfo,
  recs: Rec[],
  erased: NvsErasedEntry[],
  problems: NvsProblem[],
): void {
  const p = info.index;
  const entryAt = (i: number) =>
    page.subarray(
      NVS_FIRST_ENTRY_OFFSET + i * NVS_ENTRY_SIZE,
      NVS_FIRST_ENTRY_OFFSET + (i + 1) * NVS_ENTRY_SIZE,
    );
  const states = Array.from({ length: NVS_ENTRIES_PER_PAGE }, (_, i) => entryState(page, i));
  for (const s of states) {
    if (s === NvsEntryStateValue.WRITTEN) info.entries.written++;
    else if (s === NvsEntryStateValue.ERASED) info.entries.erased++;
    else if (s === NvsEntryStateValue.EMPTY) info.entries.empty++;
    else info.entries.illegal++;
  }
  let badRun: NvsProblem | null = null;
  const badCrc = (i: number) => {
    if (badRun && badRun.entry! + badRun.count! === i) {
      badRun.count!++;
      badRun.message = `entries ${badRun.entry}–${i} of page ${p} have bad CRCs: ESP-IDF ` +
        "erases them";
      return;
    }
    badRun = {
      kind: "entry-crc",
      page: p,
      entry: i,
      count: 1,
      message: `entry ${i} of page ${p} has a bad CRC: ESP-IDF erases it`,
    };
    problems.push(badRun);
  };
  let i = 0;
  while (i < NVS_ENTRIES_PER_PAGE) {
    const state = states[i];
    const e = entryAt(i);
    if (state === NvsEntryStateValue.EMPTY) {
      if (!e.every((b) => b === 0xff)) {
        problems.push({
          kind: "half-written",
          page: p,
          entry: i,
          message: `entry ${i} of page ${p} holds data but is not marked written (a write cut ` +
            "short): ESP-IDF erases it",
        });
      }
      i++;
      continue;
    }
    if (state === NvsEntryStateValue.ILLEGAL) {
      problems.push({
        kind: "illegal-state",
        page: p,
        entry: i,
        message: `entry ${i} of page ${p} has the state bits 01, which no write produces: ` +
          "ESP-IDF erases it",
      });
      i++;
      continue;
    }
    const crcOk = new DataView(e.buffer, e.byteOffset, 32).getUint32(4, true) === nvsEntryCrc(e);
    const code = e[1];
    const span = e[2];
    const spanFits = span >= 1 && i + span <= NVS_ENTRIES_PER_PAGE;
    if (state === NvsEntryStateValue.ERASED) {
      if (!crcOk) {
        i++;
        continue;
      }
      erased.push({ page: p, entry: i, nsIndex: e[0], key: keyOf(e), type: typeName(code), span });
      const all = spanFits && isVarlen(code) &&
        states.slice(i, i + span).every((s) => s === NvsEntryStateValue.ERASED);
      i += all ? span : 1;
      continue;
    }
    // Written.
    if (!crcOk) {
      badCrc(i);
      i++;
      continue;
    }
    badRun = null;
    const key = keyOf(e);
    const rec: Rec = {
      seq: info.sequence!,
      page: p,
      entry: i,
      ns: e[0],
      code,
      span,
      chunkIndex: e[3],
      key,
      e,
    };
    if (isVarlen(code)) {
      if (!spanFits) {
        problems.push({
          kind: "span",
          page: p,
          entry: i,
          key,
          message: `"${key}" (entry ${i} of page ${p}) claims ${span} entries, more than the ` +
            "page has left: ESP-IDF erases it",
        });
        i++;
        continue;
      }
      if (!states.slice(i + 1, i + span).every((s) => s === NvsEntryStateValue.WRITTEN)) {
        problems.push({
          kind: "half-written",
          page: p,
          entry: i,
          count: span,
          key,
          message: `"${key}" (entry ${i} of page ${p}) spans ${span} entries but not all of ` +
            "them are marked written (a write cut short): ESP-IDF erases it",
        });
        i++;
        continue;
      }
      const size = new DataView(e.buffer, e.byteOffset, 32).getUint16(24, true);
      if (size > (span - 1) * NVS_ENTRY_SIZE) {
        problems.push({
          kind: "span",
          page: p,
          entry: i,
          key,
          message: `"${key}" (entry ${i} of page ${p}) says it holds ${size} bytes but spans ` +
            `only ${span - 1} data entries: the value cannot be read`,
        });
        i += span;
        continue;
      }
      const start = NVS_FIRST_ENTRY_OFFSET + (i + 1) * NVS_ENTRY_SIZE;
      const data = page.subarray(start, start + size);
      if (nvsCrc32(data) !== new DataView(e.buffer, e.byteOffset, 32).getUint32(28, true)) {
        problems.push({
          kind: "data-crc",
          page: p,
          entry: i,
          key,
          message: `"${key}" (entry ${i} of page ${p}): its data does not match its CRC: ` +
            "ESP-IDF reports it as not found and erases it",
        });
        i += span;
        continue;
      }
      rec.data = data;
      recs.push(rec);
      i += span;
      continue;
    }
    if (INT_BY_CODE.has(code) || code === NvsItemTypeCode.BLOB_IDX) {
      if (span !== 1) {
        problems.push({
          kind: "span",
          page: p,
          entry: i,
          key,
          message: `"${key}" (entry ${i} of page ${p}) is a ${
            typeName(code)
          } with span ${span}; such entries take one: read as one`,
        });
      }
      recs.push(rec);
      i++;
      continue;
    }
    problems.push({
      kind: "unknown-type",
      page: p,
      entry: i,
      key,
      message: `"${key}" (entry ${i} of page ${p}) has the type code 0x${
        code.toString(16).padStart(2, "0")
      }, which is no NVS type: skipped`,
    });
    i++;
  }
}

function intValue(e: Uint8Array, type: NvsIntegerType): number | bigint {
  const v = new DataView(e.buffer, e.byteOffset + 24, 8);
  switch (type) {
    case "u8":
      return v.getUint8(0);
    case "i8":
      return v.getInt8(0);
    case "u16":
      return v.getUint16(0, true);
    case "i16":
      return v.getInt16(0, true);
    case "u32":
      return v.getUint32(0, true);
    case "i32":
      return v.getInt32(0, true);
    case "u64":
      return v.getBigUint64(0, true);
    default:
      return v.getBigInt64(0, true);
  }
}

function assemble(
  recs: Rec[],
  problems: NvsProblem[],
): Pick<NvsReport, "namespaces" | "items"> {
  const namespaces: NvsReport["namespaces"] = [];
  const nsNames = new Map<number, string>();
  const items: NvsItem[] = [];
  const chunks: Rec[] = [];
  const indexes: Rec[] = [];
  for (const r of recs) {
    if (r.ns === NVS_NAMESPACE_INDEX) {
      if (r.code !== NvsItemTypeCode.U8) {
        problems.push({
          kind: "namespace-entry",
          page: r.page,
          entry: r.entry,
          key: r.key,
          message: `"${r.key}" (entry ${r.entry} of page ${r.page}) is in namespace index 0, ` +
            `which holds only namespace names (u8), but is a ${typeName(r.code)}: ignored`,
        });
        continue;
      }
      const index = r.e[24];
      const taken = nsNames.get(index);
      if (taken !== undefined && taken !== r.key) {
        problems.push({
          kind: "namespace-entry",
          page: r.page,
          entry: r.entry,
          key: r.key,
          message: `namespaces "${taken}" and "${r.key}" both claim index ${index}`,
        });
      }
      nsNames.set(index, r.key);
      namespaces.push({ name: r.key, index, page: r.page, entry: r.entry });
      continue;
    }
    if (r.code === NvsItemTypeCode.BLOB_DATA) chunks.push(r);
    else if (r.code === NvsItemTypeCode.BLOB_IDX) indexes.push(r);
    else items.push(plainItem(r, problems));
  }
  // Version-2 blobs: an index names the chunks chunkStart … chunkStart + count − 1.
  for (const idx of indexes) {
    const view = new DataView(idx.e.buffer, idx.e.byteOffset, 32);
    const size = view.getUint32(24, true);
    const count = idx.e[28];
    const start = idx.e[29];
    const parts: Rec[] = [];
    let missing = -1;
    for (let c = 0; c < count; c++) {
      const want = (start + c) & 0xff;
      const found = chunks.filter((ch) =>
        ch.ns === idx.ns && ch.key === idx.key && ch.chunkIndex === want
      );
      if (!found.length) {
        missing = want;
        break;
      }
      parts.push(found[found.length - 1]);
    }
    const total = parts.reduce((n, ch) => n + ch.data!.length, 0);
    if (missing >= 0 || total !== size || start === NVS_CHUNK_ANY) {
      problems.push({
        kind: "blob-incomplete",
        page: idx.page,
        entry: idx.entry,
        key: idx.key,
        message: missing >= 0
          ? `blob "${idx.key}" (index at entry ${idx.entry} of page ${idx.page}) lacks chunk ` +
            `${missing} of ${count}: the firmware cannot read it`
          : `blob "${idx.key}" (index at entry ${idx.entry} of page ${idx.page}) should hold ` +
            `${size} bytes but its ${count} chunks hold ${total}: the firmware cannot read it`,
      });
      continue;
    }
    const value = new Uint8Array(size);
    let at = 0;
    for (const ch of parts) {
      value.set(ch.data!, at);
      at += ch.data!.length;
    }
    items.push({
      namespace: null,
      nsIndex: idx.ns,
      key: idx.key,
      type: "blob",
      value,
      size,
      page: idx.page,
      entry: idx.entry,
      span: idx.span,
      chunks: parts.map((ch) => ({
        page: ch.page,
        entry: ch.entry,
        index: ch.chunkIndex,
        size: ch.data!.length,
      })),
    });
  }
  // ESP-IDF keeps a chunk whose index names its chunk range, even when the blob is incomplete.
  for (const ch of chunks) {
    const owned = indexes.some((idx) =>
      idx.ns === ch.ns && idx.key === ch.key && ch.chunkIndex >= idx.e[29] &&
      ch.chunkIndex < idx.e[29] + idx.e[28]
    );
    if (owned) continue;
    problems.push({
      kind: "orphan-chunk",
      page: ch.page,
      entry: ch.entry,
      key: ch.key,
      message:
        `blob chunk ${ch.chunkIndex} of "${ch.key}" (entry ${ch.entry} of page ${ch.page}) ` +
        "belongs to no blob index: ESP-IDF erases it at start-up",
    });
  }
  // Put items back in writing order, name their namespaces, and find keys written twice.
  const order = new Map(recs.map((r, i) => [`${r.page}:${r.entry}`, i]));
  items.sort((a, b) => order.get(`${a.page}:${a.entry}`)! - order.get(`${b.page}:${b.entry}`)!);
  const latest = new Map<string, NvsItem>();
  for (const it of items) {
    it.namespace = nsNames.get(it.nsIndex) ?? null;
    const id = `${it.nsIndex}\0${it.key}`;
    const before = latest.get(id);
    if (before) {
      problems.push({
        kind: "duplicate-key",
        page: before.page,
        entry: before.entry,
        key: it.key,
        message: `"${it.key}" is written twice (entry ${before.entry} of page ${before.page}, ` +
          `then entry ${it.entry} of page ${it.page}): the firmware reads the later one`,
      });
    }
    latest.set(id, it);
  }
  const live = items.filter((it) => latest.get(`${it.nsIndex}\0${it.key}`) === it);
  for (const it of live) {
    if (it.namespace === null) {
      problems.push({
        kind: "unknown-namespace",
        page: it.page,
        entry: it.entry,
        key: it.key,
        message: `"${it.key}" (entry ${it.entry} of page ${it.page}) is in namespace index ` +
          `${it.nsIndex}, which no namespace entry defines: the firmware cannot open it`,
      });
    }
  }
  namespaces.sort((a, b) => a.index - b.index);
  return { namespaces, items: live };
}

function plainItem(r: Rec, problems: NvsProblem[]): NvsItem {
  const base = { namespace: null, nsIndex: r.ns, key: r.key, page: r.page, entry: r.entry };
  const intType = INT_BY_CODE.get(r.code);
  if (intType) {
    const value = intValue(r.e, intType);
    return { ...base, type: intType, value, size: NVS_INTEGER_TYPES[intType].bytes, span: 1 };
  }
  const data = r.data!;
  if (r.code === NvsItemTypeCode.SZ) {
    const terminated = data.length > 0 && data[data.length - 1] === 0;
    if (!terminated) {
      problems.push({
        kind: "string-terminator",
        page: r.page,
        entry: r.entry,
        key: r.key,
        message: `string "${r.key}" (entry ${r.entry} of page ${r.page}) does not end with a ` +
          "NUL: nvs_get_str hands the firmware an unterminated string",
      });
    }
    const text = data.subarray(0, terminated ? data.length - 1 : data.length);
    return {
      ...base,
      type: "string",
      value: new TextDecoder("utf-8", { ignoreBOM: true }).decode(text),
      size: text.length,
      span: r.span,
    };
  }
  return { ...base, type: "blob", value: data.slice(), size: data.length, span: r.span };
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The report as plain JSON data: 64-bit integers as decimal strings, blobs
 * as hex strings (`"value": "00ff…"`), everything else as is.
 *
 * @example
 * ```ts
 * import { nvsReportToJson, parseNvs } from "./nvs_parse.ts";
 * console.log(JSON.stringify(nvsReportToJson(parseNvs(await Deno.readFile("nvs.bin")))));
 * ```
 */
export function nvsReportToJson(report: NvsReport): Record<string, unknown> {
  return {
    ...report,
    items: report.items.map((it) => ({
      ...it,
      value: it.value instanceof Uint8Array
        ? hex(it.value)
        : typeof it.value === "bigint"
        ? it.value.toString()
        : it.value,
    })),
  };
}

const PREVIEW = 48;

/** One value as a short line: strings quoted, blobs as leading hex with their size. */
export function formatNvsValue(item: Pick<NvsItem, "type" | "value">): string {
  const v = item.value;
  if (v instanceof Uint8Array) {
    const head = hex(v.subarray(0, PREVIEW / 2)).replace(/(..)(?!$)/g, "$1 ");
    return `${v.length} bytes${v.length ? `: ${head}${v.length > PREVIEW / 2 ? " …" : ""}` : ""}`;
  }
  if (typeof v === "string") {
    const shown = v.length > PREVIEW
      ? `${JSON.stringify(v.slice(0, PREVIEW))} …`
      : JSON.stringify(v);
    return v.length > PREVIEW ? `${shown} (${new TextEncoder().encode(v).length} bytes)` : shown;
  }
  return String(v);
}

/**
 * The report for people: a page table, each namespace with its keys, types
 * and values, erased entries and problems.
 *
 * @example
 * ```ts
 * import { formatNvsReport, parseNvs } from "./nvs_parse.ts";
 * console.log(formatNvsReport(parseNvs(await Deno.readFile("nvs.bin"))));
 * ```
 */
export function formatNvsReport(report: NvsReport): string {
  const out: string[] = [];
  const versions = new Set(report.pages.map((p) => p.version).filter((v) => v !== null));
  out.push(
    `NVS partition: ${report.size} bytes (0x${report.size.toString(16)}), ${report.pages.length} ` +
      `pages${versions.size ? `, format version ${[...versions].join(" and ")}` : ""}`,
    "",
    "Page  Offset   State          Seq  Ver  Written  Erased  Empty",
  );
  for (const p of report.pages) {
    const read = p.sequence !== null;
    out.push(
      `${String(p.index).padEnd(5)} 0x${p.offset.toString(16).padStart(6, "0")} ${
        p.state.toUpperCase().padEnd(14)
      } ${(read ? String(p.sequence) : "-").padEnd(4)} ${(p.version ?? "-").toString().padEnd(4)} ${
        String(p.entries.written).padEnd(8)
      } ${String(p.entries.erased).padEnd(7)} ${p.entries.empty}`,
    );
  }
  const groups = new Map<string, NvsItem[]>();
  for (const it of report.items) {
    const name = it.namespace ?? `(index ${it.nsIndex}, undefined)`;
    groups.set(name, [...(groups.get(name) ?? []), it]);
  }
  for (const ns of report.namespaces) if (!groups.has(ns.name)) groups.set(ns.name, []);
  for (const [name, items] of groups) {
    const index = report.namespaces.find((n) => n.name === name)?.index;
    out.push("", `Namespace ${name}${index !== undefined ? ` (index ${index})` : ""}:`);
    if (!items.length) out.push("  (no keys)");
    const width = Math.max(3, ...items.map((it) => it.key.length));
    for (const it of items) {
      out.push(`  ${it.key.padEnd(width)}  ${it.type.padEnd(6)}  ${formatNvsValue(it)}`);
    }
  }
  if (report.erased.length) {
    out.push("", `Erased entries (${report.erased.length}):`);
    for (const e of report.erased) {
      out.push(`  page ${e.page} entry ${e.entry}: ${e.key} (${e.type}, namespace ${e.nsIndex})`);
    }
  }
  out.push("");
  if (report.problems.length) {
    out.push(`Problems (${report.problems.length}):`);
    for (const p of report.problems) out.push(`  ${p.kind}: ${p.message}`);
  } else out.push("No problems found.");
  return out.join("\n");
}
