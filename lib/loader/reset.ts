/**
 * Reset strategies: drive DTR/RTS to put the chip in download mode or to
 * boot the application. On dev boards two transistors wire DTR to IO0 and RTS
 * to EN (each inverted, and both asserted together leave the chip alone);
 * Espressif's USB-Serial/JTAG interprets the lines itself. Sequences and
 * delays follow esptool's reset.py and loader.py (ClassicReset,
 * UnixTightReset, USBJTAGSerialReset, HardReset, CustomReset).
 *
 * @module
 */

import { EsplineError, UsageError } from "../errors.ts";
import { type Before, parseBefore } from "./connect_options.ts";
import type { PortInfo, SerialSignals, Transport } from "../transport/transport.ts";
import { delay } from "../transport/transport.ts";

/** What a caller may hook into while a reset sequence runs. */
export interface ResetHooks {
  /**
   * Called while the chip is held in reset, just before it is let go: output
   * seen after this belongs to the new boot. Default none.
   */
  onHeld?: () => void;
}

/** A named reset sequence. */
export interface ResetStrategy {
  /** Name for logs. */
  name: string;
  /** Run it on a transport. */
  run(transport: Transport, hooks?: ResetHooks): Promise<void>;
}

/** esptool DEFAULT_RESET_DELAY: how long IO0 is held low after EN rises, ms. */
export const DEFAULT_RESET_DELAY_MS = 50;
/** esptool's second try adds half a second for slow boards. */
export const EXTRA_RESET_DELAY_MS = DEFAULT_RESET_DELAY_MS + 500;
/** USB PID of Espressif's USB-Serial/JTAG (esptool USB_JTAG_SERIAL_PID). */
export const USB_JTAG_SERIAL_PID = 0x1001;
/** Espressif's USB vendor id. */
export const ESPRESSIF_VID = 0x303a;
/** esptool HardReset: EN held low this long on a bridge, ms. */
const HARD_RESET_MS = 100;
/** esptool HardReset(uses_usb): EN held low, and the wait after, on the chip's own USB, ms. */
const HARD_RESET_USB_MS = 200;

const set = (t: Transport, s: SerialSignals) => t.setSignals(s);

/**
 * Classic reset (esptool ClassicReset): one line at a time, as pySerial's
 * setDTR/setRTS do. EN low, then EN high with IO0 held low for `delayMs`.
 * Between the two lines of a step the circuit briefly sees (1,1): the EN
 * capacitor on real boards, and the virtual chip's strap-sampling delay,
 * ride through it.
 *
 * @example
 * ```ts
 * import { classicReset } from "./reset.ts";
 * import { openSimPort } from "../sim/sim_port.ts";
 * const port = openSimPort({ chip: "esp32", startMode: "app" });
 * await classicReset().run(port);
 * await port.close();
 * ```
 */
export function classicReset(delayMs: number = DEFAULT_RESET_DELAY_MS): ResetStrategy {
  return {
    name: `classic(${delayMs} ms)`,
    async run(t) {
      await set(t, { dtr: false }); // IO0 high
      await set(t, { rts: true }); // EN low: chip in reset
      await delay(100);
      await set(t, { dtr: true }); // IO0 low
      await set(t, { rts: false }); // EN high: chip out of reset, samples IO0
      await delay(delayMs);
      await set(t, { dtr: false }); // IO0 high: done
    },
  };
}

/**
 * The tight Unix variant (esptool UnixTightReset): each step sets both lines
 * in one `setSignals` call (one TIOCMSET on a serial port), so the circuit
 * never sees an intermediate state.
 *
 * @example
 * ```ts
 * import { unixTightReset } from "./reset.ts";
 * console.log(unixTightReset(550).name); // "unix-tight(550 ms)"
 * ```
 */
