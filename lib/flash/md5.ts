/**
 * MD5s of flash contents: computed by the chip over a region
 * (SPI_FLASH_MD5), and of data on the host, in the same lowercase hex.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { EsplineError } from "../errors.ts";
import { Op, u32le } from "../protocol/packet.ts";
import type { LoaderSession } from "../loader/session.ts";
import { hex32 } from "./address.ts";
import { MD5_SECONDS_PER_MB, timeoutForSize } from "./timeouts.ts";

/**
 * MD5 of `data` on the host, lowercase hex.
 *
 * @example
 * ```ts
 * import { md5Hex } from "./md5.ts";
 * console.log(md5Hex(new Uint8Array(0))); // "d41d8cd98f00b204e9800998ecf8427e"
 * ```
 */
export function md5Hex(data: Uint8Array): string {
  return createHash("md5").update(data).digest("hex");
}

/** A span of flash: `size` bytes from `address`. */
export interface FlashSpan {
  /** Flash offset of the first byte. */
  address: number;
  /** Bytes in the span. */
  size: number;
}

/**
 * MD5 of a flash region, computed by the chip (SPI_FLASH_MD5). The ROM
 * answers 32 hex characters, the stub 16 raw bytes; both come back as hex.
 *
 * @throws {EsplineError} `E_NEEDS_STUB` where the loader cannot compute MD5s (the ESP8266 ROM).
 * @example
 * ```ts
 * import { flashMd5 } from "./md5.ts";
 * import type { LoaderSession } from "../loader/session.ts";
 * async function check(s: LoaderSession) {
 *   console.log(await flashMd5(s, { address: 0x10000, size: 0x1000 }));
 * }
 * ```
 */
export async function flashMd5(session: LoaderSession, region: FlashSpan): Promise<string> {
  const { address, size } = region;
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
