/**
 * The virtual chip's own reading of per-chip silicon facts: detection magic,
 * chip ids, ROM command sets, SPI controller register layouts and the eFuse
 * words that encode MAC, wafer revision, package and features.
 *
 * Sources (facts only): esptool v5.1.0 `esptool/targets/*.py`, `loader.py`,
 * `docs/en/advanced-topics/serial-protocol.rst`; esptool v4.8.1 for the
 * detection magic of chips that moved to GET_SECURITY_INFO. This file must
 * not import `lib/chips/`: the client and the device are two independent
 * readings of the same facts.
 *
 * @module
 */

import { simUsage } from "./sim_error.ts";
import { esp8266RomEraseSectors } from "./nor_flash.ts";
import { ESP8266_ROM_BAUD_26MHZ } from "./protocol.ts";

/** Chips the virtual chip can impersonate. */
export type SimChipKey =
  | "esp8266"
  | "esp32"
  | "esp32s2"
  | "esp32s3"
  | "esp32c2"
  | "esp32c3"
  | "esp32c5"
  | "esp32c6"
  | "esp32h2"
  | "esp32p4";

/** Every {@link SimChipKey}, in a stable order (used in error messages). */
export const SIM_CHIP_KEYS: readonly SimChipKey[] = [
  "esp8266",
  "esp32",
  "esp32s2",
  "esp32s3",
  "esp32c2",
  "esp32c3",
  "esp32c5",
  "esp32c6",
  "esp32h2",
  "esp32p4",
];

/** Address of the ROM word whose value differs per chip model (esptool loader.py CHIP_DETECT_MAGIC_REG_ADDR). */
export const CHIP_DETECT_MAGIC_REG_ADDR = 0x40001000;

/** SPI flash controller register layout used for raw "user" commands (esptool targets SPI_REG_BASE …). */
export interface SpiRegLayout {
  /** SPI_REG_BASE; SPI_CMD_REG is at base + 0, SPI_ADDR_REG at base + 4. */
  base: number;
  /** SPI_USR_OFFS. */
  usr: number;
  /** SPI_USR1_OFFS. */
  usr1: number;
  /** SPI_USR2_OFFS. */
  usr2: number;
  /** SPI_MOSI_DLEN_OFFS (absent on ESP8266: lengths live in USR1). */
  mosiDlen?: number;
  /** SPI_MISO_DLEN_OFFS (absent on ESP8266). */
  misoDlen?: number;
  /** SPI_W0_OFFS, first of 16 data words. */
  w0: number;
}

/** Decoded wafer revision. */
export interface SimRevision {
  /** Major wafer version. */
  major: number;
  /** Minor wafer version. */
  minor: number;
}

/** Inputs to a chip's eFuse encoder. */
export interface EfuseInputs {
  /** Base MAC, 6 bytes. */
  mac: Uint8Array;
  /** Wafer revision. */
  rev: SimRevision;
  /** Crystal frequency in MHz. */
  crystalMhz: number;
}

/**
 * How a chip's ROM loader behaves where the serial protocol document is
 * silent: recorded from the genuine ROM in the emulator for ESP32 and
 * ESP32-C3 (tests/fixtures/rom/), assumed like the ESP32-C3's elsewhere.
 */
export interface RomHabits {
  /** True where these habits were recorded from the genuine ROM. */
  verified: boolean;
  /** Parameter words FLASH_BEGIN / FLASH_DEFL_BEGIN must have: 4 (ESP8266, ESP32) or 5 ("encrypted", later chips). */
  flashBeginWords: 4 | 5;
  /** Flash size the ROM assumes until SPI_SET_PARAMS, bytes. */
  defaultFlashSize: number;
  /** MEM_DATA before any MEM_BEGIN: refused with 0x05 (ESP32) or acknowledged (ESP32-C3). */
  memDataBeforeBegin: "refuse" | "accept";
  /** CHANGE_BAUDRATE 0: the ROM hangs dividing by it (ESP32) or saturates the divider (ESP32-C3). */
  baudZero: "hang" | "saturate";
  /**
   * FLASH_END / FLASH_DEFL_END asking to run: boot from flash (ESP32; an
   * unbootable flash drops into the ROM's command interpreter) or jump to the
   * last MEM_END entry (ESP32-C3: "user code done").
   */
  runUserCode: "boot-flash" | "jump-entry";
  /** A load from an unmapped address: the chip stops silently (ESP32) or after a Guru Meditation dump (ESP32-C3). */
  loadFault: "silent" | "guru";
  /** Address ranges [start, end) READ_REG / WRITE_REG may touch; undefined: all (not modelled). */
  dataBus?: readonly (readonly [number, number])[];
}

