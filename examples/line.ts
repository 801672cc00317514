// examples/line.ts — deno run -A examples/line.ts build/ /dev/ttyUSB0 /dev/ttyUSB1
import {
  createStationView,
  formatSummary,
  loadFirmware,
  openJournal,
  readResetConfig,
  runStation,
} from "../mod.ts";

if (Deno.args[0] === "--help") {
  console.log("usage: deno run -A examples/line.ts BUILD_FOLDER PORT [PORT …]");
  Deno.exit(0);
}

const [build = "build", ...ports] = Deno.args;
// Files, offsets and flash settings from an ESP-IDF, PlatformIO or Arduino build.
const firmware = await loadFirmware(build);
await using journal = await openJournal("line.db");

const summary = await runStation(ports, async ({ device, stage, note, log }) => {
  stage("flash"); // a wrong chip, offset or silicon revision fails here, at "preflight", unwritten
  const report = await device.flash(firmware);
  log(`${report.bytesWritten} bytes written, ${report.skipped} files already there`);
  stage("boot");
  {
    await using mon = await device.monitor();
    await mon.expect(/app_main/, { timeoutMs: 10_000 });
  }
  stage("serial"); // only boards that boot get a number
  const serial = await journal.allocateSerial(await device.readMac(), { prefix: "LINE1-" });
  note({ serial });
  log(`serial ${serial}`);
}, {
  journal,
  files: firmware.files,
  connect: { baud: 921600, resetConfig: readResetConfig() }, // esptool.cfg, read once
  onEvent: createStationView(), // a live row per board; plain lines when piped
});

console.log(formatSummary(summary));
Deno.exitCode = summary.passed === summary.outcomes.length ? 0 : 1;
