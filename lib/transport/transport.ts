/**
 * The byte-pipe contract. A {@link Transport} is the only thing in espline
 * that touches the operating system; everything above it is testable in
 * memory.
 *
 * @module
 */

/** Modem control lines a transport can drive. Omitted lines stay as they are. */
export interface SerialSignals {
  /** Data Terminal Ready (true = asserted = line driven low on most USB bridges). */
  dtr?: boolean;
  /** Request To Send (true = asserted). */
  rts?: boolean;
}

/** What is known about the device behind a port (USB ids where there are any). */
export interface PortInfo {
  /** Path or URL the transport was opened with. */
  path: string;
  /** USB vendor id, when the port is a USB device. */
  vid?: number;
  /** USB product id, when the port is a USB device. */
  pid?: number;
  /** USB serial number string. */
  serialNumber?: string;
  /** USB manufacturer string. */
  manufacturer?: string;
  /** USB product string. */
  product?: string;
}

/**
 * A bidirectional byte pipe to a device.
 *
 * Contract:
 * - `read(timeoutMs)` resolves with at least one byte, or with `null` when no
 *   byte arrived within `timeoutMs`. It never leaves a pending read behind that
 *   could swallow bytes meant for the next call. A broken pipe rejects with a
 *   {@link TransportError} (code `E_PORT_GONE` or `E_PORT_CLOSED`).
 * - `write(data)` resolves when the bytes are handed to the OS / peer.
 * - `setSignals` may reject with code `E_NO_MODEM_LINES` where the port has no
 *   modem lines (ptys, raw TCP); reset strategies treat that as "cannot reset".
 *
 * @example
 * ```ts
 * import type { Transport } from "./transport.ts";
 * async function drain(t: Transport): Promise<number> {
 *   let n = 0;
 *   for (let chunk = await t.read(10); chunk; chunk = await t.read(10)) n += chunk.length;
 *   return n;
 * }
 * ```
 */
export interface Transport {
  /** Path or URL this transport was opened with. */
  readonly path: string;
  /** The current baud rate (informational for non-serial pipes). */
  readonly baud: number;
  /** USB and identity facts, where known. */
  readonly info: PortInfo;
  /** Read the next chunk, or `null` after `timeoutMs` of silence. */
  read(timeoutMs: number): Promise<Uint8Array | null>;
  /** Write all of `data`. */
  write(data: Uint8Array): Promise<void>;
  /** Change the line speed. */
  setBaud(baud: number): Promise<void>;
  /** Drive DTR and/or RTS. */
  setSignals(signals: SerialSignals): Promise<void>;
  /** Discard bytes received but not yet read. */
  flushInput(): Promise<void>;
  /** Release the port. Idempotent. */
  close(): Promise<void>;
}

/** Sleep for `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