export function unixTightReset(delayMs: number = DEFAULT_RESET_DELAY_MS): ResetStrategy {
  return {
    name: `unix-tight(${delayMs} ms)`,
    async run(t) {
      await set(t, { dtr: false, rts: false });
      await set(t, { dtr: true, rts: true });
      await set(t, { dtr: false, rts: true }); // IO0 high, EN low: in reset
      await delay(100);
      await set(t, { dtr: true, rts: false }); // IO0 low, EN high: out of reset
      await delay(delayMs);
      await set(t, { dtr: false, rts: false }); // IO0 high: done
      await set(t, { dtr: false }); // esptool: needed in some environments to ensure IO0 high
    },
  };
}

/**
 * USB-Serial/JTAG reset (esptool USBJTAGSerialReset): the chip's USB logic,
 * not a transistor pair, reads the lines. DTR alone requests download boot;
 * RTS alone resets; the sequence goes through (1,1) rather than (0,0) so the
 * request survives into the reset.
 *
 * @example
 * ```ts
 * import { usbJtagSerialReset } from "./reset.ts";
 * import { openSimPort } from "../sim/sim_port.ts";
 * const port = openSimPort({ chip: "esp32c3", usb: "usb-jtag", startMode: "app" });
 * await usbJtagSerialReset().run(port);
 * await port.close();
 * ```
 */
export function usbJtagSerialReset(): ResetStrategy {
  return {
    name: "usb-jtag",
    async run(t) {
      await set(t, { rts: false });
      await set(t, { dtr: false }); // idle
      await delay(100);
      await set(t, { dtr: true }); // request download boot (IO0)
      await set(t, { rts: false });
      await delay(100);
      await set(t, { rts: true }); // reset, going through (1,1) rather than (0,0)
      await set(t, { dtr: false });
      await set(t, { rts: true }); // Windows only propagates DTR on an RTS write
      await delay(100);
      await set(t, { dtr: false });
      await set(t, { rts: false }); // out of reset
    },
  };
}

/**
 * Hard reset as a strategy (esptool HardReset): RTS pulses EN low so the
 * application boots. `usesUsb` (esptool's uses_usb, for chips on their own
 * USB) holds the reset for 200 ms and waits 200 ms after it, so the chip can
 * take further line changes.
 *
 * @example
 * ```ts
 * import { hardResetStrategy } from "./reset.ts";
 * console.log(hardResetStrategy(true).name); // "hard-reset(usb)"
 * ```
 */
export function hardResetStrategy(usesUsb = false): ResetStrategy {
  return {
    name: usesUsb ? "hard-reset(usb)" : "hard-reset",
    async run(t, hooks) {
      await set(t, { dtr: false, rts: true }); // IO0 high, EN low
      await delay(usesUsb ? HARD_RESET_USB_MS : HARD_RESET_MS);
      hooks?.onHeld?.();
      await set(t, { rts: false }); // EN high: the application boots
      if (usesUsb) await delay(HARD_RESET_USB_MS);
    },
  };
}

/**
 * The longest wait a reset step or `reset_delay` may ask for, in seconds.
 * Reset timing is tenths of a second; a longer wait is a mistake (`W100`
 * for `W0.1`) that would otherwise hold every connect for that long.
 */
export const MAX_RESET_WAIT_S = 10;

/** One parsed step of a custom sequence. */
type Step = (t: Transport) => Promise<void>;

/**
 * Parse esptool's custom reset sequence: steps separated by `|`, each a
 * letter and an argument: `D0`/`D1` DTR, `R0`/`R1` RTS, `U0,1` both at once
 * (DTR,RTS; `U01` is accepted too), `W0.1` wait in seconds. esptool's classic
 * reset is `D0|R1|W0.1|D1|R0|W0.05|D0`. A hook's `onHeld` runs before the
 * last step (a hard-reset sequence ends by letting EN go).
 *
 * @throws {UsageError} naming the bad step and what would be valid.
 * @example
 * ```ts
 * import { customReset } from "./reset.ts";
 * const classic = customReset("D0|R1|W0.1|D1|R0|W0.05|D0");
 * console.log(classic.name);
 * ```
 */