/** Everything the virtual chip knows about one chip model. */
export interface ChipFacts {
  /** Key, e.g. "esp32s3". */
  key: SimChipKey;
  /** Marketing name as esptool prints it. */
  name: string;
  /** Value of the word at {@link CHIP_DETECT_MAGIC_REG_ADDR}. */
  magic: number;
  /** IMAGE_CHIP_ID returned by GET_SECURITY_INFO (undefined where the ROM's answer has no chip id). */
  chipId?: number;
  /** GET_SECURITY_INFO shape: none (ROM rejects it), short (12 bytes, ESP32-S2) or full (20 bytes). */
  securityInfo: "none" | "short" | "full";
  /** api_version word in the 20-byte GET_SECURITY_INFO answer. */
  securityApiVersion: number;
  /** Status bytes the ROM appends (2 on ESP8266, 4 on ESP32 and later; serial-protocol.rst "Status Bytes"). */
  romStatusBytes: 2 | 4;
  /** Opcodes the ROM loader implements. */
  romOpcodes: ReadonlySet<number>;
  /** The ROM loader's habits. */
  rom: RomHabits;
  /** Register values the ROM leaves after a download-mode boot (address, value), where known. */
  bootRegs?: readonly (readonly [number, number])[];
  /** GET_SECURITY_INFO key purpose bytes 0..6 as the ROM reports them with blank eFuses (default all 0). */
  securityKeyPurposes?: readonly number[];
  /** SPI controller layout. */
  spi: SpiRegLayout;
  /** UART_CLKDIV_REG (esptool targets). */
  uartClkdivReg: number;
  /** esptool XTAL_CLK_DIVIDER: UART clock = crystal × this in the ROM. */
  xtalClkDivider: number;
  /** Default crystal in MHz. */
  defaultCrystalMhz: number;
  /** Default wafer revision. */
  defaultRevision: SimRevision;
  /** Largest encodable major / minor revision. */
  maxRevision: SimRevision;
  /** UARTDEV_BUF_NO (ROM .bss byte naming the console in use), where esptool reads it. */
  uartNoReg?: number;
  /** UARTDEV_BUF_NO where it moves with the wafer revision (ESP32-P4); replaces {@link uartNoReg}. */
  uartNoRegForRevision?: (rev: SimRevision) => number;
  /** Value of UARTDEV_BUF_NO when the USB-Serial/JTAG console is in use; undefined: chip has none. */
  uartNoUsbJtag?: number;
  /** First three MAC bytes used when no MAC is configured (an Espressif OUI). */
  defaultOui: [number, number, number];
  /** JEDEC manufacturer id of the module's flash (0xEF Winbond, 0xC8 GigaDevice). */
  flashVendor: number;
  /** Flash offset of the second-stage bootloader (esptool BOOTLOADER_FLASH_OFFSET). */
  bootloaderOffset: number;
  /** Chip id in image headers (esptool IMAGE_CHIP_ID); -1 for the ESP8266, whose images have none. */
  imageChipId: number;
  /** CPU cores (ESP-IDF prints "Multicore app" or "Unicore app"). */
  cores: 1 | 2;
  /** Reset cause text after the RTC watchdog fired (ROM boot loop). */
  rstWatchdog: string;
  /** ROM identification the banners start with where it depends on the wafer revision (`%ROM%`). */
  romBuild?: (rev: SimRevision) => string;
  /** ROM banner in download mode; `%RST%` is replaced by the reset cause, `%ROM%` by {@link romBuild}. */
  downloadBanner: string;
  /** ROM banner when booting from flash. */
  appBanner: string;
  /** Reset cause text for power-on / EN pin reset. */
  rstPowerOn: string;
  /** Reset cause text after a software reset. */
  rstSoftware: string;
  /** eFuse and other identity registers (address -> value). */
  identityRegs(inputs: EfuseInputs): Map<number, number>;
  /**
   * Baud the ROM's UART actually runs at after CHANGE_BAUDRATE(requested).
   * Models ROMs that compute the divider from an assumed crystal.
   */
  romBaudAfterChange(requested: number, crystalMhz: number): number;
  /**
   * Baud the ROM boots at with a `crystalMhz` crystal, where it is not 115200
   * (the ESP8266 on a 26 MHz crystal: 74880).
   */
  romBootBaud?: (crystalMhz: number) => number | undefined;
  /** Whose ROM boots from flash: the ESP8266's, the ESP32's or the later chips' (ESP32-S2 on). */
  bootRom: "esp8266" | "esp32" | "later";
  /** The ROM's FLASH_BEGIN attaches the SPI flash (the ESP8266 ROM has no SPI_ATTACH). */
  flashBeginAttaches?: boolean;
  /**
   * The sectors (first, count) the ROM's FLASH_BEGIN erases for `size` bytes
   * at `offset`, where it is not the sectors the range covers (the ESP8266
   * ROM's erase-size bug).
   */
  romEraseSectors?: (offset: number, size: number) => [number, number];
  /**
   * The SPI controller sends a user command's address from the top of the
   * 32-bit register (esptool SPI_ADDR_REG_MSB: ESP8266, ESP32).
   */
  spiAddrFromMsb?: boolean;
}

const ROM_OPS_ESP8266 = new Set([0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a]);
const ROM_OPS_ESP32 = new Set([
  ...ROM_OPS_ESP8266,
  0x0b, // SPI_SET_PARAMS
  0x0d, // SPI_ATTACH
  0x0e, // READ_FLASH_SLOW
  0x0f, // CHANGE_BAUDRATE
  0x10, // FLASH_DEFL_BEGIN
  0x11, // FLASH_DEFL_DATA
  0x12, // FLASH_DEFL_END
  0x13, // SPI_FLASH_MD5
]);
const ROM_OPS_S2_LATER = new Set([...ROM_OPS_ESP32, 0x14 /* GET_SECURITY_INFO */]);

