/**
 * The command loop of the ROM serial loader and of the flasher stub as the
 * device runs it: request parsing, the ROM's answers to malformed and
 * unsupported requests, SYNC, registers, RAM upload (MEM_*) and the
 * recognition of an uploaded flasher stub, baud changes, security info;
 * flash commands are `flash_ops.ts`'s.
 *
 * @module
 */

import type { LoaderHost } from "./loader_host.ts";
import { FlashOps } from "./flash_ops.ts";
import {
  type HandleResult,
  NO_DELAY,
  OP,
  parseRequest,
  putU32,
  Responder,
  ROM_ERR,
  ROM_SYNC_VALUE,
  sameBytes,
  SECURE_DOWNLOAD_OPS,
  SECURITY_FLAG_SECURE_DOWNLOAD,
  STUB_ERR,
  STUB_GREETING,
  SYNC_PAYLOAD,
  SYNC_RESPONSES,
  u32,
  xorChecksum,
} from "./protocol.ts";
import type { Registers } from "./registers.ts";
import { stubImage } from "./stub_images.ts";

/** One RAM segment uploaded with MEM_BEGIN / MEM_DATA. */
export interface MemSegment {
  /** Load address. */
  addr: number;
  /** Contents (zero where no block arrived). */
  bytes: Uint8Array;
  /** Block size announced by MEM_BEGIN. */
  blockSize: number;
  /** Next expected sequence number. */
  nextSeq: number;
}

/** How the loader decides that uploaded code is a flasher stub. */
export interface StubRecognition {
  /** Treat any upload whose entry lies inside an uploaded segment as a stub. */
  acceptAnyStub: boolean;
}

/** The loader that runs after a download-mode boot: the ROM's, then (maybe) the stub's. */
export class Loader {
  readonly #host: LoaderHost;
  readonly #regs: Registers;
  readonly #recognition: StubRecognition;
  readonly #res: Responder;
  readonly #flash: FlashOps;
  #stub = false;
  #mem: MemSegment[] = [];

