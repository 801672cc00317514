/**
 * A firmware set: the files to write to a board, read and checked once
 * before any board is touched, with the SHA-256 of each file for the
 * journal, and the build's flash settings when it came from a manifest.
 *
 * It comes from address/file pairs, from bytes in memory, from regions
 * written by partition name (the address is looked up on the chip), or from
 * a build's manifest: ESP-IDF's `flasher_args.json` (or the build folder
 * holding it), a PlatformIO or an Arduino build folder.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { UsageError } from "../errors.ts";
import { checkRegions, type FlashRegion } from "../flash/write.ts";
import { loadManifest, type Manifest } from "../image/manifest.ts";
import {
  FLASH_FREQ_CHOICES,
  FLASH_MODE_CHOICES,
  FLASH_SIZE_CHOICES,
  type FlashFreq,
  type FlashMode,
  type FlashSize,
} from "../image/flash_params.ts";
import { type ChipName, parseChip } from "../loader/connect_options.ts";
import { parseAddress } from "./numbers.ts";

/** Flash settings to put in the bootloader header (`keep` leaves a field as the image has it). */
export interface FlashSettings {
  /** SPI mode. */
  mode?: FlashMode;
  /** SPI clock. */
  freq?: FlashFreq;
  /** Flash size; `detect` reads it from the flash chip. */
  size?: FlashSize;
}

/** One piece of a firmware set: data for a flash address, or for a partition named in the table. */
export interface FirmwareRegion extends FlashRegion {
  /**
   * Write into this partition: the address is looked up when writing, in
   * the partition table of the same firmware set if it has one, else in the
   * table on the chip. `address` is -1 until then.
   */
  partition?: string;
}

/** File facts for the journal. */
export interface FirmwareFile {
  /** File path (or name, for bytes from memory). */
  path: string;
  /** SHA-256 of the data, hex. */
  sha256: string;
  /** Flash address; -1 for a region written by partition name. */
  address: number;
  /** Bytes. */
  size: number;
  /** Partition name, for a region written by partition name. */
  partition?: string;
}

/**
 * A firmware set ready to flash: build it with {@link loadFirmware}.
 *
 * @example
 * ```ts
 * import { loadFirmware } from "./firmware.ts";
 * const fw = await loadFirmware([[0x10000, "build/app.bin"]]);
 * for (const f of fw.files) console.log(f.path, f.sha256);
 * ```
 */
export interface Firmware {
  /** Regions to write: by address in address order, then by partition name. */
  regions: FirmwareRegion[];
  /** File facts for the journal, in the same order. */
  files: FirmwareFile[];
  /** Flash settings from the build's manifest (empty otherwise); a write's own options win. */
  settings: FlashSettings;
  /** Chip the build is for, when its manifest says. */
  chip?: ChipName;
  /** Where the set came from: the manifest path, or `files` for a list of entries. */
  source: string;
}

/**
 * One entry of a firmware set:
 * - `[address, path]` or `{ address, path }`: a file at a flash address;
 * - `{ address, data, name? }`: bytes at a flash address;
 * - `{ partition, path }` or `{ partition, data, name? }`: into a partition, by name.
 */
export type FirmwareEntry =
  | readonly [address: number, path: string]
  | { address: number; path: string }
  | { address: number; data: Uint8Array; name?: string }
  | { partition: string; path: string }
  | { partition: string; data: Uint8Array; name?: string };

/**
 * Where a firmware set comes from: a list of {@link FirmwareEntry}s, a
 * manifest (a path to `flasher_args.json`, an ESP-IDF, PlatformIO or Arduino
 * build folder, or a loaded {@link Manifest}), or a firmware set already
 * loaded.
 */
export type FirmwareSource = readonly FirmwareEntry[] | string | Manifest | Firmware;

/**
 * Read a file for flashing; a missing or unreadable one is a usage error,
 * said before any board is touched.
 *
 * @throws {UsageError} `E_FILE_NOT_FOUND`, `E_NOT_A_FILE` or `E_FILE_UNREADABLE`.
 * @example
 * ```ts
 * import { readInputFile } from "./firmware.ts";
 * const app = await readInputFile("build/app.bin");
 * ```
 */
