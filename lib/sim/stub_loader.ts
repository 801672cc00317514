/**
 * The flasher stub as the device runs it: esp-flasher-stub
 * (espressif/esp-flasher-stub), the stub esptool 5 uploads by default
 * (`stub_flasher/2`) and, in an earlier release, the one the esptool-js
 * 0.7.0 package ships, which espline uploads. Recorded from both running on
 * the emulated ESP32 (tests/fixtures/rom/esp32-stub-*.json: they answer
 * alike), and read from the stub's source for facts:
 *
 * - two status bytes (a 16-bit code, big-endian: C0 00 …), value 0;
 * - exact length checks per command (BAD_DATA_LEN); WRITE_REG needs a
 *   multiple of 16 (NOT_ENOUGH_DATA); unknown opcodes and a wrong direction
 *   byte are INVALID_COMMAND;
 * - FLASH_DATA has no sequence check: blocks go to a running write pointer;
 *   a length field that disagrees with the data is TOO_MUCH_DATA;
 * - work done after an answer (programming, inflating, streaming a read)
 *   reports its failure in the answer to the next command, which is then not
 *   carried out;
 * - READ_FLASH keeps one block in flight whatever the host asks for;
 * - FLASH_END does not reboot, RUN_USER_CODE answers nothing and does nothing
 *   (both are TODO in the stub's source).
 *
 * esptool's older stub (ESPTOOL_STUB_VERSION=1) is answered the same way: the
 * virtual chip cannot tell it apart without its bytes (see the report in
 * tests/conformance_stub_test.ts).
 *
 * @module
 */

import { createHash } from "node:crypto";
import { InflateWriter } from "./inflate_writer.ts";
import type { LoaderHost } from "./loader_host.ts";
import { FLASH_SECTOR_SIZE } from "./nor_flash.ts";
import {
  type HandleResult,
  NO_DELAY,
  OP,
  parseRequest,
  putU32,
  securityInfoPayload,
  STUB_ERR,
  STUB_GREETING,
  SYNC_PAYLOAD,
  SYNC_RESPONSES,
  u32,
  xorChecksum,
} from "./protocol.ts";
import type { Registers } from "./registers.ts";

/** The esp-flasher-stub's largest READ_FLASH packet (its 4 KiB read buffer). */
const V2_READ_PACKET_MAX = 4096;

interface StubWrite {
  kind: "plain" | "defl";
  /** Where the next (inflated) byte goes. */
  pointer: number;
  /** Bytes still expected (uncompressed). */
  remaining: number;
  /** Erase-as-you-go: next sector, sectors left. */
  nextEraseSector: number;
  eraseSectorsLeft: number;
  inflate?: InflateWriter;
  error: number;
}

interface ReadStream {
  addr: number;
  len: number;
  blockSize: number;
  sent: number;
  acked: number;
  md5: ReturnType<typeof createHash>;
}

/** What the stub loader needs besides the {@link LoaderHost}. */
export interface StubLoaderOptions {
  /** The chip's registers and memory. */
  registers: Registers;
}

/** A running flasher stub. */
export class StubLoader {
  readonly #host: LoaderHost;
  readonly #regs: Registers;
  #write: StubWrite | null = null;
  #read: ReadStream | null = null;
  /** esp-flasher-stub: the error of work done after the last answer, reported next time. */
  #carried = 0;
  #mem: { pointer: number; remaining: number } | null = null;

  /** Start the stub: it greets the host. */
  constructor(host: LoaderHost, options: StubLoaderOptions) {
    this.#host = host;
    this.#regs = options.registers;
    host.send(STUB_GREETING);
  }

