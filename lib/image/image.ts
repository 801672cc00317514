/**
 * Reading application and bootloader images: ESP8266 (version 1) and
 * ESP32-family (version 2, with the extended header) — header, segments and
 * the memory regions they load into, checksum, appended SHA-256, and the
 * ESP-IDF app / bootloader descriptors.
 *
 * Layout facts: esptool bin_image.py and image_info (cmds.py); ESP-IDF
 * esp_app_desc_t and esp_bootloader_desc_t.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { EsplineError } from "../errors.ts";
import { chipByImageId, chipByKey, CHIPS } from "../chips/index.ts";
import type { ChipFamily } from "../chips/types.ts";
import { IMAGE_MAGIC } from "./flash_params.ts";

/** The image is not one espline can read. */
export class ImageFormatError extends EsplineError {
  /** Create the error. */
  constructor(message: string) {
    super("E_BAD_IMAGE", message);
  }
}

/** Checksum seed (esptool ESP_CHECKSUM_MAGIC). */
const CHECKSUM_SEED = 0xef;
/** esp_app_desc_t magic (ESP-IDF ESP_APP_DESC_MAGIC_WORD). */
const APP_DESC_MAGIC = 0xabcd5432;
/** esp_bootloader_desc_t magic byte (ESP-IDF ESP_BOOTLOADER_DESC_MAGIC_BYTE). */
const BOOTLOADER_DESC_MAGIC = 0x50;
/** WP pin value meaning "not used" (esptool WP_PIN_DISABLED). */
const WP_PIN_DISABLED = 0xee;
const FLASH_MODE_NAMES = ["QIO", "QOUT", "DIO", "DOUT"];

/** One segment. */
export interface ImageSegment {
  /** Load address. */
  address: number;
  /** Length in bytes. */
  length: number;
  /** Offset of the segment's 8-byte header in the file (its data follows; esptool prints this). */
  fileOffset: number;
  /** Names of the chip's memory regions the load address falls in. */
  regions: string[];
}

/** Everything image-info reports. */
export interface ImageInfo {
  /** The chip the image is for (from the header, or as given). */
  chip: string;
  /** Its display name. */
  chipName: string;
  /** File size. */
  size: number;
  /** Entry point. */
  entry: number;
  /** Flash mode name (`DIO`). */
  flashMode: string;
  /** Flash size name (`4MB`). */
  flashSize: string;
  /** Flash frequency name (`40m`). */
  flashFreq: string;
  /** Extended header (ESP32 and later). */
  extended: {
    wpPin: number;
    drive: { clk: number; q: number; d: number; cs0: number; hd: number; wp: number };
    chipId: number;
    minRevLegacy: number;
    minRev: number;
    maxRev: number;
    hashAppended: boolean;
  } | null;
  /** Segments in file order. */
  segments: ImageSegment[];
  /** Stored and computed checksum. */
  checksum: { stored: number; computed: number; valid: boolean };
  /** Appended SHA-256, if any. */
  sha256: { stored: string; computed: string; valid: boolean } | null;
  /** ESP-IDF application descriptor, if present. */
  app: {
    projectName: string;
    version: string;
    compileTime: string;
    idfVersion: string;
    elfSha256: string;
    secureVersion: number;
    minEfuseBlockRev: number;
    maxEfuseBlockRev: number;
  } | null;
  /** ESP-IDF bootloader descriptor, if present. */
  bootloader:
    | { version: number; idfVersion: string; dateTime: string; secureVersion: number }
    | null;
}

function cstr(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(end < 0 ? bytes : bytes.subarray(0, end));
}

function sizeName(chip: ChipFamily, nibble: number): string {
  const name = Object.entries(chip.image.flashSizes).find(([, v]) => v === nibble)?.[0];
  return name ?? `unknown (0x${nibble.toString(16)})`;
}

function freqName(chip: ChipFamily, nibble: number): string {
  // Each chip's table lists names with their nibbles; esptool prints the name whose value
  // matches, and for the C6's 0x0 it is "40m" (80m is an alias).
  const names = Object.entries(chip.image.flashFreqs).filter(([, v]) => v === nibble);
  const name = names.map(([n]) => n);
  return name.length ? name[name.length > 1 ? 1 : 0] : `unknown (0x${nibble.toString(16)})`;
}

/** Guess the chip from the header: a known chip id in a plausible extended header, else ESP8266. */
function detectChip(data: Uint8Array): ChipFamily {
  if (data.length >= 24) {
    const id = data[12] | (data[13] << 8);
    const reservedClear = data.subarray(19, 23).every((b) => b === 0);
    const chip = chipByImageId(id);
    if (chip && reservedClear && data[23] <= 1) return chip;
  }
  return chipByKey("esp8266");
}

