/**
 * Build an image in the format the ROM and the second-stage bootloader load
 * (the last step of esptool's elf2image): header (with the extended header
 * on ESP32 and later), segments, checksum, optional appended SHA-256; and
 * the application descriptor ESP-IDF puts at the start of an app's first
 * segment. For generated test firmware, demos and tools that already have
 * their segments.
 *
 * Facts: esptool bin_image.py (ESPLoader image layout, ESP32FirmwareImage
 * extended header), ESP-IDF esp_app_format.h (esp_image_header_t,
 * esp_app_desc_t).
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { ChipFamily } from "../chips/types.ts";
import { FLASH_MODE_BYTES, IMAGE_MAGIC } from "./flash_params.ts";

/** Checksum seed (esptool ESP_CHECKSUM_MAGIC). */
const CHECKSUM_SEED = 0xef;
/** Extended header byte 0: no write-protect pin (esptool WP_PIN_DISABLED). */
const WP_PIN_DISABLED = 0xee;
/** esp_app_desc_t magic (ESP-IDF ESP_APP_DESC_MAGIC_WORD). */
export const APP_DESC_MAGIC = 0xabcd5432;
/** esp_app_desc_t is 256 bytes (ESP-IDF esp_app_format.h). */
export const APP_DESC_SIZE = 256;
/** Header byte 3: 40 MHz clock and the first size code, which every chip takes as a default. */
const DEFAULT_SIZE_FREQ = 0x00;

/** One segment: where it loads and its bytes. */
export interface ImageSegmentInput {
  /** Load address. */
  address: number;
  /** Bytes (padded to a multiple of 4 with zeros, as esptool pads). */
  data: Uint8Array;
}

/** Options for {@link makeImage}. */
export interface MakeImageOptions {
  /** The chip the image is for (its image id goes in the extended header). */
  chip: ChipFamily;
  /** Segments in file order. */
  segments: ImageSegmentInput[];
  /** Entry point. Default the first segment's address. */
  entry?: number;
  /** SPI mode in the header. Default `dio`. */
  flashMode?: "qio" | "qout" | "dio" | "dout";
  /** Minimum chip revision, `major * 100 + minor`. Default 0. */
  minRevision?: number;
  /** Maximum chip revision, `major * 100 + minor`. Default 0xffff (none). */
  maxRevision?: number;
  /** Append a SHA-256 of the image (ESP32 and later). Default true. */
  hashAppended?: boolean;
}

function u32(view: DataView, offset: number, value: number): void {
  view.setUint32(offset, value >>> 0, true);
}

/**
 * Build an image from segments.
 *
 * @example
 * ```ts
 * import { makeImage, appDescriptor } from "./make_image.ts";
 * import { chipByKey } from "../chips/index.ts";
 * const image = makeImage({
 *   chip: chipByKey("esp32c3"),
 *   segments: [{ address: 0x3c000020, data: appDescriptor({ projectName: "blink" }) }],
 * });
 * ```
 */
export function makeImage(options: MakeImageOptions): Uint8Array {
  const { chip, segments } = options;
  const esp8266 = !chip.image.extendedHeader;
  const headerSize = esp8266 ? 8 : 24;
  const padded = segments.map((s) => {
    const data = new Uint8Array(Math.ceil(s.data.length / 4) * 4);
    data.set(s.data);
    return { address: s.address, data };
  });
  let length = headerSize + padded.reduce((n, s) => n + 8 + s.data.length, 0);
  length += 15 - (length % 16); // the checksum byte ends a 16-byte block
  const checksumAt = length;
  length += 1;
  const hash = !esp8266 && (options.hashAppended ?? true);
  const out = new Uint8Array(length + (hash ? 32 : 0));
  const view = new DataView(out.buffer);
  out[0] = IMAGE_MAGIC;
  out[1] = padded.length;
  out[2] = FLASH_MODE_BYTES[options.flashMode ?? "dio"];
  out[3] = DEFAULT_SIZE_FREQ;
  u32(view, 4, options.entry ?? padded[0]?.address ?? 0);
  if (!esp8266) {
    out[8] = WP_PIN_DISABLED;
    view.setUint16(12, chip.imageChipId ?? 0, true);
    const minRev = options.minRevision ?? 0;
    out[14] = Math.floor(minRev / 100); // legacy major-only field
    view.setUint16(15, minRev, true);
    view.setUint16(17, options.maxRevision ?? 0xffff, true);
    out[23] = hash ? 1 : 0;
  }
  let off = headerSize;
  let sum = CHECKSUM_SEED;
  for (const s of padded) {
    u32(view, off, s.address);
    u32(view, off + 4, s.data.length);
    out.set(s.data, off + 8);
    for (const b of s.data) sum ^= b;
    off += 8 + s.data.length;
  }
  out[checksumAt] = sum;
  if (hash) out.set(createHash("sha256").update(out.subarray(0, length)).digest(), length);
  return out;
}

/** Fields of an application descriptor. */
export interface AppDescriptorOptions {
  /** Project name (at most 31 bytes). Default `app`. */
  projectName?: string;
  /** Version string (at most 31 bytes). Default `1.0`. */
  version?: string;
  /** ESP-IDF version string. Default `v5.3`. */
  idfVersion?: string;
  /** Build time and date. Default now. */
  built?: Date;
  /** Secure version. Default 0. */
  secureVersion?: number;
}

function cstring(out: Uint8Array, offset: number, size: number, text: string): void {
  const bytes = new TextEncoder().encode(text).subarray(0, size - 1);
  out.set(bytes, offset);
}

/**
 * An `esp_app_desc_t`: the 256 bytes ESP-IDF puts at the start of an
 * application's first segment (image-info shows them).
 *
 * @example
 * ```ts
 * import { appDescriptor } from "./make_image.ts";
 * const desc = appDescriptor({ projectName: "blink", version: "2.1" });
 * console.log(desc.length); // 256
 * ```
 */
export function appDescriptor(options: AppDescriptorOptions = {}): Uint8Array {
  const out = new Uint8Array(APP_DESC_SIZE);
  const view = new DataView(out.buffer);
  u32(view, 0, APP_DESC_MAGIC);
  u32(view, 4, options.secureVersion ?? 0);
  const built = options.built ?? new Date();
  cstring(out, 16, 32, options.version ?? "1.0");
  cstring(out, 48, 32, options.projectName ?? "app");
  cstring(out, 80, 16, built.toISOString().slice(11, 19));
  cstring(out, 96, 16, built.toDateString().slice(4));
  cstring(out, 112, 32, options.idfVersion ?? "v5.3");
  view.setUint16(178, 0xffff, true); // max eFuse block revision: any
  return out;
}
