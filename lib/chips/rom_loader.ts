/**
 * The ROM loader facts most chips share, as esptool's ROM classes inherit
 * them: ESP32ROM's, and the later chips' (which add the encrypted-write word
 * to FLASH_BEGIN). A chip whose ROM differs overrides a field in its own file,
 * as esptool's targets override a method.
 *
 * @module
 */

import type { RomLoaderFacts } from "./types.ts";

/** Largest FLASH_DATA block of every ROM loader (esptool loader.py FLASH_WRITE_SIZE). */
export const ROM_FLASH_WRITE_SIZE = 0x400;

/**
 * The ESP32 ROM loader (esptool targets/esp32.py ESP32ROM): compressed
 * writes, READ_FLASH_SLOW, SPI_ATTACH, SPI_SET_PARAMS and MD5s, but the
 * short (16-byte) FLASH_BEGIN.
 *
 * @example
 * ```ts
 * import { ESP32_ROM } from "./rom_loader.ts";
 * console.log(ESP32_ROM.beginTakesEncryptFlag); // false
 * ```
 */
export const ESP32_ROM: Readonly<RomLoaderFacts> = Object.freeze({
  flashWriteSize: ROM_FLASH_WRITE_SIZE,
  compressedWrites: true,
  readFlashSlow: true,
  beginTakesEncryptFlag: false,
  spiAttach: true,
  setFlashParams: true,
  md5: true,
  eraseRegion: true,
});

/**
 * The ROM loader of the ESP32-S2 and every later chip: the ESP32's, with the
 * 20-byte FLASH_BEGIN that carries the "encrypted" word (esptool loader.py
 * flash_begin: every ROM but the ESP8266's and the ESP32's).
 *
 * @example
 * ```ts
 * import { LATER_ROM } from "./rom_loader.ts";
 * console.log(LATER_ROM.beginTakesEncryptFlag); // true
 * ```
 */
export const LATER_ROM: Readonly<RomLoaderFacts> = Object.freeze({
  ...ESP32_ROM,
  beginTakesEncryptFlag: true,
});
