/**
 * Uploading the flasher stub into the chip's RAM and starting it: MEM_BEGIN,
 * MEM_DATA and MEM_END per segment, then the stub's `OHAI` greeting (esptool
 * loader.py run_stub).
 *
 * @module
 */

import { EsplineError, throwIfAborted, TimeoutError } from "../errors.ts";
import {
  checksum,
  concatBytes,
  decodeResponse,
  encodeRequest,
  Op,
  u32le,
} from "../protocol/packet.ts";
import { SPOILED_BLOCK_STATUSES } from "../protocol/status.ts";
import { loadStubImage } from "./stub.ts";
import { readRevisionConfirmed } from "./identity.ts";
import { DEFAULT_COMMAND_TIMEOUT_MS, type FrameVerdict } from "./exchange.ts";
import type { LoaderSession } from "./session.ts";

/** Largest MEM_DATA block (esptool ESP_RAM_BLOCK). */
export const RAM_BLOCK_SIZE = 0x1800;
/** What a stub sends once it runs (esptool run_stub: `b"OHAI"`). */
const STUB_GREETING = "OHAI";

/** Options for {@link uploadStub}. */
export interface UploadStubOptions {
  /** Cancels between blocks. */
  signal?: AbortSignal;
  /** A folder of esptool-format stub images to use instead of esptool-js's (see `loadStubImage`). */
  stubDir?: string;
}

/**
 * Upload the stub that fits the chip and its revision, start it and wait for
 * its greeting. The caller records that the stub runs.
 *
 * @throws {EsplineError} `E_SECURE_DOWNLOAD` (the ROM refuses it), `E_NO_STUB`
 *   (no stub for this chip or revision), or `E_STUB_FAILED` when no greeting comes.
 */
export async function uploadStub(
  session: LoaderSession,
  options: UploadStubOptions = {},
): Promise<void> {
  if (session.secureDownload) {
    throw new EsplineError(
      "E_SECURE_DOWNLOAD",
      "the chip is in secure download mode, which forbids running the flasher stub; use --no-stub",
    );
  }
  const chip = session.chip;
  const rev = await readRevisionConfirmed(session);
  const stubName = chip.stubNameForRevision ? chip.stubNameForRevision(rev) : chip.stubName;
  if (!stubName) {
    throw new EsplineError(
      "E_NO_STUB",
      `no flasher stub is available for ${chip.name} v${rev.major}.${rev.minor}; use --no-stub`,
    );
  }
  const stub = await loadStubImage(stubName, { stubDir: options.stubDir });
  session.log("info", "Uploading stub flasher...");
  session.log("debug", `stub from ${stub.source}`);
  for (const seg of [stub.text, stub.data]) {
    if (!seg) continue;
    throwIfAborted(options.signal);
    const blocks = Math.ceil(seg.bytes.length / RAM_BLOCK_SIZE);
    await session.command(
      Op.MEM_BEGIN,
      u32le(seg.bytes.length, blocks, RAM_BLOCK_SIZE, seg.address),
      { what: "enter RAM download mode" },
    );
    for (let seq = 0; seq < blocks; seq++) {
      const block = seg.bytes.subarray(seq * RAM_BLOCK_SIZE, (seq + 1) * RAM_BLOCK_SIZE);
      await session.commandWithRetry(
        Op.MEM_DATA,
        concatBytes(u32le(block.length, seq, 0, 0), block),
        {
          checksum: checksum(block),
          what: "write to RAM",
          retryStatuses: SPOILED_BLOCK_STATUSES,
        },
      );
    }
  }
  session.log("info", "Running stub flasher...");
  const greeted = await session.exclusive(async () => {
    await session.writeFrame(
      encodeRequest(Op.MEM_END, u32le(stub.entry === 0 ? 1 : 0, stub.entry)),
    );
    return await session.awaitFrame(DEFAULT_COMMAND_TIMEOUT_MS, (frame): FrameVerdict<true> => {
      if (new TextDecoder().decode(frame) === STUB_GREETING) return { take: true };
      // The MEM_END answer (the ROM may or may not send it before jumping) is
      // expected; anything else is left over and the line needs draining.
      let memEnd = false;
      try {
        memEnd = decodeResponse(frame).op === Op.MEM_END;
      } catch { /* not a response */ }
      return memEnd ? { skip: true } : { stray: "an unexpected frame before the stub's greeting" };
    });
  });
  if (!greeted) {
    throw new TimeoutError(
      "the flasher stub did not start (no OHAI greeting); retry, or use --no-stub",
      { code: "E_STUB_FAILED" },
    );
  }
}
