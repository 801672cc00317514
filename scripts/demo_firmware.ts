/**
 * A firmware set for the demo and the README examples when no real build is
 * at hand: a second-stage bootloader, a partition table with one factory app
 * and an application, each a valid image for the chip (header, checksum,
 * SHA-256, app descriptor), so a virtual chip boots it as it would a real
 * build. Espressif's reference bootloader and table are used instead when
 * `../shared/fixtures` is present and has them for the chip.
 *
 * @module
 */

import { chipByKey } from "../lib/chips/index.ts";
import { appDescriptor, makeImage } from "../lib/image/make_image.ts";
import { PARTITION_TABLE_OFFSET, partitionTableToBinary } from "../lib/image/partition.ts";

/** Where the reference images are, when this checkout sits beside ../shared. */
const FIXTURES = new URL("../../shared/fixtures/esptool-images/", import.meta.url);
/** Build time written into the generated app, fixed so the same set comes out every time. */
const BUILT = new Date("2025-01-01T00:00:00Z");
/** Offset of the factory app in the generated table (ESP-IDF's default layout). */
export const APP_OFFSET = 0x10000;
/** ESP-IDF partition types and subtypes (esp_partition.h). */
const APP = 0x00, DATA = 0x01, FACTORY = 0x00, NVS = 0x02, PHY = 0x01;

/** One file of the set. */
export interface DemoFile {
  /** Flash address. */
  address: number;
  /** File name (as an ESP-IDF build names it). */
  name: string;
  /** Bytes. */
  data: Uint8Array;
}

/** Code-like bytes of a realistic size and compressibility. */
function codeBytes(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = i % 3 === 0 ? x >>> 24 : "espline demo app "[i % 17].charCodeAt(0);
  }
  return out;
}

async function fixture(name: string): Promise<Uint8Array | null> {
  try {
    return await Deno.readFile(new URL(name, FIXTURES));
  } catch {
    return null;
  }
}

/** Options for {@link demoFirmware}. */
export interface DemoFirmwareOptions {
  /** Application size in bytes. Default 256 KiB. */
  appSize?: number;
  /** Use the reference images from ../shared/fixtures when present. Default true. */
  fixtures?: boolean;
}

/**
 * Bootloader, partition table and application for `chipKey`.
 *
 * @example
 * ```ts
 * import { demoFirmware } from "./demo_firmware.ts";
 * const files = await demoFirmware("esp32c3");
 * console.log(files.map((f) => `${f.address.toString(16)} ${f.name}`));
 * ```
 */
export async function demoFirmware(
  chipKey: string,
  options: DemoFirmwareOptions = {},
): Promise<DemoFile[]> {
  const chip = chipByKey(chipKey);
  const region = (name: string) => chip.memoryMap.find((r) => r.name === name);
  const drom = region("DROM")!;
  const iram = region("IRAM") ?? region("IROM")!;
  const dram = region("DRAM")!;
  const useFixtures = options.fixtures ?? true;
  const bootloader = (useFixtures ? await fixture(`bootloader_${chip.key}.bin`) : null) ??
    makeImage({
      chip,
      segments: [
        { address: dram.start + 0x100, data: codeBytes(2048, 7) },
        { address: iram.start + 0x100, data: codeBytes(12 * 1024, 11) },
      ],
      entry: iram.start + 0x100,
    });
  const table = (useFixtures ? await fixture("partitions_singleapp.bin") : null) ??
    partitionTableToBinary([
      { type: DATA, subtype: NVS, offset: 0x9000, size: 0x6000, name: "nvs", flags: 0 },
      { type: DATA, subtype: PHY, offset: 0xf000, size: 0x1000, name: "phy_init", flags: 0 },
      {
        type: APP,
        subtype: FACTORY,
        offset: APP_OFFSET,
        size: 0x100000,
        name: "factory",
        flags: 0,
      },
    ]);
  const appSize = options.appSize ?? 256 * 1024;
  const app = makeImage({
    chip,
    segments: [
      {
        address: drom.start + 0x20,
        data: new Uint8Array([
          ...appDescriptor({ projectName: "espline-demo", version: "1.0", built: BUILT }),
          ...codeBytes(Math.max(0, Math.floor(appSize / 4)), 3),
        ]),
      },
      { address: iram.start, data: codeBytes(Math.floor(appSize / 2), 5) },
    ],
    entry: iram.start,
  });
  return [
    { address: chip.bootloaderOffset, name: "bootloader.bin", data: bootloader },
    { address: PARTITION_TABLE_OFFSET, name: "partition-table.bin", data: table },
    { address: APP_OFFSET, name: "app.bin", data: app },
  ];
}

/**
 * Write the set as an ESP-IDF build folder: `bootloader/bootloader.bin`,
 * `partition_table/partition-table.bin`, `app.bin` and `flasher_args.json`
 * with the flash settings.
 *
 * @example
 * ```ts
 * import { writeDemoBuild } from "./demo_firmware.ts";
 * await writeDemoBuild("/tmp/build", "esp32c3");
 * ```
 */
export async function writeDemoBuild(
  dir: string,
  chipKey: string,
  options: DemoFirmwareOptions = {},
): Promise<DemoFile[]> {
  const files = await demoFirmware(chipKey, options);
  const paths: Record<string, string> = {
    "bootloader.bin": "bootloader/bootloader.bin",
    "partition-table.bin": "partition_table/partition-table.bin",
    "app.bin": "app.bin",
  };
  await Deno.mkdir(`${dir}/bootloader`, { recursive: true });
  await Deno.mkdir(`${dir}/partition_table`, { recursive: true });
  for (const f of files) await Deno.writeFile(`${dir}/${paths[f.name]}`, f.data);
  const flashFiles = Object.fromEntries(
    files.map((f) => [`0x${f.address.toString(16)}`, paths[f.name]]),
  );
  await Deno.writeTextFile(
    `${dir}/flasher_args.json`,
    JSON.stringify(
      {
        write_flash_args: ["--flash_mode", "dio", "--flash_size", "4MB", "--flash_freq", "80m"],
        flash_settings: { flash_mode: "dio", flash_size: "4MB", flash_freq: "80m" },
        flash_files: flashFiles,
        extra_esptool_args: { after: "hard_reset", before: "default_reset", chip: chipKey },
      },
      null,
      2,
    ),
  );
  return files;
}

if (import.meta.main) {
  console.log(`scripts/demo_firmware.ts is a module, not a program: the firmware set of the demo
and the README examples (see deno task demo --help).`);
}
