/**
 * ESP32-S2: detection value, SPI registers, address map and eFuse readers.
 *
 * Facts from esptool v5.1.0 `esptool/targets/esp32s2.py`, cross-checked with
 * esptool-js `src/targets/esp32s2.ts`. Its ROM answers GET_SECURITY_INFO
 * without a chip id, so it is detected by the magic value.
 *
 * @module
 */

import { withRevision } from "./description.ts";
import { readBitField, readSplitMac } from "./efuse.ts";
import { readFlashVoltage } from "./flash_voltage.ts";
import { spiMemRegisters } from "./spi_registers.ts";
import { LATER_ROM } from "./rom_loader.ts";
import type { ChipFamily, ChipRevision, MemoryRegion, ReadReg, SpiRegisters } from "./types.ts";
import { ESP32_IMAGE } from "./image_format.ts";

/** esptool targets/esp32s2.py MAGIC_VALUE. */
const MAGIC_VALUE = 0x000007c6;
/** esptool targets/esp32s2.py IMAGE_CHIP_ID. */
const IMAGE_CHIP_ID = 2;
/** Inherited from ESP32ROM (esptool targets/esp32.py BOOTLOADER_FLASH_OFFSET). */
const BOOTLOADER_FLASH_OFFSET = 0x1000;
/** Fixed crystal (esptool targets/esp32s2.py get_crystal_freq). */
const XTAL_MHZ = 40;

/** esptool targets/esp32s2.py SPI_REG_BASE. */
const SPI_REG_BASE = 0x3f402000;

/** esptool targets/esp32s2.py EFUSE_BASE. */
const EFUSE_BASE = 0x3f41a000;

/** Where the flash supply voltage is decided (esptool targets/esp32s2.py: no RTC override on this chip). */
const FLASH_VOLTAGE_REGS = {
  /** EFUSE_VDD_SPI_REG (EFUSE_BASE + 0x34): VDD_SPI_FORCE (bit 6), VDD_SPI_XPD (4), VDD_SPI_TIEH (5). */
  efuse: { reg: EFUSE_BASE + 0x34, force: 1 << 6, xpd: 1 << 4, tieh: 1 << 5 },
  /** GPIO_STRAP_REG, GPIO_STRAP_VDDSPI (bit 4, the GPIO45 pin). */
  strap: { reg: 0x3f404038, mask: 1 << 4 },
};
/** EFUSE_RD_REPEAT_DATA3_REG (EFUSE_BASE + 0x3C) and its FLASH_TYPE bit 9 (esptool targets/esp32s2.py flash_type). */
const FLASH_TYPE = { reg: EFUSE_BASE + 0x3c, mask: 1 << 9 };

/** esptool targets/esp32s2.py EFUSE_BLOCK1_ADDR. */
const EFUSE_BLOCK1_ADDR = EFUSE_BASE + 0x44;
/** esptool targets/esp32s2.py EFUSE_BLOCK2_ADDR. */
const EFUSE_BLOCK2_ADDR = EFUSE_BASE + 0x5c;
/** esptool targets/esp32s2.py MAC_EFUSE_REG. */
const MAC_EFUSE_REG = 0x3f41a044;

// Bit fields, from esptool targets/esp32s2.py (method name in each comment).
/** get_minor_chip_version high bit: BLOCK1 word 3 bit 20. */
const MINOR_HI = { address: EFUSE_BLOCK1_ADDR + 4 * 3, shift: 20, width: 1 };
/** get_minor_chip_version low part: BLOCK1 word 4 bits 4..6. */
const MINOR_LO = { address: EFUSE_BLOCK1_ADDR + 4 * 4, shift: 4, width: 3 };
/** get_major_chip_version: BLOCK1 word 3 bits 18..19. */
const MAJOR = { address: EFUSE_BLOCK1_ADDR + 4 * 3, shift: 18, width: 2 };
/** get_flash_version / get_flash_cap: BLOCK1 word 3 bits 21..24. */
const FLASH_CAP = { address: EFUSE_BLOCK1_ADDR + 4 * 3, shift: 21, width: 4 };
/** get_psram_version / get_psram_cap: BLOCK1 word 3 bits 28..31. */
const PSRAM_CAP = { address: EFUSE_BLOCK1_ADDR + 4 * 3, shift: 28, width: 4 };
/** get_block2_version: BLOCK2 word 4 bits 4..6. */
const BLOCK2_VERSION = { address: EFUSE_BLOCK2_ADDR + 4 * 4, shift: 4, width: 3 };

