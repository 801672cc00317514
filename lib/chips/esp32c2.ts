/**
 * ESP32-C2 (ESP8684): detection values, SPI registers, address map and eFuse
 * readers.
 *
 * Facts from esptool v5.1.0 `esptool/targets/esp32c2.py` (which inherits SPI
 * registers and the UART divider from `esp32c3.py`), cross-checked with
 * esptool-js `src/targets/esp32c2.ts`. The magic values come from esptool
 * v4.8.1 (`CHIP_DETECT_MAGIC_VALUE`) and esptool-js `magic2Chip`.
 *
 * @module
 */

import { readUartCrystalMhz } from "./crystal.ts";
import { withRevision } from "./description.ts";
import { readBitField, readSplitMac } from "./efuse.ts";
import { spiMemRegisters } from "./spi_registers.ts";
import { LATER_ROM } from "./rom_loader.ts";
import type {
  ChipFamily,
  ChipRevision,
  MemoryRegion,
  ReadReg,
  RomLoaderFacts,
  SpiRegisters,
} from "./types.ts";
import { ESP32_IMAGE } from "./image_format.ts";

/** esptool v4.8.1 targets/esp32c2.py CHIP_DETECT_MAGIC_VALUE (same in esptool-js). */
const MAGIC_VALUES = [0x6f51306f, 0x7c41a06f, 0x0c21e06f];
/** esptool targets/esp32c2.py IMAGE_CHIP_ID. */
const IMAGE_CHIP_ID = 12;
/** Inherited from ESP32C3ROM (esptool targets/esp32c3.py BOOTLOADER_FLASH_OFFSET). */
const BOOTLOADER_FLASH_OFFSET = 0x0;

/** Inherited from ESP32C3ROM (esptool targets/esp32c3.py SPI_REG_BASE). */
const SPI_REG_BASE = 0x60002000;

/** Inherited from ESP32C3ROM (esptool targets/esp32c3.py UART_CLKDIV_REG). */
const UART_CLKDIV_REG = 0x60000014;
/** Inherited from ESP32ROM (esptool targets/esp32.py XTAL_CLK_DIVIDER). */
const XTAL_CLK_DIVIDER = 1;

/** esptool targets/esp32c2.py EFUSE_BASE. */
const EFUSE_BASE = 0x60008800;
/** esptool targets/esp32c2.py EFUSE_BLOCK2_ADDR. */
const EFUSE_BLOCK2_ADDR = EFUSE_BASE + 0x40;
/** esptool targets/esp32c2.py MAC_EFUSE_REG. */
const MAC_EFUSE_REG = EFUSE_BASE + 0x40;

// Bit fields, from esptool targets/esp32c2.py (method name in each comment).
/** get_minor_chip_version: BLOCK2 word 1 bits 16..19. */
const MINOR = { address: EFUSE_BLOCK2_ADDR + 4 * 1, shift: 16, width: 4 };
/** get_major_chip_version: BLOCK2 word 1 bits 20..21. */
const MAJOR = { address: EFUSE_BLOCK2_ADDR + 4 * 1, shift: 20, width: 2 };
/** get_pkg_version: BLOCK2 word 1 bits 22..24. */
const PKG_VERSION = { address: EFUSE_BLOCK2_ADDR + 4 * 1, shift: 22, width: 3 };

/** The crystal the ESP32-C2 ROM assumes when it sets a baud rate, MHz (esptool targets/esp32c2.py change_baud). */
const ROM_ASSUMED_CRYSTAL_MHZ = 40;
/** The other crystal a C2 board may carry, which the ROM's baud divider does not allow for, MHz. */
const CRYSTAL_26_MHZ = 26;

/**
 * The C2 ROM loader: the later chips', except that it sets baud rates as if
 * the crystal were 40 MHz, so on a 26 MHz board it is asked for a scaled rate
 * (esptool ESP32C2ROM.change_baud; the stub knows its crystal).
 */
