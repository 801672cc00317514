/**
 * One contiguous span of flash written through the loader's block commands:
 * FLASH_BEGIN and FLASH_DATA, or the deflate-compressed FLASH_DEFL_* when the
 * data shrinks; each block resent when the chip reports it spoiled on the
 * wire.
 *
 * @module
 */

import { zlibSync } from "fflate";
import { throwIfAborted } from "../errors.ts";
import { checksum, concatBytes, Op, u32le } from "../protocol/packet.ts";
import { LoaderStatusError, SPOILED_BLOCK_STATUSES } from "../protocol/status.ts";
import { CHIP_DETECT_MAGIC_REG_ADDR } from "../chips/index.ts";
import type { LoaderSession } from "../loader/session.ts";
import { DEFAULT_COMMAND_TIMEOUT_MS } from "../loader/exchange.ts";
import { hex32 } from "./address.ts";
import {
  ERASE_SECONDS_PER_MB,
  ERASE_WRITE_SECONDS_PER_MB,
  receiveMs,
  timeoutForSize,
} from "./timeouts.ts";

/** Sends of one data block before a spoiled-block answer is final (esptool WRITE_BLOCK_ATTEMPTS). */
const BLOCK_ATTEMPTS = 3;

async function sendBlock(
  session: LoaderSession,
  op: number,
  block: Uint8Array,
  seq: number,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const payload = concatBytes(u32le(block.length, seq, 0, 0), block);
  const chk = checksum(block);
  for (let attempt = 1;; attempt++) {
    try {
      await session.command(op, payload, { checksum: chk, timeoutMs, what });
      return;
    } catch (e) {
      const retryable = e instanceof LoaderStatusError && SPOILED_BLOCK_STATUSES.includes(e.status);
      if (!retryable || attempt >= BLOCK_ATTEMPTS) throw e;
      session.log("debug", `${what}: ${(e as Error).message}; retrying block ${seq}`);
    }
  }
}

/** Options for {@link writeSpan}. */
export interface WriteSpanOptions {
  /** Send the data deflate-compressed when that makes it shorter. Default false. */
  compress?: boolean;
  /** Called with the bytes of the span written so far. Default none. */
  onProgress?: (done: number) => void;
  /** Cancels between blocks. */
  signal?: AbortSignal;
}

/**
 * Write one contiguous span (already padded to 4 bytes) with FLASH_BEGIN /
 * FLASH_DATA, or FLASH_DEFL_* when compressing makes the data shorter, and
 * return the payload bytes sent. The loader's capabilities decide the block
 * size, the FLASH_BEGIN form and what to wait for.
 *
 * @example
 * ```ts
 * import { writeSpan } from "./write_span.ts";
 * import type { LoaderSession } from "../loader/session.ts";
 * async function put(s: LoaderSession, data: Uint8Array) {
 *   console.log(await writeSpan(s, { address: 0x10000, data }, { compress: true }));
 * }
 * ```
 */
export async function writeSpan(
  session: LoaderSession,
  span: { address: number; data: Uint8Array },
  options: WriteSpanOptions = {},
): Promise<number> {
  const { address, data } = span;
  const signal = options.signal;
  const progress = options.onProgress ?? (() => {});
  const loader = session.loader;
  const blockSize = loader.flashWriteSize;
  const encFlag = loader.beginTakesEncryptFlag ? u32le(0) : new Uint8Array(0);
  // The ROM erases the whole area before it answers FLASH_(DEFL_)BEGIN; the stub as data arrives.
  const beginTimeoutMs = (bytes: number) =>
    loader.erasesAtBegin ? timeoutForSize(ERASE_SECONDS_PER_MB, bytes) : DEFAULT_COMMAND_TIMEOUT_MS;
  let wire = 0;
  let lastRatio = 1;
  const baud = session.transport.baud;
  // zlib format (header + Adler-32), as esptool sends it (zlib.compress level 9).
  const comp = options.compress ? zlibSync(data, { level: 9 }) : null;
  if (comp && comp.length >= data.length) {
    // Incompressible (random, encrypted, already compressed): sending it raw
    // is shorter on the wire and spares the chip the inflating (as esptool).
    session.log(
      "debug",
      `${hex32(address)}: ${data.length} bytes do not compress (${comp.length}); writing them raw`,
    );
  }
  if (comp && comp.length < data.length) {
    const numBlocks = Math.ceil(comp.length / blockSize);
    const eraseBlocks = Math.ceil(data.length / blockSize);
    // The stub wants the uncompressed byte count; the ROM, erasing first, whole blocks.
    const writeSize = loader.erasesAtBegin ? eraseBlocks * blockSize : data.length;
    await session.command(
      Op.FLASH_DEFL_BEGIN,
      concatBytes(u32le(writeSize, numBlocks, blockSize, address), encFlag),
      {
        timeoutMs: beginTimeoutMs(writeSize),
        what: `begin compressed write at ${hex32(address)}`,
      },
    );
    const ratio = data.length / comp.length;
    lastRatio = ratio;
    for (let seq = 0; seq < numBlocks; seq++) {
      throwIfAborted(signal);
      const block = comp.subarray(seq * blockSize, (seq + 1) * blockSize);
      await sendBlock(
        session,
        Op.FLASH_DEFL_DATA,
        block,
        seq,
        timeoutForSize(ERASE_WRITE_SECONDS_PER_MB, Math.min(data.length, block.length * ratio)) +
          receiveMs(block.length + 24, baud),
        `write compressed block ${seq} at ${hex32(address)}`,
      );
      wire += block.length;
      progress(Math.min(data.length, Math.round((seq + 1) * blockSize * ratio)));
    }
  } else {
    const numBlocks = Math.ceil(data.length / blockSize);
    const eraseSize = loader.eraseSize(address, data.length);
    await session.command(
      Op.FLASH_BEGIN,
      concatBytes(u32le(eraseSize, numBlocks, blockSize, address), encFlag),
      {
        timeoutMs: beginTimeoutMs(data.length),
        what: `begin write at ${hex32(address)}`,
      },
    );
    for (let seq = 0; seq < numBlocks; seq++) {
      throwIfAborted(signal);
      let block = data.subarray(seq * blockSize, (seq + 1) * blockSize);
      if (block.length < blockSize) {
        const padded = new Uint8Array(blockSize).fill(0xff);
        padded.set(block);
        block = padded;
      }
      await sendBlock(
        session,
        Op.FLASH_DATA,
        block,
        seq,
        timeoutForSize(ERASE_WRITE_SECONDS_PER_MB, block.length) +
          receiveMs(block.length + 24, baud),
        `write block ${seq} at ${hex32(address)}`,
      );
      wire += block.length;
      progress(Math.min(data.length, (seq + 1) * blockSize));
    }
  }
  if (loader.answersBeforeWriting) {
    // The stub acknowledges a block before writing it; a final command is
    // answered only once the last block is in flash (as esptool does). Allow
    // for the uncompressed size of the last block.
    const lastBlockBytes = Math.min(data.length, blockSize * Math.max(1, lastRatio));
    await session.command(Op.READ_REG, u32le(CHIP_DETECT_MAGIC_REG_ADDR), {
      timeoutMs: timeoutForSize(ERASE_WRITE_SECONDS_PER_MB, lastBlockBytes * 2),
      what: "wait for the last block to be written",
    });
  }
  return wire;
}
