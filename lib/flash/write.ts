/**
 * Writing flash: many regions in one call, compressed (FLASH_DEFL_*) or not
 * (FLASH_*), skipping regions the chip already holds and rewriting only the
 * 64 KiB chunks that changed, then verifying each region by MD5.
 *
 * @module
 */

import { zlibSync } from "fflate";
import { EsplineError, throwIfAborted, UsageError } from "../errors.ts";
import { checksum, concatBytes, Op, u32le } from "../protocol/packet.ts";
import { LoaderStatusError, SPOILED_BLOCK_STATUSES } from "../protocol/status.ts";
import { CHIP_DETECT_MAGIC_REG_ADDR } from "../chips/index.ts";
import { DEFAULT_COMMAND_TIMEOUT_MS, type LoaderSession } from "../loader/session.ts";

import {
  detectFlashSize,
  ERASE_SECONDS_PER_MB,
  ERASE_WRITE_SECONDS_PER_MB,
  FLASH_SECTOR_SIZE,
  flashMd5,
  type FlashProgress,
  hex32,
  md5Hex,
  timeoutForSize,
} from "./common.ts";
import { eraseFlash, eraseRegion } from "./erase.ts";

/** One piece of data to put at one flash address. */
export interface FlashRegion {
  /** Flash offset; must be a multiple of 4096 (the erase sector). */
  address: number;
  /** Bytes to write. */
  data: Uint8Array;
  /** Name for reports and errors (usually the file name). */
  name?: string;
}

/** Options for {@link writeFlash}. */
export interface WriteFlashOptions {
  /** Send data deflate-compressed. Default true (forced off where the ROM cannot inflate: ESP8266 ROM). */
  compress?: boolean;
  /** Check each region's MD5 on the chip after writing. Default true. */
  verify?: boolean;
  /** Skip regions whose MD5 on the chip already matches. Default true. */
  skipUnchanged?: boolean;
  /** Compare chunks of this size and rewrite only the changed ones; 0 turns it off. Default 64 KiB. */
  diffChunkSize?: number;
  /** Erase the whole flash first (needs the stub). Default false. */
  eraseAll?: boolean;
  /** Flash size for the bounds check. Default: detected from the JEDEC id. */
  flashSize?: number;
  /** Progress sink. */
  onProgress?: (progress: FlashProgress) => void;
  /** Cancels between blocks. */
  signal?: AbortSignal;
}

/** What happened to one region. */
export interface RegionReport {
  /** Region name (file name) or its address. */
  name: string;
  /** Flash address. */
  address: number;
  /** Bytes in the region (after padding to 4). */
  size: number;
  /** MD5 of the region's data (hex). */
  md5: string;
  /** `skipped`: already on the chip; `written`: fully written; `patched`: only changed chunks rewritten. */
  action: "skipped" | "written" | "patched";
  /** Uncompressed bytes written to flash. */
  bytesWritten: number;
  /** Payload bytes sent over the wire (compressed size when compressing). */
  bytesOnWire: number;
  /** Chunks compared / rewritten (chunk diff), 0 when not used. */
  chunksTotal: number;
  /** Chunks rewritten. */
  chunksWritten: number;
  /** The chip's MD5 matched after writing (false when verification was off or impossible). */
  verified: boolean;
  /** Seconds spent on this region. */
  seconds: number;
}

/** What a {@link writeFlash} call did. */
export interface WriteReport {
  /** Per region, in address order. */
  regions: RegionReport[];
  /** Uncompressed bytes written to flash. */
  bytesWritten: number;
  /** Payload bytes sent over the wire. */
  bytesOnWire: number;
  /** Regions skipped as unchanged. */
  skipped: number;
  /** Every region verified. */
  verified: boolean;
  /** Wall time in seconds. */
  seconds: number;
}

