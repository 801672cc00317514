/**
 * A production line station: for every board, flash the firmware set (with
 * pre-flight checks, verified, resuming after glitches), read the MAC, check
 * the boot output, give it a serial number and journal the result; then
 * wait for the next board.
 *
 *     deno run -A scripts/provision.ts --firmware 0x1000=bootloader.bin \
 *       --firmware 0x8000=partition-table.bin --firmware 0x10000=app.bin \
 *       --expect "app_main" --journal line1.db --port /dev/ttyUSB0 --port /dev/ttyUSB1
 *     deno run -A scripts/provision.ts --manifest build/ --expect app_main --port-filter vid=303a
 *
 * Without --port it waits for boards to be plugged in (USB ports matching
 * --port-filter) and provisions each as it appears, until Ctrl-C.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { parseOrUsage, runMain } from "./script_main.ts";
import {
  createStationView,
  type Firmware,
  formatSummary,
  type Journal,
  listPorts,
  loadFirmware,
  openJournal,
  readResetConfig,
  runOne,
  runStation,
  type RunStationOptions,
  type StationJob,
  UsageError,
  waitForDevice,
} from "../mod.ts";
import { parseFirmwareArg } from "../lib/device/firmware.ts";
import { parseIntArg } from "../lib/device/numbers.ts";

/** What a provisioning run needs. */
export interface ProvisionPlan {
  /** Firmware to write. */
  firmware: Firmware;
  /** Journal for serial numbers and records. */
  journal: Pick<Journal, "allocateSerial">;
  /** Boot output that proves the board runs (checked after flashing), or none. */
  expect?: RegExp;
  /** How long to wait for it, ms. Default 10 s. */
  expectTimeoutMs?: number;
  /** Serial number prefix. Default `ESP-`. */
  serialPrefix?: string;
}

/** The per-board job: flash (pre-flight, verify, resume), check boot, allocate a serial number. */
export function provisionJob(plan: ProvisionPlan): (job: StationJob) => Promise<void> {
  return async ({ device, stage, note, log }) => {
    stage("flash");
    const report = await device.flash(plan.firmware);
    log(
      `wrote ${report.bytesWritten} bytes (${report.bytesOnWire} on the wire), ${report.skipped} regions unchanged`,
    );
    stage("mac");
    const mac = await device.readMac();
    if (plan.expect) {
      stage("boot-check");
      await using monitor = await device.monitor();
      const { line } = await monitor.expect(plan.expect, {
        timeoutMs: plan.expectTimeoutMs ?? 10_000,
      });
      log(`boot ok: ${line.text}`);
    }
    stage("serial");
    const serial = await plan.journal.allocateSerial(mac, {
      prefix: plan.serialPrefix ?? "ESP-",
    });
    note({ serial, bytesOnWire: report.bytesOnWire, recoveries: report.recoveries.length });
  };
}

const USAGE = `usage: deno run -A scripts/provision.ts [options]

Flash every board, check it boots, give it a serial number, journal it.

  --firmware ADDRESS=FILE   a file to write (repeat; e.g. --firmware 0x10000=app.bin)
  --manifest PATH           or the files and flash settings of a build
                            (build/flasher_args.json, an ESP-IDF, PlatformIO or Arduino build folder)
  --port PORT               a board's port (repeat); without it, wait for boards to be plugged in
  --port-filter FILTER      boards to wait for: vid=303a,pid=1001,serial=…,name=…
  --once                    with no --port: stop after one board
  --expect PATTERN          boot output (a regular expression) that proves the board runs
  --expect-timeout SECONDS  how long to wait for it (default 10)
  --journal FILE            journal file (default espline-journal.db)
  --baud BAUD               working baud rate (default 921600)
  --station NAME            station name in the journal (default the host name)
  --json                    NDJSON events instead of the live view
  -h, --help                this text

examples:
  deno run -A scripts/provision.ts --manifest build/ --expect app_main --port /dev/ttyUSB0
  deno run -A scripts/provision.ts --firmware 0x10000=app.bin --port-filter vid=303a --once`;

