/**
 * An in-memory port to a {@link VirtualChip}: structurally a Transport
 * (lib/transport/transport.ts) without importing it. Pacing and latency apply
 * here; faults are injected by the chip itself.
 *
 * @module
 */

import { checkAppLine } from "./app_nvs.ts";
import { SimError, simUsage } from "./sim_error.ts";
import { type FaultOptions, VirtualChip, type VirtualChipOptions } from "./virtual_chip.ts";
import { SIM_CHIP_KEYS, type SimChipKey } from "./chip_facts.ts";
import { PacedLink } from "./wire.ts";
import { announceBoard, parkBoard, takeBoard } from "./replug.ts";
import type { ComesBack } from "./faults.ts";

/** USB ids the sim reports: Espressif USB-Serial/JTAG (303a:1001) or a CP210x bridge (10c4:ea60). */
export const SIM_USB_IDS = {
  "usb-jtag": {
    vid: 0x303a,
    pid: 0x1001,
    manufacturer: "Espressif",
    product: "USB JTAG/serial debug unit",
  },
  uart: {
    vid: 0x10c4,
    pid: 0xea60,
    manufacturer: "Silicon Labs",
    product: "CP2102N USB to UART Bridge Controller",
  },
} as const;

/** Identity facts of a sim port (same shape as the Transport contract's PortInfo). */
export interface SimPortInfo {
  /** URL or path the port was opened with. */
  path: string;
  /** USB vendor id. */
  vid?: number;
  /** USB product id. */
  pid?: number;
  /** USB serial number. */
  serialNumber?: string;
  /** USB manufacturer string. */
  manufacturer?: string;
  /** USB product string. */
  product?: string;
}

/** Options of a {@link SimPort}. */
export interface SimPortOptions {
  /** Path or URL the port reports; default `sim://CHIP`. */
  path?: string;
  /** close() also closes the chip; default true. */
  ownsChip?: boolean;
  /**
   * Turn the port's own errors into the caller's (the client maps them onto
   * its transport errors, lib/sim imports nothing from it); default: throw the
   * {@link SimError} itself.
   */
  mapError?: (e: SimError) => Error;
}

/**
 * An in-memory serial port wired to a virtual chip.
 *
 * @example
 * ```ts
 * import { openSimPort } from "./sim_port.ts";
 * const port = openSimPort({ chip: "esp32" });
 * const banner = await port.read(100); // "ets Jun  8 2016 …waiting for download"
 * await port.close();
 * ```
 */
