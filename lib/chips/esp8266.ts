/**
 * ESP8266 (and the ESP8285 with embedded flash): detection value, SPI
 * registers, address map and OTP readers.
 *
 * Facts from esptool v5.1.0 `esptool/targets/esp8266.py`, cross-checked with
 * esptool-js `src/targets/esp8266.ts`.
 *
 * @module
 */

import { EsplineError } from "../errors.ts";
import { readUartCrystalMhz } from "./crystal.ts";
import { extractBits } from "./efuse.ts";
import { ROM_FLASH_WRITE_SIZE } from "./rom_loader.ts";
import type { ChipFamily, MemoryRegion, ReadReg, RomLoaderFacts, SpiRegisters } from "./types.ts";
import { ESP8266_IMAGE } from "./image_format.ts";

/** esptool targets/esp8266.py MAGIC_VALUE. */
const MAGIC_VALUE = 0xfff0c101;
/** esptool targets/esp8266.py BOOTLOADER_FLASH_OFFSET. */
const BOOTLOADER_FLASH_OFFSET = 0x0;

/** Erase sector of the SPI flash (esptool loader.py FLASH_SECTOR_SIZE). */
const FLASH_SECTOR_SIZE = 0x1000;
/** Sectors in one 64 KiB erase block (esptool ESP8266ROM.get_erase_size sectors_per_block). */
const SECTORS_PER_BLOCK = 16;

/**
 * Erase size to tell the ESP8266 ROM for `size` bytes at `offset`: its
 * FLASH_BEGIN miscounts the sectors it erases, so it is asked for fewer
 * (esptool ESP8266ROM.get_erase_size, "workaround for the bootloader erase
 * bug"; the stub has no such bug).
 */
function romEraseSize(offset: number, size: number): number {
  const numSectors = Math.ceil(size / FLASH_SECTOR_SIZE);
  const startSector = Math.floor(offset / FLASH_SECTOR_SIZE);
  let headSectors = SECTORS_PER_BLOCK - (startSector % SECTORS_PER_BLOCK);
  if (numSectors < headSectors) headSectors = numSectors;
  if (numSectors < 2 * headSectors) return Math.floor((numSectors + 1) / 2) * FLASH_SECTOR_SIZE;
  return (numSectors - headSectors) * FLASH_SECTOR_SIZE;
}

/**
 * The ESP8266 ROM loader (esptool targets/esp8266.py ESP8266ROM): no
 * compressed writes, no flash reads, no MD5s, no SPI_ATTACH (a zero-length
 * FLASH_BEGIN attaches the flash) or SPI_SET_PARAMS, the short FLASH_BEGIN,
 * and an erase that needs {@link romEraseSize}, so it cannot stand in for an
 * erase-region command either.
 */
const ROM: RomLoaderFacts = {
  flashWriteSize: ROM_FLASH_WRITE_SIZE,
  compressedWrites: false,
  readFlashSlow: false,
  beginTakesEncryptFlag: false,
  spiAttach: false,
  setFlashParams: false,
  md5: false,
  eraseRegion: false,
  eraseSize: romEraseSize,
};

/** esptool targets/esp8266.py SPI_REG_BASE. */
const SPI_REG_BASE = 0x60000200;
/** SPI_CMD_REG at base + 0 (esptool loader.py run_spiflash_command). */
const SPI_CMD_OFFS = 0x00;
/** esptool targets/esp8266.py SPI_USR_OFFS. */
const SPI_USR_OFFS = 0x1c;
/** esptool targets/esp8266.py SPI_USR1_OFFS (also carries the data bit lengths here). */
const SPI_USR1_OFFS = 0x20;
/** esptool targets/esp8266.py SPI_USR2_OFFS. */
const SPI_USR2_OFFS = 0x24;
/** esptool targets/esp8266.py SPI_W0_OFFS. */
const SPI_W0_OFFS = 0x40;

/** UART0 clock divider (esptool targets/esp8266.py UART_CLKDIV_REG). */
const UART_CLKDIV_REG = 0x60000014;
/** The UART runs from twice the crystal (esptool targets/esp8266.py XTAL_CLK_DIVIDER). */
const XTAL_CLK_DIVIDER = 2;

/** OTP words 0..3 (esptool targets/esp8266.py ESP_OTP_MAC0/1/3 and get_efuses). */
const OTP_MAC0 = 0x3ff00050;
const OTP_MAC1 = 0x3ff00054;
const OTP_MAC2 = 0x3ff00058;
const OTP_MAC3 = 0x3ff0005c;

/** Espressif OUIs chosen by OTP word 1 bits 16..23 when word 3 is blank (esptool read_mac). */
const OUI_BY_CODE: Record<number, readonly number[]> = {
  0: [0x18, 0xfe, 0x34],
  1: [0xac, 0xd0, 0x74],
};

// 128-bit OTP bit numbers used by esptool get_chip_description / _get_flash_size
// (bit n lives in word n >> 5, bit n & 31).
/** Bit 4 (word 0 bit 4): ESP8285 marker and flash-size bit r0_4. */
const BIT_R0_4 = { word: 0, shift: 4 };
/** Bit 5 (word 0 bit 5): high-temperature part (H vs N). */
const BIT_MAX_TEMP = { word: 0, shift: 5 };
/** Bit 80 (word 2 bit 16): second ESP8285 marker. */
const BIT_8285 = { word: 2, shift: 16 };
/** Bits 121, 122, 123 (word 3 bits 25..27): flash-size code r3_25, r3_26, r3_27. */
const BIT_R3_25 = { word: 3, shift: 25 };
const BIT_R3_26 = { word: 3, shift: 26 };
const BIT_R3_27 = { word: 3, shift: 27 };