/** Parse the command line; a mistake is a one-line usage error. */
function parseCommandLine(args: string[]) {
  return parseOrUsage(() =>
    parseArgs({
      args,
      options: {
        port: { type: "string", multiple: true },
        "port-filter": { type: "string" },
        firmware: { type: "string", multiple: true },
        manifest: { type: "string" },
        expect: { type: "string" },
        "expect-timeout": { type: "string" },
        journal: { type: "string", default: "espline-journal.db" },
        baud: { type: "string", default: "921600" },
        station: { type: "string" },
        once: { type: "boolean" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }).values
  );
}

async function main(args: string[]): Promise<number> {
  const values = parseCommandLine(args);
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!values.firmware?.length && !values.manifest) {
    throw new UsageError("give --firmware ADDRESS=FILE (repeat) or --manifest PATH (see --help)");
  }
  if (values.firmware?.length && values.manifest) {
    throw new UsageError("give --firmware or --manifest, not both");
  }
  let expect: RegExp | undefined;
  try {
    expect = values.expect ? new RegExp(values.expect) : undefined;
  } catch (e) {
    throw new UsageError(`--expect is not a valid regular expression: ${(e as Error).message}`);
  }
  const expectTimeout = values["expect-timeout"] ? Number(values["expect-timeout"]) : 10;
  if (!Number.isFinite(expectTimeout) || expectTimeout <= 0) {
    throw new UsageError(`--expect-timeout takes seconds, not "${values["expect-timeout"]}"`);
  }
  const baud = parseIntArg(values.baud!);
  if (baud === null) {
    throw new UsageError(`--baud takes a number such as 921600, not "${values.baud}"`);
  }
  const filter = values["port-filter"];
  if (filter) await listPorts({ filter }); // a bad filter is said now, not after the first board
  // Every file is read and checked before any board is touched.
  const firmware = await loadFirmware(
    values.manifest ?? values.firmware!.map(parseFirmwareArg),
  );
  // esptool.cfg (custom reset sequences, reset delay): read once, here.
  const resetConfig = readResetConfig();
  await using journal = await openJournal(values.journal!);
  const plan: ProvisionPlan = {
    firmware,
    journal,
    expect,
    expectTimeoutMs: expectTimeout * 1000,
  };
  const controller = new AbortController();
  const onInterrupt = () => controller.abort();
  Deno.addSignalListener("SIGINT", onInterrupt);
  try {
    const options: RunStationOptions = {
      journal,
      station: values.station,
      files: firmware.files,
      connect: { baud, resetConfig },
      signal: controller.signal,
      // One live row per board on a terminal, plain lines when piped, NDJSON with --json.
      onEvent: createStationView({ json: values.json }),
    };
    if (values.port?.length) {
      const summary = await runStation(values.port, provisionJob(plan), options);
      console.log(formatSummary(summary));
      return summary.passed === summary.outcomes.length ? 0 : 1;
    }
    // Boards to wait for: the USB ports matching --port-filter (any USB serial port without one).
    const list = filter
      ? async () => (await listPorts({ filter, usbOnly: true })).map((p) => p.path)
      : undefined;
    console.log("waiting for boards (Ctrl-C to stop)…");
    let failures = 0;
    while (!controller.signal.aborted) {
      const port = await waitForDevice({ list, signal: controller.signal }).catch(() => null);
      if (!port) break;
      const outcome = await runOne(port, provisionJob(plan), options);
      if (outcome.result !== "passed") failures++;
      if (values.once) break;
      await waitForDevice({ list, signal: controller.signal, gone: port }).catch(() => null);
    }
    return failures ? 1 : 0;
  } finally {
    Deno.removeSignalListener("SIGINT", onInterrupt);
  }
}

if (import.meta.main) await runMain(main);