const MIB = 1024 * 1024;

/**
 * ESP32 ROM habits, recorded from the genuine ROM (tests/fixtures/rom/esp32.json).
 * Data bus map: ESP32 TRM, "System and Memory", address mapping (external
 * flash and RAM are unmapped while the caches are off in download mode).
 */
const ROM_ESP32: RomHabits = {
  verified: true,
  flashBeginWords: 4,
  defaultFlashSize: 2 * MIB,
  memDataBeforeBegin: "refuse",
  baudZero: "hang",
  runUserCode: "boot-flash",
  loadFault: "silent",
  dataBus: [
    [0x3ff00000, 0x3ff82000], // peripherals, RTC FAST (data)
    [0x3ff90000, 0x40000000], // ROM1, internal SRAM (data)
    [0x40000000, 0x40060000], // ROM0
    [0x40070000, 0x400c2000], // SRAM0/1 and RTC FAST (instruction)
    [0x50000000, 0x50002000], // RTC SLOW
    [0x60000000, 0x60040000], // peripherals (AHB)
  ],
};

/**
 * ESP32-C3 ROM habits, recorded from the genuine ROM (tests/fixtures/rom/esp32c3.json).
 * Data bus map: ESP32-C3 TRM, "System and Memory", address mapping.
 */
const ROM_ESP32C3: RomHabits = {
  verified: true,
  flashBeginWords: 5,
  defaultFlashSize: 2 * MIB,
  memDataBeforeBegin: "accept",
  baudZero: "saturate",
  runUserCode: "jump-entry",
  loadFault: "guru",
  dataBus: [
    [0x3fc80000, 0x3fd00000], // internal SRAM (data)
    [0x3ff00000, 0x3ff20000], // ROM (data)
    [0x40000000, 0x40060000], // ROM (instruction)
    [0x4037c000, 0x403e0000], // internal SRAM (instruction)
    [0x50000000, 0x50002000], // RTC FAST
    [0x60000000, 0x60100000], // peripherals
  ],
};

/** Habits of ROMs no emulator here runs: the ESP32-C3's, without its bus map. */
function assumedRom(flashBeginWords: 4 | 5): RomHabits {
  return { ...ROM_ESP32C3, verified: false, flashBeginWords, dataBus: undefined };
}

/** SPI layout shared by ESP32-S2 and later (esptool targets/esp32s2.py … SPI_*_OFFS). */
function spiNew(base: number): SpiRegLayout {
  return { base, usr: 0x18, usr1: 0x1c, usr2: 0x20, mosiDlen: 0x24, misoDlen: 0x28, w0: 0x58 };
}

/** CRC-8 (Dallas/Maxim, reflected poly 0x8C) as used for the ESP32 MAC CRC in eFuse block 0. */
export function macCrc8(mac: Uint8Array): number {
  let crc = 0;
  for (const byte of mac) {
    let b = byte;
    for (let i = 0; i < 8; i++) {
      const mix = (crc ^ b) & 1;
      crc >>= 1;
      if (mix) crc ^= 0x8c;
      b >>= 1;
    }
  }
  return crc;
}

/** MAC bytes 2..5 as one big-endian word (esptool read_mac: mac0). */
function macLow(mac: Uint8Array): number {
  return ((mac[2] << 24) | (mac[3] << 16) | (mac[4] << 8) | mac[5]) >>> 0;
}
/** MAC bytes 0..1 as the low 16 bits of a word (esptool read_mac: mac1). */
function macHigh(mac: Uint8Array): number {
  return (mac[0] << 8) | mac[1];
}

/** Identity registers of chips laid out like ESP32-C6 (MAC in BLOCK1 words 0/1, MAC_EXT 0xFFFE). */
function macBlock1(block1: number, mac: Uint8Array, withExt: boolean): Map<number, number> {
  const regs = new Map<number, number>();
  regs.set(block1, macLow(mac));
  regs.set(block1 + 4, (macHigh(mac) | (withExt ? 0xfffe << 16 : 0)) >>> 0);
  return regs;
}

function orReg(regs: Map<number, number>, addr: number, value: number): void {
  regs.set(addr, ((regs.get(addr) ?? 0) | value) >>> 0);
}

const identity = (requested: number) => requested;

