/**
 * ESP32-C6: detection value, SPI registers, address map and eFuse readers.
 *
 * Facts from esptool v5.1.0 `esptool/targets/esp32c6.py`, cross-checked with
 * esptool-js `src/targets/esp32c6.ts`. The magic value comes from esptool
 * v4.8.1 (`CHIP_DETECT_MAGIC_VALUE`) and esptool-js `magic2Chip`.
 *
 * @module
 */

import { withRevision } from "./description.ts";
import { readBitField, readMacExt, readSplitMac } from "./efuse.ts";
import { spiMemRegisters } from "./spi_registers.ts";
import { LATER_ROM } from "./rom_loader.ts";
import type { ChipFamily, ChipRevision, MemoryRegion, ReadReg, SpiRegisters } from "./types.ts";
import { ESP32_IMAGE } from "./image_format.ts";

/** esptool v4.8.1 targets/esp32c6.py CHIP_DETECT_MAGIC_VALUE (same in esptool-js). */
const MAGIC_VALUES = [0x2ce0806f];
/** esptool targets/esp32c6.py IMAGE_CHIP_ID. */
const IMAGE_CHIP_ID = 13;
/** esptool targets/esp32c6.py BOOTLOADER_FLASH_OFFSET. */
const BOOTLOADER_FLASH_OFFSET = 0x0;
/** Fixed crystal (esptool targets/esp32c6.py get_crystal_freq). */
const XTAL_MHZ = 40;

/** esptool targets/esp32c6.py SPI_REG_BASE. */
const SPI_REG_BASE = 0x60003000;

/** esptool targets/esp32c6.py EFUSE_BASE. */
const EFUSE_BASE = 0x600b0800;
/** esptool targets/esp32c6.py EFUSE_BLOCK1_ADDR. */
const EFUSE_BLOCK1_ADDR = EFUSE_BASE + 0x44;
/** esptool targets/esp32c6.py MAC_EFUSE_REG. */
const MAC_EFUSE_REG = EFUSE_BASE + 0x44;

// Bit fields, from esptool targets/esp32c6.py (method name in each comment).
/** get_minor_chip_version: BLOCK1 word 3 bits 18..21. */
const MINOR = { address: EFUSE_BLOCK1_ADDR + 4 * 3, shift: 18, width: 4 };
/** get_major_chip_version: BLOCK1 word 3 bits 22..23. */
const MAJOR = { address: EFUSE_BLOCK1_ADDR + 4 * 3, shift: 22, width: 2 };
/** get_pkg_version: BLOCK1 word 3 bits 24..26. */
const PKG_VERSION = { address: EFUSE_BLOCK1_ADDR + 4 * 3, shift: 24, width: 3 };
/** get_flash_cap (esptool 5.3.1): BLOCK1 word 4 bits 0..2. */
const FLASH_CAP = { address: EFUSE_BLOCK1_ADDR + 4 * 4, shift: 0, width: 3 };

/**
 * esptool 5.3.1 targets/esp32c6.py get_chip_description: package 1 is the
 * FH4 or the FH8, told apart by the embedded flash size.
 */
const PACKAGE_NAMES: Record<number, string> = {
  0: "ESP32-C6 (QFN40)",
};
/** Package 1's name by flash_cap (esptool 5.3.1 get_chip_description). */
const PKG1_BY_FLASH_CAP: Record<number, string> = {
  1: "ESP32-C6FH4 (QFN32)",
  2: "ESP32-C6FH8 (QFN32)",
};
/** esptool 5.3.1 get_chip_features: the embedded flash by flash_cap (anything else is "Unknown"). */
const FLASH_FEATURE: Record<number, string> = {
  1: "Embedded Flash 4MB",
  2: "Embedded Flash 8MB",
};

async function readRevision(readReg: ReadReg): Promise<ChipRevision> {
  return {
    major: await readBitField(readReg, MAJOR),
    minor: await readBitField(readReg, MINOR),
  };
}

const SPI: SpiRegisters = spiMemRegisters(SPI_REG_BASE);

/** esptool targets/esp32c6.py MEMORY_MAP (end exclusive). */
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
 * The ESP32-C6 family.
 *
 * @example
 * ```ts
 * import { ESP32C6 } from "./esp32c6.ts";
 * console.log(ESP32C6.imageChipId); // 13
 * ```
 */
export const ESP32C6: ChipFamily = {
  key: "esp32c6",
  name: "ESP32-C6",
  imageChipId: IMAGE_CHIP_ID,
  magicValues: MAGIC_VALUES,
  securityInfoHasChipId: true,
  bootloaderOffset: BOOTLOADER_FLASH_OFFSET,
  stubName: "esp32c6",
  rom: LATER_ROM,
  // esptool targets/esp32c6.py FLASH_FREQUENCY; 80m is 0x0, esptool's workaround for the C6 ROM
  image: { ...ESP32_IMAGE, flashFreqs: { "80m": 0x0, "40m": 0x0, "20m": 0x2 } },
  spi: SPI,
  memoryMap: MEMORY_MAP,

  readMac: (readReg) => readSplitMac(readReg, MAC_EFUSE_REG),
  readMacExt: (readReg) => readMacExt(readReg, MAC_EFUSE_REG + 4),

  readRevision,

  async readDescription(readReg) {
    const pkg = await readBitField(readReg, PKG_VERSION);
    const name = pkg === 1
      ? PKG1_BY_FLASH_CAP[await readBitField(readReg, FLASH_CAP)]
      : PACKAGE_NAMES[pkg];
    return withRevision(name ?? "Unknown ESP32-C6", await readRevision(readReg));
  },

  async readFeatures(readReg) {
    return [
      "Wi-Fi 6",
      "BT 5 (LE)",
      "IEEE802.15.4",
      "Single Core + LP Core",
      "160MHz",
      FLASH_FEATURE[await readBitField(readReg, FLASH_CAP)] ?? "Unknown Embedded Flash",
    ];
  },

  readCrystalMhz: () => Promise.resolve(XTAL_MHZ),
};