export class SimPort {
  /** The chip behind this port. */
  readonly chip: VirtualChip;
  /** Path or URL the port was opened with. */
  readonly path: string;
  /** USB identity. */
  readonly info: SimPortInfo;
  #baud = 115200;
  #rx: Uint8Array[] = [];
  #waiters: {
    resolve: (b: Uint8Array | null) => void;
    reject: (e: unknown) => void;
    timer: ReturnType<typeof setTimeout>;
  }[] = [];
  #toDevice: PacedLink;
  #toHost: PacedLink;
  #unsubscribe: () => void;
  #unsubscribeGone: () => void;
  #closed = false;
  #gone = false;
  #ownsChip: boolean;
  #mapError: (e: SimError) => Error;

  /** Wrap an existing chip. */
  constructor(chip: VirtualChip, options: SimPortOptions = {}) {
    this.chip = chip;
    const path = options.path ?? `sim://${chip.options.chip}`;
    this.path = path;
    this.#ownsChip = options.ownsChip ?? true;
    this.#mapError = options.mapError ?? ((e) => e);
    const usb = chip.options.usb ?? "uart";
    const ids = SIM_USB_IDS[usb];
    this.info = {
      path,
      vid: ids.vid,
      pid: ids.pid,
      manufacturer: ids.manufacturer,
      product: ids.product,
      serialNumber: chip.mac.replaceAll(":", "").toUpperCase(),
    };
    const opts = {
      pace: chip.options.pace,
      latencyMs: chip.options.latencyMs,
      baud: () => this.#baud,
    };
    this.#toDevice = new PacedLink(opts, (b) => this.chip.receive(b));
    this.#toHost = new PacedLink(opts, (b) => this.#deliver(b));
    chip.setHostBaud(this.#baud);
    this.#unsubscribe = chip.onTransmit((b) => void this.#toHost.send(b));
    this.#unsubscribeGone = chip.onGone((comesBack) => this.#vanish(comesBack));
  }

  /** Current baud rate. */
  get baud(): number {
    return this.#baud;
  }

  /** Computed pacing delays so far, ms, per direction (for tests and benches). */
  get pacing(): { toDeviceMs: number; toHostMs: number } {
    return { toDeviceMs: this.#toDevice.totalDelayMs, toHostMs: this.#toHost.totalDelayMs };
  }

  /** Read the next chunk, or null after `timeoutMs` of silence. */
  read(timeoutMs: number): Promise<Uint8Array | null> {
    const err = this.#error();
    if (err) return Promise.reject(this.#mapError(err));
    if (this.#rx.length > 0) return Promise.resolve(this.#take());
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          const i = this.#waiters.indexOf(waiter);
          if (i >= 0) this.#waiters.splice(i, 1);
          resolve(null);
        }, Math.max(0, timeoutMs)),
      };
      this.#waiters.push(waiter);
    });
  }

  /** Write all of `data` (resolves once it has crossed the paced line). */
  write(data: Uint8Array): Promise<void> {
    const err = this.#error();
    if (err) return Promise.reject(this.#mapError(err));
    return this.#toDevice.send(data.slice());
  }

  /** Change the host side's line speed. */
  setBaud(baud: number): Promise<void> {
    const err = this.#error();
    if (err) return Promise.reject(this.#mapError(err));
    if (!(baud > 0)) {
      return Promise.reject(this.#mapError(simUsage(`baud ${baud} is not a positive number`)));
    }
    this.#baud = baud;
    this.chip.setHostBaud(baud);
    return Promise.resolve();
  }

  /** Drive DTR/RTS (the board's auto-reset circuit or USB-Serial/JTAG logic). */
  setSignals(signals: { dtr?: boolean; rts?: boolean }): Promise<void> {
    const err = this.#error();
    if (err) return Promise.reject(this.#mapError(err));
    this.chip.setSignals(signals);
    return Promise.resolve();
  }

  /** Discard received bytes not yet read. */
  flushInput(): Promise<void> {
    this.#rx = [];
    return Promise.resolve();
  }

  /** Release the port (and the chip, when this port owns it). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe();
    this.#unsubscribeGone();
    this.#toDevice.close();
    this.#toHost.close();
    this.#failWaiters(
      new SimError("E_PORT_CLOSED", `port ${this.path} was closed: open it again`),
    );
    if (this.#ownsChip) await this.chip.close();
  }

  #error(): SimError | null {
    if (this.#closed) {
      return new SimError("E_PORT_CLOSED", `port ${this.path} is closed: open it again`);
    }
    if (this.#gone) {
      return new SimError(
        "E_PORT_GONE",
        `port ${this.path} vanished (simulated unplug): reconnect the device and open the port again`,
      );
    }
    return null;
  }

  /**
   * A disconnect or swap fault: this port is dead; the board that answers
   * the next open of the same path waits in replug.ts (this one, flash as
   * it is, or another).
   */
  #vanish(comesBack: ComesBack): void {
    this.#gone = true;
    this.#unsubscribe();
    this.#unsubscribeGone();
    this.#toDevice.close();
    this.#toHost.close();
    if (comesBack === "same") {
      this.#ownsChip = false; // it lives on, unplugged, until the port is opened again
      parkBoard(this.path, this.chip);
    } else parkBoard(this.path, this.chip.otherBoard());
    this.#failWaiters(this.#error()!);
  }

  #failWaiters(err: SimError): void {
    const ws = this.#waiters;
    this.#waiters = [];
    for (const w of ws) {
      clearTimeout(w.timer);
      w.reject(this.#mapError(err));
    }
  }

  #deliver(bytes: Uint8Array): void {
    if (this.#closed || this.#gone) return;
    this.#rx.push(bytes);
    const w = this.#waiters.shift();
    if (w) {
      clearTimeout(w.timer);
      w.resolve(this.#take());
    }
  }

  #take(): Uint8Array {
    const total = this.#rx.reduce((n, b) => n + b.length, 0);
    const out = new Uint8Array(total);
    let o = 0;
    for (const b of this.#rx) {
      out.set(b, o);
      o += b.length;
    }
    this.#rx = [];
    return out;
  }
}

/**
 * Create a virtual chip and an in-memory port to it.
 *
 * @example
 * ```ts
 * import { openSimPort } from "./sim_port.ts";
 * const port = openSimPort({ chip: "esp32c3", mac: "02:aa:bb:cc:dd:01" }, { path: "sim://esp32c3" });
 * await port.close();
 * ```
 */
export function openSimPort(options: VirtualChipOptions, port: SimPortOptions = {}): SimPort {
  const path = port.path ?? `sim://${options.chip}`;
  // A board unplugged by a fault on this port comes back (replug.ts); otherwise a new one.
  const back = takeBoard(path);
  const sim = new SimPort(back ?? new VirtualChip(options), { ...port, path });
  back?.plugIn();
  announceBoard(path, sim.chip);
  return sim;
}

/** URL parameters {@link simOptionsFromUrl} understands. */
export const SIM_URL_PARAMS: readonly string[] = [
  "mac",
  "flash",
  "size",
  "rev",
  "crystal",
  "secure",
  "pace",
  "latency",
  "timing",
  "usb",
  "start",
  "romrepeat",
  "app",
  "firmware",
  "seed",
  "corrupt",
  "drop",
  "stall",
  "stallms",
  "reset",
  "disconnect",
  "swap",
  "framing",
  "readreg",
  "erasecut",
  "cmdfield",
  "vanish",
];

function parseBool(name: string, v: string): boolean {
  if (v === "1" || v === "true" || v === "yes" || v === "") return true;
  if (v === "0" || v === "false" || v === "no") return false;
  throw simUsage(`sim:// parameter ${name}=${v} must be 1 or 0`);
}

function parseNum(name: string, v: string, min: number, max: number): number {
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n) || n < min || n > max) {
    throw simUsage(
      `sim:// parameter ${name}=${v} must be a number between ${min} and ${max}`,
    );
  }
  return n;
}

