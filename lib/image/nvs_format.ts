/**
 * ESP-IDF NVS (non-volatile storage) partition format: the facts shared by
 * the image builder ({@link ./nvs_gen.ts}) and the reader
 * ({@link ./nvs_parse.ts}), and the errors both raise.
 *
 * Layout, as ESP-IDF's `components/nvs_flash/src/nvs_page.hpp` and
 * `nvs_types.hpp` define it and `esp-idf-nvs-partition-gen` writes it:
 *
 *     page (4096 bytes) = header (32) + entry state bitmap (32) + 126 entries (32 each)
 *     header            = state u32, sequence number u32, version u8, 19 × 0xFF, CRC32 of bytes 4..27
 *     entry             = namespace index u8, type u8, span u8, chunk index u8, CRC32 u32,
 *                         key (16 bytes, NUL-padded), data (8 bytes)
 *
 * Every CRC is zlib's CRC-32 started from 0xFFFFFFFF, as the device's
 * `esp_rom_crc32_le(0xffffffff, …)` computes it.
 *
 * @module
 */

import { crc32 } from "node:zlib";
import { EsplineError, type EsplineErrorOptions, UsageError } from "../errors.ts";

/** Bytes per NVS page: one flash sector (nvs_page.hpp `SEC_SIZE`). */
export const NVS_PAGE_SIZE = 4096;
/** Bytes per entry (nvs_page.hpp `ENTRY_SIZE`). */
export const NVS_ENTRY_SIZE = 32;
/** Entries per page (nvs_page.hpp `ENTRY_COUNT`). */
export const NVS_ENTRIES_PER_PAGE = 126;
/** Offset of the entry state bitmap in a page (nvs_page.hpp `ENTRY_TABLE_OFFSET`). */
export const NVS_BITMAP_OFFSET = 32;
/** Offset of entry 0 in a page (nvs_page.hpp `ENTRY_DATA_OFFSET`). */
export const NVS_FIRST_ENTRY_OFFSET = 64;
/** Longest key or namespace name in bytes, without its NUL (nvs_types.hpp `MAX_KEY_LENGTH`). */
export const NVS_MAX_KEY_LENGTH = 15;
/** Chunk index of entries that are not blob data chunks (nvs_types.hpp `CHUNK_ANY`). */
export const NVS_CHUNK_ANY = 0xff;
/** Namespace index of the entries that define namespaces (nvs_page.hpp `NS_INDEX`). */
export const NVS_NAMESPACE_INDEX = 0;
/** Namespace index reserved for "any namespace" (nvs_page.hpp `NS_ANY`). */
export const NVS_NS_ANY = 255;

/** Header version byte of format version 1, single-page blobs (nvs_partition_gen `VERSION1`). */
export const NVS_VERSION1_BYTE = 0xff;
/** Header version byte of format version 2, multi-page blobs (nvs_page.hpp `NVS_VERSION`). */
export const NVS_VERSION2_BYTE = 0xfe;

/** Page states (nvs_page.hpp `PageState`): bits cleared one by one as the page ages. */
export const NvsPageStateValue = {
  /** Erased flash, never initialised. */
  UNINITIALIZED: 0xffffffff,
  /** Accepts writes. */
  ACTIVE: 0xfffffffe,
  /** Full: no more writes. */
  FULL: 0xfffffffc,
  /** Its items are being moved to another page. */
  FREEING: 0xfffffff8,
  /** Marked corrupt by the device; kept for diagnosis. */
  CORRUPT: 0xfffffff0,
} as const;

/** Entry states in the 2-bit-per-entry bitmap (nvs_page.hpp `EntryState`). */
export const NvsEntryStateValue = {
  /** 0b11: erased flash. */
  EMPTY: 0b11,
  /** 0b10: written. */
  WRITTEN: 0b10,
  /** 0b00: written, then erased. */
  ERASED: 0b00,
  /** 0b01: a state no correct write produces. */
  ILLEGAL: 0b01,
} as const;

