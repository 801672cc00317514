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

/** A plain JSON object (not null, not an array). */
function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** How a JSON value looks, for messages: `null`, `an array`, `the number 4` … */
function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "string") return `the text ${JSON.stringify(v)}`;
  if (typeof v === "object") return "an object";
  return `the ${typeof v} ${JSON.stringify(v)}`;
}

/** A flash address as flasher_args.json writes it (`"0x1000"`; decimal works too). */
const MANIFEST_ADDRESS = /^\s*(0x[0-9a-f]+|\d+)\s*$/i;

async function fromFlasherArgs(path: string): Promise<Manifest> {
  let json: unknown;
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
  const bad = (what: string) =>
    new UsageError(`${path}: ${what}; is it an ESP-IDF build/flasher_args.json?`, {
      code: "E_BAD_MANIFEST",
      details: { path },
    });
  if (!isObject(json)) throw bad(`the file holds ${describe(json)}, not an object`);
  const files = json.flash_files;
  if (files === undefined) throw bad(`it has no "flash_files"`);
  if (!isObject(files)) throw bad(`"flash_files" is ${describe(files)}, not an object`);
  if (Object.keys(files).length === 0) throw bad(`"flash_files" is empty`);
  const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : ".";
  const regions = Object.entries(files).map(([addr, file]) => {
    if (!MANIFEST_ADDRESS.test(addr)) {
      throw bad(
        `"flash_files" key ${JSON.stringify(addr)} is not a flash address such as "0x1000"`,
      );
    }
    if (typeof file !== "string" || file.trim() === "") {
      throw bad(`"flash_files" entry "${addr}" is ${describe(file)}, not a file name`);
    }
    return { address: Number(addr.trim()), path: join(dir, file) };
  }).sort((a, b) => a.address - b.address);
  const settings = json.flash_settings ?? {};
  if (!isObject(settings)) throw bad(`"flash_settings" is ${describe(settings)}, not an object`);
  const setting = (key: string): string | undefined => {
    const v = settings[key];
    if (v === undefined) return undefined;
    if (typeof v !== "string") {
      throw bad(
        `"flash_settings.${key}" is ${describe(v)}, not text such as "dio", "80m" or "4MB"`,
      );
    }
    return v;
  };
  const extra = json.extra_esptool_args ?? {};
  if (!isObject(extra)) throw bad(`"extra_esptool_args" is ${describe(extra)}, not an object`);
  let chip: string | undefined;
  if (extra.chip !== undefined) {
    if (typeof extra.chip !== "string") {
      throw bad(`"extra_esptool_args.chip" is ${describe(extra.chip)}, not a chip name`);
    }
    try {
      chip = chipByKey(extra.chip).key;
    } catch (e) {
      throw bad(`"extra_esptool_args.chip": ${(e as Error).message}`);
    }
  }
  return {
    regions,
    flashMode: setting("flash_mode"),
    flashFreq: setting("flash_freq"),
    flashSize: setting("flash_size"),
    chip,
    source: path,
  };
}

/** Chip from a bootloader image's extended header, if it has one. */
async function chipOfBootloader(path: string): Promise<string | undefined> {
  let head: Uint8Array;
  try {
    head = (await Deno.readFile(path)).subarray(0, 24);
  } catch (e) {
    throw new UsageError(`cannot read ${path}: ${(e as Error).message}`, {
      code: "E_FILE_UNREADABLE",
    });
  }
  if (head.length < 24 || head[0] !== 0xe9) return undefined;
  return chipByImageId(head[12] | (head[13] << 8))?.key;
}

async function fromBuildFolder(dir: string): Promise<Manifest> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) if (e.isFile) names.push(e.name);
  } catch (e) {
    throw new UsageError(`cannot read the build folder ${dir}: ${(e as Error).message}`, {
      code: "E_BAD_MANIFEST",
    });
  }
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
      throw new UsageError(
        `${dir}: cannot tell the chip from ${boot} (not an ESP32-family bootloader image), ` +
          "so its flash offset is unknown; give the files as ADDRESS FILE pairs",
        { code: "E_BAD_MANIFEST" },
      );
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
  if (!stat.isDirectory) {
    throw new UsageError(
      `${path} is neither a file nor a folder: give build/flasher_args.json or a build folder`,
      { code: "E_BAD_MANIFEST" },
    );
  }
  const flasherArgs = join(path, "flasher_args.json");
  if (await exists(flasherArgs)) return await fromFlasherArgs(flasherArgs);
  return await fromBuildFolder(path);
}
