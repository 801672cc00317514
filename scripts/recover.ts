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
import { parseOrUsage, runMain } from "./script_main.ts";
import {
  connect,
  type ConnectOptions,
  EsplineError,
  type Firmware,
  loadFirmware,
  PreflightError,
  readResetConfig,
  UsageError,
} from "../mod.ts";
import { parseFirmwareArg } from "../lib/device/firmware.ts";
import { parseBefore } from "../lib/loader/connect_options.ts";

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
  /** How to connect otherwise (`before`, `resetConfig` …). Default connect's defaults. */
  connect?: ConnectOptions;
  /** A line per attempt. */
  onLog?: (line: string) => void;
}

/**
 * Try, in order: each baud with the stub (erase all, write, verify), then
 * the ROM loader at 115200 (write, uncompressed where the ROM cannot
 * inflate, verify). Returns the attempts; throws the last error if none
 * worked, or at once when pre-flight checks refuse the image (nothing is
 * erased then).
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
        ...options.connect,
        baud: step.baud,
        stub: step.stub,
        connectAttempts: options.connectAttempts ?? 10,
      });
      // Pre-flight checks run before anything is erased: a wrong image leaves the board as it was.
      // The stub erases the whole chip first; the ROM erases what it writes.
      const report = await dev.flash(firmware, { skipUnchanged: false, eraseAll: step.stub });
      if (!report.verified && (await dev.info({ flash: false })).chip !== "esp8266") {
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
      if (e instanceof PreflightError) throw e; // the image, not the link: another try cannot help
      last = e;
      const msg = e instanceof Error ? e.message : String(e);
      attempts.push({ ...step, result: msg });
      log(`  failed: ${msg}`);
    }
  }
  throw last;
}

const USAGE =
  `usage: deno run -A scripts/recover.ts --port PORT --firmware ADDRESS=FILE [--firmware …]

Erase a board that won't boot and restore a known-good image, trying lower
baud rates and finally the ROM loader alone until one way works.

  --port PORT               the board's port
  --firmware ADDRESS=FILE   a file of the known-good image (repeat)
  --before MODE             how to enter download mode: default-reset (default), usb-reset,
                            no-reset (after holding BOOT and tapping RESET), no-reset-no-sync
  -h, --help                this text

example:
  deno run -A scripts/recover.ts --port /dev/ttyUSB0 \\
    --firmware 0x1000=known-good/bootloader.bin --firmware 0x10000=known-good/app.bin`;

async function main(args: string[]): Promise<number> {
  const { values } = parseOrUsage(() =>
    parseArgs({
      args,
      options: {
        port: { type: "string" },
        firmware: { type: "string", multiple: true },
        before: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    })
  );
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!values.port || !values.firmware?.length) {
    throw new UsageError("give --port PORT and at least one --firmware ADDRESS=FILE (see --help)");
  }
  const firmware = await loadFirmware(values.firmware.map(parseFirmwareArg));
  try {
    await recoverBoard(values.port, firmware, {
      onLog: console.log,
      connect: {
        resetConfig: readResetConfig(),
        ...(values.before ? { before: parseBefore(values.before) } : {}),
      },
    });
    console.log("board recovered");
    return 0;
  } catch (e) {
    console.error(`could not recover the board: ${e instanceof Error ? e.message : e}`);
    console.error(
      "check the cable and power; hold BOOT while pressing RESET and run again with --before no-reset",
    );
    return 1;
  }
}

if (import.meta.main) await runMain(main);
