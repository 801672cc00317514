/**
 * Seeded fault injection for the virtual chip: the same seed replays the same
 * faults, so a failing run can be reproduced exactly.
 *
 * Two kinds of fault, two PRNG streams: the frame faults the virtual chip has
 * always had (corrupt, drop, stall, brown-out, disconnect) draw from the
 * seed's first stream exactly as before, so an old seed replays as it did;
 * the later ones (swap, framing damage, READ_REG answers, power cut during an
 * erase, obeyed command fields) draw from a second stream.
 *
 * @module
 */

/** Seeded fault injection settings (all probabilities default to 0). */
export interface FaultOptions {
  /** PRNG seed; the same seed and traffic give the same faults. */
  seed: number;
  /** Probability per frame (either direction) of flipping one bit of one byte. */
  corruptRate?: number;
  /** Probability per frame (either direction) of dropping it. */
  dropRate?: number;
  /** Probability per frame of a stall of `stallMs` before it is handled / delivered. */
  stallRate?: number;
  /** Probability per FLASH_DATA / FLASH_DEFL_DATA of a brown-out reset into download mode. */
  resetRate?: number;
  /**
   * Probability per frame of the board being unplugged: the port vanishes
   * (reads/writes reject with E_PORT_GONE) and the same board, flash as it
   * was left, answers when the port is opened again (a replug).
   */
  disconnectRate?: number;
  /**
   * Probability per frame of the board being swapped: the port vanishes and
   * another board of the same type (another MAC, its own factory flash)
   * answers when the port is opened again.
   */
  swapRate?: number;
  /**
   * Probability per frame (either direction, on the wire, SLIP framing
   * included) of framing damage: bytes inserted, bytes deleted, a burst of
   * garbage, or a broken SLIP escape.
   */
  framingRate?: number;
  /** Probability per READ_REG answer of one bit of its value flipped (the value has no checksum). */
  readRegRate?: number;
  /**
   * Probability per erase (ERASE_REGION, ERASE_FLASH, the ROM's FLASH_BEGIN)
   * of power lost part-way: some of its sectors erased, the chip back up in
   * download mode.
   */
  eraseCutRate?: number;
  /**
   * Probability per FLASH_BEGIN, FLASH_DEFL_BEGIN or ERASE_REGION of one bit
   * of its address or size flipped on the way in, and obeyed: these fields
   * carry no checksum, so the chip cannot tell.
   */
  commandFieldRate?: number;
  /**
   * Which frames a disconnect or swap may happen at: `frame`, any frame
   * either way (an unplug at any moment); `block`, only the host's
   * FLASH_DATA / FLASH_DEFL_DATA blocks (an unplug in the middle of a
   * write, where a resume must cope). Default `frame`.
   */
  vanishOn?: "frame" | "block";
  /** Stall length in ms; default 2000. */
  stallMs?: number;
}

/** Default stall length, ms. */
export const DEFAULT_STALL_MS = 2000;

/** Every kind of fault the injector counts. */
export const FAULT_KINDS = [
  "corrupt",
  "drop",
  "stall",
  "brownout",
  "disconnect",
  "swap",
  "insert",
  "delete",
  "burst",
  "escape",
  "readreg",
  "erasecut",
  "cmdfield",
] as const;

/** A kind of fault (see {@link FaultOptions}; `insert`, `delete`, `burst`, `escape` are framing damage). */
export type FaultKind = typeof FAULT_KINDS[number];

