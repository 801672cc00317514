/**
 * Any espline transport as a Web Serial `SerialPort` (W3C Web Serial API):
 * `open({baudRate})`, `readable` / `writable` streams, `setSignals`,
 * `getInfo`, `close`. Tools written for the browser (esptool-js among them)
 * run on Deno unchanged, over real serial ports, sockets or the virtual chip.
 *
 * The types are our own (Deno has no DOM serial types).
 *
 * @module
 */

import { EsplineError } from "../errors.ts";
import type { Transport } from "./transport.ts";

/** `SerialPort.open()` options (Web Serial API). */
export interface WebSerialOptions {
  /** Line speed. */
  baudRate: number;
  /** Accepted and ignored: espline ports are always 8N1. */
  dataBits?: number;
  /** Ignored (1). */
  stopBits?: number;
  /** Ignored ("none"). */
  parity?: string;
  /** Ignored. */
  bufferSize?: number;
  /** Ignored ("none"). */
  flowControl?: string;
}

/** `SerialPort.setSignals()` argument (Web Serial API). */
export interface WebSerialOutputSignals {
  /** DTR. */
  dataTerminalReady?: boolean;
  /** RTS. */
  requestToSend?: boolean;
  /** Break (not supported; ignored). */
  break?: boolean;
}

/** `SerialPort.getInfo()` result. */
export interface WebSerialPortInfo {
  /** USB vendor id. */
  usbVendorId?: number;
  /** USB product id. */
  usbProductId?: number;
}

/** Options for {@link toWebSerialPort}. */
export interface ToWebSerialOptions {
  /** Close the transport when the port is forgotten (default true). `close()` keeps it for a later `open()`. */
  closeTransportOnForget?: boolean;
}

/**
 * A Web Serial-shaped port over an espline {@link Transport}.
 *
 * `close()` ends the streams but keeps the transport, so `open()` can be
 * called again (browser code reopens a port to change its baud rate); the
 * transport is released by `forget()`.
 */
export class WebSerialPort extends EventTarget {
  #transport: Transport;
  #readable: ReadableStream<Uint8Array> | null = null;
  #writable: WritableStream<Uint8Array> | null = null;
  #open = false;
  #forgotten = false;
  #options: ToWebSerialOptions;
  #signals = { dataTerminalReady: false, requestToSend: false };
  /** Browser-style event handler slots (unused). */
  onconnect: ((ev: Event) => void) | null = null;
  /** Browser-style event handler slots (unused). */
  ondisconnect: ((ev: Event) => void) | null = null;

  /** Wrap a transport. */
  constructor(transport: Transport, options: ToWebSerialOptions = {}) {
    super();
    this.#transport = transport;
    this.#options = options;
  }

  /** Incoming bytes while open, else null. */
  get readable(): ReadableStream<Uint8Array> | null {
    return this.#readable;
  }

  /** Outgoing bytes while open, else null. */
  get writable(): WritableStream<Uint8Array> | null {
    return this.#writable;
  }

  /** Whether the port is open. */
  get connected(): boolean {
    return !this.#forgotten;
  }

  /** Open at `baudRate` (sets the transport's line speed). */
  async open(options: WebSerialOptions): Promise<void> {
    if (this.#forgotten) throw new DOMException("the port was forgotten", "InvalidStateError");
    if (this.#open) throw new DOMException("the port is already open", "InvalidStateError");
    if (options.baudRate && options.baudRate !== this.#transport.baud) {
      await this.#transport.setBaud(options.baudRate);
    }
    const t = this.#transport;
    let stopped = false;
    this.#readable = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        while (!stopped) {
          let chunk: Uint8Array | null;
          try {
            chunk = await t.read(50);
          } catch (e) {
            // Web Serial reports a lost device as a DOMException (NetworkError).
            controller.error(
              new DOMException(e instanceof Error ? e.message : String(e), "NetworkError"),
            );
            return;
          }
          if (stopped) return; // cancelled while reading: the stream is gone
          if (chunk) {
            controller.enqueue(chunk);
            return;
          }
        }
      },
      cancel: () => {
        stopped = true;
      },
    }, { highWaterMark: 0 });
    this.#writable = new WritableStream<Uint8Array>({
      write: (chunk) => t.write(chunk),
    });
    this.#open = true;
  }

  /** Change the baud rate in place (the optional capability esptool-js prefers to reopening). */
  async setBaudRate(baudRate: number): Promise<void> {
    await this.#transport.setBaud(baudRate);
  }

  /** Drive DTR / RTS. Ports without modem lines ignore the request (as a browser's CDC port would). */
  async setSignals(signals: WebSerialOutputSignals): Promise<void> {
    const s: { dtr?: boolean; rts?: boolean } = {};
    if (signals.dataTerminalReady !== undefined) {
      s.dtr = this.#signals.dataTerminalReady = signals.dataTerminalReady;
    }
    if (signals.requestToSend !== undefined) {
      s.rts = this.#signals.requestToSend = signals.requestToSend;
    }
    try {
      await this.#transport.setSignals(s);
    } catch (e) {
      if (!(e instanceof EsplineError && e.code === "E_NO_MODEM_LINES")) throw e;
    }
  }

  /** Input signals (not wired: reported as inactive). */
  getSignals(): Promise<
    {
      dataCarrierDetect: boolean;
      clearToSend: boolean;
      ringIndicator: boolean;
      dataSetReady: boolean;
    }
  > {
    return Promise.resolve({
      dataCarrierDetect: false,
      clearToSend: false,
      ringIndicator: false,
      dataSetReady: false,
    });
  }

  /** USB ids from the transport. */
  getInfo(): WebSerialPortInfo {
    const info: WebSerialPortInfo = {};
    if (this.#transport.info.vid !== undefined) info.usbVendorId = this.#transport.info.vid;
    if (this.#transport.info.pid !== undefined) info.usbProductId = this.#transport.info.pid;
    return info;
  }

  /** Close the streams (the transport stays open for a later `open()`). */
  async close(): Promise<void> {
    if (!this.#open) return;
    if (this.#readable?.locked || this.#writable?.locked) {
      throw new DOMException(
        "a stream is locked: release the reader and writer first",
        "InvalidStateError",
      );
    }
    await this.#readable?.cancel().catch(() => {});
    await this.#writable?.close().catch(() => {});
    this.#readable = null;
    this.#writable = null;
    this.#open = false;
  }

  /** Release the port for good (closes the transport). */
  async forget(): Promise<void> {
    if (this.#forgotten) return;
    if (this.#open) {
      await this.#readable?.cancel().catch(() => {});
      this.#readable = null;
      this.#writable = null;
      this.#open = false;
    }
    this.#forgotten = true;
    if (this.#options.closeTransportOnForget ?? true) await this.#transport.close();
  }
}

/**
 * Expose `transport` as a Web Serial `SerialPort`.
 *
 * @example
 * ```ts
 * import { toWebSerialPort } from "./webserial.ts";
 * import { openTransport } from "./open.ts";
 * const port = toWebSerialPort(await openTransport("sim://esp32"));
 * await port.open({ baudRate: 115200 });
 * const reader = port.readable!.getReader();
 * const { value } = await reader.read(); // the ROM's boot banner
 * reader.releaseLock();
 * await port.forget();
 * ```
 */
export function toWebSerialPort(
  transport: Transport,
  options: ToWebSerialOptions = {},
): WebSerialPort {
  return new WebSerialPort(transport, options);
}
