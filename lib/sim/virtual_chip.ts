/**
 * The virtual chip: the DEVICE side of Espressif's ROM serial bootloader and
 * of the flasher stub, modelled from register-level facts (see
 * `chip_facts.ts`), faithful enough that esptool (Python) and esptool-js talk
 * to it unmodified.
 *
 * Bytes go in through {@link VirtualChip.receive} (the chip's RX pin) and come
 * out through {@link VirtualChip.onTransmit} listeners (TX). Modem lines drive
 * a DevKit-style auto-reset circuit (or the USB-Serial/JTAG reset logic).
 *
 * @module
 */

import { createHash } from "node:crypto";
import { Unzlib } from "fflate";
import { UsageError } from "../errors.ts";
import {
  CHIP_DETECT_MAGIC_REG_ADDR,
  type ChipFacts,
  chipFacts,
  formatMac,
  p4UartNoReg,
  parseMac,
  parseRevision,
  type SimChipKey,
  type SimRevision,
} from "./chip_facts.ts";
import { FaultInjector, type FaultOptions } from "./faults.ts";
import { esp8266RomEraseSectors, FLASH_SECTOR_SIZE, NorFlash } from "./nor_flash.ts";
import { SlipDecoder, slipEncode } from "./slip.ts";
import { stubImage } from "./stub_images.ts";

export type { SimChipKey } from "./chip_facts.ts";
export type { FaultOptions } from "./faults.ts";

/** Options of a {@link VirtualChip}. */
export interface VirtualChipOptions {
  /** Which chip to impersonate. */
  chip: SimChipKey;
  /** Base MAC "02:aa:bb:cc:dd:01"; default: an Espressif OUI plus bytes derived from chip and fault seed. */
  mac?: string;
  /** Wafer revision "v3.1"; default: a common revision for the chip. */
  revision?: string;
  /** Flash size in bytes (power of two, 256 KiB..128 MiB); default 4 MiB. */
  flashSize?: number;
  /** Load flash from this file if it exists; saved on close() and after FLASH_END / erase. */
  flashFile?: string;
  /** Crystal in MHz; default 40 (26 for ESP8266, 48 for ESP32-C5, 32 for ESP32-H2). */
  crystalMhz?: number;
  /** Secure download mode enabled in eFuse (restricts ROM commands); default false. */
  secureDownload?: boolean;
  /** Console: external USB-UART bridge or the chip's USB-Serial/JTAG; default "uart". */
  usb?: "uart" | "usb-jtag";
  /** Pace bytes at the line baud, both directions (applied by ports/servers); default false. */
  pace?: boolean;
  /** Extra per-transfer latency in ms (USB frame), applied by ports/servers; default 0. */
  latencyMs?: number;
  /** Model erase/program times (responses are delayed accordingly); default false. */
  flashTiming?: boolean;
  /** Seeded fault injection; default none. */
  faults?: FaultOptions;
  /** State at power-on; default "download" (banner printed). */
  startMode?: "download" | "app";
  /** Lines the application prints when it boots; default an ESP-IDF style log ending "Hello from espline sim". */
  appOutput?: string[];
  /**
   * Treat any executed RAM upload whose entry point lies inside an uploaded
   * segment as a flasher stub (e.g. esptool's own stubs). Default false: only
   * the esptool-js 0.7.0 stub images are recognised; other code "runs" and the
   * chip goes silent (mode "halted").
   */
  acceptAnyStub?: boolean;
}

/** What the chip is doing. "halted" also covers "held in reset". */
export type VirtualChipMode = "download" | "stub" | "app" | "halted";

/** Counters a test or demo can read. */
export interface VirtualChipStats {
  /** SLIP frames received from the host (before fault injection). */
  framesIn: number;
  /** SLIP frames sent to the host (before fault injection). */
  framesOut: number;
  /** Faults injected so far (either direction, including brown-outs). */
  faultsInjected: number;
  /** Modelled flash busy time so far in ms (counted even when flashTiming is off). */
  flashBusyMs: number;
  /** Number of boots (download or app) since construction. */
  boots: number;
}

// ---- protocol facts (esptool loader.py ESP_CMDS, serial-protocol.rst) ----
/** Request opcodes. */
export const OP = {
  FLASH_BEGIN: 0x02,
  FLASH_DATA: 0x03,
  FLASH_END: 0x04,
  MEM_BEGIN: 0x05,
  MEM_END: 0x06,
  MEM_DATA: 0x07,
  SYNC: 0x08,
  WRITE_REG: 0x09,
  READ_REG: 0x0a,
  SPI_SET_PARAMS: 0x0b,
  SPI_ATTACH: 0x0d,
  READ_FLASH_SLOW: 0x0e,
  CHANGE_BAUDRATE: 0x0f,
  FLASH_DEFL_BEGIN: 0x10,
  FLASH_DEFL_DATA: 0x11,
  FLASH_DEFL_END: 0x12,
  SPI_FLASH_MD5: 0x13,
  GET_SECURITY_INFO: 0x14,
  ERASE_FLASH: 0xd0,
  ERASE_REGION: 0xd1,
  READ_FLASH: 0xd2,
  RUN_USER_CODE: 0xd3,
  FLASH_ENCRYPT_DATA: 0xd4,
} as const;

/** ROM loader error codes (serial-protocol.rst "ROM Loader Errors"). */
export const ROM_ERR = {
  INVALID_MESSAGE: 0x05,
  FAILED_TO_ACT: 0x06,
  INVALID_CRC: 0x07,
  FLASH_WRITE: 0x08,
  FLASH_READ: 0x09,
  READ_LENGTH: 0x0a,
  DEFLATE: 0x0b,
  DEFLATE_ADLER: 0x0c,
} as const;

/** Flasher stub error codes (esptool v4 flasher_stub/include/stub_flasher.h). */
export const STUB_ERR = {
  BAD_DATA_LEN: 0xc0,
  BAD_DATA_CHECKSUM: 0xc1,
  BAD_BLOCKSIZE: 0xc2,
  INVALID_COMMAND: 0xc3,
  FAILED_SPI_OP: 0xc4,
  FAILED_SPI_UNLOCK: 0xc5,
  NOT_IN_FLASH_MODE: 0xc6,
  INFLATE_ERROR: 0xc7,
  NOT_ENOUGH_DATA: 0xc8,
  TOO_MUCH_DATA: 0xc9,
  CMD_NOT_IMPLEMENTED: 0xff,
} as const;

/** SYNC payload: 07 07 12 20 then 32 × 0x55 (serial-protocol.rst). */
export const SYNC_PAYLOAD: Uint8Array = Uint8Array.from([
  0x07,
  0x07,
  0x12,
  0x20,
  ...new Array<number>(32).fill(0x55),
]);
/** Responses the ROM and stub send per SYNC request (esptool reads 1 + 7). */
export const SYNC_RESPONSES = 8;
/** Value word of a ROM SYNC response: the first payload bytes, little-endian. */
export const ROM_SYNC_VALUE = 0x20120707;
/** Initial value of the data checksum (esptool loader.py ESP_CHECKSUM_MAGIC). */
export const CHECKSUM_MAGIC = 0xef;
/** Largest data block the stub accepts (stub_flasher.h MAX_WRITE_BLOCK). */
export const STUB_MAX_WRITE_BLOCK = 0x4000;
/** Largest READ_FLASH_SLOW block (esptool targets/esp32.py read_flash_slow BLOCK_LEN). */
export const ROM_READ_SLOW_MAX = 64;
/** Greeting the stub sends once running (serial-protocol.rst). */
export const STUB_GREETING: Uint8Array = new TextEncoder().encode("OHAI");
/** Baud the ROM (and apps) start at. */
export const ROM_DEFAULT_BAUD = 115200;
/** ESP8266 ROM baud with a 26 MHz crystal (prints its banner at this rate). */
export const ESP8266_ROM_BAUD_26MHZ = 74880;
/** Delay between EN rising and the ROM sampling the strapping pins (EN RC network), ms. */
export const EN_STRAP_SAMPLE_MS = 5;
/** Relative baud mismatch beyond which UART bytes are garbled. */
export const BAUD_TOLERANCE = 0.04;

