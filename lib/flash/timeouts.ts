/**
 * How long the chip may take: answer timeouts scaled by the amount of flash
 * a command works on (esptool's per-megabyte figures), and by the time its
 * data needs on the wire.
 *
 * @module
 */

/** Seconds per MiB the chip may take to compute an MD5 (esptool MD5_TIMEOUT_PER_MB). */
export const MD5_SECONDS_PER_MB = 8;
/** Seconds per MiB for erase-and-write (esptool ERASE_WRITE_TIMEOUT_PER_MB). */
export const ERASE_WRITE_SECONDS_PER_MB = 40;
/** Seconds per MiB for an erase (esptool ERASE_REGION_TIMEOUT_PER_MB). */
export const ERASE_SECONDS_PER_MB = 30;
/** Whole-chip erase timeout (esptool CHIP_ERASE_TIMEOUT). */
export const CHIP_ERASE_TIMEOUT_MS = 120_000;
/** The shortest timeout a scaled one gets (esptool DEFAULT_TIMEOUT), ms. */
const MIN_TIMEOUT_MS = 3000;

/**
 * Timeout in ms for `bytes` at `secondsPerMb`, never below 3 s (the floor of esptool's timeout_per_mb).
 *
 * @example
 * ```ts
 * import { ERASE_SECONDS_PER_MB, timeoutForSize } from "./timeouts.ts";
 * console.log(timeoutForSize(ERASE_SECONDS_PER_MB, 4 << 20)); // 120000
 * ```
 */
export function timeoutForSize(secondsPerMb: number, bytes: number): number {
  return Math.max(MIN_TIMEOUT_MS, Math.ceil((secondsPerMb * bytes) / (1024 * 1024) * 1000));
}

/** Bits on the wire per byte (start bit, 8 data bits, stop bit). */
const BITS_PER_BYTE = 10;
/**
 * How much slower than the line a loader may take in a block: the legacy
 * stub on the emulated ESP32 reads its input at about 40 % of the line rate
 * (16 KiB blocks take 3.1 s at 115200), so the block answer can come well
 * after the wire time. Three times the wire time covers it.
 */
const RECEIVE_SLACK = 3;

/**
 * Time the loader may need to receive `bytes` at `baud`, ms, with slack.
 *
 * @example
 * ```ts
 * import { receiveMs } from "./timeouts.ts";
 * console.log(receiveMs(16408, 921600)); // 535
 * ```
 */
export function receiveMs(bytes: number, baud: number): number {
  return Math.ceil((bytes * BITS_PER_BYTE * 1000 * RECEIVE_SLACK) / baud);
}
