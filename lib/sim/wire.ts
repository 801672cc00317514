/**
 * Line pacing between host and virtual chip: bytes take `len × 10 / baud`
 * seconds on the wire (8N1: start + 8 data + stop bits), plus a fixed
 * per-transfer latency (e.g. a USB frame), one direction per {@link PacedLink}.
 *
 * @module
 */

/** Bits per byte on an 8N1 UART line. */
export const BITS_PER_BYTE = 10;

/**
 * Milliseconds `bytes` bytes occupy a UART line at `baud`.
 *
 * @example
 * ```ts
 * import { wireTimeMs } from "./wire.ts";
 * wireTimeMs(1152, 115200); // 100
 * ```
 */
export function wireTimeMs(bytes: number, baud: number): number {
  return (bytes * BITS_PER_BYTE * 1000) / baud;
}

/** Options of a {@link PacedLink}. */
export interface PacedLinkOptions {
  /** Pace at the line baud; default false (deliver immediately). */
  pace?: boolean;
  /** Extra latency per transfer, ms; default 0. */
  latencyMs?: number;
  /** Current line baud (read per transfer). */
  baud: () => number;
}

/**
 * One direction of a paced line. Transfers keep their order; each is
 * delivered when the previous one has finished plus its own wire time and the
 * latency. Without pacing and latency, delivery is synchronous.
 */
export class PacedLink {
  readonly #opts: PacedLinkOptions;
  readonly #deliver: (bytes: Uint8Array) => void;
  #lineFreeAt = 0;
  #timers = new Map<ReturnType<typeof setTimeout>, () => void>();
  #closed = false;
  /** Sum of the delays computed so far, ms (for tests and benches). */
  totalDelayMs = 0;
  /** The delay computed for the latest transfer, ms. */
  lastDelayMs = 0;

  /** Create a link that hands bytes to `deliver`. */
  constructor(options: PacedLinkOptions, deliver: (bytes: Uint8Array) => void) {
    this.#opts = options;
    this.#deliver = deliver;
  }

  /** Delay a transfer of `bytes` bytes gets if sent at `now` (ms since epoch). */
  delayFor(bytes: number, now: number): number {
    const latency = this.#opts.latencyMs ?? 0;
    if (!this.#opts.pace) return latency;
    const start = Math.max(now, this.#lineFreeAt);
    return start - now + wireTimeMs(bytes, this.#opts.baud()) + latency;
  }

  /** Send `bytes`; resolves once delivered. */
  send(bytes: Uint8Array): Promise<void> {
    if (this.#closed) return Promise.resolve();
    const now = Date.now();
    const delay = this.delayFor(bytes.length, now);
    if (this.#opts.pace) {
      this.#lineFreeAt = Math.max(now, this.#lineFreeAt) +
        wireTimeMs(bytes.length, this.#opts.baud());
    }
    this.lastDelayMs = delay;
    this.totalDelayMs += delay;
    if (delay <= 0) {
      this.#deliver(bytes);
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const id = setTimeout(() => {
        this.#timers.delete(id);
        if (!this.#closed) this.#deliver(bytes);
        resolve();
      }, delay);
      this.#timers.set(id, resolve);
    });
  }

  /** Drop everything in flight. */
  close(): void {
    this.#closed = true;
    for (const [id, resolve] of this.#timers) {
      clearTimeout(id);
      resolve();
    }
    this.#timers.clear();
  }
}
