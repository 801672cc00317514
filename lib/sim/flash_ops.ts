/**
 * Flash commands of the ROM loader and the flasher stub: FLASH_* and
 * FLASH_DEFL_* writes (the ROM erases the whole region first and reads each
 * block back; the stub erases as it goes and programs while the next block
 * arrives), SPI_FLASH_MD5, READ_FLASH_SLOW (ROM), ERASE_FLASH, ERASE_REGION
 * and the windowed READ_FLASH stream (stub).
 *
 * @module
 */

import { createHash } from "node:crypto";
import { Unzlib } from "fflate";
import type { LoaderHost } from "./loader_host.ts";
import { esp8266RomEraseSectors, FLASH_SECTOR_SIZE } from "./nor_flash.ts";
import {
  type HandleResult,
  NO_DELAY,
  OP,
  type Responder,
  ROM_ERR,
  ROM_READ_SLOW_MAX,
  sameBytes,
  STUB_ERR,
  STUB_MAX_WRITE_BLOCK,
  u32,
  xorChecksum,
} from "./protocol.ts";

interface FlashWriteState {
  kind: "plain" | "defl";
  offset: number;
  blockSize: number;
  nextSeq: number;
  /** Next flash address the (inflated) data goes to. */
  writePos: number;
  /** Stub: bytes still expected (uncompressed). ROM: unused (-1). */
  remaining: number;
  /** Stub: next sector to erase and sectors left (erase-as-you-go). */
  nextEraseSector: number;
  eraseSectorsLeft: number;
  inflater?: Unzlib;
  pendingOut: Uint8Array[];
  error: number;
}

interface ReadFlashState {
  addr: number;
  len: number;
  blockSize: number;
  maxInFlight: number;
  sent: number;
  acked: number;
  md5: ReturnType<typeof createHash>;
}

/** The flash side of one loader session (ROM or stub). */
export class FlashOps {
  readonly #host: LoaderHost;
  readonly #res: Responder;
  #write: FlashWriteState | null = null;
  #read: ReadFlashState | null = null;
  #spiAttached = false;
  #paramsSize: number;

  /** Create the flash command handlers of a loader. */
  constructor(host: LoaderHost, responder: Responder) {
    this.#host = host;
    this.#res = responder;
    this.#paramsSize = host.nor.size;
  }

  /** True while a READ_FLASH stream waits for acknowledgements. */
  get reading(): boolean {
    return this.#read !== null;
  }

  /** Forget any write in progress (a stub started). */
  dropWrite(): void {
    this.#write = null;
  }

  /** SPI_ATTACH was done. */
  attach(): void {
    this.#spiAttached = true;
  }

  /** SPI_SET_PARAMS told the loader the flash size. */
  setParamsSize(size: number): void {
    this.#paramsSize = size;
  }

  #flashLimit(): number {
    const size = this.#host.nor.size;
    return Math.min(size, this.#paramsSize || size);
  }

