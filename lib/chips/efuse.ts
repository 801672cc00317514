/**
 * Small readers the chip files share: bit fields inside eFuse words, the MAC
 * word layout used from the ESP32-S2 on, the crystal estimate from the UART
 * clock divider, and the `(revision vX.Y)` description suffix.
 *
 * Everything reads through a {@link ReadReg}, so the same code runs against a
 * fake register map in tests and against a chip through READ_REG.
 *
 * @module
 */

import type { ChipRevision, FlashVoltage, ReadReg, SpiRegisters } from "./types.ts";

/** A bit field inside one 32-bit register: `width` bits starting at bit `shift`. */
export interface BitField {
  /** Address of the 32-bit word holding the field. */
  address: number;
  /** Position of the field's lowest bit (0 = least significant). */
  shift: number;
  /** Number of bits in the field (1..32). */
  width: number;
}

/**
 * Take a field's bits out of a word already read.
 *
 * @example
 * ```ts
 * import { extractBits } from "./efuse.ts";
 * extractBits(0x00300000, { shift: 20, width: 2 }); // 3
 * ```
 */
export function extractBits(word: number, field: Pick<BitField, "shift" | "width">): number {
  const shifted = (word >>> 0) >>> field.shift;
  return field.width >= 32 ? shifted : shifted & ((2 ** field.width) - 1);
}

/**
 * Read the word holding `field` and return the field's value.
 *
 * @example
 * ```ts
 * import { readBitField } from "./efuse.ts";
 * const regs = new Map([[0x1000, 0x00000a00]]);
 * await readBitField((a) => Promise.resolve(regs.get(a) ?? 0), {
 *   address: 0x1000,
 *   shift: 9,
 *   width: 3,
 * }); // 5
 * ```
 */
export async function readBitField(readReg: ReadReg, field: BitField): Promise<number> {
  return extractBits(await readReg(field.address), field);
}

/**
 * Read the base MAC as the ESP32-S2 and later chips store it: the word at
 * `address` holds MAC bytes 2..5 (byte 2 in bits 31..24), the next word holds
 * bytes 0..1 in its low 16 bits (byte 0 in bits 15..8).
 * (esptool targets/esp32s3.py read_mac: `struct.pack(">II", mac1, mac0)[2:]`.)
 *
 * @example
 * ```ts
 * import { readSplitMac } from "./efuse.ts";
 * const regs = new Map([[0x100, 0x33445566], [0x104, 0x00001122]]);
 * await readSplitMac((a) => Promise.resolve(regs.get(a) ?? 0), 0x100);
 * // Uint8Array [0x11, 0x22, 0x33, 0x44, 0x55, 0x66]
 * ```
 */
export async function readSplitMac(readReg: ReadReg, address: number): Promise<Uint8Array> {
  const low = (await readReg(address)) >>> 0;
  const high = (await readReg(address + 4)) >>> 0;
  return Uint8Array.of(
    (high >>> 8) & 0xff,
    high & 0xff,
    (low >>> 24) & 0xff,
    (low >>> 16) & 0xff,
    (low >>> 8) & 0xff,
    low & 0xff,
  );
}

/** Polynomial of the ESP32 MAC CRC-8, reflected (ESP-IDF esp_rom_efuse.c esp_crc8; espefuse EfuseMacField.calc_crc). */
const MAC_CRC8_POLY_REFLECTED = 0x8c;

/**
 * CRC-8 of a MAC as the ESP32 stores it in eFuse BLOCK0: reflected
 * polynomial 0x8C, initial value 0, over the six bytes in printed order
 * (ESP-IDF esp_efuse_mac_get_default feeds mac[0] = the high byte of
 * MAC_FACTORY first; espefuse computes it over the MAC as it prints it).
 *
 * @example
 * ```ts
 * import { macCrc8 } from "./efuse.ts";
 * macCrc8(Uint8Array.of(0, 0, 0, 0, 0, 0)); // 0
 * ```
 */
export function macCrc8(mac: Uint8Array): number {
  let crc = 0;
  for (const byte of mac) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) {
      crc = crc & 1 ? (crc >>> 1) ^ MAC_CRC8_POLY_REFLECTED : crc >>> 1;
    }
  }
  return crc;
}

/**
 * The two MAC_EXT bytes stored above the base MAC in the second MAC word
 * (bits 16..31, most significant first: esptool targets/esp32c6.py read_mac,
 * `struct.pack(">H", (mac1 >> 16) & 0xFFFF)`).
 *
 * @example
 * ```ts
 * import { readMacExt } from "./efuse.ts";
 * await readMacExt(() => Promise.resolve(0xfffe1122), 0x104); // Uint8Array [0xff, 0xfe]
 * ```
 */
export async function readMacExt(readReg: ReadReg, highWordAddress: number): Promise<Uint8Array> {
  const high = (await readReg(highWordAddress)) >>> 0;
  return Uint8Array.of((high >>> 24) & 0xff, (high >>> 16) & 0xff);
}

/** Registers and bits that decide the flash supply voltage (esptool targets/esp32.py get_flash_voltage). */
export interface FlashVoltageRegisters {
  /** RTC_CNTL_SDIO_CONF_REG and its FORCE, DREFH (1.9 V) and XPD bits, on chips that have it (ESP32). */
  rtc?: { reg: number; force: number; drefh: number; xpd: number };
  /** The eFuse word with VDD_SPI_FORCE, VDD_SPI_XPD and VDD_SPI_TIEH. */
  efuse: { reg: number; force: number; xpd: number; tieh: number };
  /** GPIO_STRAP_REG and the VDD_SPI strapping bit (set: 1.8 V). */
  strap: { reg: number; mask: number };
}