const ROM: RomLoaderFacts = {
  ...LATER_ROM,
  baudRequest: (baud, crystalMhz) =>
    crystalMhz === CRYSTAL_26_MHZ
      ? Math.floor((baud * ROM_ASSUMED_CRYSTAL_MHZ) / CRYSTAL_26_MHZ)
      : baud,
};

/** esptool targets/esp32c2.py get_chip_description. */
const PACKAGE_NAMES: Record<number, string> = { 0: "ESP32-C2", 1: "ESP32-C2" };

async function readRevision(readReg: ReadReg): Promise<ChipRevision> {
  return {
    major: await readBitField(readReg, MAJOR),
    minor: await readBitField(readReg, MINOR),
  };
}

const SPI: SpiRegisters = spiMemRegisters(SPI_REG_BASE);

/** esptool targets/esp32c2.py MEMORY_MAP (end exclusive). */
const MEMORY_MAP: MemoryRegion[] = [
  { name: "PADDING", start: 0x00000000, end: 0x00010000 },
  { name: "DROM", start: 0x3c000000, end: 0x3c400000 },
  { name: "DRAM", start: 0x3fca0000, end: 0x3fce0000 },
  { name: "BYTE_ACCESSIBLE", start: 0x3fc88000, end: 0x3fd00000 },
  { name: "DROM_MASK", start: 0x3ff00000, end: 0x3ff50000 },
  { name: "IROM_MASK", start: 0x40000000, end: 0x40090000 },
  { name: "IROM", start: 0x42000000, end: 0x42400000 },
  { name: "IRAM", start: 0x4037c000, end: 0x403c0000 },
];

/**
 * The ESP32-C2 family. Its crystal is 26 or 40 MHz, read from the UART
 * divider; the flasher stub no longer supports revision v0.0
 * (esptool targets/esp32c2.py `_post_connect`).
 *
 * @example
 * ```ts
 * import { ESP32C2 } from "./esp32c2.ts";
 * console.log(ESP32C2.stubNameForRevision?.({ major: 0, minor: 0 })); // null
 * ```
 */
export const ESP32C2: ChipFamily = {
  // esptool targets/esp32c2.py RTCCNTL_BASE_REG + RTC_CNTL_WDT*
  rtcWatchdog: {
    config0: 0x60008000 + 0x84,
    config1: 0x60008000 + 0x88,
    protect: 0x60008000 + 0x9c,
  },
  key: "esp32c2",
  name: "ESP32-C2",
  imageChipId: IMAGE_CHIP_ID,
  magicValues: MAGIC_VALUES,
  securityInfoHasChipId: true,
  bootloaderOffset: BOOTLOADER_FLASH_OFFSET,
  stubName: "esp32c2",
  stubNameForRevision: (revision) =>
    revision.major === 0 && revision.minor === 0 ? null : "esp32c2",
  rom: ROM,
  // esptool targets/esp32c2.py FLASH_FREQUENCY
  image: { ...ESP32_IMAGE, flashFreqs: { "60m": 0xf, "30m": 0x0, "20m": 0x1, "15m": 0x2 } },
  spi: SPI,
  memoryMap: MEMORY_MAP,

  readMac: (readReg) => readSplitMac(readReg, MAC_EFUSE_REG),

  readRevision,

  async readDescription(readReg) {
    const pkg = await readBitField(readReg, PKG_VERSION);
    return withRevision(PACKAGE_NAMES[pkg] ?? "Unknown ESP32-C2", await readRevision(readReg));
  },

  readFeatures: () => Promise.resolve(["Wi-Fi", "BT 5 (LE)", "Single Core", "120MHz"]),

  crystalFromUart: true,
  readCrystalMhz(readReg, baud) {
    return readUartCrystalMhz(readReg, {
      clkdivReg: UART_CLKDIV_REG,
      xtalClkDivider: XTAL_CLK_DIVIDER,
      baud,
    });
  },
};