export async function readInputFile(path: string): Promise<Uint8Array> {
  try {
    const stat = await Deno.stat(path);
    if (!stat.isFile) throw new UsageError(`${path} is not a file`, { code: "E_NOT_A_FILE" });
    return await Deno.readFile(path);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    if (e instanceof Deno.errors.NotFound) {
      throw new UsageError(`file not found: ${path} (check the path; nothing was written)`, {
        code: "E_FILE_NOT_FOUND",
      });
    }
    if (e instanceof Deno.errors.PermissionDenied) {
      throw new UsageError(`cannot read ${path}: permission denied`, { code: "E_FILE_UNREADABLE" });
    }
    throw new UsageError(`cannot read ${path}: ${(e as Error).message}`, {
      code: "E_FILE_UNREADABLE",
    });
  }
}

/**
 * Parse `ADDRESS=FILE` (`0x10000=build/app.bin`), the way scripts take
 * firmware on their command line; the address in any spelling esptool
 * accepts.
 *
 * @throws {UsageError} (`E_BAD_FIRMWARE_ARG`) saying what was expected.
 * @example
 * ```ts
 * import { parseFirmwareArg } from "./firmware.ts";
 * parseFirmwareArg("0X10000=app.bin"); // [65536, "app.bin"]
 * ```
 */
export function parseFirmwareArg(text: string): [number, string] {
  const eq = text.indexOf("=");
  if (eq <= 0 || eq === text.length - 1) {
    throw new UsageError(
      `--firmware takes ADDRESS=FILE, e.g. 0x10000=app.bin (got "${text}")`,
      { code: "E_BAD_FIRMWARE_ARG" },
    );
  }
  return [parseAddress(text.slice(0, eq)), text.slice(eq + 1)];
}

function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

function lower<T extends string>(
  value: string | undefined,
  choices: readonly T[],
  what: string,
): T | undefined {
  if (value === undefined) return undefined;
  const found = choices.find((c) => c.toLowerCase() === String(value).trim().toLowerCase());
  if (found) return found;
  throw new UsageError(
    `invalid ${what} "${value}": choose one of ${choices.join(", ")}`,
    { code: "E_BAD_FLASH_PARAMS" },
  );
}

/**
 * Check flash settings given as text (a manifest's `DIO`, `80m`, `4MB`, or a
 * script's values) and spell them as the choices do.
 *
 * @throws {UsageError} (`E_BAD_FLASH_PARAMS`) naming the setting and its choices.
 * @example
 * ```ts
 * import { normalizeFlashSettings } from "./firmware.ts";
 * normalizeFlashSettings({ mode: "DIO", size: "4mb" }); // { mode: "dio", freq: undefined, size: "4MB" }
 * ```
 */
export function normalizeFlashSettings(
  settings: { mode?: string; freq?: string; size?: string },
): FlashSettings {
  return {
    mode: lower(settings.mode, FLASH_MODE_CHOICES, "flash mode"),
    freq: lower(settings.freq, FLASH_FREQ_CHOICES, "flash frequency"),
    size: lower(settings.size, FLASH_SIZE_CHOICES, "flash size"),
  };
}

function isFirmware(source: FirmwareSource): source is Firmware {
  return typeof source === "object" && source !== null && !Array.isArray(source) &&
    "files" in source && "settings" in source;
}

function isManifest(source: FirmwareSource): source is Manifest {
  return typeof source === "object" && source !== null && !Array.isArray(source) &&
    "source" in source && !("files" in source);
}

