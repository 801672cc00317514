/**
 * ESP32-C5: detection values, SPI registers, address map and eFuse readers.
 *
 * Facts from esptool v5.1.0 `esptool/targets/esp32c5.py`; SPI registers are
 * inherited there from `esp32c6.py` and the UART divider from `esp32c3.py`.
 * Cross-checked with esptool-js `src/targets/esp32c5.ts`. Magic values from
 * esptool v4.8.1 (`CHIP_DETECT_MAGIC_VALUE`) and esptool-js `magic2Chip`.
 *
 * @module
 */

import { readUartCrystalMhz } from "./crystal.ts";
import { withRevision } from "./description.ts";
import { readBitField, readMacExt, readSplitMac } from "./efuse.ts";
import { spiMemRegisters } from "./spi_registers.ts";
import { LATER_ROM } from "./rom_loader.ts";
import type { ChipFamily, ChipRevision, MemoryRegion, ReadReg, SpiRegisters } from "./types.ts";
import { ESP32_IMAGE } from "./image_format.ts";

/**
 * 0x1101406F: esptool v4.8.1 targets/esp32c5.py CHIP_DETECT_MAGIC_VALUE;
 * 0x63E1406F, 0x5FD1406F: esptool-js src/targets/esp32c5.ts CHIP_DETECT_MAGIC_VALUE;
 * 0x30E1706F: esptool-js 0.7.0 (npm) lib/esploader.js magic2Chip.
 */
const MAGIC_VALUES = [0x1101406f, 0x63e1406f, 0x5fd1406f, 0x30e1706f];
/** esptool targets/esp32c5.py IMAGE_CHIP_ID. */
const IMAGE_CHIP_ID = 23;
/** esptool targets/esp32c5.py BOOTLOADER_FLASH_OFFSET. */
const BOOTLOADER_FLASH_OFFSET = 0x2000;
/** Inherited from ESP32C3ROM (esptool targets/esp32c3.py UART_CLKDIV_REG). */
const UART_CLKDIV_REG = 0x60000014;
/** Inherited from ESP32ROM (esptool targets/esp32.py XTAL_CLK_DIVIDER). */
const XTAL_CLK_DIVIDER = 1;

/** Inherited from ESP32C6ROM (esptool targets/esp32c6.py SPI_REG_BASE). */
const SPI_REG_BASE = 0x60003000;

/** esptool targets/esp32c5.py EFUSE_BASE. */
const EFUSE_BASE = 0x600b4800;
/** esptool targets/esp32c5.py EFUSE_BLOCK1_ADDR. */
const EFUSE_BLOCK1_ADDR = EFUSE_BASE + 0x44;
/** esptool targets/esp32c5.py MAC_EFUSE_REG. */
const MAC_EFUSE_REG = EFUSE_BASE + 0x44;

// Bit fields, from esptool targets/esp32c5.py (method name in each comment).
/** get_minor_chip_version: BLOCK1 word 2 bits 0..3. */
const MINOR = { address: EFUSE_BLOCK1_ADDR + 4 * 2, shift: 0, width: 4 };
/** get_major_chip_version: BLOCK1 word 2 bits 4..5. */
const MAJOR = { address: EFUSE_BLOCK1_ADDR + 4 * 2, shift: 4, width: 2 };
/** get_pkg_version: BLOCK1 word 2 bits 26..28. */
const PKG_VERSION = { address: EFUSE_BLOCK1_ADDR + 4 * 2, shift: 26, width: 3 };

/** esptool targets/esp32c5.py get_chip_description. */
const PACKAGE_NAMES: Record<number, string> = { 0: "ESP32-C5" };

async function readRevision(readReg: ReadReg): Promise<ChipRevision> {
  return {
    major: await readBitField(readReg, MAJOR),
    minor: await readBitField(readReg, MINOR),
  };
}

const SPI: SpiRegisters = spiMemRegisters(SPI_REG_BASE);

/** esptool targets/esp32c5.py MEMORY_MAP (end exclusive). */
const MEMORY_MAP: MemoryRegion[] = [
  { name: "PADDING", start: 0x00000000, end: 0x00010000 },
  { name: "DROM", start: 0x42000000, end: 0x44000000 },
  { name: "DRAM", start: 0x40800000, end: 0x40860000 },
  { name: "BYTE_ACCESSIBLE", start: 0x40800000, end: 0x40860000 },
  { name: "DROM_MASK", start: 0x4003a000, end: 0x40040000 },
  { name: "IROM_MASK", start: 0x40000000, end: 0x4003a000 },
  { name: "IROM", start: 0x42000000, end: 0x44000000 },
  { name: "IRAM", start: 0x40800000, end: 0x40860000 },
  { name: "RTC_IRAM", start: 0x50000000, end: 0x50004000 },
  { name: "RTC_DRAM", start: 0x50000000, end: 0x50004000 },
  { name: "MEM_INTERNAL2", start: 0x600fe000, end: 0x60100000 },
];

/**
 * The ESP32-C5 family. Its crystal (40 or 48 MHz) is read from the UART
 * divider, as esptool does.
 *
 * @example
 * ```ts
 * import { ESP32C5 } from "./esp32c5.ts";
 * console.log(ESP32C5.bootloaderOffset.toString(16)); // 2000
 * ```
 */
export const ESP32C5: ChipFamily = {
  // esptool targets/esp32c6.py DR_REG_LP_WDT_BASE + LP_WDT_RWDT_* (C5 re-enables C3 logic)
  rtcWatchdog: { config0: 0x600b1c00 + 0x0, config1: 0x600b1c00 + 0x4, protect: 0x600b1c00 + 0x18 },
  key: "esp32c5",
  name: "ESP32-C5",
  imageChipId: IMAGE_CHIP_ID,
  magicValues: MAGIC_VALUES,
  securityInfoHasChipId: true,
  bootloaderOffset: BOOTLOADER_FLASH_OFFSET,
  stubName: "esp32c5",
  rom: LATER_ROM,
  // esptool targets/esp32c5.py FLASH_FREQUENCY
  image: { ...ESP32_IMAGE, flashFreqs: { "80m": 0xf, "40m": 0x0, "20m": 0x2 } },
  spi: SPI,
  memoryMap: MEMORY_MAP,

  readMac: (readReg) => readSplitMac(readReg, MAC_EFUSE_REG),
  readMacExt: (readReg) => readMacExt(readReg, MAC_EFUSE_REG + 4),

  readRevision,

  async readDescription(readReg) {
    const pkg = await readBitField(readReg, PKG_VERSION);
    return withRevision(PACKAGE_NAMES[pkg] ?? "Unknown ESP32-C5", await readRevision(readReg));
  },

  readFeatures: () =>
    Promise.resolve([
      "Wi-Fi 6 (dual-band)",
      "BT 5 (LE)",
      "IEEE802.15.4",
      "Single Core + LP Core",
      "240MHz",
    ]),

  crystalFromUart: true,
  readCrystalMhz(readReg, baud) {
    return readUartCrystalMhz(readReg, {
      clkdivReg: UART_CLKDIV_REG,
      xtalClkDivider: XTAL_CLK_DIVIDER,
      baud,
    });
  },
};
