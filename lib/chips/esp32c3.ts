/**
 * ESP32-C3 (and ESP8685/ESP8686 packages): detection values, SPI registers,
 * address map and eFuse readers.
 *
 * Facts from esptool v5.1.0 `esptool/targets/esp32c3.py`, cross-checked with
 * esptool-js `src/targets/esp32c3.ts`. esptool v5 detects this chip by the
 * GET_SECURITY_INFO chip id; the magic values come from esptool v4.8.1
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

/** esptool v4.8.1 targets/esp32c3.py CHIP_DETECT_MAGIC_VALUE (same list in esptool-js). */
const MAGIC_VALUES = [0x6921506f, 0x1b31506f, 0x4881606f, 0x4361606f];
/** esptool targets/esp32c3.py IMAGE_CHIP_ID. */
const IMAGE_CHIP_ID = 5;
/** esptool targets/esp32c3.py BOOTLOADER_FLASH_OFFSET. */
const BOOTLOADER_FLASH_OFFSET = 0x0;
/** Fixed crystal (esptool targets/esp32c3.py get_crystal_freq). */
const XTAL_MHZ = 40;

/** esptool targets/esp32c3.py SPI_REG_BASE. */
const SPI_REG_BASE = 0x60002000;

/** esptool targets/esp32c3.py EFUSE_BASE. */
const EFUSE_BASE = 0x60008800;
/** esptool targets/esp32c3.py EFUSE_BLOCK1_ADDR. */
const EFUSE_BLOCK1_ADDR = EFUSE_BASE + 0x44;
/** esptool targets/esp32c3.py MAC_EFUSE_REG. */
const MAC_EFUSE_REG = EFUSE_BASE + 0x44;

// Bit fields, from esptool targets/esp32c3.py (method name in each comment).
/** get_pkg_version: BLOCK1 word 3 bits 21..23. */
const PKG_VERSION = { address: EFUSE_BLOCK1_ADDR + 4 * 3, shift: 21, width: 3 };
/** get_minor_chip_version low part: BLOCK1 word 3 bits 18..20. */
const MINOR_LO = { address: EFUSE_BLOCK1_ADDR + 4 * 3, shift: 18, width: 3 };
/** get_minor_chip_version high bit: BLOCK1 word 5 bit 23. */
const MINOR_HI = { address: EFUSE_BLOCK1_ADDR + 4 * 5, shift: 23, width: 1 };
/** get_major_chip_version: BLOCK1 word 5 bits 24..25. */
const MAJOR = { address: EFUSE_BLOCK1_ADDR + 4 * 5, shift: 24, width: 2 };
/** get_flash_cap: BLOCK1 word 3 bits 27..29. */
const FLASH_CAP = { address: EFUSE_BLOCK1_ADDR + 4 * 3, shift: 27, width: 3 };
/** get_flash_vendor: BLOCK1 word 4 bits 0..2. */
const FLASH_VENDOR = { address: EFUSE_BLOCK1_ADDR + 4 * 4, shift: 0, width: 3 };

/** esptool targets/esp32c3.py get_chip_description. */
const PACKAGE_NAMES: Record<number, string> = {
  0: "ESP32-C3 (QFN32)",
  1: "ESP8685 (QFN28)",
  2: "ESP32-C3 AZ (QFN32)",
  3: "ESP8686 (QFN24)",
};
/** esptool targets/esp32c3.py get_flash_vendor. */
const FLASH_VENDORS: Record<number, string> = { 1: "XMC", 2: "GD", 3: "FM", 4: "TT", 5: "ZBIT" };
/** esptool targets/esp32c3.py get_chip_features (flash_cap 0 = none). */
const EMBEDDED_FLASH: Record<number, string> = {
  1: "Embedded Flash 4MB",
  2: "Embedded Flash 2MB",
  3: "Embedded Flash 1MB",
  4: "Embedded Flash 8MB",
};

async function readRevision(readReg: ReadReg): Promise<ChipRevision> {
  return {
    major: await readBitField(readReg, MAJOR),
    minor: ((await readBitField(readReg, MINOR_HI)) << 3) +
      (await readBitField(readReg, MINOR_LO)),
  };
}

const SPI: SpiRegisters = spiMemRegisters(SPI_REG_BASE);

/** esptool targets/esp32c3.py MEMORY_MAP (end exclusive). */
const MEMORY_MAP: MemoryRegion[] = [
  { name: "PADDING", start: 0x00000000, end: 0x00010000 },
  { name: "DROM", start: 0x3c000000, end: 0x3c800000 },
  { name: "DRAM", start: 0x3fc80000, end: 0x3fce0000 },
  { name: "BYTE_ACCESSIBLE", start: 0x3fc88000, end: 0x3fd00000 },
  { name: "DROM_MASK", start: 0x3ff00000, end: 0x3ff20000 },
  { name: "IROM_MASK", start: 0x40000000, end: 0x40060000 },
  { name: "IROM", start: 0x42000000, end: 0x42800000 },
  { name: "IRAM", start: 0x4037c000, end: 0x403e0000 },
  { name: "RTC_IRAM", start: 0x50000000, end: 0x50002000 },
  { name: "RTC_DRAM", start: 0x50000000, end: 0x50002000 },
  { name: "MEM_INTERNAL2", start: 0x600fe000, end: 0x60100000 },
];

/**
 * The ESP32-C3 family.
 *
 * @example
 * ```ts
 * import { ESP32C3 } from "./esp32c3.ts";
 * console.log(ESP32C3.magicValues.length); // 4
 * ```
 */
export const ESP32C3: ChipFamily = {
  // esptool targets/esp32c3.py RTCCNTL_BASE_REG + RTC_CNTL_WDT*
  rtcWatchdog: {
    config0: 0x60008000 + 0x90,
    config1: 0x60008000 + 0x94,
    protect: 0x60008000 + 0xa8,
  },
  key: "esp32c3",
  name: "ESP32-C3",
  imageChipId: IMAGE_CHIP_ID,
  magicValues: MAGIC_VALUES,
  securityInfoHasChipId: true,
  bootloaderOffset: BOOTLOADER_FLASH_OFFSET,
  stubName: "esp32c3",
  rom: LATER_ROM,
  image: ESP32_IMAGE,
  spi: SPI,
  memoryMap: MEMORY_MAP,

  readMac: (readReg) => readSplitMac(readReg, MAC_EFUSE_REG),

  readRevision,

  async readDescription(readReg) {
    const pkg = await readBitField(readReg, PKG_VERSION);
    return withRevision(PACKAGE_NAMES[pkg] ?? "Unknown ESP32-C3", await readRevision(readReg));
  },

  async readFeatures(readReg) {
    const features = ["Wi-Fi", "BT 5 (LE)", "Single Core", "160MHz"];
    const flashCap = await readBitField(readReg, FLASH_CAP);
    if (flashCap !== 0) {
      const vendor = FLASH_VENDORS[await readBitField(readReg, FLASH_VENDOR)] ?? "";
      features.push(`${EMBEDDED_FLASH[flashCap] ?? "Unknown Embedded Flash"} (${vendor})`);
    }
    return features;
  },

  readCrystalMhz: () => Promise.resolve(XTAL_MHZ),
};
