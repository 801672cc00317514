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
 * This file puts the parts together: the UART (`uart.ts`), the reset logic
 * (`reset_circuit.ts`), the loader model (`loader.ts`, `flash_ops.ts`,
 * `registers.ts`), the flash (`nor_flash.ts`) and seeded faults
 * (`faults.ts`); it owns the boot sequence and the order in which commands
 * are handled and answered.
 *
 * @module
 */

import {
  type ChipFacts,
  chipFacts,
  formatMac,
  parseMac,
  parseRevision,
  type SimChipKey,
  type SimRevision,
} from "./chip_facts.ts";
import {
  type ComesBack,
  FAULT_KINDS,
  FaultInjector,
  type FaultKind,
  type FaultOptions,
} from "./faults.ts";
import { Loader } from "./loader.ts";
import type { LoaderEffect, LoaderHost } from "./loader_host.ts";
import { NorFlash } from "./nor_flash.ts";
import { type HandleResult, ROM_DEFAULT_BAUD } from "./protocol.ts";
import { Registers } from "./registers.ts";
import { AutoResetCircuit, type ResetLogic, UsbJtagResetLogic } from "./reset_circuit.ts";
import { type BootEnd, bootFromFlash } from "./boot.ts";
import { factoryFlash } from "./factory_firmware.ts";
import { FlashFile } from "./flash_file.ts";
import { IMAGE_MAGIC } from "./image_format.ts";
import { simUsage } from "./sim_error.ts";
import { SlipDecoder, slipEncode } from "./slip.ts";
import { Uart } from "./uart.ts";

export type { SimChipKey } from "./chip_facts.ts";
export type { ComesBack, FaultKind, FaultOptions } from "./faults.ts";

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
  /**
   * Keep the flash in this file: loaded if it exists (else created), every
   * program and erase written through at once. A path that cannot work is a
   * `SimError` (`E_SIM_FLASH_FILE`) before anything else happens.
   */
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
  /**
   * Lines the application in flash prints after ESP-IDF's
   * `main_task: Calling app_main()` — shown only when the flash holds a
   * bootable firmware (bootloader, partition table, app). Placeholders:
   * `{mac}`, `{chip}`, `{project}`, `{version}`, `{idf}`, `{rev}` (see
   * boot.ts). Default: {@link DEFAULT_APP_LINES} (the base MAC, then
   * "Hello from espline sim").
   */
  appOutput?: string[];
  /**
   * What a new board's flash holds when no `flash` contents and no existing
   * flash file say otherwise: the factory firmware (a bootloader, the
   * single-app partition table and a small app, as DevKits ship) or nothing
   * (erased). Default "factory".
   */
  firmware?: "factory" | "erased";
  /** Initial flash contents (padded with 0xFF); a flash file, when given and present, wins. */
  flash?: Uint8Array;
  /**
   * Answer an unsupported command as the genuine ROM does: as many times as
   * the previous answer went out (eight after SYNC). Default true, as the
   * genuine ROMs do; false answers once (for clients that cannot cope).
   */
  romRepeatsAnswers?: boolean;
}

/**
 * What the chip is doing. "halted" also covers "held in reset"; "console" is
 * the ESP32 ROM's built-in command interpreter (it echoes what it receives).
 */
export type VirtualChipMode = "download" | "stub" | "app" | "console" | "halted";

/** Counters a test or demo can read. */
export interface VirtualChipStats {
  /** SLIP frames received from the host (before fault injection). */
  framesIn: number;
  /** SLIP frames sent to the host (before fault injection). */
  framesOut: number;
  /** Faults injected so far (either direction, including brown-outs), in all. */
  faultsInjected: number;
  /** Faults injected so far, by kind (see `FaultOptions`). */
  faults: Record<FaultKind, number>;
  /** Modelled flash busy time so far in ms (counted even when flashTiming is off). */
  flashBusyMs: number;
  /** Number of boots (download or app) since construction. */
  boots: number;
}

