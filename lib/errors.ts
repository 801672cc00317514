/**
 * The error classes every layer of espline throws.
 *
 * Each error carries a stable machine-readable `code` (for scripts and the
 * CLI's `--json` output) and a message written for the person at the bench:
 * what went wrong and what to do next.
 *
 * @module
 */

/** Options accepted by every {@link EsplineError}. */
export interface EsplineErrorOptions {
  /** The underlying error, if this one wraps another. */
  cause?: unknown;
  /** Extra structured facts (port, address, status byte …) for `--json` output. */
  details?: Record<string, unknown>;
}

/**
 * Base class of all errors espline raises on purpose.
 *
 * @example
 * ```ts
 * import { EsplineError } from "./errors.ts";
 * try {
 *   throw new EsplineError("E_DEMO", "something happened: try again");
 * } catch (e) {
 *   if (e instanceof EsplineError) console.log(e.code);
 * }
 * ```
 */
export class EsplineError extends Error {
  /** Stable identifier, e.g. `E_TIMEOUT`, `E_PORT_BUSY`. */
  readonly code: string;
  /** Structured facts about the failure. */
  readonly details: Record<string, unknown>;

  /** Create an error with a code, a human message and optional details. */
  constructor(code: string, message: string, options: EsplineErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = options.details ?? {};
  }
}

/** A wait for the device ran out of time. */
export class TimeoutError extends EsplineError {
  /** Create a timeout error; `code` defaults to `E_TIMEOUT`. */
  constructor(message: string, options: EsplineErrorOptions & { code?: string } = {}) {
    super(options.code ?? "E_TIMEOUT", message, options);
  }
}

/** The byte pipe broke: port closed, device unplugged, socket reset. */
export class TransportError extends EsplineError {
  /** Create a transport error with a specific code such as `E_PORT_GONE`. */
  constructor(code: string, message: string, options: EsplineErrorOptions = {}) {
    super(code, message, options);
  }
}

/** The person asked for something that cannot work (bad argument, missing file …). */
export class UsageError extends EsplineError {
  /** Create a usage error; `code` defaults to `E_USAGE`. */
  constructor(message: string, options: EsplineErrorOptions & { code?: string } = {}) {
    super(options.code ?? "E_USAGE", message, options);
  }
}

/** The operation was cancelled through an AbortSignal or Ctrl-C. */
export class AbortedError extends EsplineError {
  /** Create an abort error. */
  constructor(message = "operation cancelled", options: EsplineErrorOptions = {}) {
    super("E_ABORTED", message, options);
  }
}

/** Throw {@link AbortedError} if `signal` is already aborted. */
export function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) {
    throw signal.reason instanceof EsplineError ? signal.reason : new AbortedError();
  }
}
