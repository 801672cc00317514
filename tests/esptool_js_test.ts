/**
 * esptool-js (npm, pinned in deno.json), a client nobody here wrote, drives
 * the virtual chip through espline's Web Serial port: detect, MAC, flash
 * size, a compressed write of a real image, read back. Its facts must agree
 * with espline's own readings of the same chip.
 */
import assert from "node:assert/strict";
import { ESPLoader, Transport as EjsTransport } from "esptool-js";
import { openSimPort } from "../lib/sim/sim_port.ts";
import type { SimChipKey } from "../lib/sim/virtual_chip.ts";
import { toWebSerialPort } from "../lib/transport/webserial.ts";
import { LoaderSession } from "../lib/loader/session.ts";
import { readChipInfo, readFlashInfo } from "../lib/loader/info.ts";
import { readFlash } from "../lib/flash/read.ts";
import { formatFlashSize } from "../lib/chips/index.ts";

const FIXTURES = new URL("../../shared/fixtures/esptool-images/", import.meta.url);

async function image(): Promise<{ data: Uint8Array; name: string }> {
  try {
    return {
      data: await Deno.readFile(new URL("esp_idf_blink_esp32s2.bin", FIXTURES)),
      name: "esp_idf_blink_esp32s2.bin",
    };
  } catch {
    console.log("fixtures absent: using a generated image instead of esp_idf_blink_esp32s2.bin");
    return { data: new Uint8Array(100_000).map((_, i) => (i * 7) & 0xff), name: "generated" };
  }
}

const silent = { clean() {}, writeLine(_: string) {}, write(_: string) {} };

const CASES: [SimChipKey, string][] = [
  ["esp32", "24:0a:c4:aa:bb:01"],
  ["esp32s3", "34:85:18:aa:bb:02"],
  ["esp32c3", "58:cf:79:aa:bb:03"],
  ["esp32c6", "40:4c:ca:aa:bb:04"],
];

for (const [chip, mac] of CASES) {
  Deno.test({
    name: `esptool-js and espline agree on a virtual ${chip}: name, MAC, flash size, written image`,
    // esptool-js schedules timers it does not always clear (its read loop and sleeps).
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const sim = openSimPort({ chip, mac, flashSize: 4 * 1024 * 1024 });
      const port = toWebSerialPort(sim, { closeTransportOnForget: false });
      // deno-lint-ignore no-explicit-any
      const ejsTransport = new EjsTransport(port as any, false);
      const loader = new ESPLoader({
        transport: ejsTransport,
        baudrate: 460800,
        romBaudrate: 115200,
        terminal: silent,
      });
      const { data } = await image();
      let ejs: { name: string; mac: string; flashId: number; readBack: Uint8Array };
      try {
        await loader.main("default_reset");
        const flashId = await loader.readFlashId();
        await loader.writeFlash({
          fileArray: [{ data, address: 0x10000 }],
          flashMode: "keep",
          flashFreq: "keep",
          flashSize: "keep",
          eraseAll: false,
          compress: true,
        });
        const readBack = await loader.readFlash(0x10000, data.length);
        ejs = {
          name: loader.chip.CHIP_NAME,
          mac: await loader.chip.readMac(loader),
          flashId,
          readBack,
        };
        await ejsTransport.disconnect();
      } finally {
        await port.forget();
      }
      assert.deepEqual(ejs.readBack, data, "esptool-js reads back what it wrote");
      // espline on the same chip (same flash), via a second port onto it.
      const s = await LoaderSession.connect(sim, { connectAttempts: 3 });
      try {
        const info = await readChipInfo(s);
        assert.equal(ejs.name, info.name, "chip name");
        assert.equal(ejs.mac, info.mac, "MAC");
        assert.equal(ejs.mac, mac);
        const flash = await readFlashInfo(s);
        // Both read the raw JEDEC RDID word through the SPI registers.
        assert.equal(ejs.flashId & 0xffffff, await s.flashId(), "flash id");
        assert.equal(formatFlashSize(flash.size!), "4MB");
        await s.runStub();
        assert.deepEqual(
          await readFlash(s, { address: 0x10000, size: data.length }),
          data,
          "espline reads esptool-js's write",
        );
      } finally {
        await s.close();
      }
    },
  });
}

Deno.test("WebSerial port: releasing and retaking the reader loses no bytes; close/open keeps the transport", async () => {
  const sim = openSimPort({ chip: "esp32" });
  const port = toWebSerialPort(sim);
  await port.open({ baudRate: 115200 });
  let text = "";
  for (let i = 0; i < 50 && !text.includes("waiting for download"); i++) {
    const reader = port.readable!.getReader();
    const { value } = await reader.read();
    reader.releaseLock();
    text += new TextDecoder().decode(value);
  }
  assert.match(text, /rst:0x1 \(POWERON_RESET\)[\s\S]*waiting for download/);
  assert.deepEqual(port.getInfo(), { usbVendorId: 0x10c4, usbProductId: 0xea60 });
  await port.close();
  await port.open({ baudRate: 460800 });
  assert.equal(sim.baud, 460800);
  await port.forget();
});