/**
 * Where the flash supply voltage comes from, decided in esptool's order: an
 * RTC override, else the VDD_SPI eFuses when forced, else the strapping pin.
 *
 * @example
 * ```ts
 * import { readFlashVoltage } from "./efuse.ts";
 * const regs = { efuse: { reg: 0x10, force: 1 << 16, xpd: 1 << 14, tieh: 1 << 15 }, strap: { reg: 0x20, mask: 1 << 5 } };
 * await readFlashVoltage(() => Promise.resolve(0), regs); // { voltage: "3.3V", source: "a strapping pin" }
 * ```
 */
export async function readFlashVoltage(
  readReg: ReadReg,
  regs: FlashVoltageRegisters,
): Promise<FlashVoltage> {
  if (regs.rtc) {
    const rtc = (await readReg(regs.rtc.reg)) >>> 0;
    if (rtc & regs.rtc.force) {
      const voltage = rtc & regs.rtc.drefh ? "1.9V" : rtc & regs.rtc.xpd ? "1.8V" : "OFF";
      return { voltage, source: "RTC_CNTL" };
    }
  }
  const efuse = (await readReg(regs.efuse.reg)) >>> 0;
  if (efuse & regs.efuse.force) {
    const voltage = !(efuse & regs.efuse.xpd) ? "OFF" : efuse & regs.efuse.tieh ? "3.3V" : "1.8V";
    return { voltage, source: "eFuse" };
  }
  const strap = (await readReg(regs.strap.reg)) >>> 0;
  return { voltage: strap & regs.strap.mask ? "1.8V" : "3.3V", source: "a strapping pin" };
}

/** Mask of the divider field in UART_CLKDIV_REG (esptool loader.py UART_CLKDIV_MASK). */
export const UART_CLKDIV_MASK = 0xfffff;

/** Above this estimate (MHz) the crystal is taken as 48 MHz (esptool loader.py get_crystal_freq). */
const XTAL_48_THRESHOLD_MHZ = 45;
/** Above this estimate (MHz) the crystal is taken as 40 MHz, else 26 MHz (esptool loader.py get_crystal_freq). */
const XTAL_40_THRESHOLD_MHZ = 33;

/**
 * Round an estimated crystal frequency to the nearest supported one: 48, 40
 * or 26 MHz, with esptool's thresholds (above 45 → 48, above 33 → 40).
 *
 * @example
 * ```ts
 * import { normalizeCrystalMhz } from "./efuse.ts";
 * normalizeCrystalMhz(39.9); // 40
 * ```
 */
export function normalizeCrystalMhz(estimateMhz: number): number {
  if (estimateMhz > XTAL_48_THRESHOLD_MHZ) return 48;
  if (estimateMhz > XTAL_40_THRESHOLD_MHZ) return 40;
  return 26;
}

/** Where a chip keeps its UART divider and how it relates to the crystal. */
export interface UartCrystalOptions {
  /** Address of UART_CLKDIV_REG for the UART in use. */
  clkdivReg: number;
  /** Bus clock / crystal ratio: 2 on ESP8266, 1 elsewhere (esptool XTAL_CLK_DIVIDER). */
  xtalClkDivider: number;
  /** Line speed the host and chip are talking at, in baud. */
  baud: number;
}

/**
 * Estimate the crystal from the UART divider: the chip's UART runs at our baud,
 * so `divider × baud` is its bus clock. Returns 26, 40 or 48 (MHz).
 *
 * @example
 * ```ts
 * import { readUartCrystalMhz } from "./efuse.ts";
 * // 40 MHz / 115200 baud ≈ divider 347
 * await readUartCrystalMhz(() => Promise.resolve(347), {
 *   clkdivReg: 0x3ff40014,
 *   xtalClkDivider: 1,
 *   baud: 115200,
 * }); // 40
 * ```
 */
export async function readUartCrystalMhz(
  readReg: ReadReg,
  options: UartCrystalOptions,
): Promise<number> {
  const divider = ((await readReg(options.clkdivReg)) >>> 0) & UART_CLKDIV_MASK;
  const estimate = (options.baud * divider) / 1e6 / options.xtalClkDivider;
  return normalizeCrystalMhz(estimate);
}

/**
 * Format a chip name with its revision the way esptool prints it.
 *
 * @example
 * ```ts
 * import { withRevision } from "./efuse.ts";
 * withRevision("ESP32-S3 (QFN56)", { major: 0, minor: 2 }); // "ESP32-S3 (QFN56) (revision v0.2)"
 * ```
 */
export function withRevision(name: string, revision: ChipRevision): string {
  return `${name} (revision v${revision.major}.${revision.minor})`;
}

/**
 * The SPI flash controller register offsets shared by the ESP32-S2 and every
 * later chip (esptool targets/esp32s2.py and esp32c3.py SPI_USR_OFFS,
 * SPI_USR1_OFFS, SPI_USR2_OFFS, SPI_MOSI_DLEN_OFFS, SPI_MISO_DLEN_OFFS,
 * SPI_W0_OFFS; SPI_CMD_REG at the base).
 */
export const SPI_MEM_OFFSETS = {
  cmd: 0x00,
  usr: 0x18,
  usr1: 0x1c,
  usr2: 0x20,
  mosiDlen: 0x24,
  misoDlen: 0x28,
  w0: 0x58,
};

/** SPI registers at `base` with the {@link SPI_MEM_OFFSETS} layout. */
export function spiMemRegisters(base: number): SpiRegisters {
  const o = SPI_MEM_OFFSETS;
  return {
    cmd: base + o.cmd,
    usr: base + o.usr,
    usr1: base + o.usr1,
    usr2: base + o.usr2,
    w0: base + o.w0,
    mosiDlen: base + o.mosiDlen,
    misoDlen: base + o.misoDlen,
  };
}
