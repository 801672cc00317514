/**
 * The virtual chip's own error type. lib/sim imports nothing from the client
 * (not even `../errors.ts`); the client maps a {@link SimError} onto its own
 * error classes where it opens a sim:// port (lib/transport/open.ts), using
 * the `code`, which follows the client's names (`E_USAGE`, `E_PORT_GONE` …)
 * so the mapping is one line.
 *
 * @module
 */

/** Why the virtual chip refused or failed. */
export type SimErrorCode =
  /** A sim:// URL, option or value that cannot work; the message says what to type instead. */
  | "E_USAGE"
  /** The flash file named by `flash=` cannot be read or written. */
  | "E_SIM_FLASH_FILE"
  /** The port was closed by its owner. */
  | "E_PORT_CLOSED"
  /** The port vanished (a disconnect fault: the simulated unplug). */
  | "E_PORT_GONE";

/**
 * An error raised by the virtual chip or its ports.
 *
 * @example
 * ```ts
 * import { SimError } from "./sim_error.ts";
 * try {
 *   throw new SimError("E_USAGE", "unknown sim chip \"esp31\": use one of esp32, esp32s3");
 * } catch (e) {
 *   if (e instanceof SimError) console.log(e.code, e.message);
 * }
 * ```
 */
export class SimError extends Error {
  /** Stable identifier (see {@link SimErrorCode}). */
  readonly code: SimErrorCode;

  /** Create an error with a code and a message that says what to do next. */
  constructor(code: SimErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "SimError";
    this.code = code;
  }
}

/** Shorthand for a usage error (`E_USAGE`). */
export function simUsage(message: string, options: { cause?: unknown } = {}): SimError {
  return new SimError("E_USAGE", message, options);
}
