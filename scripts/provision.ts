/**
 * A production line station: for every board, flash the firmware set,
 * verify it, read the MAC, check the boot output, give it a serial number and
 * journal the result; then wait for the next board.
 *
 *     deno run -A scripts/provision.ts --firmware 0x1000=bootloader.bin \
 *       --firmware 0x8000=partition-table.bin --firmware 0x10000=app.bin \
 *       --expect "app_main" --journal line1.db --port /dev/ttyUSB0 --port /dev/ttyUSB1
 *
 * Without --port it waits for boards to be plugged in (USB ports matching
 * --port-filter) and provisions each as it appears, until Ctrl-C.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  type Firmware,
  type Journal,
  loadFirmware,
  openJournal,
  runOne,
  runStation,
  type StationJob,
  waitForDevice,
  writeFlashResilient,
} from "../mod.ts";
import { createStationView } from "../lib/cli/station_view.ts";
import { processSinks } from "../lib/cli/output.ts";

/** What a provisioning run needs. */
export interface ProvisionPlan {
  /** Firmware to write. */
  firmware: Firmware;
  /** Journal for serial numbers and records. */
  journal: Journal;
  /** Boot output that proves the board runs (checked after flashing), or none. */
  expect?: RegExp;
  /** How long to wait for it, ms. Default 10 s. */
  expectTimeoutMs?: number;
  /** Serial number prefix. Default `ESP-`. */
  serialPrefix?: string;
}

/** The per-board job: flash, verify, check boot, allocate a serial number. */
export function provisionJob(plan: ProvisionPlan): (job: StationJob) => Promise<void> {
  return async ({ device, stage, note, record, log }) => {
    stage("flash");
    const report = await writeFlashResilient(device, plan.firmware.regions, {
      onRecovery: (r) => record?.event("recovery", `${r.error.code}: retrying at ${r.baud} baud`),
    });
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
    const serial = await plan.journal.allocateSerial(mac, { prefix: plan.serialPrefix ?? "ESP-" });
    note({ serial, bytesOnWire: report.bytesOnWire, recoveries: report.recoveries.length });
  };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      port: { type: "string", multiple: true },
      "port-filter": { type: "string" },
      firmware: { type: "string", multiple: true },
      expect: { type: "string" },
      journal: { type: "string", default: "espline-journal.db" },
      baud: { type: "string", default: "921600" },
      station: { type: "string" },
      once: { type: "boolean" },
      json: { type: "boolean" },
    },
  });
  const entries = (values.firmware ?? []).map((f): [number, string] => {
    const [addr, ...rest] = f.split("=");
    const address = Number(addr);
    if (!rest.length || !Number.isInteger(address)) {
      console.error(`--firmware takes ADDRESS=FILE, e.g. 0x10000=app.bin (got "${f}")`);
      Deno.exit(2);
    }
    return [address, rest.join("=")];
  });
  if (!entries.length) {
    console.error("give at least one --firmware ADDRESS=FILE");
    Deno.exit(2);
  }
  // Every file is read and checked before any board is touched.
  const firmware = await loadFirmware(entries).catch((e) => {
    console.error(`error: ${e.message}`);
    Deno.exit(2);
  });
  await using journal = await openJournal(values.journal!);
  const plan: ProvisionPlan = {
    firmware,
    journal,
    expect: values.expect ? new RegExp(values.expect) : undefined,
  };
  const controller = new AbortController();
  Deno.addSignalListener("SIGINT", () => controller.abort());
  const options = {
    journal,
    station: values.station,
    files: firmware.files,
    connect: { baud: Number(values.baud) },
    signal: controller.signal,
    // One live row per board on a terminal, plain lines when piped, NDJSON with --json.
    onEvent: createStationView({ sinks: processSinks(), json: values.json }),
  };
  if (values.port?.length) {
    const summary = await runStation(values.port, provisionJob(plan), options);
    console.log(`${summary.passed} passed, ${summary.failed} failed, ${summary.aborted} aborted`);
    Deno.exit(summary.failed || summary.aborted ? 1 : 0);
  }
  console.log("waiting for boards (Ctrl-C to stop)…");
  while (!controller.signal.aborted) {
    const port = await waitForDevice({ filter: values["port-filter"], signal: controller.signal })
      .catch(() => null);
    if (!port) break;
    await runOne(port, provisionJob(plan), options);
    if (values.once) break;
    await waitForDevice({ filter: values["port-filter"], signal: controller.signal, gone: port })
      .catch(() => null);
  }
}
