/**
 * The virtual chip's own reading of what it boots: ESP application images
 * (header, extended header, segments, checksum, appended SHA-256), ESP-IDF's
 * application descriptor, partition tables (with their MD5 entry) and the
 * OTA data partition; and a small builder for the firmware a new virtual
 * board ships with.
 *
 * Facts from esptool's `bin_image.py` (image layout, checksum) and ESP-IDF's
 * documented formats (`esp_app_format.h`, partition tables, OTA data). This
 * is written apart from the client's lib/image: two readings of the same
 * format.
 *
 * @module
 */

import { createHash } from "node:crypto";

/** First byte of every image (esptool ESP_IMAGE_MAGIC). */
export const IMAGE_MAGIC = 0xe9;
/** Image checksum seed (esptool ESP_CHECKSUM_MAGIC). */
export const IMAGE_CHECKSUM_SEED = 0xef;
/** esp_app_desc_t magic word (esp_app_format.h ESP_APP_DESC_MAGIC_WORD). */
export const APP_DESC_MAGIC = 0xabcd5432;
/** Partition table entry magic, little-endian AA 50 (ESP-IDF partition tables). */
export const PARTITION_MAGIC = 0x50aa;
/** The MD5 entry's magic, EB EB. */
export const PARTITION_MD5_MAGIC = 0xebeb;
/** Where the ESP-IDF bootloader looks for the table (CONFIG_PARTITION_TABLE_OFFSET default). */
export const PARTITION_TABLE_OFFSET = 0x8000;
/** The table's largest size (ESP-IDF: one 4 KiB sector minus the tail; esptool MAX_PARTITION_LENGTH). */
export const PARTITION_TABLE_MAX = 0xc00;

/** Partition types and subtypes the bootloader cares about (ESP-IDF esp_partition.h). */
export const PART = {
  APP: 0x00,
  DATA: 0x01,
  FACTORY: 0x00,
  OTA_0: 0x10,
  OTA_15: 0x1f,
  TEST: 0x20,
  DATA_OTA: 0x00,
  DATA_PHY: 0x01,
  DATA_NVS: 0x02,
} as const;

function u16(b: Uint8Array, o: number): number {
  return b[o] | (b[o + 1] << 8);
}
function u32(b: Uint8Array, o: number): number {
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
}
function cstr(b: Uint8Array): string {
  const end = b.indexOf(0);
  return new TextDecoder().decode(end >= 0 ? b.subarray(0, end) : b);
}

/** One segment of an image. */
export interface ImageSegmentInfo {
  /** Load address. */
  addr: number;
  /** Offset of its data in the image. */
  offset: number;
  /** Its data. */
  data: Uint8Array;
}

/** What the ROM and the bootloader read from an image. */
export interface ParsedImage {
  /** Flash mode byte (0 QIO, 1 QOUT, 2 DIO, 3 DOUT). */
  flashMode: number;
  /** Flash size nibble (0 1 MB, 1 2 MB, 2 4 MB …). */
  flashSizeCode: number;
  /** Flash frequency nibble (0 40 MHz, 1 26, 2 20, 0xF 80). */
  flashFreqCode: number;
  /** Entry point. */
  entry: number;
  /** Extended header (ESP32 and later): WP pin byte. */
  wpPin: number;
  /** Extended header: SPI pin drive settings (three bytes). */
  pinDrive: [number, number, number];
  /** Extended header: chip id (esptool IMAGE_CHIP_ID). */
  chipId: number;
  /** Extended header: oldest / newest chip revision it runs on (major × 100 + minor). */
  minRevFull: number;
  /** See {@link minRevFull}; 0 and 0xFFFF mean "any". */
  maxRevFull: number;
  /** A SHA-256 digest follows the checksum. */
  hashAppended: boolean;
  /** Segments. */
  segments: ImageSegmentInfo[];
  /** The checksum byte stored in the image. */
  storedChecksum: number;
  /** The checksum of the segment data. */
  computedChecksum: number;
  /** Stored and computed SHA-256 (hex), when one is appended. */
  storedSha256?: string;
  /** See {@link storedSha256}. */
  computedSha256?: string;
  /** Bytes the image occupies (header to digest). */
  length: number;
}

/** Why an image could not be read. */
export type ImageProblem =
  | { kind: "magic"; word: number }
  | { kind: "truncated" };

/**
 * Read the image at `offset` of `flash` (ESP32-style header with the
 * 16-byte extended header). Never throws: a bad magic or a truncated image
 * is returned as a problem.
 */