/** Parse a size such as "4MB", "512KB", "16M", "0x400000" or "4194304". */
export function parseSimSize(v: string): number {
  const m = /^(0x[0-9a-f]+|\d+)\s*(k|kb|kib|m|mb|mib)?$/i.exec(v.trim());
  if (!m) throw simUsage(`sim:// size "${v}" is not like 4MB, 512KB or 0x400000`);
  const n = Number(m[1]);
  const unit = (m[2] ?? "").toLowerCase();
  return unit.startsWith("k") ? n * 1024 : unit.startsWith("m") ? n * 1024 * 1024 : n;
}

/**
 * Turn a `sim://<chip>?…` URL into chip options.
 *
 * Parameters: mac, flash (file), size (4MB, 512KB, 0x…), rev (v0.2), crystal
 * (MHz), secure (1/0), pace (1/0), latency (ms), timing (1/0), usb (uart |
 * usb-jtag), start (download | app), romrepeat (1/0: repeat unsupported-command
 * answers as the genuine ROM does), app (repeatable: a line the flashed
 * application prints after app_main; `{nvs:NAMESPACE/KEY}` in it prints a
 * value from the board's NVS partition, see boot.ts), firmware (factory | erased: what a new
 * board's flash holds), seed, corrupt, drop,
 * stall, stallms, reset, disconnect, swap, framing, readreg, erasecut,
 * cmdfield (probabilities 0..1, see `FaultOptions`; after a disconnect the
 * same board answers the next open of the same URL, after a swap another
 * one), vanish (frame | block: where a disconnect or swap may happen).
 * Unknown chips or
 * parameters throw a {@link SimError} (`E_USAGE`) listing the valid ones.
 *
 * @example
 * ```ts
 * import { simOptionsFromUrl } from "./sim_port.ts";
 * const opts = simOptionsFromUrl("sim://esp32s3?mac=02:aa:bb:cc:dd:01&size=8MB&pace=1");
 * ```
 */
