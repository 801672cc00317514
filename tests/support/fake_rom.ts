/**
 * A small in-memory stand-in for the genuine ESP32 ROM loader's habits on the
 * wire, as seen on Espressif's ROM code in the emulator (../shared/emulator):
 *
 * - SYNC is answered eight times;
 * - an unsupported command is answered with the previous answer's header
 *   (opcode and value) and the status `01 05`, repeated as many times as the
 *   previous command was answered (eight right after SYNC);
 * - answers can be delayed (an answer that misses its timeout arrives late);
 * - a baud change can be followed by junk, spread over time.
 *
 * It is a test fake for the loader session, not a model of the chip: the
 * virtual chip (lib/sim) is that.
 *
 * @module
 */

import { SlipDecoder, slipEncode } from "../../lib/protocol/slip.ts";
import { concatBytes } from "../../lib/protocol/packet.ts";
import type { Transport } from "../../lib/transport/transport.ts";

/** Options for {@link FakeRom}. */
export interface FakeRomOptions {
  /** Register values READ_REG answers with (others read as 0). */
  regs?: Map<number, number>;
  /** Delay every answer to this opcode by this many ms. */
  delayMs?: Map<number, number>;
  /** After the CHANGE_BAUDRATE answer: these byte runs, each `everyMs` apart. */
  baudJunk?: { runs: Uint8Array[]; everyMs: number };
  /** Gap between the eight SYNC answers, ms. Default 0. */
  syncGapMs?: number;
}

interface Pending {
  due: number;
  bytes: Uint8Array;
}

/** The ESP32 ROM's answer status for an unsupported command (failure, reason 0x05, two reserved bytes). */
const INVALID = [0x01, 0x05, 0x00, 0x00];
/** The ROM's SYNC answer value (seen on the ESP32 ROM). */
const SYNC_VALUE = 0x20120707;

/** A Transport whose far end behaves like the ESP32 ROM loader in the ways listed above. */
export class FakeRom implements Transport {
  readonly path = "fake://esp32-rom";
  readonly info = { path: "fake://esp32-rom" };
  baud = 115200;
  /** Delay every answer to an opcode by this many ms (settable while running). */
  delayMs: Map<number, number>;
  /** Per opcode, failure reasons to answer with (status `01 REASON`) before answering normally. */
  readonly failures: Map<number, number[]> = new Map();
  /** Opcodes of the requests received, in order. */
  readonly requests: number[] = [];
  #decoder = new SlipDecoder();
  #out: Pending[] = [];
  #lastHeader = { op: 0x08, value: SYNC_VALUE };
  #lastCount = 1;
  #options: FakeRomOptions;

  /** Create the fake. */
  constructor(options: FakeRomOptions = {}) {
    this.#options = options;
    this.delayMs = options.delayMs ?? new Map();
  }

  #answer(op: number, value: number, status: number[], count: number, delayMs: number): void {
    const frame = new Uint8Array(8 + status.length);
    const v = new DataView(frame.buffer);
    frame[0] = 0x01;
    frame[1] = op;
    v.setUint16(2, status.length, true);
    v.setUint32(4, value >>> 0, true);
    frame.set(status, 8);
    const now = Date.now();
    for (let i = 0; i < count; i++) {
      this.#out.push({
        due: now + delayMs + i * (op === 0x08 ? this.#options.syncGapMs ?? 0 : 0),
        bytes: slipEncode(frame),
      });
    }
    this.#lastHeader = { op, value };
    this.#lastCount = count;
  }

  #handle(frame: Uint8Array): void {
    if (frame.length < 8 || frame[0] !== 0x00) return;
    const op = frame[1];
    const data = frame.subarray(8);
    this.requests.push(op);
    const delayMs = this.delayMs.get(op) ?? 0;
    const ok = [0, 0, 0, 0];
    const failure = this.failures.get(op)?.shift();
    if (failure !== undefined) {
      this.#answer(op, 0, [0x01, failure, 0, 0], 1, delayMs);
      return;
    }
    switch (op) {
      case 0x08: // SYNC
        this.#answer(op, SYNC_VALUE, ok, 8, delayMs);
        return;
      case 0x0a: { // READ_REG
        const addr = new DataView(data.buffer, data.byteOffset).getUint32(0, true);
        this.#answer(op, this.#options.regs?.get(addr) ?? 0, ok, 1, delayMs);
        return;
      }
      case 0x06: // MEM_END: the answer, then the uploaded stub's greeting
        this.#answer(op, 0, ok, 1, delayMs);
        this.#out.push({
          due: Date.now() + delayMs + 1,
          bytes: slipEncode(new TextEncoder().encode("OHAI")),
        });
        return;
      case 0x05: // MEM_BEGIN
      case 0x07: // MEM_DATA
      case 0x09: // WRITE_REG
      case 0x02: // FLASH_BEGIN
      case 0x03: // FLASH_DATA
      case 0x0d: // SPI_ATTACH
      case 0x0b: // SPI_SET_PARAMS
        this.#answer(op, 0, ok, 1, delayMs);
        return;
      case 0x0f: { // CHANGE_BAUDRATE
        this.#answer(op, 0, ok, 1, delayMs);
        const junk = this.#options.baudJunk;
        if (junk) {
          const start = Date.now() + delayMs;
          junk.runs.forEach((bytes, i) =>
            this.#out.push({ due: start + (i + 1) * junk.everyMs, bytes })
          );
        }
        return;
      }
      default: {
        // Unsupported: the previous header with the "invalid message" status, repeated.
        const { op: lastOp, value } = this.#lastHeader;
        this.#answer(lastOp, value, INVALID, this.#lastCount, delayMs);
      }
    }
  }

  /** Bytes due by now, concatenated, or null. */
  #takeDue(): Uint8Array | null {
    const now = Date.now();
    this.#out.sort((a, b) => a.due - b.due);
    const due = [];
    while (this.#out.length && this.#out[0].due <= now) due.push(this.#out.shift()!.bytes);
    return due.length ? concatBytes(...due) : null;
  }

  /** Transport.read: the bytes that are due, waiting up to `timeoutMs` for some. */
  async read(timeoutMs: number): Promise<Uint8Array | null> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const got = this.#takeDue();
      if (got) return got;
      const next = this.#out.length ? Math.min(...this.#out.map((p) => p.due)) : Infinity;
      const wait = Math.min(end, next) - Date.now();
      if (Date.now() >= end) return null;
      await new Promise((r) => setTimeout(r, Math.max(1, Math.min(wait, 5))));
    }
  }

  /** Transport.write: requests are decoded and answered. */
  write(data: Uint8Array): Promise<void> {
    for (const f of this.#decoder.push(data)) this.#handle(f);
    return Promise.resolve();
  }

  /** Transport.setBaud. */
  setBaud(baud: number): Promise<void> {
    this.baud = baud;
    return Promise.resolve();
  }

  /** Transport.setSignals: no modem lines matter here. */
  setSignals(): Promise<void> {
    return Promise.resolve();
  }

  /** Transport.flushInput: drops what is due now (bytes still on their way stay). */
  flushInput(): Promise<void> {
    this.#takeDue();
    return Promise.resolve();
  }

  /** Transport.close. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
