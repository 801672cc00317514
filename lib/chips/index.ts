/**
 * All chip families espline knows, and lookups over them: by command-line key,
 * by the chip-detect magic value, by the image/security-info chip id. Plus the
 * small formatters every layer prints with (flash size, MAC).
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import { ESP32 } from "./esp32.ts";
import { ESP32C2 } from "./esp32c2.ts";
import { ESP32C3 } from "./esp32c3.ts";
import { ESP32C5 } from "./esp32c5.ts";
import { ESP32C6 } from "./esp32c6.ts";
import { ESP32H2 } from "./esp32h2.ts";
import { ESP32P4 } from "./esp32p4.ts";
import { ESP32S2 } from "./esp32s2.ts";
import { ESP32S3 } from "./esp32s3.ts";
import { ESP8266 } from "./esp8266.ts";
import type { ChipFamily } from "./types.ts";

export type {
  ChipFamily,
  ChipRevision,
  ImageFormatFacts,
  MacCheckFailure,
  MemoryRegion,
  ReadReg,
  RomLoaderFacts,
  SpiRegisters,
} from "./types.ts";
export { ESP32, ESP32C2, ESP32C3, ESP32C5, ESP32C6, ESP32H2, ESP32P4, ESP32S2, ESP32S3, ESP8266 };

/** Address whose value identifies the chip family (esptool loader.py CHIP_DETECT_MAGIC_REG_ADDR). */
export const CHIP_DETECT_MAGIC_REG_ADDR = 0x40001000;

/**
 * Every supported family, oldest first.
 *
 * @example
 * ```ts
 * import { CHIPS } from "./index.ts";
 * console.log(CHIPS.map((c) => c.key).join(", "));
 * ```
 */
export const CHIPS: readonly ChipFamily[] = Object.freeze([
  ESP8266,
  ESP32,
  ESP32S2,
  ESP32S3,
  ESP32C2,
  ESP32C3,
  ESP32C5,
  ESP32C6,
  ESP32H2,
  ESP32P4,
]);

function normalizeKey(key: string): string {
  return key.trim().toLowerCase().replace(/[-_\s]/g, "");
}

/**
 * Find a family by key or display name: `esp32s3`, `ESP32-S3` and `esp32-s3`
 * all name the ESP32-S3.
 *
 * @throws {UsageError} (`E_UNKNOWN_CHIP`) listing the valid keys when nothing matches.
 *
 * @example
 * ```ts
 * import { chipByKey } from "./index.ts";
 * chipByKey("ESP32-S3").name; // "ESP32-S3"
 * ```
 */
export function chipByKey(key: string): ChipFamily {
  const wanted = normalizeKey(key);
  const found = CHIPS.find((chip) => chip.key === wanted || normalizeKey(chip.name) === wanted);
  if (found) return found;
  const valid = CHIPS.map((chip) => chip.key).join(", ");
  throw new UsageError(`unknown chip "${key}": use one of ${valid}`, {
    code: "E_UNKNOWN_CHIP",
    details: { chip: key, valid: CHIPS.map((chip) => chip.key) },
  });
}

/**
 * Find the family whose ROM leaves `value` at {@link CHIP_DETECT_MAGIC_REG_ADDR}, or `null`.
 *
 * @example
 * ```ts
 * import { chipByMagic } from "./index.ts";
 * chipByMagic(0x00f01d83)?.name; // "ESP32"
 * ```
 */
export function chipByMagic(value: number): ChipFamily | null {
  const wanted = value >>> 0;
  return CHIPS.find((chip) => chip.magicValues.some((m) => m >>> 0 === wanted)) ?? null;
}

/**
 * Find the family with this image-header / GET_SECURITY_INFO chip id, or `null`.
 *
 * @example
 * ```ts
 * import { chipByImageId } from "./index.ts";
 * chipByImageId(9)?.name; // "ESP32-S3"
 * ```
 */
