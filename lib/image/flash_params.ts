/**
 * The flash mode / frequency / size bytes of a bootloader image, patched as
 * esptool's write-flash does (`--flash-mode dio`, `--flash-freq 80m`,
 * `--flash-size 4MB|detect|keep`), with an appended SHA-256 digest
 * recomputed so the bootloader still passes its own check.
 *
 * Facts: esptool cmds.py `_update_image_flash_params`, bin_image.py (image
 * layout), targets/*.py (FLASH_FREQUENCY, FLASH_SIZES).
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { ChipFamily } from "../chips/types.ts";

/** First byte of an application / bootloader image (esptool ESP_IMAGE_MAGIC). */
export const IMAGE_MAGIC = 0xe9;
/** Header byte 2 values (esptool FLASH_MODES). */
export const FLASH_MODE_BYTES: Readonly<Record<string, number>> = {
  qio: 0,
  qout: 1,
  dio: 2,
  dout: 3,
};

/** `--flash-mode` choices (esptool): an SPI mode, or `keep` the image's. */
export const FLASH_MODE_CHOICES = ["keep", "qio", "qout", "dio", "dout"] as const;
/** An SPI flash mode for the bootloader header, or `keep`. */
export type FlashMode = typeof FLASH_MODE_CHOICES[number];
/** `--flash-freq` choices across the chips (each chip takes some of them; see {@link flashParamChoices}). */
export const FLASH_FREQ_CHOICES = [
  "keep",
  "80m",
  "60m",
  "48m",
  "40m",
  "30m",
  "26m",
  "24m",
  "20m",
  "16m",
  "15m",
  "12m",
] as const;
/** An SPI flash clock for the bootloader header, or `keep`. */
export type FlashFreq = typeof FLASH_FREQ_CHOICES[number];
/** `--flash-size` choices (esptool's names; `detect` reads the flash chip, `keep` leaves the header). */
export const FLASH_SIZE_CHOICES = [
  "detect",
  "keep",
  "256KB",
  "512KB",
  "1MB",
  "2MB",
  "2MB-C1",
  "4MB",
  "4MB-C1",
  "8MB",
  "16MB",
  "32MB",
  "64MB",
  "128MB",
] as const;
/** A flash size for the bootloader header, `detect` or `keep`. */
export type FlashSize = typeof FLASH_SIZE_CHOICES[number];

/** What to put in the header; `keep` (the default) leaves a field as it is. */
export interface FlashParams {
  /** `qio`, `qout`, `dio`, `dout` or `keep`. */
  mode?: string;
  /** e.g. `40m`, `80m`, or `keep`. */
  freq?: string;
  /** e.g. `4MB`, or `keep` (resolve `detect` to a size first). */
  size?: string;
}

/** Result of {@link patchFlashParams}. */
export interface PatchResult {
  /** The (possibly) patched image. */
  data: Uint8Array;
  /** Whether any byte changed. */
  changed: boolean;
  /** Things the person should know (not an image, digest not updated …). */
  notes: string[];
}

/** The values a chip accepts for `--flash-freq` and `--flash-size`. */
export function flashParamChoices(chip: ChipFamily): { freqs: string[]; sizes: string[] } {
  return {
    freqs: Object.keys(chip.image.flashFreqs),
    sizes: Object.keys(chip.image.flashSizes),
  };
}

/** Offset where the image's data ends (where an appended SHA-256 starts), or null if it does not parse. */
function imageDataLength(image: Uint8Array, extendedHeader: boolean): number | null {
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const segments = image[1];
  let off = extendedHeader ? 24 : 8; // 8-byte header (+16-byte extended header on ESP32 and later)
  let sum = 0xef; // esptool ESP_CHECKSUM_MAGIC
  for (let i = 0; i < segments; i++) {
    if (off + 8 > image.length) return null;
    const size = view.getUint32(off + 4, true);
    off += 8;
    if (off + size > image.length) return null;
    for (let j = off; j < off + size; j++) sum ^= image[j];
    off += size;
  }
  off += 15 - (off % 16); // pad so the checksum byte ends a 16-byte block
  if (off >= image.length || image[off] !== sum) return null;
  return off + 1;
}