/** SLIP frame delimiter (RFC 1055 END). */
const SLIP_END = 0xc0;
/** SLIP escape byte (RFC 1055 ESC); only ESC_END (0xDC) and ESC_ESC (0xDD) may follow it. */
const SLIP_ESC = 0xdb;
/** Bytes framing damage likes to insert: the SLIP specials, as a noisy line makes them. */
const SPECIAL_BYTES = [SLIP_END, SLIP_ESC, 0xdc, 0xdd];
/** Opcodes (ROM loader / stub) whose address and size words the chip obeys unchecked. */
const OP_FLASH_BEGIN = 0x02;
const OP_FLASH_DEFL_BEGIN = 0x10;
const OP_ERASE_REGION = 0xd1;
const OP_READ_REG = 0x0a;
const OP_FLASH_DATA = 0x03;
const OP_FLASH_DEFL_DATA = 0x11;
/** Request header length: direction, opcode, length (2), checksum (4) (esptool docs, serial protocol). */
const REQUEST_HEADER = 8;
/** Where the address and size words sit in a request's data, by opcode (esptool docs, serial protocol). */
const OBEYED_FIELDS: Record<number, { address: number; size: number }> = {
  [OP_FLASH_BEGIN]: { size: 0, address: 12 },
  [OP_FLASH_DEFL_BEGIN]: { size: 0, address: 12 },
  [OP_ERASE_REGION]: { address: 0, size: 4 },
};
/** Seed offset of the second PRNG stream (the golden-ratio constant; any odd number would do). */
const SECOND_STREAM = 0x9e3779b9;

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

/** Which board answers when a vanished port is opened again. */
export type ComesBack = "same" | "other";

/** Draws per-frame fault decisions from a seeded PRNG. */
export class FaultInjector {
  readonly #opts: FaultOptions;
  readonly #rand: () => number;
  readonly #rand2: () => number;
  readonly #counts: Record<FaultKind, number>;

  /** Create an injector for `options`. */
  constructor(options: FaultOptions) {
    this.#opts = options;
    this.#rand = mulberry32(options.seed);
    this.#rand2 = mulberry32((options.seed + SECOND_STREAM) >>> 0);
    this.#counts = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<
      FaultKind,
      number
    >;
  }

  /** Faults injected so far, by kind. */
  get counts(): Readonly<Record<FaultKind, number>> {
    return this.#counts;
  }