  /** Handle one frame from the host. */
  handle(frame: Uint8Array): HandleResult {
    if (this.#read) return this.#readAck(frame);
    const req = parseRequest(frame);
    if (!req) {
      if (frame.length >= 2) return this.#fail(frame[1], STUB_ERR.INVALID_COMMAND);
      return NO_DELAY; // not a request: ignored
    }
    const { op, data } = req;
    if (data.length !== req.size) return this.#fail(op, STUB_ERR.BAD_DATA_LEN);
    if (this.#carried) {
      const code = this.#carried;
      this.#carried = 0;
      return this.#fail(op, code);
    }
    switch (op) {
      case OP.SYNC:
        return this.#sync(data);
      case OP.READ_REG:
        if (data.length !== 4) return this.#fail(op, STUB_ERR.BAD_DATA_LEN);
        this.#reply(op, this.#regs.read(u32(data, 0)));
        return NO_DELAY;
      case OP.WRITE_REG:
        return this.#writeReg(data);
      case OP.MEM_BEGIN:
        if (data.length !== 16) return this.#fail(op, STUB_ERR.BAD_DATA_LEN);
        this.#mem = { pointer: u32(data, 12), remaining: u32(data, 0) };
        return this.#ok(op);
      case OP.MEM_DATA:
        return this.#memData(data, req.checksum);
      case OP.MEM_END:
        if (data.length !== 8) return this.#fail(op, STUB_ERR.BAD_DATA_LEN);
        if (!this.#mem) return this.#fail(op, STUB_ERR.NOT_IN_FLASH_MODE);
        this.#mem = null;
        this.#ok(op);
        if (u32(data, 0) === 0) this.#host.then({ kind: "halt" });
        return NO_DELAY;
      case OP.SPI_ATTACH:
        if (data.length !== 4) return this.#fail(op, STUB_ERR.BAD_DATA_LEN);
        return this.#ok(op);
      case OP.SPI_SET_PARAMS:
        if (data.length !== 24) return this.#fail(op, STUB_ERR.BAD_DATA_LEN);
        return this.#ok(op);
      case OP.CHANGE_BAUDRATE:
        if (data.length !== 8) return this.#fail(op, STUB_ERR.BAD_DATA_LEN);
        this.#ok(op);
        this.#host.then({ kind: "baud", baud: u32(data, 0) });
        return NO_DELAY;
      case OP.FLASH_BEGIN:
      case OP.FLASH_DEFL_BEGIN:
        return this.#flashBegin(op, data);
      case OP.FLASH_DATA:
      case OP.FLASH_DEFL_DATA:
        return this.#flashData(op, data, req.checksum);
      case OP.FLASH_END:
      case OP.FLASH_DEFL_END:
        return this.#flashEnd(op, data);
      case OP.SPI_FLASH_MD5:
        return this.#md5(data);
      case OP.GET_SECURITY_INFO:
        return this.#securityInfo(data);
      case OP.ERASE_FLASH:
        return this.#eraseAll();
      case OP.ERASE_REGION:
        return this.#eraseRegion(data);
      case OP.READ_FLASH:
        return this.#readStart(data);
      case OP.RUN_USER_CODE:
        // No answer, and the stub stays (a TODO in its source).
        return NO_DELAY;
    }
    return this.#fail(op, STUB_ERR.INVALID_COMMAND);
  }

  // ------------------------------------------------------------- answers

  #reply(op: number, value: number, data: Uint8Array = new Uint8Array(0)): void {
    const body = new Uint8Array(8 + data.length + 2);
    body[0] = 0x01;
    body[1] = op;
    body[2] = (data.length + 2) & 0xff;
    body[3] = (data.length + 2) >> 8;
    putU32(body, 4, value);
    body.set(data, 8);
    this.#host.send(body);
  }

  #ok(op: number): HandleResult {
    this.#reply(op, 0);
    return NO_DELAY;
  }

