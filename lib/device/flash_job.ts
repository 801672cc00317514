/**
 * The write job: everything that happens between "here is a firmware set"
 * and "it is on the chip and verified", for scripts and the CLI alike.
 *
 * 1. Flash size: `detect` (and by default) reads the flash chip; a given size
 *    is told to the loader.
 * 2. Regions written by partition name get their address from the partition
 *    table in the same firmware set, else the one on the chip.
 * 3. The bootloader's header gets the flash mode, clock and size (from the
 *    options, else the build's manifest), as esptool patches it.
 * 4. Pre-flight: an image built for another chip, a bootloader at the wrong
 *    offset, an image needing a newer silicon revision, or data past the end
 *    of the flash is refused with a {@link PreflightError} before a byte is
 *    written (`force` writes anyway and says so).
 * 5. The write: unchanged regions skipped, only changed 64 KiB chunks
 *    rewritten, runs of 0xFF erased instead of sent, every region verified.
 * 6. With `resume`, a write that fails on a link fault (timeout, corrupted
 *    answer, brown-out reset, port gone) reconnects at a lower baud rate and
 *    carries on; the chunk comparison means it rewrites only what is not yet
 *    on the chip.
 * 7. With `resume`, the flash outside the regions is hashed before the
 *    write, and after a write that needed a recovery (or erased a 0xFF run,
 *    or went through the ROM loader) it must still be the same
 *    (`collateral.ts`): a corrupted command the chip obeyed fails the board
 *    with `E_COLLATERAL_DAMAGE`.
 *
 * @module
 */

import { AbortedError, EsplineError, TransportError, UsageError } from "../errors.ts";
import type { LoaderSession } from "../loader/session.ts";
import { LoaderStatusError } from "../protocol/status.ts";
import {
  checkRegions,
  type FlashRegion,
  FlashVerifyError,
  verifyFlash,
  writeFlash,
  type WriteFlashOptions,
  type WriteReport,
} from "../flash/write.ts";
import { eraseFlash } from "../flash/erase.ts";
import { readFlash } from "../flash/read.ts";
import { hex32 } from "../flash/address.ts";
import { detectFlashSize } from "../flash/flash_size.ts";
import type { FlashProgress } from "../flash/progress.ts";
import { formatFlashSize } from "../chips/index.ts";
import { patchFlashParams } from "../image/flash_params.ts";
import { preflight, type PreflightIssue } from "../image/preflight.ts";
import {
  findPartition,
  parsePartitionTable,
  type Partition,
  PARTITION_TABLE_OFFSET,
} from "../image/partition.ts";
import { type Firmware, type FlashSettings, normalizeFlashSettings } from "./firmware.ts";
import type {
  CollateralCheckEvent,
  FlashedEvent,
  NoticeEvent,
  RecoveryEvent,
  RegionDoneEvent,
  RegionStartEvent,
} from "./events.ts";
import {
  changedOutside,
  checkAfterWrite,
  CollateralDamageError,
  type CollateralPolicy,
  type CollateralReport,
  type CollateralSnapshot,
  snapshotOutside,
} from "./collateral.ts";
import { readChipPartitionTable } from "./flash_ops.ts";
import { parseIntArg } from "./numbers.ts";
import { readFlashInfo } from "../loader/info.ts";
import { readRevisionConfirmed } from "../loader/identity.ts";

/** Attempts of a resumed write unless told otherwise, the first included. */
const DEFAULT_RESUME_ATTEMPTS = 3;
/** Baud rates a resumed write steps down through unless told otherwise. */
const DEFAULT_FALLBACK_BAUDS: readonly number[] = [460800, 115200];
/** Baud rate when the fallback list runs out: the ROM's. */
const LAST_RESORT_BAUD = 115200;

