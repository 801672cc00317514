/**
 * Writing flash that survives a bad moment on the line: when a write fails
 * midway (timeouts, corrupted answers, a brown-out reset of the board),
 * reconnect, drop to a lower baud rate and carry on. The chunk comparison in
 * writeFlash means the retry rewrites only what is not yet verified on the
 * chip: it resumes instead of starting over.
 *
 * @module
 */

import { AbortedError, EsplineError, TransportError } from "../errors.ts";
import type { Device } from "../device/device.ts";
import type { FlashRegion, WriteFlashOptions, WriteReport } from "../flash/write.ts";
import { FlashVerifyError } from "../flash/write.ts";
import { LoaderStatusError } from "../protocol/status.ts";

/** One recovery step, for the journal. */
export interface RecoveryEvent {
  /** Attempt number that failed (1-based). */
  attempt: number;
  /** The error that triggered recovery. */
  error: { code: string; message: string };
  /** Baud rate used for the next attempt. */
  baud: number;
}

/** Options for {@link writeFlashResilient}. */
export interface ResilientWriteOptions extends WriteFlashOptions {
  /** Baud rates to step down through after failures. Default `[460800, 115200]`. */
  fallbackBauds?: number[];
  /** Total attempts, first included. Default 3. */
  attempts?: number;
  /** Told about each recovery (journal it). */
  onRecovery?: (event: RecoveryEvent) => void;
}

/** A write report plus the recoveries it took. */
export interface ResilientWriteReport extends WriteReport {
  /** Recoveries performed (empty when the first attempt succeeded). */
  recoveries: RecoveryEvent[];
}

/** Errors worth a reconnect-and-retry: the link, not the request, went wrong. */
export function isRecoverable(e: unknown): boolean {
  if (e instanceof AbortedError) return false;
  if (e instanceof FlashVerifyError) return true;
  if (e instanceof TransportError) return true; // a vanished port is reopened
  // Any status the loader reports may come from a request corrupted on the way: retrying is bounded.
  if (e instanceof LoaderStatusError) return true;
  if (!(e instanceof EsplineError)) return false;
  return [
    "E_TIMEOUT",
    "E_CONNECT_FAILED",
    "E_MALFORMED_PACKET",
    "E_SHORT_RESPONSE",
    "E_READ_CORRUPT",
    "E_STUB_FAILED",
    "E_BAUD_FAILED",
    "E_NOT_IN_LOADER",
    "E_SPI_TIMEOUT",
    "E_CHIP_RESET",
  ].includes(e.code);
}

/**
 * `device.writeFlash` with automatic recovery: on a recoverable failure,
 * reset the board back into the loader at the next lower baud rate and write
 * again; chunks already on the chip are skipped, so the write resumes.
 *
 * @example
 * ```ts
 * import { connect } from "../device/device.ts";
 * import { writeFlashResilient } from "./recovery.ts";
 * await using dev = await connect("sim://esp32", { baud: 921600 });
 * const r = await writeFlashResilient(dev, [{ address: 0x10000, data: new Uint8Array(4096) }]);
 * console.log(r.recoveries.length);
 * ```
 */
export async function writeFlashResilient(
  device: Device,
  regions: FlashRegion[],
  options: ResilientWriteOptions = {},
): Promise<ResilientWriteReport> {
  const attempts = options.attempts ?? 3;
  const bauds = options.fallbackBauds ?? [460800, 115200];
  const recoveries: RecoveryEvent[] = [];
  let lastError: unknown;
  let needReconnect = false;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      if (needReconnect) {
        await device.reconnect({
          baud: recoveries[recoveries.length - 1]?.baud,
          signal: options.signal,
        });
      }
      needReconnect = false;
      const report = await device.writeFlash(regions, {
        ...options,
        skipUnchanged: attempt > 1 || options.skipUnchanged,
      });
      return { ...report, recoveries };
    } catch (e) {
      lastError = e;
      if (!isRecoverable(e) || attempt === attempts) break;
      const baud = bauds[Math.min(recoveries.length, bauds.length - 1)] ?? 115200;
      const event: RecoveryEvent = {
        attempt,
        error: e instanceof EsplineError
          ? { code: e.code, message: e.message }
          : { code: "E_UNKNOWN", message: String(e) },
        baud,
      };
      recoveries.push(event);
      options.onRecovery?.(event);
      needReconnect = true;
    }
  }
  if (lastError instanceof EsplineError) {
    lastError.details.recoveries = recoveries;
    throw lastError;
  }
  throw lastError;
}
