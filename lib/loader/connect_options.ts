/**
 * How to connect to a board, as one plain-data type: the port, the chip
 * expected, the working baud rate, how to enter download mode (`before`),
 * what to leave behind (`after`), the stub, connection attempts, the port
 * filter for `auto`, protocol tracing and the reset settings read from
 * esptool.cfg. Every layer takes this type (or extends it with its own event
 * sink); {@link normalizeConnectOptions} checks a value once, where it enters
 * (the CLI, a script's `connect()` call), and fills in the defaults.
 *
 * The choices are esptool's (`--before`, `--after`, `--chip`), in their
 * hyphen spelling; {@link parseBefore} and friends also accept the older
 * underscore spelling (`default_reset`) for the command line.
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import { chipByKey } from "../chips/index.ts";
import type { ResetConfig } from "./reset.ts";
import { DEFAULT_CONNECT_ATTEMPTS } from "./connect.ts";
import { ROM_BAUD } from "./baud.ts";

/** esptool's `--before` choices: how to put the chip into download mode. */
export const BEFORE_CHOICES = [
  "default-reset",
  "usb-reset",
  "no-reset",
  "no-reset-no-sync",
] as const;
/** How to put the chip into download mode (esptool `--before`). */
export type Before = typeof BEFORE_CHOICES[number];

/** esptool's `--after` choices: what to leave the chip doing when done. */
export const AFTER_CHOICES = [
  "hard-reset",
  "soft-reset",
  "no-reset",
  "no-reset-stub",
  "watchdog-reset",
] as const;
/** What to leave the chip doing when the work is done (esptool `--after`). */
export type After = typeof AFTER_CHOICES[number];

/** Chip keys espline knows, plus `auto` (detect). Same keys as `lib/chips` (a unit test keeps them in step). */
export const CHIP_CHOICES = [
  "auto",
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
] as const;
/** A chip key (`esp32s3`) or `auto`. */
export type ChipName = typeof CHIP_CHOICES[number];

/** Lowest baud rate accepted. */
const MIN_BAUD = 300;
/** Highest baud rate accepted (well above any USB-serial bridge). */
const MAX_BAUD = 20_000_000;

/**
 * How to connect to a board. Plain data: a script can keep it in a config
 * file, the CLI builds it from its arguments. Event sinks and abort signals
 * go beside it, in the options of the call that connects.
 *
 * @example
 * ```ts
 * import type { ConnectOptions } from "./connect_options.ts";
 * const line: ConnectOptions = { baud: 921600, before: "default-reset", after: "hard-reset" };
 * ```
 */
export interface ConnectOptions {
  /** Port path or URL: `/dev/ttyUSB0`, `COM3`, `socket://…`, `rfc2217://…`, `sim://esp32`, or `auto` (default: the one USB serial port). */
  port?: string;
  /** Expected chip; a different chip is refused. Default `auto` (detect). */
  chip?: ChipName;
  /** Working baud rate after connecting. Default 115200. */
  baud?: number;
  /** How to enter download mode. Default `default-reset`. */
  before?: Before;
  /** What to leave the chip doing when the device is closed. Default `hard-reset` (boots the application). */
  after?: After;
  /** Upload and use the flasher stub. Default true. */
  stub?: boolean;
  /**
   * Where the flasher stub comes from: a folder of esptool-format stub JSON
   * files (esptool 5's `targets/stub_flasher/2`), or `auto` to look for an
   * installed esptool 5. Default: the stubs of the esptool-js npm package.
   */
  stubDir?: string;
  /** Connection attempts; 0 keeps trying until cancelled. Default 7. */
  connectAttempts?: number;
  /** Narrows `auto`: `vid=303a,pid=1001,serial=…`. Default none. */
  portFilter?: string;
  /** Emit `trace` events with every byte sent and received. Default false. */
  trace?: boolean;
  /**
   * Reset settings from esptool.cfg and friends. Read them once where the
   * program starts (`readResetConfig()`) and pass them here; nothing below
   * reads configuration files. Default none (esptool's built-in sequences).
   */
  resetConfig?: ResetConfig;
}

/** {@link ConnectOptions} with every default filled in. */
export interface NormalizedConnectOptions
  extends Required<Omit<ConnectOptions, "portFilter" | "stubDir">> {
  /** Narrows `auto`, when given. */
  portFilter?: string;
  /** Stub folder, when given. */
  stubDir?: string;
}

