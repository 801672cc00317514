/**
 * The demo: a production line station provisioning four virtual ESP32-C3
 * boards at once — flash a firmware set (pre-flight checked, verified),
 * read the MAC, check the boot output, allocate serial numbers, journal it —
 * then print the journal summary.
 *
 *     deno task demo            # the journal is removed at the end
 *     deno task demo --keep     # keep it, and say where it is
 *
 * Works on a fresh machine with only Deno: the firmware is generated (with
 * Espressif's reference bootloader and partition table from ../shared/fixtures
 * when present).
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  createStationView,
  type Firmware,
  formatSummary,
  loadFirmware,
  openJournal,
  runStation,
} from "../mod.ts";
import { demoFirmware } from "./demo_firmware.ts";
import { provisionJob } from "./provision.ts";

/** What `--help` prints. */
const DEMO_HELP = `Provision four virtual ESP32-C3 boards in parallel and print the journal.

usage: deno task demo [--keep]

  --keep      keep the journal file and say where it is (default: removed at the end)
  -h, --help  this help

No hardware needed: the boards are virtual chips (sim://), paced at the baud rate.`;

/** The firmware set: bootloader, partition table and a generated application for the ESP32-C3. */
async function firmwareSet(): Promise<Firmware> {
  const files = await demoFirmware("esp32c3");
  return await loadFirmware(files.map((f) => ({ address: f.address, data: f.data, name: f.name })));
}

if (import.meta.main) {
  let values: { keep?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: Deno.args,
      options: { keep: { type: "boolean" }, help: { type: "boolean", short: "h" } },
    }));
  } catch (e) {
    console.error(`error: ${(e as Error).message} (see --help)`);
    Deno.exit(2);
  }
  if (values.help) {
    console.log(DEMO_HELP);
    Deno.exit(0);
  }
  const dir = await Deno.makeTempDir({ prefix: "espline-demo-" });
  try {
    const firmware = await firmwareSet();
    // Four ESP32-C3 boards on one line, paced at the baud with modelled flash timing.
    const ports = [1, 2, 3, 4].map((n) => `sim://esp32c3?mac=58:cf:79:00:00:0${n}&pace=1&timing=1`);
    console.log(`espline demo: provisioning ${ports.length} virtual boards in parallel`);
    for (const f of firmware.files) {
      console.log(
        `  0x${f.address.toString(16).padStart(5, "0")} ${f.path} (${f.size} bytes, sha256 ${
          f.sha256.slice(0, 12)
        }…)`,
      );
    }
    console.log("");
    await using journal = await openJournal(`${dir}/journal.db`);
    const summary = await runStation(
      ports,
      provisionJob({ firmware, journal, expect: /app_main/, expectTimeoutMs: 5000 }),
      {
        journal,
        station: "demo-station",
        files: firmware.files,
        connect: { baud: 921600 },
        onEvent: createStationView(),
      },
    );
    console.log("");
    console.log("journal:");
    for (const o of summary.outcomes) {
      const rec = (await journal.history(o.mac ?? ""))[0];
      const serial = (rec?.fields as Record<string, unknown> | undefined)?.serial ?? "-";
      console.log(
        `  ${(o.mac ?? "??").padEnd(17)} ${(o.chip ?? "?").padEnd(8)} ${
          String(serial).padEnd(11)
        } ${o.result.padEnd(10)} ${o.seconds.toFixed(1)} s`,
      );
    }
    const counts = await journal.summary();
    console.log("");
    console.log(formatSummary(summary));
    console.log(
      `journal: ${Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(", ")} (${
        summary.seconds.toFixed(1)
      } s)`,
    );
    if (values.keep) console.log(`journal file: ${dir}/journal.db`);
    if (summary.passed !== summary.outcomes.length) Deno.exitCode = 1;
  } finally {
    if (!values.keep) await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
