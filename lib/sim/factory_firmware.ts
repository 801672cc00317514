/**
 * The firmware a new virtual board ships with, as DevKits ship with a demo:
 * a second-stage bootloader at the chip's offset, ESP-IDF's single-app
 * partition table (with its MD5 entry) and a small factory application with
 * an app descriptor. So a fresh board boots its application; an erased or
 * wrongly written one does not.
 *
 * @module
 */

import type { ChipFacts } from "./chip_facts.ts";
import {
  buildAppDescriptor,
  buildImage,
  buildPartitionTable,
  PART,
  PARTITION_TABLE_OFFSET,
} from "./image_format.ts";

/** The factory application's descriptor. */
export const FACTORY_APP = { projectName: "sim-factory", version: "1.0.0", idfVersion: "v5.3.1" };
/** Where ESP-IDF's single-app table puts the factory app. */
export const FACTORY_APP_OFFSET = 0x10000;

/** Load addresses for the factory images (plausible per family; the boot model does not check them). */
function addresses(facts: ChipFacts): { drom: number; iram: number; dram: number } {
  switch (facts.key) {
    case "esp32":
      return { drom: 0x3f400020, iram: 0x40080000, dram: 0x3ffb0000 };
    case "esp32s2":
      return { drom: 0x3f000020, iram: 0x40022000, dram: 0x3ffbe000 };
    case "esp32s3":
      return { drom: 0x3c000020, iram: 0x40370000, dram: 0x3fc88000 };
    case "esp32c2":
    case "esp32c3":
      return { drom: 0x3c000020, iram: 0x40380000, dram: 0x3fc80000 };
    case "esp32p4":
      return { drom: 0x40000020, iram: 0x4ff00000, dram: 0x4ff40000 };
    default:
      return { drom: 0x42000020, iram: 0x40800000, dram: 0x40810000 };
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** ESP-IDF's bootloader descriptor (esp_bootloader_desc_t: magic 0x50, version, IDF version). */
function bootloaderDescriptor(idfVersion: string): Uint8Array {
  const d = new Uint8Array(80);
  d[0] = 0x50;
  d.set(new TextEncoder().encode(idfVersion).subarray(0, 31), 8);
  d.set(new TextEncoder().encode("Jan  1 2025 00:00:00"), 40);
  return d;
}

/** What goes into a firmware set (see {@link firmwareRegions}). */
export interface FirmwareOptions {
  /** The app's project name; default "sim-factory". */
  projectName?: string;
  /** The app's version; default "1.0.0". */
  version?: string;
  /** The ESP-IDF version the app and bootloader claim; default "v5.3.1". */
  idfVersion?: string;
  /** Bytes of (compressible, code-like) filler in the app, for realistic sizes; default 64. */
  appSize?: number;
}

/** One region of a firmware set. */
export interface FirmwareRegion {
  /** Flash address. */
  address: number;
  /** Contents. */
  data: Uint8Array;
  /** File name as a build would call it. */
  name: string;
}

/**
 * A bootable firmware set for `facts`' chip: bootloader, partition table
 * (nvs, phy_init, factory app at 0x10000) and the app. Empty for the ESP8266.
 */
export function firmwareRegions(facts: ChipFacts, options: FirmwareOptions = {}): FirmwareRegion[] {
  if (facts.imageChipId < 0) return [];
  const a = addresses(facts);
  const idf = options.idfVersion ?? FACTORY_APP.idfVersion;
  const code = Uint8Array.from({ length: 64 }, (_, i) => (i * 37 + 11) & 0xff);
  const filler = new Uint8Array(Math.max(0, options.appSize ?? 0));
  let x = 7;
  for (let i = 0; i < filler.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    filler[i] = i % 3 === 0 ? x >>> 24 : "esp-idf app "[i % 12].charCodeAt(0);
  }
  const bootloader = buildImage({
    chipId: facts.imageChipId,
    entry: a.iram,
    segments: [
      { addr: a.dram, data: bootloaderDescriptor(idf) },
      { addr: a.iram, data: code },
    ],
    // The ESP32's bootloader carries no digest; later chips' do.
    sha256: facts.key !== "esp32",
  });
  const table = buildPartitionTable([
    {
      label: "nvs",
      type: PART.DATA,
      subtype: PART.DATA_NVS,
      offset: 0x9000,
      size: 0x6000,
      flags: 0,
    },
    {
      label: "phy_init",
      type: PART.DATA,
      subtype: PART.DATA_PHY,
      offset: 0xf000,
      size: 0x1000,
      flags: 0,
    },
    {
      label: "factory",
      type: PART.APP,
      subtype: PART.FACTORY,
      offset: FACTORY_APP_OFFSET,
      size: 0x100000,
      flags: 0,
    },
  ]);
  const desc = buildAppDescriptor({
    projectName: options.projectName ?? FACTORY_APP.projectName,
    version: options.version ?? FACTORY_APP.version,
    idfVersion: idf,
  });
  const app = buildImage({
    chipId: facts.imageChipId,
    entry: a.iram,
    segments: [
      { addr: a.drom, data: concat(desc, filler) },
      { addr: a.iram, data: code },
    ],
  });
  return [
    { address: facts.bootloaderOffset, data: bootloader, name: "bootloader.bin" },
    { address: PARTITION_TABLE_OFFSET, data: table, name: "partition-table.bin" },
    {
      address: FACTORY_APP_OFFSET,
      data: app,
      name: `${options.projectName ?? FACTORY_APP.projectName}.bin`,
    },
  ];
}

/** A flash image of `size` bytes holding the factory firmware for `facts`' chip. */
export function factoryFlash(facts: ChipFacts, size: number): Uint8Array {
  const flash = new Uint8Array(size).fill(0xff);
  for (const r of firmwareRegions(facts)) flash.set(r.data, r.address);
  return flash;
}