/** How a write resumes after a fault. */
export interface ResumeOptions {
  /** Attempts in all, the first included. Default 3. */
  attempts?: number;
  /** Baud rates to step down through, one per recovery. Default `[460800, 115200]`. */
  fallbackBauds?: number[];
}

/**
 * Options for `Device.flash`.
 *
 * @example
 * ```ts
 * import type { FlashOptions } from "./flash_job.ts";
 * const options: FlashOptions = { flashMode: "dio", flashSize: "detect", resume: true };
 * ```
 */
export interface FlashOptions {
  /** SPI mode for the bootloader header. Default: the manifest's, else `keep`. */
  flashMode?: FlashSettings["mode"];
  /** SPI clock for the bootloader header. Default: the manifest's, else `keep`. */
  flashFreq?: FlashSettings["freq"];
  /** Flash size: for the header and the bounds check (`detect` reads the flash chip). Default: the manifest's, else `keep` (header unchanged, size detected for the bounds check). */
  flashSize?: FlashSettings["size"];
  /** Write even when pre-flight checks fail (each failure becomes a warning). Default false. */
  force?: boolean;
  /** Send data deflate-compressed (off where the ROM cannot inflate). Default true. */
  compress?: boolean;
  /** Check each region's MD5 after writing. Default true. */
  verify?: boolean;
  /** Skip regions the chip already holds and rewrite only changed 64 KiB chunks. Default true. */
  skipUnchanged?: boolean;
  /** Erase the whole flash first (needs the stub). Default false. */
  eraseAll?: boolean;
  /**
   * Resume after link faults: reconnect at a lower baud rate and carry on.
   * Default false; `true` in `runStation` jobs (see `Device.flashDefaults`).
   */
  resume?: boolean | ResumeOptions;
  /**
   * With `resume`: confirm that the flash outside the written regions is
   * unchanged, by MD5s the chip computes before the write and after it
   * (see `CollateralReport`). `auto` compares after a write that needed
   * any recovery (a corrupted command the chip obeyed leaves no other
   * trace), or that may have sent a command whose over-reach no region's
   * MD5 shows (an erase of a 0xFF run; any write through the ROM loader);
   * `recovered` only after a recovery; `always` after every write (one more
   * read of the unwritten flash per board); `false` never. A change fails
   * the write with `E_COLLATERAL_DAMAGE`. Default `auto`.
   */
  collateralCheck?: CollateralPolicy;
  /** Cancels between blocks. */
  signal?: AbortSignal;
}

/** What `Device.flash` did. */
export interface FlashReport extends WriteReport {
  /** Flash size used for the bounds check, in bytes. */
  flashSize: number;
  /** Recoveries it took (empty when the first attempt went through). */
  recoveries: Omit<RecoveryEvent, "type">[];
  /** Pre-flight findings shown as warnings (and errors overridden by `force`). */
  warnings: PreflightIssue[];
  /**
   * Whether the flash outside the regions was compared after the write, and
   * how it was; absent when the write does not resume after faults (then
   * there is no recovery to suspect).
   */
  collateral?: CollateralReport;
}

/** Options for `Device.verify`. */
export interface VerifyOptions {
  /** On a mismatch, read the region and list the differing addresses. Default false. */
  diff?: boolean;
  /** Flash mode applied to the bootloader header before comparing (as the write did). Default: the manifest's, else `keep`. */
  flashMode?: FlashSettings["mode"];
  /** Flash clock, as `flashMode`. */
  flashFreq?: FlashSettings["freq"];
  /** Flash size, as `flashMode`. */
  flashSize?: FlashSettings["size"];
  /** Cancels between regions. */
  signal?: AbortSignal;
}

/** One region as `Device.verify` found it. */
export interface VerifiedRegion {
  /** Region name (file name) or its address. */
  name: string;
  /** Flash address. */
  address: number;
  /** Bytes compared (padded to 4). */
  size: number;
  /** MD5 of the data (hex). */
  expected: string;
  /** MD5 the chip computed (hex). */
  actual: string;
  /** They match. */
  ok: boolean;
  /** Differing bytes (with `diff`, on a mismatch): how many, and the first 16 addresses. */
  differences?: { count: number; first: number[] };
}

