/**
 * Collateral damage: did a write job change flash outside its regions?
 *
 * Some request fields carry no checksum: the address and size of
 * FLASH_BEGIN, FLASH_DEFL_BEGIN and ERASE_REGION. A bit flipped in one of
 * them on the way is obeyed by the chip, which then erases or writes
 * somewhere else; the region's own MD5 fails, the job recovers and rewrites
 * the region, and nothing says that a sector elsewhere (NVS, another
 * partition) was erased on the way. The protocol cannot see it; its effect
 * can be seen where it matters: the flash outside the regions.
 *
 * When: after a write that needed a recovery, and after a write that sent
 * a command whose over-reach no region's MD5 would show: an erase of a run
 * of 0xFF sectors (ERASE_REGION: a size that grew on the way erases past
 * the region, and nothing later fails) or any write through the ROM loader
 * (its FLASH_BEGIN erases the whole, unchecked, size up front). Every other
 * corrupted field moves or shortens what lands in a region, so that
 * region's MD5 fails and the job recovers (the soak, bench/soak.ts, found
 * the erase case: 6 silent corruptions in 200 runs when only recoveries
 * were followed by a check).
 *
 * What is compared, and why: the whole flash outside the regions' sectors,
 * to the end of the flash, one MD5 per gap between regions. A flipped bit
 * can send an address anywhere in the flash and stretch a size to its end,
 * so any smaller set of sectors would be a guess. The chip computes each
 * MD5 (SPI_FLASH_MD5) at flash read speed and sends 16 bytes back, so the
 * price is one read of the unwritten flash before the write (while nothing
 * is known to have gone wrong yet, since the damage happens before the
 * fault that shows it) and one more after a write that needed a recovery
 * or erased a 0xFF run.
 * Writes that cannot recover (resume off) skip both; a write with the whole
 * flash erased first needs no read before (the gaps are 0xFF).
 *
 * An MD5 answer has no checksum either: a changed range is read again until
 * two answers agree before it counts as changed.
 *
 * @module
 */

import { EsplineError } from "../errors.ts";
import type { LoaderSession } from "../loader/session.ts";
import { FLASH_SECTOR_SIZE, hex32 } from "../flash/address.ts";
import { flashMd5, md5Hex } from "../flash/md5.ts";
import { type FlashRegion, padTo4, splitErasedRuns } from "../flash/write.ts";

/** An address range of the flash. */
export interface FlashRange {
  /** First address. */
  address: number;
  /** Bytes. */
  size: number;
}

/**
 * How a write job looked at the flash outside its regions (`FlashReport.collateral`).
 *
 * - `unchanged`: compared after the write (`because` says why), and it is
 *   as before;
 * - `not-needed`: the write needed no recovery and sent nothing whose
 *   over-reach would go unseen, so nothing was compared after it;
 * - `unchecked`: not compared (`reason` says why: the check turned off, a
 *   loader that cannot compute MD5s).
 *
 * A change is not a report: the write fails with {@link CollateralDamageError}.
 */
export interface CollateralReport {
  /** See above. */
  result: "unchanged" | "not-needed" | "unchecked";
  /** The ranges outside the regions' sectors (empty when unchecked). */
  ranges: FlashRange[];
  /** Why not compared, when `unchecked`. */
  reason?: string;
  /** Why compared, when `unchanged`. */
  because?: string;
}

/**
 * Flash outside the written regions changed during a write that needed
 * recovery: a corrupted command was obeyed there. `code` is
 * `E_COLLATERAL_DAMAGE`; `changed` lists the ranges.
 *
 * @example
 * ```ts
 * import { CollateralDamageError } from "./collateral.ts";
 * const e = new CollateralDamageError([{ address: 0x20000, size: 0x3e0000 }], 2);
 * console.log(e.code, e.message);
 * ```
 */
export class CollateralDamageError extends EsplineError {
  /** The ranges outside the regions whose contents changed. */
  readonly changed: FlashRange[];
  /** Create the error for `changed` ranges; `because` says why the write was suspect. */
  constructor(changed: FlashRange[], because: string) {
    super(
      "E_COLLATERAL_DAMAGE",
      `flash outside the written regions changed during the write (checked ${because}): ` +
        `${changed.map(formatRange).join(", ")}. ` +
        "A command corrupted on the way was obeyed by the chip and wrote or erased there, so " +
        "what was stored there (NVS data, other partitions) may be damaged. Erase the flash and " +
        "write the complete firmware again, or set the board aside",
      { details: { changed, because } },
    );
    this.changed = changed;
  }
}

/** `0x00020000-0x003fffff`. */
export function formatRange(r: FlashRange): string {
  return `${hex32(r.address)}-${hex32(r.address + r.size - 1)}`;
}

/**
 * The flash outside the regions' sectors, to `flashSize`: what no command
 * of the write should touch. A region covers its sectors whole (its last
 * sector is erased past its end).
 *
 * @example
 * ```ts
 * import { outsideRegions } from "./collateral.ts";
 * outsideRegions([{ address: 0x1000, data: new Uint8Array(10) }], 0x400000);
 * // [{ address: 0, size: 0x1000 }, { address: 0x2000, size: 0x3fe000 }]
 * ```
 */
