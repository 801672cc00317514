/**
 * The ROM serial loader as Espressif's genuine mask ROMs run it, habits
 * included, as recorded from the ESP32 and ESP32-C3 ROMs in the emulator
 * (tests/conformance_rom_test.ts and tests/fixtures/rom/):
 *
 * - One receive buffer and one answer buffer, both reused: a request shorter
 *   than a command expects is completed by the previous request's bytes, and
 *   an answer's reserved status bytes and unused data bytes hold what earlier
 *   answers left there.
 * - The value word is only set by SYNC (the first data word) and READ_REG;
 *   every other answer repeats the last one.
 * - The error byte is only cleared by some commands (SYNC, READ_REG,
 *   WRITE_REG, SPI_ATTACH, SPI_FLASH_MD5, READ_FLASH_SLOW, CHANGE_BAUDRATE);
 *   the others answer success with the previous error code still there.
 * - An unsupported opcode is answered with status 1, error 0x05, the previous
 *   answer's opcode and value, as many times as the previous answer was sent
 *   (eight after a SYNC).
 * - The length field is mostly not checked: SYNC and READ_REG ignore it,
 *   WRITE_REG takes `length / 16` entries, FLASH_BEGIN wants exactly 16 bytes
 *   (ESP32) or 20 (later chips).
 * - FLASH_DATA / MEM_DATA: a wrong sequence number is "invalid message"; the
 *   expected number advances before the checksum is checked; data goes to a
 *   running write pointer, past the announced size too.
 * - A load from an unmapped address stops the chip (ESP32: silently; ESP32-C3:
 *   a Guru Meditation dump).
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { RomHabits } from "./chip_facts.ts";
import { InflateWriter } from "./inflate_writer.ts";
import type { LoaderHost } from "./loader_host.ts";
import { FLASH_SECTOR_SIZE } from "./nor_flash.ts";
import {
  type HandleResult,
  NO_DELAY,
  OP,
  putU32,
  ROM_ERR,
  ROM_READ_SLOW_MAX,
  SECURE_DOWNLOAD_OPS,
  securityInfoPayload,
  SYNC_RESPONSES,
  u32,
  xorChecksum,
} from "./protocol.ts";
import type { Registers } from "./registers.ts";

/** Size of the ROM's receive buffer, bytes (holds the largest MEM_DATA block esptool sends, 0x1800). */
export const ROM_RX_BUFFER = 0x2000;
/** Size of the ROM's answer buffer: header, 64 data bytes (READ_FLASH_SLOW), 4 status bytes. */
export const ROM_TX_BUFFER = 8 + 64 + 4;
/** The largest integer UART divider the ESP32-C3 ROM programs for rate 0 (genuine: UART_CLKDIV 0x00F00FFF). */
const SATURATED_DIVIDER = 0xfff;
/** Length of the SPI_FLASH_MD5 answer data: 32 hex characters. */
const MD5_HEX_LEN = 32;

/** Commands whose success clears the error byte (observed on the ESP32 and ESP32-C3 ROMs). */
const CLEARS_ERROR = new Set<number>([
  OP.SYNC,
  OP.READ_REG,
  OP.WRITE_REG,
  OP.SPI_ATTACH,
  OP.SPI_FLASH_MD5,
  OP.READ_FLASH_SLOW,
  OP.CHANGE_BAUDRATE,
]);

interface RomWrite {
  kind: "plain" | "defl";
  /** Where the next (inflated) byte goes. */
  pointer: number;
  blockSize: number;
  nextSeq: number;
  /** FLASH_DEFL_*: the stream being inflated (an inflate error sticks until the next begin). */
  inflate?: InflateWriter;
}

interface RomMemUpload {
  pointer: number;
  blockSize: number;
  nextSeq: number;
}

/** One uploaded RAM segment (MEM_BEGIN address and the bytes that arrived). */
export interface UploadedSegment {
  /** MEM_BEGIN address. */
  addr: number;
  /** Bytes written from that address on. */
  bytes: Uint8Array;
}

/** What the ROM loader needs besides the {@link LoaderHost}. */
export interface RomLoaderOptions {
  /** The chip's registers and memory. */
  registers: Registers;
  /** Called when MEM_END asks to run uploaded code (the loader is then gone). */
  run(segments: UploadedSegment[], entry: number): void;
  /**
   * Repeat an unsupported command's error answer as often as the previous
   * answer went out (eight times after SYNC), as the genuine ROM does.
   * Default true.
   */
  repeatErrors?: boolean;
}

