/**
 * Flash addresses: the erase sector every write and erase is aligned to, and
 * addresses written the way esptool prints them.
 *
 * @module
 */

/** Flash sector: the smallest erase unit (esptool FLASH_SECTOR_SIZE). */
export const FLASH_SECTOR_SIZE = 0x1000;

/**
 * Format an address as esptool does: `0x00010000`.
 *
 * @example
 * ```ts
 * import { hex32 } from "./address.ts";
 * console.log(hex32(0x10000)); // "0x00010000"
 * ```
 */
export function hex32(n: number): string {
  return `0x${(n >>> 0).toString(16).padStart(8, "0")}`;
}
