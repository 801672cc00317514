/**
 * merge-bin: address/file pairs into one image, with the bootloader's flash
 * parameters patched as write-flash does, as raw binary (optionally padded),
 * Intel HEX, or UF2 for Espressif's USB bridges.
 *
 * Facts: esptool cmds.py merge_bin, uf2_writer.py; the UF2 format
 * (github.com/microsoft/uf2); Intel HEX record layout as the intelhex
 * package writes it (16-byte records, type 04 when the upper address half
 * changes). Output is byte-identical to esptool v5.1.0 for the same inputs.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { UsageError } from "../errors.ts";
import type { ChipFamily } from "../chips/types.ts";
import { type FlashParams, patchFlashParams } from "./flash_params.ts";

/** UF2 family ids (esptool targets/*.py UF2_FAMILY_ID). */
export const UF2_FAMILY_IDS: Readonly<Record<string, number>> = {
  esp8266: 0x7eab61ed,
  esp32: 0x1c5f21b0,
  esp32s2: 0xbfdd4eee,
  esp32s3: 0xc47e5767,
  esp32c2: 0x2b88d29c,
  esp32c3: 0xd42ba06c,
  esp32c5: 0xf71c0343,
  esp32c6: 0x540ddf62,
  esp32h2: 0x332726f6,
  esp32p4: 0x3d308e94,
};

/** UF2 constants (uf2_writer.py). */
const UF2_MAGIC_START0 = 0x0a324655;
const UF2_MAGIC_START1 = 0x9e5d5157;
const UF2_MAGIC_END = 0x0ab16f30;
const UF2_FLAG_FAMILYID = 0x00002000;
const UF2_FLAG_MD5 = 0x00004000;
const UF2_DATA_SIZE = 476;
const UF2_MD5_PART = 24;

/** The largest flash any Espressif chip addresses (esptool's largest --flash-size, 128MB). */
const MAX_FLASH_BYTES = 128 * 1024 * 1024;

/** Options for {@link mergeBin}. */
export interface MergeOptions {
  /** The chip (bootloader offset, flash parameter encodings, UF2 family). */
  chip: ChipFamily;
  /** `raw` (default), `hex` or `uf2`. */
  format?: "raw" | "hex" | "uf2";
  /** Flash parameters to patch into the bootloader (`keep` by default). */
  flashParams?: FlashParams;
  /** raw: the output starts at this flash offset. Default 0. */
  targetOffset?: number;
  /** raw: pad with 0xFF up to this total size (bytes from offset 0). */
  padToSize?: number;
  /** uf2: payload bytes per block. Default 452 (476 less the MD5 part). */
  chunkSize?: number;
  /** uf2: leave out the per-block MD5 part. Default false. */
  md5Disable?: boolean;
}

/**
 * Merge regions into one output.
 *
 * @example
 * ```ts
 * import { mergeBin } from "./merge.ts";
 * import { chipByKey } from "../chips/index.ts";
 * const out = mergeBin([{ address: 0x1000, data: new Uint8Array(16) }], { chip: chipByKey("esp32") });
 * ```
 */