export function readImage(flash: Uint8Array, offset: number): ParsedImage | ImageProblem {
  if (offset + 24 > flash.length) return { kind: "truncated" };
  if (flash[offset] !== IMAGE_MAGIC) return { kind: "magic", word: u32(flash, offset) };
  const count = flash[offset + 1];
  let pos = offset + 24;
  const segments: ImageSegmentInfo[] = [];
  let checksum = IMAGE_CHECKSUM_SEED;
  for (let i = 0; i < count; i++) {
    if (pos + 8 > flash.length) return { kind: "truncated" };
    const addr = u32(flash, pos);
    const len = u32(flash, pos + 4);
    if (pos + 8 + len > flash.length || len > 16 * 1024 * 1024) return { kind: "truncated" };
    const data = flash.subarray(pos + 8, pos + 8 + len);
    for (const b of data) checksum ^= b;
    segments.push({ addr, offset: pos + 8 - offset, data });
    pos += 8 + len;
  }
  // The checksum is the last byte of a 16-byte block.
  pos += 15 - ((pos - offset) % 16);
  if (pos >= flash.length) return { kind: "truncated" };
  const storedChecksum = flash[pos];
  pos += 1;
  const hashAppended = flash[offset + 23] === 1;
  const image: ParsedImage = {
    flashMode: flash[offset + 2],
    flashSizeCode: flash[offset + 3] >> 4,
    flashFreqCode: flash[offset + 3] & 0x0f,
    entry: u32(flash, offset + 4),
    wpPin: flash[offset + 8],
    pinDrive: [flash[offset + 9], flash[offset + 10], flash[offset + 11]],
    chipId: u16(flash, offset + 12),
    minRevFull: u16(flash, offset + 15),
    maxRevFull: u16(flash, offset + 17),
    hashAppended,
    segments,
    storedChecksum,
    computedChecksum: checksum,
    length: pos - offset,
  };
  if (hashAppended) {
    if (pos + 32 > flash.length) return { kind: "truncated" };
    image.computedSha256 = createHash("sha256").update(flash.subarray(offset, pos)).digest("hex");
    image.storedSha256 = Array.from(
      flash.subarray(pos, pos + 32),
      (b) => b.toString(16).padStart(2, "0"),
    )
      .join("");
    image.length += 32;
  }
  return image;
}

/** ESP-IDF's application descriptor (esp_app_desc_t), as the app's startup prints it. */
export interface AppDescriptor {
  /** App version string. */
  version: string;
  /** Project name. */
  projectName: string;
  /** Build time and date. */
  time: string;
  /** See {@link time}. */
  date: string;
  /** ESP-IDF version. */
  idfVersion: string;
  /** SHA-256 of the ELF file (hex). */
  elfSha256: string;
}

/** The descriptor at the start of the image's first segment, if it has one. */
export function appDescriptor(image: ParsedImage): AppDescriptor | null {
  const d = image.segments[0]?.data;
  if (!d || d.length < 256 || u32(d, 0) !== APP_DESC_MAGIC) return null;
  return {
    version: cstr(d.subarray(16, 48)),
    projectName: cstr(d.subarray(48, 80)),
    time: cstr(d.subarray(80, 96)),
    date: cstr(d.subarray(96, 112)),
    idfVersion: cstr(d.subarray(112, 144)),
    elfSha256: Array.from(d.subarray(144, 176), (b) => b.toString(16).padStart(2, "0")).join(""),
  };
}

/** One partition table entry. */
export interface PartitionEntry {
  /** Label. */
  label: string;
  /** Type (0 app, 1 data). */
  type: number;
  /** Subtype. */
  subtype: number;
  /** Offset in flash. */
  offset: number;
  /** Size. */
  size: number;
  /** Flags (bit 0: encrypted). */
  flags: number;
}

/** What reading the partition table gave. */
export type PartitionTableRead =
  | { ok: true; entries: PartitionEntry[]; md5Checked: boolean }
  | { ok: false; problem: "magic"; index: number; magic: number }
  | { ok: false; problem: "md5" };

/** Read the partition table at `offset` as the ESP-IDF bootloader does. */
export function readPartitionTable(
  flash: Uint8Array,
  offset = PARTITION_TABLE_OFFSET,
): PartitionTableRead {
  const entries: PartitionEntry[] = [];
  for (let i = 0; i * 32 < PARTITION_TABLE_MAX; i++) {
    const at = offset + i * 32;
    const magic = u16(flash, at);
    if (magic === 0xffff) return { ok: true, entries, md5Checked: false };
    if (magic === PARTITION_MD5_MAGIC) {
      const stored = flash.subarray(at + 16, at + 32);
      const computed = createHash("md5").update(flash.subarray(offset, at)).digest();
      if (!stored.every((b, k) => b === computed[k])) return { ok: false, problem: "md5" };
      return { ok: true, entries, md5Checked: true };
    }
    if (magic !== PARTITION_MAGIC) return { ok: false, problem: "magic", index: i, magic };
    entries.push({
      type: flash[at + 2],
      subtype: flash[at + 3],
      offset: u32(flash, at + 4),
      size: u32(flash, at + 8),
      label: cstr(flash.subarray(at + 12, at + 28)),
      flags: u32(flash, at + 28),
    });
  }
  return { ok: true, entries, md5Checked: false };
}