/**
 * Patch the flash parameters of a bootloader image at `address`, as esptool
 * does. Data that is not at the chip's bootloader offset, or is not a valid
 * image, comes back unchanged (with a note when it looked like it should be).
 *
 * @example
 * ```ts
 * import { patchFlashParams } from "./flash_params.ts";
 * import { chipByKey } from "../chips/index.ts";
 * const boot = await Deno.readFile("bootloader.bin");
 * const { data, notes } = patchFlashParams(boot, 0x1000, { chip: chipByKey("esp32"), params: { mode: "dio" } });
 * ```
 */
export function patchFlashParams(
  image: Uint8Array,
  address: number,
  options: { chip: ChipFamily; params: FlashParams },
): PatchResult {
  const { chip, params } = options;
  const mode = params.mode ?? "keep";
  const freq = params.freq ?? "keep";
  const size = (params.size ?? "keep").toUpperCase() === "KEEP"
    ? "keep"
    : (params.size ?? "keep").toUpperCase();
  const unchanged = (note?: string): PatchResult => ({
    data: image,
    changed: false,
    notes: note ? [note] : [],
  });
  if (image.length < 8 || address !== chip.bootloaderOffset) return unchanged();
  if (mode === "keep" && freq === "keep" && size === "keep") return unchanged();
  const hex = `0x${address.toString(16)}`;
  if (image[0] !== IMAGE_MAGIC) {
    return unchanged(
      `the file at ${hex} doesn't look like an image file, so its flash settings were not changed`,
    );
  }
  const extendedHeader = chip.image.extendedHeader;
  const dataLength = imageDataLength(image, extendedHeader);
  if (dataLength === null) {
    return unchanged(
      `the file at ${hex} is not a valid ${chip.name} image, so its flash settings were not changed`,
    );
  }
  let modeByte = image[2];
  let freqNibble = image[3] & 0x0f;
  let sizeNibble = image[3] & 0xf0;
  if (mode !== "keep") {
    if (!(mode in FLASH_MODE_BYTES)) throw new RangeError(`unknown flash mode ${mode}`);
    modeByte = FLASH_MODE_BYTES[mode];
  }
  const freqs = chip.image.flashFreqs;
  if (freq !== "keep") {
    if (!(freq in freqs)) {
      throw new RangeError(
        `${chip.name} does not support --flash-freq ${freq}: use ${Object.keys(freqs).join(", ")}`,
      );
    }
    freqNibble = freqs[freq];
  }
  const sizes = chip.image.flashSizes;
  if (size !== "keep") {
    if (!(size in sizes)) {
      throw new RangeError(
        `${chip.name} does not support --flash-size ${size}: use ${Object.keys(sizes).join(", ")}`,
      );
    }
    sizeNibble = sizes[size];
  }
  const out = image.slice();
  out[2] = modeByte;
  out[3] = sizeNibble | freqNibble;
  const changed = out[2] !== image[2] || out[3] !== image[3];
  const notes: string[] = [];
  if (changed) {
    notes.push(
      `flash parameters at ${hex} set to 0x${
        ((out[2] << 8) | out[3]).toString(16).padStart(4, "0")
      }`,
    );
  }
  // Extended header byte 15 (image offset 23): a SHA-256 of the image data is appended.
  const shaAppended = extendedHeader && image[8 + 15] === 1;
  if (changed && shaAppended) {
    if (dataLength + 32 > out.length) {
      notes.push(
        `the image at ${hex} claims an appended SHA-256 but is too short; digest not updated`,
      );
    } else {
      out.set(createHash("sha256").update(out.subarray(0, dataLength)).digest(), dataLength);
      notes.push("SHA digest in image updated");
    }
  }
  return { data: out, changed, notes };
}
