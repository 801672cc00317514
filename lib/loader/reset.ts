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

import { UsageError } from "../errors.ts";
import type { PortInfo, SerialSignals, Transport } from "../transport/transport.ts";
import { delay } from "../transport/transport.ts";

/** A named reset sequence. */
export interface ResetStrategy {
  /** Name for logs. */
  name: string;
  /** Run it on a transport. */
  run(transport: Transport): Promise<void>;
}

/** esptool DEFAULT_RESET_DELAY: how long IO0 is held low after EN rises, ms. */
export const DEFAULT_RESET_DELAY_MS = 50;
/** esptool's second try adds half a second for slow boards. */
export const EXTRA_RESET_DELAY_MS = DEFAULT_RESET_DELAY_MS + 500;
/** USB PID of Espressif's USB-Serial/JTAG (esptool USB_JTAG_SERIAL_PID). */
export const USB_JTAG_SERIAL_PID = 0x1001;
/** Espressif's USB vendor id. */
export const ESPRESSIF_VID = 0x303a;

const set = (t: Transport, s: SerialSignals) => t.setSignals(s);

/** Classic reset (esptool ClassicReset): EN low, then EN high with IO0 held low for `delayMs`. */
export function classicReset(delayMs = DEFAULT_RESET_DELAY_MS): ResetStrategy {
  return {
    name: `classic(${delayMs} ms)`,
    async run(t) {
      await set(t, { dtr: false, rts: true }); // IO0 high, EN low: chip in reset
      await delay(100);
      await set(t, { dtr: true, rts: false }); // IO0 low, EN high: boot samples IO0
      await delay(delayMs);
      await set(t, { dtr: false }); // release IO0
    },
  };
}

/**
 * The tight Unix variant (esptool UnixTightReset): sets both lines in one
 * call so no intermediate (0,0)/(1,1) state glitches the circuit.
 */
export function unixTightReset(delayMs = DEFAULT_RESET_DELAY_MS): ResetStrategy {
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
      await set(t, { dtr: false });
    },
  };
}

/** USB-Serial/JTAG reset (esptool USBJTAGSerialReset). */
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
      await set(t, { rts: true });
      await delay(100);
      await set(t, { dtr: false });
      await set(t, { rts: false }); // out of reset
    },
  };
}

/**
 * Parse esptool's custom reset sequence: `D0|R1|W0.1|D1|R0|W0.05|D0`
 * (D = DTR, R = RTS, U = both as `U01`, W = wait in seconds).
 *
 * @throws {UsageError} naming the bad step.
 */
export function customReset(sequence: string): ResetStrategy {
  const steps = sequence.split("|").map((s) => s.trim()).filter(Boolean).map((step) => {
    const m = /^([DRUW])(.+)$/.exec(step);
    if (!m) {
      throw new UsageError(
        `custom reset sequence: bad step "${step}" (use D0/D1, R0/R1, U00..U11, W<seconds>)`,
      );
    }
    const [, cmd, arg] = m;
    if (cmd === "W") {
      const s = Number(arg);
      if (!Number.isFinite(s) || s < 0) {
        throw new UsageError(`custom reset sequence: bad wait "${step}"`);
      }
      return (_t: Transport) => delay(s * 1000);
    }
    if (cmd === "U") {
      if (!/^[01][01]$/.test(arg)) {
        throw new UsageError(`custom reset sequence: "${step}" needs two bits, e.g. U10`);
      }
      return (t: Transport) => set(t, { dtr: arg[0] === "1", rts: arg[1] === "1" });
    }
    if (arg !== "0" && arg !== "1") {
      throw new UsageError(`custom reset sequence: "${step}" needs 0 or 1`);
    }
    return (t: Transport) => set(t, cmd === "D" ? { dtr: arg === "1" } : { rts: arg === "1" });
  });
  if (steps.length === 0) throw new UsageError("custom reset sequence is empty");
  return {
    name: `custom(${sequence})`,
    async run(t) {
      for (const s of steps) await s(t);
    },
  };
}

/** esptool's config keys, read from an `[esptool]` section (espline.cfg, esptool.cfg, setup.cfg, tox.ini). */
export interface ResetConfig {
  /** `custom_reset_sequence`. */
  customResetSequence?: string;
  /** `reset_delay` in seconds. */
  resetDelaySeconds?: number;
}

/** Read the `[esptool]` section from the first config file found in `dir`. */
export function readResetConfig(dir = "."): ResetConfig {
  for (const name of ["espline.cfg", "esptool.cfg", "setup.cfg", "tox.ini"]) {
    let text: string;
    try {
      text = Deno.readTextFileSync(`${dir}/${name}`);
    } catch {
      continue;
    }
    const out: ResetConfig = {};
    let inSection = false;
    for (const raw of text.split(/\r?\n/)) {
      const line = raw.replace(/[#;].*$/, "").trim();
      const section = /^\[(.+)\]$/.exec(line);
      if (section) {
        inSection = section[1].trim() === "esptool";
        continue;
      }
      if (!inSection) continue;
      const kv = /^([\w-]+)\s*[=:]\s*(.*)$/.exec(line);
      if (!kv) continue;
      if (kv[1] === "custom_reset_sequence") out.customResetSequence = kv[2];
      if (kv[1] === "reset_delay") out.resetDelaySeconds = Number(kv[2]);
    }
    if (out.customResetSequence !== undefined || out.resetDelaySeconds !== undefined) return out;
  }
  return {};
}

/** Options for {@link connectStrategies}. */
export interface ConnectStrategiesOptions {
  /** Config (default: read from the current directory). */
  config?: ResetConfig;
  /** Operating system (default Deno.build.os). */
  os?: string;
}

/**
 * The strategies the connect loop alternates for a `--before` mode, as esptool
 * builds them: a custom sequence from the config if there is one; the
 * USB-Serial/JTAG reset for `usb-reset` or an Espressif 303a:1001 port;
 * otherwise the tight Unix variant (not on Windows or RFC 2217) and the
 * classic reset, each with the default and the extra delay.
 */
export function connectStrategies(
  before: string,
  info: PortInfo,
  options: ConnectStrategiesOptions = {},
): ResetStrategy[] {
  const mode = before.replaceAll("_", "-");
  if (mode === "no-reset" || mode === "no-reset-no-sync") return [];
  const cfg = options.config ?? readResetConfig();
  if (cfg.customResetSequence) return [customReset(cfg.customResetSequence)];
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

/**
 * Hard reset (esptool HardReset): pulse EN low so the application boots; on
 * USB-Serial/JTAG ports the pulse is longer. Ports without modem lines cannot
 * do it; that is not an error.
 */
export async function hardReset(t: Transport): Promise<void> {
  const usb = t.info.vid === ESPRESSIF_VID && t.info.pid === USB_JTAG_SERIAL_PID;
  try {
    await set(t, { dtr: false, rts: true }); // EN low
    await delay(usb ? 200 : 100);
    await set(t, { rts: false });
    if (usb) await delay(200);
  } catch {
    // No modem lines (pty, raw socket): the board cannot be reset from here.
  }
}