export function mergeBin(
  regions: { address: number; data: Uint8Array }[],
  options: MergeOptions,
): Uint8Array {
  if (regions.length === 0) throw new UsageError("merge-bin needs at least one ADDRESS FILE pair");
  const sorted = [...regions].sort((a, b) => a.address - b.address).map((r) => ({
    address: r.address,
    data:
      patchFlashParams(r.data, r.address, { chip: options.chip, params: options.flashParams ?? {} })
        .data,
  }));
  const hex = (n: number) => `0x${n.toString(16)}`;
  for (const r of sorted) {
    if (r.address + r.data.length > MAX_FLASH_BYTES) {
      throw new UsageError(
        `the file at ${hex(r.address)} (${r.data.length} bytes) ends at ${
          hex(r.address + r.data.length)
        }, past the end of the largest flash (128MB): check the address`,
        { code: "E_PAST_END" },
      );
    }
  }
  if ((options.padToSize ?? 0) > MAX_FLASH_BYTES) {
    throw new UsageError(
      `--pad-to-size ${hex(options.padToSize!)} is larger than the largest flash (128MB)`,
      { code: "E_PAST_END" },
    );
  }
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    if (prev.address + prev.data.length > sorted[i].address) {
      throw new UsageError(
        `the file at 0x${
          prev.address.toString(16)
        } (${prev.data.length} bytes) overlaps the one at 0x${sorted[i].address.toString(16)}`,
        { code: "E_OVERLAP" },
      );
    }
  }
  const format = options.format ?? "raw";
  if (format === "uf2") return uf2(sorted, options);
  if (format === "hex") return new TextEncoder().encode(intelHex(sorted));
  const target = options.targetOffset ?? 0;
  if (sorted[0].address < target) {
    throw new UsageError(
      `output target offset is 0x${target.toString(16)}, but input data starts before it at 0x${
        sorted[0].address.toString(16)
      }`,
    );
  }
  const last = sorted[sorted.length - 1];
  const end = Math.max(last.address + last.data.length, options.padToSize ?? 0);
  const out = new Uint8Array(end - target).fill(0xff);
  for (const r of sorted) out.set(r.data, r.address - target);
  return out;
}

function uf2(regions: { address: number; data: Uint8Array }[], options: MergeOptions): Uint8Array {
  const family = UF2_FAMILY_IDS[options.chip.key];
  const md5 = !options.md5Disable;
  const chunk = options.chunkSize ?? (UF2_DATA_SIZE - (md5 ? UF2_MD5_PART : 0));
  if (chunk <= 0 || chunk > UF2_DATA_SIZE - (md5 ? UF2_MD5_PART : 0)) {
    throw new UsageError(`UF2 chunk size must be 1..${UF2_DATA_SIZE - (md5 ? UF2_MD5_PART : 0)}`);
  }
  const blocks: Uint8Array[] = [];
  for (const r of regions) {
    const count = Math.ceil(r.data.length / chunk);
    for (let i = 0; i < count; i++) {
      const part = r.data.subarray(i * chunk, (i + 1) * chunk);
      const addr = r.address + i * chunk;
      const block = new Uint8Array(512);
      const v = new DataView(block.buffer);
      [
        UF2_MAGIC_START0,
        UF2_MAGIC_START1,
        UF2_FLAG_FAMILYID | (md5 ? UF2_FLAG_MD5 : 0),
        addr,
        part.length,
        i,
        count,
        family,
      ]
        .forEach((w, k) => v.setUint32(k * 4, w >>> 0, true));
      block.set(part, 32);
      if (md5) {
        v.setUint32(32 + part.length, addr, true);
        v.setUint32(36 + part.length, part.length, true);
        block.set(createHash("md5").update(part).digest(), 40 + part.length);
      }
      v.setUint32(508, UF2_MAGIC_END, true);
      blocks.push(block);
    }
  }
  const out = new Uint8Array(blocks.length * 512);
  blocks.forEach((b, i) => out.set(b, i * 512));
  return out;
}

function record(type: number, address: number, data: number[]): string {
  const bytes = [data.length, (address >> 8) & 0xff, address & 0xff, type, ...data];
  const sum = (0x100 - (bytes.reduce((a, b) => a + b, 0) & 0xff)) & 0xff;
  return ":" + [...bytes, sum].map((b) => b.toString(16).toUpperCase().padStart(2, "0")).join("");
}

/** Intel HEX: 16-byte data records, an extended linear address record whenever the upper 16 bits change. */
export function intelHex(regions: { address: number; data: Uint8Array }[]): string {
  const lines: string[] = [];
  let upper = -1;
  for (const r of regions) {
    let off = 0;
    while (off < r.data.length) {
      const addr = r.address + off;
      if (addr >>> 16 !== upper) {
        upper = addr >>> 16;
        lines.push(record(0x04, 0, [(upper >> 8) & 0xff, upper & 0xff]));
      }
      const toBoundary = 0x10000 - (addr & 0xffff);
      const n = Math.min(16, r.data.length - off, toBoundary);
      lines.push(record(0x00, addr & 0xffff, Array.from(r.data.subarray(off, off + n))));
      off += n;
    }
  }
  lines.push(":00000001FF");
  return lines.join("\n") + "\n";
}