/** What `Device.verify` found, per region and in all. */
export interface VerifyReport {
  /** Per region, in address order. */
  regions: VerifiedRegion[];
  /** Every region matches. */
  ok: boolean;
}

/**
 * Pre-flight checks refused the write; nothing was written. `issues` lists
 * every finding; `code` is the first error's (`E_IMAGE_CHIP`,
 * `E_BOOTLOADER_OFFSET`, `E_IMAGE_MIN_REV`, `E_PAST_END`). A station fails
 * the board at its `preflight` stage.
 *
 * @example
 * ```ts
 * import { PreflightError } from "./flash_job.ts";
 * const e = new PreflightError([{ level: "error", code: "E_IMAGE_CHIP", message: "boot.bin is built for ESP32" }]);
 * console.log(e.code, e.issues.length); // E_IMAGE_CHIP 1
 * ```
 */
export class PreflightError extends UsageError {
  /** Every error found. */
  readonly issues: PreflightIssue[];
  /** Create the error from the findings (errors only). */
  constructor(issues: PreflightIssue[]) {
    super(
      `refusing to write (nothing was written):\n${
        issues.map((e) => `  - ${e.message}`).join("\n")
      }\n` +
        "fix the files or addresses, or pass --force if you are sure",
      { code: issues[0]?.code ?? "E_PREFLIGHT", details: { issues } },
    );
    this.issues = issues;
  }
}

/** Errors worth a reconnect-and-retry: the link, not the request, went wrong. */
export function isRecoverable(e: unknown): boolean {
  if (e instanceof AbortedError) return false;
  if (e instanceof FlashVerifyError) return true;
  if (e instanceof TransportError) return true; // a vanished port is reopened
  // Any status the loader reports may come from a request corrupted on the way: retrying is bounded.
  if (e instanceof LoaderStatusError) return true;
  if (!(e instanceof EsplineError)) return false;
  return [
    "E_TIMEOUT",
    "E_CONNECT_FAILED",
    "E_MALFORMED_PACKET",
    "E_SHORT_RESPONSE",
    "E_READ_CORRUPT",
    "E_STUB_FAILED",
    "E_BAUD_FAILED",
    "E_NOT_IN_LOADER",
    "E_SPI_TIMEOUT",
    "E_CHIP_RESET",
    "E_IDENTITY_UNSTABLE",
  ].includes(e.code);
}

/** What the write job needs from its device. */
export interface JobHost {
  /** The current loader session (a new one after a reconnect). */
  readonly session: LoaderSession;
  /** Report progress, notices, regions and recoveries. */
  emit(
    event:
      | FlashProgress
      | NoticeEvent
      | RecoveryEvent
      | CollateralCheckEvent
      | FlashedEvent
      | RegionStartEvent
      | RegionDoneEvent,
  ): void;
  /** Back into the loader after a fault, at `baud`. */
  reconnect(options: { baud?: number; signal?: AbortSignal }): Promise<void>;
}

/** Flash size in bytes for a size name (`4MB`, `2MB-C1`). */
function sizeBytes(size: string): number {
  const n = parseIntArg(size.replace(/-c1$/i, ""));
  if (n === null) {
    throw new UsageError(`invalid flash size "${size}"`, { code: "E_BAD_FLASH_PARAMS" });
  }
  return n;
}

/** The settings in force: the options', else the firmware's, each normalised. */
function settingsFor(firmware: Firmware, options: VerifyOptions | FlashOptions): FlashSettings {
  const given = normalizeFlashSettings({
    mode: options.flashMode,
    freq: options.flashFreq,
    size: options.flashSize,
  });
  return {
    mode: given.mode ?? firmware.settings.mode,
    freq: given.freq ?? firmware.settings.freq,
    size: given.size ?? firmware.settings.size,
  };
}

