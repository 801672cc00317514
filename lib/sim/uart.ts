/**
 * The chip's UART as the host sees it: its speed (autobaud in the ROM,
 * CHANGE_BAUDRATE later), what a receiver at the wrong speed makes of the
 * bytes (garbage, never a SLIP delimiter), TX listeners, and a TX hold that
 * models a stalled line. Pacing on the wire is `wire.ts`'s job.
 *
 * @module
 */

import { ROM_DEFAULT_BAUD } from "./protocol.ts";

/** Relative baud mismatch beyond which UART bytes are garbled. */
export const BAUD_TOLERANCE = 0.04;

/** True when two UART speeds differ by more than {@link BAUD_TOLERANCE}. */
export function baudMismatch(a: number, b: number): boolean {
  return Math.abs(a - b) / Math.max(1, b) > BAUD_TOLERANCE;
}

/** What a receiver at the wrong baud makes of `bytes`: deterministic garbage that never contains 0xC0. */
export function garble(bytes: Uint8Array, senderBaud: number, receiverBaud: number): Uint8Array {
  const k = (Math.round((senderBaud * 16) / Math.max(1, receiverBaud)) & 0xff) | 1;
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    let v = ((bytes[i] * 0x9d) ^ (k * 0x3b) ^ (bytes[i] >> 3)) & 0xff;
    if (v === 0xc0) v = 0xe0;
    out[i] = v;
  }
  return out;
}

/** What the UART needs from the chip around it. */
export interface UartHost {
  /** Run `fn` after `ms`, unless the chip reboots or closes first. */
  schedule(ms: number, fn: () => void): void;
  /** True when nothing may leave the chip (closed, or the port vanished). */
  silent(): boolean;
}

/** The chip's UART0: speeds, RX garbling, TX listeners and stalls. */
export class Uart {
  /** The chip UART's speed. */
  baud = ROM_DEFAULT_BAUD;
  /** The speed the host's side of the line runs at. */
  hostBaud = ROM_DEFAULT_BAUD;
  /** The ROM's autobaud is still free to lock onto the host's speed. */
  autobaud = true;
  readonly #host: UartHost;
  readonly #listeners = new Set<(bytes: Uint8Array) => void>();
  #preListenerTx: Uint8Array[] = [];
  #held = false;
  #heldTx: { bytes: Uint8Array; baud: number }[] = [];

  /** Create the UART of a chip. */
  constructor(host: UartHost) {
    this.#host = host;
  }

  /** Subscribe to transmitted bytes (bytes sent before anyone listened are delivered now). */
  listen(listener: (bytes: Uint8Array) => void): () => void {
    this.#listeners.add(listener);
    if (this.#preListenerTx.length) {
      const held = this.#preListenerTx;
      this.#preListenerTx = [];
      for (const b of held) listener(b);
    }
    return () => this.#listeners.delete(listener);
  }

  /**
   * Bytes on the RX pin as the chip reads them: the ROM's autobaud (when
   * `autobaudActive`) locks onto the host's speed; otherwise a speed
   * mismatch garbles them.
   */
  rx(bytes: Uint8Array, autobaudActive: boolean): Uint8Array {
    if (autobaudActive && this.autobaud) {
      this.baud = this.hostBaud;
      return bytes;
    }
    return baudMismatch(this.hostBaud, this.baud) ? garble(bytes, this.hostBaud, this.baud) : bytes;
  }

  /** Transmit `bytes` at `baud` (garbled if the host listens at another speed). */
  tx(bytes: Uint8Array, baud: number): void {
    if (this.#host.silent()) return;
    if (this.#held) {
      this.#heldTx.push({ bytes, baud });
      return;
    }
    const out = baudMismatch(this.hostBaud, baud) ? garble(bytes, baud, this.hostBaud) : bytes;
    if (this.#listeners.size === 0) {
      this.#preListenerTx.push(out);
      return;
    }
    for (const l of this.#listeners) l(out);
  }

  /** Hold TX for `ms` (a stalled line); what is sent meanwhile goes out afterwards, in order. */
  hold(ms: number): void {
    if (this.#held) return;
    this.#held = true;
    this.#host.schedule(ms, () => {
      this.#held = false;
      const q = this.#heldTx;
      this.#heldTx = [];
      for (const { bytes, baud } of q) this.tx(bytes, baud);
    });
  }

  /** Forget a pending stall and what it held (the chip rebooted). */
  clearHold(): void {
    this.#held = false;
    this.#heldTx = [];
  }
}