async function entryRegion(entry: FirmwareEntry): Promise<FirmwareRegion> {
  if (typeof entry !== "object" || entry === null) {
    throw new UsageError(
      `firmware entry ${
        JSON.stringify(entry)
      } is not [address, path], { address, path } or { address, data }`,
      { code: "E_BAD_FIRMWARE" },
    );
  }
  if (Array.isArray(entry)) {
    const [address, path] = entry as readonly [number, string];
    return { address, data: await readInputFile(path), name: path };
  }
  const e = entry as Record<string, unknown>;
  const data = e.data instanceof Uint8Array
    ? e.data
    : typeof e.path === "string"
    ? await readInputFile(e.path)
    : null;
  if (!data) {
    throw new UsageError(
      `firmware entry ${JSON.stringify(entry)} has neither a path nor data`,
      { code: "E_BAD_FIRMWARE" },
    );
  }
  const name = typeof e.path === "string" ? e.path : typeof e.name === "string" ? e.name : "";
  if (typeof e.partition === "string") {
    return { address: -1, data, name: name || e.partition, partition: e.partition };
  }
  if (typeof e.address !== "number") {
    throw new UsageError(
      `firmware entry ${name || "(bytes)"} has neither an address nor a partition`,
      { code: "E_BAD_FIRMWARE" },
    );
  }
  return { address: e.address, data, name: name || undefined };
}

/**
 * Read and check a firmware set before any board is touched: every file
 * exists and is read, addresses are sector-aligned, nothing overlaps, and a
 * manifest's flash settings are valid. The result is what {@link
 * Device.flash} and {@link Device.verify} take (they also take a source and
 * load it themselves).
 *
 * @throws {UsageError} naming the file or entry to fix (nothing is written).
 * @example
 * ```ts
 * import { loadFirmware } from "./firmware.ts";
 * // Address/file pairs:
 * const fw = await loadFirmware([[0x0, "build/bootloader/bootloader.bin"], [0x10000, "build/app.bin"]]);
 * // An ESP-IDF, PlatformIO or Arduino build (files, offsets and flash settings):
 * const build = await loadFirmware("build/");
 * console.log(build.files.map((f) => f.sha256), build.settings);
 * ```
 */
export async function loadFirmware(source: FirmwareSource): Promise<Firmware> {
  if (isFirmware(source)) return source;
  let entries: readonly FirmwareEntry[];
  let settings: FlashSettings = {};
  let chip: ChipName | undefined;
  let from = "files";
  if (typeof source === "string" || isManifest(source)) {
    const m = typeof source === "string" ? await loadManifest(source) : source;
    entries = m.regions.map((r) => [r.address, r.path] as const);
    try {
      settings = normalizeFlashSettings({
        mode: m.flashMode,
        freq: m.flashFreq,
        size: m.flashSize,
      });
      chip = m.chip ? parseChip(m.chip) : undefined;
    } catch (e) {
      // Name the manifest: the value came from the build, not from the command line.
      if (!(e instanceof UsageError)) throw e;
      throw new UsageError(`${m.source}: ${e.message}`, { code: e.code, cause: e });
    }
    from = m.source;
  } else if (Array.isArray(source)) {
    entries = source;
  } else {
    throw new UsageError(
      `firmware must be a list of entries, a manifest path or a loaded firmware, not ${
        source === null ? "null" : typeof source
      }`,
      { code: "E_BAD_FIRMWARE" },
    );
  }
  const regions: FirmwareRegion[] = [];
  for (const entry of entries) regions.push(await entryRegion(entry));
  const byAddress = regions.filter((r) => r.partition === undefined);
  const byName = regions.filter((r) => r.partition !== undefined);
  if (byAddress.length) checkRegions(byAddress);
  else if (!byName.length) checkRegions([]); // "nothing to write"
  for (const r of byName) {
    if (r.data.length === 0) {
      throw new UsageError(`${r.name} is empty: nothing to write`, { code: "E_EMPTY_FILE" });
    }
  }
  const ordered = [...byAddress.sort((a, b) => a.address - b.address), ...byName];
  return {
    regions: ordered,
    files: ordered.map((r) => ({
      path: r.name ?? "",
      sha256: sha256(r.data),
      address: r.address,
      size: r.data.length,
      ...(r.partition !== undefined ? { partition: r.partition } : {}),
    })),
    settings,
    ...(chip ? { chip } : {}),
    source: from,
  };
}
