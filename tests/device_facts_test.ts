/**
 * What a script gets from a Device that esptool users know from its
 * output: each region's facts as it completes (the CLI prints esptool's
 * "Wrote …" lines from these events), the ESP8266 chip ID, the EUI-64 of
 * 802.15.4 chips, and the flash voltage and type.
 */

import assert from "node:assert/strict";
import { connect, type DeviceEvent } from "../mod.ts";

Deno.test("Device.flash reports each region as it completes: start, done, in address order", async () => {
  const events: DeviceEvent[] = [];
  await using dev = await connect("sim://esp32c3?mac=02:00:00:00:00:71", {
    onEvent: (e) => events.push(e),
  });
  const app = new Uint8Array(100_000).map((_, i) => (i * 5) & 0xff);
  const table = new Uint8Array(3072).fill(0x11);
  const report = await dev.flash([
    { address: 0x10000, data: app, name: "app.bin" },
    { address: 0x8000, data: table, name: "table.bin" },
  ]);
  const regions = events.filter((e) => e.type === "region-start" || e.type === "region-done");
  assert.deepEqual(
    regions.map((e) =>
      `${e.type} ${e.type === "region-start" || e.type === "region-done" ? e.name : ""}`
    ),
    [
      "region-start table.bin",
      "region-done table.bin",
      "region-start app.bin",
      "region-done app.bin",
    ],
  );
  const done = regions.filter((e) => e.type === "region-done");
  for (const [i, d] of done.entries()) {
    if (d.type !== "region-done") continue;
    assert.deepEqual({ ...report.regions[i] }, {
      name: d.name,
      address: d.address,
      size: d.size,
      md5: d.md5,
      action: d.action,
      bytesWritten: d.bytesWritten,
      bytesOnWire: d.bytesOnWire,
      chunksTotal: d.chunksTotal,
      chunksWritten: d.chunksWritten,
      verified: d.verified,
      seconds: d.seconds,
    });
    assert.equal(d.compressed, true, "the stub inflates and the data shrank");
    assert.equal(d.count, 2);
    assert.equal(d.index, i);
  }
  // The progress of the second region comes after the first one's "done".
  const firstDone = events.indexOf(done[0]);
  const appProgress = events.findIndex((e) => e.type === "progress" && e.label.includes("app.bin"));
  assert.ok(firstDone < appProgress);
  assert.equal(report.bytesWritten, app.length + table.length);
  // Again: both already there, reported as skipped, still one event each.
  events.length = 0;
  const again = await dev.flash([
    { address: 0x10000, data: app, name: "app.bin" },
    { address: 0x8000, data: table, name: "table.bin" },
  ]);
  assert.equal(again.skipped, 2);
  assert.deepEqual(
    events.filter((e) => e.type === "region-done").map((e) => e.type === "region-done" && e.action),
    ["skipped", "skipped"],
  );
});

Deno.test("Device.info: the ESP8266 chip ID, the EUI-64 of an ESP32-C6, flash voltage and type where the chip has them", async () => {
  {
    await using dev = await connect("sim://esp8266?mac=02:11:22:33:44:55");
    const info = await dev.info();
    assert.equal(info.otpChipId, 0x00334455);
    assert.equal(info.eui64, null);
    assert.equal(info.flashVoltage, null);
  }
  {
    await using dev = await connect("sim://esp32c6?mac=40:4c:ca:00:00:77");
    const info = await dev.info({ flash: false });
    assert.equal(info.otpChipId, null);
    assert.equal(info.eui64, "40:4c:ca:ff:fe:00:00:77");
    assert.equal(info.macExt, "ff:fe");
    assert.equal(info.flashVoltage, null, "not asked for the flash");
  }
  {
    await using dev = await connect("sim://esp32s3");
    const info = await dev.info();
    assert.deepEqual(info.flashVoltage, { voltage: "3.3V", source: "a strapping pin" });
    assert.equal(info.flashType, "quad");
  }
});