  /** Faults injected so far, in all. */
  get total(): number {
    return FAULT_KINDS.reduce((n, k) => n + this.#counts[k], 0);
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

  /** Decide whether this flash data block triggers a brown-out reset (counted when it does). */
  brownOut(): boolean {
    const hit = this.#rand() < (this.#opts.resetRate ?? 0);
    if (hit) this.#counts.brownout++;
    return hit;
  }

  /**
   * Pass one frame (either direction) through the injector: the one place
   * where drop, corruption, stall, disconnect and swap are applied to a
   * payload.
   */
  pass(payload: Uint8Array): FrameOutcome {
    const fault = this.frame(payload.length);
    let swap = this.#chance(this.#opts.swapRate);
    if (this.#opts.vanishOn === "block") {
      // Drawn all the same, so the rest of the sequence does not depend on the setting.
      const block = payload[0] === 0x00 &&
        (payload[1] === OP_FLASH_DATA || payload[1] === OP_FLASH_DEFL_DATA);
      if (!block) {
        fault.disconnect = false;
        swap = false;
      }
    }
    if (fault.disconnect) {
      this.#counts.disconnect++;
      return { kind: "gone", comesBack: "same", injected: 1 };
    }
    if (swap) {
      this.#counts.swap++;
      return { kind: "gone", comesBack: "other", injected: 1 };
    }
    if (fault.drop) {
      this.#counts.drop++;
      return { kind: "dropped", injected: 1 };
    }
    let injected = 0;
    let out = payload;
    if (fault.corruptAt >= 0) {
      injected++;
      this.#counts.corrupt++;
      out = payload.slice();
      out[fault.corruptAt] ^= fault.corruptMask;
    }
    if (fault.stallMs > 0) {
      injected++;
      this.#counts.stall++;
    }
    return { kind: "pass", payload: out, stallMs: fault.stallMs, injected };
  }

  /**
   * Framing damage to bytes on the wire (a whole SLIP frame, or a chunk the
   * host wrote): returns them unchanged, or with bytes inserted or deleted, a
   * burst of garbage, or a broken escape. `injected` is 1 when damaged.
   */
  wire(bytes: Uint8Array): { bytes: Uint8Array; injected: number } {
    if (!this.#chance(this.#opts.framingRate) || bytes.length === 0) {
      return { bytes, injected: 0 };
    }
    const r = this.#rand2;
    const int = (n: number) => Math.floor(r() * n);
    const data = Array.from(bytes);
    const at = int(data.length);
    const kind = (["insert", "delete", "burst", "escape"] as const)[int(4)];
    switch (kind) {
      case "insert": {
        const n = 1 + int(4);
        const added = Array.from({ length: n }, () => r() < 0.5 ? SPECIAL_BYTES[int(4)] : int(256));
        data.splice(at, 0, ...added);
        break;
      }
      case "delete":
        data.splice(at, 1 + int(4));
        break;
      case "burst": {
        const n = 2 + int(15);
        for (let i = at; i < Math.min(data.length, at + n); i++) data[i] = int(256);
        break;
      }
      case "escape": {
        // An escape followed by a byte that is neither ESC_END nor ESC_ESC.
        let bad = int(256);
        while (bad === 0xdc || bad === 0xdd) bad = int(256);
        const esc = data.indexOf(SLIP_ESC, at);
        if (esc >= 0 && esc + 1 < data.length) data[esc + 1] = bad;
        else data.splice(Math.max(1, at), 0, SLIP_ESC, bad);
        break;
      }
    }
    this.#counts[kind]++;
    return { bytes: Uint8Array.from(data), injected: 1 };
  }

  /**
   * A READ_REG answer (`payload` without SLIP) with, at `readRegRate`, one
   * bit of its value word flipped; other answers go through unchanged.
   */
  answer(payload: Uint8Array): { payload: Uint8Array; injected: number } {
    if (payload.length < 8 || payload[0] !== 0x01 || payload[1] !== OP_READ_REG) {
      return { payload, injected: 0 };
    }
    if (!this.#chance(this.#opts.readRegRate)) return { payload, injected: 0 };
    const bit = Math.floor(this.#rand2() * 32);
    const out = payload.slice();
    out[4 + (bit >> 3)] ^= 1 << (bit & 7);
    this.#counts.readreg++;
    return { payload: out, injected: 1 };
  }

  /**
   * A request (`payload` without SLIP) with, at `commandFieldRate`, one bit
   * of the address or size of a FLASH_BEGIN, FLASH_DEFL_BEGIN or
   * ERASE_REGION flipped; other requests go through unchanged.
   */
  command(payload: Uint8Array): { payload: Uint8Array; injected: number } {
    const fields = payload[0] === 0x00 ? OBEYED_FIELDS[payload[1]] : undefined;
    if (!fields) return { payload, injected: 0 };
    if (!this.#chance(this.#opts.commandFieldRate)) return { payload, injected: 0 };
    const bit = Math.floor(this.#rand2() * 64);
    const word = REQUEST_HEADER + (bit < 32 ? fields.address : fields.size);
    const at = word + ((bit & 31) >> 3);
    if (at >= payload.length) return { payload, injected: 0 };
    const out = payload.slice();
    out[at] ^= 1 << (bit & 7);
    this.#counts.cmdfield++;
    return { payload: out, injected: 1 };
  }

  /**
   * An erase of `sectors` sectors: null when it goes through, else how many
   * of them are erased before the power goes (0 … sectors-1).
   */
  eraseCut(sectors: number): number | null {
    if (!this.#chance(this.#opts.eraseCutRate)) return null;
    this.#counts.erasecut++;
    return Math.floor(this.#rand2() * Math.max(1, sectors));
  }

  /** One draw from the second stream against `rate` (no draw when the rate is 0 or unset). */
  #chance(rate: number | undefined): boolean {
    if (!rate) return false;
    return this.#rand2() < rate;
  }
}

/** What became of a frame that went through {@link FaultInjector.pass}. */
export type FrameOutcome =
  /** The port vanished at this frame; `comesBack` says which board answers when it is opened again. */
  | { kind: "gone"; comesBack: ComesBack; injected: number }
  /** The frame was lost. */
  | { kind: "dropped"; injected: number }
  /** The frame goes on (possibly corrupted), after `stallMs` (0: at once). */
  | { kind: "pass"; payload: Uint8Array; stallMs: number; injected: number };
