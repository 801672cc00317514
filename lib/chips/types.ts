/**
 * The shape of per-chip facts. One file per chip family implements
 * {@link ChipFamily}; `index.ts` lists them all.
 *
 * Everything here is data or small functions over a register reader, so the
 * facts can be tested against a fake register map and used by the loader
 * against a real chip alike.
 *
 * @module
 */

/** Reads one 32-bit word from the chip's address space (READ_REG). */
export type ReadReg = (address: number) => Promise<number>;

/** Silicon revision, as esptool prints it (`v1.0`, `v0.2`). */
export interface ChipRevision {
  /** Major revision (wafer major). */
  major: number;
  /** Minor revision (wafer minor). */
  minor: number;
}

/** A MAC that fails its eFuse check value: what was stored and what the MAC gives. */
export interface MacCheckFailure {
  /** Check value stored in eFuse. */
  stored: number;
  /** Check value computed from the MAC's bytes. */
  computed: number;
}

/** One named region of the chip's address map (for image-info and pre-flight checks). */
export interface MemoryRegion {
  /** Region name as esptool uses it: `DROM`, `IROM`, `DRAM`, `IRAM`, `RTC_IRAM`, … */
  name: string;
  /** First address (inclusive). */
  start: number;
  /** Last address (exclusive). */
  end: number;
}

/** SPI-flash controller registers used to run a raw SPI command through WRITE_REG/READ_REG. */
export interface SpiRegisters {
  /** SPI_CMD_REG: write `1 << 18` (USR) to start a user command; reads back 0 when done. */
  cmd: number;
  /** SPI_USR_REG: command / MISO / MOSI phase enables. */
  usr: number;
  /** SPI_USR1_REG: address and dummy lengths. */
  usr1: number;
  /** SPI_USR2_REG: command bit length (bits 28..31) and command value (bits 0..15). */
  usr2: number;
  /** SPI_W0_REG: first data word. */
  w0: number;
  /** SPI_MOSI_DLEN_REG, on chips that have it (not ESP8266). */
  mosiDlen?: number;
  /** SPI_MISO_DLEN_REG, on chips that have it (not ESP8266). */
  misoDlen?: number;
}

/** Where the SPI flash supply voltage comes from, in esptool's words (`flash-id` prints it). */
export interface FlashVoltage {
  /** `1.8V`, `1.9V`, `3.3V`, or `OFF` (the internal regulator is off). */
  voltage: "1.8V" | "1.9V" | "3.3V" | "OFF";
  /** What decides it: an RTC register override, the VDD_SPI eFuses, or the MTDI/GPIO45 strapping pin. */
  source: "RTC_CNTL" | "eFuse" | "a strapping pin";
}

/**
 * What one chip's ROM serial loader does and lacks, as esptool's per-chip ROM
 * classes tell it (ESP8266ROM's overrides, SUPPORTS_ENCRYPTED_FLASH,
 * ESP32C2ROM.change_baud …). The loader session turns these into the
 * capabilities of whatever loader it talks to (lib/loader/capabilities.ts);
 * nothing else asks which chip it is.
 */
export interface RomLoaderFacts {
  /** Largest FLASH_DATA block the ROM accepts (esptool FLASH_WRITE_SIZE). */
  flashWriteSize: number;
  /** The ROM inflates FLASH_DEFL_* data (not the ESP8266's). */
  compressedWrites: boolean;
  /**
   * The ROM serves READ_FLASH_SLOW (64 bytes per command): every ESP32-family
   * ROM (esptool ESP32ROM.read_flash_slow, which all later ROM classes
   * inherit; the genuine ESP32 and ESP32-C3 ROMs answer it), not the ESP8266's.
   */
  readFlashSlow: boolean;
  /**
   * FLASH_BEGIN and FLASH_DEFL_BEGIN take a fifth word, "encrypted" (esptool
   * flash_begin: every ROM but the ESP8266's and the ESP32's).
   */
  beginTakesEncryptFlag: boolean;
  /**
   * The ROM has SPI_ATTACH. Without it (ESP8266) a zero-length FLASH_BEGIN
   * attaches the flash (esptool ESP8266ROM.flash_spi_attach).
   */
  spiAttach: boolean;
  /** The ROM has SPI_SET_PARAMS (esptool ESP8266ROM.flash_set_parameters skips it). */
  setFlashParams: boolean;
  /** The ROM computes flash MD5s, SPI_FLASH_MD5 (esptool flash_md5sum: not the ESP8266's). */
  md5: boolean;
  /**
   * FLASH_BEGIN's erase can stand in for an erase-region command: not on the
   * ESP8266, whose ROM erases amounts that depend on the offset.
   */
  eraseRegion: boolean;
  /**
   * Optional: the erase size to put in FLASH_BEGIN for `size` bytes at
   * `offset`, where the ROM miscounts (esptool ESP8266ROM.get_erase_size).
   * Absent: `size`.
   */
  eraseSize?(offset: number, size: number): number;
  /**
   * Optional: the rate to ask CHANGE_BAUDRATE for so the UART ends up at
   * `baud` with a `crystalMhz` crystal, where the ROM assumes another crystal
   * (esptool ESP32C2ROM.change_baud). Absent: `baud`.
   */
  baudRequest?(baud: number, crystalMhz: number): number;
}

