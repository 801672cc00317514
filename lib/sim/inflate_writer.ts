/**
 * Compressed flash writes as the ROM and the stubs do them: the zlib stream
 * is inflated into a 32 KiB window (miniz's tinfl dictionary), and the window
 * is written to flash when it is full or when the stream ends, not block by
 * block. So flash read back in the middle of a compressed write shows only
 * whole windows (recorded from the genuine ROMs: tests/fixtures/rom/).
 *
 * The end of the stream is seen where tinfl sees it: when the four bytes
 * received last are the Adler-32 of everything inflated so far.
 *
 * @module
 */

import { Unzlib } from "fflate";

/** tinfl's dictionary size (miniz TINFL_LZ_DICT_SIZE): the unit in which inflated data reaches flash. */
export const INFLATE_WINDOW = 32 * 1024;

/** Adler-32 modulus (RFC 1950). */
const ADLER_MOD = 65521;

/** An inflating writer for one FLASH_DEFL_* sequence. */
export class InflateWriter {
  readonly #inflater: Unzlib;
  #window: Uint8Array[] = [];
  #windowLen = 0;
  #a = 1;
  #b = 0;
  #tail: number[] = [];
  #done = false;
  #failed = false;

  /** Create a writer for a new compressed stream. */
  constructor() {
    this.#inflater = new Unzlib((chunk) => {
      this.#window.push(chunk);
      this.#windowLen += chunk.length;
      for (const byte of chunk) {
        this.#a = (this.#a + byte) % ADLER_MOD;
        this.#b = (this.#b + this.#a) % ADLER_MOD;
      }
    });
  }

  /** True once the whole zlib stream, checksum included, has arrived. */
  get done(): boolean {
    return this.#done;
  }

  /** True once the stream was found corrupt (it stays so). */
  get failed(): boolean {
    return this.#failed;
  }

  /**
   * Feed compressed bytes; returns the inflated bytes due for flash now
   * (whole windows, or everything when the stream ended). Throws on a
   * corrupt stream.
   */
  push(compressed: Uint8Array): Uint8Array[] {
    if (this.#failed) throw new Error("inflate error");
    if (this.#done) return [];
    try {
      this.#inflater.push(compressed, false);
    } catch (e) {
      this.#failed = true;
      throw e;
    }
    for (const b of compressed) {
      this.#tail.push(b);
      if (this.#tail.length > 4) this.#tail.shift();
    }
    const adler = ((this.#b << 16) | this.#a) >>> 0;
    const t = this.#tail;
    if (t.length === 4 && ((t[0] << 24) | (t[1] << 16) | (t[2] << 8) | t[3]) >>> 0 === adler) {
      this.#done = true;
    }
    return this.#take(this.#done);
  }

  /** Everything inflated and not yet written (at the end of a write). */
  flush(): Uint8Array[] {
    return this.#take(true);
  }

  #take(all: boolean): Uint8Array[] {
    if (this.#windowLen === 0) return [];
    const keep = all ? 0 : this.#windowLen % INFLATE_WINDOW;
    const out = this.#windowLen - keep;
    if (out === 0) return [];
    const joined = new Uint8Array(this.#windowLen);
    let o = 0;
    for (const c of this.#window) {
      joined.set(c, o);
      o += c.length;
    }
    this.#window = keep ? [joined.slice(out)] : [];
    this.#windowLen = keep;
    return [joined.subarray(0, out)];
  }
}