/** Tell the loader the flash size (given, or detected); returns it in bytes. */
async function applyFlashSize(
  session: LoaderSession,
  size: FlashSettings["size"],
): Promise<number> {
  if (size && size !== "detect" && size !== "keep") {
    const bytes = sizeBytes(size);
    await session.setFlashParams(bytes);
    return bytes;
  }
  return await detectFlashSize(session);
}

/** The partition table that names partitions for this write: the firmware's own, else the chip's. */
async function partitionTable(
  session: LoaderSession,
  regions: FlashRegion[],
  signal?: AbortSignal,
): Promise<Partition[]> {
  const own = regions.find((r) => r.address === PARTITION_TABLE_OFFSET);
  if (own) {
    try {
      return parsePartitionTable(own.data);
    } catch {
      // Not a table after all: the chip's decides.
    }
  }
  return await readChipPartitionTable(session, { signal });
}

/**
 * The regions as they go to the chip: partition names resolved to addresses
 * and the bootloader header patched with the settings. The firmware set is
 * not changed.
 */
async function prepareRegions(
  host: JobHost,
  firmware: Firmware,
  settings: FlashSettings,
  flashSize: number,
  signal?: AbortSignal,
): Promise<FlashRegion[]> {
  const session = host.session;
  const regions = firmware.regions.map((r) => ({ ...r }));
  if (regions.some((r) => r.partition !== undefined)) {
    const table = await partitionTable(session, regions, signal);
    for (const r of regions) {
      if (r.partition === undefined) continue;
      const p = findPartition(table, r.partition);
      if (r.data.length > p.size) {
        throw new UsageError(
          `${r.name} (${r.data.length} bytes) does not fit partition ${p.name} (${p.size} bytes)`,
          { code: "E_TOO_BIG" },
        );
      }
      r.address = p.offset;
      host.emit({
        type: "notice",
        level: "info",
        message: `Partition ${p.name} is at ${hex32(p.offset)} (${p.size} bytes)`,
      });
    }
  }
  const params = {
    mode: settings.mode,
    freq: settings.freq,
    size: settings.size === "detect" ? formatFlashSize(flashSize) : settings.size,
  };
  for (const r of regions) {
    let patched;
    try {
      patched = patchFlashParams(r.data, r.address, { chip: session.chip, params });
    } catch (e) {
      throw new UsageError(`${(e as Error).message} (nothing was written)`, {
        code: "E_BAD_FLASH_PARAMS",
      });
    }
    for (const note of patched.notes) host.emit({ type: "notice", level: "info", message: note });
    r.data = patched.data;
  }
  return regions.map(({ partition: _, ...r }) => r);
}

function resumePlan(resume: FlashOptions["resume"]): Required<ResumeOptions> {
  if (!resume) return { attempts: 1, fallbackBauds: [] };
  const o = resume === true ? {} : resume;
  return {
    attempts: Math.max(1, o.attempts ?? DEFAULT_RESUME_ATTEMPTS),
    fallbackBauds: o.fallbackBauds ?? [...DEFAULT_FALLBACK_BAUDS],
  };
}

/**
 * A flash size given by the options or the build, checked against the flash
 * chip's own (JEDEC id): larger is refused, since the header would promise
 * the bootloader flash that is not there and writes past the real end fail
 * in ways that point elsewhere. Unknown ids cannot be checked.
 */
async function flashSizeIssue(
  session: LoaderSession,
  given: number,
): Promise<PreflightIssue | null> {
  const detected = (await readFlashInfo(session)).size;
  if (detected === null || given <= detected) return null;
  return {
    level: "error",
    code: "E_FLASH_SIZE",
    message: `the flash size asked for (${formatFlashSize(given)}) is larger than the ${
      formatFlashSize(detected)
    } flash this ${session.chip.name} has: give --flash-size ${
      formatFlashSize(detected)
    } (or detect)`,
  };
}

