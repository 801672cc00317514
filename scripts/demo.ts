/**
 * The demo: a production line station provisioning four virtual ESP32-C3
 * boards at once — flash a firmware set, verify,
 * read the MAC, check the boot output, allocate serial numbers, journal it —
 * then print the journal summary.
 *
 *     deno task demo
 *
 * Works on a fresh machine with only Deno: the bootloader and partition
 * table come from the reference images in ../shared/fixtures when present
 * (ESP-IDF's own), otherwise they are generated with the app
 * (scripts/sample_firmware.ts). The virtual boards boot what is flashed, so
 * the boot check passes only because the firmware is a valid one.
 *
 * @module
 */

import { createStationView } from "../lib/cli/station_view.ts";
import { processSinks } from "../lib/cli/output.ts";
import { type Firmware, firmwareFromBytes, openJournal, runStation } from "../mod.ts";
import { provisionJob } from "./provision.ts";
import { sampleFirmware } from "./sample_firmware.ts";

const FIXTURES = new URL("../../shared/fixtures/esptool-images/", import.meta.url);

/** The firmware set: ESP-IDF's ESP32-C3 bootloader and partition table from the fixtures when present, and an app. */
async function demoFirmware(): Promise<Firmware> {
  // A 256 KiB application of realistic compressibility, with its app descriptor.
  const generated = sampleFirmware("esp32c3", { projectName: "espline-demo", appSize: 256 * 1024 });
  const app = { ...generated[2], name: "espline-demo.bin" };
  try {
    const boot = await Deno.readFile(new URL("bootloader_esp32c3.bin", FIXTURES));
    const parts = await Deno.readFile(new URL("partitions_singleapp.bin", FIXTURES));
    return firmwareFromBytes([
      { address: 0x0, data: boot, name: "bootloader_esp32c3.bin" },
      { address: 0x8000, data: parts, name: "partitions_singleapp.bin" },
      app,
    ]);
  } catch {
    return firmwareFromBytes([generated[0], generated[1], app]);
  }
}

if (import.meta.main) {
  const dir = await Deno.makeTempDir({ prefix: "espline-demo-" });
  const firmware = await demoFirmware();
  // Four ESP32-C3 boards on one line, paced at the baud with modelled flash timing.
  const ports = [1, 2, 3, 4].map((n) => `sim://esp32c3?mac=58:cf:79:00:00:0${n}&pace=1&timing=1`);
  console.log(`espline demo: provisioning ${ports.length} virtual boards in parallel`);
  for (const f of firmware.files) {
    console.log(
      `  0x${f.address.toString(16).padStart(5, "0")} ${
        f.path.split("/").pop()
      } (${f.size} bytes, sha256 ${f.sha256.slice(0, 12)}…)`,
    );
  }
  console.log("");
  {
    using journal = openJournal(`${dir}/journal.db`);
    const summary = await runStation(
      ports,
      provisionJob({ firmware, journal, expect: /app_main/, expectTimeoutMs: 5000 }),
      {
        journal,
        station: "demo-station",
        files: firmware.files,
        connect: { baud: 921600 },
        onEvent: createStationView({ sinks: processSinks() }),
      },
    );
    console.log("");
    console.log("journal:");
    for (const o of summary.outcomes) {
      const rec = journal.history(o.mac ?? "")[0];
      const serial = (rec?.fields as Record<string, unknown> | undefined)?.serial ?? "-";
      console.log(
        `  ${(o.mac ?? "??").padEnd(17)} ${(o.chip ?? "?").padEnd(8)} ${
          String(serial).padEnd(11)
        } ${o.result.padEnd(6)} ${o.seconds.toFixed(1)} s${
          o.error ? `  ${o.error.code}: ${o.error.message}` : ""
        }`,
      );
    }
    const counts = journal.summary();
    console.log(
      `\n${summary.passed} passed, ${summary.failed} failed in ${
        summary.seconds.toFixed(1)
      } s (journal: ${JSON.stringify(counts)})`,
    );
    console.log(`journal file: ${dir}/journal.db`);
    if (summary.failed || summary.aborted) Deno.exitCode = 1;
  }
}