async function readOtp(readReg: ReadReg): Promise<number[]> {
  return [
    (await readReg(OTP_MAC0)) >>> 0,
    (await readReg(OTP_MAC1)) >>> 0,
    (await readReg(OTP_MAC2)) >>> 0,
    (await readReg(OTP_MAC3)) >>> 0,
  ];
}

function otpBit(words: number[], bit: { word: number; shift: number }): boolean {
  return extractBits(words[bit.word], { shift: bit.shift, width: 1 }) === 1;
}

/** Embedded flash size in MB per esptool `_get_flash_size`, or -1 when unknown. */
function embeddedFlashMb(words: number[]): number {
  const r0_4 = otpBit(words, BIT_R0_4);
  const r3_25 = otpBit(words, BIT_R3_25);
  const r3_26 = otpBit(words, BIT_R3_26);
  const r3_27 = otpBit(words, BIT_R3_27);
  if (r0_4 && !r3_25 && !r3_27) return r3_26 ? 2 : 1;
  if (!r0_4 && r3_25 && !r3_27) return r3_26 ? 4 : 2;
  return -1;
}

async function readDescription(readReg: ReadReg): Promise<string> {
  const words = await readOtp(readReg);
  const is8285 = otpBit(words, BIT_R0_4) || otpBit(words, BIT_8285);
  if (!is8285) return "ESP8266EX";
  const hot = otpBit(words, BIT_MAX_TEMP);
  switch (embeddedFlashMb(words)) {
    case 1:
      return hot ? "ESP8285H08" : "ESP8285N08";
    case 2:
      return hot ? "ESP8285H16" : "ESP8285N16";
    default:
      return "ESP8285";
  }
}

const SPI: SpiRegisters = {
  cmd: SPI_REG_BASE + SPI_CMD_OFFS,
  usr: SPI_REG_BASE + SPI_USR_OFFS,
  usr1: SPI_REG_BASE + SPI_USR1_OFFS,
  usr2: SPI_REG_BASE + SPI_USR2_OFFS,
  w0: SPI_REG_BASE + SPI_W0_OFFS,
};

/** esptool targets/esp8266.py MEMORY_MAP (end exclusive). */
const MEMORY_MAP: MemoryRegion[] = [
  { name: "DPORT", start: 0x3ff00000, end: 0x3ff00010 },
  { name: "DRAM", start: 0x3ffe8000, end: 0x40000000 },
  { name: "IRAM", start: 0x40100000, end: 0x40108000 },
  { name: "IROM", start: 0x40201010, end: 0x402e1010 },
];

/**
 * The ESP8266 family. Its ROM has no revision fields (reported as v0.0), no
 * compressed download and no GET_SECURITY_INFO.
 *
 * @example
 * ```ts
 * import { ESP8266 } from "./esp8266.ts";
 * console.log(ESP8266.rom.compressedWrites); // false
 * ```
 */
export const ESP8266: ChipFamily = {
  key: "esp8266",
  name: "ESP8266",
  imageChipId: null,
  magicValues: [MAGIC_VALUE],
  securityInfoHasChipId: false,
  bootloaderOffset: BOOTLOADER_FLASH_OFFSET,
  stubName: "esp8266",
  rom: ROM,
  image: ESP8266_IMAGE,
  stubRunsUserCode: true,
  spi: SPI,
  memoryMap: MEMORY_MAP,

  async readMac(readReg) {
    const mac0 = (await readReg(OTP_MAC0)) >>> 0;
    const mac1 = (await readReg(OTP_MAC1)) >>> 0;
    const mac3 = (await readReg(OTP_MAC3)) >>> 0;
    let oui: readonly number[];
    if (mac3 !== 0) {
      oui = [(mac3 >>> 16) & 0xff, (mac3 >>> 8) & 0xff, mac3 & 0xff];
    } else {
      const code = (mac1 >>> 16) & 0xff;
      const known = OUI_BY_CODE[code];
      if (!known) {
        throw new EsplineError(
          "E_UNKNOWN_OUI",
          `ESP8266 OTP holds an unknown OUI code 0x${code.toString(16)}: ` +
            "the MAC cannot be derived; read the OTP words with read-mem to inspect them",
          { details: { otpMac1: mac1, otpMac3: mac3 } },
        );
      }
      oui = known;
    }
    return Uint8Array.of(...oui, (mac1 >>> 8) & 0xff, mac1 & 0xff, (mac0 >>> 24) & 0xff);
  },

  readRevision: () => Promise.resolve({ major: 0, minor: 0 }),

  async readChipId(readReg) {
    // esptool targets/esp8266.py chip_id (the SDK's system_get_chip_id()):
    // the top byte of OTP word 0 under the low 24 bits of word 1.
    const mac0 = (await readReg(OTP_MAC0)) >>> 0;
    const mac1 = (await readReg(OTP_MAC1)) >>> 0;
    return ((mac0 >>> 24) | ((mac1 & 0xffffff) << 8)) >>> 0;
  },

  readDescription,

  async readFeatures(readReg) {
    const features = ["Wi-Fi", "160MHz"];
    if ((await readDescription(readReg)).includes("ESP8285")) features.push("Embedded Flash");
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
};
