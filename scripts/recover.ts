/**
 * Rescue a board that won't boot: erase it and restore a known-good image,
 * trying lower baud rates and finally the ROM loader alone (no stub) until
 * one way works.
 *
 *     deno run -A scripts/recover.ts --port /dev/ttyUSB0 \
 *       --firmware 0x1000=known-good/bootloader.bin --firmware 0x10000=known-good/app.bin
 *
 * @module
 */

import { parseArgs } from "node:util";
import { connect, EsplineError, type Firmware, loadFirmware } from "../mod.ts";

/** One attempt of a recovery, for the log. */
export interface RecoveryAttempt {
  /** Baud rate tried. */
  baud: number;
  /** Whether the flasher stub was used. */
  stub: boolean;
  /** What happened. */
  result: "ok" | string;
}

/** Options for {@link recoverBoard}. */
export interface RecoverOptions {
  /** Baud rates to try, fastest first. Default `[460800, 115200]`. */
  bauds?: number[];
  /** Connection attempts per try. Default 10. */
  connectAttempts?: number;
  /** A line per attempt. */
  onLog?: (line: string) => void;
}

/**
 * Try, in order: each baud with the stub (erase all, write, verify), then
 * the ROM loader at 115200 (erase the image regions, write uncompressed where
 * the ROM cannot inflate, verify). Returns the attempts; throws the last
 * error if none worked.
 */
export async function recoverBoard(
  port: string,
  firmware: Firmware,
  options: RecoverOptions = {},
): Promise<RecoveryAttempt[]> {
  const bauds = options.bauds ?? [460800, 115200];
  const plan = [...bauds.map((baud) => ({ baud, stub: true })), { baud: 115200, stub: false }];
  const attempts: RecoveryAttempt[] = [];
  const log = options.onLog ?? (() => {});
  let last: unknown;
  for (const step of plan) {
    log(`trying ${step.stub ? "the flasher stub" : "the ROM loader"} at ${step.baud} baud…`);
    try {
      await using dev = await connect(port, {
        baud: step.baud,
        stub: step.stub,
        connectAttempts: options.connectAttempts ?? 10,
      });
      if (step.stub) {
        await dev.eraseFlash();
      } else {
        for (const r of firmware.regions) {
          await dev.eraseRegion({
            address: r.address,
            size: Math.ceil(r.data.length / 0x1000) * 0x1000,
          });
        }
      }
      const report = await dev.writeFlash(firmware.regions, { skipUnchanged: false });
      if (!report.verified && dev.session.chip.key !== "esp8266") {
        throw new EsplineError("E_VERIFY_FAILED", "the restored image did not verify");
      }
      attempts.push({ ...step, result: "ok" });
      log(
        `restored ${report.bytesWritten} bytes; ${
          report.verified ? "verified" : "not verifiable with this ROM"
        }`,
      );
      return attempts;
    } catch (e) {
      last = e;
      const msg = e instanceof Error ? e.message : String(e);
      attempts.push({ ...step, result: msg });
      log(`  failed: ${msg}`);
    }
  }
  throw last;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      port: { type: "string" },
      firmware: { type: "string", multiple: true },
    },
  });
  if (!values.port || !values.firmware?.length) {
    console.error("usage: recover.ts --port PORT --firmware ADDRESS=FILE [--firmware …]");
    Deno.exit(2);
  }
  const firmware = await loadFirmware(values.firmware.map((f): [number, string] => {
    const [a, ...rest] = f.split("=");
    return [Number(a), rest.join("=")];
  }));
  try {
    await recoverBoard(values.port, firmware, { onLog: console.log });
    console.log("board recovered");
  } catch (e) {
    console.error(`could not recover the board: ${e instanceof Error ? e.message : e}`);
    console.error(
      "check the cable and power; hold BOOT while pressing RESET and run again with --before no-reset",
    );
    Deno.exit(1);
  }
}