/** SPI_USR bit in SPI_CMD_REG (esptool loader.py run_spiflash_command). */
const SPI_CMD_USR = 1 << 18;
const SPI_USR_COMMAND = 1 << 31;
const SPI_USR_ADDR = 1 << 30;
const SPI_USR_MISO = 1 << 28;
const SPI_USR_MOSI = 1 << 27;
/** Security-info flag bit for secure download mode (esptool loader.py SECURITY_INFO_FLAG_MAP). */
const SECURITY_FLAG_SECURE_DOWNLOAD = 1 << 2;
/** Commands the ROM still accepts in secure download mode. */
const SECURE_DOWNLOAD_OPS = new Set<number>([
  OP.FLASH_BEGIN,
  OP.FLASH_DATA,
  OP.FLASH_END,
  OP.SYNC,
  OP.SPI_SET_PARAMS,
  OP.SPI_ATTACH,
  OP.CHANGE_BAUDRATE,
  OP.FLASH_DEFL_BEGIN,
  OP.FLASH_DEFL_DATA,
  OP.FLASH_DEFL_END,
  OP.GET_SECURITY_INFO,
]);

interface FlashWriteState {
  kind: "plain" | "defl";
  offset: number;
  blockSize: number;
  nextSeq: number;
  /** Next flash address the (inflated) data goes to. */
  writePos: number;
  /** Stub: bytes still expected (uncompressed). ROM: unused (-1). */
  remaining: number;
  /** Stub: next sector to erase and sectors left (erase-as-you-go). */
  nextEraseSector: number;
  eraseSectorsLeft: number;
  inflater?: Unzlib;
  pendingOut: Uint8Array[];
  error: number;
}

interface MemSegment {
  addr: number;
  bytes: Uint8Array;
  blockSize: number;
  nextSeq: number;
}

interface ReadFlashState {
  addr: number;
  len: number;
  blockSize: number;
  maxInFlight: number;
  sent: number;
  acked: number;
  md5: ReturnType<typeof createHash>;
}

interface HandleResult {
  /** Modelled ms before the response goes out. */
  before: number;
  /** Modelled ms the chip stays busy after responding. */
  after: number;
}

const NO_DELAY: HandleResult = { before: 0, after: 0 };

function u32(b: Uint8Array, off: number): number {
  return (b[off] | (b[off + 1] << 8) | (b[off + 2] << 16) | (b[off + 3] << 24)) >>> 0;
}
function putU32(b: Uint8Array, off: number, v: number): void {
  b[off] = v & 0xff;
  b[off + 1] = (v >>> 8) & 0xff;
  b[off + 2] = (v >>> 16) & 0xff;
  b[off + 3] = (v >>> 24) & 0xff;
}
function xorChecksum(data: Uint8Array): number {
  let c = CHECKSUM_MAGIC;
  for (const b of data) c ^= b;
  return c;
}
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
/** FNV-1a, for deriving default MAC bytes from chip and seed. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** True when two UART speeds differ by more than {@link BAUD_TOLERANCE}. */
export function baudMismatch(a: number, b: number): boolean {
  return Math.abs(a - b) / Math.max(1, b) > BAUD_TOLERANCE;
}

/** What a receiver at the wrong baud makes of `bytes`: deterministic garbage that never contains 0xC0. */
export function garble(bytes: Uint8Array, senderBaud: number, receiverBaud: number): Uint8Array {
  const k = (Math.round((senderBaud * 16) / Math.max(1, receiverBaud)) & 0xff) | 1;
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    let v = ((bytes[i] * 0x9d) ^ (k * 0x3b) ^ (bytes[i] >> 3)) & 0xff;
    if (v === 0xc0) v = 0xe0;
    out[i] = v;
  }
  return out;
}

/** The default application log for `chip` (ESP-IDF style, ends with the sim greeting). */
export function defaultAppOutput(facts: ChipFacts, mac: string, rev: SimRevision): string[] {
  return [
    "I (27) boot: ESP-IDF v5.3.1 2nd stage bootloader",
    `I (27) boot: chip revision: v${rev.major}.${rev.minor}`,
    `I (31) boot.${facts.key}: SPI Speed      : 80MHz`,
    "I (41) boot: Loaded app from partition at offset 0x10000",
    "I (47) cpu_start: Pro cpu start user code",
    `I (63) app_main: ${facts.name} base MAC ${mac}`,
    "Hello from espline sim",
  ];
}

/**
 * A virtual Espressif chip: ROM download mode, flasher stub, NOR flash,
 * auto-reset circuit, app console and seeded faults.
 *
 * @example
 * ```ts
 * import { VirtualChip } from "./virtual_chip.ts";
 * const chip = new VirtualChip({ chip: "esp32s3", mac: "02:aa:bb:cc:dd:01" });
 * const off = chip.onTransmit((bytes) => console.log(bytes.length));
 * chip.receive(new Uint8Array([0xc0, 0x00, 0x08, 0x24, 0, 0, 0, 0, 0, 0xc0]));
 * off();
 * await chip.close();
 * ```
 */
export class VirtualChip {
  /** The options this chip was created with. */
  readonly options: VirtualChipOptions;
  /** The chip model's facts. */
  readonly facts: ChipFacts;
  /** Counters. */
  readonly stats: VirtualChipStats = {
    framesIn: 0,
    framesOut: 0,
    faultsInjected: 0,
    flashBusyMs: 0,
    boots: 0,
  };
  /** Base MAC as configured or derived. */
  readonly mac: string;
  /** Wafer revision as configured or defaulted. */
  readonly revision: SimRevision;
  /** Crystal in MHz. */
  readonly crystalMhz: number;

  readonly #nor: NorFlash;
  readonly #identity: Map<number, number>;
  readonly #faults?: FaultInjector;
  #mode: VirtualChipMode = "halted";
  #uartBaud = ROM_DEFAULT_BAUD;
  #hostBaud = ROM_DEFAULT_BAUD;
  #autobaud = true;
  #decoder = new SlipDecoder();
  #listeners = new Set<(bytes: Uint8Array) => void>();
  #goneListeners = new Set<() => void>();
  #baudListeners = new Set<(baud: number) => void>();
  #preListenerTx: Uint8Array[] = [];
  #regs = new Map<number, number>();
  #queue: Uint8Array[] = [];
  #busy = false;
  #epoch = 0;
  #timers = new Set<ReturnType<typeof setTimeout>>();
  #batch: Uint8Array[] | null = null;
  #txHeld = false;
  #txQueue: { bytes: Uint8Array; baud: number }[] = [];
  #flashWrite: FlashWriteState | null = null;
  #memSegments: MemSegment[] = [];
  #readFlash: ReadFlashState | null = null;
  #spiAttached = false;
  #paramsSize: number;
  #sr = [0x00, 0x00, 0x00];
  #sfdpWriteEnable = false;
  #dtr = false;
  #rts = false;
  #enHigh = true;
  #strapTimer: ReturnType<typeof setTimeout> | null = null;
  #usbBootOverride = false;
  #usbInReset = false;
  #usbCaptured = false;
  #gone = false;
  #closed = false;
  #latchedBoot: "download" | "app" = "download";

