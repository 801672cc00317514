/**
 * Pre-flight checks before writing: is this firmware for this chip, at the
 * right place, for this silicon revision, inside the flash?
 *
 * @module
 */

import type { ChipFamily, ChipRevision } from "../chips/types.ts";
import { chipByImageId } from "../chips/index.ts";
import { IMAGE_MAGIC } from "./flash_params.ts";

/** One finding. Errors refuse the write (unless forced); warnings are shown. */
export interface PreflightIssue {
  /** `error` refuses, `warning` informs. */
  level: "error" | "warning";
  /** Stable code. */
  code: string;
  /** What is wrong and what to do. */
  message: string;
}

/** Typical second-stage bootloader offsets across the family. */
const BOOTLOADER_OFFSETS = [0x0, 0x1000, 0x2000];

const hex = (n: number) => `0x${n.toString(16)}`;

/**
 * Check regions against the connected chip.
 *
 * @example
 * ```ts
 * import { preflight } from "./preflight.ts";
 * import { chipByKey } from "../chips/index.ts";
 * const issues = preflight([{ address: 0x1000, data: new Uint8Array(64), name: "boot.bin" }], {
 *   chip: chipByKey("esp32c3"), revision: { major: 0, minor: 4 }, flashSize: 4 << 20,
 * });
 * ```
 */
export function preflight(
  regions: { address: number; data: Uint8Array; name?: string }[],
  target: { chip: ChipFamily; revision: ChipRevision; flashSize: number },
): PreflightIssue[] {
  const issues: PreflightIssue[] = [];
  const { chip, revision, flashSize } = target;
  const chipRev = revision.major * 100 + revision.minor;
  for (const r of regions) {
    const name = r.name ?? hex(r.address);
    if (r.address + r.data.length > flashSize) {
      issues.push({
        level: "error",
        code: "E_PAST_END",
        message: `${name} ends at ${hex(r.address + r.data.length)}, past the end of the ${
          flashSize >> 20
        } MB flash`,
      });
    }
    const d = r.data;
    if (d.length < 24 || d[0] !== IMAGE_MAGIC || !chip.image.extendedHeader) continue;
    const imageChipId = d[12] | (d[13] << 8);
    const reservedClear = d.subarray(19, 23).every((b) => b === 0);
    const imageChip = reservedClear ? chipByImageId(imageChipId) : null;
    if (!imageChip) continue; // not an ESP32-family image header: nothing more to check
    if (imageChip.key !== chip.key) {
      issues.push({
        level: "error",
        code: "E_IMAGE_CHIP",
        message:
          `${name} is built for ${imageChip.name}, but the connected chip is ${chip.name}: wrong build?`,
      });
      continue;
    }
    const minRev = d[15] | (d[16] << 8);
    const maxRev = d[17] | (d[18] << 8);
    if (minRev > chipRev) {
      issues.push({
        level: "error",
        code: "E_IMAGE_MIN_REV",
        message:
          `${name} needs chip revision v${Math.floor(minRev / 100)}.${minRev % 100} or later; ` +
          `this ${chip.name} is v${revision.major}.${revision.minor}`,
      });
    }
    if (maxRev && maxRev !== 0xffff && chipRev > maxRev) {
      issues.push({
        level: "warning",
        code: "E_IMAGE_MAX_REV",
        message:
          `${name} supports chip revisions up to v${Math.floor(maxRev / 100)}.${maxRev % 100}; ` +
          `this ${chip.name} is v${revision.major}.${revision.minor}`,
      });
    }
    if (BOOTLOADER_OFFSETS.includes(r.address) && r.address !== chip.bootloaderOffset) {
      issues.push({
        level: "error",
        code: "E_BOOTLOADER_OFFSET",
        message:
          `${name} looks like a bootloader at ${hex(r.address)}, but ${chip.name} boots from ` +
          `${hex(chip.bootloaderOffset)}: write it at ${hex(chip.bootloaderOffset)}`,
      });
    }
  }
  return issues;
}
