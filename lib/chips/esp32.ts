/**
 * ESP32 (the original dual-core part): detection values, SPI registers,
 * address map and eFuse readers.
 *
 * Facts from esptool v5.1.0 `esptool/targets/esp32.py`, cross-checked with
 * esptool-js `src/targets/esp32.ts`.
 *
 * @module
 */

import { readUartCrystalMhz } from "./crystal.ts";
import { withRevision } from "./description.ts";
import { extractBits, macCrc8 } from "./efuse.ts";
import { readFlashVoltage } from "./flash_voltage.ts";
import { ESP32_ROM } from "./rom_loader.ts";
import type { ChipFamily, ChipRevision, MemoryRegion, ReadReg, SpiRegisters } from "./types.ts";
import { ESP32_IMAGE } from "./image_format.ts";

/** Value at 0x40001000 on ESP32 (esptool targets/esp32.py MAGIC_VALUE). */
const MAGIC_VALUE = 0x00f01d83;
/** Chip id in image headers (esptool targets/esp32.py IMAGE_CHIP_ID). */
const IMAGE_CHIP_ID = 0;
/** Second-stage bootloader offset (esptool targets/esp32.py BOOTLOADER_FLASH_OFFSET). */
const BOOTLOADER_FLASH_OFFSET = 0x1000;

/** SPI flash controller base (esptool targets/esp32.py SPI_REG_BASE). */
const SPI_REG_BASE = 0x3ff42000;
/** SPI_CMD_REG offset (esptool loader.py run_spiflash_command: base + 0x00). */
const SPI_CMD_OFFS = 0x00;
/** esptool targets/esp32.py SPI_USR_OFFS. */
const SPI_USR_OFFS = 0x1c;
/** esptool targets/esp32.py SPI_USR1_OFFS. */
const SPI_USR1_OFFS = 0x20;
/** esptool targets/esp32.py SPI_USR2_OFFS. */
const SPI_USR2_OFFS = 0x24;
/** esptool targets/esp32.py SPI_MOSI_DLEN_OFFS. */
const SPI_MOSI_DLEN_OFFS = 0x28;
/** esptool targets/esp32.py SPI_MISO_DLEN_OFFS. */
const SPI_MISO_DLEN_OFFS = 0x2c;
/** esptool targets/esp32.py SPI_W0_OFFS. */
const SPI_W0_OFFS = 0x80;

/** eFuse BLOCK0 read words start here; word n is at +4n (esptool targets/esp32.py EFUSE_RD_REG_BASE). */
const EFUSE_RD_REG_BASE = 0x3ff5a000;
/** APB_CTL_DATE register, bit 31 is chip revision bit 2 (esptool targets/esp32.py APB_CTL_DATE_ADDR). */
const APB_CTL_DATE_ADDR = 0x3ff66000 + 0x7c;
/** esptool targets/esp32.py APB_CTL_DATE_S. */
const APB_CTL_DATE_S = 31;
/** UART0 clock divider (esptool targets/esp32.py UART_CLKDIV_REG). */
const UART_CLKDIV_REG = 0x3ff40014;
/** Bus clock equals the crystal on ESP32 (esptool targets/esp32.py XTAL_CLK_DIVIDER). */
const XTAL_CLK_DIVIDER = 1;

/** Where the flash supply voltage is decided (esptool targets/esp32.py get_flash_voltage). */
const FLASH_VOLTAGE_REGS = {
  /** RTC_CNTL_SDIO_CONF_REG: SDIO_FORCE (bit 22), DREFH_SDIO (bits 29..30), XPD_SDIO (bit 31). */
  rtc: { reg: 0x3ff48074, force: 1 << 22, drefh: 3 << 29, xpd: 1 << 31 },
  /** EFUSE_VDD_SPI_REG (BLOCK0 word 4): XPD_SDIO_FORCE (bit 16), XPD_SDIO_REG (14), XPD_SDIO_TIEH (15). */
  efuse: { reg: EFUSE_RD_REG_BASE + 0x10, force: 1 << 16, xpd: 1 << 14, tieh: 1 << 15 },
  /** GPIO_STRAP_REG, GPIO_STRAP_VDDSDIO (bit 5, the MTDI pin). */
  strap: { reg: 0x3ff44038, mask: 1 << 5 },
};

/** Address of eFuse BLOCK0 read word `n`. */
function efuseWord(n: number): number {
  return EFUSE_RD_REG_BASE + 4 * n;
}

// Bit fields, all from esptool targets/esp32.py (get_pkg_version, get_*_chip_version, get_chip_features).
/** Word 2 bits 16..23: MAC_CRC, the CRC-8 of the factory MAC (espefuse esp32 mem_definition MAC_CRC; ESP-IDF MAC_FACTORY_CRC). */
const MAC_CRC = { shift: 16, width: 8 };
/**
 * Espressif's own MAC range that ESP-IDF accepts whatever its CRC says:
 * 18:fe:34:6a:85:c7 to 18:fe:34:6a:85:f8 (ESP-IDF mac_addr.c esp_efuse_mac_get_default).
 */