export function customReset(sequence: string): ResetStrategy {
  const hint = "use D0/D1 (DTR), R0/R1 (RTS), U0,1 (DTR,RTS together), W0.1 (wait seconds), " +
    'joined by "|", e.g. D0|R1|W0.1|D1|R0|W0.05|D0';
  const text = sequence.trim();
  if (!text) throw new UsageError(`custom reset sequence is empty: ${hint}`);
  const steps = text.split("|").map((raw, i): Step => {
    const step = raw.trim();
    const where = `custom reset sequence "${text}", step ${i + 1} "${step}"`;
    const m = /^([DRUW])\s*(.*)$/i.exec(step);
    if (!m) throw new UsageError(`${where}: unknown command; ${hint}`);
    const cmd = m[1].toUpperCase();
    const arg = m[2].trim();
    if (cmd === "W") {
      const s = Number(arg);
      if (!arg || !Number.isFinite(s) || s < 0) {
        throw new UsageError(`${where}: the wait must be a number of seconds, e.g. W0.1`);
      }
      if (s > MAX_RESET_WAIT_S) {
        throw new UsageError(
          `${where}: a wait of ${arg} s is longer than ${MAX_RESET_WAIT_S} s; reset waits are ` +
            "fractions of a second (W0.1 is 100 ms)",
        );
      }
      return () => delay(s * 1000);
    }
    if (cmd === "U") {
      const bits = /^([01])\s*,?\s*([01])$/.exec(arg);
      if (!bits) throw new UsageError(`${where}: U needs DTR,RTS as two bits, e.g. U1,0`);
      return (t) => set(t, { dtr: bits[1] === "1", rts: bits[2] === "1" });
    }
    if (arg !== "0" && arg !== "1") throw new UsageError(`${where}: ${cmd} needs 0 or 1`);
    return (t) => set(t, cmd === "D" ? { dtr: arg === "1" } : { rts: arg === "1" });
  });
  return {
    name: `custom(${text})`,
    async run(t, hooks) {
      for (let i = 0; i < steps.length; i++) {
        if (i === steps.length - 1) hooks?.onHeld?.();
        await steps[i](t);
      }
    },
  };
}

/** Config file names searched in a directory, in order (esptool config.py, plus our own first). */
export const CONFIG_FILES: readonly string[] = [
  "espline.cfg",
  "esptool.cfg",
  "setup.cfg",
  "tox.ini",
];

/**
 * Reset settings from the `[esptool]` section of a config file (esptool's
 * option names).
 */
export interface ResetConfig {
  /** `custom_reset_sequence`: replaces the connect strategies. */
  customResetSequence?: string;
  /** `custom_hard_reset_sequence`: replaces the hard reset after a command. */
  customHardResetSequence?: string;
  /** `reset_delay` in seconds: replaces both the default and the extra delay. */
  resetDelaySeconds?: number;
  /** The file these came from (for messages). */
  source?: string;
}

/** Options for {@link readResetConfig}. */
export interface ReadResetConfigOptions {
  /**
   * Read this file instead of searching (esptool's `ESPTOOL_CFGFILE`).
   * Default: the `ESPTOOL_CFGFILE` environment variable when it is set and readable.
   */
  file?: string;
}

function envConfigFile(): string | undefined {
  try {
    return Deno.env.get("ESPTOOL_CFGFILE") || undefined;
  } catch {
    return undefined; // no --allow-env: search the directory
  }
}

/** The `[esptool]` section of an INI text, or null when there is none (keys lowercased). */
function esptoolSection(text: string): Map<string, string> | null {
  let section: Map<string, string> | null = null;
  let inSection = false;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      inSection = header[1].trim() === "esptool";
      if (inSection) section ??= new Map();
      continue;
    }
    if (!inSection || !section) continue;
    const kv = /^([^=:]+?)\s*[=:]\s*(.*)$/.exec(line);
    if (kv) section.set(kv[1].toLowerCase(), kv[2].trim());
  }
  return section;
}

