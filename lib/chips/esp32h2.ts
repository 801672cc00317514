/**
 * ESP32-H2: detection values, SPI registers, address map and eFuse readers.
 *
 * Facts from esptool v5.1.0 `esptool/targets/esp32h2.py`; SPI registers, the
 * eFuse base and the address map are inherited there from `esp32c6.py`.
 * Cross-checked with esptool-js `src/targets/esp32h2.ts`. Magic values from
 * esptool v4.8.1 (`CHIP_DETECT_MAGIC_VALUE`) and esptool-js `magic2Chip`.
 *
 * @module
 */

import { withRevision } from "./description.ts";
import { readBitField, readMacExt, readSplitMac } from "./efuse.ts";
import { spiMemRegisters } from "./spi_registers.ts";
import { LATER_ROM } from "./rom_loader.ts";
import type { ChipFamily, ChipRevision, MemoryRegion, ReadReg, SpiRegisters } from "./types.ts";
import { ESP32_IMAGE } from "./image_format.ts";

/** esptool v4.8.1 targets/esp32h2.py CHIP_DETECT_MAGIC_VALUE, plus 0x97E30068 from esptool-js magic2Chip. */
const MAGIC_VALUES = [0xd7b73e80, 0x97e30068];
/** esptool targets/esp32h2.py IMAGE_CHIP_ID. */
const IMAGE_CHIP_ID = 16;
/** Inherited from ESP32C6ROM (esptool targets/esp32c6.py BOOTLOADER_FLASH_OFFSET). */
const BOOTLOADER_FLASH_OFFSET = 0x0;
/** Fixed 32 MHz crystal (esptool targets/esp32h2.py get_crystal_freq). */
const XTAL_MHZ = 32;

/** Inherited from ESP32C6ROM (esptool targets/esp32c6.py SPI_REG_BASE). */
const SPI_REG_BASE = 0x60003000;

/** Inherited from ESP32C6ROM (esptool targets/esp32c6.py EFUSE_BASE). */
const EFUSE_BASE = 0x600b0800;
/** esptool targets/esp32c6.py EFUSE_BLOCK1_ADDR. */
const EFUSE_BLOCK1_ADDR = EFUSE_BASE + 0x44;
/** esptool targets/esp32c6.py MAC_EFUSE_REG. */
const MAC_EFUSE_REG = EFUSE_BASE + 0x44;

// Bit fields, from esptool targets/esp32h2.py (method name in each comment).
/** get_minor_chip_version: BLOCK1 word 3 bits 18..20. */
const MINOR = { address: EFUSE_BLOCK1_ADDR + 4 * 3, shift: 18, width: 3 };
/** get_major_chip_version: BLOCK1 word 3 bits 21..22. */
const MAJOR = { address: EFUSE_BLOCK1_ADDR + 4 * 3, shift: 21, width: 2 };
/** get_pkg_version: BLOCK1 word 4 bits 0..2. */
const PKG_VERSION = { address: EFUSE_BLOCK1_ADDR + 4 * 4, shift: 0, width: 3 };

/** esptool targets/esp32h2.py get_chip_description. */
const PACKAGE_NAMES: Record<number, string> = { 0: "ESP32-H2" };

async function readRevision(readReg: ReadReg): Promise<ChipRevision> {
  return {
    major: await readBitField(readReg, MAJOR),
    minor: await readBitField(readReg, MINOR),
  };
}

const SPI: SpiRegisters = spiMemRegisters(SPI_REG_BASE);

/** Inherited from ESP32C6ROM (esptool targets/esp32c6.py MEMORY_MAP, end exclusive; esptool-js esp32h2.ts agrees). */
const MEMORY_MAP: MemoryRegion[] = [
  { name: "PADDING", start: 0x00000000, end: 0x00010000 },
  { name: "DROM", start: 0x42000000, end: 0x43000000 },
  { name: "DRAM", start: 0x40800000, end: 0x40880000 },
  { name: "BYTE_ACCESSIBLE", start: 0x40800000, end: 0x40880000 },
  { name: "DROM_MASK", start: 0x4004ac00, end: 0x40050000 },
  { name: "IROM_MASK", start: 0x40000000, end: 0x4004ac00 },
  { name: "IROM", start: 0x42000000, end: 0x43000000 },
  { name: "IRAM", start: 0x40800000, end: 0x40880000 },
  { name: "RTC_IRAM", start: 0x50000000, end: 0x50004000 },
  { name: "RTC_DRAM", start: 0x50000000, end: 0x50004000 },
  { name: "MEM_INTERNAL2", start: 0x600fe000, end: 0x60100000 },
];

/**
 * The ESP32-H2 family (Bluetooth LE and 802.15.4, no Wi-Fi; 32 MHz crystal).
 *
 * @example
 * ```ts
 * import { ESP32H2 } from "./esp32h2.ts";
 * console.log(ESP32H2.imageChipId); // 16
 * ```
 */
export const ESP32H2: ChipFamily = {
  key: "esp32h2",
  name: "ESP32-H2",
  imageChipId: IMAGE_CHIP_ID,
  magicValues: MAGIC_VALUES,
  securityInfoHasChipId: true,
  bootloaderOffset: BOOTLOADER_FLASH_OFFSET,
  stubName: "esp32h2",
  rom: LATER_ROM,
  // esptool targets/esp32h2.py FLASH_FREQUENCY
  image: { ...ESP32_IMAGE, flashFreqs: { "48m": 0xf, "24m": 0x0, "16m": 0x1, "12m": 0x2 } },
  spi: SPI,
  memoryMap: MEMORY_MAP,

  readMac: (readReg) => readSplitMac(readReg, MAC_EFUSE_REG),
  readMacExt: (readReg) => readMacExt(readReg, MAC_EFUSE_REG + 4),

  readRevision,

  async readDescription(readReg) {
    const pkg = await readBitField(readReg, PKG_VERSION);
    return withRevision(PACKAGE_NAMES[pkg] ?? "Unknown ESP32-H2", await readRevision(readReg));
  },

  readFeatures: () => Promise.resolve(["BT 5 (LE)", "IEEE802.15.4", "Single Core", "96MHz"]),

  readCrystalMhz: () => Promise.resolve(XTAL_MHZ),
};