const CRC_EXEMPT = { high: 0x18fe, lowFirst: 0x346a85c7, lowLast: 0x346a85f8 };
/** Word 3 bit 0: CHIP_VER_DIS_APP_CPU (single core). */
const DIS_APP_CPU = { shift: 0, width: 1 };
/** Word 3 bit 1: CHIP_VER_DIS_BT. */
const DIS_BT = { shift: 1, width: 1 };
/** Word 3 bit 2: CHIP_VER_PKG bit 3. */
const PKG_HI = { shift: 2, width: 1 };
/** Word 3 bits 9..11: CHIP_VER_PKG bits 0..2. */
const PKG_LO = { shift: 9, width: 3 };
/** Word 3 bit 12: CHIP_CPU_FREQ_LOW. */
const CPU_FREQ_LOW = { shift: 12, width: 1 };
/** Word 3 bit 13: CHIP_CPU_FREQ_RATED. */
const CPU_FREQ_RATED = { shift: 13, width: 1 };
/** Word 3 bit 14: BLK3_PART_RESERVE. */
const BLK3_PART_RESERVE = { shift: 14, width: 1 };
/** Word 3 bit 15: CHIP_VER_REV1 (major revision bit 0). */
const REV_BIT0 = { shift: 15, width: 1 };
/** Word 4 bits 8..12: ADC_VREF. */
const ADC_VREF = { shift: 8, width: 5 };
/** Word 5 bit 20: CHIP_VER_REV2 (major revision bit 1). */
const REV_BIT1 = { shift: 20, width: 1 };
/** Word 5 bits 24..25: WAFER_VERSION_MINOR. */
const MINOR = { shift: 24, width: 2 };
/** Word 6 bits 0..1: CODING_SCHEME. */
const CODING_SCHEME = { shift: 0, width: 2 };

/** (rev bit2, bit1, bit0) combined → major revision (esptool targets/esp32.py get_major_chip_version). */
const MAJOR_FROM_REV_BITS: Record<number, number> = { 0: 0, 1: 1, 3: 2, 7: 3 };

/** Coding-scheme names as esptool prints them. */
const CODING_SCHEMES = ["None", "3/4", "Repeat (UNSUPPORTED)", "None (may contain encoding data)"];

/** Package ids that carry embedded flash (esptool targets/esp32.py get_chip_features). */
const PKG_EMBEDDED_FLASH = [2, 4, 5, 6];
/** Package id with embedded PSRAM (ESP32-PICO-V3-02). */
const PKG_EMBEDDED_PSRAM = 6;

async function readPkgVersion(readReg: ReadReg): Promise<number> {
  const word3 = await readReg(efuseWord(3));
  return extractBits(word3, PKG_LO) + (extractBits(word3, PKG_HI) << 3);
}

async function readRevision(readReg: ReadReg): Promise<ChipRevision> {
  const word3 = await readReg(efuseWord(3));
  const word5 = await readReg(efuseWord(5));
  const apbDate = await readReg(APB_CTL_DATE_ADDR);
  const combined = ((extractBits(apbDate, { shift: APB_CTL_DATE_S, width: 1 })) << 2) |
    (extractBits(word5, REV_BIT1) << 1) | extractBits(word3, REV_BIT0);
  return {
    major: MAJOR_FROM_REV_BITS[combined] ?? 0,
    minor: extractBits(word5, MINOR),
  };
}

function packageName(pkg: number, singleCore: boolean, rev3: boolean): string {
  switch (pkg) {
    case 0:
      return singleCore ? "ESP32-S0WDQ6" : rev3 ? "ESP32-D0WDQ6-V3" : "ESP32-D0WDQ6";
    case 1:
      return singleCore ? "ESP32-S0WD" : rev3 ? "ESP32-D0WD-V3" : "ESP32-D0WD";
    case 2:
      return "ESP32-D2WD";
    case 4:
      return "ESP32-U4WDH";
    case 5:
      return rev3 ? "ESP32-PICO-V3" : "ESP32-PICO-D4";
    case 6:
      return "ESP32-PICO-V3-02";
    case 7:
      return "ESP32-D0WDR2-V3";
    default:
      return "Unknown ESP32";
  }
}

const SPI: SpiRegisters = {
  cmd: SPI_REG_BASE + SPI_CMD_OFFS,
  usr: SPI_REG_BASE + SPI_USR_OFFS,
  usr1: SPI_REG_BASE + SPI_USR1_OFFS,
  usr2: SPI_REG_BASE + SPI_USR2_OFFS,
  w0: SPI_REG_BASE + SPI_W0_OFFS,
  mosiDlen: SPI_REG_BASE + SPI_MOSI_DLEN_OFFS,
  misoDlen: SPI_REG_BASE + SPI_MISO_DLEN_OFFS,
};