export function outsideRegions(regions: FlashRegion[], flashSize: number): FlashRange[] {
  const spans = regions
    .map((r) => {
      const end = r.address + Math.ceil(r.data.length / 4) * 4;
      return [r.address, Math.ceil(end / FLASH_SECTOR_SIZE) * FLASH_SECTOR_SIZE] as const;
    })
    .sort((a, b) => a[0] - b[0]);
  const out: FlashRange[] = [];
  let pos = 0;
  for (const [start, end] of spans) {
    if (start > pos) out.push({ address: pos, size: Math.min(start, flashSize) - pos });
    pos = Math.max(pos, end);
  }
  if (pos < flashSize) out.push({ address: pos, size: flashSize - pos });
  return out.filter((r) => r.size > 0);
}

/** When to compare after a write (`FlashOptions.collateralCheck`). */
export type CollateralPolicy = "auto" | "recovered" | "always" | false;

/**
 * Why the flash outside the regions must be compared after this write, or
 * null when it need not be (see the module notes for `auto`).
 */
export function checkAfterWrite(
  policy: CollateralPolicy,
  write: { recoveries: number; session: LoaderSession; regions: FlashRegion[] },
): string | null {
  if (policy === false) return null;
  if (write.recoveries > 0) {
    return `after a write that needed ${write.recoveries} recover${
      write.recoveries === 1 ? "y" : "ies"
    }`;
  }
  if (policy === "always") return "after every write, as asked";
  if (policy === "recovered") return null;
  if (write.session.loader.erasesAtBegin) {
    return "after a write through the ROM loader, which erases each begin's unchecked size up front";
  }
  const erasesRun = write.regions.some((r) => {
    const data = padTo4(r.data);
    return splitErasedRuns(data, { offset: 0, length: data.length }).some((p) => p.erased);
  });
  return erasesRun
    ? "after a write that may erase a run of 0xFF sectors, whose unchecked size could reach past it"
    : null;
}

/** The MD5s of the ranges outside the regions before a write. */
export interface CollateralSnapshot {
  /** The ranges. */
  ranges: FlashRange[];
  /** Their MD5s, hex, in order. */
  md5s: string[];
}

/** Options for {@link snapshotOutside}. */
export interface SnapshotOptions {
  /** The whole flash was just erased: the ranges are 0xFF, no need to ask the chip. Default false. */
  erased?: boolean;
}

/** The chip's MD5 of a range: the one call into lib/flash's MD5. */
function chipMd5(session: LoaderSession, r: FlashRange): Promise<string> {
  return flashMd5(session, { address: r.address, size: r.size });
}

/**
 * MD5s of the flash outside `regions`, before they are written; or why
 * they cannot be taken (the loader computes no MD5s, or secure download
 * mode refuses them).
 */
export async function snapshotOutside(
  session: LoaderSession,
  target: { regions: FlashRegion[]; flashSize: number },
  options: SnapshotOptions = {},
): Promise<CollateralSnapshot | { unchecked: string }> {
  const ranges = outsideRegions(target.regions, target.flashSize);
  if (options.erased) {
    return { ranges, md5s: ranges.map((r) => md5Hex(new Uint8Array(r.size).fill(0xff))) };
  }
  if (session.secureDownload) {
    return { unchecked: "secure download mode refuses flash MD5s" };
  }
  const md5s: string[] = [];
  for (const r of ranges) {
    try {
      md5s.push(await chipMd5(session, r));
    } catch (e) {
      if (e instanceof EsplineError && e.code === "E_NEEDS_STUB") {
        return { unchecked: "this loader cannot compute flash MD5s (run with the stub)" };
      }
      throw e;
    }
  }
  return { ranges, md5s };
}

/** How often a range is read at most before its answers are taken as unreliable. */
const MAX_READS = 4;

/**
 * The ranges of `before` whose contents changed, each confirmed by two
 * agreeing answers (an answer corrupted on the way is read again).
 *
 * @throws {EsplineError} `E_READ_CORRUPT` when the chip's answers for a
 *   range never agree (the link is too bad to tell; a resumed write retries).
 */
export async function changedOutside(
  session: LoaderSession,
  before: CollateralSnapshot,
): Promise<FlashRange[]> {
  const changed: FlashRange[] = [];
  for (const [i, r] of before.ranges.entries()) {
    const seen: string[] = [];
    let verdict: "same" | "changed" | null = null;
    while (verdict === null) {
      if (seen.length >= MAX_READS) {
        throw new EsplineError(
          "E_READ_CORRUPT",
          `the chip's MD5 of ${formatRange(r)} came back different every time: ` +
            "answers are corrupted on the way; retry, or lower the baud rate",
        );
      }
      const md5 = await chipMd5(session, r);
      if (md5 === before.md5s[i]) verdict = "same";
      else if (seen.includes(md5)) verdict = "changed";
      seen.push(md5);
    }
    if (verdict === "changed") changed.push(r);
  }
  return changed;
}