/** The ROM loader of one download-mode boot. */
export class RomLoader {
  readonly #host: LoaderHost;
  readonly #habits: RomHabits;
  readonly #regs: Registers;
  readonly #opts: RomLoaderOptions;
  readonly #rx = new Uint8Array(ROM_RX_BUFFER);
  readonly #tx = new Uint8Array(ROM_TX_BUFFER);
  #op = 0;
  #value = 0;
  #error = 0;
  #repeat = 1;
  #attached = false;
  #flashSize: number;
  #write: RomWrite | null = null;
  #mem: RomMemUpload | null = null;
  #segments: UploadedSegment[] = [];
  #entry = 0;
  #dead = false;

  /** A fresh ROM loader (after a download-mode boot). */
  constructor(host: LoaderHost, options: RomLoaderOptions) {
    this.#host = host;
    this.#habits = host.facts.rom;
    this.#regs = options.registers;
    this.#opts = options;
    this.#flashSize = this.#habits.defaultFlashSize;
  }

  /** Handle one frame from the host. */
  handle(frame: Uint8Array): HandleResult {
    if (this.#dead || frame.length > ROM_RX_BUFFER) return NO_DELAY;
    const rx = this.#rx;
    rx.set(frame, 0);
    const op = rx[1];
    const size = rx[2] | (rx[3] << 8);
    const facts = this.#host.facts;
    if (rx[0] !== 0x00) return this.#unsupported();
    if (!facts.romOpcodes.has(op)) return this.#unsupported();
    if (this.#host.secureDownload && !SECURE_DOWNLOAD_OPS.has(op)) return this.#unsupported();
    this.#repeat = 1;
    switch (op) {
      case OP.SYNC:
        this.#value = u32(rx, 8);
        this.#repeat = SYNC_RESPONSES;
        return this.#ok(op);
      case OP.READ_REG: {
        const addr = u32(rx, 8);
        if (!this.#mapped(addr)) return this.#fault(addr);
        this.#value = this.#regs.read(addr);
        return this.#ok(op);
      }
      case OP.WRITE_REG:
        return this.#writeReg(Math.floor(size / 16));
      case OP.SPI_ATTACH:
        this.#attached = true;
        return this.#ok(op);
      case OP.SPI_SET_PARAMS:
        this.#flashSize = u32(rx, 12);
        return this.#ok(op);
      case OP.CHANGE_BAUDRATE:
        return this.#changeBaud();
      case OP.MEM_BEGIN:
        return this.#memBegin();
      case OP.MEM_DATA:
        return this.#memData(size);
      case OP.MEM_END:
        return this.#memEnd();
      case OP.FLASH_BEGIN:
      case OP.FLASH_DEFL_BEGIN:
        return this.#flashBegin(op, size);
      case OP.FLASH_DATA:
      case OP.FLASH_DEFL_DATA:
        return this.#flashData(op, size);
      case OP.FLASH_END:
      case OP.FLASH_DEFL_END:
        return this.#flashEnd(op);
      case OP.SPI_FLASH_MD5:
        return this.#md5();
      case OP.READ_FLASH_SLOW:
        return this.#readSlow();
      case OP.GET_SECURITY_INFO:
        return this.#securityInfo();
    }
    return this.#unsupported();
  }

  // ------------------------------------------------------------- answers

  /** Send the answer buffer: header, `dataLen` data bytes already in place, status. */
  #answer(op: number, dataLen: number, error: number): HandleResult {
    const tx = this.#tx;
    const statusBytes = this.#host.facts.romStatusBytes;
    this.#op = op;
    if (error) this.#error = error;
    else if (CLEARS_ERROR.has(op)) this.#error = 0;
    tx[0] = 0x01;
    tx[1] = op;
    const size = dataLen + statusBytes;
    tx[2] = size & 0xff;
    tx[3] = size >> 8;
    putU32(tx, 4, this.#value);
    tx[8 + dataLen] = error ? 1 : 0;
    tx[9 + dataLen] = this.#error;
    const frame = tx.slice(0, 8 + dataLen + statusBytes);
    for (let i = 0; i < this.#repeat; i++) this.#host.send(frame);
    return NO_DELAY;
  }

  #ok(op: number, dataLen = 0): HandleResult {
    return this.#answer(op, dataLen, 0);
  }

  #fail(op: number, error: number, dataLen = 0): HandleResult {
    return this.#answer(op, dataLen, error);
  }

  /** Unsupported opcode or bad direction byte: the previous answer's op and value, error 0x05. */
  #unsupported(): HandleResult {
    const repeat = this.#opts.repeatErrors === false ? 1 : this.#repeat;
    const saved = this.#repeat;
    this.#repeat = repeat;
    this.#answer(this.#op, 0, ROM_ERR.INVALID_MESSAGE);
    this.#repeat = saved;
    return NO_DELAY;
  }

  // ------------------------------------------------------------ registers

  #mapped(addr: number): boolean {
    const map = this.#habits.dataBus;
    if (!map) return true;
    return map.some(([start, end]) => addr >= start && addr + 3 <= end);
  }