/** Output of a ROM print loop is sent in batches this far apart, ms. */
const BOOT_LOOP_BATCH_MS = 50;
/** The line number the ESP32 ROM prints in "flash read err, 631" (recorded from the genuine ROM). */
const ESP32_FLASH_READ_ERR_LINE = 631;

/**
 * The ESP32-C3 ROM's panic output for a jump to `pc` where no code is (first
 * lines as the genuine ROM prints them; register values are this model's own).
 */
function guruInstructionFault(pc: number): string {
  const hex = (n: number) => `0x${(n >>> 0).toString(16).padStart(8, "0")}`;
  return "Guru Meditation Error: Core 0 panic'ed (Instruction access fault)\r\n" +
    "Core 0 register dump:\r\n" +
    `PC      : ${hex(pc)}  MCAUSE  : ${hex(1)}  MTVAL   : ${hex(pc)}\r\n\r\n`;
}

/** FNV-1a, for deriving default MAC bytes from chip and seed. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** What the application prints after app_main() when nothing else is declared. */
export const DEFAULT_APP_LINES: readonly string[] = [
  "I ({ms}) app_main: {chip} base MAC {mac}",
  "Hello from espline sim",
];

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
    faults: Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>,
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
  readonly #regs: Registers;
  readonly #faults?: FaultInjector;
  readonly #uart: Uart;
  readonly #resetLogic: ResetLogic;
  readonly #host: LoaderHost;
  #loader: Loader | null = null;
  #mode: VirtualChipMode = "halted";
  /** The loader reads a frame, then waits for the next opening C0 (recorded from the genuine ROMs). */
  #decoder = new SlipDecoder({ idleAfterFrame: true });
  #goneListeners = new Set<(comesBack: ComesBack) => void>();
  #baudListeners = new Set<(baud: number) => void>();
  #queue: Uint8Array[] = [];
  #busy = false;
  #epoch = 0;
  #timers = new Set<ReturnType<typeof setTimeout>>();
  #batch: Uint8Array[] | null = null;
  /** What follows the current answer (baud switch, reboot, stub greeting). */
  #post: LoaderEffect | null = null;
  #dtr = false;
  #rts = false;
  #gone = false;
  /** After a disconnect or swap fault: which board answers when the port is opened again. */
  #comesBack: ComesBack | null = null;
  /** How many boards were swapped in after this one's line (for their MACs). */
  #swaps = 0;
  #closed = false;
  #latchedBoot: "download" | "app" = "download";
  #consoleLine: number[] = [];
  #flashFile: FlashFile | null = null;

  /** Create a chip and power it on (download mode unless `startMode: "app"`). */
  constructor(options: VirtualChipOptions) {
    this.options = options;
    this.facts = chipFacts(options.chip);
    const f = this.facts;
    this.revision = options.revision !== undefined
      ? parseRevision(options.revision, f)
      : f.defaultRevision;
    this.crystalMhz = options.crystalMhz ?? f.defaultCrystalMhz;
    if (!(this.crystalMhz > 0)) throw simUsage(`crystalMhz must be positive`);
    let macBytes: Uint8Array;
    if (options.mac !== undefined) macBytes = parseMac(options.mac);
    else {
      const h = fnv1a(`${f.key}:${options.faults?.seed ?? 0}`);
      macBytes = Uint8Array.from([...f.defaultOui, (h >>> 16) & 0xff, (h >>> 8) & 0xff, h & 0xff]);
    }
    this.mac = formatMac(macBytes);
    const size = options.flashSize ?? 4 * 1024 * 1024;
    if (!Number.isInteger(Math.log2(size)) || size < 0x40000 || size > 0x8000000) {
      throw simUsage(
        `flash size ${size} is not a power of two between 256 KiB and 128 MiB: use e.g. 4MB`,
      );
    }
    if (options.usb === "usb-jtag" && f.uartNoUsbJtag === undefined) {
      throw simUsage(`${f.name} has no USB-Serial/JTAG controller: use usb "uart" for this chip`);
    }
    let initial: Uint8Array | undefined = options.flash;
    let flashFile: FlashFile | null = null;
    if (options.flashFile !== undefined) {
      const opened = FlashFile.open(options.flashFile, size);
      flashFile = opened.file;
      if (opened.contents.length > 0) initial = opened.contents;
    }
    if (!initial && options.firmware !== "erased") initial = factoryFlash(f, size);
    this.#nor = new NorFlash(size, initial);
    if (flashFile) {
      // The file holds the whole image from now on, and every change as it happens.
      const file = flashFile;
      file.write(0, this.#nor.data);
      this.#nor.onChange = (start, end) => file.write(start, this.#nor.data.subarray(start, end));
      this.#flashFile = file;
    }
    this.#uart = new Uart({
      schedule: (ms, fn) => this.#timer(ms, fn),
      silent: () => this.#gone || this.#closed,
    });
    this.#regs = new Registers({
      facts: f,
      nor: this.#nor,
      revision: this.revision,
      crystalMhz: this.crystalMhz,
      usb: options.usb ?? "uart",
      uartBaud: () => this.#uart.baud,
    }, f.identityRegs({ mac: macBytes, rev: this.revision, crystalMhz: this.crystalMhz }));
    if (options.faults) this.#faults = new FaultInjector(options.faults);
    this.#host = {
      facts: f,
      nor: this.#nor,
      revision: this.revision,
      crystalMhz: this.crystalMhz,
      secureDownload: options.secureDownload === true,
      send: (p) => this.#sendFrame(p),
      print: (text) => this.#emitOrBatch(new TextEncoder().encode(text)),
      then: (effect) => this.#post = effect,
      addFlashBusy: (ms) => this.stats.flashBusyMs += ms,
      brownOut: () => {
        if (!this.#faults?.brownOut()) return false;
        this.#countFaults(1);
        return true;
      },
      eraseCut: (sectors) => {
        const cut = this.#faults?.eraseCut(sectors) ?? null;
        if (cut !== null) this.#countFaults(1);
        return cut;
      },
      powerOnReset: () => this.#boot("download", "power"),
    };
    const target = {
      hold: () => this.#holdInReset(),
      release: (mode: "download" | "app") => {
        if (!this.#closed) this.#boot(mode, "power");
      },
    };
    this.#resetLogic = options.usb === "usb-jtag"
      ? new UsbJtagResetLogic(target)
      : new AutoResetCircuit(target);
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
    return this.#uart.baud;
  }

  /** True once a disconnect or swap fault has made the port vanish (until {@link VirtualChip.plugIn}). */
  get gone(): boolean {
    return this.#gone;
  }

  /**
   * After a disconnect or swap fault: `same` when this board comes back on
   * the port (a replug), `other` when another board takes its place; null
   * while plugged in.
   */
  get comesBack(): ComesBack | null {
    return this.#comesBack;
  }

  /**
   * Power the board up again after it was unplugged (a disconnect fault): the
   * flash is as the fault left it, the modem lines are released, and it
   * boots as a new board would (download mode unless `startMode: "app"`).
   * Does nothing while plugged in.
   */
  plugIn(): void {
    if (this.#closed || !this.#gone) return;
    this.#gone = false;
    this.#comesBack = null;
    this.#dtr = false;
    this.#rts = false;
    this.#resetLogic.cancel();
    this.#decoder.reset();
    this.#boot(this.options.startMode ?? "download", "power");
  }

  /**
   * The board a swap fault puts on the port in this one's place: same type
   * and settings, another MAC, its own (factory or erased) flash and no
   * flash file, its own fault sequence.
   */
  otherBoard(): VirtualChip {
    this.#swaps++;
    const mac = parseMac(this.mac);
    const h = fnv1a(`${this.mac}:swap:${this.#swaps}`);
    // Keep the OUI; make sure the device part differs from this board's.
    let tail = [(h >>> 16) & 0xff, (h >>> 8) & 0xff, h & 0xff];
    if (tail.every((b, i) => b === mac[3 + i])) tail = tail.map((b) => b ^ 0x01);
    const { flashFile: _file, flash: _flash, faults, ...rest } = this.options;
    return new VirtualChip({
      ...rest,
      mac: formatMac(Uint8Array.from([mac[0], mac[1], mac[2], ...tail])),
      ...(faults ? { faults: { ...faults, seed: (faults.seed + h) >>> 0 } } : {}),
    });
  }

  /** Subscribe to bytes the chip transmits; returns an unsubscribe function. */
  onTransmit(listener: (bytes: Uint8Array) => void): () => void {
    return this.#uart.listen(listener);
  }

  /**
   * Subscribe to the port vanishing (disconnect or swap fault; the listener
   * learns which board comes back); returns an unsubscribe function.
   */
  onGone(listener: (comesBack: ComesBack) => void): () => void {
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
    this.#uart.hostBaud = baud;
  }

  /** Host -> device bytes, as they arrive on the chip's RX pin. */
  receive(bytes: Uint8Array): void {
    if (this.#closed || this.#gone) return;
    if (this.#mode === "console") {
      this.#consoleInput(this.#uart.rx(bytes, false));
      return;
    }
    if (this.#mode === "halted" || this.#mode === "app") return;
    const line = this.#faults ? this.#faults.wire(bytes) : { bytes, injected: 0 };
    this.#countFaults(line.injected);
    const rx = this.#uart.rx(line.bytes, this.#mode === "download");
    for (const frame of this.#decoder.push(rx)) {
      this.stats.framesIn++;
      let payload = this.#faultGate(frame.payload);
      if (this.#gone) return;
      if (payload && this.#faults) {
        const obeyed = this.#faults.command(payload);
        this.#countFaults(obeyed.injected);
        payload = obeyed.payload;
      }
      if (payload) this.#queue.push(payload);
    }
    this.#pump();
  }

  /** Drive the modem lines through the board's auto-reset circuit (or USB-Serial/JTAG logic). */
  setSignals(signals: { dtr?: boolean; rts?: boolean }): void {
    if (this.#closed) return;
    if (signals.dtr !== undefined) this.#dtr = signals.dtr;
    if (signals.rts !== undefined) this.#rts = signals.rts;
    this.#resetLogic.setLines(this.#dtr, this.#rts);
  }

  /** Power-cycle straight into `mode` (prints the banner or the app output). */
  reset(mode: "download" | "app"): void {
    if (this.#closed) return;
    this.#resetLogic.cancel();
    this.#boot(mode, "power");
  }

  /** Close the flash file and stop all timers. Idempotent. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#epoch++;
    this.#resetLogic.cancel();
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    this.#flashFile?.close();
    return Promise.resolve();
  }

  // ------------------------------------------------------------------ boot

  #stopActivity(): void {
    this.#epoch++;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    this.#busy = false;
    this.#queue = [];
    this.#batch = null;
    this.#uart.clearHold();
    this.#post = null;
  }

  #boot(
    mode: "download" | "app",
    cause: "power" | "software" | "watchdog",
    keepLatch = false,
  ): void {
    this.#stopActivity();
    this.#decoder.reset();
    this.#regs.reset();
    this.#loader = null;
    this.stats.boots++;
    if (cause === "power" && !keepLatch) this.#latchedBoot = mode;
    const f = this.facts;
    const rst = cause === "power"
      ? f.rstPowerOn
      : cause === "watchdog"
      ? f.rstWatchdog
      : f.rstSoftware;
    const rom = f.romBuild?.(this.revision) ?? "";
    const romBaud = f.romBootBaud?.(this.crystalMhz) ?? ROM_DEFAULT_BAUD;
    if (mode === "download") {
      this.#mode = "download";
      this.#loader = new Loader(this.#host, {
        registers: this.#regs,
        repeatErrors: this.options.romRepeatsAnswers !== false,
      });
      this.#uart.baud = romBaud;
      this.#uart.autobaud = true;
      this.#emitText(f.downloadBanner.replace("%RST%", rst).replace("%ROM%", rom), romBaud);
    } else {
      this.#mode = "app";
      this.#uart.autobaud = false;
      this.#emitText(f.appBanner.replace("%RST%", rst).replace("%ROM%", rom), romBaud);
      this.#uart.baud = ROM_DEFAULT_BAUD;
      this.#bootFlash();
    }
  }

  /** After the ROM banner: boot what is in flash (boot.ts) and carry on as it ends. */
  #bootFlash(): void {
    const script = bootFromFlash({
      facts: this.facts,
      flash: this.#nor.data,
      revision: this.revision,
      mac: this.mac,
      appLines: this.options.appOutput ?? DEFAULT_APP_LINES,
    });
    this.#emitText(script.text, ROM_DEFAULT_BAUD);
    this.#followBoot(script.end);
  }

  #followBoot(end: BootEnd): void {
    switch (end.kind) {
      case "app":
        this.#mode = "app";
        return;
      case "halt":
        this.#mode = "halted";
        return;
      case "console":
        this.#mode = "console";
        this.#consoleLine = [];
        return;
      case "repeat": {
        // The ROM prints the line as fast as the UART takes it; sent in batches.
        this.#mode = "app";
        const perBatch = Math.max(
          1,
          Math.floor((BOOT_LOOP_BATCH_MS * ROM_DEFAULT_BAUD) / (end.line.length * 10 * 1000)),
        );
        const again = () => {
          this.#emitText(end.line.repeat(perBatch), ROM_DEFAULT_BAUD);
          this.#timer(BOOT_LOOP_BATCH_MS, again);
        };
        again();
        return;
      }
      case "reboot":
        this.#mode = "app";
        this.#timer(end.afterMs, () => this.#boot("app", end.cause, true));
        return;
    }
  }

  #holdInReset(): void {
    this.#stopActivity();
    this.#mode = "halted";
  }

  #goGone(comesBack: ComesBack): void {
    this.#gone = true;
    this.#comesBack = comesBack;
    this.#holdInReset();
    for (const l of [...this.#goneListeners]) l(comesBack);
  }

  /** Count injected faults in the totals and, by kind, from the injector. */
  #countFaults(n: number): void {
    if (n <= 0 || !this.#faults) return;
    this.stats.faultsInjected += n;
    Object.assign(this.stats.faults, this.#faults.counts);
  }

  /** Apply an effect that follows an answer. */
  #apply(effect: LoaderEffect): void {
    switch (effect.kind) {
      case "stub":
        this.#mode = "stub";
        this.#uart.autobaud = false;
        this.#loader?.startStub();
        return;
      case "halt":
        this.#mode = "halted"; // unknown code runs, or the ROM stopped; the loader is gone
        return;
      case "baud":
        this.#uart.baud = effect.baud;
        this.#uart.autobaud = false;
        for (const l of this.#baudListeners) l(effect.baud);
        return;
      case "run-user-code":
        this.#runUserCode(effect.entry);
        return;
      case "run-ram":
        // A RAM application runs: nothing the sim can show but that the loader is gone.
        this.#mode = "app";
        return;
      case "software-reset":
        // Strapping pins are latched at power-on / EN reset only (GPIO_STRAP_REG):
        // a software reset comes back up in the same boot mode.
        this.#boot(this.#latchedBoot, "software");
        return;
    }
  }

  /** FLASH_END asking the ROM to run: each ROM has its own idea of what that means (RomHabits). */
  #runUserCode(entry: number): void {
    const f = this.facts;
    this.#loader = null;
    if (f.rom.runUserCode === "boot-flash") {
      // The ESP32 ROM boots from flash without a reset (no banner).
      if (this.#nor.data[f.bootloaderOffset] === IMAGE_MAGIC) {
        this.#mode = "app";
        this.#uart.autobaud = false;
        this.#bootFlash();
        return;
      }
      // Recorded from the genuine ROM: it cannot read a boot image and falls back to its interpreter.
      this.#emitText(
        `flash read err, ${ESP32_FLASH_READ_ERR_LINE}\r\n` +
          "Falling back to built-in command interpreter.\r\nOK\r\n>",
        this.#uart.baud,
      );
      this.#mode = "console";
      this.#consoleLine = [];
      return;
    }
    this.#emitText("user code done\r\n", this.#uart.baud);
    // Nothing was uploaded to run: the jump to `entry` faults.
    this.#emitText(guruInstructionFault(entry), this.#uart.baud);
    this.#mode = "halted";
  }

  /** The ESP32 ROM interpreter's line editor: echo, NUL ignored, backspace erases. */
  #consoleInput(bytes: Uint8Array): void {
    const out: number[] = [];
    for (const b of bytes) {
      if (b === 0) continue;
      if (b === 0x08) {
        if (this.#consoleLine.length) {
          this.#consoleLine.pop();
          out.push(0x08, 0x20, 0x08);
        }
        continue;
      }
      this.#consoleLine.push(b);
      out.push(b);
    }
    if (out.length) this.#uart.tx(Uint8Array.from(out), this.#uart.baud);
  }

  // ------------------------------------------------------------- transmit

  /**
   * One frame, either direction, through the seeded fault injector: returns
   * the payload to carry on with, or null when it was dropped or the port
   * vanished. Stalls hold the chip's TX.
   */
  #faultGate(payload: Uint8Array): Uint8Array | null {
    if (!this.#faults) return payload;
    const outcome = this.#faults.pass(payload);
    this.#countFaults(outcome.injected);
    if (outcome.kind === "gone") {
      this.#goGone(outcome.comesBack);
      return null;
    }
    if (outcome.kind === "dropped") return null;
    if (outcome.stallMs > 0) this.#uart.hold(outcome.stallMs);
    return outcome.payload;
  }

  /** Raw bytes out, in order with the frames of the command being handled. */
  #emitOrBatch(bytes: Uint8Array): void {
    if (this.#batch) this.#batch.push(bytes);
    else this.#uart.tx(bytes, this.#uart.baud);
  }

  #emitText(text: string, baud: number): void {
    this.#uart.tx(new TextEncoder().encode(text), baud);
  }

  /** Queue a SLIP frame for transmission (after the current handler's delay). */
  #sendFrame(payload: Uint8Array): void {
    this.stats.framesOut++;
    let p = this.#faultGate(payload);
    if (!p) return;
    let bytes: Uint8Array;
    if (this.#faults) {
      const answer = this.#faults.answer(p);
      p = answer.payload;
      const line = this.#faults.wire(slipEncode(p));
      this.#countFaults(answer.injected + line.injected);
      bytes = line.bytes;
    } else bytes = slipEncode(p);
    if (this.#batch) this.#batch.push(bytes);
    else this.#uart.tx(bytes, this.#uart.baud);
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
        for (const b of batch) this.#uart.tx(b, this.#uart.baud);
        this.#afterSend();
        continue;
      }
      this.#busy = true;
      const baud = this.#uart.baud;
      const finish = () => {
        for (const b of batch) this.#uart.tx(b, baud);
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

  #afterSend(): void {
    const p = this.#post;
    this.#post = null;
    if (p) this.#apply(p);
  }

  #handleFrame(p: Uint8Array): HandleResult {
    if (!this.#loader || (this.#mode !== "download" && this.#mode !== "stub")) {
      return { before: 0, after: 0 };
    }
    return this.#loader.handle(p);
  }
}
