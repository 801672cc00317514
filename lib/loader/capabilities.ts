/**
 * What the loader a session talks to can do: the chip's ROM loader (whose
 * facts and gaps the chip family lists) or the flasher stub (the same on
 * every chip, esptool's StubMixin). The flash operations ask these
 * capabilities; they do not ask which chip it is or whether the stub runs.
 *
 * @module
 */

import type { ChipFamily } from "../chips/types.ts";
import { concatBytes, u32le } from "../protocol/packet.ts";

/** Largest FLASH_DATA / FLASH_DEFL_DATA block the flasher stub accepts (esptool StubMixin FLASH_WRITE_SIZE). */
export const STUB_FLASH_WRITE_SIZE = 0x4000;

/** The loader's capabilities (see the module notes). */
export interface LoaderCapabilities {
  /** Which loader answers: the ROM's or the flasher stub. */
  readonly kind: "rom" | "stub";
  /** Largest FLASH_DATA / FLASH_DEFL_DATA block. */
  readonly flashWriteSize: number;
  /** FLASH_BEGIN / FLASH_DEFL_BEGIN take the fifth, "encrypted" word (20 bytes, not 16). */
  readonly beginTakesEncryptFlag: boolean;
  /**
   * FLASH_BEGIN / FLASH_DEFL_BEGIN erase the whole area before they answer (the
   * ROM: a longer timeout, and a compressed write's size rounded up to whole
   * blocks); the stub erases as the data arrives.
   */
  readonly erasesAtBegin: boolean;
  /**
   * A data block is answered before it is written (the stub), so the end of a
   * write must be waited for with one more command.
   */
  readonly answersBeforeWriting: boolean;
  /** FLASH_DEFL_* (deflate-compressed writes) work. */
  readonly compressedWrites: boolean;
  /**
   * How SPI_FLASH_MD5 answers: 16 raw bytes (the stub), 32 hex characters
   * (the ROM), or `null` where the loader cannot compute MD5s (ESP8266 ROM).
   */
  readonly md5: "raw" | "hex" | null;
  /** ERASE_FLASH (the whole chip) works (the stub only). */
  readonly eraseFlash: boolean;
  /**
   * How a region is erased: ERASE_REGION (the stub), the erase FLASH_BEGIN
   * does (the ROM), or not at all (the ESP8266 ROM).
   */
  readonly eraseRegion: "command" | "flash-begin" | null;
  /**
   * How flash is read: READ_FLASH's acknowledged stream (the stub),
   * READ_FLASH_SLOW 64 bytes at a time (the ROM), or not at all (ESP8266 ROM).
   */
  readonly readFlash: "stream" | "slow" | null;
  /**
   * SPI_ATTACH's argument (the ROM takes four more bytes than the stub), or
   * `null` where there is no SPI_ATTACH and a zero-length FLASH_BEGIN attaches
   * the flash instead (ESP8266 ROM).
   */
  readonly spiAttachArg: Uint8Array | null;
  /** SPI_SET_PARAMS works (not in the ESP8266 ROM, where skipping it is harmless). */
  readonly setFlashParams: boolean;
  /** CHANGE_BAUDRATE's second word is the current rate (the stub) rather than 0 (the ROM). */
  readonly changeBaudSendsOldRate: boolean;
  /**
   * How to restart into the application by command: FLASH_BEGIN then
   * FLASH_END "run user code" (the ROM), RUN_USER_CODE (the ESP8266 stub), or
   * not at all (the other stubs).
   */
  readonly softReset: "flash-end" | "run-user-code" | null;
  /** The erase size to put in FLASH_BEGIN for `size` bytes at `offset`. */
  eraseSize(offset: number, size: number): number;
  /** The rate to ask CHANGE_BAUDRATE for so the line ends up at `baud` with a `crystalMhz` crystal. */
  baudRequest?(baud: number, crystalMhz: number): number;
}

/** SPI_ATTACH's argument for the stub: the pin configuration word, 0 for the default pins (esptool flash_spi_attach). */
const STUB_SPI_ATTACH_ARG = u32le(0);
/** The ROM's: the same word, then the "is legacy" byte and three reserved bytes (esptool flash_spi_attach). */
const ROM_SPI_ATTACH_ARG = concatBytes(u32le(0), new Uint8Array(4));

/**
 * The capabilities of the loader running on `chip`: its ROM loader, or the
 * flasher stub when `stub` is true.
 *
 * @example
 * ```ts
 * import { loaderCapabilities } from "./capabilities.ts";
 * import { ESP8266 } from "../chips/index.ts";
 * console.log(loaderCapabilities(ESP8266, false).md5); // null: the ESP8266 ROM has no MD5
 * console.log(loaderCapabilities(ESP8266, true).md5); // "raw"
 * ```
 */
export function loaderCapabilities(chip: ChipFamily, stub: boolean): LoaderCapabilities {
  if (stub) {
    return {
      kind: "stub",
      flashWriteSize: STUB_FLASH_WRITE_SIZE,
      // Both stub families take the 16-byte form as well, and espline sends them that (esptool
      // adds the word for the stub too; espline never asks for an encrypted write).
      beginTakesEncryptFlag: false,
      erasesAtBegin: false,
      answersBeforeWriting: true,
      compressedWrites: true,
      md5: "raw",
      eraseFlash: true,
      eraseRegion: "command",
      readFlash: "stream",
      spiAttachArg: STUB_SPI_ATTACH_ARG,
      setFlashParams: true,
      changeBaudSendsOldRate: true,
      softReset: chip.stubRunsUserCode ? "run-user-code" : null,
      eraseSize: (_offset, size) => size,
    };
  }
  const rom = chip.rom;
  return {
    kind: "rom",
    flashWriteSize: rom.flashWriteSize,
    beginTakesEncryptFlag: rom.beginTakesEncryptFlag,
    erasesAtBegin: true,
    answersBeforeWriting: false,
    compressedWrites: rom.compressedWrites,
    md5: rom.md5 ? "hex" : null,
    eraseFlash: false,
    eraseRegion: rom.eraseRegion ? "flash-begin" : null,
    readFlash: rom.readFlashSlow ? "slow" : null,
    spiAttachArg: rom.spiAttach ? ROM_SPI_ATTACH_ARG : null,
    setFlashParams: rom.setFlashParams,
    changeBaudSendsOldRate: false,
    softReset: "flash-end",
    eraseSize: rom.eraseSize ?? ((_offset, size) => size),
    ...(rom.baudRequest ? { baudRequest: rom.baudRequest } : {}),
  };
}