/** Partitions, header settings and pre-flight: the regions to write, or a {@link PreflightError}. */
async function prepare(
  host: JobHost,
  firmware: Firmware,
  settings: FlashSettings,
  flashSize: number,
  options: FlashOptions,
): Promise<{ regions: FlashRegion[]; warnings: PreflightIssue[] }> {
  const session = host.session;
  const regions = await prepareRegions(host, firmware, settings, flashSize, options.signal);
  const revision = await readRevisionConfirmed(session);
  const issues = preflight(regions, { chip: session.chip, revision, flashSize });
  if (settings.size && settings.size !== "detect" && settings.size !== "keep") {
    const size = await flashSizeIssue(session, flashSize);
    if (size) issues.push(size);
  }
  const warnings = issues.filter((x) => x.level === "warning");
  for (const w of warnings) {
    host.emit({ type: "notice", level: "warn", code: w.code, message: w.message });
  }
  const errors = issues.filter((x) => x.level === "error");
  if (errors.length && !options.force) throw new PreflightError(errors);
  for (const e of errors) {
    host.emit({ type: "notice", level: "warn", code: e.code, message: `forced: ${e.message}` });
  }
  checkRegions(regions, flashSize);
  return { regions, warnings: [...warnings, ...errors] };
}

/** What a region of a write job holds so far. */
type RegionState = "untouched" | "started" | "written";

/** One region as a cancelled write left it (in `AbortedError.details.regions`). */
export interface CancelledRegion {
  /** Region name (file name) or its address. */
  name: string;
  /** First address. */
  address: number;
  /** Address after its last byte. */
  end: number;
  /** `written`: all on the chip; `partial`: partly written or erased; `untouched`: not begun. */
  state: "written" | "partial" | "untouched";
}

/** Follows a write's progress so a cancelled write can say what it left behind. */
class WriteTracker {
  #states = new Map<number, RegionState>();
  /** The whole flash was erased first. */
  erasedAll = false;

  see(p: FlashProgress): void {
    const state = this.#states.get(p.address) ?? "untouched";
    if (state === "written") return;
    // Compare reads only, but the write's begin command (which erases) may follow at once.
    // A region is complete once all of it is written (verified or not), or found unchanged.
    const complete = p.done >= p.total &&
      (p.stage === "write" || p.stage === "verify" || p.stage === "compare");
    this.#states.set(p.address, complete ? "written" : "started");
  }

  /** Every region written (the write returned). */
  allWritten(regions: FlashRegion[]): void {
    for (const r of regions) this.#states.set(r.address, "written");
  }

  report(regions: FlashRegion[]): CancelledRegion[] {
    return regions.map((r) => {
      const state = this.#states.get(r.address) ?? "untouched";
      return {
        name: r.name ?? hex32(r.address),
        address: r.address,
        end: r.address + r.data.length,
        state: state === "written"
          ? "written"
          : state === "started" || this.erasedAll
          ? "partial"
          : "untouched",
      };
    });
  }
}

/**
 * The cancellation of a write, saying which address ranges it left partly
 * written or erased (in the message, and as `details.regions`).
 */
function cancelledWrite(
  e: AbortedError,
  tracker: WriteTracker,
  regions: FlashRegion[] | null,
): AbortedError {
  const states = regions ? tracker.report(regions) : [];
  const range = (r: CancelledRegion) => `${hex32(r.address)}-${hex32(r.end - 1)} (${r.name})`;
  const partial = states.filter((r) => r.state === "partial");
  const untouched = states.filter((r) => r.state === "untouched");
  const written = states.filter((r) => r.state === "written");
  let what: string;
  if (!partial.length && !written.length && !tracker.erasedAll) {
    what = "before anything was written";
  } else {
    what = [
      tracker.erasedAll ? "after the whole flash was erased" : "",
      partial.length ? `partly written or erased: ${partial.map(range).join(", ")}` : "",
      written.length ? `written: ${written.map(range).join(", ")}` : "",
      untouched.length ? `not written: ${untouched.map(range).join(", ")}` : "",
    ].filter(Boolean).join("; ") + ". Write the firmware again before using the board";
  }
  return new AbortedError(`${e.message} during the write, ${what}`, {
    cause: e,
    details: { ...e.details, regions: states, erasedAll: tracker.erasedAll },
  });
}