/** esptool targets/esp32.py MEMORY_MAP (end exclusive). */
const MEMORY_MAP: MemoryRegion[] = [
  { name: "PADDING", start: 0x00000000, end: 0x00010000 },
  { name: "DROM", start: 0x3f400000, end: 0x3f800000 },
  { name: "EXTRAM_DATA", start: 0x3f800000, end: 0x3fc00000 },
  { name: "RTC_DRAM", start: 0x3ff80000, end: 0x3ff82000 },
  { name: "BYTE_ACCESSIBLE", start: 0x3ff90000, end: 0x40000000 },
  { name: "DRAM", start: 0x3ffae000, end: 0x40000000 },
  { name: "DIRAM_DRAM", start: 0x3ffe0000, end: 0x3ffffffc },
  { name: "IROM", start: 0x40000000, end: 0x40070000 },
  { name: "CACHE_PRO", start: 0x40070000, end: 0x40078000 },
  { name: "CACHE_APP", start: 0x40078000, end: 0x40080000 },
  { name: "IRAM", start: 0x40080000, end: 0x400a0000 },
  { name: "DIRAM_IRAM", start: 0x400a0000, end: 0x400bfffc },
  { name: "RTC_IRAM", start: 0x400c0000, end: 0x400c2000 },
  { name: "IROM", start: 0x400d0000, end: 0x40400000 },
  { name: "RTC_DATA", start: 0x50000000, end: 0x50002000 },
];

/**
 * The ESP32 family.
 *
 * @example
 * ```ts
 * import { ESP32 } from "./esp32.ts";
 * console.log(ESP32.name, ESP32.bootloaderOffset.toString(16)); // ESP32 1000
 * ```
 */
export const ESP32: ChipFamily = {
  key: "esp32",
  name: "ESP32",
  imageChipId: IMAGE_CHIP_ID,
  magicValues: [MAGIC_VALUE],
  securityInfoHasChipId: false,
  bootloaderOffset: BOOTLOADER_FLASH_OFFSET,
  stubName: "esp32",
  rom: ESP32_ROM,
  image: ESP32_IMAGE,
  spi: SPI,
  memoryMap: MEMORY_MAP,

  async readMac(readReg) {
    // esptool read_mac: pack(">II", word2, word1), drop the two leading CRC bytes.
    const word1 = (await readReg(efuseWord(1))) >>> 0;
    const word2 = (await readReg(efuseWord(2))) >>> 0;
    return Uint8Array.of(
      (word2 >>> 8) & 0xff,
      word2 & 0xff,
      (word1 >>> 24) & 0xff,
      (word1 >>> 16) & 0xff,
      (word1 >>> 8) & 0xff,
      word1 & 0xff,
    );
  },

  async checkMac(mac, readReg) {
    // ESP-IDF checks this CRC at boot and stops on a mismatch; there is no
    // "unburnt" exception (an all-zero BLOCK0 has MAC 0 and CRC 0, which agree).
    const stored = extractBits(await readReg(efuseWord(2)), MAC_CRC);
    const computed = macCrc8(mac);
    if (stored === computed) return null;
    const high = (mac[0] << 8) | mac[1];
    const low = ((mac[2] << 24) | (mac[3] << 16) | (mac[4] << 8) | mac[5]) >>> 0;
    if (high === CRC_EXEMPT.high && low >= CRC_EXEMPT.lowFirst && low <= CRC_EXEMPT.lowLast) {
      return null;
    }
    return { stored, computed };
  },

  readRevision,

  async readDescription(readReg) {
    const pkg = await readPkgVersion(readReg);
    const revision = await readRevision(readReg);
    const singleCore = extractBits(await readReg(efuseWord(3)), DIS_APP_CPU) === 1;
    return withRevision(packageName(pkg, singleCore, revision.major === 3), revision);
  },

  async readFeatures(readReg) {
    const features = ["Wi-Fi"];
    const word3 = await readReg(efuseWord(3));
    if (extractBits(word3, DIS_BT) === 0) features.push("BT");
    features.push(
      extractBits(word3, DIS_APP_CPU) ? "Single Core + LP Core" : "Dual Core + LP Core",
    );
    if (extractBits(word3, CPU_FREQ_RATED)) {
      features.push(extractBits(word3, CPU_FREQ_LOW) ? "160MHz" : "240MHz");
    }
    const pkg = await readPkgVersion(readReg);
    if (PKG_EMBEDDED_FLASH.includes(pkg)) features.push("Embedded Flash");
    if (pkg === PKG_EMBEDDED_PSRAM) features.push("Embedded PSRAM");
    if (extractBits(await readReg(efuseWord(4)), ADC_VREF)) {
      features.push("Vref calibration in eFuse");
    }
    if (extractBits(word3, BLK3_PART_RESERVE)) features.push("BLK3 partially reserved");
    const scheme = extractBits(await readReg(efuseWord(6)), CODING_SCHEME);
    features.push(`Coding Scheme ${CODING_SCHEMES[scheme]}`);
    return features;
  },

  crystalFromUart: true,
  readCrystalMhz(readReg, baud) {
    return readUartCrystalMhz(readReg, {
      clkdivReg: UART_CLKDIV_REG,
      xtalClkDivider: XTAL_CLK_DIVIDER,
      baud,
    });
  },

  readFlashVoltage: (readReg) => readFlashVoltage(readReg, FLASH_VOLTAGE_REGS),
};