  /** Create a chip and power it on (download mode unless `startMode: "app"`). */
  constructor(options: VirtualChipOptions) {
    this.options = options;
    this.facts = chipFacts(options.chip);
    const f = this.facts;
    this.revision = options.revision !== undefined
      ? parseRevision(options.revision, f)
      : f.defaultRevision;
    this.crystalMhz = options.crystalMhz ?? f.defaultCrystalMhz;
    if (!(this.crystalMhz > 0)) throw new UsageError(`crystalMhz must be positive`);
    let macBytes: Uint8Array;
    if (options.mac !== undefined) macBytes = parseMac(options.mac);
    else {
      const h = fnv1a(`${f.key}:${options.faults?.seed ?? 0}`);
      macBytes = Uint8Array.from([...f.defaultOui, (h >>> 16) & 0xff, (h >>> 8) & 0xff, h & 0xff]);
    }
    this.mac = formatMac(macBytes);
    const size = options.flashSize ?? 4 * 1024 * 1024;
    if (!Number.isInteger(Math.log2(size)) || size < 0x40000 || size > 0x8000000) {
      throw new UsageError(
        `flash size ${size} is not a power of two between 256 KiB and 128 MiB: use e.g. 4MB`,
      );
    }
    if (options.usb === "usb-jtag" && f.uartNoUsbJtag === undefined) {
      throw new UsageError(
        `${f.name} has no USB-Serial/JTAG controller: use usb "uart" for this chip`,
      );
    }
    let initial: Uint8Array | undefined;
    if (options.flashFile) {
      try {
        initial = Deno.readFileSync(options.flashFile);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) {
          throw new UsageError(`cannot read flash file ${options.flashFile}: ${e}`, { cause: e });
        }
      }
    }
    this.#nor = new NorFlash(size, initial);
    this.#paramsSize = size;
    this.#identity = f.identityRegs({
      mac: macBytes,
      rev: this.revision,
      crystalMhz: this.crystalMhz,
    });
    if (options.faults) this.#faults = new FaultInjector(options.faults);
    this.#boot(options.startMode ?? "download", "power");
  }

  /** Current flash contents (live view). */
  get flash(): Uint8Array {
    return this.#nor.data;
  }

  /** What the chip is doing now. */
  get mode(): VirtualChipMode {
    return this.#mode;
  }

  /** The chip UART's current speed (after autobaud / CHANGE_BAUDRATE). */
  get uartBaud(): number {
    return this.#uartBaud;
  }

  /** True once a disconnect fault has made the port vanish. */
  get gone(): boolean {
    return this.#gone;
  }

  /** Subscribe to bytes the chip transmits; returns an unsubscribe function. */
  onTransmit(listener: (bytes: Uint8Array) => void): () => void {
    this.#listeners.add(listener);
    if (this.#preListenerTx.length) {
      const held = this.#preListenerTx;
      this.#preListenerTx = [];
      for (const b of held) listener(b);
    }
    return () => this.#listeners.delete(listener);
  }

  /** Subscribe to the port vanishing (disconnect fault); returns an unsubscribe function. */
  onGone(listener: () => void): () => void {
    this.#goneListeners.add(listener);
    return () => this.#goneListeners.delete(listener);
  }

  /** Subscribe to the chip's UART switching speed after CHANGE_BAUDRATE (called with the new UART baud); returns an unsubscribe function. */
  onBaudChange(listener: (baud: number) => void): () => void {
    this.#baudListeners.add(listener);
    return () => this.#baudListeners.delete(listener);
  }

  /** Set the line speed the host uses (a mismatch with the chip's UART garbles bytes). */
  setHostBaud(baud: number): void {
    this.#hostBaud = baud;
  }

  /** Host -> device bytes, as they arrive on the chip's RX pin. */
  receive(bytes: Uint8Array): void {
    if (this.#closed || this.#gone) return;
    if (this.#mode === "halted" || this.#mode === "app") return;
    let rx = bytes;
    if (this.#mode === "download" && this.#autobaud) {
      // The ROM's autobaud locks onto whatever speed the host syncs at.
      this.#uartBaud = this.#hostBaud;
    } else if (baudMismatch(this.#hostBaud, this.#uartBaud)) {
      rx = garble(bytes, this.#hostBaud, this.#uartBaud);
    }
    for (const frame of this.#decoder.push(rx)) {
      this.stats.framesIn++;
      let payload = frame.payload;
      if (this.#faults) {
        const fault = this.#faults.frame(payload.length);
        if (fault.disconnect) {
          this.stats.faultsInjected++;
          this.#goGone();
          return;
        }
        if (fault.drop) {
          this.stats.faultsInjected++;
          continue;
        }
        if (fault.corruptAt >= 0) {
          this.stats.faultsInjected++;
          payload = payload.slice();
          payload[fault.corruptAt] ^= fault.corruptMask;
        }
        if (fault.stallMs > 0) {
          this.stats.faultsInjected++;
          this.#holdTx(fault.stallMs);
        }
      }
      this.#queue.push(payload);
    }
    this.#pump();
  }

  /** Drive the modem lines through the board's auto-reset circuit (or USB-Serial/JTAG logic). */
  setSignals(signals: { dtr?: boolean; rts?: boolean }): void {
    if (this.#closed) return;
    if (signals.dtr !== undefined) this.#dtr = signals.dtr;
    if (signals.rts !== undefined) this.#rts = signals.rts;
    if (this.options.usb === "usb-jtag") this.#usbJtagLines();
    else this.#autoResetCircuit();
  }

  /** Power-cycle straight into `mode` (prints the banner or the app output). */
  reset(mode: "download" | "app"): void {
    if (this.#closed) return;
    this.#cancelStrap();
    this.#boot(mode, "power");
  }

  /** Persist the flash file and stop all timers. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#epoch++;
    this.#cancelStrap();
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    if (this.options.flashFile) await Deno.writeFile(this.options.flashFile, this.#nor.data);
  }

  // ------------------------------------------------------------------ boot

  #boot(mode: "download" | "app", cause: "power" | "software"): void {
    this.#epoch++;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    this.#busy = false;
    this.#queue = [];
    this.#batch = null;
    this.#txHeld = false;
    this.#txQueue = [];
    this.#decoder.reset();
    this.#flashWrite = null;
    this.#memSegments = [];
    this.#readFlash = null;
    this.#spiAttached = false;
    this.#paramsSize = this.#nor.size;
    this.#regs.clear();
    this.#sr = [0, 0, 0];
    this.#post = null;
    this.stats.boots++;
    if (cause === "power") this.#latchedBoot = mode;
    const f = this.facts;
    const rst = cause === "power" ? f.rstPowerOn : f.rstSoftware;
    const romBaud = f.key === "esp8266" && this.crystalMhz === 26
      ? ESP8266_ROM_BAUD_26MHZ
      : ROM_DEFAULT_BAUD;
    if (mode === "download") {
      this.#mode = "download";
      this.#uartBaud = romBaud;
      this.#autobaud = true;
      this.#emitText(f.downloadBanner.replace("%RST%", rst), romBaud);
    } else {
      this.#mode = "app";
      this.#autobaud = false;
      this.#emitText(f.appBanner.replace("%RST%", rst), romBaud);
      this.#uartBaud = ROM_DEFAULT_BAUD;
      const lines = this.options.appOutput ??
        defaultAppOutput(f, this.mac, this.revision);
      this.#emitText(
        lines.map((l) => (l.endsWith("\n") ? l : `${l}\r\n`)).join(""),
        ROM_DEFAULT_BAUD,
      );
    }
  }

  #softwareReset(): void {
    // Strapping pins are latched at power-on / EN reset only (GPIO_STRAP_REG):
    // a software reset comes back up in the same boot mode.
    this.#boot(this.#latchedBoot, "software");
  }

  #autoResetCircuit(): void {
    // DevKit circuit: EN low when RTS asserted alone; IO0 low when DTR asserted alone.
    const en = !(this.#rts && !this.#dtr);
    if (!en && this.#enHigh) {
      this.#enHigh = false;
      this.#cancelStrap();
      this.#holdInReset();
    } else if (en && !this.#enHigh) {
      this.#enHigh = true;
      this.#cancelStrap();
      const epoch = this.#epoch;
      this.#strapTimer = setTimeout(() => {
        this.#strapTimer = null;
        if (this.#closed || epoch !== this.#epoch || !this.#enHigh) return;
        const io0Low = this.#dtr && !this.#rts;
        this.#boot(io0Low ? "download" : "app", "power");
      }, EN_STRAP_SAMPLE_MS);
    }
  }

  #usbJtagLines(): void {
    // USB-Serial/JTAG: DTR=1,RTS=0 requests download boot; DTR=0,RTS=1 holds
    // the chip in reset; leaving reset boots with the request captured on entry
    // (esptool reset.py USBJTAGSerialReset goes through (1,1) to keep it).
    if (this.#dtr && !this.#rts) this.#usbBootOverride = true;
    const inReset = this.#rts && !this.#dtr;
    if (inReset && !this.#usbInReset) {
      this.#usbInReset = true;
      this.#usbCaptured = this.#usbBootOverride;
      this.#holdInReset();
    } else if (!inReset && this.#usbInReset) {
      this.#usbInReset = false;
      const download = this.#usbCaptured;
      this.#usbBootOverride = this.#dtr && !this.#rts;
      this.#boot(download ? "download" : "app", "power");
    }
  }

  #holdInReset(): void {
    this.#epoch++;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    this.#busy = false;
    this.#queue = [];
    this.#batch = null;
    this.#txHeld = false;
    this.#txQueue = [];
    this.#post = null;
    this.#mode = "halted";
  }

  #cancelStrap(): void {
    if (this.#strapTimer !== null) clearTimeout(this.#strapTimer);
    this.#strapTimer = null;
  }

  #goGone(): void {
    this.#gone = true;
    this.#holdInReset();
    for (const l of this.#goneListeners) l();
  }

  // ------------------------------------------------------------- transmit

  #emitText(text: string, baud: number): void {
    this.#emitRaw(new TextEncoder().encode(text), baud);
  }

  /** Queue a SLIP frame for transmission (after the current handler's delay). */
  #sendFrame(payload: Uint8Array): void {
    this.stats.framesOut++;
    let p = payload;
    if (this.#faults) {
      const fault = this.#faults.frame(p.length);
      if (fault.disconnect) {
        this.stats.faultsInjected++;
        this.#goGone();
        return;
      }
      if (fault.drop) {
        this.stats.faultsInjected++;
        return;
      }
      if (fault.corruptAt >= 0) {
        this.stats.faultsInjected++;
        p = p.slice();
        p[fault.corruptAt] ^= fault.corruptMask;
      }
      if (fault.stallMs > 0) {
        this.stats.faultsInjected++;
        this.#holdTx(fault.stallMs);
      }
    }
    const bytes = slipEncode(p);
    if (this.#batch) this.#batch.push(bytes);
    else this.#emitRaw(bytes, this.#uartBaud);
  }

  #holdTx(ms: number): void {
    if (this.#txHeld) return;
    this.#txHeld = true;
    this.#timer(ms, () => {
      this.#txHeld = false;
      const q = this.#txQueue;
      this.#txQueue = [];
      for (const { bytes, baud } of q) this.#emitRaw(bytes, baud);
    });
  }

  #emitRaw(bytes: Uint8Array, baud: number): void {
    if (this.#gone || this.#closed) return;
    if (this.#txHeld) {
      this.#txQueue.push({ bytes, baud });
      return;
    }
    const out = baudMismatch(this.#hostBaud, baud) ? garble(bytes, baud, this.#hostBaud) : bytes;
    if (this.#listeners.size === 0) {
      this.#preListenerTx.push(out);
      return;
    }
    for (const l of this.#listeners) l(out);
  }

  #timer(ms: number, fn: () => void): void {
    const epoch = this.#epoch;
    const id = setTimeout(() => {
      this.#timers.delete(id);
      if (this.#closed || epoch !== this.#epoch) return;
      fn();
    }, ms);
    this.#timers.add(id);
  }

  // ------------------------------------------------------------ dispatch

  #pump(): void {
    while (!this.#busy && this.#queue.length > 0 && !this.#closed && !this.#gone) {
      const frame = this.#queue.shift()!;
      const epoch = this.#epoch;
      this.#batch = [];
      let result: HandleResult;
      try {
        result = this.#handleFrame(frame);
      } finally {
        if (epoch !== this.#epoch) this.#batch = null;
      }
      if (epoch !== this.#epoch) continue; // the chip rebooted while handling
      const batch = this.#batch ?? [];
      this.#batch = null;
      const timing = this.options.flashTiming === true;
      const before = timing ? result.before : 0;
      const after = timing ? result.after : 0;
      if (before <= 0 && after <= 0) {
        for (const b of batch) this.#emitRaw(b, this.#uartBaud);
        this.#afterSend();
        continue;
      }
      this.#busy = true;
      const baud = this.#uartBaud;
      const finish = () => {
        for (const b of batch) this.#emitRaw(b, baud);
        this.#afterSend();
        if (after > 0) {
          this.#timer(after, () => {
            this.#busy = false;
            this.#pump();
          });
        } else {
          this.#busy = false;
          this.#pump();
        }
      };
      if (before > 0) this.#timer(before, finish);
      else finish();
    }
  }

  /** Actions that must follow the response (baud switch, reboot, stub greeting). */
  #post: (() => void) | null = null;
  #afterSend(): void {
    const p = this.#post;
    this.#post = null;
    if (p) p();
  }

  #handleFrame(p: Uint8Array): HandleResult {
    if (this.#readFlash) return this.#readFlashAck(p);
    if (this.#mode !== "download" && this.#mode !== "stub") return NO_DELAY;
    if (p.length < 8 || p[0] !== 0x00) return NO_DELAY; // not a request: ignored
    const op = p[1];
    const size = p[2] | (p[3] << 8);
    const chk = u32(p, 4);
    const data = p.subarray(8);
    const stub = this.#mode === "stub";
    if (data.length !== size) {
      this.#fail(op, stub ? STUB_ERR.BAD_DATA_LEN : ROM_ERR.INVALID_MESSAGE);
      return NO_DELAY;
    }
    if (!stub) {
      if (!this.facts.romOpcodes.has(op)) return this.#unsupported();
      if (this.options.secureDownload && !SECURE_DOWNLOAD_OPS.has(op)) return this.#unsupported();
    }
    switch (op) {
      case OP.SYNC:
        return this.#sync(data);
      case OP.READ_REG:
        if (data.length !== 4) return this.#failed(op, "len");
        this.#reply(op, this.#readWord(u32(data, 0)));
        return NO_DELAY;
      case OP.WRITE_REG:
        return this.#writeReg(data);
      case OP.MEM_BEGIN:
        return this.#memBegin(data);
      case OP.MEM_DATA:
        return this.#memData(data, chk);
      case OP.MEM_END:
        return this.#memEnd(data);
      case OP.SPI_ATTACH:
        if (data.length !== 4 && data.length !== 8) return this.#failed(op, "len");
        this.#spiAttached = true;
        this.#reply(op, 0);
        return NO_DELAY;
      case OP.SPI_SET_PARAMS:
        if (data.length !== 24) return this.#failed(op, "len");
        this.#paramsSize = u32(data, 4);
        this.#reply(op, 0);
        return NO_DELAY;
      case OP.CHANGE_BAUDRATE:
        return this.#changeBaud(data);
      case OP.FLASH_BEGIN:
      case OP.FLASH_DEFL_BEGIN:
        return this.#flashBegin(op, data);
      case OP.FLASH_DATA:
      case OP.FLASH_DEFL_DATA:
        return this.#flashData(op, data, chk);
      case OP.FLASH_END:
      case OP.FLASH_DEFL_END:
        return this.#flashEnd(op, data);
      case OP.SPI_FLASH_MD5:
        return this.#md5(data);
      case OP.READ_FLASH_SLOW:
        if (stub) break;
        return this.#readFlashSlow(data);
      case OP.GET_SECURITY_INFO:
        if (this.facts.securityInfo === "none") break;
        return this.#securityInfo(data);
      case OP.ERASE_FLASH:
        if (!stub) break;
        return this.#eraseFlash(data);
      case OP.ERASE_REGION:
        if (!stub) break;
        return this.#eraseRegion(data);
      case OP.READ_FLASH:
        if (!stub) break;
        return this.#readFlashStart(data);
      case OP.RUN_USER_CODE:
        if (!stub) break;
        this.#post = () => this.#boot("app", "software");
        return NO_DELAY;
    }
    if (stub) this.#fail(op, STUB_ERR.CMD_NOT_IMPLEMENTED);
    else return this.#unsupported();
    return NO_DELAY;
  }

  /** Success response with optional data before the status bytes. */
  #reply(op: number, value: number, data: Uint8Array = new Uint8Array(0)): void {
    this.#respond(op, value, data, 0);
  }

  /** Failure response with an error code (ROM: status 1 + code; stub: code + 0). */
  #fail(op: number, code: number): void {
    this.#respond(op, 0, new Uint8Array(0), code);
  }

  /** Failure for a malformed request, in the running loader's own code. */
  #failed(op: number, why: "len" | "act"): HandleResult {
    const stub = this.#mode === "stub";
    if (why === "len") this.#fail(op, stub ? STUB_ERR.BAD_DATA_LEN : ROM_ERR.INVALID_MESSAGE);
    else this.#fail(op, stub ? STUB_ERR.FAILED_SPI_OP : ROM_ERR.FAILED_TO_ACT);
    return NO_DELAY;
  }

  #respond(op: number, value: number, data: Uint8Array, error: number): void {
    const stub = this.#mode === "stub";
    const statusLen = stub ? 2 : this.facts.romStatusBytes;
    const body = new Uint8Array(8 + data.length + statusLen);
    body[0] = 0x01;
    body[1] = op;
    const size = data.length + statusLen;
    body[2] = size & 0xff;
    body[3] = size >> 8;
    putU32(body, 4, value);
    body.set(data, 8);
    const s = 8 + data.length;
    if (stub) {
      body[s] = error;
      body[s + 1] = 0;
    } else {
      body[s] = error ? 1 : 0;
      body[s + 1] = error;
    }
    this.#sendFrame(body);
  }

  /**
   * The ROM's answer to an opcode it does not implement (or refuses in secure
   * download mode): "invalid message" with a zero command byte, which esptool
   * and esptool-js turn into their "unsupported command" errors.
   */
  #unsupported(): HandleResult {
    this.#respond(0x00, 0, new Uint8Array(0), ROM_ERR.INVALID_MESSAGE);
    return NO_DELAY;
  }

  // -------------------------------------------------------------- commands

  #sync(data: Uint8Array): HandleResult {
    if (!sameBytes(data, SYNC_PAYLOAD)) return this.#failed(OP.SYNC, "len");
    const value = this.#mode === "stub" ? 0 : ROM_SYNC_VALUE;
    for (let i = 0; i < SYNC_RESPONSES; i++) this.#reply(OP.SYNC, value);
    return NO_DELAY;
  }

  #writeReg(data: Uint8Array): HandleResult {
    if (data.length === 0 || data.length % 16 !== 0) return this.#failed(OP.WRITE_REG, "len");
    for (let off = 0; off < data.length; off += 16) {
      const addr = u32(data, off);
      const value = u32(data, off + 4);
      const mask = u32(data, off + 8);
      const old = this.#readWord(addr);
      this.#writeWord(addr, ((old & ~mask) | (value & mask)) >>> 0);
    }
    this.#reply(OP.WRITE_REG, 0);
    return NO_DELAY;
  }

  #readWord(addr: number): number {
    const f = this.facts;
    if (addr === CHIP_DETECT_MAGIC_REG_ADDR) return f.magic;
    if (addr === f.uartClkdivReg) {
      return Math.round((f.xtalClkDivider * this.crystalMhz * 1e6) / this.#uartBaud) & 0xfffff;
    }
    const uartNoReg = f.key === "esp32p4" ? p4UartNoReg(this.revision) : f.uartNoReg;
    if (addr === uartNoReg) {
      return this.options.usb === "usb-jtag" ? (f.uartNoUsbJtag ?? 0) : 0;
    }
    const id = this.#identity.get(addr);
    if (id !== undefined) return id;
    return this.#regs.get(addr) ?? 0;
  }

  #writeWord(addr: number, value: number): void {
    const f = this.facts;
    if (addr === CHIP_DETECT_MAGIC_REG_ADDR || this.#identity.has(addr)) return; // ROM / eFuse
    this.#regs.set(addr, value);
    if (addr === f.spi.base && (value & SPI_CMD_USR) !== 0) this.#runSpiUserCommand();
  }

  /** Execute the SPI controller's "user" command as esptool's run_spiflash_command sets it up. */
  #runSpiUserCommand(): void {
    const s = this.facts.spi;
    const reg = (off: number) => this.#regs.get(s.base + off) ?? 0;
    const usr = reg(s.usr);
    const usr1 = reg(s.usr1);
    const usr2 = reg(s.usr2);
    const command = usr2 & 0xff;
    let misoBits = 0;
    let mosiBits = 0;
    if (s.misoDlen !== undefined && s.mosiDlen !== undefined) {
      if (usr & SPI_USR_MISO) misoBits = (reg(s.misoDlen) & 0x3ffff) + 1;
      if (usr & SPI_USR_MOSI) mosiBits = (reg(s.mosiDlen) & 0x3ffff) + 1;
    } else {
      if (usr & SPI_USR_MISO) misoBits = ((usr1 >>> 8) & 0x1ff) + 1;
      if (usr & SPI_USR_MOSI) mosiBits = ((usr1 >>> 17) & 0x1ff) + 1;
    }
    let addr = reg(4);
    if (usr & SPI_USR_ADDR) {
      const addrBits = ((usr1 >>> 26) & 0x3f) + 1;
      // ESP8266/ESP32 send from the MSB of the 32-bit register (esptool SPI_ADDR_REG_MSB).
      if (this.facts.key === "esp8266" || this.facts.key === "esp32") {
        addr = addrBits >= 32 ? addr : addr >>> (32 - addrBits);
      }
    }
    const mosi: number[] = [];
    for (let i = 0; i < Math.ceil(mosiBits / 8); i++) {
      mosi.push((reg(s.w0 + (i & ~3)) >>> ((i & 3) * 8)) & 0xff);
    }
    const miso = (usr & SPI_USR_COMMAND) ? this.#flashCommand(command, mosi, addr) : [];
    const nBytes = Math.ceil(misoBits / 8);
    for (let w = 0; w < Math.ceil(nBytes / 4); w++) {
      let word = 0;
      for (let k = 0; k < 4; k++) {
        const i = w * 4 + k;
        const b = i < nBytes ? (miso[i] ?? 0xff) : 0;
        word |= b << (8 * k);
      }
      this.#regs.set(s.base + s.w0 + 4 * w, word >>> 0);
    }
    this.#regs.set(s.base, reg(0) & ~SPI_CMD_USR); // command done
  }

  /** A SPI NOR flash's answer to a raw command (JEDEC RDID, status registers, SFDP, READ). */
  #flashCommand(cmd: number, mosi: number[], addr: number): number[] {
    const sizeLog2 = Math.log2(this.#nor.size);
    switch (cmd) {
      case 0x9f: // RDID: manufacturer, memory type, capacity (log2 of bytes)
        return [this.facts.flashVendor, 0x40, sizeLog2];
      case 0x05: // RDSR
        return [this.#sr[0], this.#sr[0], this.#sr[0], this.#sr[0]];
      case 0x35: // RDSR2
        return [this.#sr[1]];
      case 0x15: // RDSR3
        return [this.#sr[2]];
      case 0x06: // WREN
        this.#sr[0] |= 0x02;
        return [];
      case 0x04: // WRDI
        this.#sr[0] &= ~0x02;
        this.#sfdpWriteEnable = false;
        return [];
      case 0x50: // volatile SR write enable
        this.#sfdpWriteEnable = true;
        return [];
      case 0x01: // WRSR (1 or 2 bytes)
      case 0x31: // WRSR2
      case 0x11: { // WRSR3
        if ((this.#sr[0] & 0x02) === 0 && !this.#sfdpWriteEnable) return [];
        const idx = cmd === 0x01 ? 0 : cmd === 0x31 ? 1 : 2;
        if (mosi.length > 0) this.#sr[idx] = mosi[0] & (idx === 0 ? 0xfc : 0xff);
        if (cmd === 0x01 && mosi.length > 1) this.#sr[1] = mosi[1];
        this.#sr[0] &= ~0x02;
        this.#sfdpWriteEnable = false;
        return [];
      }
      case 0x5a: // RDSFDP
        return Array.from(this.#sfdp(addr & 0xffffff, 4));
      case 0x03: // READ
        return Array.from(this.#nor.read(addr & 0xffffff, 4));
      default:
        return [0xff, 0xff, 0xff, 0xff];
    }
  }

  /** A minimal SFDP table: signature, one parameter header, JEDEC basic table density. */
  #sfdp(addr: number, len: number): Uint8Array {
    const t = new Uint8Array(0x100).fill(0xff);
    t.set([0x53, 0x46, 0x44, 0x50, 0x06, 0x01, 0x00, 0xff], 0); // "SFDP", v1.6, 1 header
    t.set([0x00, 0x06, 0x01, 0x10, 0x30, 0x00, 0x00, 0xff], 8); // basic table at 0x30, 16 dwords
    t.set([0xe5, 0x20, 0xf1, 0xff], 0x30);
    putU32(t, 0x34, this.#nor.size * 8 - 1); // density in bits - 1
    const out = new Uint8Array(len).fill(0xff);
    for (let i = 0; i < len; i++) if (addr + i < t.length) out[i] = t[addr + i];
    return out;
  }

  #memBegin(data: Uint8Array): HandleResult {
    if (data.length !== 16) return this.#failed(OP.MEM_BEGIN, "len");
    const size = u32(data, 0);
    const blockSize = u32(data, 8);
    const addr = u32(data, 12);
    if (size > 0x100000 || blockSize === 0) return this.#failed(OP.MEM_BEGIN, "act");
    this.#memSegments.push({ addr, bytes: new Uint8Array(size), blockSize, nextSeq: 0 });
    this.#reply(OP.MEM_BEGIN, 0);
    return NO_DELAY;
  }

  #memData(data: Uint8Array, chk: number): HandleResult {
    const stub = this.#mode === "stub";
    if (data.length < 16) return this.#failed(OP.MEM_DATA, "len");
    const len = u32(data, 0);
    const seq = u32(data, 4);
    const payload = data.subarray(16);
    if (len !== payload.length) return this.#failed(OP.MEM_DATA, "len");
    if ((xorChecksum(payload) & 0xff) !== (chk & 0xff)) {
      this.#fail(OP.MEM_DATA, stub ? STUB_ERR.BAD_DATA_CHECKSUM : ROM_ERR.INVALID_CRC);
      return NO_DELAY;
    }
    const seg = this.#memSegments[this.#memSegments.length - 1];
    if (!seg || seq > seg.nextSeq || payload.length > seg.blockSize) {
      return this.#failed(OP.MEM_DATA, "act");
    }
    const off = seq * seg.blockSize;
    if (off + payload.length > seg.bytes.length) return this.#failed(OP.MEM_DATA, "act");
    seg.bytes.set(payload, off);
    if (seq === seg.nextSeq) seg.nextSeq++;
    this.#reply(OP.MEM_DATA, 0);
    return NO_DELAY;
  }

  #memEnd(data: Uint8Array): HandleResult {
    if (data.length !== 8) return this.#failed(OP.MEM_END, "len");
    const noExecute = u32(data, 0);
    const entry = u32(data, 4);
    this.#reply(OP.MEM_END, 0);
    if (noExecute !== 0) return NO_DELAY;
    const segments = this.#memSegments;
    this.#memSegments = [];
    this.#post = () => {
      if (this.#isKnownStub(segments, entry)) {
        this.#mode = "stub";
        this.#autobaud = false;
        this.#flashWrite = null;
        this.#sendFrame(STUB_GREETING);
      } else {
        this.#mode = "halted"; // unknown code runs; the loader is gone
      }
    };
    return NO_DELAY;
  }

  #isKnownStub(segments: MemSegment[], entry: number): boolean {
    for (const name of this.facts.stubNames) {
      const img = stubImage(name);
      if (!img || img.entry !== entry) continue;
      const all = img.segments.every((s) =>
        segments.some((u) => u.addr === s.addr && sameBytes(u.bytes, s.bytes))
      );
      if (all) return true;
    }
    if (this.options.acceptAnyStub) {
      return segments.some((s) => entry >= s.addr && entry < s.addr + s.bytes.length);
    }
    return false;
  }

  #changeBaud(data: Uint8Array): HandleResult {
    if (data.length !== 8) return this.#failed(OP.CHANGE_BAUDRATE, "len");
    const requested = u32(data, 0);
    if (requested < 300 || requested > 10_000_000) return this.#failed(OP.CHANGE_BAUDRATE, "act");
    const stub = this.#mode === "stub";
    this.#reply(OP.CHANGE_BAUDRATE, 0);
    this.#post = () => {
      this.#uartBaud = stub ? requested : this.facts.romBaudAfterChange(requested, this.crystalMhz);
      this.#autobaud = false;
      for (const l of this.#baudListeners) l(this.#uartBaud);
    };
    return NO_DELAY;
  }

  #flashLimit(): number {
    return Math.min(this.#nor.size, this.#paramsSize || this.#nor.size);
  }

  #needsAttach(): boolean {
    return this.#mode === "download" && this.facts.key !== "esp8266" && !this.#spiAttached;
  }

  #flashBegin(op: number, data: Uint8Array): HandleResult {
    const stub = this.#mode === "stub";
    const okLen = data.length === 16 ||
      (!stub && this.facts.romEncryptedFlashWord && data.length === 20);
    if (!okLen) return this.#failed(op, "len");
    const size = u32(data, 0);
    const blockSize = u32(data, 8);
    const offset = u32(data, 12);
    if (stub && blockSize > STUB_MAX_WRITE_BLOCK) {
      this.#fail(op, STUB_ERR.BAD_BLOCKSIZE);
      return NO_DELAY;
    }
    if (this.#needsAttach()) return this.#failed(op, "act");
    if (offset + size > this.#flashLimit() || (blockSize === 0 && size > 0)) {
      return this.#failed(op, "act");
    }
    if (this.facts.key === "esp8266") this.#spiAttached = true;
    const defl = op === OP.FLASH_DEFL_BEGIN;
    const state: FlashWriteState = {
      kind: defl ? "defl" : "plain",
      offset,
      blockSize,
      nextSeq: 0,
      writePos: offset,
      remaining: stub ? size : -1,
      nextEraseSector: Math.floor(offset / FLASH_SECTOR_SIZE),
      eraseSectorsLeft: stub
        ? Math.ceil(((offset % FLASH_SECTOR_SIZE) + size) / FLASH_SECTOR_SIZE)
        : 0,
      pendingOut: [],
      error: 0,
    };
    if (defl) {
      state.inflater = new Unzlib((chunk) => {
        state.pendingOut.push(chunk);
      });
    }
    let ms = 0;
    if (!stub && size > 0) {
      // The ROM erases the whole region up front.
      if (this.facts.key === "esp8266") {
        const [first, count] = esp8266RomEraseSectors(offset, size);
        ms = this.#nor.eraseSectors(first, count);
      } else {
        const first = Math.floor(offset / FLASH_SECTOR_SIZE);
        const last = Math.ceil((offset + size) / FLASH_SECTOR_SIZE);
        ms = this.#nor.eraseSectors(first, last - first);
      }
    }
    this.#flashWrite = state;
    this.stats.flashBusyMs += ms;
    this.#reply(op, 0);
    return { before: ms, after: 0 };
  }

  #flashData(op: number, data: Uint8Array, chk: number): HandleResult {
    const stub = this.#mode === "stub";
    const st = this.#flashWrite;
    const defl = op === OP.FLASH_DEFL_DATA;
    if (data.length < 16) return this.#failed(op, "len");
    const len = u32(data, 0);
    const seq = u32(data, 4);
    const payload = data.subarray(16);
    if (!st || (st.kind === "defl") !== defl) {
      this.#fail(op, stub ? STUB_ERR.NOT_IN_FLASH_MODE : ROM_ERR.FAILED_TO_ACT);
      return NO_DELAY;
    }
    if (len !== payload.length) return this.#failed(op, "len");
    if ((xorChecksum(payload) & 0xff) !== (chk & 0xff)) {
      this.#fail(op, stub ? STUB_ERR.BAD_DATA_CHECKSUM : ROM_ERR.INVALID_CRC);
      return NO_DELAY;
    }
    if (!stub && payload.length > st.blockSize) return this.#failed(op, "len");
    if (stub && payload.length > STUB_MAX_WRITE_BLOCK) {
      this.#fail(op, STUB_ERR.BAD_DATA_LEN);
      return NO_DELAY;
    }
    if (seq + 1 === st.nextSeq) {
      // A retry of the block just handled (its response was lost): acknowledge again.
      this.#reply(op, 0);
      return NO_DELAY;
    }
    if (seq !== st.nextSeq) return this.#failed(op, "act");
    if (this.#faults?.brownOut()) {
      // Brown-out half-way through programming this block.
      this.stats.faultsInjected++;
      if (!defl) {
        this.#nor.program(st.offset + seq * st.blockSize, payload.subarray(0, payload.length >> 1));
      }
      this.#boot("download", "power");
      return NO_DELAY;
    }
    st.nextSeq++;
    let chunks: Uint8Array[];
    if (defl) {
      try {
        st.inflater!.push(payload, false);
      } catch {
        st.error = stub ? STUB_ERR.INFLATE_ERROR : ROM_ERR.DEFLATE;
      }
      chunks = st.pendingOut;
      st.pendingOut = [];
    } else {
      chunks = [payload];
    }
    if (st.error) {
      this.#fail(op, st.error);
      return NO_DELAY;
    }
    let ms = 0;
    let verifyFailed = false;
    for (let chunk of chunks) {
      const addr = defl ? st.writePos : st.offset + seq * st.blockSize;
      if (stub) {
        if (chunk.length > st.remaining) chunk = chunk.subarray(0, st.remaining);
        if (chunk.length === 0) continue;
        ms += this.#stubEraseAhead(st, addr + chunk.length);
      }
      if (addr + chunk.length > this.#nor.size) {
        st.error = stub ? STUB_ERR.FAILED_SPI_OP : ROM_ERR.FLASH_WRITE;
        break;
      }
      ms += this.#nor.program(addr, chunk);
      if (!stub && !sameBytes(this.#nor.data.subarray(addr, addr + chunk.length), chunk)) {
        verifyFailed = true; // the ROM reads the block back after writing it
      }
      if (defl) st.writePos += chunk.length;
      if (stub) st.remaining -= chunk.length;
    }
    this.stats.flashBusyMs += ms;
    if (st.error) {
      this.#fail(op, st.error);
      return { before: ms, after: 0 };
    }
    if (verifyFailed) {
      this.#fail(op, ROM_ERR.FLASH_WRITE);
      return { before: ms, after: 0 };
    }
    this.#reply(op, 0);
    // The stub acknowledges first and programs while the next block arrives.
    return stub ? { before: 0, after: ms } : { before: ms, after: 0 };
  }

  /** Stub erase-as-you-go: erase sectors (64 KiB blocks when aligned) up to `end`. */
  #stubEraseAhead(st: FlashWriteState, end: number): number {
    let ms = 0;
    const lastSector = Math.floor(end / FLASH_SECTOR_SIZE);
    const perBlock = 16;
    while (st.eraseSectorsLeft > 0 && st.nextEraseSector <= lastSector) {
      if (st.eraseSectorsLeft >= perBlock && st.nextEraseSector % perBlock === 0) {
        ms += this.#nor.eraseBlock(st.nextEraseSector);
        st.nextEraseSector += perBlock;
        st.eraseSectorsLeft -= perBlock;
      } else {
        ms += this.#nor.eraseSector(st.nextEraseSector);
        st.nextEraseSector++;
        st.eraseSectorsLeft--;
      }
    }
    return ms;
  }

  #flashEnd(op: number, data: Uint8Array): HandleResult {
    const stub = this.#mode === "stub";
    if (data.length !== 4) return this.#failed(op, "len");
    const stay = u32(data, 0) !== 0; // esptool sends int(not reboot)
    const st = this.#flashWrite;
    if (stub) {
      if (!st) {
        this.#fail(op, STUB_ERR.NOT_IN_FLASH_MODE);
        return NO_DELAY;
      }
      if (st.kind === "defl") {
        try {
          st.inflater!.push(new Uint8Array(0), true);
        } catch {
          // Stream not finished: reported as "not enough data" below.
        }
      }
      if (st.remaining > 0) {
        this.#fail(op, STUB_ERR.NOT_ENOUGH_DATA);
        return NO_DELAY;
      }
      this.#flashWrite = null;
      this.#persist();
      this.#reply(op, 0);
      if (!stay) this.#post = () => this.#softwareReset();
      return NO_DELAY;
    }
    if (st && st.kind === "defl" && op === OP.FLASH_DEFL_END) {
      try {
        st.inflater!.push(new Uint8Array(0), true);
      } catch {
        this.#flashWrite = null;
        this.#fail(op, ROM_ERR.DEFLATE_ADLER);
        return NO_DELAY;
      }
    }
    this.#flashWrite = null;
    this.#persist();
    this.#reply(op, 0);
    // The ROM leaves the loader either way: reboot (0) or run the user code (1).
    this.#post = stay ? () => this.#boot("app", "software") : () => this.#softwareReset();
    return NO_DELAY;
  }

  #md5(data: Uint8Array): HandleResult {
    const stub = this.#mode === "stub";
    if (data.length !== 16) return this.#failed(OP.SPI_FLASH_MD5, "len");
    if (this.#needsAttach()) return this.#failed(OP.SPI_FLASH_MD5, "act");
    const addr = u32(data, 0);
    const size = u32(data, 4);
    if (addr + size > this.#nor.size) return this.#failed(OP.SPI_FLASH_MD5, "act");
    const digest = createHash("md5").update(this.#nor.data.subarray(addr, addr + size)).digest();
    const out = stub ? new Uint8Array(digest) : new TextEncoder().encode(digest.toString("hex")); // ROM: 32 lowercase hex chars
    this.#reply(OP.SPI_FLASH_MD5, 0, out);
    return NO_DELAY;
  }

  #readFlashSlow(data: Uint8Array): HandleResult {
    if (data.length !== 8) return this.#failed(OP.READ_FLASH_SLOW, "len");
    if (this.#needsAttach()) return this.#failed(OP.READ_FLASH_SLOW, "act");
    const addr = u32(data, 0);
    const len = u32(data, 4);
    if (len > ROM_READ_SLOW_MAX) {
      this.#fail(OP.READ_FLASH_SLOW, ROM_ERR.READ_LENGTH);
      return NO_DELAY;
    }
    if (addr + len > this.#nor.size) {
      this.#fail(OP.READ_FLASH_SLOW, ROM_ERR.FLASH_READ);
      return NO_DELAY;
    }
    // The ROM always answers with a 64-byte block; bytes past `len` are filler.
    const block = new Uint8Array(ROM_READ_SLOW_MAX).fill(0xff);
    block.set(this.#nor.data.subarray(addr, addr + len));
    this.#reply(OP.READ_FLASH_SLOW, 0, block);
    return NO_DELAY;
  }

  #securityInfo(data: Uint8Array): HandleResult {
    if (data.length !== 0) return this.#failed(OP.GET_SECURITY_INFO, "len");
    const full = this.facts.securityInfo === "full";
    const out = new Uint8Array(full ? 20 : 12);
    putU32(out, 0, this.options.secureDownload ? SECURITY_FLAG_SECURE_DOWNLOAD : 0);
    // out[4] flash_crypt_cnt = 0; out[5..11] key purposes = 0 (USER/EMPTY)
    if (full) {
      putU32(out, 12, this.facts.chipId ?? 0);
      putU32(out, 16, this.facts.securityApiVersion);
    }
    this.#reply(OP.GET_SECURITY_INFO, 0, out);
    return NO_DELAY;
  }

  #eraseFlash(data: Uint8Array): HandleResult {
    if (data.length !== 0) return this.#failed(OP.ERASE_FLASH, "len");
    const ms = this.#nor.eraseChip();
    this.stats.flashBusyMs += ms;
    this.#persist();
    this.#reply(OP.ERASE_FLASH, 0);
    return { before: ms, after: 0 };
  }

  #eraseRegion(data: Uint8Array): HandleResult {
    if (data.length !== 8) return this.#failed(OP.ERASE_REGION, "len");
    const offset = u32(data, 0);
    const size = u32(data, 4);
    if (offset % FLASH_SECTOR_SIZE !== 0 || size % FLASH_SECTOR_SIZE !== 0) {
      this.#fail(OP.ERASE_REGION, STUB_ERR.BAD_DATA_LEN);
      return NO_DELAY;
    }
    if (offset + size > this.#nor.size) {
      this.#fail(OP.ERASE_REGION, STUB_ERR.FAILED_SPI_OP);
      return NO_DELAY;
    }
    const ms = this.#nor.eraseSectors(offset / FLASH_SECTOR_SIZE, size / FLASH_SECTOR_SIZE);
    this.stats.flashBusyMs += ms;
    this.#persist();
    this.#reply(OP.ERASE_REGION, 0);
    return { before: ms, after: 0 };
  }

  #readFlashStart(data: Uint8Array): HandleResult {
    if (data.length !== 16) return this.#failed(OP.READ_FLASH, "len");
    const addr = u32(data, 0);
    const len = u32(data, 4);
    const blockSize = u32(data, 8);
    const maxInFlight = u32(data, 12);
    if (addr + len > this.#nor.size) {
      this.#fail(OP.READ_FLASH, STUB_ERR.FAILED_SPI_OP);
      return NO_DELAY;
    }
    this.#reply(OP.READ_FLASH, 0);
    // The stub silently returns when the block is larger than its sector buffer.
    if (blockSize === 0 || blockSize > FLASH_SECTOR_SIZE) return NO_DELAY;
    this.#readFlash = {
      addr,
      len,
      blockSize,
      maxInFlight: Math.max(1, maxInFlight),
      sent: 0,
      acked: 0,
      md5: createHash("md5"),
    };
    this.#readFlashSend();
    return NO_DELAY;
  }

  #readFlashSend(): void {
    const r = this.#readFlash!;
    while (r.sent < r.len && r.sent - r.acked < r.maxInFlight) {
      const n = Math.min(r.blockSize, r.len - r.sent);
      const chunk = this.#nor.read(r.addr + r.sent, n);
      r.md5.update(chunk);
      this.#sendFrame(chunk);
      r.sent += n;
    }
    if (r.len === 0) this.#readFlashFinish();
  }

  #readFlashAck(p: Uint8Array): HandleResult {
    const r = this.#readFlash!;
    if (p.length !== 4) {
      this.#readFlashFinish(); // the stub gives up and sends the digest of what it sent
      return NO_DELAY;
    }
    r.acked = u32(p, 0);
    if (r.acked >= r.len || r.acked > r.sent) this.#readFlashFinish();
    else this.#readFlashSend();
    return NO_DELAY;
  }

  #readFlashFinish(): void {
    const r = this.#readFlash!;
    this.#readFlash = null;
    this.#sendFrame(new Uint8Array(r.md5.digest()));
  }

  #persist(): void {
    if (this.options.flashFile) Deno.writeFileSync(this.options.flashFile, this.#nor.data);
  }
}