/**
 * Write the regions in one write, in address order, so each one's facts
 * leave as it completes (`region-start`, `region-done` events).
 */
async function writeRegions(
  host: JobHost,
  regions: FlashRegion[],
  options: Omit<WriteFlashOptions, "onProgress" | "onRegionStart" | "onRegion" | "eraseAll">,
): Promise<WriteReport> {
  const session = host.session;
  const inflates = session.loader.compressedWrites;
  return await writeFlash(session, regions, {
    ...options,
    onProgress: (p) => host.emit(p),
    onRegionStart: (region) => host.emit({ type: "region-start", ...region }),
    onRegion: (r, position) =>
      host.emit({
        type: "region-done",
        ...r,
        compressed: (options.compress ?? true) && inflates && r.bytesOnWire < r.bytesWritten,
        ...position,
      }),
  });
}

/** Run the write job (see the module notes) on `host`'s chip. */
export async function flashFirmware(
  host: JobHost,
  firmware: Firmware,
  options: FlashOptions = {},
): Promise<FlashReport> {
  const settings = settingsFor(firmware, options);
  const signal = options.signal;
  const plan = resumePlan(options.resume);
  const recoveries: FlashReport["recoveries"] = [];
  const skip = options.skipUnchanged ?? true;
  let prepared: { regions: FlashRegion[]; warnings: PreflightIssue[] } | null = null;
  let erased = !options.eraseAll;
  let lastError: unknown;
  const tracker = new WriteTracker();
  // Collateral damage: MD5s outside the regions before the first write command (collateral.ts).
  const collateralPolicy = plan.attempts > 1 ? options.collateralCheck ?? "auto" : false;
  let before: CollateralSnapshot | null = null;
  let unchecked: string | null = collateralPolicy === false ? "the check was turned off" : null;
  for (let attempt = 1; attempt <= plan.attempts; attempt++) {
    try {
      if (attempt > 1) {
        await host.reconnect({ baud: recoveries[recoveries.length - 1]?.baud, signal });
      }
      const session = host.session;
      const flashSize = await applyFlashSize(session, settings.size);
      // Settings, partitions and pre-flight once; a fault on the way is retried like one in the write.
      prepared ??= await prepare(host, firmware, settings, flashSize, options);
      const regions = prepared.regions;
      if (!erased) {
        tracker.erasedAll = true; // from the command on: a cancel may leave it half done
        await eraseFlash(session, { signal });
        erased = true;
      }
      if (!before && unchecked === null) {
        const taken = await snapshotOutside(session, { regions, flashSize }, {
          erased: options.eraseAll === true,
        });
        if ("unchecked" in taken) {
          unchecked = taken.unchecked;
          host.emit({
            type: "notice",
            level: "warn",
            code: "E_COLLATERAL_UNCHECKED",
            message: `Flash outside the written regions will not be checked: ${unchecked}`,
          });
        } else before = taken;
      }
      const watched: JobHost = {
        get session() {
          return host.session;
        },
        emit: (e) => {
          if (e.type === "progress") tracker.see(e);
          host.emit(e);
        },
        reconnect: (o) => host.reconnect(o),
      };
      const report = await writeRegions(watched, regions, {
        compress: options.compress,
        verify: options.verify,
        // After a fault the comparison is what makes the retry a resume; after an erase there is nothing to compare.
        skipUnchanged: attempt > 1 || (skip && !options.eraseAll),
        diffChunkSize: attempt > 1 || skip ? undefined : 0,
        flashSize,
        signal,
      });
      tracker.allWritten(regions);
      let collateral: CollateralReport | undefined;
      const because = before &&
        checkAfterWrite(collateralPolicy, { recoveries: recoveries.length, session, regions });
      if (before && because) {
        const t0 = performance.now();
        const changed = await changedOutside(host.session, before);
        host.emit({
          type: "collateral-check",
          ok: changed.length === 0,
          ranges: before.ranges,
          changed,
          recoveries: recoveries.length,
          because,
          seconds: (performance.now() - t0) / 1000,
        });
        if (changed.length) throw new CollateralDamageError(changed, because);
        collateral = { result: "unchanged", ranges: before.ranges, because };
      } else if (before) collateral = { result: "not-needed", ranges: before.ranges };
      else if (plan.attempts > 1) {
        collateral = { result: "unchecked", ranges: [], reason: unchecked ?? undefined };
      }
      host.emit({
        type: "flashed",
        verified: report.verified,
        ...(report.verified ? {} : {
          reason: options.verify === false
            ? "verification was turned off"
            : `the ${session.chip.name} ROM cannot compute MD5s, so the write was not verified`,
        }),
        bytesWritten: report.bytesWritten,
        bytesOnWire: report.bytesOnWire,
        skipped: report.skipped,
        seconds: report.seconds,
      });
      return {
        ...report,
        flashSize,
        recoveries,
        warnings: prepared.warnings,
        ...(collateral ? { collateral } : {}),
      };
    } catch (e) {
      lastError = e;
      if (!isRecoverable(e) || attempt === plan.attempts) break;
      const baud = plan.fallbackBauds[Math.min(recoveries.length, plan.fallbackBauds.length - 1)] ??
        LAST_RESORT_BAUD;
      const recovery = {
        attempt,
        error: e instanceof EsplineError
          ? { code: e.code, message: e.message }
          : { code: "E_UNKNOWN", message: String(e) },
        baud,
      };
      recoveries.push(recovery);
      host.emit({ type: "recovery", ...recovery });
    }
  }
  if (lastError instanceof AbortedError) {
    lastError = cancelledWrite(lastError, tracker, prepared?.regions ?? null);
  }
  if (lastError instanceof EsplineError && recoveries.length) {
    lastError.details.recoveries = recoveries;
  }
  throw lastError;
}