/** Name by `flash_cap + psram_cap * 100` (esptool targets/esp32s2.py get_chip_description). */
const PACKAGE_NAMES: Record<number, string> = {
  0: "ESP32-S2",
  1: "ESP32-S2FH2",
  2: "ESP32-S2FH4",
  102: "ESP32-S2FNR2",
  100: "ESP32-S2R2",
};
/** esptool targets/esp32s2.py get_chip_features. */
const FLASH_FEATURE: Record<number, string> = {
  0: "No Embedded Flash",
  1: "Embedded Flash 2MB",
  2: "Embedded Flash 4MB",
};
/** esptool targets/esp32s2.py get_chip_features. */
const PSRAM_FEATURE: Record<number, string> = {
  0: "No Embedded PSRAM",
  1: "Embedded PSRAM 2MB",
  2: "Embedded PSRAM 4MB",
};
/** esptool targets/esp32s2.py get_chip_features. */
const BLOCK2_FEATURE: Record<number, string> = {
  0: "No calibration in BLK2 of efuse",
  1: "ADC and temperature sensor calibration in BLK2 of eFuse V1",
  2: "ADC and temperature sensor calibration in BLK2 of eFuse V2",
};

async function readRevision(readReg: ReadReg): Promise<ChipRevision> {
  return {
    major: await readBitField(readReg, MAJOR),
    minor: ((await readBitField(readReg, MINOR_HI)) << 3) +
      (await readBitField(readReg, MINOR_LO)),
  };
}

const SPI: SpiRegisters = spiMemRegisters(SPI_REG_BASE);

/** esptool targets/esp32s2.py MEMORY_MAP (end exclusive). */
const MEMORY_MAP: MemoryRegion[] = [
  { name: "PADDING", start: 0x00000000, end: 0x00010000 },
  { name: "DROM", start: 0x3f000000, end: 0x3ff80000 },
  { name: "EXTRAM_DATA", start: 0x3f500000, end: 0x3ff80000 },
  { name: "RTC_DRAM", start: 0x3ff9e000, end: 0x3ffa0000 },
  { name: "BYTE_ACCESSIBLE", start: 0x3ff9e000, end: 0x40000000 },
  { name: "MEM_INTERNAL", start: 0x3ff9e000, end: 0x40072000 },
  { name: "DRAM", start: 0x3ffb0000, end: 0x40000000 },
  { name: "IROM_MASK", start: 0x40000000, end: 0x4001a100 },
  { name: "IRAM", start: 0x40020000, end: 0x40070000 },
  { name: "RTC_IRAM", start: 0x40070000, end: 0x40072000 },
  { name: "IROM", start: 0x40080000, end: 0x40800000 },
  { name: "RTC_DATA", start: 0x50000000, end: 0x50002000 },
];

/**
 * The ESP32-S2 family.
 *
 * @example
 * ```ts
 * import { ESP32S2 } from "./esp32s2.ts";
 * console.log(ESP32S2.securityInfoHasChipId); // false
 * ```
 */
export const ESP32S2: ChipFamily = {
  // esptool targets/esp32s2.py RTCCNTL_BASE_REG + RTC_CNTL_WDT*
  rtcWatchdog: {
    config0: 0x3f408000 + 0x94,
    config1: 0x3f408000 + 0x98,
    protect: 0x3f408000 + 0xac,
  },
  key: "esp32s2",
  name: "ESP32-S2",
  imageChipId: IMAGE_CHIP_ID,
  magicValues: [MAGIC_VALUE],
  securityInfoHasChipId: false,
  bootloaderOffset: BOOTLOADER_FLASH_OFFSET,
  stubName: "esp32s2",
  rom: LATER_ROM,
  image: ESP32_IMAGE,
  spi: SPI,
  memoryMap: MEMORY_MAP,

  readMac: (readReg) => readSplitMac(readReg, MAC_EFUSE_REG),

  readRevision,

  async readDescription(readReg) {
    const code = (await readBitField(readReg, FLASH_CAP)) +
      (await readBitField(readReg, PSRAM_CAP)) * 100;
    return withRevision(PACKAGE_NAMES[code] ?? "Unknown ESP32-S2", await readRevision(readReg));
  },

  async readFeatures(readReg) {
    return [
      "Wi-Fi",
      "Single Core",
      "240MHz",
      FLASH_FEATURE[await readBitField(readReg, FLASH_CAP)] ?? "Unknown Embedded Flash",
      PSRAM_FEATURE[await readBitField(readReg, PSRAM_CAP)] ?? "Unknown Embedded PSRAM",
      BLOCK2_FEATURE[await readBitField(readReg, BLOCK2_VERSION)] ?? "Unknown calibration in BLK2",
    ];
  },

  readCrystalMhz: () => Promise.resolve(XTAL_MHZ),

  readFlashVoltage: (readReg) => readFlashVoltage(readReg, FLASH_VOLTAGE_REGS),

  async readFlashType(readReg) {
    return ((await readReg(FLASH_TYPE.reg)) >>> 0) & FLASH_TYPE.mask ? "octal" : "quad";
  },
};
