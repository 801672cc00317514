/**
 * SLIP framing (RFC 1055) as the Espressif ROM loader and flasher stub use it:
 * every packet is wrapped in 0xC0 bytes, with 0xC0 escaped as 0xDB 0xDC and
 * 0xDB escaped as 0xDB 0xDD.
 *
 * The decoder is streaming: bytes arrive in arbitrary chunks, and whatever
 * arrives between frames (the ROM's boot banner, application log output) is
 * kept apart as "noise" so the loader can look at boot messages.
 *
 * @module
 */

/** Frame delimiter (RFC 1055 END). */
export const SLIP_END = 0xc0;
/** Escape byte (RFC 1055 ESC). */
export const SLIP_ESC = 0xdb;
/** Escaped END (ESC_END). */
export const SLIP_ESC_END = 0xdc;
/** Escaped ESC (ESC_ESC). */
export const SLIP_ESC_ESC = 0xdd;

/** Wrap `payload` in a SLIP frame. */
export function slipEncode(payload: Uint8Array): Uint8Array {
  let extra = 0;
  for (const b of payload) if (b === SLIP_END || b === SLIP_ESC) extra++;
  const out = new Uint8Array(payload.length + extra + 2);
  let j = 0;
  out[j++] = SLIP_END;
  for (const b of payload) {
    if (b === SLIP_END) {
      out[j++] = SLIP_ESC;
      out[j++] = SLIP_ESC_END;
    } else if (b === SLIP_ESC) {
      out[j++] = SLIP_ESC;
      out[j++] = SLIP_ESC_ESC;
    } else {
      out[j++] = b;
    }
  }
  out[j++] = SLIP_END;
  return out;
}

/** Limits for {@link SlipDecoder}. */
export interface SlipDecoderOptions {
  /** Largest frame accepted; longer ones are dropped and counted as bad. Default 64 KiB + 64. */
  maxFrame?: number;
  /** Most noise bytes kept between reads of {@link SlipDecoder.takeNoise}. Default 4096. */
  maxNoise?: number;
}

/**
 * Streaming SLIP decoder.
 *
 * Feed it chunks with {@link SlipDecoder.push}; it returns the complete frames
 * found so far. An invalid escape sequence spoils only the frame it is in
 * (the frame is dropped and counted in `badFrames`), never the stream.
 *
 * Because the ROM never sends a frame that starts without a preceding 0xC0,
 * bytes outside frames are collected as noise (boot messages) until a 0xC0
 * opens a frame.
 */
export class SlipDecoder {
  #buf: number[] = [];
  #inFrame = false;
  #escape = false;
  #broken = false;
  #noise: number[] = [];
  #maxFrame: number;
  #maxNoise: number;
  /** Frames dropped because of a bad escape or excess length. */
  badFrames = 0;

  /** Create a decoder. */
  constructor(options: SlipDecoderOptions = {}) {
    this.#maxFrame = options.maxFrame ?? 0x10000 + 64;
    this.#maxNoise = options.maxNoise ?? 4096;
  }

  /** Feed bytes; returns the frames completed by them (possibly none). */
  push(chunk: Uint8Array): Uint8Array[] {
    const frames: Uint8Array[] = [];
    for (const b of chunk) {
      if (!this.#inFrame) {
        if (b === SLIP_END) {
          this.#inFrame = true;
          this.#buf = [];
          this.#escape = false;
          this.#broken = false;
        } else {
          this.#noise.push(b);
          if (this.#noise.length > this.#maxNoise) this.#noise.shift();
        }
        continue;
      }
      if (b === SLIP_END) {
        if (this.#escape) this.#broken = true;
        if (this.#buf.length === 0 && !this.#broken) {
          // Two delimiters in a row: the second one opens the next frame.
          continue;
        }
        if (this.#broken) this.badFrames++;
        else frames.push(Uint8Array.from(this.#buf));
        this.#inFrame = false;
        this.#buf = [];
        this.#escape = false;
        this.#broken = false;
        continue;
      }
      if (this.#broken) continue;
      if (this.#escape) {
        this.#escape = false;
        if (b === SLIP_ESC_END) this.#buf.push(SLIP_END);
        else if (b === SLIP_ESC_ESC) this.#buf.push(SLIP_ESC);
        else this.#broken = true;
      } else if (b === SLIP_ESC) {
        this.#escape = true;
      } else {
        this.#buf.push(b);
      }
      if (this.#buf.length > this.#maxFrame) this.#broken = true;
    }
    return frames;
  }

  /** Bytes seen outside frames since the last call (boot banner, app output). */
  takeNoise(): Uint8Array {
    const out = Uint8Array.from(this.#noise);
    this.#noise = [];
    return out;
  }

  /** Forget any partial frame and noise (after a flush of the port). */
  reset(): void {
    this.#buf = [];
    this.#inFrame = false;
    this.#escape = false;
    this.#broken = false;
    this.#noise = [];
  }
}
