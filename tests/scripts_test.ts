import assert from "node:assert/strict";
import { recoverBoard } from "../scripts/recover.ts";
import { loadFirmware } from "../lib/device/firmware.ts";
import { connect } from "../lib/device/device.ts";
import { writeDemoBuild } from "../scripts/demo_firmware.ts";
import { makeImage } from "../lib/image/make_image.ts";
import { chipByKey } from "../lib/chips/index.ts";
import { runDeno } from "./support/run_deno.ts";

const fw = await loadFirmware([
  { address: 0x0, data: new Uint8Array(6000).map((_, i) => i & 0xff), name: "boot.bin" },
  { address: 0x10000, data: new Uint8Array(40000).map((_, i) => (i * 31) & 0xff), name: "app.bin" },
]);

Deno.test("recover.ts restores a board with the stub on the first try", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const port = `sim://esp32c3?flash=${dir}/f.bin`;
    const lines: string[] = [];
    const attempts = await recoverBoard(port, fw, { onLog: (l) => lines.push(l) });
    assert.deepEqual(attempts, [{ baud: 460800, stub: true, result: "ok" }]);
    await using dev = await connect(port);
    assert.equal((await dev.verify(fw)).ok, true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("recover.ts falls back to the ROM loader when the stub cannot run", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // ESP32-C2 v0.0 has no usable stub (as in esptool): every stub try fails, the ROM path works.
    const port = `sim://esp32c2?rev=v0.0&flash=${dir}/f.bin`;
    const attempts = await recoverBoard(port, fw, { bauds: [115200] });
    assert.equal(attempts.length, 2);
    assert.match(attempts[0].result, /no flasher stub/);
    assert.deepEqual(attempts[1], { baud: 115200, stub: false, result: "ok" });
    await using dev = await connect(port, { stub: false });
    assert.equal((await dev.verify(fw)).ok, true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

import { logMacs } from "../scripts/log_macs.ts";
import { openJournal } from "../lib/station/journal.ts";

Deno.test("log_macs.ts records each board's MAC and notices boards seen before", async () => {
  await using journal = await openJournal(":memory:");
  const ports = ["sim://esp32?mac=24:0a:c4:00:00:01", "sim://esp32c6?mac=40:4c:ca:00:00:02"];
  const lines: string[] = [];
  const first = await logMacs(ports, journal, { onLine: (l) => lines.push(l) });
  assert.equal(first.passed, 2);
  assert.deepEqual(lines.map((l) => l.split("\t").slice(1)), [["esp32", "24:0a:c4:00:00:01"], [
    "esp32c6",
    "40:4c:ca:00:00:02",
  ]]);
  lines.length = 0;
  await logMacs(ports.slice(0, 1), journal, { onLine: (l) => lines.push(l) });
  assert.match(lines[0], /seen before: passed/);
  assert.equal((await journal.history("24:0a:c4:00:00:01")).length, 2);
});

/** Run a script as a person would. */
function runScript(script: string, args: string[]) {
  return runDeno(`scripts/${script}`, args);
}

Deno.test("provision.ts flashes a build on two boards, checks boot output and journals them with serials", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeDemoBuild(`${dir}/build`, "esp32", { fixtures: false, appSize: 30000 });
    const r = await runScript("provision.ts", [
      "--port",
      "sim://esp32?mac=24:0a:c4:00:00:0a",
      "--port",
      "sim://esp32?mac=24:0a:c4:00:00:0b",
      "--manifest",
      `${dir}/build`,
      "--expect",
      "app_main",
      "--journal",
      `${dir}/line.db`,
    ]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /^2 passed, 0 failed$/m);
    await using j = await openJournal(`${dir}/line.db`);
    const rec = (await j.history("24:0a:c4:00:00:0b"))[0];
    assert.equal(rec.result, "passed");
    assert.match(String(rec.fields.serial), /^ESP-\d{6}$/);
    assert.deepEqual(rec.files.map((f) => f.address), [0x1000, 0x8000, 0x10000]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("provision.ts: an ESP32 bootloader on an ESP32-C3 fails at preflight, no serial, flash untouched", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const boot32 = makeImage({
      chip: chipByKey("esp32"),
      segments: [{ address: 0x3ffe0100, data: new Uint8Array(3000).fill(9) }],
    });
    await Deno.writeFile(`${dir}/bootloader_esp32.bin`, boot32);
    const port = `sim://esp32c3?mac=58:cf:79:00:00:0c&firmware=erased&flash=${dir}/f.bin`;
    const r = await runScript("provision.ts", [
      "--port",
      port,
      "--firmware",
      `0X1000=${dir}/bootloader_esp32.bin`,
      "--journal",
      `${dir}/line.db`,
    ]);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /^0 passed, 1 failed$/m);
    assert.match(
      r.out,
      /failed at preflight: E_IMAGE_CHIP: refusing to write \(nothing was written\)/,
    );
    assert.match(
      r.out,
      /bootloader_esp32\.bin is built for ESP32, but the connected chip is ESP32-C3/,
    );
    await using j = await openJournal(`${dir}/line.db`);
    const rec = (await j.history("58:cf:79:00:00:0c"))[0];
    assert.equal(rec.result, "failed");
    assert.equal(rec.stage, "preflight");
    assert.equal(rec.errorCode, "E_IMAGE_CHIP");
    assert.equal(rec.fields.serial, undefined, "no serial allocated");
    await using dev = await connect(port);
    assert.ok((await dev.read({ address: 0, size: 0x2000 })).every((b) => b === 0xff));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("every bench and script answers --help with its usage, without running", async () => {
  const files = [
    ...[...Deno.readDirSync(new URL("../bench/", import.meta.url))].map((e) => `bench/${e.name}`),
    ...[...Deno.readDirSync(new URL("../scripts/", import.meta.url))].map((e) =>
      `scripts/${e.name}`
    ),
  ].filter((f) => f.endsWith(".ts") && !f.endsWith("_test.ts")).sort();
  const answers = await Promise.all(files.map(async (file) => {
    const t0 = performance.now();
    return { file, ...(await runDeno(file, ["--help"])), ms: performance.now() - t0 };
  }));
  for (const a of answers) {
    assert.equal(a.code, 0, `${a.file}: ${a.out}`);
    assert.match(a.out, /usage: |is a module, not a program/, a.file);
    assert.ok(a.ms < 30_000, `${a.file} took ${a.ms} ms: it ran instead of answering`);
  }
});

Deno.test("scripts answer --help and turn usage mistakes into one line", async () => {
  for (const script of ["provision.ts", "log_macs.ts", "recover.ts"]) {
    const help = await runScript(script, ["--help"]);
    assert.equal(help.code, 0, help.out);
    assert.match(help.out, /^usage: deno run -A scripts\//);
    const bad = await runScript(script, ["--bogus"]);
    assert.equal(bad.code, 2, bad.out);
    assert.match(bad.out, /^error: Unknown option '--bogus'.* \(see --help\)\n$/);
  }
  const filter = await runScript("provision.ts", [
    "--firmware",
    "0x10000=x.bin",
    "--port-filter",
    "vid=zz",
  ]);
  assert.equal(filter.code, 2);
  assert.match(filter.out, /--port-filter: vid "zz" is not a hex USB id/);
});

Deno.test("provision.ts refuses a missing firmware file before touching any board", async () => {
  const r = await runScript("provision.ts", [
    "--port",
    "sim://esp32",
    "--firmware",
    "0x10000=/nonexistent/app.bin",
  ]);
  assert.notEqual(r.code, 0);
  assert.equal(r.code, 2);
  assert.match(
    r.out,
    /file not found: \/nonexistent\/app\.bin \(check the path; nothing was written\)/,
  );
});

Deno.test("the demo provisions four virtual boards and prints the journal summary", async () => {
  const r = await runScript("demo.ts", []);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /4 passed, 0 failed/);
  for (let n = 1; n <= 4; n++) {
    assert.match(r.out, new RegExp(`58:cf:79:00:00:0${n} esp32c3 +ESP-\\d{6} +passed`));
  }
});
