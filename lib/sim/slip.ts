/**
 * The device side's own SLIP codec (RFC 1055 framing as the Espressif ROM
 * loader uses it). Written by hand because the virtual chip must not share
 * code with the client's protocol layer: two independent readings of the
 * same framing catch each other's mistakes.
 *
 * @module
 */

/** Frame delimiter (RFC 1055 END). */
export const SLIP_END = 0xc0;
/** Escape byte (RFC 1055 ESC). */
export const SLIP_ESC = 0xdb;
/** Escaped form of END after ESC. */
export const SLIP_ESC_END = 0xdc;
/** Escaped form of ESC after ESC. */
export const SLIP_ESC_ESC = 0xdd;

/**
 * Wrap `payload` in a SLIP frame: `C0`, escaped payload, `C0`.
 *
 * @example
 * ```ts
 * import { slipEncode } from "./slip.ts";
 * slipEncode(new Uint8Array([0xc0])); // C0 DB DC C0
 * ```
 */
export function slipEncode(payload: Uint8Array): Uint8Array {
  let extra = 0;
  for (const b of payload) if (b === SLIP_END || b === SLIP_ESC) extra++;
  const out = new Uint8Array(payload.length + extra + 2);
  let o = 0;
  out[o++] = SLIP_END;
  for (const b of payload) {
    if (b === SLIP_END) {
      out[o++] = SLIP_ESC;
      out[o++] = SLIP_ESC_END;
    } else if (b === SLIP_ESC) {
      out[o++] = SLIP_ESC;
      out[o++] = SLIP_ESC_ESC;
    } else {
      out[o++] = b;
    }
  }
  out[o++] = SLIP_END;
  return out;
}

/** What a {@link SlipDecoder} reports for each delimiter-closed frame. */
export interface SlipFrame {
  /** Unescaped frame body. */
  payload: Uint8Array;
  /** True when the frame held an escape byte followed by something other than DC/DD. */
  badEscape: boolean;
}

/** Options of a {@link SlipDecoder}. */
export interface SlipDecoderOptions {
  /**
   * After a frame's closing `C0`, wait for a new opening `C0` (bytes in
   * between are dropped), as the ROM loader reads frames; default false (the
   * closing `C0` also opens the next frame).
   */
  idleAfterFrame?: boolean;
}

/**
 * Streaming SLIP decoder. Bytes outside frames (boot noise, garbage from a
 * baud mismatch) are skipped; a frame starts at a `C0` and ends at the next
 * `C0`. Back-to-back delimiters (`C0 C0`) yield no empty frames.
 *
 * @example
 * ```ts
 * import { SlipDecoder } from "./slip.ts";
 * const d = new SlipDecoder();
 * d.push(new Uint8Array([0x41, 0xc0, 0x01, 0xdb, 0xdc, 0xc0])); // [{ payload: 01 C0 }]
 * ```
 */
export class SlipDecoder {
  readonly #idleAfterFrame: boolean;
  #inFrame = false;
  #escape = false;
  #badEscape = false;
  #buf: number[] = [];

  /** Create a decoder. */
  constructor(options: SlipDecoderOptions = {}) {
    this.#idleAfterFrame = options.idleAfterFrame === true;
  }

  /** Feed received bytes; returns every frame completed by them. */
  push(bytes: Uint8Array): SlipFrame[] {
    const frames: SlipFrame[] = [];
    for (const b of bytes) {
      if (!this.#inFrame) {
        if (b === SLIP_END) this.#start();
        continue;
      }
      if (b === SLIP_END) {
        if (this.#buf.length > 0) {
          frames.push({ payload: Uint8Array.from(this.#buf), badEscape: this.#badEscape });
          if (this.#idleAfterFrame) {
            this.reset();
            continue;
          }
        }
        this.#start();
        continue;
      }
      if (this.#escape) {
        this.#escape = false;
        if (b === SLIP_ESC_END) this.#buf.push(SLIP_END);
        else if (b === SLIP_ESC_ESC) this.#buf.push(SLIP_ESC);
        else {
          this.#badEscape = true;
          this.#buf.push(b);
        }
      } else if (b === SLIP_ESC) {
        this.#escape = true;
      } else {
        this.#buf.push(b);
      }
    }
    return frames;
  }

  /** Forget any partial frame (used on chip reset). */
  reset(): void {
    this.#inFrame = false;
    this.#escape = false;
    this.#badEscape = false;
    this.#buf = [];
  }

  /** True while bytes of an unfinished frame are buffered. */
  get inFrame(): boolean {
    return this.#inFrame && this.#buf.length > 0;
  }

  #start(): void {
    this.#inFrame = true;
    this.#escape = false;
    this.#badEscape = false;
    this.#buf = [];
  }
}
