// examples/station.ts — deno run -A examples/station.ts /dev/ttyUSB0 /dev/ttyUSB1
import { formatSummary, loadFirmware, openJournal, runStation } from "../mod.ts";

if (Deno.args[0] === "--help") {
  console.log("usage: deno run -A examples/station.ts [PORT …]  (writes ./build to each board)");
  Deno.exit(0);
}

const ports = Deno.args.length ? Deno.args : ["/dev/ttyUSB0", "/dev/ttyUSB1"];
const firmware = await loadFirmware([
  [0x0, "build/bootloader/bootloader.bin"],
  [0x8000, "build/partition_table/partition-table.bin"],
  [0x10000, "build/app.bin"],
]); // every file is read and checked before a board is touched
await using journal = await openJournal("line1.db");

const summary = await runStation(ports, async ({ device, stage, note }) => {
  stage("flash");
  await device.flash(firmware); // pre-flight checked, compressed, verified, resumes after glitches
  stage("boot");
  await using mon = await device.monitor();
  await mon.expect(/app_main/, { timeoutMs: 5000 }); // fails with the last lines seen
  note({ serial: await journal.allocateSerial(await device.readMac()) });
}, { journal, files: firmware.files, connect: { baud: 921600 } });

console.log(formatSummary(summary)); // the counts, then each failed board's stage and error