  /** A load or store the bus refuses: the ROM's exception handler ends the loader. */
  #fault(addr: number): HandleResult {
    this.#dead = true;
    if (this.#habits.loadFault === "guru") this.#host.print(guruLoadFault(addr));
    this.#host.then({ kind: "halt" });
    return NO_DELAY;
  }

  #writeReg(entries: number): HandleResult {
    const rx = this.#rx;
    for (let i = 0; i < entries; i++) {
      const off = 8 + 16 * i;
      if (off + 16 > rx.length) break;
      const addr = u32(rx, off);
      const value = u32(rx, off + 4);
      const mask = u32(rx, off + 8);
      if (!this.#mapped(addr)) return this.#fault(addr);
      const word = mask === 0xffffffff
        ? value
        : ((this.#regs.read(addr) & ~mask) | (value & mask)) >>> 0;
      this.#regs.write(addr, word);
    }
    return this.#ok(OP.WRITE_REG);
  }

  #changeBaud(): HandleResult {
    const requested = u32(this.#rx, 8);
    if (requested === 0 && this.#habits.baudZero === "hang") {
      // The ROM divides by the requested rate: nothing more comes out.
      this.#dead = true;
      this.#host.then({ kind: "halt" });
      return NO_DELAY;
    }
    this.#ok(OP.CHANGE_BAUDRATE);
    // Rate 0 on a ROM that survives it: the divider saturates (12-bit integer part, all sixteenths).
    const baud = requested === 0
      ? Math.round((this.#host.crystalMhz * 1e6) / (SATURATED_DIVIDER + 15 / 16))
      : this.#host.facts.romBaudAfterChange(requested, this.#host.crystalMhz);
    this.#host.then({ kind: "baud", baud });
    return NO_DELAY;
  }

  // ------------------------------------------------------------ RAM upload

  #memBegin(): HandleResult {
    const rx = this.#rx;
    const blockSize = u32(rx, 16);
    const addr = u32(rx, 20);
    this.#mem = { pointer: addr, blockSize, nextSeq: 0 };
    this.#segments.push({ addr, bytes: new Uint8Array(0) });
    return this.#ok(OP.MEM_BEGIN);
  }

  #memData(size: number): HandleResult {
    const rx = this.#rx;
    let mem = this.#mem;
    if (!mem) {
      if (this.#habits.memDataBeforeBegin === "refuse") {
        return this.#fail(OP.MEM_DATA, ROM_ERR.INVALID_MESSAGE);
      }
      mem = this.#mem = { pointer: 0, blockSize: 0, nextSeq: 0 };
      this.#segments.push({ addr: 0, bytes: new Uint8Array(0) });
    }
    const seq = u32(rx, 12);
    if (seq !== mem.nextSeq) return this.#fail(OP.MEM_DATA, ROM_ERR.INVALID_MESSAGE);
    mem.nextSeq++;
    const payload = rx.subarray(24, 8 + Math.max(16, size));
    if ((xorChecksum(payload) & 0xff) !== (u32(rx, 4) & 0xff)) {
      return this.#fail(OP.MEM_DATA, ROM_ERR.INVALID_CRC);
    }
    this.#regs.writeBytes(mem.pointer, payload);
    const seg = this.#segments[this.#segments.length - 1];
    const grown = new Uint8Array(
      Math.max(seg.bytes.length, mem.pointer - seg.addr + payload.length),
    );
    grown.set(seg.bytes);
    grown.set(payload, mem.pointer - seg.addr);
    seg.bytes = grown;
    mem.pointer += payload.length;
    return this.#ok(OP.MEM_DATA);
  }

  #memEnd(): HandleResult {
    const rx = this.#rx;
    const noRun = u32(rx, 8);
    this.#entry = u32(rx, 12);
    this.#mem = null;
    this.#ok(OP.MEM_END);
    if (noRun === 0) {
      this.#dead = true;
      const segments = this.#segments;
      this.#segments = [];
      this.#opts.run(segments, this.#entry);
    }
    return NO_DELAY;
  }

  // ----------------------------------------------------------------- flash

  #needsAttach(): boolean {
    return !this.#host.facts.flashBeginAttaches && !this.#attached;
  }

