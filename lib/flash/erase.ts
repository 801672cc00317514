/**
 * Erasing flash: the whole chip (stub only) or a sector-aligned region.
 *
 * @module
 */

import { EsplineError, throwIfAborted, UsageError } from "../errors.ts";
import { concatBytes, Op, u32le } from "../protocol/packet.ts";
import type { LoaderSession } from "../loader/session.ts";
import { FLASH_SECTOR_SIZE, hex32 } from "./address.ts";
import { CHIP_ERASE_TIMEOUT_MS, ERASE_SECONDS_PER_MB, timeoutForSize } from "./timeouts.ts";

/** Options for the erase operations. */
export interface EraseOptions {
  /** Cancels before the command is sent (an erase in progress on the chip cannot be stopped). */
  signal?: AbortSignal;
}

/**
 * Erase the whole flash (ERASE_FLASH). Needs the flasher stub: the ROM has
 * no such command.
 *
 * @example
 * ```ts
 * import { eraseFlash } from "./erase.ts";
 * import type { LoaderSession } from "../loader/session.ts";
 * async function wipe(s: LoaderSession) {
 *   await eraseFlash(s);
 * }
 * ```
 */
export async function eraseFlash(
  session: LoaderSession,
  options: EraseOptions = {},
): Promise<void> {
  throwIfAborted(options.signal);
  if (!session.loader.eraseFlash) {
    throw new EsplineError(
      "E_NEEDS_STUB",
      "erase-flash needs the flasher stub (the ROM loader has no chip-erase command); run without --no-stub, " +
        "or erase the parts you need with erase-region, which works with the ROM",
    );
  }
  await session.spiAttach();
  await session.command(Op.ERASE_FLASH, new Uint8Array(0), {
    timeoutMs: CHIP_ERASE_TIMEOUT_MS,
    what: "erase flash",
  });
}

/** Check that a region is sector-aligned; throws a {@link UsageError} saying how to fix it. */
export function checkEraseRegion(address: number, size: number): void {
  if (address % FLASH_SECTOR_SIZE !== 0) {
    throw new UsageError(
      `erase address ${
        hex32(address)
      } is not a multiple of 0x1000 (4096): flash erases whole 4 KiB sectors; ` +
        `use ${hex32(address - (address % FLASH_SECTOR_SIZE))}`,
      { code: "E_UNALIGNED" },
    );
  }
  if (size <= 0 || size % FLASH_SECTOR_SIZE !== 0) {
    throw new UsageError(
      `erase size ${hex32(size)} is not a positive multiple of 0x1000 (4096); ` +
        `use ${hex32(Math.max(1, Math.ceil(size / FLASH_SECTOR_SIZE)) * FLASH_SECTOR_SIZE)}`,
      { code: "E_UNALIGNED" },
    );
  }
}

/**
 * Erase `size` bytes at `address` (both multiples of 4096). The stub has
 * ERASE_REGION; with the ROM, FLASH_BEGIN erases the region as its first step,
 * which espline uses (no data follows).
 */
export async function eraseRegion(
  session: LoaderSession,
  region: { address: number; size: number },
  options: EraseOptions = {},
): Promise<void> {
  checkEraseRegion(region.address, region.size);
  throwIfAborted(options.signal);
  await session.spiAttach();
  const timeoutMs = timeoutForSize(ERASE_SECONDS_PER_MB, region.size);
  const loader = session.loader;
  if (loader.eraseRegion === "command") {
    await session.command(Op.ERASE_REGION, u32le(region.address, region.size), {
      timeoutMs,
      what: `erase region ${hex32(region.address)}+${hex32(region.size)}`,
    });
    return;
  }
  if (loader.eraseRegion === null) {
    throw new EsplineError(
      "E_NEEDS_STUB",
      `erase-region on the ${session.chip.name} needs the flasher stub (its ROM erases unpredictable amounts); run without --no-stub`,
    );
  }
  const blockSize = loader.flashWriteSize;
  const encFlag = loader.beginTakesEncryptFlag ? u32le(0) : new Uint8Array(0);
  await session.command(
    Op.FLASH_BEGIN,
    concatBytes(
      u32le(region.size, Math.ceil(region.size / blockSize), blockSize, region.address),
      encFlag,
    ),
    { timeoutMs, what: `erase region ${hex32(region.address)}+${hex32(region.size)}` },
  );
}