/** Item type codes (nvs_types.hpp `ItemType`, nvs.h `nvs_type_t`). */
export const NvsItemTypeCode = {
  U8: 0x01,
  I8: 0x11,
  U16: 0x02,
  I16: 0x12,
  U32: 0x04,
  I32: 0x14,
  U64: 0x08,
  I64: 0x18,
  /** NUL-terminated string. */
  SZ: 0x21,
  /** Version-1 blob: all data on one page. */
  BLOB: 0x41,
  /** Version-2 blob data chunk. */
  BLOB_DATA: 0x42,
  /** Version-2 blob index: total size and chunk count. */
  BLOB_IDX: 0x48,
} as const;

/** The eight integer types of NVS. */
export type NvsIntegerType = "u8" | "i8" | "u16" | "i16" | "u32" | "i32" | "u64" | "i64";

/** Facts about one integer type: its code, byte width and range. */
export interface NvsIntegerFacts {
  /** Item type code. */
  code: number;
  /** Bytes. */
  bytes: 1 | 2 | 4 | 8;
  /** Signed or not. */
  signed: boolean;
  /** Smallest value. */
  min: bigint;
  /** Largest value. */
  max: bigint;
}

function intFacts(code: number, bytes: 1 | 2 | 4 | 8, signed: boolean): NvsIntegerFacts {
  const bits = BigInt(bytes * 8);
  return signed
    ? { code, bytes, signed, min: -(1n << (bits - 1n)), max: (1n << (bits - 1n)) - 1n }
    : { code, bytes, signed, min: 0n, max: (1n << bits) - 1n };
}

/** Code, width and range of each integer type. */
export const NVS_INTEGER_TYPES: Readonly<Record<NvsIntegerType, NvsIntegerFacts>> = {
  u8: intFacts(NvsItemTypeCode.U8, 1, false),
  i8: intFacts(NvsItemTypeCode.I8, 1, true),
  u16: intFacts(NvsItemTypeCode.U16, 2, false),
  i16: intFacts(NvsItemTypeCode.I16, 2, true),
  u32: intFacts(NvsItemTypeCode.U32, 4, false),
  i32: intFacts(NvsItemTypeCode.I32, 4, true),
  u64: intFacts(NvsItemTypeCode.U64, 8, false),
  i64: intFacts(NvsItemTypeCode.I64, 8, true),
};

/** True for the eight integer type names. */
export function isNvsIntegerType(name: string): name is NvsIntegerType {
  return Object.hasOwn(NVS_INTEGER_TYPES, name);
}

/** CRC-32 as NVS computes it: zlib's CRC-32 continued from 0xFFFFFFFF. */
export function nvsCrc32(data: Uint8Array): number {
  return crc32(data, 0xffffffff) >>> 0;
}

/** CRC of a 32-byte entry: bytes 0..3 and 8..31 (the CRC field itself left out). */
export function nvsEntryCrc(entry: Uint8Array): number {
  const buf = new Uint8Array(28);
  buf.set(entry.subarray(0, 4), 0);
  buf.set(entry.subarray(8, 32), 4);
  return nvsCrc32(buf);
}

/** CRC of a page header: bytes 4..27 (sequence number, version, reserved). */
export function nvsHeaderCrc(page: Uint8Array): number {
  return nvsCrc32(page.subarray(4, 28));
}

/**
 * A mistake in what was asked to be written into an NVS partition: a bad
 * value, key, encoding or size. A usage error (exit code 2 in the CLI); the
 * message names the row and says what to change.
 *
 * Codes: `E_NVS_SIZE`, `E_NVS_FULL`, `E_NVS_KEY`, `E_NVS_RANGE`, `E_NVS_VALUE`,
 * `E_NVS_TYPE`, `E_NVS_ENCODING`, `E_NVS_NO_NAMESPACE`, `E_NVS_TOO_LONG`,
 * `E_NVS_CSV`, `E_NVS_FILE`, `E_NVS_NAMESPACES`.
 */
export class NvsInputError extends UsageError {
  /** Create the error with one of the codes above. */
  constructor(code: string, message: string, options: EsplineErrorOptions = {}) {
    super(message, { ...options, code });
  }
}

/**
 * An NVS image that cannot be read at all (not a whole number of pages,
 * empty). Damage inside a readable image is reported, not thrown: see
 * `parseNvs`'s `problems`.
 */
export class NvsFormatError extends EsplineError {
  /** Create the error (code `E_NVS_FORMAT`). */
  constructor(message: string, options: EsplineErrorOptions = {}) {
    super("E_NVS_FORMAT", message, options);
  }
}
