/**
 * A firmware set: the files a station writes to every board, read and
 * checked once before any board is touched, with the SHA-256 of each file
 * for the journal.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { UsageError } from "../errors.ts";
import { checkRegions, type FlashRegion } from "../flash/write.ts";

/** A firmware set ready to flash. */
export interface Firmware {
  /** Regions for writeFlash, in address order. */
  regions: FlashRegion[];
  /** File facts for the journal. */
  files: { path: string; sha256: string; address: number; size: number }[];
}

/** One entry: `[address, path]` or `{ address, path }`. */
export type FirmwareEntry = [number, string] | { address: number; path: string };

/**
 * Read the files of a firmware set and check it (files exist, addresses are
 * sector-aligned, nothing overlaps) before any device is touched.
 *
 * @example
 * ```ts
 * import { loadFirmware } from "./firmware.ts";
 * const fw = await loadFirmware([[0x1000, "build/bootloader.bin"], [0x10000, "build/app.bin"]]);
 * console.log(fw.files.map((f) => f.sha256));
 * ```
 */
export async function loadFirmware(entries: FirmwareEntry[]): Promise<Firmware> {
  const regions: FlashRegion[] = [];
  const files: Firmware["files"] = [];
  for (const entry of entries) {
    const [address, path] = Array.isArray(entry) ? entry : [entry.address, entry.path];
    let data: Uint8Array;
    try {
      data = await Deno.readFile(path);
    } catch (e) {
      const why = e instanceof Deno.errors.NotFound ? "not found" : (e as Error).message;
      throw new UsageError(`firmware file ${path}: ${why} (no board was touched)`, {
        code: "E_FILE_NOT_FOUND",
      });
    }
    regions.push({ address, data, name: path });
    files.push({
      path,
      sha256: createHash("sha256").update(data).digest("hex"),
      address,
      size: data.length,
    });
  }
  return { regions: checkRegions(regions), files };
}

/** Build a firmware set from bytes already in memory (generated images, tests). */
export function firmwareFromBytes(
  parts: { address: number; data: Uint8Array; name: string }[],
): Firmware {
  const regions = checkRegions(
    parts.map((p) => ({ address: p.address, data: p.data, name: p.name })),
  );
  return {
    regions,
    files: regions.map((r) => ({
      path: r.name ?? "",
      sha256: createHash("sha256").update(r.data).digest("hex"),
      address: r.address,
      size: r.data.length,
    })),
  };
}