/** Compare a firmware set with the chip's flash by MD5 (see `Device.verify`). */
export async function verifyFirmware(
  host: JobHost,
  firmware: Firmware,
  options: VerifyOptions = {},
): Promise<VerifyReport> {
  const settings = settingsFor(firmware, options);
  const session = host.session;
  const patching = [settings.mode, settings.freq, settings.size].some((v) => v && v !== "keep");
  const needsSize = patching || firmware.regions.some((r) => r.partition !== undefined);
  const flashSize = needsSize ? await applyFlashSize(session, settings.size) : 0;
  const regions = needsSize
    ? await prepareRegions(host, firmware, settings, flashSize, options.signal)
    : firmware.regions.map(({ partition: _, ...r }) => r);
  const report: VerifyReport = await verifyFlash(session, regions, { signal: options.signal });
  if (options.diff) {
    for (const r of report.regions) {
      if (r.ok) continue;
      const region = regions.find((x) => x.address === r.address)!;
      const chip = await readFlash(session, { address: r.address, size: region.data.length }, {
        signal: options.signal,
      });
      const diffs: number[] = [];
      for (let i = 0; i < region.data.length; i++) {
        if (chip[i] !== region.data[i]) diffs.push(r.address + i);
      }
      r.differences = { count: diffs.length, first: diffs.slice(0, 16) };
    }
  }
  return report;
}