/** CRC-32 (IEEE, reflected), as esp_rom_crc32_le(UINT32_MAX, …) computes it for OTA data. */
export function otaCrc32(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const b of data) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/**
 * The OTA slot the bootloader picks from the OTA data partition: the valid
 * entry (CRC over its sequence number) with the highest sequence number
 * selects ota_((seq − 1) mod slots); null when no entry is valid.
 */
export function otaSelection(
  flash: Uint8Array,
  otadata: PartitionEntry,
  slots: number,
): number | null {
  let best = 0;
  for (const at of [otadata.offset, otadata.offset + 0x1000]) {
    if (at + 32 > flash.length) continue;
    const seq = u32(flash, at);
    if (seq === 0xffffffff || seq === 0) continue;
    if (otaCrc32(flash.subarray(at, at + 4)) !== u32(flash, at + 28)) continue;
    if (seq > best) best = seq;
  }
  return best === 0 || slots === 0 ? null : (best - 1) % slots;
}

// ----------------------------------------------------------------- builders

function le32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}

/** Options of {@link buildImage}. */
export interface BuildImageOptions {
  /** esptool IMAGE_CHIP_ID of the target. */
  chipId: number;
  /** Entry point. */
  entry: number;
  /** Segments in order. */
  segments: { addr: number; data: Uint8Array }[];
  /** Append a SHA-256 digest; default true. */
  sha256?: boolean;
  /** Flash mode byte; default 2 (DIO). */
  flashMode?: number;
  /** Flash size and frequency byte; default 0x20 (4 MB, 40 MHz). */
  sizeFreq?: number;
}

/** Build an image the way esptool's elf2image lays it out (no flash-mapping alignment). */
export function buildImage(options: BuildImageOptions): Uint8Array {
  const header = [
    IMAGE_MAGIC,
    options.segments.length,
    options.flashMode ?? 2,
    options.sizeFreq ?? 0x20,
    ...le32(options.entry),
    0xee, // WP pin: not used
    0,
    0,
    0,
    options.chipId & 0xff,
    options.chipId >> 8,
    0, // min_chip_rev (deprecated)
    0,
    0, // min_chip_rev_full
    0xff,
    0xff, // max_chip_rev_full: any
    0,
    0,
    0,
    0,
    options.sha256 === false ? 0 : 1,
  ];
  const padded = options.segments.map((s) => {
    const data = new Uint8Array(Math.ceil(s.data.length / 4) * 4);
    data.set(s.data);
    return { addr: s.addr, data };
  });
  let length = header.length + padded.reduce((n, s) => n + 8 + s.data.length, 0);
  length += 16 - (length % 16); // the checksum ends a 16-byte block
  const withDigest = options.sha256 !== false;
  const out = new Uint8Array(length + (withDigest ? 32 : 0));
  out.set(header, 0);
  let pos = header.length;
  let checksum = IMAGE_CHECKSUM_SEED;
  for (const seg of padded) {
    out.set([...le32(seg.addr), ...le32(seg.data.length)], pos);
    out.set(seg.data, pos + 8);
    for (const b of seg.data) checksum ^= b;
    pos += 8 + seg.data.length;
  }
  out[length - 1] = checksum;
  if (withDigest) out.set(createHash("sha256").update(out.subarray(0, length)).digest(), length);
  return out;
}

/** An esp_app_desc_t (256 bytes) for a project. */
export function buildAppDescriptor(desc: {
  projectName: string;
  version: string;
  idfVersion: string;
  date?: string;
  time?: string;
}): Uint8Array {
  const d = new Uint8Array(256);
  d.set(le32(APP_DESC_MAGIC), 0);
  const put = (s: string, at: number, len: number) =>
    d.set(new TextEncoder().encode(s).subarray(0, len - 1), at);
  put(desc.version, 16, 32);
  put(desc.projectName, 48, 32);
  put(desc.time ?? "00:00:00", 80, 16);
  put(desc.date ?? "Jan  1 2025", 96, 16);
  put(desc.idfVersion, 112, 32);
  d.set(createHash("sha256").update(desc.projectName + desc.version).digest(), 144);
  return d;
}

/** A partition table with its MD5 entry. */
export function buildPartitionTable(entries: PartitionEntry[]): Uint8Array {
  const out = new Uint8Array(PARTITION_TABLE_MAX).fill(0xff);
  entries.forEach((e, i) => {
    const at = i * 32;
    out.set([0xaa, 0x50, e.type, e.subtype, ...le32(e.offset), ...le32(e.size)], at);
    const label = new Uint8Array(16);
    label.set(new TextEncoder().encode(e.label).subarray(0, 16));
    out.set(label, at + 12);
    out.set(le32(e.flags), at + 28);
  });
  const md5At = entries.length * 32;
  out.set([0xeb, 0xeb], md5At);
  out.fill(0xff, md5At + 2, md5At + 16);
  out.set(createHash("md5").update(out.subarray(0, md5At)).digest(), md5At + 16);
  return out;
}
