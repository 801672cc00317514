/**
 * Build manifests: the address/file pairs (and flash settings) an ESP-IDF
 * build writes to `build/flasher_args.json`, or the files an Arduino or
 * PlatformIO build leaves in its build folder.
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import { chipByImageId, chipByKey } from "../chips/index.ts";
import { PARTITION_TABLE_OFFSET } from "./partition.ts";

/** What a manifest says to flash. */
export interface Manifest {
  /** Address/file pairs, in address order. */
  regions: { address: number; path: string }[];
  /** Flash mode from the build, if given. */
  flashMode?: string;
  /** Flash frequency from the build, if given. */
  flashFreq?: string;
  /** Flash size from the build, if given. */
  flashSize?: string;
  /** Chip key from the build, if known. */
  chip?: string;
  /** Where the pairs came from (for messages). */
  source: string;
}

/** Arduino's boot_app0.bin goes here (its partition scheme's otadata). */
const ARDUINO_BOOT_APP0_OFFSET = 0xe000;
/** Applications start here in the default partition tables. */
const APP_OFFSET = 0x10000;

function join(dir: string, file: string): string {
  return file.startsWith("/") ? file : `${dir.replace(/\/$/, "")}/${file}`;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function fromFlasherArgs(path: string): Promise<Manifest> {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    throw new UsageError(
      `cannot read ${path} as ESP-IDF flasher_args.json: ${(e as Error).message}`,
      {
        code: "E_BAD_MANIFEST",
      },
    );
  }
  const files = json.flash_files as Record<string, string> | undefined;
  if (!files || typeof files !== "object" || Object.keys(files).length === 0) {
    throw new UsageError(
      `${path} has no "flash_files": is it an ESP-IDF build/flasher_args.json?`,
      {
        code: "E_BAD_MANIFEST",
      },
    );
  }
  const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : ".";
  const regions = Object.entries(files).map(([addr, file]) => {
    const address = Number(addr);
    if (!Number.isInteger(address) || typeof file !== "string") {
      throw new UsageError(`${path}: bad flash_files entry "${addr}": "${file}"`, {
        code: "E_BAD_MANIFEST",
      });
    }
    return { address, path: join(dir, file) };
  }).sort((a, b) => a.address - b.address);
  const settings = (json.flash_settings ?? {}) as Record<string, string>;
  const extra = (json.extra_esptool_args ?? {}) as Record<string, unknown>;
  return {
    regions,
    flashMode: settings.flash_mode,
    flashFreq: settings.flash_freq,
    flashSize: settings.flash_size,
    chip: typeof extra.chip === "string" ? chipByKey(extra.chip).key : undefined,
    source: path,
  };
}

/** Chip from a bootloader image's extended header, if it has one. */
async function chipOfBootloader(path: string): Promise<string | undefined> {
  const head = (await Deno.readFile(path)).subarray(0, 24);
  if (head.length < 24 || head[0] !== 0xe9) return undefined;
  return chipByImageId(head[12] | (head[13] << 8))?.key;
}

async function fromBuildFolder(dir: string): Promise<Manifest> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) if (e.isFile) names.push(e.name);
  // PlatformIO: bootloader.bin, partitions.bin, firmware.bin. Arduino: NAME.ino.bootloader.bin, .partitions.bin, .bin.
  const pick = (re: RegExp) => names.find((n) => re.test(n));
  const app = pick(/^firmware\.bin$/) ?? pick(/\.ino\.bin$/);
  if (!app) {
    throw new UsageError(
      `${dir} has no flasher_args.json, firmware.bin (PlatformIO) or *.ino.bin (Arduino): point --manifest at a build folder`,
      { code: "E_BAD_MANIFEST" },
    );
  }
  const boot = pick(/^bootloader\.bin$/) ?? pick(/\.ino\.bootloader\.bin$/);
  const parts = pick(/^partitions\.bin$/) ?? pick(/\.ino\.partitions\.bin$/);
  const bootApp0 = pick(/^boot_app0\.bin$/);
  const chip = boot ? await chipOfBootloader(join(dir, boot)) : undefined;
  const regions: { address: number; path: string }[] = [];
  if (boot) {
    if (!chip) {
      throw new UsageError(`cannot tell the chip from ${boot}, so its flash offset is unknown`);
    }
    regions.push({ address: chipByKey(chip).bootloaderOffset, path: join(dir, boot) });
  }
  if (parts) regions.push({ address: PARTITION_TABLE_OFFSET, path: join(dir, parts) });
  if (bootApp0) regions.push({ address: ARDUINO_BOOT_APP0_OFFSET, path: join(dir, bootApp0) });
  regions.push({ address: APP_OFFSET, path: join(dir, app) });
  return { regions: regions.sort((a, b) => a.address - b.address), chip, source: dir };
}

/**
 * Load a manifest: an ESP-IDF `flasher_args.json` (or a build folder that
 * has one), or an Arduino / PlatformIO build folder.
 *
 * @example
 * ```ts
 * import { loadManifest } from "./manifest.ts";
 * const m = await loadManifest("build/flasher_args.json");
 * console.log(m.regions, m.flashMode);
 * ```
 */
export async function loadManifest(path: string): Promise<Manifest> {
  let stat: Deno.FileInfo;
  try {
    stat = await Deno.stat(path);
  } catch {
    throw new UsageError(`manifest not found: ${path}`, { code: "E_FILE_NOT_FOUND" });
  }
  if (stat.isFile) return await fromFlasherArgs(path);
  const flasherArgs = join(path, "flasher_args.json");
  if (await exists(flasherArgs)) return await fromFlasherArgs(flasherArgs);
  return await fromBuildFolder(path);
}
