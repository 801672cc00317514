/**
 * Seeded fault injection for the virtual chip: the same seed replays the same
 * faults, so a failing run can be reproduced exactly.
 *
 * @module
 */

/** Seeded fault injection settings (all probabilities default to 0). */
export interface FaultOptions {
  /** PRNG seed; the same seed and traffic give the same faults. */
  seed: number;
  /** Probability per frame (either direction) of flipping one byte. */
  corruptRate?: number;
  /** Probability per frame (either direction) of dropping it. */
  dropRate?: number;
  /** Probability per frame of a stall of `stallMs` before it is handled / delivered. */
  stallRate?: number;
  /** Probability per FLASH_DATA / FLASH_DEFL_DATA of a brown-out reset into download mode. */
  resetRate?: number;
  /** Probability per frame of the port vanishing (reads/writes reject with E_PORT_GONE). */
  disconnectRate?: number;
  /** Stall length in ms; default 2000. */
  stallMs?: number;
}

/** Default stall length, ms. */
export const DEFAULT_STALL_MS = 2000;

/**
 * mulberry32: a tiny 32-bit PRNG (public-domain algorithm by Tommy Ettinger),
 * written here because no built-in PRNG takes a seed.
 *
 * @example
 * ```ts
 * import { mulberry32 } from "./faults.ts";
 * const next = mulberry32(7);
 * next(); // same sequence for seed 7 on every run
 * ```
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What to do with one frame. */
export interface FrameFault {
  /** Drop the frame entirely. */
  drop: boolean;
  /** Index of a byte to flip (XOR 0xFF... of one bit), or -1. */
  corruptAt: number;
  /** Bit mask to XOR into the corrupted byte. */
  corruptMask: number;
  /** Delay before handling/delivery, ms (0 = none). */
  stallMs: number;
  /** The port vanishes at this frame. */
  disconnect: boolean;
}

/** Draws per-frame fault decisions from a seeded PRNG. */
export class FaultInjector {
  readonly #opts: FaultOptions;
  readonly #rand: () => number;

  /** Create an injector for `options`. */
  constructor(options: FaultOptions) {
    this.#opts = options;
    this.#rand = mulberry32(options.seed);
  }

  /** Decide the fate of a frame of `length` bytes. Draws a fixed number of values per call. */
  frame(length: number): FrameFault {
    const r = this.#rand;
    const disconnect = r() < (this.#opts.disconnectRate ?? 0);
    const drop = r() < (this.#opts.dropRate ?? 0);
    const corrupt = r() < (this.#opts.corruptRate ?? 0);
    const pos = Math.floor(r() * Math.max(1, length));
    const bit = 1 << Math.floor(r() * 8);
    const stall = r() < (this.#opts.stallRate ?? 0);
    return {
      drop,
      corruptAt: corrupt && length > 0 ? pos : -1,
      corruptMask: bit,
      stallMs: stall ? (this.#opts.stallMs ?? DEFAULT_STALL_MS) : 0,
      disconnect,
    };
  }

  /** Decide whether this flash data block triggers a brown-out reset. */
  brownOut(): boolean {
    return this.#rand() < (this.#opts.resetRate ?? 0);
  }

  /**
   * Pass one frame (either direction) through the injector: the one place
   * where drop, corruption, stall and disconnect are applied to a payload.
   */
  pass(payload: Uint8Array): FrameOutcome {
    const fault = this.frame(payload.length);
    if (fault.disconnect) return { kind: "gone", injected: 1 };
    if (fault.drop) return { kind: "dropped", injected: 1 };
    let injected = 0;
    let out = payload;
    if (fault.corruptAt >= 0) {
      injected++;
      out = payload.slice();
      out[fault.corruptAt] ^= fault.corruptMask;
    }
    if (fault.stallMs > 0) injected++;
    return { kind: "pass", payload: out, stallMs: fault.stallMs, injected };
  }
}

/** What became of a frame that went through {@link FaultInjector.pass}. */
export type FrameOutcome =
  /** The port vanished at this frame. */
  | { kind: "gone"; injected: number }
  /** The frame was lost. */
  | { kind: "dropped"; injected: number }
  /** The frame goes on (possibly corrupted), after `stallMs` (0: at once). */
  | { kind: "pass"; payload: Uint8Array; stallMs: number; injected: number };