  #flashBegin(op: number, size: number): HandleResult {
    const rx = this.#rx;
    const facts = this.#host.facts;
    const nor = this.#host.nor;
    if (size !== this.#habits.flashBeginWords * 4) {
      return this.#fail(op, ROM_ERR.INVALID_MESSAGE);
    }
    // Not the ROM's habit: see the conformance table (the sim wants SPI_ATTACH first).
    if (this.#needsAttach()) return this.#fail(op, ROM_ERR.FAILED_TO_ACT);
    const eraseSize = u32(rx, 8);
    const blockSize = u32(rx, 16);
    const offset = u32(rx, 20);
    if (offset % FLASH_SECTOR_SIZE !== 0 || offset + eraseSize > this.#flashSize) {
      return this.#fail(op, ROM_ERR.FAILED_TO_ACT);
    }
    if (facts.flashBeginAttaches) this.#attached = true;
    const defl = op === OP.FLASH_DEFL_BEGIN;
    const write: RomWrite = {
      kind: defl ? "defl" : "plain",
      pointer: offset,
      blockSize,
      nextSeq: 0,
      inflate: defl ? new InflateWriter() : undefined,
    };
    let ms = 0;
    if (eraseSize > 0) {
      // The ROM erases the whole region up front.
      const [first, count] = facts.romEraseSectors ? facts.romEraseSectors(offset, eraseSize) : [
        offset / FLASH_SECTOR_SIZE,
        Math.ceil((offset + eraseSize) / FLASH_SECTOR_SIZE) - offset / FLASH_SECTOR_SIZE,
      ];
      const cut = this.#host.eraseCut(count);
      if (cut !== null) {
        // Power lost part-way through the erase (a fault): its first sectors are erased.
        nor.eraseSectors(first, cut);
        this.#host.powerOnReset();
        return NO_DELAY;
      }
      ms = nor.eraseSectors(first, count);
    }
    this.#write = write;
    this.#host.addFlashBusy(ms);
    this.#ok(op);
    return { before: ms, after: 0 };
  }