  #needsAttach(): boolean {
    return !this.#res.stub && this.#host.facts.key !== "esp8266" && !this.#spiAttached;
  }

  /** FLASH_BEGIN / FLASH_DEFL_BEGIN. */
  begin(op: number, data: Uint8Array): HandleResult {
    const stub = this.#res.stub;
    const f = this.#host.facts;
    const nor = this.#host.nor;
    const okLen = data.length === 16 || (!stub && f.romEncryptedFlashWord && data.length === 20);
    if (!okLen) return this.#res.failed(op, "len");
    const size = u32(data, 0);
    const blockSize = u32(data, 8);
    const offset = u32(data, 12);
    if (stub && blockSize > STUB_MAX_WRITE_BLOCK) return this.#res.fail(op, STUB_ERR.BAD_BLOCKSIZE);
    if (this.#needsAttach()) return this.#res.failed(op, "act");
    if (offset + size > this.#flashLimit() || (blockSize === 0 && size > 0)) {
      return this.#res.failed(op, "act");
    }
    if (f.key === "esp8266") this.#spiAttached = true;
    const defl = op === OP.FLASH_DEFL_BEGIN;
    const state: FlashWriteState = {
      kind: defl ? "defl" : "plain",
      offset,
      blockSize,
      nextSeq: 0,
      writePos: offset,
      remaining: stub ? size : -1,
      nextEraseSector: Math.floor(offset / FLASH_SECTOR_SIZE),
      eraseSectorsLeft: stub
        ? Math.ceil(((offset % FLASH_SECTOR_SIZE) + size) / FLASH_SECTOR_SIZE)
        : 0,
      pendingOut: [],
      error: 0,
    };
    if (defl) {
      state.inflater = new Unzlib((chunk) => {
        state.pendingOut.push(chunk);
      });
    }
    let ms = 0;
    if (!stub && size > 0) {
      // The ROM erases the whole region up front.
      if (f.key === "esp8266") {
        const [first, count] = esp8266RomEraseSectors(offset, size);
        ms = nor.eraseSectors(first, count);
      } else {
        const first = Math.floor(offset / FLASH_SECTOR_SIZE);
        const last = Math.ceil((offset + size) / FLASH_SECTOR_SIZE);
        ms = nor.eraseSectors(first, last - first);
      }
    }
    this.#write = state;
    this.#host.addFlashBusy(ms);
    this.#res.reply(op, 0);
    return { before: ms, after: 0 };
  }

  /** FLASH_DATA / FLASH_DEFL_DATA. */
  data(op: number, data: Uint8Array, chk: number): HandleResult {
    const stub = this.#res.stub;
    const nor = this.#host.nor;
    const st = this.#write;
    const defl = op === OP.FLASH_DEFL_DATA;
    if (data.length < 16) return this.#res.failed(op, "len");
    const len = u32(data, 0);
    const seq = u32(data, 4);
    const payload = data.subarray(16);
    if (!st || (st.kind === "defl") !== defl) {
      return this.#res.fail(op, stub ? STUB_ERR.NOT_IN_FLASH_MODE : ROM_ERR.FAILED_TO_ACT);
    }
    if (len !== payload.length) return this.#res.failed(op, "len");
    if ((xorChecksum(payload) & 0xff) !== (chk & 0xff)) {
      return this.#res.fail(op, stub ? STUB_ERR.BAD_DATA_CHECKSUM : ROM_ERR.INVALID_CRC);
    }
    if (!stub && payload.length > st.blockSize) return this.#res.failed(op, "len");
    if (stub && payload.length > STUB_MAX_WRITE_BLOCK) {
      return this.#res.fail(op, STUB_ERR.BAD_DATA_LEN);
    }
    if (seq + 1 === st.nextSeq) {
      // A retry of the block just handled (its response was lost): acknowledge again.
      this.#res.reply(op, 0);
      return NO_DELAY;
    }
    if (seq !== st.nextSeq) return this.#res.failed(op, "act");
    if (this.#host.brownOut()) {
      // Brown-out half-way through programming this block.
      if (!defl) {
        nor.program(st.offset + seq * st.blockSize, payload.subarray(0, payload.length >> 1));
      }
      this.#host.powerOnReset();
      return NO_DELAY;
    }
    st.nextSeq++;
    let chunks: Uint8Array[];
    if (defl) {
      try {
        st.inflater!.push(payload, false);
      } catch {
        st.error = stub ? STUB_ERR.INFLATE_ERROR : ROM_ERR.DEFLATE;
      }
      chunks = st.pendingOut;
      st.pendingOut = [];
    } else {
      chunks = [payload];
    }
    if (st.error) return this.#res.fail(op, st.error);
    let ms = 0;
    let verifyFailed = false;
    for (let chunk of chunks) {
      const addr = defl ? st.writePos : st.offset + seq * st.blockSize;
      if (stub) {
        if (chunk.length > st.remaining) chunk = chunk.subarray(0, st.remaining);
        if (chunk.length === 0) continue;
        ms += this.#stubEraseAhead(st, addr + chunk.length);
      }
      if (addr + chunk.length > nor.size) {
        st.error = stub ? STUB_ERR.FAILED_SPI_OP : ROM_ERR.FLASH_WRITE;
        break;
      }
      ms += nor.program(addr, chunk);
      if (!stub && !sameBytes(nor.data.subarray(addr, addr + chunk.length), chunk)) {
        verifyFailed = true; // the ROM reads the block back after writing it
      }
      if (defl) st.writePos += chunk.length;
      if (stub) st.remaining -= chunk.length;
    }
    this.#host.addFlashBusy(ms);
    if (st.error) {
      this.#res.fail(op, st.error);
      return { before: ms, after: 0 };
    }
    if (verifyFailed) {
      this.#res.fail(op, ROM_ERR.FLASH_WRITE);
      return { before: ms, after: 0 };
    }
    this.#res.reply(op, 0);
    // The stub acknowledges first and programs while the next block arrives.
    return stub ? { before: 0, after: ms } : { before: ms, after: 0 };
  }

  /** Stub erase-as-you-go: erase sectors (64 KiB blocks when aligned) up to `end`. */
  #stubEraseAhead(st: FlashWriteState, end: number): number {
    const nor = this.#host.nor;
    let ms = 0;
    const lastSector = Math.floor(end / FLASH_SECTOR_SIZE);
    const perBlock = 16;
    while (st.eraseSectorsLeft > 0 && st.nextEraseSector <= lastSector) {
      if (st.eraseSectorsLeft >= perBlock && st.nextEraseSector % perBlock === 0) {
        ms += nor.eraseBlock(st.nextEraseSector);
        st.nextEraseSector += perBlock;
        st.eraseSectorsLeft -= perBlock;
      } else {
        ms += nor.eraseSector(st.nextEraseSector);
        st.nextEraseSector++;
        st.eraseSectorsLeft--;
      }
    }
    return ms;
  }

  /** FLASH_END / FLASH_DEFL_END. */
  end(op: number, data: Uint8Array): HandleResult {
    const stub = this.#res.stub;
    if (data.length !== 4) return this.#res.failed(op, "len");
    const stay = u32(data, 0) !== 0; // esptool sends int(not reboot)
    const st = this.#write;
    if (stub) {
      if (!st) return this.#res.fail(op, STUB_ERR.NOT_IN_FLASH_MODE);
      if (st.kind === "defl") {
        try {
          st.inflater!.push(new Uint8Array(0), true);
        } catch {
          // Stream not finished: reported as "not enough data" below.
        }
      }
      if (st.remaining > 0) return this.#res.fail(op, STUB_ERR.NOT_ENOUGH_DATA);
      this.#write = null;
      this.#host.persist();
      this.#res.reply(op, 0);
      if (!stay) this.#host.then({ kind: "software-reset" });
      return NO_DELAY;
    }
    if (st && st.kind === "defl" && op === OP.FLASH_DEFL_END) {
      try {
        st.inflater!.push(new Uint8Array(0), true);
      } catch {
        this.#write = null;
        return this.#res.fail(op, ROM_ERR.DEFLATE_ADLER);
      }
    }
    this.#write = null;
    this.#host.persist();
    this.#res.reply(op, 0);
    // The ROM leaves the loader either way: reboot (0) or run the user code (1).
    this.#host.then({ kind: stay ? "run-app" : "software-reset" });
    return NO_DELAY;
  }

  /** SPI_FLASH_MD5 (ROM: 32 hex characters; stub: 16 raw bytes). */
  md5(data: Uint8Array): HandleResult {
    const stub = this.#res.stub;
    const nor = this.#host.nor;
    if (data.length !== 16) return this.#res.failed(OP.SPI_FLASH_MD5, "len");
    if (this.#needsAttach()) return this.#res.failed(OP.SPI_FLASH_MD5, "act");
    const addr = u32(data, 0);
    const size = u32(data, 4);
    if (addr + size > nor.size) return this.#res.failed(OP.SPI_FLASH_MD5, "act");
    const digest = createHash("md5").update(nor.data.subarray(addr, addr + size)).digest();
    const out = stub ? new Uint8Array(digest) : new TextEncoder().encode(digest.toString("hex"));
    this.#res.reply(OP.SPI_FLASH_MD5, 0, out);
    return NO_DELAY;
  }

  /** READ_FLASH_SLOW (ROM): up to 64 bytes, always answered with a 64-byte block. */
  readSlow(data: Uint8Array): HandleResult {
    const nor = this.#host.nor;
    if (data.length !== 8) return this.#res.failed(OP.READ_FLASH_SLOW, "len");
    if (this.#needsAttach()) return this.#res.failed(OP.READ_FLASH_SLOW, "act");
    const addr = u32(data, 0);
    const len = u32(data, 4);
    if (len > ROM_READ_SLOW_MAX) return this.#res.fail(OP.READ_FLASH_SLOW, ROM_ERR.READ_LENGTH);
    if (addr + len > nor.size) return this.#res.fail(OP.READ_FLASH_SLOW, ROM_ERR.FLASH_READ);
    // The ROM always answers with a 64-byte block; bytes past `len` are filler.
    const block = new Uint8Array(ROM_READ_SLOW_MAX).fill(0xff);
    block.set(nor.data.subarray(addr, addr + len));
    this.#res.reply(OP.READ_FLASH_SLOW, 0, block);
    return NO_DELAY;
  }

  /** ERASE_FLASH (stub). */
  eraseAll(data: Uint8Array): HandleResult {
    if (data.length !== 0) return this.#res.failed(OP.ERASE_FLASH, "len");
    const ms = this.#host.nor.eraseChip();
    this.#host.addFlashBusy(ms);
    this.#host.persist();
    this.#res.reply(OP.ERASE_FLASH, 0);
    return { before: ms, after: 0 };
  }

  /** ERASE_REGION (stub): sector-aligned offset and size. */
  eraseRegion(data: Uint8Array): HandleResult {
    const nor = this.#host.nor;
    if (data.length !== 8) return this.#res.failed(OP.ERASE_REGION, "len");
    const offset = u32(data, 0);
    const size = u32(data, 4);
    if (offset % FLASH_SECTOR_SIZE !== 0 || size % FLASH_SECTOR_SIZE !== 0) {
      return this.#res.fail(OP.ERASE_REGION, STUB_ERR.BAD_DATA_LEN);
    }
    if (offset + size > nor.size) return this.#res.fail(OP.ERASE_REGION, STUB_ERR.FAILED_SPI_OP);
    const ms = nor.eraseSectors(offset / FLASH_SECTOR_SIZE, size / FLASH_SECTOR_SIZE);
    this.#host.addFlashBusy(ms);
    this.#host.persist();
    this.#res.reply(OP.ERASE_REGION, 0);
    return { before: ms, after: 0 };
  }

  /** READ_FLASH (stub): answer, then stream blocks within the host's window. */
  readStart(data: Uint8Array): HandleResult {
    if (data.length !== 16) return this.#res.failed(OP.READ_FLASH, "len");
    const addr = u32(data, 0);
    const len = u32(data, 4);
    const blockSize = u32(data, 8);
    const maxInFlight = u32(data, 12);
    if (addr + len > this.#host.nor.size) {
      return this.#res.fail(OP.READ_FLASH, STUB_ERR.FAILED_SPI_OP);
    }
    this.#res.reply(OP.READ_FLASH, 0);
    // The stub silently returns when the block is larger than its sector buffer.
    if (blockSize === 0 || blockSize > FLASH_SECTOR_SIZE) return NO_DELAY;
    this.#read = {
      addr,
      len,
      blockSize,
      maxInFlight: Math.max(1, maxInFlight),
      sent: 0,
      acked: 0,
      md5: createHash("md5"),
    };
    this.#readSend();
    return NO_DELAY;
  }

  #readSend(): void {
    const r = this.#read!;
    while (r.sent < r.len && r.sent - r.acked < r.maxInFlight) {
      const n = Math.min(r.blockSize, r.len - r.sent);
      const chunk = this.#host.nor.read(r.addr + r.sent, n);
      r.md5.update(chunk);
      this.#host.send(chunk);
      r.sent += n;
    }
    if (r.len === 0) this.#readFinish();
  }

  /** A frame from the host while READ_FLASH streams: the acknowledged byte count. */
  readAck(p: Uint8Array): HandleResult {
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