export function chipByImageId(id: number): ChipFamily | null {
  return CHIPS.find((chip) => chip.imageChipId === id) ?? null;
}

/** JEDEC manufacturer id of Adesto, whose capacity code sits elsewhere (esptool cmds.py ADESTO_VENDOR_ID). */
const ADESTO_VENDOR_ID = 0x1f;

/** JEDEC capacity byte → bytes (esptool cmds.py DETECTED_FLASH_SIZES). */
const CAPACITY_BYTES: Record<number, number> = {
  0x12: 256 * 1024,
  0x13: 512 * 1024,
  0x14: 1 << 20,
  0x15: 2 << 20,
  0x16: 4 << 20,
  0x17: 8 << 20,
  0x18: 16 << 20,
  0x19: 32 << 20,
  0x1a: 64 << 20,
  0x1b: 128 << 20,
  0x1c: 256 << 20,
  0x20: 64 << 20,
  0x21: 128 << 20,
  0x22: 256 << 20,
  0x32: 256 * 1024,
  0x33: 512 * 1024,
  0x34: 1 << 20,
  0x35: 2 << 20,
  0x36: 4 << 20,
  0x37: 8 << 20,
  0x38: 16 << 20,
  0x39: 32 << 20,
  0x3a: 64 << 20,
};

/** Adesto density code (low 5 bits of the second id byte) → bytes (esptool cmds.py DETECTED_FLASH_SIZES_ADESTO). */
const ADESTO_CAPACITY_BYTES: Record<number, number> = {
  0x04: 512 * 1024,
  0x05: 1 << 20,
  0x06: 2 << 20,
  0x07: 4 << 20,
  0x08: 8 << 20,
  0x09: 16 << 20,
};

/**
 * Flash size in bytes from the JEDEC capacity byte alone (the third byte of
 * the RDID answer), or `null` when the code is not a known size.
 *
 * @example
 * ```ts
 * import { flashSizeFromCapacity } from "./index.ts";
 * flashSizeFromCapacity(0x16); // 4194304
 * ```
 */
export function flashSizeFromCapacity(capacity: number): number | null {
  return CAPACITY_BYTES[capacity & 0xff] ?? null;
}

/**
 * Flash size in bytes from the 24-bit RDID (0x9F) answer as read from SPI_W0
 * (manufacturer in bits 0..7, memory type in bits 8..15, capacity in bits
 * 16..23), or `null` when the size code is unknown. Adesto parts keep their
 * density code in the low 5 bits of the second byte.
 *
 * @example
 * ```ts
 * import { flashSizeFromJedec } from "./index.ts";
 * flashSizeFromJedec(0x1640ef); // 4194304 (Winbond W25Q32)
 * ```
 */
export function flashSizeFromJedec(id: number): number | null {
  const manufacturer = id & 0xff;
  if (manufacturer === ADESTO_VENDOR_ID) {
    return ADESTO_CAPACITY_BYTES[(id >>> 8) & 0x1f] ?? null;
  }
  return flashSizeFromCapacity((id >>> 16) & 0xff);
}

/**
 * Format a byte count as esptool names flash sizes: `256KB`, `4MB`, `128MB`.
 *
 * @example
 * ```ts
 * import { formatFlashSize } from "./index.ts";
 * formatFlashSize(4 * 1024 * 1024); // "4MB"
 * ```
 */
export function formatFlashSize(bytes: number): string {
  const mb = 1024 * 1024;
  if (bytes >= mb && bytes % mb === 0) return `${bytes / mb}MB`;
  if (bytes % 1024 === 0) return `${bytes / 1024}KB`;
  return `${bytes}B`;
}

/**
 * Format MAC bytes as lower-case hex pairs joined by colons.
 *
 * @example
 * ```ts
 * import { formatMac } from "./index.ts";
 * formatMac(Uint8Array.of(0xaa, 0xbb, 0xcc, 0x01, 0x02, 0x03)); // "aa:bb:cc:01:02:03"
 * ```
 */
export function formatMac(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(":");
}
