/**
 * The virtual chip's own reading of an NVS partition, as ESP-IDF's NVS
 * library on the device sees it when the application calls
 * `nvs_flash_init()`, `nvs_open()` and the typed getters: which pages count
 * (state, sequence number, header CRC, format version), which entries count
 * (state bitmap, entry CRC, spans written in full), which namespaces exist,
 * and what `nvs_get_str(h, "serial_no", …)` returns, an error name included.
 *
 * Facts from ESP-IDF's NVS documentation ("NVS internals": page layout,
 * header fields and CRC range, page and entry states, item layout, item
 * types, namespaces, blob index and data chunks, format versions) and from
 * what its library returns (`nvs_flash_init`, `nvs_open`, `nvs_get_*`). The
 * client's reader (lib/image/nvs_parse.ts, an audit tool) is a second reading
 * of the same documents; this one is written apart from it and imports
 * nothing of the client, so the two check each other
 * (lib/sim/nvs_reader_test.ts runs both over ESP-IDF generator images).
 *
 * Written by hand: the format is small, and no package reads it.
 *
 * @module
 */

/** An NVS page is one flash sector (NVS docs: "Pages and entries"). */
export const NVS_PAGE_BYTES = 4096;
/** Entry size, and the page header's and bitmap's size (NVS docs: page structure). */
const ENTRY_BYTES = 32;
/** Entries per page: (4096 − 32 header − 32 bitmap) / 32. */
const ENTRIES = 126;
/** The entry state bitmap follows the 32-byte header. */
const BITMAP_AT = 32;
/** Entry 0 follows the bitmap. */
const ENTRIES_AT = 64;
/** Keys and namespace names: at most 15 characters (NVS docs: "Keys and values"). */
export const NVS_NAME_MAX = 15;

/** Page state words; a state changes by clearing bits (NVS docs: page states). */
const PAGE = {
  EMPTY: 0xffffffff,
  ACTIVE: 0xfffffffe,
  FULL: 0xfffffffc,
  FREEING: 0xfffffff8,
} as const;

/** Two bits per entry in the bitmap (NVS docs: entry states). */
const ENTRY = { EMPTY: 0b11, WRITTEN: 0b10, ERASED: 0b00 } as const;

/**
 * The header's version byte counts down from 0xFF (format version 1); 0xFE is
 * version 2, the newest the library modelled here reads. A smaller byte is a
 * newer format (NVS docs: page header "version").
 */
const VERSION2_BYTE = 0xfe;

/** Item type codes (NVS docs: item types; ESP-IDF nvs_types.h ItemType). */
const TYPE = {
  U8: 0x01,
  I8: 0x11,
  U16: 0x02,
  I16: 0x12,
  U32: 0x04,
  I32: 0x14,
  U64: 0x08,
  I64: 0x18,
  SZ: 0x21,
  /** A blob in one page (format version 1). */
  BLOB: 0x41,
  /** One chunk of a version-2 blob. */
  BLOB_DATA: 0x42,
  /** A version-2 blob's index: total size, chunk count, first chunk index. */
  BLOB_IDX: 0x48,
} as const;

/** The namespace index whose u8 entries name the namespaces (NVS docs: namespaces). */
const NS_NAMES = 0;
/** Chunk index of every entry that is not a blob chunk. */
const CHUNK_NONE = 0xff;
/** Partition table flag bit 1: read-only (ESP-IDF partition tables, `readonly` flag). */
export const PARTITION_FLAG_READONLY = 0x2;

/** The integer getters: the item type each reads, its width and sign. */
const INT_TYPES = {
  u8: { code: TYPE.U8, bytes: 1, signed: false },
  i8: { code: TYPE.I8, bytes: 1, signed: true },
  u16: { code: TYPE.U16, bytes: 2, signed: false },
  i16: { code: TYPE.I16, bytes: 2, signed: true },
  u32: { code: TYPE.U32, bytes: 4, signed: false },
  i32: { code: TYPE.I32, bytes: 4, signed: true },
  u64: { code: TYPE.U64, bytes: 8, signed: false },
  i64: { code: TYPE.I64, bytes: 8, signed: true },
} as const;

