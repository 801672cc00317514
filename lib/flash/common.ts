/**
 * Small pieces shared by the flash operations: MD5 on the chip and on the
 * host, flash size detection, timeouts scaled by size, progress events.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { EsplineError } from "../errors.ts";
import { Op, u32le } from "../protocol/packet.ts";
import type { LoaderSession } from "../loader/session.ts";
import { readFlashInfo } from "../loader/info.ts";

/** Flash sector: the smallest erase unit (esptool FLASH_SECTOR_SIZE). */
export const FLASH_SECTOR_SIZE = 0x1000;
/** Seconds per MiB the chip may take to compute an MD5 (esptool MD5_TIMEOUT_PER_MB). */
export const MD5_SECONDS_PER_MB = 8;
/** Seconds per MiB for erase-and-write (esptool ERASE_WRITE_TIMEOUT_PER_MB). */
export const ERASE_WRITE_SECONDS_PER_MB = 40;
/** Seconds per MiB for an erase (esptool ERASE_REGION_TIMEOUT_PER_MB). */
export const ERASE_SECONDS_PER_MB = 30;
/** Whole-chip erase timeout (esptool CHIP_ERASE_TIMEOUT). */
export const CHIP_ERASE_TIMEOUT_MS = 120_000;

/** A progress report from a long flash operation. */
export interface FlashProgress {
  /** Always `progress`. */
  type: "progress";
  /** What is happening (`write`, `verify`, `read`, `erase`, `compare`). */
  stage: "write" | "verify" | "read" | "erase" | "compare";
  /** Human label, e.g. `Writing at 0x00010000`. */
  label: string;
  /** Flash address the work is about. */
  address: number;
  /** Bytes done (uncompressed). */
  done: number;
  /** Bytes in all. */
  total: number;
}

/** Timeout in ms for `bytes` at `secondsPerMb`, never below 3 s. */
export function timeoutForSize(secondsPerMb: number, bytes: number): number {
  return Math.max(3000, Math.ceil((secondsPerMb * bytes) / (1024 * 1024) * 1000));
}

/** MD5 of `data` on the host, lowercase hex. */
export function md5Hex(data: Uint8Array): string {
  return createHash("md5").update(data).digest("hex");
}

/** Format an address as esptool does: `0x00010000`. */
export function hex32(n: number): string {
  return `0x${(n >>> 0).toString(16).padStart(8, "0")}`;
}

/**
 * MD5 of a flash region, computed by the chip (SPI_FLASH_MD5). The ROM
 * answers 32 hex characters, the stub 16 raw bytes; both come back as hex.
 *
 * @example
 * ```ts
 * import { flashMd5 } from "./common.ts";
 * import type { LoaderSession } from "../loader/session.ts";
 * async function check(s: LoaderSession) {
 *   console.log(await flashMd5(s, 0x10000, 0x1000));
 * }
 * ```
 */
export async function flashMd5(
  session: LoaderSession,
  address: number,
  size: number,
): Promise<string> {
  const answer = session.loader.md5;
  if (answer === null) {
    throw new EsplineError(
      "E_NEEDS_STUB",
      `the ${session.chip.name} ROM cannot compute flash MD5s; run without --no-stub to verify`,
    );
  }
  await session.spiAttach();
  const { payload } = await session.commandWithRetry(Op.SPI_FLASH_MD5, u32le(address, size, 0, 0), {
    payloadLength: answer === "raw" ? 16 : 32,
    timeoutMs: timeoutForSize(MD5_SECONDS_PER_MB, size),
    what: `compute MD5 of ${hex32(address)}+${size}`,
  });
  if (answer === "raw") return Array.from(payload, (b) => b.toString(16).padStart(2, "0")).join("");
  return new TextDecoder().decode(payload).toLowerCase();
}

/**
 * The flash size in bytes, from the flash chip's JEDEC id; also tells the
 * loader (SPI_SET_PARAMS). Throws when the id is not one espline can size.
 */
export async function detectFlashSize(session: LoaderSession): Promise<number> {
  if (session.flashSize) return session.flashSize;
  const info = await readFlashInfo(session);
  if (!info.size) {
    throw new EsplineError(
      "E_FLASH_SIZE_UNKNOWN",
      `cannot tell the flash size from its JEDEC id (manufacturer 0x${
        info.manufacturer.toString(16)
      }, ` +
        `device 0x${info.device.toString(16)}); pass --flash-size explicitly`,
    );
  }
  await session.setFlashParams(info.size);
  return info.size;
}