/**
 * Read reset settings as esptool does: the first of {@link CONFIG_FILES} in
 * `dir` that has an `[esptool]` section is the config file (files without
 * the section are skipped); `ESPTOOL_CFGFILE` names one directly.
 *
 * @throws {UsageError} when `reset_delay` is not a number of seconds or a
 *   sequence does not parse (the message names the file).
 * @example
 * ```ts
 * import { readResetConfig } from "./reset.ts";
 * const cfg = readResetConfig(".");
 * console.log(cfg.customResetSequence ?? "default strategies");
 * ```
 */
export function readResetConfig(dir = ".", options: ReadResetConfigOptions = {}): ResetConfig {
  const named = options.file ?? envConfigFile();
  const candidates = named ? [named] : CONFIG_FILES.map((name) => `${dir}/${name}`);
  for (const path of candidates) {
    let text: string;
    try {
      text = Deno.readTextFileSync(path);
    } catch {
      continue;
    }
    const section = esptoolSection(text);
    if (!section) continue;
    const out: ResetConfig = { source: path };
    // Sequences are parsed here so a mistake is reported with the file, at connect time.
    const seq = section.get("custom_reset_sequence");
    if (seq) {
      configured(seq, path, "custom_reset_sequence");
      out.customResetSequence = seq;
    }
    const hard = section.get("custom_hard_reset_sequence");
    if (hard) {
      configured(hard, path, "custom_hard_reset_sequence");
      out.customHardResetSequence = hard;
    }
    const d = section.get("reset_delay");
    if (d !== undefined) {
      const n = Number(d);
      if (!d || !Number.isFinite(n) || n < 0) {
        throw new UsageError(
          `${path}: reset_delay = "${d}" is not a number of seconds (e.g. reset_delay = 0.1)`,
        );
      }
      if (n > MAX_RESET_WAIT_S) {
        throw new UsageError(
          `${path}: reset_delay = ${d} is longer than ${MAX_RESET_WAIT_S} s; it is the time IO0 is ` +
            "held after reset, in seconds (e.g. reset_delay = 0.1)",
        );
      }
      out.resetDelaySeconds = n;
    }
    return out;
  }
  return {};
}

/** Custom sequence from a config file, with the file named in the error. */
function configured(sequence: string, source: string | undefined, key: string): ResetStrategy {
  try {
    return customReset(sequence);
  } catch (e) {
    if (e instanceof UsageError && source) throw new UsageError(`${source}: ${key}: ${e.message}`);
    throw e;
  }
}

/** Options for {@link connectStrategies}. */
export interface ConnectStrategiesOptions {
  /** Reset settings (read once by the program with {@link readResetConfig}). Default none. */
  config?: ResetConfig;
  /** Operating system. Default `Deno.build.os`. */
  os?: string;
}

/**
 * The strategies the connect loop alternates for a `--before` mode, as
 * esptool's loader.py builds them: a configured custom sequence alone if
 * there is one; the USB-Serial/JTAG reset alone for `usb-reset` or a
 * 303a:1001 port; otherwise the tight Unix variant (not on Windows, not over
 * RFC 2217) and the classic reset, each with the default delay and with the
 * extra delay (`reset_delay` replaces both). `no-reset` modes get none.
 *
 * @throws {UsageError} for an unknown mode or a bad configured sequence.
 * @example
 * ```ts
 * import { connectStrategies } from "./reset.ts";
 * const names = connectStrategies("default_reset", { path: "/dev/ttyUSB0" }, { config: {}, os: "linux" })
 *   .map((s) => s.name);
 * // ["unix-tight(50 ms)", "unix-tight(550 ms)", "classic(50 ms)", "classic(550 ms)"]
 * ```
 */
