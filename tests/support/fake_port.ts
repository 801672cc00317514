/**
 * A scriptable {@link Transport} for the monitor's tests: the test pushes
 * the bytes the "board" prints, can make the port fail, and sees every write
 * and modem-line change. Not part of the public API.
 *
 * @module
 */

import { TransportError } from "../../lib/errors.ts";
import type { PortInfo, SerialSignals, Transport } from "../../lib/transport/transport.ts";

/** Options for {@link FakePort}. */
export interface FakePortOptions {
  /** Whether setSignals works (false: rejects with `E_NO_MODEM_LINES`, like a pty). Default true. */
  modemLines?: boolean;
  /** Starting baud. Default 115200. */
  baud?: number;
  /** Called when the board leaves reset into its app (RTS released with DTR released). */
  onBoot?: (port: FakePort) => void;
  /** Called with each host write (e.g. an echoing application). */
  onWrite?: (data: Uint8Array, port: FakePort) => void;
}

/**
 * The fake port.
 *
 * @example
 * ```ts
 * import { FakePort } from "./fake_port.ts";
 * const port = new FakePort();
 * port.push("hello\r\n");
 * console.log(await port.read(10));
 * await port.close();
 * ```
 */
export class FakePort implements Transport {
  /** Path. */
  readonly path = "fake://board";
  /** Identity. */
  readonly info: PortInfo = { path: "fake://board" };
  /** Every write, in order. */
  readonly writes: Uint8Array[] = [];
  /** Every setSignals call that was accepted, in order. */
  readonly signals: SerialSignals[] = [];
  /** Every setBaud call, in order. */
  readonly bauds: number[] = [];
  #baud: number;
  #options: FakePortOptions;
  #rx: (Uint8Array | Error)[] = [];
  #waiter:
    | { resolve: (v: Uint8Array | null) => void; timer: ReturnType<typeof setTimeout> }
    | null = null;
  #rejecter: ((e: unknown) => void) | null = null;
  #closed = false;
  #rts = false;
  #dtr = false;

  /** Create a port with nothing to read yet. */
  constructor(options: FakePortOptions = {}) {
    this.#options = options;
    this.#baud = options.baud ?? 115200;
  }

  /** Current baud. */
  get baud(): number {
    return this.#baud;
  }

  /** Queue bytes (a string is UTF-8 encoded) for the host to read, as one chunk. */
  push(data: string | Uint8Array): void {
    this.#queue(typeof data === "string" ? new TextEncoder().encode(data) : data);
  }

  /** Make the next read (after queued bytes) reject with `error`. */
  fail(error: Error): void {
    this.#queue(error);
  }

  #queue(item: Uint8Array | Error): void {
    this.#rx.push(item);
    const w = this.#waiter;
    if (w) {
      this.#waiter = null;
      clearTimeout(w.timer);
      const next = this.#rx.shift()!;
      if (next instanceof Error) this.#rejecter?.(next);
      else w.resolve(next);
    }
  }

  /** Read per the Transport contract. */
  read(timeoutMs: number): Promise<Uint8Array | null> {
    if (this.#closed) return Promise.reject(new TransportError("E_PORT_CLOSED", "fake closed"));
    const next = this.#rx.shift();
    if (next instanceof Error) return Promise.reject(next);
    if (next) return Promise.resolve(next);
    return new Promise((resolve, reject) => {
      this.#rejecter = reject;
      this.#waiter = {
        resolve,
        timer: setTimeout(() => {
          this.#waiter = null;
          resolve(null);
        }, timeoutMs),
      };
    });
  }

  /** Record the write and pass it to `onWrite`. */
  write(data: Uint8Array): Promise<void> {
    if (this.#closed) return Promise.reject(new TransportError("E_PORT_CLOSED", "fake closed"));
    this.writes.push(data.slice());
    this.#options.onWrite?.(data, this);
    return Promise.resolve();
  }

  /** Record the speed. */
  setBaud(baud: number): Promise<void> {
    this.bauds.push(baud);
    this.#baud = baud;
    return Promise.resolve();
  }

  /** Record the lines; a release of RTS with DTR released "boots the app". */
  setSignals(signals: SerialSignals): Promise<void> {
    if (this.#options.modemLines === false) {
      return Promise.reject(new TransportError("E_NO_MODEM_LINES", "fake port has no modem lines"));
    }
    this.signals.push({ ...signals });
    const wasInReset = this.#rts && !this.#dtr;
    if (signals.rts !== undefined) this.#rts = signals.rts;
    if (signals.dtr !== undefined) this.#dtr = signals.dtr;
    if (wasInReset && !this.#rts && !this.#dtr) this.#options.onBoot?.(this);
    return Promise.resolve();
  }

  /** Drop queued bytes. */
  flushInput(): Promise<void> {
    this.#rx = this.#rx.filter((x) => x instanceof Error);
    return Promise.resolve();
  }

  /** Close; a pending read resolves null. Idempotent. */
  close(): Promise<void> {
    this.#closed = true;
    const w = this.#waiter;
    this.#waiter = null;
    if (w) {
      clearTimeout(w.timer);
      w.resolve(null);
    }
    return Promise.resolve();
  }
}