const FACTS: Record<SimChipKey, ChipFacts> = {
  esp8266: {
    key: "esp8266",
    name: "ESP8266",
    magic: 0xfff0c101, // esptool targets/esp8266.py MAGIC_VALUE
    securityInfo: "none",
    securityApiVersion: 0,
    romStatusBytes: 2,
    romOpcodes: ROM_OPS_ESP8266,
    // No SPI_SET_PARAMS in this ROM: its flash size limit is not modelled.
    rom: { ...assumedRom(4), defaultFlashSize: 128 * MIB },
    spi: { base: 0x60000200, usr: 0x1c, usr1: 0x20, usr2: 0x24, w0: 0x40 },
    uartClkdivReg: 0x60000014,
    xtalClkDivider: 2,
    defaultCrystalMhz: 26,
    defaultRevision: { major: 0, minor: 0 },
    maxRevision: { major: 0, minor: 0 },
    defaultOui: [0x18, 0xfe, 0x34],
    flashVendor: 0xef,
    bootloaderOffset: 0,
    imageChipId: -1,
    cores: 1,
    downloadBanner: "\r\n ets Jan  8 2013,rst cause:%RST%, boot mode:(1,7)\r\n\r\n",
    appBanner: "\r\n ets Jan  8 2013,rst cause:%RST%, boot mode:(3,6)\r\n\r\n",
    rstPowerOn: "1",
    rstSoftware: "2",
    rstWatchdog: "4",
    identityRegs({ mac }) {
      // esptool targets/esp8266.py read_mac/chip_id: OTP words at 0x3FF00050..5C.
      const regs = new Map<number, number>();
      regs.set(0x3ff00050, (mac[5] << 24) >>> 0);
      regs.set(0x3ff00054, (mac[3] << 8) | mac[4]);
      regs.set(0x3ff00058, 0);
      // OUI in the low 24 bits; bit 24 keeps the word non-zero so esptool uses it.
      regs.set(0x3ff0005c, ((1 << 24) | (mac[0] << 16) | (mac[1] << 8) | mac[2]) >>> 0);
      return regs;
    },
    romBaudAfterChange: identity,
    romBootBaud: (crystalMhz) => crystalMhz === 26 ? ESP8266_ROM_BAUD_26MHZ : undefined,
    bootRom: "esp8266",
    flashBeginAttaches: true,
    romEraseSectors: esp8266RomEraseSectors,
    spiAddrFromMsb: true,
  },
  esp32: {
    key: "esp32",
    name: "ESP32",
    magic: 0x00f01d83, // esptool targets/esp32.py MAGIC_VALUE
    securityInfo: "none",
    securityApiVersion: 0,
    romStatusBytes: 4,
    romOpcodes: ROM_OPS_ESP32,
    rom: ROM_ESP32,
    // SPI0 USR2 as the genuine ROM leaves it (tests/fixtures/rom/esp32.json, "registers").
    bootRegs: [[0x3ff42024, 0x40000000]],
    spi: {
      base: 0x3ff42000,
      usr: 0x1c,
      usr1: 0x20,
      usr2: 0x24,
      mosiDlen: 0x28,
      misoDlen: 0x2c,
      w0: 0x80,
    },
    uartClkdivReg: 0x3ff40014,
    xtalClkDivider: 1,
    defaultCrystalMhz: 40,
    defaultRevision: { major: 3, minor: 1 },
    maxRevision: { major: 3, minor: 3 },
    defaultOui: [0x24, 0x0a, 0xc4],
    flashVendor: 0xc8, // GigaDevice, as the flash behind the genuine ROM in the emulator reports
    bootloaderOffset: 0x1000,
    imageChipId: 0,
    cores: 2,
    // ECO3 (v3.x) silicon has a new ROM (its banner recorded from the genuine v3 ROM in the emulator).
    romBuild: (rev) => rev.major >= 3 ? "ets Jul 29 2019 12:21:46" : "ets Jun  8 2016 00:22:57",
    downloadBanner:
      "%ROM%\r\n\r\nrst:%RST%,boot:0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))\r\nwaiting for download\r\n",
    appBanner: "%ROM%\r\n\r\nrst:%RST%,boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n",
    rstPowerOn: "0x1 (POWERON_RESET)",
    rstSoftware: "0xc (SW_CPU_RESET)",
    rstWatchdog: "0x10 (RTCWDT_RTC_RESET)",
    identityRegs({ mac, rev, crystalMhz }) {
      // esptool targets/esp32.py: EFUSE_RD_REG_BASE 0x3FF5A000, word n at +4n.
      const base = 0x3ff5a000;
      const regs = new Map<number, number>();
      regs.set(base + 4 * 1, macLow(mac));
      regs.set(base + 4 * 2, (macCrc8(mac) << 16) | macHigh(mac));
      // Major revision bits: word3 bit15, word5 bit20, APB_CTL_DATE bit31 (0:000 1:001 2:011 3:111).
      const bits = [0, 1, 3, 7][rev.major];
      const pkg = 1; // D0WD (esptool get_chip_description: 1 -> ESP32-D0WD[-V3])
      regs.set(
        base + 4 * 3,
        ((bits & 1) << 15) | (1 << 13) /* CPU freq rated, 240 MHz */ | ((pkg & 7) << 9) |
          ((pkg >> 3) << 2),
      );
      // word4: CK8M_FREQ (bits 0-7) and ADC Vref (bits 8-12).
      const ck8m = ESP32_CK8M_FREQ;
      regs.set(base + 4 * 4, (0x11 << 8) | ck8m);
      regs.set(base + 4 * 5, (((bits >> 1) & 1) << 20) | ((rev.minor & 3) << 24));
      // APB_CTL_DATE_ADDR (DR_REG_SYSCON_BASE + 0x7C) bit 31 = revision bit 2.
      regs.set(0x3ff6607c, ((((bits >> 2) & 1) << 31) | 0x16042000) >>> 0);
      // RTCCALICFG1: the ROM's RTC calibration of the crystal; chosen so that
      // esptool's get_rom_cal_crystal_freq() yields exactly crystalMhz.
      const cali = Math.round((crystalMhz * 1e6 * 40) / (15625 * ck8m));
      regs.set(0x3ff5f06c, (cali << 7) >>> 0);
      return regs;
    },
    romBaudAfterChange: identity,
    bootRom: "esp32",
    spiAddrFromMsb: true,
  },
  esp32s2: {
    key: "esp32s2",
    name: "ESP32-S2",
    magic: 0x000007c6, // esptool targets/esp32s2.py MAGIC_VALUE
    securityInfo: "short",
    securityApiVersion: 0,
    romStatusBytes: 4,
    romOpcodes: ROM_OPS_S2_LATER,
    rom: assumedRom(5),
    spi: spiNew(0x3f402000),
    uartClkdivReg: 0x3f400014,
    xtalClkDivider: 1,
    defaultCrystalMhz: 40,
    defaultRevision: { major: 0, minor: 0 },
    maxRevision: { major: 3, minor: 15 },
    uartNoReg: 0x3ffffd14,
    defaultOui: [0x7c, 0xdf, 0xa1],
    flashVendor: 0xef,
    bootloaderOffset: 0x1000,
    imageChipId: 2,
    cores: 1,
    downloadBanner:
      "ESP-ROM:esp32s2-rc4-20191025\r\nBuild:Oct 25 2019\r\nrst:%RST%,boot:0x0 (DOWNLOAD(USB/UART0/1))\r\nwaiting for download\r\n",
    appBanner:
      "ESP-ROM:esp32s2-rc4-20191025\r\nBuild:Oct 25 2019\r\nrst:%RST%,boot:0x8 (SPI_FAST_FLASH_BOOT)\r\n",
    rstPowerOn: "0x1 (POWERON)",
    rstSoftware: "0x3 (RTC_SW_SYS_RST)",
    rstWatchdog: "0x10 (RTCWDT_RTC_RST)",
    identityRegs({ mac, rev }) {
      // esptool targets/esp32s2.py: EFUSE_BASE 0x3F41A000, BLOCK1 at +0x44, BLOCK2 at +0x5C.
      const block1 = 0x3f41a044;
      const regs = macBlock1(block1, mac, false);
      orReg(regs, block1 + 12, (rev.major << 18) | (((rev.minor >> 3) & 1) << 20));
      orReg(regs, block1 + 16, ((rev.minor & 7) << 4) | 0 /* pkg: ESP32-S2 */);
      orReg(regs, 0x3f41a05c + 16, 1 << 4); // BLK2 calibration version 1
      return regs;
    },
    romBaudAfterChange: identity,
    bootRom: "later",
  },
  esp32s3: {
    key: "esp32s3",
    name: "ESP32-S3",
    magic: 0x00000009, // esptool v4.8.1 targets/esp32s3.py CHIP_DETECT_MAGIC_VALUE
    chipId: 9, // IMAGE_CHIP_ID
    securityInfo: "full",
    securityApiVersion: 0,
    romStatusBytes: 4,
    romOpcodes: ROM_OPS_S2_LATER,
    rom: assumedRom(5),
    spi: spiNew(0x60002000),
    uartClkdivReg: 0x60000014,
    xtalClkDivider: 1,
    defaultCrystalMhz: 40,
    defaultRevision: { major: 0, minor: 2 },
    maxRevision: { major: 3, minor: 15 },
    uartNoReg: 0x3fcef14c,
    uartNoUsbJtag: 4,
    defaultOui: [0x7c, 0xdf, 0xa1],
    flashVendor: 0xc8,
    bootloaderOffset: 0,
    imageChipId: 9,
    cores: 2,
    downloadBanner:
      "ESP-ROM:esp32s3-20210327\r\nBuild:Mar 27 2021\r\nrst:%RST%,boot:0x0 (DOWNLOAD(USB/UART0))\r\nwaiting for download\r\n",
    appBanner:
      "ESP-ROM:esp32s3-20210327\r\nBuild:Mar 27 2021\r\nrst:%RST%,boot:0x8 (SPI_FAST_FLASH_BOOT)\r\n",
    rstPowerOn: "0x1 (POWERON)",
    rstSoftware: "0xc (RTC_SW_CPU_RST)",
    rstWatchdog: "0x10 (RTCWDT_RTC_RST)",
    identityRegs({ mac, rev }) {
      // esptool targets/esp32s3.py: EFUSE_BASE 0x60007000, BLOCK1 +0x44, BLOCK2 +0x5C.
      const block1 = 0x60007044;
      const regs = macBlock1(block1, mac, false);
      // BLK_VERSION 1.2 so the ECO0 special case (1.1 with minor 0) never applies.
      orReg(regs, block1 + 12, ((rev.minor & 7) << 18) | (0 << 21) /* pkg QFN56 */ | (2 << 24));
      orReg(regs, block1 + 20, (((rev.minor >> 3) & 1) << 23) | (rev.major << 24));
      orReg(regs, 0x6000705c + 16, 1); // BLK_VERSION_MAJOR
      return regs;
    },
    romBaudAfterChange: identity,
    bootRom: "later",
  },
  esp32c2: {
    key: "esp32c2",
    name: "ESP32-C2",
    magic: 0x6f51306f, // esptool v4.8.1 targets/esp32c2.py CHIP_DETECT_MAGIC_VALUE[0]
    chipId: 12,
    securityInfo: "full",
    securityApiVersion: 2,
    romStatusBytes: 4,
    romOpcodes: ROM_OPS_S2_LATER,
    rom: assumedRom(5),
    spi: spiNew(0x60002000),
    uartClkdivReg: 0x60000014,
    xtalClkDivider: 1,
    defaultCrystalMhz: 40,
    defaultRevision: { major: 1, minor: 0 },
    maxRevision: { major: 3, minor: 15 },
    uartNoReg: 0x3fcdf07c,
    defaultOui: [0x08, 0x3a, 0x8d],
    flashVendor: 0xc8,
    bootloaderOffset: 0,
    imageChipId: 12,
    cores: 1,
    downloadBanner:
      "ESP-ROM:esp8684-api2-20220127\r\nBuild:Jan 27 2022\r\nrst:%RST%,boot:0x4 (DOWNLOAD(UART0))\r\nwaiting for download\r\n",
    appBanner:
      "ESP-ROM:esp8684-api2-20220127\r\nBuild:Jan 27 2022\r\nrst:%RST%,boot:0xc (SPI_FAST_FLASH_BOOT)\r\n",
    rstPowerOn: "0x1 (POWERON)",
    rstSoftware: "0xc (RTC_SW_CPU_RST)",
    rstWatchdog: "0x10 (RTCWDT_RTC_RST)",
    identityRegs({ mac, rev }) {
      // esptool targets/esp32c2.py: EFUSE_BASE 0x60008800, BLOCK2 (MAC, revision) at +0x40.
      const block2 = 0x60008840;
      const regs = new Map<number, number>();
      regs.set(block2, macLow(mac));
      regs.set(block2 + 4, (macHigh(mac) | (rev.minor << 16) | (rev.major << 20)) >>> 0);
      return regs;
    },
    // The C2 ROM computes the divider assuming a 40 MHz crystal (esptool targets/esp32c2.py change_baud).
    romBaudAfterChange: (requested, crystalMhz) => Math.round((requested * crystalMhz) / 40),
    bootRom: "later",
  },
  esp32c3: {
    key: "esp32c3",
    name: "ESP32-C3",
    magic: 0x1b31506f, // esptool v4.8.1 targets/esp32c3.py CHIP_DETECT_MAGIC_VALUE
    chipId: 5,
    securityInfo: "full",
    securityApiVersion: 3, // as the genuine ROM answers (tests/fixtures/rom/esp32c3.json)
    securityKeyPurposes: [0, 0, 0, 0, 0, 0, 0x0c], // ditto, blank eFuses
    romStatusBytes: 4,
    romOpcodes: ROM_OPS_S2_LATER,
    rom: ROM_ESP32C3,
    // SPI1 USR2 as the genuine ROM leaves it (tests/fixtures/rom/esp32c3.json, "registers").
    bootRegs: [[0x60002020, 0x70000000]],
    spi: spiNew(0x60002000),
    uartClkdivReg: 0x60000014,
    xtalClkDivider: 1,
    defaultCrystalMhz: 40,
    defaultRevision: { major: 0, minor: 4 },
    maxRevision: { major: 3, minor: 15 },
    uartNoReg: 0x3fcdf07c,
    uartNoUsbJtag: 3,
    defaultOui: [0x58, 0xcf, 0x79],
    flashVendor: 0xc8,
    bootloaderOffset: 0,
    imageChipId: 5,
    cores: 1,
    downloadBanner:
      "ESP-ROM:esp32c3-api1-20210207\r\nBuild:Feb  7 2021\r\nrst:%RST%,boot:0x5 (DOWNLOAD(USB/UART0/1))\r\nwaiting for download\r\n",
    appBanner:
      "ESP-ROM:esp32c3-api1-20210207\r\nBuild:Feb  7 2021\r\nrst:%RST%,boot:0xc (SPI_FAST_FLASH_BOOT)\r\n",
    rstPowerOn: "0x1 (POWERON)",
    rstSoftware: "0x3 (RTC_SW_SYS_RST)",
    rstWatchdog: "0x10 (RTCWDT_RTC_RST)",
    identityRegs({ mac, rev }) {
      // esptool targets/esp32c3.py: EFUSE_BASE 0x60008800, BLOCK1 at +0x44.
      const block1 = 0x60008844;
      const regs = macBlock1(block1, mac, false);
      orReg(regs, block1 + 12, ((rev.minor & 7) << 18) | (0 << 21) /* pkg QFN32 */);
      orReg(regs, block1 + 20, (((rev.minor >> 3) & 1) << 23) | (rev.major << 24));
      return regs;
    },
    romBaudAfterChange: identity,
    bootRom: "later",
  },
  esp32c5: {
    key: "esp32c5",
    name: "ESP32-C5",
    magic: 0x1101406f, // esptool v4.8.1 targets/esp32c5.py CHIP_DETECT_MAGIC_VALUE
    chipId: 23,
    securityInfo: "full",
    securityApiVersion: 0,
    romStatusBytes: 4,
    romOpcodes: ROM_OPS_S2_LATER,
    rom: assumedRom(5),
    spi: spiNew(0x60003000),
    uartClkdivReg: 0x60000014,
    xtalClkDivider: 1,
    defaultCrystalMhz: 48,
    defaultRevision: { major: 1, minor: 0 },
    maxRevision: { major: 3, minor: 15 },
    uartNoReg: 0x4085f51c,
    uartNoUsbJtag: 3,
    defaultOui: [0x3c, 0xdc, 0x75],
    flashVendor: 0xc8,
    bootloaderOffset: 0x2000,
    imageChipId: 23,
    cores: 1,
    downloadBanner:
      "ESP-ROM:esp32c5-eco2-20250121\r\nBuild:Jan 21 2025\r\nrst:%RST%,boot:0x18 (DOWNLOAD(USB/UART0))\r\nwaiting for download\r\n",
    appBanner:
      "ESP-ROM:esp32c5-eco2-20250121\r\nBuild:Jan 21 2025\r\nrst:%RST%,boot:0x1e (SPI_FAST_FLASH_BOOT)\r\n",
    rstPowerOn: "0x1 (POWERON)",
    rstSoftware: "0xc (SW_CPU_RESET)",
    rstWatchdog: "0x10 (RTCWDT_RTC_RST)",
    identityRegs({ mac, rev, crystalMhz }) {
      // esptool targets/esp32c5.py: EFUSE_BASE 0x600B4800, BLOCK1 at +0x44.
      const block1 = 0x600b4844;
      const regs = macBlock1(block1, mac, true);
      orReg(regs, block1 + 8, rev.minor | (rev.major << 4) | (0 << 26));
      // PCR_SYSCLK_CONF_REG bits 24..30: crystal the ROM expects.
      regs.set(0x60096110, ((crystalMhz & 0x7f) << 24) >>> 0);
      return regs;
    },
    romBaudAfterChange: identity,
    bootRom: "later",
  },
  esp32c6: {
    key: "esp32c6",
    name: "ESP32-C6",
    magic: 0x2ce0806f, // esptool v4.8.1 targets/esp32c6.py CHIP_DETECT_MAGIC_VALUE
    chipId: 13,
    securityInfo: "full",
    securityApiVersion: 0,
    romStatusBytes: 4,
    romOpcodes: ROM_OPS_S2_LATER,
    rom: assumedRom(5),
    spi: spiNew(0x60003000),
    uartClkdivReg: 0x60000014,
    xtalClkDivider: 1,
    defaultCrystalMhz: 40,
    defaultRevision: { major: 0, minor: 1 },
    maxRevision: { major: 3, minor: 15 },
    uartNoReg: 0x4087f580,
    uartNoUsbJtag: 3,
    defaultOui: [0x40, 0x4c, 0xca],
    flashVendor: 0xc8,
    bootloaderOffset: 0,
    imageChipId: 13,
    cores: 1,
    downloadBanner:
      "ESP-ROM:esp32c6-20220919\r\nBuild:Sep 19 2022\r\nrst:%RST%,boot:0x4 (DOWNLOAD(USB/UART/SDIO_REI_FEO))\r\nwaiting for download\r\n",
    appBanner:
      "ESP-ROM:esp32c6-20220919\r\nBuild:Sep 19 2022\r\nrst:%RST%,boot:0xc (SPI_FAST_FLASH_BOOT)\r\n",
    rstPowerOn: "0x1 (POWERON)",
    rstSoftware: "0xc (SW_CPU_RESET)",
    rstWatchdog: "0x10 (RTCWDT_RTC_RST)",
    identityRegs({ mac, rev }) {
      // esptool targets/esp32c6.py: EFUSE_BASE 0x600B0800, BLOCK1 at +0x44.
      const block1 = 0x600b0844;
      const regs = macBlock1(block1, mac, true);
      orReg(regs, block1 + 12, (rev.minor << 18) | (rev.major << 22) | (0 << 24));
      return regs;
    },
    romBaudAfterChange: identity,
    bootRom: "later",
  },
  esp32h2: {
    key: "esp32h2",
    name: "ESP32-H2",
    magic: 0xd7b73e80, // esptool v4.8.1 targets/esp32h2.py CHIP_DETECT_MAGIC_VALUE
    chipId: 16,
    securityInfo: "full",
    securityApiVersion: 0,
    romStatusBytes: 4,
    romOpcodes: ROM_OPS_S2_LATER,
    rom: assumedRom(5),
    spi: spiNew(0x60003000),
    uartClkdivReg: 0x60000014,
    xtalClkDivider: 1,
    defaultCrystalMhz: 32,
    defaultRevision: { major: 0, minor: 1 },
    maxRevision: { major: 3, minor: 7 },
    uartNoReg: 0x4084fefc,
    uartNoUsbJtag: 3,
    defaultOui: [0x60, 0x55, 0xf9],
    flashVendor: 0xc8,
    bootloaderOffset: 0,
    imageChipId: 16,
    cores: 1,
    downloadBanner:
      "ESP-ROM:esp32h2-20221101\r\nBuild:Nov  1 2022\r\nrst:%RST%,boot:0x4 (DOWNLOAD(USB/UART0))\r\nwaiting for download\r\n",
    appBanner:
      "ESP-ROM:esp32h2-20221101\r\nBuild:Nov  1 2022\r\nrst:%RST%,boot:0xc (SPI_FAST_FLASH_BOOT)\r\n",
    rstPowerOn: "0x1 (POWERON)",
    rstSoftware: "0xc (SW_CPU_RESET)",
    rstWatchdog: "0x10 (RTCWDT_RTC_RST)",
    identityRegs({ mac, rev }) {
      // esptool targets/esp32h2.py (EFUSE_BASE inherited from esp32c6.py: 0x600B0800).
      const block1 = 0x600b0844;
      const regs = macBlock1(block1, mac, true);
      orReg(regs, block1 + 12, (rev.minor << 18) | (rev.major << 21));
      orReg(regs, block1 + 16, 0); // pkg 0: ESP32-H2
      return regs;
    },
    romBaudAfterChange: identity,
    bootRom: "later",
  },
  esp32p4: {
    key: "esp32p4",
    name: "ESP32-P4",
    magic: 0x0addbad0, // esptool v4.8.1 targets/esp32p4.py CHIP_DETECT_MAGIC_VALUE[1]
    chipId: 18,
    securityInfo: "full",
    securityApiVersion: 0,
    romStatusBytes: 4,
    romOpcodes: ROM_OPS_S2_LATER,
    rom: assumedRom(5),
    spi: spiNew(0x5008d000),
    uartClkdivReg: 0x500ca014,
    xtalClkDivider: 1,
    defaultCrystalMhz: 40,
    defaultRevision: { major: 1, minor: 0 },
    maxRevision: { major: 7, minor: 15 },
    uartNoUsbJtag: 6,
    defaultOui: [0x30, 0xed, 0xa0],
    flashVendor: 0xc8,
    bootloaderOffset: 0x2000,
    imageChipId: 18,
    cores: 2,
    downloadBanner:
      "ESP-ROM:esp32p4-eco2-20240710\r\nBuild:Jul 10 2024\r\nrst:%RST%,boot:0x20f (DOWNLOAD(USB/UART0/SPI))\r\nwaiting for download\r\n",
    appBanner:
      "ESP-ROM:esp32p4-eco2-20240710\r\nBuild:Jul 10 2024\r\nrst:%RST%,boot:0x30f (SPI_FAST_FLASH_BOOT)\r\n",
    rstPowerOn: "0x1 (POWERON)",
    rstSoftware: "0xc (SW_CPU_RESET)",
    rstWatchdog: "0x10 (RTCWDT_RTC_RST)",
    identityRegs({ mac, rev }) {
      // esptool targets/esp32p4.py: EFUSE_BASE 0x5012D000, BLOCK1 at +0x44.
      const block1 = 0x5012d044;
      const regs = macBlock1(block1, mac, false);
      orReg(
        regs,
        block1 + 8,
        rev.minor | ((rev.major & 3) << 4) | (0 << 20) | (((rev.major >> 2) & 1) << 23),
      );
      return regs;
    },
    romBaudAfterChange: identity,
    bootRom: "later",
    uartNoRegForRevision: p4UartNoReg,
  },
};

