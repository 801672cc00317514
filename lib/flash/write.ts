/**
 * Writing flash: many regions in one call, compressed (FLASH_DEFL_*) or not
 * (FLASH_*), skipping regions the chip already holds and rewriting only the
 * 64 KiB chunks that changed, then verifying each region by MD5.
 *
 * @module
 */

import { EsplineError, throwIfAborted, UsageError } from "../errors.ts";
import type { LoaderSession } from "../loader/session.ts";
import { FLASH_SECTOR_SIZE, hex32 } from "./address.ts";
import { detectFlashSize } from "./flash_size.ts";
import { flashMd5, md5Hex } from "./md5.ts";
import type { FlashProgress } from "./progress.ts";
import { eraseFlash, eraseRegion } from "./erase.ts";
import { writeSpan } from "./write_span.ts";

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
  /** Called as each region's work begins, in address order. Default none. */
  onRegionStart?: (region: RegionStart) => void;
  /** Called with each region's report as soon as the region is done (written, patched or skipped). Default none. */
  onRegion?: (report: RegionReport, position: RegionPosition) => void;
  /** Cancels between blocks. */
  signal?: AbortSignal;
}

/** Where a region stands in its write: the `index`-th (from 0) of `count`, in address order. */
export interface RegionPosition {
  /** Its place in address order, from 0. */
  index: number;
  /** Regions in the write. */
  count: number;
}

/** A region whose work begins (see {@link WriteFlashOptions.onRegionStart}). */
export interface RegionStart extends RegionPosition {
  /** Region name (file name) or its address. */
  name: string;
  /** Flash address. */
  address: number;
  /** Bytes of data given (before padding to 4). */
  size: number;
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
    const chip = await flashMd5(session, { address: address + off, size: piece.length });
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
  const count = sorted.length;
  for (const [index, region] of sorted.entries()) {
    const name = region.name ?? hex32(region.address);
    const size = region.data.length;
    options.onRegionStart?.({ name, address: region.address, size, index, count });
    throwIfAborted(options.signal);
    const t0 = performance.now();
    const data = padTo4(region.data);
    const done = (report: RegionReport) => {
      reports.push(report);
      options.onRegion?.(report, { index, count });
    };
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
        const chip = await flashMd5(session, { address: region.address, size: data.length });
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
        done(report);
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
        { address: region.address + span.offset, data: bytes },
        {
          compress,
          onProgress: (done) => emit("write", label, doneBefore + done),
          signal: options.signal,
        },
      );
      doneBefore += span.length;
      report.bytesWritten += span.length;
    }
    if (verify && canMd5) {
      emit("verify", `Verifying ${name}`, 0);
      const actual = await flashMd5(session, { address: region.address, size: data.length });
      if (actual !== md5) throw new FlashVerifyError(name, region.address, md5, actual);
      report.verified = true;
      emit("verify", `Verifying ${name}`, data.length);
    }
    report.seconds = (performance.now() - t0) / 1000;
    done(report);
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
    const actual = await flashMd5(session, { address: r.address, size: data.length });
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