  #flashData(op: number, size: number): HandleResult {
    const rx = this.#rx;
    const nor = this.#host.nor;
    const w = this.#write;
    const defl = op === OP.FLASH_DEFL_DATA;
    if (!w || (w.kind === "defl") !== defl) return this.#fail(op, ROM_ERR.FAILED_TO_ACT);
    const len = u32(rx, 8);
    const seq = u32(rx, 12);
    const actual = Math.max(0, size - 16);
    if (len !== actual || (!defl && len > w.blockSize)) {
      return this.#fail(op, ROM_ERR.INVALID_MESSAGE);
    }
    if (seq !== w.nextSeq) return this.#fail(op, ROM_ERR.INVALID_MESSAGE);
    w.nextSeq++;
    const payload = rx.slice(24, 24 + len);
    if ((xorChecksum(payload) & 0xff) !== (u32(rx, 4) & 0xff)) {
      return this.#fail(op, ROM_ERR.INVALID_CRC);
    }
    if (this.#host.brownOut()) {
      // Brown-out half-way through programming this block.
      if (!defl) nor.program(w.pointer, payload.subarray(0, payload.length >> 1));
      this.#host.powerOnReset();
      return NO_DELAY;
    }
    let chunks: Uint8Array[] = [payload];
    if (w.inflate) {
      try {
        chunks = w.inflate.push(payload);
      } catch {
        return this.#fail(op, ROM_ERR.DEFLATE);
      }
    }
    let ms = 0;
    for (const chunk of chunks) {
      if (w.pointer + chunk.length > nor.size) return this.#fail(op, ROM_ERR.FLASH_WRITE);
      ms += nor.program(w.pointer, chunk);
      const written = nor.data.subarray(w.pointer, w.pointer + chunk.length);
      w.pointer += chunk.length;
      // The ROM reads each block back after programming it.
      if (!written.every((b, i) => b === chunk[i])) {
        this.#host.addFlashBusy(ms);
        this.#fail(op, ROM_ERR.FLASH_WRITE);
        return { before: ms, after: 0 };
      }
    }
    this.#host.addFlashBusy(ms);
    this.#ok(op);
    return { before: ms, after: 0 };
  }

  #flashEnd(op: number): HandleResult {
    const run = u32(this.#rx, 8) !== 0; // esptool sends int(not reboot)
    const w = this.#write;
    if (w?.inflate && op === OP.FLASH_DEFL_END && !w.inflate.failed && !w.inflate.done) {
      this.#write = null;
      return this.#fail(op, ROM_ERR.DEFLATE_ADLER);
    }
    this.#write = null;
    this.#ok(op);
    // The ROM leaves the loader either way: reboot (0) or run the user code (1).
    if (!run) {
      this.#host.then({ kind: "software-reset" });
    } else {
      this.#dead = true;
      this.#host.then({ kind: "run-user-code", entry: this.#entry });
    }
    return NO_DELAY;
  }

  /** Past the flash size the ROM knows (a zero length is never out of range). */
  #flashEndOfChip(addr: number, len: number): boolean {
    return len > 0 && addr + len > Math.min(this.#flashSize, this.#host.nor.size);
  }

  #md5(): HandleResult {
    const rx = this.#rx;
    const addr = u32(rx, 8);
    const size = u32(rx, 12);
    if (this.#needsAttach()) {
      return this.#fail(OP.SPI_FLASH_MD5, ROM_ERR.FAILED_TO_ACT, MD5_HEX_LEN);
    }
    if (this.#flashEndOfChip(addr, size)) {
      return this.#fail(OP.SPI_FLASH_MD5, ROM_ERR.FLASH_READ, MD5_HEX_LEN);
    }
    const digest = createHash("md5").update(this.#host.nor.data.subarray(addr, addr + size))
      .digest("hex");
    this.#tx.set(new TextEncoder().encode(digest), 8);
    return this.#ok(OP.SPI_FLASH_MD5, MD5_HEX_LEN);
  }

  #readSlow(): HandleResult {
    const rx = this.#rx;
    const addr = u32(rx, 8);
    const len = u32(rx, 12);
    if (this.#needsAttach()) {
      return this.#fail(OP.READ_FLASH_SLOW, ROM_ERR.FAILED_TO_ACT, ROM_READ_SLOW_MAX);
    }
    if (len > ROM_READ_SLOW_MAX) {
      return this.#fail(OP.READ_FLASH_SLOW, ROM_ERR.READ_LENGTH, ROM_READ_SLOW_MAX);
    }
    if (this.#flashEndOfChip(addr, len)) {
      return this.#fail(OP.READ_FLASH_SLOW, ROM_ERR.FLASH_READ, ROM_READ_SLOW_MAX);
    }
    // The answer always carries 64 bytes; past `len` they are what the buffer held.
    this.#tx.set(this.#host.nor.data.subarray(addr, addr + len), 8);
    return this.#ok(OP.READ_FLASH_SLOW, ROM_READ_SLOW_MAX);
  }

  #securityInfo(): HandleResult {
    const f = this.#host.facts;
    if (f.securityInfo === "none") return this.#unsupported();
    const out = securityInfoPayload(f, this.#host.secureDownload);
    this.#tx.set(out, 8);
    return this.#ok(OP.GET_SECURITY_INFO, out.length);
  }
}

/**
 * The ESP32-C3 ROM's panic output for a load from `addr` (first lines as the
 * genuine ROM prints them; register values are this model's own).
 */
export function guruLoadFault(addr: number): string {
  const hex = (n: number) => `0x${(n >>> 0).toString(16).padStart(8, "0")}`;
  return "Guru Meditation Error: Core 0 panic'ed (Load access fault)\r\n" +
    "Core 0 register dump:\r\n" +
    `MCAUSE  : ${hex(5)}  MTVAL   : ${hex(addr)}\r\n\r\n`;
}