  /** A fresh ROM loader (after a download-mode boot). */
  constructor(host: LoaderHost, regs: Registers, recognition: StubRecognition) {
    this.#host = host;
    this.#regs = regs;
    this.#recognition = recognition;
    this.#res = new Responder(
      () => this.#stub ? { kind: "stub" } : { kind: "rom", statusBytes: host.facts.romStatusBytes },
      (p) => host.send(p),
    );
    this.#flash = new FlashOps(host, this.#res);
  }

  /** True once the flasher stub runs. */
  get stub(): boolean {
    return this.#stub;
  }

  /** The uploaded stub starts: it greets, and its own dialect answers from now on. */
  startStub(): void {
    this.#stub = true;
    this.#flash.dropWrite();
    this.#host.send(STUB_GREETING);
  }

  /** Handle one frame from the host. */
  handle(frame: Uint8Array): HandleResult {
    if (this.#flash.reading) return this.#flash.readAck(frame);
    const req = parseRequest(frame);
    if (!req) return NO_DELAY; // not a request: ignored
    const { op, data } = req;
    const stub = this.#stub;
    const res = this.#res;
    if (data.length !== req.size) {
      return res.fail(op, stub ? STUB_ERR.BAD_DATA_LEN : ROM_ERR.INVALID_MESSAGE);
    }
    if (!stub) {
      if (!this.#host.facts.romOpcodes.has(op)) return res.unsupported();
      if (this.#host.secureDownload && !SECURE_DOWNLOAD_OPS.has(op)) return res.unsupported();
    }
    switch (op) {
      case OP.SYNC:
        return this.#sync(data);
      case OP.READ_REG:
        if (data.length !== 4) return res.failed(op, "len");
        res.reply(op, this.#regs.read(u32(data, 0)));
        return NO_DELAY;
      case OP.WRITE_REG:
        return this.#writeReg(data);
      case OP.MEM_BEGIN:
        return this.#memBegin(data);
      case OP.MEM_DATA:
        return this.#memData(data, req.checksum);
      case OP.MEM_END:
        return this.#memEnd(data);
      case OP.SPI_ATTACH:
        if (data.length !== 4 && data.length !== 8) return res.failed(op, "len");
        this.#flash.attach();
        res.reply(op, 0);
        return NO_DELAY;
      case OP.SPI_SET_PARAMS:
        if (data.length !== 24) return res.failed(op, "len");
        this.#flash.setParamsSize(u32(data, 4));
        res.reply(op, 0);
        return NO_DELAY;
      case OP.CHANGE_BAUDRATE:
        return this.#changeBaud(data);
      case OP.FLASH_BEGIN:
      case OP.FLASH_DEFL_BEGIN:
        return this.#flash.begin(op, data);
      case OP.FLASH_DATA:
      case OP.FLASH_DEFL_DATA:
        return this.#flash.data(op, data, req.checksum);
      case OP.FLASH_END:
      case OP.FLASH_DEFL_END:
        return this.#flash.end(op, data);
      case OP.SPI_FLASH_MD5:
        return this.#flash.md5(data);
      case OP.READ_FLASH_SLOW:
        if (stub) break;
        return this.#flash.readSlow(data);
      case OP.GET_SECURITY_INFO:
        if (this.#host.facts.securityInfo === "none") break;
        return this.#securityInfo(data);
      case OP.ERASE_FLASH:
        if (!stub) break;
        return this.#flash.eraseAll(data);
      case OP.ERASE_REGION:
        if (!stub) break;
        return this.#flash.eraseRegion(data);
      case OP.READ_FLASH:
        if (!stub) break;
        return this.#flash.readStart(data);
      case OP.RUN_USER_CODE:
        if (!stub) break;
        this.#host.then({ kind: "run-app" });
        return NO_DELAY;
    }
    if (stub) return res.fail(op, STUB_ERR.CMD_NOT_IMPLEMENTED);
    return res.unsupported();
  }

  #sync(data: Uint8Array): HandleResult {
    if (!sameBytes(data, SYNC_PAYLOAD)) return this.#res.failed(OP.SYNC, "len");
    const value = this.#stub ? 0 : ROM_SYNC_VALUE;
    for (let i = 0; i < SYNC_RESPONSES; i++) this.#res.reply(OP.SYNC, value);
    return NO_DELAY;
  }

  #writeReg(data: Uint8Array): HandleResult {
    if (data.length === 0 || data.length % 16 !== 0) return this.#res.failed(OP.WRITE_REG, "len");
    for (let off = 0; off < data.length; off += 16) {
      const addr = u32(data, off);
      const value = u32(data, off + 4);
      const mask = u32(data, off + 8);
      const old = this.#regs.read(addr);
      this.#regs.write(addr, ((old & ~mask) | (value & mask)) >>> 0);
    }
    this.#res.reply(OP.WRITE_REG, 0);
    return NO_DELAY;
  }

  #memBegin(data: Uint8Array): HandleResult {
    if (data.length !== 16) return this.#res.failed(OP.MEM_BEGIN, "len");
    const size = u32(data, 0);
    const blockSize = u32(data, 8);
    const addr = u32(data, 12);
    if (size > 0x100000 || blockSize === 0) return this.#res.failed(OP.MEM_BEGIN, "act");
    this.#mem.push({ addr, bytes: new Uint8Array(size), blockSize, nextSeq: 0 });
    this.#res.reply(OP.MEM_BEGIN, 0);
    return NO_DELAY;
  }

  #memData(data: Uint8Array, chk: number): HandleResult {
    const stub = this.#stub;
    if (data.length < 16) return this.#res.failed(OP.MEM_DATA, "len");
    const len = u32(data, 0);
    const seq = u32(data, 4);
    const payload = data.subarray(16);
    if (len !== payload.length) return this.#res.failed(OP.MEM_DATA, "len");
    if ((xorChecksum(payload) & 0xff) !== (chk & 0xff)) {
      return this.#res.fail(OP.MEM_DATA, stub ? STUB_ERR.BAD_DATA_CHECKSUM : ROM_ERR.INVALID_CRC);
    }
    const seg = this.#mem[this.#mem.length - 1];
    if (!seg || seq > seg.nextSeq || payload.length > seg.blockSize) {
      return this.#res.failed(OP.MEM_DATA, "act");
    }
    const off = seq * seg.blockSize;
    if (off + payload.length > seg.bytes.length) return this.#res.failed(OP.MEM_DATA, "act");
    seg.bytes.set(payload, off);
    if (seq === seg.nextSeq) seg.nextSeq++;
    this.#res.reply(OP.MEM_DATA, 0);
    return NO_DELAY;
  }

  #memEnd(data: Uint8Array): HandleResult {
    if (data.length !== 8) return this.#res.failed(OP.MEM_END, "len");
    const noExecute = u32(data, 0);
    const entry = u32(data, 4);
    this.#res.reply(OP.MEM_END, 0);
    if (noExecute !== 0) return NO_DELAY;
    const segments = this.#mem;
    this.#mem = [];
    this.#host.then({ kind: this.#isKnownStub(segments, entry) ? "stub" : "halt" });
    return NO_DELAY;
  }

  #isKnownStub(segments: MemSegment[], entry: number): boolean {
    for (const name of this.#host.facts.stubNames) {
      const img = stubImage(name);
      if (!img || img.entry !== entry) continue;
      const all = img.segments.every((s) =>
        segments.some((u) => u.addr === s.addr && sameBytes(u.bytes, s.bytes))
      );
      if (all) return true;
    }
    if (this.#recognition.acceptAnyStub) {
      return segments.some((s) => entry >= s.addr && entry < s.addr + s.bytes.length);
    }
    return false;
  }

  #changeBaud(data: Uint8Array): HandleResult {
    if (data.length !== 8) return this.#res.failed(OP.CHANGE_BAUDRATE, "len");
    const requested = u32(data, 0);
    if (requested < 300 || requested > 10_000_000) {
      return this.#res.failed(OP.CHANGE_BAUDRATE, "act");
    }
    const baud = this.#stub
      ? requested
      : this.#host.facts.romBaudAfterChange(requested, this.#host.crystalMhz);
    this.#res.reply(OP.CHANGE_BAUDRATE, 0);
    this.#host.then({ kind: "baud", baud });
    return NO_DELAY;
  }

  #securityInfo(data: Uint8Array): HandleResult {
    if (data.length !== 0) return this.#res.failed(OP.GET_SECURITY_INFO, "len");
    const f = this.#host.facts;
    const full = f.securityInfo === "full";
    const out = new Uint8Array(full ? 20 : 12);
    putU32(out, 0, this.#host.secureDownload ? SECURITY_FLAG_SECURE_DOWNLOAD : 0);
    // out[4] flash_crypt_cnt = 0; out[5..11] key purposes = 0 (USER/EMPTY)
    if (full) {
      putU32(out, 12, f.chipId ?? 0);
      putU32(out, 16, f.securityApiVersion);
    }
    this.#res.reply(OP.GET_SECURITY_INFO, 0, out);
    return NO_DELAY;
  }
}