  #fail(op: number, code: number): HandleResult {
    const body = new Uint8Array(10);
    body[0] = 0x01;
    body[1] = op;
    body[2] = 2;
    body[8] = code;
    this.#host.send(body);
    return NO_DELAY;
  }

  // ------------------------------------------------------------ commands

  #sync(data: Uint8Array): HandleResult {
    // Only the length is checked (recorded: a changed last byte still gets eight answers).
    if (data.length !== SYNC_PAYLOAD.length) return this.#fail(OP.SYNC, STUB_ERR.BAD_DATA_LEN);
    for (let i = 0; i < SYNC_RESPONSES; i++) this.#reply(OP.SYNC, 0);
    return NO_DELAY;
  }

  #writeReg(data: Uint8Array): HandleResult {
    if (data.length === 0 || data.length % 16 !== 0) {
      return this.#fail(OP.WRITE_REG, STUB_ERR.NOT_ENOUGH_DATA);
    }
    for (let off = 0; off < data.length; off += 16) {
      const addr = u32(data, off);
      const value = u32(data, off + 4);
      const mask = u32(data, off + 8);
      const word = mask === 0xffffffff
        ? value
        : ((this.#regs.read(addr) & ~mask) | (value & mask)) >>> 0;
      this.#regs.write(addr, word);
    }
    return this.#ok(OP.WRITE_REG);
  }

  #memData(data: Uint8Array, chk: number): HandleResult {
    const op = OP.MEM_DATA;
    if (data.length < 16) return this.#fail(op, STUB_ERR.NOT_ENOUGH_DATA);
    if (!this.#mem) return this.#fail(op, STUB_ERR.NOT_IN_FLASH_MODE);
    const len = u32(data, 0);
    const payload = data.subarray(16);
    if (len > this.#mem.remaining || len !== payload.length) {
      return this.#fail(op, STUB_ERR.TOO_MUCH_DATA);
    }
    void chk; // MEM_DATA's checksum is not checked by this stub
    this.#regs.writeBytes(this.#mem.pointer, payload);
    this.#mem.pointer += payload.length;
    this.#mem.remaining -= payload.length;
    return this.#ok(op);
  }

  #flashBegin(op: number, data: Uint8Array): HandleResult {
    if (data.length !== 16 && data.length !== 20) return this.#fail(op, STUB_ERR.BAD_DATA_LEN);
    const size = u32(data, 0);
    const offset = u32(data, 12);
    // The first erase is started at once and fails past the end of the flash.
    if (offset + size > this.#host.nor.size) return this.#fail(op, STUB_ERR.FAILED_SPI_OP);
    const defl = op === OP.FLASH_DEFL_BEGIN;
    const firstSector = Math.floor(offset / FLASH_SECTOR_SIZE);
    const w: StubWrite = {
      kind: defl ? "defl" : "plain",
      pointer: offset,
      remaining: size,
      nextEraseSector: firstSector,
      eraseSectorsLeft: Math.ceil((offset + size) / FLASH_SECTOR_SIZE) - firstSector,
      inflate: defl ? new InflateWriter() : undefined,
      error: 0,
    };
    this.#write = w;
    return this.#ok(op);
  }

  #flashData(op: number, data: Uint8Array, chk: number): HandleResult {
    const w = this.#write;
    const defl = op === OP.FLASH_DEFL_DATA;
    if (data.length < 16) {
      return this.#fail(op, defl ? STUB_ERR.BAD_DATA_LEN : STUB_ERR.NOT_ENOUGH_DATA);
    }
    if (!w || (w.kind === "defl") !== defl) return this.#fail(op, STUB_ERR.NOT_IN_FLASH_MODE);
    const len = u32(data, 0);
    const payload = data.subarray(16);
    if (!defl && len !== payload.length) return this.#fail(op, STUB_ERR.TOO_MUCH_DATA);
    if (defl && w.remaining === 0 && data.length > 4) return this.#fail(op, STUB_ERR.TOO_MUCH_DATA);
    // No sequence check: a block sent twice is written twice, one after the other.
    if ((xorChecksum(payload.subarray(0, len)) & 0xff) !== (chk & 0xff)) {
      return this.#fail(op, STUB_ERR.BAD_DATA_CHECKSUM);
    }
    if (this.#host.brownOut()) {
      // Brown-out half-way through programming this block.
      if (!defl) this.#host.nor.program(w.pointer, payload.subarray(0, payload.length >> 1));
      this.#host.powerOnReset();
      return NO_DELAY;
    }
    // Answer first, then program; a failure is reported in the next answer.
    this.#ok(op);
    const ms = this.#program(w, defl ? null : payload.subarray(0, len), defl ? payload : null);
    if (w.error) this.#carried = w.error;
    return { before: 0, after: ms };
  }

  /** Program plain `data`, or inflate `compressed` and program what comes out; returns ms. */
  #program(w: StubWrite, data: Uint8Array | null, compressed: Uint8Array | null): number {
    let chunks: Uint8Array[];
    if (compressed) {
      try {
        chunks = w.inflate!.push(compressed);
      } catch {
        w.error = STUB_ERR.INFLATE_ERROR;
        return 0;
      }
    } else chunks = [data!];
    let ms = 0;
    for (const chunk of chunks) {
      ms += this.#programChunk(w, chunk);
      if (w.error) break;
    }
    return ms;
  }

  /** Program one chunk at the write pointer (erasing ahead); returns ms. */
  #programChunk(w: StubWrite, data: Uint8Array): number {
    const nor = this.#host.nor;
    const chunk = data.length > w.remaining ? data.subarray(0, w.remaining) : data;
    if (chunk.length === 0) return 0;
    let ms = this.#eraseAhead(w, w.pointer + chunk.length);
    if (w.pointer + chunk.length > nor.size) {
      w.error = STUB_ERR.FAILED_SPI_OP;
      return ms;
    }
    ms += nor.program(w.pointer, chunk);
    w.pointer += chunk.length;
    w.remaining -= chunk.length;
    this.#host.addFlashBusy(ms);
    return ms;
  }

  /** Erase-as-you-go: sectors (64 KiB blocks when aligned) up to `end`. */
  #eraseAhead(w: StubWrite, end: number): number {
    const nor = this.#host.nor;
    let ms = 0;
    const lastSector = Math.floor((end - 1) / FLASH_SECTOR_SIZE);
    const perBlock = 16;
    while (w.eraseSectorsLeft > 0 && w.nextEraseSector <= lastSector) {
      if (w.eraseSectorsLeft >= perBlock && w.nextEraseSector % perBlock === 0) {
        ms += nor.eraseBlock(w.nextEraseSector);
        w.nextEraseSector += perBlock;
        w.eraseSectorsLeft -= perBlock;
      } else {
        ms += nor.eraseSector(w.nextEraseSector);
        w.nextEraseSector++;
        w.eraseSectorsLeft--;
      }
    }
    return ms;
  }

  #flashEnd(op: number, data: Uint8Array): HandleResult {
    if (data.length !== 4) return this.#fail(op, STUB_ERR.BAD_DATA_LEN);
    const stay = u32(data, 0) !== 0; // esptool sends int(not reboot)
    const w = this.#write;
    if (!w) return this.#fail(op, STUB_ERR.NOT_IN_FLASH_MODE);
    if (w.inflate && !w.inflate.failed) {
      // What the window still holds goes to flash now.
      for (const chunk of w.inflate.flush()) this.#programChunk(w, chunk);
    }
    if (w.remaining > 0) {
      return this.#fail(op, STUB_ERR.BAD_DATA_LEN);
    }
    this.#write = null;
    this.#ok(op);
    void stay; // rebooting when asked is a TODO in the stub's source
    return NO_DELAY;
  }

  #md5(data: Uint8Array): HandleResult {
    const nor = this.#host.nor;
    if (data.length !== 16) return this.#fail(OP.SPI_FLASH_MD5, STUB_ERR.BAD_DATA_LEN);
    const addr = u32(data, 0);
    const size = u32(data, 4);
    if (addr + size > nor.size) return this.#fail(OP.SPI_FLASH_MD5, STUB_ERR.FAILED_SPI_OP);
    const digest = createHash("md5").update(nor.data.subarray(addr, addr + size)).digest();
    this.#reply(OP.SPI_FLASH_MD5, 0, new Uint8Array(digest));
    return NO_DELAY;
  }

  #securityInfo(data: Uint8Array): HandleResult {
    const f = this.#host.facts;
    if (data.length !== 0) return this.#fail(OP.GET_SECURITY_INFO, STUB_ERR.BAD_DATA_LEN);
    if (f.securityInfo === "none") {
      return this.#fail(OP.GET_SECURITY_INFO, STUB_ERR.CMD_NOT_IMPLEMENTED);
    }
    this.#reply(OP.GET_SECURITY_INFO, 0, securityInfoPayload(f, this.#host.secureDownload));
    return NO_DELAY;
  }

  #eraseAll(): HandleResult {
    const nor = this.#host.nor;
    const cut = this.#host.eraseCut(nor.size / FLASH_SECTOR_SIZE);
    if (cut !== null) {
      // Power lost part-way through the chip erase (a fault): the first sectors are erased.
      nor.eraseSectors(0, cut);
      this.#host.powerOnReset();
      return NO_DELAY;
    }
    const ms = nor.eraseChip();
    this.#host.addFlashBusy(ms);
    this.#ok(OP.ERASE_FLASH);
    return { before: ms, after: 0 };
  }

  #eraseRegion(data: Uint8Array): HandleResult {
    const nor = this.#host.nor;
    if (data.length !== 8) return this.#fail(OP.ERASE_REGION, STUB_ERR.BAD_DATA_LEN);
    const offset = u32(data, 0);
    const size = u32(data, 4);
    if (offset % FLASH_SECTOR_SIZE !== 0 || size % FLASH_SECTOR_SIZE !== 0) {
      return this.#fail(OP.ERASE_REGION, STUB_ERR.BAD_DATA_LEN);
    }
    if (offset + size > nor.size) return this.#fail(OP.ERASE_REGION, STUB_ERR.FAILED_SPI_OP);
    const cut = this.#host.eraseCut(size / FLASH_SECTOR_SIZE);
    if (cut !== null) {
      // Power lost part-way through the erase (a fault): its first sectors are erased.
      nor.eraseSectors(offset / FLASH_SECTOR_SIZE, cut);
      this.#host.powerOnReset();
      return NO_DELAY;
    }
    const ms = nor.eraseSectors(offset / FLASH_SECTOR_SIZE, size / FLASH_SECTOR_SIZE);
    this.#host.addFlashBusy(ms);
    this.#ok(OP.ERASE_REGION);
    return { before: ms, after: 0 };
  }

  /** READ_FLASH: answer, then one block at a time, each after the previous one's acknowledgement. */
  #readStart(data: Uint8Array): HandleResult {
    if (data.length !== 16) return this.#fail(OP.READ_FLASH, STUB_ERR.BAD_DATA_LEN);
    const addr = u32(data, 0);
    const len = u32(data, 4);
    const blockSize = u32(data, 8);
    this.#ok(OP.READ_FLASH);
    if (blockSize > V2_READ_PACKET_MAX || addr + len > this.#host.nor.size) {
      // Found while streaming, after the answer: reported in the next one.
      this.#carried = blockSize > V2_READ_PACKET_MAX
        ? STUB_ERR.BAD_DATA_LEN
        : STUB_ERR.FAILED_SPI_OP;
      return NO_DELAY;
    }
    if (blockSize === 0) return NO_DELAY;
    this.#read = { addr, len, blockSize, sent: 0, acked: 0, md5: createHash("md5") };
    this.#readSend();
    return NO_DELAY;
  }

  #readSend(): void {
    const r = this.#read!;
    // Both stubs keep one block in flight, whatever the host asks for (esp-flasher-stub's note on the old bug).
    if (r.sent < r.len && r.sent - r.acked <= 0) {
      const n = Math.min(r.blockSize, r.len - r.sent);
      const chunk = this.#host.nor.read(r.addr + r.sent, n);
      r.md5.update(chunk);
      this.#host.send(chunk);
      r.sent += n;
    }
    if (r.len === 0 || (r.sent >= r.len && r.acked >= r.len)) this.#readFinish();
  }

  #readAck(p: Uint8Array): HandleResult {
    const r = this.#read!;
    if (p.length !== 4) {
      this.#readFinish(); // the stub gives up and sends the digest of what it sent
      return NO_DELAY;
    }
    r.acked = u32(p, 0);
    if (r.acked >= r.len || r.acked > r.sent) this.#readFinish();
    else this.#readSend();
    return NO_DELAY;
  }

  #readFinish(): void {
    const r = this.#read!;
    this.#read = null;
    this.#host.send(new Uint8Array(r.md5.digest()));
  }
}