function spell(value: string): string {
  return value.trim().toLowerCase().replaceAll("_", "-");
}

function choice<T extends string>(
  value: unknown,
  choices: readonly T[],
  what: string,
): T {
  const text = typeof value === "string" ? spell(value) : "";
  if ((choices as readonly string[]).includes(text)) return text as T;
  throw new UsageError(
    `unknown --${what} "${String(value)}": use one of ${choices.join(", ")}`,
    { code: "E_BAD_CHOICE", details: { option: what, value, choices: [...choices] } },
  );
}

/**
 * A `before` value from text: `default-reset`, also spelled `default_reset`.
 *
 * @throws {UsageError} (`E_BAD_CHOICE`) listing the choices.
 * @example
 * ```ts
 * import { parseBefore } from "./connect_options.ts";
 * parseBefore("default_reset"); // "default-reset"
 * ```
 */
export function parseBefore(value: string): Before {
  return choice(value, BEFORE_CHOICES, "before");
}

/**
 * An `after` value from text: `hard-reset`, also spelled `hard_reset`.
 *
 * @throws {UsageError} (`E_BAD_CHOICE`) listing the choices.
 * @example
 * ```ts
 * import { parseAfter } from "./connect_options.ts";
 * parseAfter("no_reset"); // "no-reset"
 * ```
 */
export function parseAfter(value: string): After {
  return choice(value, AFTER_CHOICES, "after");
}

/**
 * A chip key from text: `auto`, a key (`esp32s3`) or a display name
 * (`ESP32-S3`, `esp32-s3`).
 *
 * @throws {UsageError} (`E_UNKNOWN_CHIP`) listing the keys.
 * @example
 * ```ts
 * import { parseChip } from "./connect_options.ts";
 * parseChip("ESP32-C3"); // "esp32c3"
 * ```
 */
export function parseChip(value: string): ChipName {
  if (typeof value === "string" && spell(value) === "auto") return "auto";
  return chipByKey(String(value)).key as ChipName;
}

/**
 * Check connection options once, where they enter the program, and fill in
 * the defaults. Values of the wrong kind, unknown choices and impossible
 * numbers are refused with a {@link UsageError} that names the option and
 * what it takes; the underscore spellings esptool accepts (`default_reset`)
 * are taken as their hyphen form.
 *
 * @example
 * ```ts
 * import { normalizeConnectOptions } from "./connect_options.ts";
 * const o = normalizeConnectOptions({ port: "sim://esp32", baud: 921600 });
 * console.log(o.before, o.after, o.connectAttempts); // default-reset hard-reset 7
 * ```
 */
export function normalizeConnectOptions(options: ConnectOptions = {}): NormalizedConnectOptions {
  const baud = options.baud ?? ROM_BAUD; // esptool works at the ROM's rate unless told otherwise
  if (!Number.isInteger(baud) || baud < MIN_BAUD || baud > MAX_BAUD) {
    throw new UsageError(
      `invalid baud ${JSON.stringify(options.baud)}: give a number such as 115200 or 921600`,
      { code: "E_BAD_BAUD" },
    );
  }
  const attempts = options.connectAttempts ?? DEFAULT_CONNECT_ATTEMPTS;
  if (!Number.isInteger(attempts) || attempts < 0) {
    throw new UsageError(
      `invalid connectAttempts ${
        JSON.stringify(options.connectAttempts)
      }: give a whole number (0 = keep trying)`,
      { code: "E_BAD_ATTEMPTS" },
    );
  }
  if (options.port !== undefined && (typeof options.port !== "string" || !options.port.trim())) {
    throw new UsageError(
      `invalid port ${
        JSON.stringify(options.port)
      }: give a device path, socket://HOST:PORT, rfc2217://HOST:PORT, sim://CHIP or auto`,
      { code: "E_BAD_PORT" },
    );
  }
  const out: NormalizedConnectOptions = {
    port: options.port ?? "auto",
    chip: options.chip === undefined ? "auto" : parseChip(options.chip),
    baud,
    before: options.before === undefined ? "default-reset" : parseBefore(options.before),
    after: options.after === undefined ? "hard-reset" : parseAfter(options.after),
    stub: options.stub ?? true,
    connectAttempts: attempts,
    trace: options.trace ?? false,
    resetConfig: options.resetConfig ?? {},
  };
  if (options.portFilter !== undefined) out.portFilter = options.portFilter;
  if (options.stubDir !== undefined) out.stubDir = options.stubDir;
  return out;
}
