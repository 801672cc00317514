import assert from "node:assert/strict";
import { SimError } from "./sim_error.ts";
import { openSimPort, simOptionsFromUrl } from "./sim_port.ts";
import { serveSimTcp } from "./tcp_server.ts";
import { forgetBoard } from "./replug.ts";
import { PacedLink, wireTimeMs } from "./wire.ts";
import { request, words } from "../../tests/support/sim_util.ts";

Deno.test("read() returns the banner, then null on silence, and never swallows later bytes", async () => {
  const port = openSimPort({ chip: "esp32" });
  const banner = await port.read(50);
  assert.ok(banner);
  assert.match(new TextDecoder().decode(banner), /waiting for download/);
  assert.equal(await port.read(10), null);
  await port.write(request(0x0a, words(0x40001000)));
  const reply = await port.read(50);
  assert.ok(reply && reply.length >= 14);
  assert.equal(port.info.vid, 0x10c4);
  await port.close();
  await port.close(); // idempotent
  await assert.rejects(
    port.read(10),
    (e: unknown) => e instanceof SimError && e.code === "E_PORT_CLOSED",
  );
});

Deno.test("usb-jtag ports report Espressif's 303a:1001", async () => {
  const port = openSimPort({ chip: "esp32s3", usb: "usb-jtag" });
  assert.equal(port.info.vid, 0x303a);
  assert.equal(port.info.pid, 0x1001);
  await port.close();
});

Deno.test("a disconnect fault makes reads and writes reject with E_PORT_GONE", async () => {
  const path = "sim://esp32?seed=1&disconnect=1";
  const port = openSimPort({ chip: "esp32", faults: { seed: 1, disconnectRate: 1 } }, { path });
  await port.read(20); // banner
  const pending = port.read(1000);
  await port.write(request(0x0a, words(0x40001000)));
  await assert.rejects(
    pending,
    (e: unknown) => e instanceof SimError && e.code === "E_PORT_GONE",
  );
  await assert.rejects(
    port.write(new Uint8Array([0xc0])),
    (e: unknown) => e instanceof SimError && e.code === "E_PORT_GONE",
  );
  await port.close();
  await forgetBoard(path); // the unplugged board waits for its port: not in this test
});

Deno.test("pacing math: 10 bits per byte at the line baud plus latency, queued behind earlier transfers", async () => {
  assert.equal(wireTimeMs(1152, 115200), 100);
  assert.equal(wireTimeMs(46, 921600), (46 * 10 * 1000) / 921600);
  const link = new PacedLink({ pace: true, latencyMs: 1, baud: () => 115200 }, () => {});
  const now = 1_000_000;
  assert.equal(link.delayFor(1152, now), 101);
  const unpaced = new PacedLink({ latencyMs: 2, baud: () => 115200 }, () => {});
  assert.equal(unpaced.delayFor(100000, now), 2);
  // a paced port accounts its computed delays
  const port = openSimPort({ chip: "esp32", pace: true });
  await port.read(500); // banner, paced
  await port.write(request(0x0a, words(0x40001000)));
  const reply = await port.read(500);
  assert.ok(reply);
  assert.ok(port.pacing.toDeviceMs >= wireTimeMs(14, 115200));
  link.close();
  unpaced.close();
  await port.close();
});

Deno.test("simOptionsFromUrl parses every documented parameter and rejects unknown ones", () => {
  const o = simOptionsFromUrl(
    "sim://esp32s3?mac=02:aa:bb:cc:dd:01&flash=/tmp/f.bin&size=8MB&rev=v0.2&pace=1&latency=1&timing=1&usb=usb-jtag&seed=7&corrupt=0.01&drop=0.01&stall=0.001&reset=0.001&disconnect=0.001&romrepeat=1&start=app&crystal=40&secure=0&stallms=50",
  );
  assert.equal(o.chip, "esp32s3");
  assert.equal(o.flashSize, 8 * 1024 * 1024);
  assert.equal(o.flashFile, "/tmp/f.bin");
  assert.equal(o.revision, "v0.2");
  assert.equal(o.pace, true);
  assert.equal(o.latencyMs, 1);
  assert.equal(o.flashTiming, true);
  assert.equal(o.usb, "usb-jtag");
  assert.equal(o.romRepeatsAnswers, true);
  assert.equal(o.startMode, "app");
  assert.deepEqual(o.faults, {
    seed: 7,
    corruptRate: 0.01,
    dropRate: 0.01,
    stallRate: 0.001,
    resetRate: 0.001,
    disconnectRate: 0.001,
    stallMs: 50,
  });
  assert.throws(
    () => simOptionsFromUrl("sim://esp32?bogus=1"),
    (e: unknown) =>
      e instanceof SimError && e.code === "E_USAGE" && /valid ones are/.test(e.message),
  );
  assert.throws(() => simOptionsFromUrl("sim://esp31"), /use one of esp8266, esp32/);
  assert.throws(() => simOptionsFromUrl("sim://esp32?corrupt=2"), SimError);
});

Deno.test("TCP server: a client gets the banner and ROM answers over a socket", async () => {
  const server = serveSimTcp({ chip: "esp32c3", mac: "02:00:00:00:00:09" }, { port: 0 });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  const buf = new Uint8Array(4096);
  let text = "";
  while (!text.includes("waiting for download")) {
    const n = await conn.read(buf);
    if (n === null) break;
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
  await conn.write(request(0x0a, words(0x40001000)));
  let got: number[] = [];
  while (got.filter((b) => b === 0xc0).length < 2) {
    const n = await conn.read(buf);
    if (n === null) break;
    got = got.concat(Array.from(buf.subarray(0, n)));
  }
  assert.equal(got[2], 0x0a);
  assert.deepEqual(got.slice(5, 9), [0x6f, 0x50, 0x31, 0x1b]);
  conn.close();
  await server.close();
});
