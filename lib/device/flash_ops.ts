/**
 * Reading and erasing a board's flash as a script asks for it: by address
 * and size (`"all"` for the rest of the flash), by partition name (looked up
 * in the table on the chip), or the whole chip; with the checks the CLI
 * used to make (alignment, the end of the flash) done here, before anything
 * is sent.
 *
 * @module
 */

import { throwIfAborted, UsageError } from "../errors.ts";
import type { LoaderSession } from "../loader/session.ts";
import { readFlash } from "../flash/read.ts";
import { checkEraseRegion, eraseFlash, eraseRegion } from "../flash/erase.ts";
import { hex32 } from "../flash/address.ts";
import { detectFlashSize } from "../flash/flash_size.ts";
import type { FlashProgress } from "../flash/progress.ts";
import { formatFlashSize } from "../chips/index.ts";
import {
  findPartition,
  parsePartitionTable,
  type Partition,
  PARTITION_TABLE_MAX,
  PARTITION_TABLE_OFFSET,
} from "../image/partition.ts";

/** What a device operation needs from its device: the session and the event sink. */
export interface OperationHost {
  /** The current loader session. */
  readonly session: LoaderSession;
  /** Report progress. */
  emit(event: FlashProgress): void;
}

/**
 * A flash area: an address and a size (`"all"` for the rest of the flash
 * from the address), or a partition by name (from the table on the chip).
 */
export type FlashArea = { address: number; size: number | "all" } | { partition: string };

/** Options for `Device.read`. */
export interface ReadOptions {
  /** Cancels between blocks. */
  signal?: AbortSignal;
}

/** Options for `Device.erase`. */
export interface EraseOptions {
  /** Cancels before erasing. */
  signal?: AbortSignal;
}

/** What `Device.erase` erased. */
export interface EraseReport {
  /** First address erased (0 for the whole chip). */
  address: number;
  /** Bytes erased, or `"all"` for the whole chip. */
  size: number | "all";
  /** The partition, when erased by name. */
  partition?: string;
  /** Wall time in seconds. */
  seconds: number;
}

/** Read and parse the partition table the chip holds at 0x8000. */
export async function readChipPartitionTable(
  session: LoaderSession,
  options: ReadOptions = {},
): Promise<Partition[]> {
  const raw = await readFlash(session, {
    address: PARTITION_TABLE_OFFSET,
    size: PARTITION_TABLE_MAX,
  }, { signal: options.signal });
  return parsePartitionTable(raw);
}

/** Resolve an area to an address and size on this chip, checking it lies inside the flash. */
async function resolveArea(
  session: LoaderSession,
  area: FlashArea,
  verb: "reading" | "erasing",
  signal?: AbortSignal,
): Promise<{ address: number; size: number; partition?: Partition }> {
  if ("partition" in area) {
    const p = findPartition(await readChipPartitionTable(session, { signal }), area.partition);
    return { address: p.offset, size: p.size, partition: p };
  }
  const flashSize = await detectFlashSize(session);
  const size = area.size === "all" ? flashSize - area.address : area.size;
  if (area.address + size > flashSize || size <= 0) {
    throw new UsageError(
      size <= 0
        ? `${hex32(area.address)} is at or past the end of the ${
          formatFlashSize(flashSize)
        } flash: there is nothing to ${verb === "reading" ? "read" : "erase"} there`
        : verb === "reading"
        ? `reading ${size} bytes at ${hex32(area.address)} runs past the end of the ${
          formatFlashSize(flashSize)
        } flash`
        : `erasing ${hex32(size)} bytes at ${hex32(area.address)} runs past the end of the flash`,
      { code: "E_PAST_END", details: { address: area.address, size, flashSize } },
    );
  }
  return { address: area.address, size };
}

/** Check an area before connecting: whole numbers, positive sizes. */
export function checkArea(area: FlashArea, verb: "read" | "erase"): void {
  if ("partition" in area) {
    if (typeof area.partition !== "string" || !area.partition) {
      throw new UsageError(`give a partition name to ${verb}`, { code: "E_BAD_PARTITION" });
    }
    return;
  }
  if (!Number.isInteger(area.address) || area.address < 0) {
    throw new UsageError(`invalid ${verb} address ${area.address}`, { code: "E_BAD_ADDRESS" });
  }
  if (area.size === "all") return;
  if (!Number.isInteger(area.size) || area.size <= 0) {
    throw new UsageError(`${verb} size must be positive, got ${area.size}`, {
      code: "E_BAD_ADDRESS",
    });
  }
  if (verb === "erase") checkEraseRegion(area.address, area.size);
}

/** Read an area of flash. */
export async function readArea(
  host: OperationHost,
  area: FlashArea,
  options: ReadOptions = {},
): Promise<Uint8Array> {
  checkArea(area, "read");
  const session = host.session;
  const { address, size } = await resolveArea(session, area, "reading", options.signal);
  return await readFlash(session, { address, size }, {
    onProgress: (p) => host.emit(p),
    signal: options.signal,
  });
}

/** Erase an area of flash, or the whole chip. */
export async function eraseArea(
  host: OperationHost,
  area: FlashArea | "all",
  options: EraseOptions = {},
): Promise<EraseReport> {
  const t0 = performance.now();
  const session = host.session;
  if (area === "all") {
    throwIfAborted(options.signal);
    await eraseFlash(session, { signal: options.signal });
    return { address: 0, size: "all", seconds: (performance.now() - t0) / 1000 };
  }
  checkArea(area, "erase");
  const { address, size, partition } = await resolveArea(
    session,
    area,
    "erasing",
    options.signal,
  );
  await eraseRegion(session, { address, size }, { signal: options.signal });
  return {
    address,
    size,
    ...(partition ? { partition: partition.name } : {}),
    seconds: (performance.now() - t0) / 1000,
  };
}