/** The chip's MD5 of a region differs from the data after writing. */
export class FlashVerifyError extends EsplineError {
  /** Create the error for one region. */
  constructor(region: string, address: number, expected: string, actual: string) {
    super(
      "E_VERIFY_FAILED",
      `verification of ${region} at ${
        hex32(address)
      } failed: the chip's MD5 is ${actual}, expected ${expected}. ` +
        "The flash may be faulty or the write was disturbed; write it again, and if it keeps failing, erase-flash first",
      { details: { region, address, expected, actual } },
    );
  }
}

/** Pad to a multiple of 4 with 0xFF, as esptool does before writing. */
export function padTo4(data: Uint8Array): Uint8Array {
  if (data.length % 4 === 0) return data;
  const out = new Uint8Array(data.length + (4 - (data.length % 4))).fill(0xff);
  out.set(data);
  return out;
}

/**
 * Check a list of regions before any device is touched: alignment, overlaps,
 * empty data and (when `flashSize` is known) the end of the flash.
 *
 * @throws {UsageError} saying which region to fix and how.
 */
export function checkRegions(regions: FlashRegion[], flashSize?: number): FlashRegion[] {
  if (regions.length === 0) {
    throw new UsageError("nothing to write: give at least one address and file");
  }
  const sorted = [...regions].sort((a, b) => a.address - b.address);
  for (const r of sorted) {
    const name = r.name ?? hex32(r.address);
    if (!Number.isInteger(r.address) || r.address < 0) {
      throw new UsageError(`invalid flash address ${r.address} for ${name}`, {
        code: "E_BAD_ADDRESS",
      });
    }
    if (r.address % FLASH_SECTOR_SIZE !== 0) {
      throw new UsageError(
        `${name}: address ${
          hex32(r.address)
        } is not a multiple of 0x1000 (4096). Flash is erased in 4 KiB ` +
          `sectors, so writing there would erase the bytes before it; use ${
            hex32(r.address - (r.address % FLASH_SECTOR_SIZE))
          } ` +
          "or pad the file",
        { code: "E_UNALIGNED", details: { address: r.address } },
      );
    }
    if (r.data.length === 0) {
      throw new UsageError(`${name} is empty: nothing to write`, { code: "E_EMPTY_FILE" });
    }
    if (flashSize !== undefined && r.address + r.data.length > flashSize) {
      throw new UsageError(
        `${name} (${r.data.length} bytes at ${hex32(r.address)}) ends at ${
          hex32(r.address + r.data.length)
        }, ` +
          `past the end of the ${flashSize / 1024 / 1024} MB flash`,
        { code: "E_PAST_END", details: { address: r.address, size: r.data.length, flashSize } },
      );
    }
  }
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1];
    const b = sorted[i];
    const aEnd = a.address + padTo4(a.data).length;
    // Regions share an erase sector if a's last sector reaches b's first.
    const aLastSector = Math.ceil(aEnd / FLASH_SECTOR_SIZE) * FLASH_SECTOR_SIZE;
    if (aLastSector > b.address) {
      throw new UsageError(
        `${a.name ?? hex32(a.address)} (${hex32(a.address)}–${hex32(aEnd)}) overlaps ` +
          `${b.name ?? hex32(b.address)} at ${
            hex32(b.address)
          } (regions must not share a 4 KiB sector)`,
        { code: "E_OVERLAP" },
      );
    }
  }
  return sorted;
}

const BLOCK_ATTEMPTS = 3;

/** Bits on the wire per byte (start bit, 8 data bits, stop bit). */
const BITS_PER_BYTE = 10;
/**
 * How much slower than the line a loader may take in a block: the legacy
 * stub on the emulated ESP32 reads its input at about 40 % of the line rate
 * (16 KiB blocks take 3.1 s at 115200), so the block answer can come well
 * after the wire time. Three times the wire time covers it.
 */
const RECEIVE_SLACK = 3;

/** Time the loader may need to receive `bytes` at the session's baud rate, ms, with slack. */
export function receiveMs(bytes: number, baud: number): number {
  return Math.ceil((bytes * BITS_PER_BYTE * 1000 * RECEIVE_SLACK) / baud);
}

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

