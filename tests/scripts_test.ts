import assert from "node:assert/strict";
import { recoverBoard } from "../scripts/recover.ts";
import { firmwareFromBytes } from "../lib/device/firmware.ts";
import { sampleFirmware } from "../scripts/sample_firmware.ts";
import { connect } from "../lib/device/device.ts";

const fw = firmwareFromBytes([
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
    assert.equal((await dev.verifyFlash(fw.regions)).ok, true);
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
    assert.equal((await dev.verifyFlash(fw.regions)).ok, true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

import { logMacs } from "../scripts/log_macs.ts";
import { openJournal } from "../lib/station/journal.ts";

Deno.test("log_macs.ts records each board's MAC and notices boards seen before", async () => {
  using journal = openJournal(":memory:");
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
  assert.equal(journal.history("24:0a:c4:00:00:01").length, 2);
});

const CONFIG = new URL("../deno.json", import.meta.url).pathname;

async function runScript(script: string, args: string[]): Promise<{ code: number; out: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--config",
      CONFIG,
      new URL(`../scripts/${script}`, import.meta.url).pathname,
      ...args,
    ],
    stdout: "piped",
    stderr: "piped",
    env: { RUST_BACKTRACE: "0", NO_COLOR: "1" },
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { code: out.code, out: text };
}

Deno.test("provision.ts flashes two boards, checks boot output and journals them with serials", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // The virtual board boots what is flashed: the app must be a valid ESP32 image.
    await Deno.writeFile(
      `${dir}/app.bin`,
      sampleFirmware("esp32", { projectName: "line-app" })[2].data,
    );
    const r = await runScript("provision.ts", [
      "--port",
      "sim://esp32?mac=24:0a:c4:00:00:0a",
      "--port",
      "sim://esp32?mac=24:0a:c4:00:00:0b",
      "--firmware",
      `0x10000=${dir}/app.bin`,
      "--expect",
      "Hello from espline sim",
      "--journal",
      `${dir}/line.db`,
    ]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /2 passed, 0 failed/);
    using j = openJournal(`${dir}/line.db`);
    const rec = j.history("24:0a:c4:00:00:0b")[0];
    assert.equal(rec.result, "passed");
    assert.match(String(rec.fields.serial), /^ESP-\d{6}$/);
    assert.equal(rec.files[0].address, 0x10000);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("provision.ts fails a board whose flashed app does not boot (built for another chip)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // An ESP32 app on an ESP32-C3: it flashes and verifies, then the bootloader refuses it.
    await Deno.writeFile(
      `${dir}/app.bin`,
      sampleFirmware("esp32", { projectName: "wrong-chip" })[2].data,
    );
    const r = await runScript("provision.ts", [
      "--port",
      "sim://esp32c3?mac=58:cf:79:00:00:0c",
      "--firmware",
      `0x10000=${dir}/app.bin`,
      "--expect",
      "app_main",
      "--journal",
      `${dir}/line.db`,
    ]);
    assert.notEqual(r.code, 0, r.out);
    assert.match(r.out, /0 passed, 1 failed/);
    using j = openJournal(`${dir}/line.db`);
    const rec = j.history("58:cf:79:00:00:0c")[0];
    assert.equal(rec.result, "failed");
    assert.match(String(rec.stage), /boot/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("provision.ts refuses a missing firmware file before touching any board", async () => {
  const r = await runScript("provision.ts", [
    "--port",
    "sim://esp32",
    "--firmware",
    "0x10000=/nonexistent/app.bin",
  ]);
  assert.notEqual(r.code, 0);
  assert.match(r.out, /firmware file \/nonexistent\/app\.bin: not found \(no board was touched\)/);
});

Deno.test("the demo provisions four virtual boards and prints the journal summary", async () => {
  const r = await runScript("demo.ts", []);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /4 passed, 0 failed/);
  for (let n = 1; n <= 4; n++) {
    assert.match(r.out, new RegExp(`58:cf:79:00:00:0${n} esp32c3 +ESP-\\d{6} +pass`));
  }
});
