/**
 * Reading flash: the stub streams blocks that the host acknowledges and ends
 * with an MD5 of what it sent; the ESP32 ROM reads 64 bytes per command.
 *
 * @module
 */

import { EsplineError, throwIfAborted, TimeoutError, UsageError } from "../errors.ts";
import { encodeRequest, Op, u32le } from "../protocol/packet.ts";
import type { FrameVerdict, LoaderSession } from "../loader/session.ts";
import { FLASH_SECTOR_SIZE, hex32 } from "./address.ts";
import { md5Hex } from "./md5.ts";
import type { FlashProgress } from "./progress.ts";

/** Options for {@link readFlash}. */
export interface ReadFlashOptions {
  /** Progress sink. */
  onProgress?: (progress: FlashProgress) => void;
  /** Cancels between blocks. */
  signal?: AbortSignal;
  /** Stub packet size. Default 4096 (esptool FLASH_SECTOR_SIZE). */
  blockSize?: number;
  /** Packets the stub may send before waiting for an acknowledgement. Default 64 (esptool). */
  maxInFlight?: number;
}

/** Bytes per READ_FLASH_SLOW command (ESP32 ROM). */
const ROM_READ_CHUNK = 64;
/** How long each frame of a streamed read may take, ms (esptool DEFAULT_TIMEOUT). */
const READ_FRAME_TIMEOUT_MS = 3000;
/** First byte of a response frame (serial-protocol: direction 0x01). */
const RESPONSE_DIRECTION = 0x01;
/** The stub's READ_FLASH answer: 8-byte header, then the status byte and the error byte. */
const READ_ANSWER_STATUS = 8;
/** Shortest READ_FLASH answer: header plus the two status bytes. */
const READ_ANSWER_MIN = READ_ANSWER_STATUS + 2;

/**
 * Read `size` bytes of flash at `address`.
 *
 * @example
 * ```ts
 * import { readFlash } from "./read.ts";
 * import type { FrameVerdict, LoaderSession } from "../loader/session.ts";
 * async function backup(s: LoaderSession) {
 *   await Deno.writeFile("boot.bin", await readFlash(s, { address: 0x1000, size: 0x7000 }));
 * }
 * ```
 */
export async function readFlash(
  session: LoaderSession,
  region: { address: number; size: number },
  options: ReadFlashOptions = {},
): Promise<Uint8Array> {
  const { address, size } = region;
  if (!Number.isInteger(size) || size <= 0) {
    throw new UsageError(`read size must be positive, got ${size}`);
  }
  if (!Number.isInteger(address) || address < 0) {
    throw new UsageError(`invalid read address ${address}`);
  }
  await session.spiAttach();
  const label = `Reading ${hex32(address)}+${size}`;
  const emit = (done: number) =>
    options.onProgress?.({ type: "progress", stage: "read", label, address, done, total: size });
  if (session.loader.readFlash !== "stream") {
    return await readFlashRom(session, address, size, emit, options.signal);
  }
  const blockSize = options.blockSize ?? FLASH_SECTOR_SIZE;
  const inFlight = options.maxInFlight ?? 64;
  return await session.exclusive(() =>
    readStream(session, address, size, blockSize, inFlight, emit, options.signal).catch((e) => {
      // The chip may still be streaming: drain it before the next command.
      session.requestResync("an interrupted flash read");
      throw e;
    })
  );
}

/** READ_FLASH through the stub: the command, then the acknowledged block stream and its MD5. */
async function readStream(
  session: LoaderSession,
  address: number,
  size: number,
  blockSize: number,
  inFlight: number,
  emit: (done: number) => void,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  // The command and its stream must not interleave with other commands.
  await session.writeFrame(
    encodeRequest(Op.READ_FLASH, u32le(address, size, blockSize, inFlight)),
  );
  // The stub answers the command before it streams; frames before the answer are skipped.
  const answered = await session.awaitFrame(
    READ_FRAME_TIMEOUT_MS,
    (frame): FrameVerdict<true> => {
      if (frame.length < READ_ANSWER_MIN || frame[0] !== RESPONSE_DIRECTION) return { skip: true };
      if (frame[1] !== Op.READ_FLASH) return { skip: true };
      if (frame[READ_ANSWER_STATUS] !== 0) {
        throw new EsplineError(
          "E_READ_FAILED",
          `the chip refused to read ${hex32(address)}+${size} (status 0x${
            frame[READ_ANSWER_STATUS + 1].toString(16)
          })`,
        );
      }
      return { take: true };
    },
  );
  if (!answered) throw new TimeoutError(`no answer to READ_FLASH at ${hex32(address)}`);
  const out = new Uint8Array(size);
  let got = 0;
  while (got < size) {
    throwIfAborted(signal);
    const frame = await session.readFrame(READ_FRAME_TIMEOUT_MS);
    if (!frame) {
      throw new TimeoutError(
        `flash read stalled at ${hex32(address + got)} (${got} of ${size} bytes)`,
      );
    }
    if (got + frame.length > size) {
      throw new EsplineError(
        "E_READ_CORRUPT",
        `the chip sent more data than asked for at ${hex32(address + got)}`,
      );
    }
    if (got + frame.length < size && frame.length !== blockSize) {
      throw new EsplineError(
        "E_READ_CORRUPT",
        `corrupt read: expected a ${blockSize}-byte block at ${
          hex32(address + got)
        }, got ${frame.length} bytes; retry, or lower the baud rate`,
      );
    }
    out.set(frame, got);
    got += frame.length;
    await session.writeFrame(u32le(got));
    emit(got);
  }
  const digest = await session.readFrame(READ_FRAME_TIMEOUT_MS);
  if (!digest || digest.length !== 16) {
    throw new EsplineError(
      "E_READ_CORRUPT",
      "the chip did not send the MD5 that closes a flash read; retry",
    );
  }
  const expected = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
  const actual = md5Hex(out);
  if (expected !== actual) {
    throw new EsplineError(
      "E_READ_CORRUPT",
      `data read from ${
        hex32(address)
      } does not match the chip's MD5 (${expected} vs ${actual}): bytes were corrupted in transit; retry, or lower the baud rate`,
    );
  }
  return out;
}

async function readFlashRom(
  session: LoaderSession,
  address: number,
  size: number,
  emit: (done: number) => void,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  if (session.loader.readFlash !== "slow") {
    throw new EsplineError(
      "E_NEEDS_STUB",
      `the ${session.chip.name} ROM cannot read flash; run without --no-stub`,
    );
  }
  const out = new Uint8Array(size);
  for (let off = 0; off < size; off += ROM_READ_CHUNK) {
    throwIfAborted(signal);
    const n = Math.min(ROM_READ_CHUNK, size - off);
    // The ROM always answers with 64 bytes; ask for a full chunk and keep what is needed.
    const { payload } = await session.command(
      Op.READ_FLASH_SLOW,
      u32le(address + off, ROM_READ_CHUNK),
      {
        payloadLength: ROM_READ_CHUNK,
        what: `read flash at ${hex32(address + off)}`,
      },
    );
    out.set(payload.subarray(0, n), off);
    emit(off + n);
  }
  return out;
}
