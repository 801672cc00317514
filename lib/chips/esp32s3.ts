/**
 * ESP32-S3: detection values, SPI registers, address map and eFuse readers.
 *
 * Facts from esptool v5.1.0 `esptool/targets/esp32s3.py`, cross-checked with
 * esptool-js `src/targets/esp32s3.ts`. esptool v5 detects this chip by the
 * GET_SECURITY_INFO chip id; the magic value comes from esptool v4.8.1
 * (`CHIP_DETECT_MAGIC_VALUE`) and esptool-js `magic2Chip`.
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

/** esptool v4.8.1 targets/esp32s3.py CHIP_DETECT_MAGIC_VALUE; esptool-js magic2Chip. */
const MAGIC_VALUES = [0x00000009];
/** esptool targets/esp32s3.py IMAGE_CHIP_ID. */
const IMAGE_CHIP_ID = 9;
/** esptool targets/esp32s3.py BOOTLOADER_FLASH_OFFSET. */
const BOOTLOADER_FLASH_OFFSET = 0x0;
/** Fixed crystal (esptool targets/esp32s3.py get_crystal_freq). */
const XTAL_MHZ = 40;

/** esptool targets/esp32s3.py SPI_REG_BASE. */
const SPI_REG_BASE = 0x60002000;

/** esptool targets/esp32s3.py EFUSE_BASE. */
const EFUSE_BASE = 0x60007000;

/** Where the flash supply voltage is decided (esptool targets/esp32s3.py: no RTC override on this chip). */
const FLASH_VOLTAGE_REGS = {
  /** EFUSE_VDD_SPI_REG (EFUSE_BASE + 0x34): VDD_SPI_FORCE (bit 6), VDD_SPI_XPD (4), VDD_SPI_TIEH (5). */
  efuse: { reg: EFUSE_BASE + 0x34, force: 1 << 6, xpd: 1 << 4, tieh: 1 << 5 },
  /** GPIO_STRAP_REG, GPIO_STRAP_VDDSPI (bit 4, the GPIO45 pin). */
  strap: { reg: 0x60004038, mask: 1 << 4 },
};
/** EFUSE_RD_REPEAT_DATA3_REG (EFUSE_BASE + 0x3C) and its FLASH_TYPE bit 9 (esptool targets/esp32s3.py flash_type). */
const FLASH_TYPE = { reg: EFUSE_BASE + 0x3c, mask: 1 << 9 };

/** eFuse BLOCK1 (MAC/system data) read words (esptool targets/esp32s3.py EFUSE_BLOCK1_ADDR). */
const EFUSE_BLOCK1_ADDR = EFUSE_BASE + 0x44;
/** eFuse BLOCK2 read words (esptool targets/esp32s3.py EFUSE_BLOCK2_ADDR). */
const EFUSE_BLOCK2_ADDR = EFUSE_BASE + 0x5c;
/** esptool targets/esp32s3.py MAC_EFUSE_REG. */
const MAC_EFUSE_REG = EFUSE_BASE + 0x44;

// Bit fields, from esptool targets/esp32s3.py (method name in each comment).
/** get_pkg_version: BLOCK1 word 3 bits 21..23. */
const PKG_VERSION = { address: EFUSE_BLOCK1_ADDR + 4 * 3, shift: 21, width: 3 };
/** get_raw_minor_chip_version low part: BLOCK1 word 3 bits 18..20. */
const MINOR_LO = { address: EFUSE_BLOCK1_ADDR + 4 * 3, shift: 18, width: 3 };
/** get_raw_minor_chip_version high bit: BLOCK1 word 5 bit 23. */
const MINOR_HI = { address: EFUSE_BLOCK1_ADDR + 4 * 5, shift: 23, width: 1 };
/** get_raw_major_chip_version: BLOCK1 word 5 bits 24..25. */
const MAJOR = { address: EFUSE_BLOCK1_ADDR + 4 * 5, shift: 24, width: 2 };
/** get_blk_version_major: BLOCK2 word 4 bits 0..1. */
const BLK_VERSION_MAJOR = { address: EFUSE_BLOCK2_ADDR + 4 * 4, shift: 0, width: 2 };
/** get_blk_version_minor: BLOCK1 word 3 bits 24..26. */
const BLK_VERSION_MINOR = { address: EFUSE_BLOCK1_ADDR + 4 * 3, shift: 24, width: 3 };
/** get_flash_cap: BLOCK1 word 3 bits 27..29. */
const FLASH_CAP = { address: EFUSE_BLOCK1_ADDR + 4 * 3, shift: 27, width: 3 };
/** get_flash_vendor: BLOCK1 word 4 bits 0..2. */
const FLASH_VENDOR = { address: EFUSE_BLOCK1_ADDR + 4 * 4, shift: 0, width: 3 };
/** get_psram_cap low bits: BLOCK1 word 4 bits 3..4. */
const PSRAM_CAP_LO = { address: EFUSE_BLOCK1_ADDR + 4 * 4, shift: 3, width: 2 };
/** get_psram_cap high bit: BLOCK1 word 5 bit 19. */
const PSRAM_CAP_HI = { address: EFUSE_BLOCK1_ADDR + 4 * 5, shift: 19, width: 1 };
/** get_psram_vendor: BLOCK1 word 4 bits 7..8. */
const PSRAM_VENDOR = { address: EFUSE_BLOCK1_ADDR + 4 * 4, shift: 7, width: 2 };

