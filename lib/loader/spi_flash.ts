/**
 * The SPI flash seen from the loader: attaching it, telling the loader its
 * geometry, and raw SPI flash commands run through the SPI controller's
 * registers (esptool loader.py flash_spi_attach, flash_set_parameters,
 * run_spiflash_command, flash_id).
 *
 * @module
 */

import { EsplineError } from "../errors.ts";
import { Op, u32le } from "../protocol/packet.ts";
import type { LoaderSession } from "./session.ts";

/** SPI_USR_REG: the command phase is on (esptool SPI_USR_COMMAND). */
const USR_COMMAND = 1 << 31;
/** SPI_USR_REG: the read (MISO) phase is on (esptool SPI_USR_MISO). */
const USR_MISO = 1 << 28;
/** SPI_CMD_REG: start the user command; reads back 0 once done (esptool SPI_CMD_USR). */
const CMD_USR = 1 << 18;
/** SPI_USR2_REG: where the command bit length sits (esptool SPI_USR2_COMMAND_LEN_SHIFT). */
const USR2_COMMAND_LEN_SHIFT = 28;
/** Command bit length minus one: 8-bit opcodes (esptool run_spiflash_command). */
const COMMAND_BITS_MINUS_ONE = 7;
/** ESP8266 SPI_USR1_REG: MISO bit length at bit 8 (esptool run_spiflash_command SPI_MISO_BITLEN_S). */
const USR1_MISO_BITLEN_SHIFT = 8;
/** Polls of SPI_CMD_REG before a command counts as stuck (esptool run_spiflash_command wait_done). */
const CMD_DONE_POLLS = 10;
/** SPI flash RDID, the JEDEC id (esptool SPIFLASH_RDID). */
const SPIFLASH_RDID = 0x9f;
/** Bits RDID returns: manufacturer, memory type, capacity. */
const RDID_BITS = 24;
/** Geometry SPI_SET_PARAMS passes besides the size (esptool flash_set_parameters). */
const FLASH_BLOCK_SIZE = 64 * 1024;
const FLASH_SECTOR_SIZE = 4 * 1024;
const FLASH_PAGE_SIZE = 256;
const FLASH_STATUS_MASK = 0xffff;

/**
 * Attach the SPI flash: SPI_ATTACH, or where the loader has none (ESP8266
 * ROM) a zero-length FLASH_BEGIN, which attaches it as a side effect.
 */
export async function attachFlash(session: LoaderSession): Promise<void> {
  const loader = session.loader;
  if (loader.spiAttachArg) {
    await session.commandWithRetry(Op.SPI_ATTACH, loader.spiAttachArg, {
      what: "attach SPI flash",
    });
  } else {
    await session.command(Op.FLASH_BEGIN, u32le(0, 0, loader.flashWriteSize, 0), {
      what: "attach SPI flash",
    });
  }
}

/** SPI_SET_PARAMS: tell the loader the flash size, where it takes it. */
export async function sendFlashParams(session: LoaderSession, size: number): Promise<void> {
  if (!session.loader.setFlashParams) return; // not in the ESP8266 ROM; harmless to skip
  await session.command(
    Op.SPI_SET_PARAMS,
    u32le(0, size, FLASH_BLOCK_SIZE, FLASH_SECTOR_SIZE, FLASH_PAGE_SIZE, FLASH_STATUS_MASK),
    { what: "set SPI flash parameters" },
  );
}

/** Options for {@link runSpiFlashCommand}. */
export interface SpiFlashCommandOptions {
  /** Bits to read back after the command (at most 32). Default 0. */
  readBits?: number;
}

/**
 * Run a raw SPI flash command through the SPI controller registers
 * (esptool loader.py run_spiflash_command) and return up to 32 bits read back.
 *
 * @throws {EsplineError} `E_SPI_TIMEOUT` when the controller does not finish.
 */
export async function runSpiFlashCommand(
  session: LoaderSession,
  command: number,
  options: SpiFlashCommandOptions = {},
): Promise<number> {
  const readBits = options.readBits ?? 0;
  const r = session.chip.spi;
  const oldUsr = await session.readReg(r.usr);
  const oldUsr2 = await session.readReg(r.usr2);
  if (r.mosiDlen !== undefined && r.misoDlen !== undefined) {
    if (readBits > 0) await session.writeReg(r.misoDlen, readBits - 1);
  } else {
    // ESP8266: data lengths live in USR1 (MISO bit length at bit 8, MOSI at bit 17).
    const misoMask = readBits === 0 ? 0 : readBits - 1;
    await session.writeReg(r.usr1, misoMask << USR1_MISO_BITLEN_SHIFT);
  }
  let flags = USR_COMMAND;
  if (readBits > 0) flags |= USR_MISO;
  await session.writeReg(r.usr, flags >>> 0);
  await session.writeReg(
    r.usr2,
    ((COMMAND_BITS_MINUS_ONE << USR2_COMMAND_LEN_SHIFT) | command) >>> 0,
  );
  await session.writeReg(r.w0, 0);
  await session.writeReg(r.cmd, CMD_USR);
  let done = false;
  for (let i = 0; i < CMD_DONE_POLLS; i++) {
    if ((await session.readReg(r.cmd) & CMD_USR) === 0) {
      done = true;
      break;
    }
  }
  if (!done) {
    throw new EsplineError(
      "E_SPI_TIMEOUT",
      "SPI flash command did not complete; check the flash is attached",
    );
  }
  const value = await session.readReg(r.w0);
  await session.writeReg(r.usr, oldUsr);
  await session.writeReg(r.usr2, oldUsr2);
  return value;
}

/** JEDEC id of the flash chip (RDID): `manufacturer | type << 8 | capacity << 16`. */
export async function readFlashId(session: LoaderSession): Promise<number> {
  await session.spiAttach();
  return await runSpiFlashCommand(session, SPIFLASH_RDID, { readBits: RDID_BITS }) & 0xffffff;
}