/** What the chip's firmware image header looks like (see `image_format.ts`). */
export interface ImageFormatFacts {
  /**
   * The header has the 16-byte extended header (chip id, revisions, the
   * appended-SHA-256 flag): every chip but the ESP8266.
   */
  extendedHeader: boolean;
  /** High nibble of header byte 3 for each `--flash-size` name, in esptool's order (FLASH_SIZES). */
  flashSizes: Readonly<Record<string, number>>;
  /**
   * Low nibble of header byte 3 for each `--flash-freq` name, in esptool's
   * order (FLASH_FREQUENCY); two names may share a nibble (ESP32-C6).
   */
  flashFreqs: Readonly<Record<string, number>>;
}

/** Everything espline knows about one chip family. */
export interface ChipFamily {
  /** Short key used on the command line and in sim:// URLs: `esp32s3`. */
  key: string;
  /** Display name as esptool prints it: `ESP32-S3`. */
  name: string;
  /**
   * Chip id in image headers and GET_SECURITY_INFO: `null` for ESP8266 (its
   * images have no extended header). ESP32 images carry 0, though the ESP32 ROM
   * has no GET_SECURITY_INFO (see {@link ChipFamily.securityInfoHasChipId}).
   */
  imageChipId: number | null;
  /** Values of the chip-detect magic register (0x40001000) that identify this family. */
  magicValues: number[];
  /** Whether the ROM answers GET_SECURITY_INFO with a chip id. */
  securityInfoHasChipId: boolean;
  /** Flash offset of the second-stage bootloader. */
  bootloaderOffset: number;
  /** Where the flasher stub for this chip lives in the esptool-js package (file base name), or null. */
  stubName: string | null;
  /**
   * Optional: the stub file base name for one silicon revision, when it differs
   * from {@link ChipFamily.stubName} (ESP32-P4 before v3.0 needs `esp32p4-rev1`),
   * or `null` when no stub supports that revision (ESP32-C2 v0.0). Absent means
   * `stubName` holds for every revision.
   */
  stubNameForRevision?(revision: ChipRevision): string | null;
  /** What the chip's ROM loader does and lacks (the flasher stub is the same on every chip). */
  rom: RomLoaderFacts;
  /** What its firmware image header looks like. */
  image: ImageFormatFacts;
  /**
   * Optional: the flasher stub for this chip answers RUN_USER_CODE, so a soft
   * reset works with the stub running (esptool soft_reset: ESP8266 only).
   */
  stubRunsUserCode?: boolean;
  /** SPI controller registers for raw flash commands (JEDEC id, status). */
  spi: SpiRegisters;
  /** Address map regions. */
  memoryMap: MemoryRegion[];
  /** Base MAC address (6 bytes) from eFuse. */
  readMac(readReg: ReadReg): Promise<Uint8Array>;
  /**
   * Optional: check the base MAC against the check value the chip stores
   * beside it in eFuse. Resolves null when it holds (or the chip's makers
   * accept the MAC without it), else the stored and computed values. Only
   * the ESP32 has one (BLOCK0 MAC_CRC); later chips guard their eFuse
   * blocks in hardware.
   */
  checkMac?(mac: Uint8Array, readReg: ReadReg): Promise<MacCheckFailure | null>;
  /** Silicon revision from eFuse. */
  readRevision(readReg: ReadReg): Promise<ChipRevision>;
  /** Full description as esptool prints it, e.g. `ESP32-D0WD-V3 (revision v3.0)`. */
  readDescription(readReg: ReadReg): Promise<string>;
  /** Feature list, e.g. `["WiFi", "BT", "Dual Core", "240MHz"]`. */
  readFeatures(readReg: ReadReg): Promise<string[]>;
  /**
   * RTC watchdog registers for `--after watchdog-reset` (esptool targets' RTC_CNTL_WDTCONFIG0/1 and
   * WDTWPROTECT), on chips where esptool supports it.
   */
  rtcWatchdog?: { config0: number; config1: number; protect: number };
  /** Crystal frequency in MHz. `baud` is the current line speed (used by chips that derive it from the UART divider). */
  readCrystalMhz(readReg: ReadReg, baud: number): Promise<number>;
  /**
   * The crystal is estimated from the UART divider (ESP8266, ESP32, C2, C5:
   * esptool get_crystal_freq), so only the ROM's divider tells it: once a
   * flasher stub has reprogrammed the clocks the estimate means nothing.
   */
  crystalFromUart?: boolean;
  /**
   * Optional: the chip ID esptool's `chip-id` prints (the ESP8266 SDK's
   * `system_get_chip_id()`, from the MAC words in OTP). Absent on chips that
   * have none (esptool then prints the MAC instead).
   */
  readChipId?(readReg: ReadReg): Promise<number>;
  /**
   * Optional: the two MAC_EXT bytes that make the base MAC an EUI-64 (chips
   * with an 802.15.4 radio: ESP32-C6, H2, C5; esptool `read_mac("MAC_EXT")`).
   */
  readMacExt?(readReg: ReadReg): Promise<Uint8Array>;
  /** Optional: where the flash supply voltage comes from (ESP32, S2, S3; esptool `get_flash_voltage`). */
  readFlashVoltage?(readReg: ReadReg): Promise<FlashVoltage>;
  /** Optional: the flash interface the eFuses select (ESP32-S2, S3; esptool `flash_type`). */
  readFlashType?(readReg: ReadReg): Promise<"quad" | "octal">;
}