/** What the application asks for: a typed getter (`nvs_get_u8` … `nvs_get_str`, `nvs_get_blob`). */
export type NvsGetType = keyof typeof INT_TYPES | "str" | "blob";

/** Every getter type, in ESP-IDF's order. */
export const NVS_GET_TYPES: readonly NvsGetType[] = [
  ...(Object.keys(INT_TYPES) as (keyof typeof INT_TYPES)[]),
  "str",
  "blob",
];

/** esp_err_t names the NVS calls return here (ESP-IDF esp_err_to_name). */
export type NvsErrorName =
  /** nvs_flash_init: no data/nvs partition labelled "nvs" in the table. */
  | "ESP_ERR_NOT_FOUND"
  /** nvs_flash_init: every page holds data (a writable partition needs one free page). */
  | "ESP_ERR_NVS_NO_FREE_PAGES"
  /** nvs_flash_init: a page in a newer format than version 2. */
  | "ESP_ERR_NVS_NEW_VERSION_FOUND"
  /** nvs_flash_init: no page to start or finish a page move in. */
  | "ESP_ERR_NVS_NOT_ENOUGH_SPACE"
  /** nvs_open after a failed nvs_flash_init. */
  | "ESP_ERR_NVS_NOT_INITIALIZED"
  /** nvs_open (read-only) of a namespace that does not exist; a getter's key that does not, or not with that type, or whose data fails its CRC. */
  | "ESP_ERR_NVS_NOT_FOUND";

/** A value as a getter returns it: integers (64-bit ones as bigints), string bytes (without the terminating NUL), blob bytes. */
export type NvsGetValue = number | bigint | Uint8Array;

/** A getter's result. */
export type NvsGetResult =
  | { ok: true; value: NvsGetValue }
  | { ok: false; error: NvsErrorName };

/** A key the application can read, and the getter that reads it. */
export interface NvsKeyInfo {
  /** Namespace name (the first one listed for its index, should two claim it). */
  namespace: string;
  /** Namespace index. */
  nsIndex: number;
  /** Key. */
  key: string;
  /** The getter that returns it. */
  type: NvsGetType;
}

/** CRC-32 as ESP-IDF's NVS computes it: esp_rom_crc32_le(0xFFFFFFFF, …) (reflected 0xEDB88320, register starting at 0). */
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc(parts: Uint8Array[]): number {
  let r = 0;
  for (const p of parts) for (const b of p) r = CRC_TABLE[(r ^ b) & 0xff] ^ (r >>> 8);
  return ~r >>> 0;
}

