/**
 * ESP32-P4: detection values, SPI registers, address map and eFuse readers.
 *
 * Facts from esptool v5.1.0 `esptool/targets/esp32p4.py`, cross-checked with
 * esptool-js `src/targets/esp32p4.ts`. Magic values from esptool v4.8.1
 * (`CHIP_DETECT_MAGIC_VALUE`) and esptool-js `magic2Chip`.
 *
 * @module
 */

import { withRevision } from "./description.ts";
import { readBitField, readSplitMac } from "./efuse.ts";
import { spiMemRegisters } from "./spi_registers.ts";
import { LATER_ROM } from "./rom_loader.ts";
import type { ChipFamily, ChipRevision, MemoryRegion, ReadReg, SpiRegisters } from "./types.ts";
import { ESP32_IMAGE } from "./image_format.ts";

/**
 * 0x0, 0x0ADDBAD0: esptool v4.8.1 targets/esp32p4.py CHIP_DETECT_MAGIC_VALUE;
 * 0x07039AD9: esptool-js magic2Chip.
 */
const MAGIC_VALUES = [0x00000000, 0x0addbad0, 0x07039ad9];
/** esptool targets/esp32p4.py IMAGE_CHIP_ID. */
const IMAGE_CHIP_ID = 18;
/** First two sectors are reserved (esptool targets/esp32p4.py BOOTLOADER_FLASH_OFFSET). */
const BOOTLOADER_FLASH_OFFSET = 0x2000;
/** Fixed crystal (esptool targets/esp32p4.py get_crystal_freq). */
const XTAL_MHZ = 40;
/** Revisions below v3.0 need the older stub (esptool targets/esp32p4.py stub_json_name: `< 300`). */
const NEW_STUB_MIN_MAJOR = 3;

/** SPIMEM1 (esptool targets/esp32p4.py SPI_REG_BASE). */
const SPI_REG_BASE = 0x5008d000;

/** esptool targets/esp32p4.py EFUSE_BASE. */
const EFUSE_BASE = 0x5012d000;
/** esptool targets/esp32p4.py EFUSE_BLOCK1_ADDR. */
const EFUSE_BLOCK1_ADDR = EFUSE_BASE + 0x44;
/** esptool targets/esp32p4.py MAC_EFUSE_REG. */
const MAC_EFUSE_REG = EFUSE_BASE + 0x44;

// Bit fields, from esptool targets/esp32p4.py (method name in each comment).
/** get_minor_chip_version: BLOCK1 word 2 bits 0..3. */
const MINOR = { address: EFUSE_BLOCK1_ADDR + 4 * 2, shift: 0, width: 4 };
/** get_major_chip_version low bits: BLOCK1 word 2 bits 4..5. */
const MAJOR_LO = { address: EFUSE_BLOCK1_ADDR + 4 * 2, shift: 4, width: 2 };
/** get_major_chip_version high bit: BLOCK1 word 2 bit 23. */
const MAJOR_HI = { address: EFUSE_BLOCK1_ADDR + 4 * 2, shift: 23, width: 1 };
/** get_pkg_version: BLOCK1 word 2 bits 20..22. */
const PKG_VERSION = { address: EFUSE_BLOCK1_ADDR + 4 * 2, shift: 20, width: 3 };

/** esptool targets/esp32p4.py get_chip_description. */
const PACKAGE_NAMES: Record<number, string> = { 0: "ESP32-P4" };

async function readRevision(readReg: ReadReg): Promise<ChipRevision> {
  return {
    major: ((await readBitField(readReg, MAJOR_HI)) << 2) |
      (await readBitField(readReg, MAJOR_LO)),
    minor: await readBitField(readReg, MINOR),
  };
}

const SPI: SpiRegisters = spiMemRegisters(SPI_REG_BASE);

/** esptool targets/esp32p4.py MEMORY_MAP (end exclusive). */
const MEMORY_MAP: MemoryRegion[] = [
  { name: "PADDING", start: 0x00000000, end: 0x00010000 },
  { name: "DROM", start: 0x40000000, end: 0x4c000000 },
  { name: "DRAM", start: 0x4ff00000, end: 0x4ffa0000 },
  { name: "BYTE_ACCESSIBLE", start: 0x4ff00000, end: 0x4ffa0000 },
  { name: "DROM_MASK", start: 0x4fc00000, end: 0x4fc20000 },
  { name: "IROM_MASK", start: 0x4fc00000, end: 0x4fc20000 },
  { name: "IROM", start: 0x40000000, end: 0x4c000000 },
  { name: "IRAM", start: 0x4ff00000, end: 0x4ffa0000 },
  { name: "RTC_IRAM", start: 0x50108000, end: 0x50110000 },
  { name: "RTC_DRAM", start: 0x50108000, end: 0x50110000 },
  { name: "MEM_INTERNAL2", start: 0x600fe000, end: 0x60100000 },
];

/**
 * The ESP32-P4 family. Silicon before v3.0 needs the `esp32p4-rev1` stub;
 * use {@link ChipFamily.stubNameForRevision}.
 *
 * @example
 * ```ts
 * import { ESP32P4 } from "./esp32p4.ts";
 * console.log(ESP32P4.stubNameForRevision?.({ major: 1, minor: 0 })); // "esp32p4-rev1"
 * ```
 */
export const ESP32P4: ChipFamily = {
  key: "esp32p4",
  name: "ESP32-P4",
  imageChipId: IMAGE_CHIP_ID,
  magicValues: MAGIC_VALUES,
  securityInfoHasChipId: true,
  bootloaderOffset: BOOTLOADER_FLASH_OFFSET,
  stubName: "esp32p4",
  stubNameForRevision: (revision) =>
    revision.major < NEW_STUB_MIN_MAJOR ? "esp32p4-rev1" : "esp32p4",
  rom: LATER_ROM,
  image: ESP32_IMAGE,
  spi: SPI,
  memoryMap: MEMORY_MAP,

  readMac: (readReg) => readSplitMac(readReg, MAC_EFUSE_REG),

  readRevision,

  async readDescription(readReg) {
    const pkg = await readBitField(readReg, PKG_VERSION);
    return withRevision(PACKAGE_NAMES[pkg] ?? "Unknown ESP32-P4", await readRevision(readReg));
  },

  readFeatures: () => Promise.resolve(["Dual Core + LP Core", "400MHz"]),

  readCrystalMhz: () => Promise.resolve(XTAL_MHZ),
};