export function simOptionsFromUrl(url: string): VirtualChipOptions {
  const m = /^sim:\/\/([^/?#]*)\/?(?:\?([^#]*))?$/.exec(url.trim());
  if (!m) {
    throw simUsage(
      `"${url}" is not a sim URL: use sim://<chip>?param=value, e.g. sim://esp32s3`,
    );
  }
  const chip = m[1].toLowerCase();
  if (!(SIM_CHIP_KEYS as readonly string[]).includes(chip)) {
    throw simUsage(`unknown sim chip "${m[1]}": use one of ${SIM_CHIP_KEYS.join(", ")}`);
  }
  const opts: VirtualChipOptions = { chip: chip as SimChipKey };
  const faults: Partial<FaultOptions> = {};
  let anyFault = false;
  const params = new URLSearchParams(m[2] ?? "");
  for (const [key, value] of params) {
    switch (key) {
      case "mac":
        opts.mac = value;
        break;
      case "flash":
        if (value.trim() === "") {
          throw simUsage(
            "sim:// parameter flash= needs a file path, e.g. flash=/tmp/esp32-flash.bin",
          );
        }
        opts.flashFile = value;
        break;
      case "size":
        opts.flashSize = parseSimSize(value);
        break;
      case "rev":
        opts.revision = value;
        break;
      case "crystal":
        opts.crystalMhz = parseNum(key, value, 1, 100);
        break;
      case "secure":
        opts.secureDownload = parseBool(key, value);
        break;
      case "pace":
        opts.pace = parseBool(key, value);
        break;
      case "latency":
        opts.latencyMs = parseNum(key, value, 0, 60_000);
        break;
      case "timing":
        opts.flashTiming = parseBool(key, value);
        break;
      case "usb":
        if (value !== "uart" && value !== "usb-jtag") {
          throw simUsage(`sim:// parameter usb=${value} must be uart or usb-jtag`);
        }
        opts.usb = value;
        break;
      case "start":
        if (value !== "download" && value !== "app") {
          throw simUsage(`sim:// parameter start=${value} must be download or app`);
        }
        opts.startMode = value;
        break;
      case "romrepeat":
        opts.romRepeatsAnswers = parseBool(key, value);
        break;
      case "app":
        // Repeatable: one line of what the flashed application prints after app_main().
        checkAppLine(value);
        opts.appOutput = [...(opts.appOutput ?? []), value];
        break;
      case "firmware":
        if (value !== "factory" && value !== "erased") {
          throw simUsage(`sim:// parameter firmware=${value} must be factory or erased`);
        }
        opts.firmware = value;
        break;
      case "seed":
        faults.seed = parseNum(key, value, 0, 2 ** 32 - 1);
        anyFault = true;
        break;
      case "corrupt":
        faults.corruptRate = parseNum(key, value, 0, 1);
        anyFault = true;
        break;
      case "drop":
        faults.dropRate = parseNum(key, value, 0, 1);
        anyFault = true;
        break;
      case "stall":
        faults.stallRate = parseNum(key, value, 0, 1);
        anyFault = true;
        break;
      case "stallms":
        faults.stallMs = parseNum(key, value, 0, 600_000);
        anyFault = true;
        break;
      case "reset":
        faults.resetRate = parseNum(key, value, 0, 1);
        anyFault = true;
        break;
      case "disconnect":
        faults.disconnectRate = parseNum(key, value, 0, 1);
        anyFault = true;
        break;
      case "swap":
        faults.swapRate = parseNum(key, value, 0, 1);
        anyFault = true;
        break;
      case "framing":
        faults.framingRate = parseNum(key, value, 0, 1);
        anyFault = true;
        break;
      case "readreg":
        faults.readRegRate = parseNum(key, value, 0, 1);
        anyFault = true;
        break;
      case "erasecut":
        faults.eraseCutRate = parseNum(key, value, 0, 1);
        anyFault = true;
        break;
      case "cmdfield":
        faults.commandFieldRate = parseNum(key, value, 0, 1);
        anyFault = true;
        break;
      case "vanish":
        if (value !== "frame" && value !== "block") {
          throw simUsage(`sim:// parameter vanish=${value} must be frame or block`);
        }
        faults.vanishOn = value;
        anyFault = true;
        break;
      default:
        throw simUsage(
          `unknown sim:// parameter "${key}": valid ones are ${SIM_URL_PARAMS.join(", ")}`,
        );
    }
  }
  if (anyFault) opts.faults = { seed: 0, ...faults };
  return opts;
}