function u32(b: Uint8Array, at: number): number {
  return (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
}

function isVarLength(code: number): boolean {
  return code === TYPE.SZ || code === TYPE.BLOB || code === TYPE.BLOB_DATA;
}

/** A key as the library compares it: up to its NUL, at most 15 characters counted. */
function keyOf(e: Uint8Array): string {
  const raw = e.subarray(8, 8 + NVS_NAME_MAX);
  const end = raw.indexOf(0);
  return String.fromCharCode(...(end >= 0 ? raw.subarray(0, end) : raw));
}

/** One entry the library keeps after its start-up checks. */
interface Item {
  ns: number;
  type: number;
  span: number;
  chunk: number;
  key: string;
  /** The 32-byte entry. */
  entry: Uint8Array;
  /** For strings, v1 blobs and chunks: the data entries that follow. */
  data?: Uint8Array;
}

interface LoadedPage {
  index: number;
  seq: number;
  state: number;
  items: Item[];
}

/** Options of {@link initNvs}. */
export interface InitNvsOptions {
  /**
   * The partition is flagged read-only in the partition table: it needs no
   * free page, and the library changes nothing in it. Default false.
   */
  readOnly?: boolean;
}

/** What `nvs_flash_init()` made of a partition. */
export type NvsInitResult =
  | { ok: true; nvs: NvsStorage }
  | { ok: false; error: NvsErrorName };

/**
 * Read an NVS partition as `nvs_flash_init()` does: pages with a valid header
 * in sequence-number order, erased and uninitialized pages free, a page with
 * a damaged header or an erased header over data counted as corrupt (free),
 * entries with a bad CRC or a span not written in full left out. It fails
 * as the library does: a page in a format newer than version 2
 * (`ESP_ERR_NVS_NEW_VERSION_FOUND`), no free page in a writable partition
 * (`ESP_ERR_NVS_NO_FREE_PAGES`).
 *
 * @example
 * ```ts
 * import { initNvs } from "./nvs_reader.ts";
 * const init = initNvs(new Uint8Array(0x3000).fill(0xff));
 * if (init.ok) console.log(init.nvs.namespaceIndex("factory")); // null: an erased partition
 * ```
 */
export function initNvs(partition: Uint8Array, options: InitNvsOptions = {}): NvsInitResult {
  const pageCount = Math.floor(partition.length / NVS_PAGE_BYTES);
  const used: LoadedPage[] = [];
  let free = 0;
  for (let p = 0; p < pageCount; p++) {
    const page = partition.subarray(p * NVS_PAGE_BYTES, (p + 1) * NVS_PAGE_BYTES);
    const state = u32(page, 0);
    if (state === PAGE.EMPTY) {
      free++; // empty, or data under an erased header: corrupt, erased before use
      continue;
    }
    if (u32(page, 28) !== crc([page.subarray(4, 28)])) {
      free++; // a damaged header: the page is corrupt
      continue;
    }
    if (page[8] < VERSION2_BYTE) return { ok: false, error: "ESP_ERR_NVS_NEW_VERSION_FOUND" };
    if (state !== PAGE.ACTIVE && state !== PAGE.FULL && state !== PAGE.FREEING) {
      free++; // marked corrupt, or no state at all
      continue;
    }
    const loaded = { index: p, seq: u32(page, 4), state, items: readItems(page, state) };
    // In sequence order; a page with the same number goes after those already placed.
    const at = used.findIndex((u) => u.seq > loaded.seq);
    used.splice(at < 0 ? used.length : at, 0, loaded);
  }
  if (used.length === 0) {
    // The library starts its first page.
    return free === 0
      ? { ok: false, error: "ESP_ERR_NVS_NOT_ENOUGH_SPACE" }
      : { ok: true, nvs: new NvsStorage([]) };
  }
  if (!options.readOnly) {
    dropLastDuplicate(used);
    const freeing = used.find((u) => u.state === PAGE.FREEING);
    if (freeing) {
      // Power went out while a page was being moved: the copy in the newest
      // (active) page is thrown away, the items are copied again into a new
      // page, and the page being freed is erased.
      const last = used[used.length - 1];
      if (last !== freeing && last.state === PAGE.ACTIVE) {
        used.pop();
        free++;
      }
      if (free === 0) return { ok: false, error: "ESP_ERR_NVS_NOT_ENOUGH_SPACE" };
      used.splice(used.indexOf(freeing), 1);
      used.push({ ...freeing, state: PAGE.ACTIVE });
    }
    if (free === 0) return { ok: false, error: "ESP_ERR_NVS_NO_FREE_PAGES" };
  }
  return { ok: true, nvs: new NvsStorage(used.map((u) => u.items)) };
}

/** The entries of a page the library keeps (NVS docs: entry states, spans, CRCs). */
function readItems(page: Uint8Array, state: number): Item[] {
  const stateOf = (i: number) => (page[BITMAP_AT + (i >> 2)] >> ((i & 3) * 2)) & 0b11;
  const entryAt = (i: number) =>
    page.subarray(ENTRIES_AT + i * ENTRY_BYTES, ENTRIES_AT + (i + 1) * ENTRY_BYTES);
  let end = ENTRIES;
  if (state === PAGE.ACTIVE) {
    // The page is written up to its first empty entry. Entries from there on
    // are not read: those holding data (a write cut short before its bitmap
    // bits) are erased, and the page's next write goes after them.
    end = 0;
    while (end < ENTRIES && stateOf(end) !== ENTRY.EMPTY) end++;
  }
  const items: Item[] = [];
  let i = 0;
  while (i < end) {
    if (stateOf(i) !== ENTRY.WRITTEN) {
      i++;
      continue;
    }
    const e = entryAt(i);
    if (u32(e, 4) !== crc([e.subarray(0, 4), e.subarray(8, 32)])) {
      i++; // a bad CRC: the entry is erased
      continue;
    }
    const item: Item = { ns: e[0], type: e[1], span: e[2], chunk: e[3], key: keyOf(e), entry: e };
    if (isVarLength(item.type)) {
      const span = item.span;
      const whole = span >= 1 && i + span <= ENTRIES &&
        Array.from({ length: span }, (_, k) => stateOf(i + k)).every((s) => s === ENTRY.WRITTEN);
      if (whole) {
        item.data = page.subarray(
          ENTRIES_AT + (i + 1) * ENTRY_BYTES,
          ENTRIES_AT + (i + span) * ENTRY_BYTES,
        );
        items.push(item);
      }
      // Not written in full: erased, span and all.
      i += Math.max(1, Math.min(span, ENTRIES - i));
      continue;
    }
    items.push(item);
    i++;
  }
  if (state === PAGE.ACTIVE) {
    // On the page being written, an item written again replaces the earlier
    // one with the same namespace, key and chunk index (a write whose erase
    // of the old value was cut short).
    const seen = new Map<string, number>();
    const dropped = new Set<number>();
    items.forEach((it, k) => {
      const id = `${it.ns}\0${it.key}\0${it.chunk}`;
      const before = seen.get(id);
      if (before !== undefined) dropped.add(before);
      seen.set(id, k);
    });
    return items.filter((_, k) => !dropped.has(k));
  }
  return items;
}

/**
 * The newest page's last item may have been written without its old value
 * being erased: the first older copy (same namespace, type, key and chunk)
 * is dropped, as the library does at start-up.
 */
function dropLastDuplicate(used: LoadedPage[]): void {
  const last = used[used.length - 1];
  const item = last.items[last.items.length - 1];
  if (!item) return;
  for (const page of used.slice(0, -1)) {
    if (page.state === PAGE.FREEING) continue;
    const k = page.items.findIndex((it) =>
      it.ns === item.ns && it.type === item.type && it.key === item.key && it.chunk === item.chunk
    );
    if (k >= 0) {
      page.items.splice(k, 1);
      return;
    }
  }
}

/** The first matching item in the library's search order (pages by sequence number, then entries). */
function find(
  pages: Item[][],
  ns: number,
  type: number,
  key: string,
  chunk = CHUNK_NONE,
): Item | null {
  for (const items of pages) {
    for (const it of items) {
      if (it.ns === ns && it.key === key && it.chunk === chunk && it.type === type) return it;
    }
  }
  return null;
}

/** Data of a string, v1 blob or chunk, checked against its CRC; null when it does not match. */
function varData(it: Item): Uint8Array | null {
  const size = it.entry[24] | (it.entry[25] << 8);
  if (!it.data || size > it.data.length) return null;
  const data = it.data.subarray(0, size);
  return crc([data]) === u32(it.entry, 28) ? data : null;
}

/**
 * An initialized NVS partition: its namespaces and the typed getters, with
 * the results ESP-IDF's library gives. A getter whose type is not the key's
 * finds nothing (`ESP_ERR_NVS_NOT_FOUND`), as the library's search does.
 */
export class NvsStorage {
  #pages: Item[][];
  #namespaces: { name: string; index: number }[] = [];

  /** Wrap the items of the pages in use, oldest page first (see {@link initNvs}). */
  constructor(pages: Item[][]) {
    this.#pages = pages;
    for (const items of pages) {
      for (const it of items) {
        if (it.ns !== NS_NAMES) continue;
        // The library lists namespace entries of a page until one is not a u8.
        if (it.type !== TYPE.U8) break;
        this.#namespaces.push({ name: it.key, index: it.entry[24] });
      }
    }
  }

  /** The namespaces defined, in the order the library lists them. */
  get namespaces(): readonly { name: string; index: number }[] {
    return this.#namespaces;
  }

  /**
   * The index `nvs_open(name, NVS_READONLY, …)` opens, or null where it
   * fails with `ESP_ERR_NVS_NOT_FOUND`.
   */
  namespaceIndex(name: string): number | null {
    const n = name.slice(0, NVS_NAME_MAX);
    return this.#namespaces.find((e) => e.name === n)?.index ?? null;
  }

  /**
   * What `nvs_get_<type>(handle, key, …)` returns in namespace `nsIndex`.
   *
   * @example
   * ```ts
   * import { initNvs } from "./nvs_reader.ts";
   * const init = initNvs(await Deno.readFile("nvs.bin"));
   * if (init.ok) {
   *   const ns = init.nvs.namespaceIndex("factory");
   *   if (ns !== null) console.log(init.nvs.get(ns, "serial_no", "str"));
   * }
   * ```
   */
  get(nsIndex: number, key: string, type: NvsGetType): NvsGetResult {
    const k = key.slice(0, NVS_NAME_MAX);
    const notFound: NvsGetResult = { ok: false, error: "ESP_ERR_NVS_NOT_FOUND" };
    if (type !== "str" && type !== "blob") {
      const int = INT_TYPES[type];
      const it = find(this.#pages, nsIndex, int.code, k);
      if (!it) return notFound;
      const view = new DataView(it.entry.buffer, it.entry.byteOffset + 24, 8);
      const value = int.bytes === 8
        ? (int.signed ? view.getBigInt64(0, true) : view.getBigUint64(0, true))
        : int.bytes === 4
        ? (int.signed ? view.getInt32(0, true) : view.getUint32(0, true))
        : int.bytes === 2
        ? (int.signed ? view.getInt16(0, true) : view.getUint16(0, true))
        : (int.signed ? view.getInt8(0) : view.getUint8(0));
      return { ok: true, value };
    }
    if (type === "str") {
      const it = find(this.#pages, nsIndex, TYPE.SZ, k);
      const data = it && varData(it);
      if (!data) return notFound;
      // The stored size counts the terminating NUL.
      const end = data.length > 0 && data[data.length - 1] === 0 ? data.length - 1 : data.length;
      return { ok: true, value: data.slice(0, end) };
    }
    const index = find(this.#pages, nsIndex, TYPE.BLOB_IDX, k);
    const blob = index ? this.#multiPageBlob(nsIndex, k, index) : notFound;
    if (blob.ok) return blob;
    // Not found that way: a blob in the version-1 format (one page, no index)?
    const old = find(this.#pages, nsIndex, TYPE.BLOB, k);
    const data = old && varData(old);
    return data ? { ok: true, value: data.slice() } : notFound;
  }

  /** A version-2 blob: its index names chunks start … start + count − 1; any missing or damaged chunk loses it. */
  #multiPageBlob(nsIndex: number, key: string, index: Item): NvsGetResult {
    const size = u32(index.entry, 24);
    const count = index.entry[28];
    const start = index.entry[29];
    const out = new Uint8Array(size);
    let at = 0;
    for (let c = 0; c < count; c++) {
      const chunk = find(this.#pages, nsIndex, TYPE.BLOB_DATA, key, (start + c) & 0xff);
      const data = chunk && varData(chunk);
      if (!data || at + data.length > size) return { ok: false, error: "ESP_ERR_NVS_NOT_FOUND" };
      out.set(data, at);
      at += data.length;
    }
    return at === size ? { ok: true, value: out } : { ok: false, error: "ESP_ERR_NVS_NOT_FOUND" };
  }

  /**
   * Every key of a defined namespace that a getter returns, with that
   * getter's type, in writing order (for audits and tests).
   */
  keys(): NvsKeyInfo[] {
    const out: NvsKeyInfo[] = [];
    const seen = new Set<string>();
    for (const items of this.#pages) {
      for (const it of items) {
        if (it.ns === NS_NAMES || it.chunk !== CHUNK_NONE) continue;
        const ns = this.#namespaces.find((n) => n.index === it.ns);
        const type = getterOf(it.type);
        if (!ns || !type) continue;
        const id = `${it.ns}\0${it.key}\0${type}`;
        if (seen.has(id) || !this.get(it.ns, it.key, type).ok) continue;
        seen.add(id);
        out.push({ namespace: ns.name, nsIndex: it.ns, key: it.key, type });
      }
    }
    return out;
  }
}

function getterOf(code: number): NvsGetType | null {
  if (code === TYPE.SZ) return "str";
  if (code === TYPE.BLOB_IDX || code === TYPE.BLOB) return "blob";
  const ints = Object.keys(INT_TYPES) as (keyof typeof INT_TYPES)[];
  return ints.find((t) => INT_TYPES[t].code === code) ?? null;
}
