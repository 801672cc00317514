// examples/factory_data.ts — deno run -A examples/factory_data.ts build/ /dev/ttyUSB0 /dev/ttyUSB1
import { formatSummary, loadFirmware, loadNvsTemplate, openJournal, runStation } from "../mod.ts";

const [build = "build", ...ports] = Deno.args;
const firmware = await loadFirmware(build);
// ESP-IDF's mass-manufacturing CSVs; {serial} and {mac} are each board's own.
const template = await loadNvsTemplate("mfg_config.csv", {
  values: "mfg_values.csv",
  files: "certs/", // certs/LINE1-000001.pem, certs/LINE1-000001.key …
});
await using journal = await openJournal("line.db");

const summary = await runStation(ports, async ({ device, stage, note, nvs }) => {
  stage("flash");
  await device.flash(firmware);
  stage("serial");
  note({ serial: await journal.allocateSerial(await device.readMac(), { prefix: "LINE1-" }) });
  // This board's NVS partition: built, written, verified, its SHA-256 and keys journaled.
  await nvs(template); // a missing certificate fails the board here, its NVS unwritten
  stage("boot"); // the firmware reads its serial and certificate at boot
  await using mon = await device.monitor();
  await mon.expect(/app_main/, { timeoutMs: 10_000 });
}, { journal, files: firmware.files });

console.log(formatSummary(summary));