export function connectStrategies(
  before: Before | string,
  info: PortInfo,
  options: ConnectStrategiesOptions = {},
): ResetStrategy[] {
  const mode = parseBefore(before);
  if (mode === "no-reset" || mode === "no-reset-no-sync") return [];
  const cfg = options.config ?? {};
  if (cfg.customResetSequence) {
    return [configured(cfg.customResetSequence, cfg.source, "custom_reset_sequence")];
  }
  const d = cfg.resetDelaySeconds !== undefined
    ? cfg.resetDelaySeconds * 1000
    : DEFAULT_RESET_DELAY_MS;
  const extra = cfg.resetDelaySeconds !== undefined ? d : EXTRA_RESET_DELAY_MS;
  if (mode === "usb-reset" || (info.vid === ESPRESSIF_VID && info.pid === USB_JTAG_SERIAL_PID)) {
    return [usbJtagSerialReset()];
  }
  const os = options.os ?? Deno.build.os;
  if (os !== "windows" && !info.path.startsWith("rfc2217:")) {
    return [unixTightReset(d), unixTightReset(extra), classicReset(d), classicReset(extra)];
  }
  return [classicReset(d), classicReset(extra)];
}

/** Options for {@link hardReset}. */
export interface HardResetOptions extends ResetHooks {
  /** Use the longer USB form. Default: the port is Espressif's USB-Serial/JTAG (303a:1001). */
  usesUsb?: boolean;
  /**
   * Reset settings (`custom_hard_reset_sequence` replaces the pulse), read
   * once by the program with {@link readResetConfig}. Default none.
   */
  config?: ResetConfig;
  /**
   * Called when the reset could not be done, with the reason: the
   * transport's `E_NO_MODEM_LINES` error (see {@link isNoModemLines}) or the
   * port's own failure. Default none.
   */
  onSkipped?: (reason: unknown) => void;
}

/**
 * Whether `error` is a transport's refusal to drive DTR/RTS (a pty, raw TCP,
 * a bridge without the lines).
 *
 * @example
 * ```ts
 * import { isNoModemLines } from "./reset.ts";
 * console.log(isNoModemLines(new Error("x"))); // false
 * ```
 */
export function isNoModemLines(error: unknown): error is EsplineError {
  return error instanceof EsplineError && error.code === "E_NO_MODEM_LINES";
}

/**
 * Hard-reset the board into its application (esptool hard_reset): a
 * configured `custom_hard_reset_sequence`, else {@link hardResetStrategy}
 * (EN pulsed low through RTS with IO0 released). The one hard reset every
 * caller uses: after a command, `Device.reset("app")`, the monitor.
 *
 * It never throws for the port's sake: a port without modem lines cannot
 * reset the board (it keeps running what it runs), and a port that goes
 * away once EN was driven is a USB chip re-enumerating after its reset.
 *
 * @returns true when the reset lines were driven; false when they could not
 *   be (`onSkipped` says why).
 * @example
 * ```ts
 * import { hardReset } from "./reset.ts";
 * import { openSimPort } from "../sim/sim_port.ts";
 * const port = openSimPort({ chip: "esp32" });
 * console.log(await hardReset(port, { config: {} })); // true: the app boots
 * await port.close();
 * ```
 */
export async function hardReset(t: Transport, options: HardResetOptions = {}): Promise<boolean> {
  const usesUsb = options.usesUsb ??
    (t.info.vid === ESPRESSIF_VID && t.info.pid === USB_JTAG_SERIAL_PID);
  const cfg = options.config ?? {};
  const strategy = cfg.customHardResetSequence
    ? customReset(cfg.customHardResetSequence) // validated by readResetConfig
    : hardResetStrategy(usesUsb);
  let driven = false;
  // Notes whether a line change went through, so a failure after it still counts as a reset.
  const watched = new Proxy(t, {
    get(target, prop) {
      if (prop === "setSignals") {
        return async (signals: SerialSignals) => {
          await target.setSignals(signals);
          driven = true;
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  try {
    await strategy.run(watched, { onHeld: options.onHeld });
    return true;
  } catch (e) {
    if (!driven || isNoModemLines(e)) {
      options.onSkipped?.(e);
      return false;
    }
    return true; // the port went away after EN was driven: a USB chip re-enumerating
  }
}