/** esptool targets/esp32s3.py get_chip_description. */
const PACKAGE_NAMES: Record<number, string> = {
  0: "ESP32-S3 (QFN56)",
  1: "ESP32-S3-PICO-1 (LGA56)",
};
/** esptool targets/esp32s3.py get_flash_vendor. */
const FLASH_VENDORS: Record<number, string> = { 1: "XMC", 2: "GD", 3: "FM", 4: "TT", 5: "BY" };
/** esptool targets/esp32s3.py get_psram_vendor. */
const PSRAM_VENDORS: Record<number, string> = { 1: "AP_3v3", 2: "AP_1v8" };
/** esptool targets/esp32s3.py get_chip_features (flash_cap 0 = none). */
const EMBEDDED_FLASH: Record<number, string> = {
  1: "Embedded Flash 8MB",
  2: "Embedded Flash 4MB",
};
/** esptool targets/esp32s3.py get_chip_features (psram_cap 0 = none). */
const EMBEDDED_PSRAM: Record<number, string> = {
  1: "Embedded PSRAM 8MB",
  2: "Embedded PSRAM 2MB",
  3: "Embedded PSRAM 16MB",
  4: "Embedded PSRAM 4MB",
};

async function readRevision(readReg: ReadReg): Promise<ChipRevision> {
  const minorRaw = ((await readBitField(readReg, MINOR_HI)) << 3) +
    (await readBitField(readReg, MINOR_LO));
  // esptool is_eco0: chips v0.0 with eFuse block version v1.1 reused the major field.
  const eco0 = (minorRaw & 0x7) === 0 &&
    (await readBitField(readReg, BLK_VERSION_MAJOR)) === 1 &&
    (await readBitField(readReg, BLK_VERSION_MINOR)) === 1;
  if (eco0) return { major: 0, minor: 0 };
  return { major: await readBitField(readReg, MAJOR), minor: minorRaw };
}

const SPI: SpiRegisters = spiMemRegisters(SPI_REG_BASE);

/** esptool targets/esp32s3.py MEMORY_MAP (end exclusive). */
const MEMORY_MAP: MemoryRegion[] = [
  { name: "PADDING", start: 0x00000000, end: 0x00010000 },
  { name: "DROM", start: 0x3c000000, end: 0x3d000000 },
  { name: "EXTRAM_DATA", start: 0x3d000000, end: 0x3e000000 },
  { name: "RTC_DRAM", start: 0x600fe000, end: 0x60100000 },
  { name: "BYTE_ACCESSIBLE", start: 0x3fc88000, end: 0x3fd00000 },
  { name: "MEM_INTERNAL", start: 0x3fc88000, end: 0x403e2000 },
  { name: "DRAM", start: 0x3fc88000, end: 0x3fd00000 },
  { name: "IROM_MASK", start: 0x40000000, end: 0x4001a100 },
  { name: "IRAM", start: 0x40370000, end: 0x403e0000 },
  { name: "RTC_IRAM", start: 0x600fe000, end: 0x60100000 },
  { name: "IROM", start: 0x42000000, end: 0x42800000 },
  { name: "RTC_DATA", start: 0x50000000, end: 0x50002000 },
];

/**
 * The ESP32-S3 family.
 *
 * @example
 * ```ts
 * import { ESP32S3 } from "./esp32s3.ts";
 * console.log(ESP32S3.imageChipId); // 9
 * ```
 */
export const ESP32S3: ChipFamily = {
  // esptool targets/esp32s3.py RTCCNTL_BASE_REG + RTC_CNTL_WDT*
  rtcWatchdog: {
    config0: 0x60008000 + 0x98,
    config1: 0x60008000 + 0x9c,
    protect: 0x60008000 + 0xb0,
  },
  key: "esp32s3",
  name: "ESP32-S3",
  imageChipId: IMAGE_CHIP_ID,
  magicValues: MAGIC_VALUES,
  securityInfoHasChipId: true,
  bootloaderOffset: BOOTLOADER_FLASH_OFFSET,
  stubName: "esp32s3",
  rom: LATER_ROM,
  image: ESP32_IMAGE,
  spi: SPI,
  memoryMap: MEMORY_MAP,

  readMac: (readReg) => readSplitMac(readReg, MAC_EFUSE_REG),

  readRevision,

  async readDescription(readReg) {
    const revision = await readRevision(readReg);
    const pkg = await readBitField(readReg, PKG_VERSION);
    return withRevision(PACKAGE_NAMES[pkg] ?? "Unknown ESP32-S3", revision);
  },

  async readFeatures(readReg) {
    const features = ["Wi-Fi", "BT 5 (LE)", "Dual Core + LP Core", "240MHz"];
    const flashCap = await readBitField(readReg, FLASH_CAP);
    if (flashCap !== 0) {
      const vendor = FLASH_VENDORS[await readBitField(readReg, FLASH_VENDOR)] ?? "";
      features.push(`${EMBEDDED_FLASH[flashCap] ?? "Unknown Embedded Flash"} (${vendor})`);
    }
    const psramCap = ((await readBitField(readReg, PSRAM_CAP_HI)) << 2) |
      (await readBitField(readReg, PSRAM_CAP_LO));
    if (psramCap !== 0) {
      const vendor = PSRAM_VENDORS[await readBitField(readReg, PSRAM_VENDOR)] ?? "";
      features.push(`${EMBEDDED_PSRAM[psramCap] ?? "Unknown Embedded PSRAM"} (${vendor})`);
    }
    return features;
  },

  readCrystalMhz: () => Promise.resolve(XTAL_MHZ),

  readFlashVoltage: (readReg) => readFlashVoltage(readReg, FLASH_VOLTAGE_REGS),

  async readFlashType(readReg) {
    return ((await readReg(FLASH_TYPE.reg)) >>> 0) & FLASH_TYPE.mask ? "octal" : "quad";
  },
};