/** ESP32 eFuse CK8M_FREQ value this model holds (word 4 bits 0..7). */
export const ESP32_CK8M_FREQ = 128;

/** ESP32-P4 UARTDEV_BUF_NO: ROM .bss base (depends on revision) + 24 (esptool targets/esp32p4.py). */
export function p4UartNoReg(rev: SimRevision): number {
  return (rev.major < 3 ? 0x4ff3feb0 : 0x4ffbfeb0) + 24;
}

/** Look up the facts for `key`; throws a `SimError` (`E_USAGE`) for an unknown chip. */
export function chipFacts(key: string): ChipFacts {
  const facts = (FACTS as Record<string, ChipFacts | undefined>)[key];
  if (!facts) {
    throw simUsage(`unknown sim chip "${key}": use one of ${SIM_CHIP_KEYS.join(", ")}`);
  }
  return facts;
}

/** Parse "v3.1" / "3.1" into a revision and check it fits the chip's eFuse fields. */
export function parseRevision(text: string, facts: ChipFacts): SimRevision {
  const m = /^v?(\d+)\.(\d+)$/.exec(text.trim());
  if (!m) {
    throw simUsage(`revision "${text}" is not in the form v<major>.<minor> (e.g. v0.2)`);
  }
  const rev = { major: Number(m[1]), minor: Number(m[2]) };
  if (rev.major > facts.maxRevision.major || rev.minor > facts.maxRevision.minor) {
    throw simUsage(
      `revision ${text} does not fit ${facts.name}'s eFuse fields (max v${facts.maxRevision.major}.${facts.maxRevision.minor})`,
    );
  }
  return rev;
}

/** Parse "aa:bb:cc:dd:ee:ff" (or with dashes) into 6 bytes. */
export function parseMac(text: string): Uint8Array {
  const parts = text.trim().split(/[:-]/);
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) {
    throw simUsage(`MAC "${text}" is not six hex bytes like 02:aa:bb:cc:dd:01`);
  }
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

/** Format 6 bytes as a lowercase colon-separated MAC. */
export function formatMac(mac: Uint8Array): string {
  return Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join(":");
}