/** Write one contiguous span (already padded) and return the payload bytes sent. */
async function writeSpan(
  session: LoaderSession,
  address: number,
  data: Uint8Array,
  compress: boolean,
  progress: (done: number) => void,
  signal?: AbortSignal,
): Promise<number> {
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
  const comp = compress ? zlibSync(data, { level: 9 }) : null;
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

/** Shortest run of all-0xFF sectors worth erasing instead of writing (16 sectors = 64 KiB). */
export const ERASED_RUN_MIN = 0x10000;

/** Options for {@link splitErasedRuns}. */
export interface SplitErasedRunsOptions {
  /** Shortest run of 0xFF sectors split off, bytes. Default {@link ERASED_RUN_MIN}. */
  minRun?: number;
}

/**
 * Split a span into pieces to write and runs of whole 0xFF sectors (at least
 * {@link ERASED_RUN_MIN} long) to erase instead. Offsets are relative to the
 * region start, which is sector-aligned.
 */
export function splitErasedRuns(
  data: Uint8Array,
  span: { offset: number; length: number },
  options: SplitErasedRunsOptions = {},
): { offset: number; length: number; erased: boolean }[] {
  const minRun = options.minRun ?? ERASED_RUN_MIN;
  const end = span.offset + span.length;
  const out: { offset: number; length: number; erased: boolean }[] = [];
  const isErased = (from: number, to: number) => {
    for (let i = from; i < to; i++) if (data[i] !== 0xff) return false;
    return true;
  };
  let pos = span.offset;
  let runStart = -1;
  const flushWrite = (to: number) => {
    if (to <= pos) return;
    const last = out[out.length - 1];
    if (last && !last.erased && last.offset + last.length === pos) last.length += to - pos;
    else out.push({ offset: pos, length: to - pos, erased: false });
    pos = to;
  };
  for (let s = span.offset; s < end; s += FLASH_SECTOR_SIZE) {
    const e = Math.min(end, s + FLASH_SECTOR_SIZE);
    // A sector counts only when the span covers all of it, or it is the data's final sector.
    const whole = e - s === FLASH_SECTOR_SIZE || e === data.length;
    if (whole && isErased(s, e)) {
      if (runStart < 0) runStart = s;
      continue;
    }
    if (runStart >= 0 && s - runStart >= minRun) {
      flushWrite(runStart);
      out.push({ offset: runStart, length: s - runStart, erased: true });
      pos = s;
    }
    runStart = -1;
  }
  if (runStart >= 0 && end - runStart >= minRun) {
    flushWrite(runStart);
    out.push({ offset: runStart, length: end - runStart, erased: true });
    pos = end;
  }
  flushWrite(end);
  return out;
}

/** A part of a region to bring to the new data; `blank` when the chip holds only 0xFF there. */
interface ChangedSpan {
  /** Offset in the region. */
  offset: number;
  /** Length in bytes. */
  length: number;
  /** The flash there is erased already: its 0xFF sectors need nothing. */
  blank: boolean;
}

/** MD5s of all-0xFF runs by length (the flash's erased state), cached. */
const blankMd5s = new Map<number, string>();
function blankMd5(length: number): string {
  let m = blankMd5s.get(length);
  if (!m) {
    m = md5Hex(new Uint8Array(length).fill(0xff));
    blankMd5s.set(length, m);
  }
  return m;
}

/**
 * Compare a region with the chip chunk by chunk (one MD5 each, so the flash
 * is read once): chunks that match are left alone, chunks the chip holds
 * erased are marked blank (their 0xFF sectors need no work), the others
 * are rewritten. Adjacent changed chunks of the same kind are merged.
 */
async function changedSpans(
  session: LoaderSession,
  address: number,
  data: Uint8Array,
  chunkSize: number,
  signal?: AbortSignal,
): Promise<{ spans: ChangedSpan[]; chunks: number }> {
  const spans: ChangedSpan[] = [];
  let chunks = 0;
  for (let off = 0; off < data.length; off += chunkSize) {
    throwIfAborted(signal);
    const piece = data.subarray(off, off + chunkSize);
    chunks++;
    const chip = await flashMd5(session, address + off, piece.length);
    if (chip === md5Hex(piece)) continue;
    const blank = chip === blankMd5(piece.length);
    const last = spans[spans.length - 1];
    if (last && last.offset + last.length === off && last.blank === blank) {
      last.length += piece.length;
    } else spans.push({ offset: off, length: piece.length, blank });
  }
  return { spans, chunks };
}

/**
 * Write regions to flash.
 *
 * Per region: if the chip already holds the data (MD5 match) it is skipped;
 * otherwise only the 64 KiB chunks that differ are rewritten; then the
 * chip's MD5 of the whole region is checked against the data.
 *
 * @example
 * ```ts
 * import { writeFlash } from "./write.ts";
 * import type { LoaderSession } from "../loader/session.ts";
 * async function flash(s: LoaderSession, app: Uint8Array) {
 *   const report = await writeFlash(s, [{ address: 0x10000, data: app, name: "app.bin" }]);
 *   console.log(report.bytesOnWire, report.verified);
 * }
 * ```
 */
export async function writeFlash(
  session: LoaderSession,
  regions: FlashRegion[],
  options: WriteFlashOptions = {},
): Promise<WriteReport> {
  const started = performance.now();
  const flashSize = options.flashSize ?? await detectFlashSize(session);
  const sorted = checkRegions(regions, flashSize);
  const loader = session.loader;
  const compress = (options.compress ?? true) && loader.compressedWrites;
  const canMd5 = loader.md5 !== null;
  const verify = options.verify ?? true;
  const skip = (options.skipUnchanged ?? true) && canMd5;
  const chunkSize = options.diffChunkSize ?? 0x10000;
  if (verify && !canMd5) {
    session.log(
      "warn",
      `the ${session.chip.name} ROM cannot compute MD5s: the write will not be verified (run with the stub)`,
    );
  }
  await session.spiAttach();
  if (options.eraseAll) await eraseFlash(session, { signal: options.signal });
  const reports: RegionReport[] = [];
  for (const region of sorted) {
    throwIfAborted(options.signal);
    const t0 = performance.now();
    const data = padTo4(region.data);
    const name = region.name ?? hex32(region.address);
    const md5 = md5Hex(data);
    const report: RegionReport = {
      name,
      address: region.address,
      size: data.length,
      md5,
      action: "written",
      bytesWritten: 0,
      bytesOnWire: 0,
      chunksTotal: 0,
      chunksWritten: 0,
      verified: false,
      seconds: 0,
    };
    const emit = (stage: FlashProgress["stage"], label: string, done: number) =>
      options.onProgress?.({
        type: "progress",
        stage,
        label,
        address: region.address,
        done,
        total: data.length,
      });
    // After erase-all the whole region is blank.
    let spans: ChangedSpan[] = [{ offset: 0, length: data.length, blank: !!options.eraseAll }];
    if (skip && !options.eraseAll) {
      emit("compare", `Comparing ${name} at ${hex32(region.address)}`, 0);
      if (chunkSize > 0 && data.length > chunkSize) {
        // Chunk by chunk: the same flash reads tell "unchanged" (no chunk
        // differs), which chunks to rewrite and which are blank already.
        const diff = await changedSpans(session, region.address, data, chunkSize, options.signal);
        spans = diff.spans;
        report.chunksTotal = diff.chunks;
        report.chunksWritten = spans.reduce((n, s) => n + Math.ceil(s.length / chunkSize), 0);
        if (report.chunksWritten < report.chunksTotal) report.action = "patched";
      } else {
        const chip = await flashMd5(session, region.address, data.length);
        spans = chip === md5
          ? []
          : [{ offset: 0, length: data.length, blank: chip === blankMd5(data.length) }];
      }
      if (spans.length === 0) {
        report.action = "skipped";
        report.chunksWritten = 0;
        report.verified = true;
        report.seconds = (performance.now() - t0) / 1000;
        emit("compare", `Comparing ${name} at ${hex32(region.address)}`, data.length);
        reports.push(report);
        continue;
      }
    }
    let doneBefore = 0;
    const canEraseRegion = loader.eraseRegion !== null;
    const pieces = spans.flatMap((span) => {
      // On blank flash, whole 0xFF sectors of the data are already in place:
      // neither written nor erased.
      if (span.blank) {
        return splitErasedRuns(data, span, { minRun: FLASH_SECTOR_SIZE }).map((p) => ({
          ...p,
          inPlace: p.erased,
        }));
      }
      const split = canEraseRegion ? splitErasedRuns(data, span) : [{ ...span, erased: false }];
      return split.map((p) => ({ ...p, inPlace: false }));
    });
    for (const span of pieces) {
      if (span.inPlace) {
        doneBefore += span.length;
        report.bytesWritten += span.length;
        emit(
          "write",
          `Skipping erased ${name} at ${hex32(region.address + span.offset)}`,
          doneBefore,
        );
        continue;
      }
      if (span.erased) {
        // A run of whole sectors that are all 0xFF: erasing gives the same
        // result as writing, without sending or programming a byte.
        await eraseRegion(session, {
          address: region.address + span.offset,
          size: Math.ceil(span.length / FLASH_SECTOR_SIZE) * FLASH_SECTOR_SIZE,
        }, { signal: options.signal });
        doneBefore += span.length;
        report.bytesWritten += span.length;
        emit("write", `Erasing ${name} at ${hex32(region.address + span.offset)}`, doneBefore);
        continue;
      }
      const bytes = data.subarray(span.offset, span.offset + span.length);
      const label = `Writing ${name} at ${hex32(region.address + span.offset)}`;
      report.bytesOnWire += await writeSpan(
        session,
        region.address + span.offset,
        bytes,
        compress,
        (done) => emit("write", label, doneBefore + done),
        options.signal,
      );
      doneBefore += span.length;
      report.bytesWritten += span.length;
    }
    if (verify && canMd5) {
      emit("verify", `Verifying ${name}`, 0);
      const actual = await flashMd5(session, region.address, data.length);
      if (actual !== md5) throw new FlashVerifyError(name, region.address, md5, actual);
      report.verified = true;
      emit("verify", `Verifying ${name}`, data.length);
    }
    report.seconds = (performance.now() - t0) / 1000;
    reports.push(report);
  }
  return {
    regions: reports,
    bytesWritten: reports.reduce((n, r) => n + r.bytesWritten, 0),
    bytesOnWire: reports.reduce((n, r) => n + r.bytesOnWire, 0),
    skipped: reports.filter((r) => r.action === "skipped").length,
    verified: reports.every((r) => r.verified),
    seconds: (performance.now() - started) / 1000,
  };
}

/** Result of {@link verifyFlash}. */
export interface VerifyReport {
  /** Per region: expected and actual MD5. */
  regions: {
    name: string;
    address: number;
    size: number;
    expected: string;
    actual: string;
    ok: boolean;
  }[];
  /** All regions match. */
  ok: boolean;
}

/**
 * Compare regions with the chip's flash by MD5, without writing. Returns a
 * report; does not throw on mismatch (the caller decides).
 */
export async function verifyFlash(
  session: LoaderSession,
  regions: FlashRegion[],
  options: { signal?: AbortSignal } = {},
): Promise<VerifyReport> {
  const out: VerifyReport["regions"] = [];
  for (const r of checkRegions(regions)) {
    throwIfAborted(options.signal);
    const data = padTo4(r.data);
    const expected = md5Hex(data);
    const actual = await flashMd5(session, r.address, data.length);
    out.push({
      name: r.name ?? hex32(r.address),
      address: r.address,
      size: data.length,
      expected,
      actual,
      ok: expected === actual,
    });
  }
  return { regions: out, ok: out.every((r) => r.ok) };
}
