/**
 * Test helpers for the virtual chip's tests: a host-side SLIP codec written
 * independently of `slip.ts`, request builders and a frame collector.
 * Not part of the public API.
 *
 * @module
 */

import type { VirtualChip } from "../../lib/sim/virtual_chip.ts";

/** Host-side SLIP encoding (independent of the device's codec). */
export function hostSlip(payload: Uint8Array): Uint8Array {
  const out: number[] = [0xc0];
  for (const b of payload) {
    if (b === 0xc0) out.push(0xdb, 0xdc);
    else if (b === 0xdb) out.push(0xdb, 0xdd);
    else out.push(b);
  }
  out.push(0xc0);
  return Uint8Array.from(out);
}

/** Little-endian words to bytes. */
export function words(...ws: number[]): Uint8Array {
  const out = new Uint8Array(ws.length * 4);
  const dv = new DataView(out.buffer);
  ws.forEach((w, i) => dv.setUint32(i * 4, w >>> 0, true));
  return out;
}

/** Concatenate byte arrays. */
export function cat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** XOR checksum seeded with 0xEF. */
export function checksum(data: Uint8Array): number {
  let c = 0xef;
  for (const b of data) c ^= b;
  return c;
}

/** Build a request packet (direction 0, op, length, checksum word, data), SLIP-framed. */
export function request(op: number, data: Uint8Array = new Uint8Array(0), chk = 0): Uint8Array {
  const head = new Uint8Array(8);
  const dv = new DataView(head.buffer);
  head[0] = 0;
  head[1] = op;
  dv.setUint16(2, data.length, true);
  dv.setUint32(4, chk >>> 0, true);
  return hostSlip(cat(head, data));
}

/** A decoded response. */
export interface Resp {
  op: number;
  value: number;
  data: Uint8Array;
}

/** Collects raw bytes and SLIP frames the chip transmits. */
export class Collector {
  raw: number[] = [];
  frames: Uint8Array[] = [];
  #cur: number[] | null = null;
  #esc = false;
  readonly off: () => void;

  constructor(chip: VirtualChip) {
    this.off = chip.onTransmit((bytes) => this.#push(bytes));
  }

  #push(bytes: Uint8Array): void {
    for (const b of bytes) {
      this.raw.push(b);
      if (this.#cur === null) {
        if (b === 0xc0) this.#cur = [];
        continue;
      }
      if (b === 0xc0) {
        if (this.#cur.length) this.frames.push(Uint8Array.from(this.#cur));
        this.#cur = [];
      } else if (this.#esc) {
        this.#cur.push(b === 0xdc ? 0xc0 : b === 0xdd ? 0xdb : b);
        this.#esc = false;
      } else if (b === 0xdb) this.#esc = true;
      else this.#cur.push(b);
    }
  }

  /** Raw bytes as latin-1 text. */
  text(): string {
    return String.fromCharCode(...this.raw);
  }

  /** Take all frames collected so far as responses. */
  take(): Resp[] {
    const fs = this.frames;
    this.frames = [];
    return fs.map((f) => ({
      op: f[1],
      value: f.length >= 8 ? new DataView(f.buffer, f.byteOffset).getUint32(4, true) : -1,
      data: f.subarray(8),
      dir: f[0],
    }));
  }

  /** Take raw frames. */
  takeFrames(): Uint8Array[] {
    const fs = this.frames;
    this.frames = [];
    return fs;
  }

  /** Forget collected bytes. */
  clear(): void {
    this.raw = [];
    this.frames = [];
  }
}

/** Send one request and return the responses it produced (synchronous chip without timing). */
export function transact(
  chip: VirtualChip,
  col: Collector,
  op: number,
  data?: Uint8Array,
  chk?: number,
): Resp[] {
  col.take();
  chip.receive(request(op, data, chk));
  return col.take();
}

/** Sleep. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Everything a TCP peer sends, gathered by one reader (never two reads in flight). */
export interface Gathered {
  /** Bytes received and not taken yet. */
  peek(): Uint8Array;
  /** Take the bytes received so far. */
  take(): Uint8Array;
  /** When the last byte arrived (ms since epoch). */
  readonly lastAt: number;
  /** Settles when the peer closes or the connection fails. */
  readonly done: Promise<void>;
}

/** Start gathering what `conn` receives. */
export function gather(conn: Deno.Conn): Gathered {
  let acc: number[] = [];
  let lastAt = Date.now();
  const done = (async () => {
    const buf = new Uint8Array(65536);
    try {
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) break;
        for (let i = 0; i < n; i++) acc.push(buf[i]);
        lastAt = Date.now();
      }
    } catch { /* closed */ }
  })();
  return {
    peek: () => Uint8Array.from(acc),
    take() {
      const out = Uint8Array.from(acc);
      acc = [];
      return out;
    },
    get lastAt() {
      return lastAt;
    },
    done,
  };
}
