/**
 * What a chip's firmware image header looks like, as the host-side image
 * code reads and patches it: whether it has the extended header, and the
 * nibbles of header byte 3 for each `--flash-size` and `--flash-freq` name.
 * Most chips share the ESP32's tables; a chip whose ROM reads them
 * differently names its own in its file.
 *
 * Facts: esptool bin_image.py (image layout), targets/*.py (FLASH_SIZES,
 * FLASH_FREQUENCY).
 *
 * @module
 */

import type { ImageFormatFacts } from "./types.ts";

/** Low nibble of header byte 3 on the ESP8266, ESP32, S2, S3, C3 and P4 (esptool FLASH_FREQUENCY). */
export const DEFAULT_FLASH_FREQS: Readonly<Record<string, number>> = Object.freeze({
  "80m": 0xf,
  "40m": 0x0,
  "26m": 0x1,
  "20m": 0x2,
});

/**
 * The ESP8266's images: no extended header (so no chip id and no appended
 * SHA-256), and its own size nibbles (esptool ESP8266ROM.FLASH_SIZES).
 *
 * @example
 * ```ts
 * import { ESP8266_IMAGE } from "./image_format.ts";
 * console.log(ESP8266_IMAGE.flashSizes["4MB"]); // 0x40
 * ```
 */
export const ESP8266_IMAGE: Readonly<ImageFormatFacts> = Object.freeze({
  extendedHeader: false,
  flashSizes: Object.freeze({
    "512KB": 0x00,
    "256KB": 0x10,
    "1MB": 0x20,
    "2MB": 0x30,
    "4MB": 0x40,
    "2MB-C1": 0x50,
    "4MB-C1": 0x60,
    "8MB": 0x80,
    "16MB": 0x90,
  }),
  flashFreqs: DEFAULT_FLASH_FREQS,
});

/**
 * The ESP32's images and every later chip's unless its file says otherwise:
 * the 16-byte extended header, and esptool ESP32ROM.FLASH_SIZES.
 *
 * @example
 * ```ts
 * import { ESP32_IMAGE } from "./image_format.ts";
 * console.log(ESP32_IMAGE.flashSizes["4MB"]); // 0x20
 * ```
 */
export const ESP32_IMAGE: Readonly<ImageFormatFacts> = Object.freeze({
  extendedHeader: true,
  flashSizes: Object.freeze({
    "1MB": 0x00,
    "2MB": 0x10,
    "4MB": 0x20,
    "8MB": 0x30,
    "16MB": 0x40,
    "32MB": 0x50,
    "64MB": 0x60,
    "128MB": 0x70,
  }),
  flashFreqs: DEFAULT_FLASH_FREQS,
});