/**
 * Parse an image. `chip` (a key) overrides detection.
 *
 * @throws {ImageFormatError} when the data is not an image (bad magic, truncated segments).
 *
 * @example
 * ```ts
 * import { parseImage } from "./image.ts";
 * const info = parseImage(await Deno.readFile("bootloader.bin"));
 * console.log(info.chipName, info.segments.length, info.checksum.valid);
 * ```
 */
export function parseImage(data: Uint8Array, options: { chip?: string } = {}): ImageInfo {
  if (data.length < 8) {
    throw new ImageFormatError(`too short to be an image (${data.length} bytes)`);
  }
  if (data[0] !== IMAGE_MAGIC) {
    throw new ImageFormatError(
      `not an ESP image: first byte is 0x${data[0].toString(16).padStart(2, "0")}, expected 0xe9` +
        (data[0] === 0xea ? " (ESP8266 version 2 images with 0xea are not supported yet)" : ""),
    );
  }
  const chip = options.chip && options.chip !== "auto" ? chipByKey(options.chip) : detectChip(data);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const esp8266 = !chip.image.extendedHeader;
  const segCount = data[1];
  let off = 8;
  let extended: ImageInfo["extended"] = null;
  if (!esp8266) {
    if (data.length < 24) throw new ImageFormatError("truncated extended header");
    extended = {
      wpPin: data[8],
      drive: {
        clk: data[9] & 0xf,
        q: data[9] >> 4,
        d: data[10] & 0xf,
        cs0: data[10] >> 4,
        hd: data[11] & 0xf,
        wp: data[11] >> 4,
      },
      chipId: view.getUint16(12, true),
      minRevLegacy: data[14],
      minRev: view.getUint16(15, true),
      maxRev: view.getUint16(17, true),
      hashAppended: data[23] === 1,
    };
    off = 24;
  }
  const segments: ImageSegment[] = [];
  let sum = CHECKSUM_SEED;
  for (let i = 0; i < segCount; i++) {
    if (off + 8 > data.length) {
      throw new ImageFormatError(`segment ${i} header runs past the end of the file`);
    }
    const address = view.getUint32(off, true);
    const length = view.getUint32(off + 4, true);
    const dataOffset = off + 8;
    if (dataOffset + length > data.length) {
      throw new ImageFormatError(
        `segment ${i} (${length} bytes at 0x${
          dataOffset.toString(16)
        }) runs past the end of the file`,
      );
    }
    for (let j = dataOffset; j < dataOffset + length; j++) sum ^= data[j];
    segments.push({
      address,
      length,
      fileOffset: off,
      regions: chip.memoryMap.filter((r) => r.start <= address && address < r.end).map((r) =>
        r.name
      ),
    });
    off = dataOffset + length;
  }
  off += 15 - (off % 16);
  if (off >= data.length) {
    throw new ImageFormatError("the checksum byte is missing (file truncated)");
  }
  const checksum = { stored: data[off], computed: sum, valid: data[off] === sum };
  const dataLength = off + 1;
  let sha256: ImageInfo["sha256"] = null;
  if (extended?.hashAppended && dataLength + 32 <= data.length) {
    const stored = Array.from(
      data.subarray(dataLength, dataLength + 32),
      (b) => b.toString(16).padStart(2, "0"),
    ).join("");
    const computed = createHash("sha256").update(data.subarray(0, dataLength)).digest("hex");
    sha256 = { stored, computed, valid: stored === computed };
  }
  let app: ImageInfo["app"] = null;
  let bootloader: ImageInfo["bootloader"] = null;
  const first = segments[0];
  if (
    !esp8266 && first && first.length >= 256 &&
    view.getUint32(first.fileOffset + 8, true) === APP_DESC_MAGIC
  ) {
    const d = data.subarray(first.fileOffset + 8, first.fileOffset + 8 + 256);
    const dv = new DataView(d.buffer, d.byteOffset, d.byteLength);
    app = {
      secureVersion: dv.getUint32(4, true),
      version: cstr(d.subarray(16, 48)),
      projectName: cstr(d.subarray(48, 80)),
      compileTime: `${cstr(d.subarray(96, 112))} ${cstr(d.subarray(80, 96))}`,
      idfVersion: cstr(d.subarray(112, 144)),
      elfSha256: Array.from(d.subarray(144, 176), (b) => b.toString(16).padStart(2, "0")).join(""),
      minEfuseBlockRev: dv.getUint16(176, true),
      maxEfuseBlockRev: dv.getUint16(178, true),
    };
  } else if (
    !esp8266 && first && first.length >= 80 && data[first.fileOffset + 8] === BOOTLOADER_DESC_MAGIC
  ) {
    const d = data.subarray(first.fileOffset + 8, first.fileOffset + 8 + 80);
    bootloader = {
      secureVersion: d[3],
      version: new DataView(d.buffer, d.byteOffset).getUint32(4, true),
      idfVersion: cstr(d.subarray(8, 40)),
      dateTime: cstr(d.subarray(40, 64)),
    };
  }
  return {
    chip: chip.key,
    chipName: chip.name,
    size: data.length,
    entry: view.getUint32(4, true),
    flashMode: FLASH_MODE_NAMES[data[2]] ?? `unknown (${data[2]})`,
    flashSize: sizeName(chip, data[3] & 0xf0),
    flashFreq: freqName(chip, data[3] & 0x0f),
    extended,
    segments,
    checksum,
    sha256,
    app,
    bootloader,
  };
}

