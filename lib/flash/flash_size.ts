/**
 * The flash chip's size, from its JEDEC id, told to the loader.
 *
 * @module
 */

import { EsplineError } from "../errors.ts";
import type { LoaderSession } from "../loader/session.ts";
import { readFlashInfo } from "../loader/info.ts";

/**
 * The flash size in bytes, from the flash chip's JEDEC id; also tells the
 * loader (SPI_SET_PARAMS). Throws when the id is not one espline can size.
 *
 * @throws {EsplineError} `E_FLASH_SIZE_UNKNOWN`, saying to pass the size.
 * @example
 * ```ts
 * import { detectFlashSize } from "./flash_size.ts";
 * import type { LoaderSession } from "../loader/session.ts";
 * async function size(s: LoaderSession) {
 *   console.log(await detectFlashSize(s)); // 4194304
 * }
 * ```
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