const hex = (n: number, w = 8) => `0x${n.toString(16).padStart(w, "0")}`;
const rev = (full: number) => `v${Math.floor(full / 100)}.${full % 100}`;

/** Format image facts as esptool's image-info prints them. */
export function formatImageInfo(info: ImageInfo): string {
  const title = (t: string) => [t, "=".repeat(t.length)];
  const out: string[] = [
    `Image size: ${info.size} bytes`,
    `Detected image type: ${info.chipName}`,
    "",
  ];
  out.push(
    ...title(`${info.chipName} Image Header`),
    "Image version: 1",
    `Entry point: ${hex(info.entry)}`,
    `Segments: ${info.segments.length}`,
    `Flash size: ${info.flashSize}`,
    `Flash freq: ${info.flashFreq}`,
    `Flash mode: ${info.flashMode}`,
    "",
  );
  const e = info.extended;
  if (e) {
    const chipName = CHIPS.find((c) => c.imageChipId === e.chipId)?.name ?? "unknown";
    out.push(
      ...title(`${info.chipName} Extended Image Header`),
      `WP pin: 0x${e.wpPin.toString(16)}${e.wpPin === WP_PIN_DISABLED ? " (disabled)" : ""}`,
      `Flash pins drive settings: clk_drv: 0x${e.drive.clk.toString(16)}, q_drv: 0x${
        e.drive.q.toString(16)
      }, ` +
        `d_drv: 0x${e.drive.d.toString(16)}, cs0_drv: 0x${e.drive.cs0.toString(16)}, hd_drv: 0x${
          e.drive.hd.toString(16)
        }, ` +
        `wp_drv: 0x${e.drive.wp.toString(16)}`,
      `Chip ID: ${e.chipId} (${chipName})`,
      `Minimal chip revision: ${rev(e.minRev)}, (legacy min_rev = ${e.minRevLegacy})`,
      `Maximal chip revision: ${rev(e.maxRev)}`,
      "",
    );
  }
  out.push(
    ...title("Segments Information"),
    "Segment   Length   Load addr   File offs  Memory types",
    "-------  -------  ----------  ----------  ------------",
  );
  info.segments.forEach((s, i) => {
    out.push(
      `${String(i).padStart(7)}  ${hex(s.length, 5)}  ${hex(s.address)}  ${hex(s.fileOffset)}  ${
        s.regions.join(", ")
      }`,
    );
  });
  out.push(
    "",
    ...title(`${info.chipName} Image Footer`),
    `Checksum: 0x${info.checksum.stored.toString(16).padStart(2, "0")} (${
      info.checksum.valid
        ? "valid"
        : `invalid - calculated 0x${info.checksum.computed.toString(16).padStart(2, "0")}`
    })`,
  );
  if (info.sha256) {
    out.push(
      `Validation hash: ${info.sha256.stored} (${
        info.sha256.valid ? "valid" : `invalid - calculated ${info.sha256.computed}`
      })`,
    );
  }
  if (info.app) {
    const a = info.app;
    out.push(
      "",
      ...title("Application Information"),
      `Project name: ${a.projectName}`,
      `App version: ${a.version}`,
      `Compile time: ${a.compileTime}`,
      `ELF file SHA256: ${a.elfSha256}`,
      `ESP-IDF: ${a.idfVersion}`,
      `Minimal eFuse block revision: ${Math.floor(a.minEfuseBlockRev / 100)}.${
        a.minEfuseBlockRev % 100
      }`,
      `Maximal eFuse block revision: ${Math.floor(a.maxEfuseBlockRev / 100)}.${
        a.maxEfuseBlockRev % 100
      }`,
      `Secure version: ${a.secureVersion}`,
    );
  }
  if (info.bootloader) {
    const b = info.bootloader;
    out.push(
      "",
      ...title("Bootloader Information"),
      `Bootloader version: ${b.version}`,
      `ESP-IDF: ${b.idfVersion}`,
      `Compile time: ${b.dateTime}`,
    );
  }
  return out.join("\n");
}
