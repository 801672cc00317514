/**
 * espline against Espressif's genuine ESP32 mask ROM in the emulator
 * (../shared/emulator): the CLI in process and the scripting API, checked
 * against the emulator's flash file (what the chip really programmed), not
 * only against espline's own read-back. Ignored where the emulator is absent,
 * a failure under CI=true.
 */

import assert from "node:assert/strict";
import { emulator, esptool, ESPTOOL_STUB_DIR, externalTest } from "./support/external.ts";
import { DEFAULT_ROM_MAC, startRom } from "./support/rom.ts";
import {
  assertFlashErased,
  assertFlashHolds,
  randomBytes,
  romBaudReadRound,
  romCliOk,
  romLoaderCliRound,
  tempDir,
  textBytes,
} from "./support/rom_cli.ts";
import { connect } from "../lib/device/device.ts";
import { runStation } from "../lib/station/runner.ts";
import { openTransport } from "../lib/transport/open.ts";
import { LoaderSession } from "../lib/loader/session.ts";
import { Op, u32le } from "../lib/protocol/packet.ts";
import { LoaderStatusError } from "../lib/protocol/status.ts";
import { TimeoutError } from "../lib/errors.ts";
import { flashMd5, md5Hex } from "../lib/flash/md5.ts";

const needs = [emulator()];
const MAC = DEFAULT_ROM_MAC.esp32; // 24:0a:c4:12:34:56, with a correct CRC in the eFuse

externalTest({
  name:
    "ESP32 ROM, CLI --no-stub: read-mac, chip-id, flash-id, write -u and -z, verify, read, erase-region",
  needs,
  async fn() {
    await using rom = await startRom("esp32");
    await romLoaderCliRound(rom, { mac: MAC, chipType: /^Chip type: +ESP32-D0W/m, seed: 1 });
  },
});

externalTest({
  name:
    "ESP32 ROM, CLI with the stub: chip-id (40 MHz), read-mac, write -z/-u, verify, read, erase-region, erase-flash, then 921600",
  needs,
  async fn() {
    await using rom = await startRom("esp32");
    await using dir = await tempDir();
    const keep = ["--after", "no-reset"];
    // The first command uploads the stub: the crystal must still read as the ROM measured it.
    const id = await romCliOk(rom, [...keep, "chip-id"]);
    assert.match(id, /^Crystal frequency: +40MHz$/m);
    assert.match(id, /Stub flasher running/);
    // The check before stopping: --before no-reset --after no-reset read-mac over socket://.
    const mac = await romCliOk(rom, [...keep, "read-mac"]);
    assert.match(mac, new RegExp(`^MAC: +${MAC}$`, "m"));
    // This connect found the stub still running: its clocks say nothing of the crystal, and
    // espline says so instead of guessing (the estimate through the stub's divider read 48MHz).
    assert.match(mac, /Stub flasher is already running/);
    assert.match(mac, /^Crystal frequency: +unknown \(the flasher stub was already running/m);

    const text = textBytes(40000, 3);
    const raw = randomBytes(20000, 4);
    await Deno.writeFile(`${dir.path}/text.bin`, text);
    await Deno.writeFile(`${dir.path}/raw.bin`, raw);
    await romCliOk(rom, [...keep, "write-flash", "-z", "0x30000", `${dir.path}/text.bin`]);
    await romCliOk(rom, [...keep, "write-flash", "-u", "0x40000", `${dir.path}/raw.bin`]);
    await assertFlashHolds(rom, {
      address: 0x30000,
      data: text,
      what: "compressed write through the stub",
    });
    await assertFlashHolds(rom, {
      address: 0x40000,
      data: raw,
      what: "uncompressed write through the stub",
    });
    await romCliOk(rom, [
      ...keep,
      "verify-flash",
      "0x30000",
      `${dir.path}/text.bin`,
      "0x40000",
      `${dir.path}/raw.bin`,
    ]);
    await romCliOk(rom, [...keep, "read-flash", "0x40000", "20000", `${dir.path}/back.bin`]);
    assert.deepEqual(await Deno.readFile(`${dir.path}/back.bin`), raw);

    await romCliOk(rom, [...keep, "erase-region", "0x40000", "0x5000"]);
    await assertFlashErased(rom, { address: 0x40000, size: 0x5000 });
    await assertFlashHolds(rom, {
      address: 0x30000,
      data: text,
      what: "data outside the erased region",
    });
    await romCliOk(rom, [...keep, "erase-flash"]);
    await assertFlashErased(rom, { address: 0, size: 4 * 1024 * 1024 });

    // Last, as the chip stays at the new rate: a baud change through the stub.
    const big = randomBytes(64 * 1024, 5);
    await Deno.writeFile(`${dir.path}/big.bin`, big);
    const w = await romCliOk(rom, [
      ...keep,
      "-b",
      "921600",
      "write-flash",
      "0x50000",
      `${dir.path}/big.bin`,
    ]);
    assert.match(w, /Hash of data verified/);
    await assertFlashHolds(rom, { address: 0x50000, data: big, what: "write at 921600" });
  },
});

externalTest({
  name: "ESP32 ROM, CLI: write-flash at 460800 baud through the stub",
  needs,
  async fn() {
    await using rom = await startRom("esp32");
    await using dir = await tempDir();
    const data = textBytes(48 * 1024, 460800);
    await Deno.writeFile(`${dir.path}/d.bin`, data);
    const out = await romCliOk(rom, [
      "--after",
      "no-reset",
      "-b",
      "460800",
      "write-flash",
      "0x60000",
      `${dir.path}/d.bin`,
    ]);
    assert.match(out, /Hash of data verified/);
    await assertFlashHolds(rom, { address: 0x60000, data: data, what: "write at 460800" });
  },
});

externalTest({
  name: "ESP32 ROM, CLI --no-stub at 921600: the ROM's own baud change, then a read",
  needs,
  async fn() {
    await romBaudReadRound("esp32", 921600);
  },
});

externalTest({
  name:
    "ESP32 ROM, API with esptool 5's stub (stubDir) at 921600: info, write, verify, read, erase",
  needs: [emulator(), esptool()],
  async fn() {
    await using rom = await startRom("esp32");
    const dev = await connect(rom.url, {
      before: "no-reset",
      baud: 921600,
      stubDir: ESPTOOL_STUB_DIR,
    });
    try {
      const info = await dev.info();
      assert.equal(info.chip, "esp32");
      assert.equal(info.mac, MAC);
      assert.equal(info.crystalMhz, 40);
      assert.equal(info.flashSize, 4 * 1024 * 1024);
      assert.ok(info.stub);
      const app = textBytes(100_000, 6);
      const raw = randomBytes(30_000, 7);
      const report = await dev.flash([
        { address: 0x10000, data: app, name: "app" },
        { address: 0x80000, data: raw, name: "raw" },
      ]);
      assert.ok(report.verified);
      assert.ok(report.bytesOnWire < app.length + raw.length, "the app went compressed");
      await assertFlashHolds(rom, { address: 0x10000, data: app, what: "app" });
      await assertFlashHolds(rom, { address: 0x80000, data: raw, what: "raw" });
      // Written again unchanged: skipped, nothing on the wire.
      const again = await dev.flash([{ address: 0x10000, data: app }]);
      assert.equal(again.skipped, 1);
      assert.equal(again.bytesOnWire, 0);
      assert.ok((await dev.verify([{ address: 0x80000, data: raw }])).ok);
      assert.deepEqual(await dev.read({ address: 0x80000, size: raw.length }), raw);
      await dev.erase({ address: 0x80000, size: 0x8000 });
      await assertFlashErased(rom, { address: 0x80000, size: 0x8000 });
      await dev.erase("all");
      await assertFlashErased(rom, { address: 0, size: 4 * 1024 * 1024 });
    } finally {
      await dev.close("no-reset");
    }
  },
});

externalTest({
  name: "ESP32 ROM, runStation on two emulated boards at once: each gets its image and its own MAC",
  needs,
  async fn() {
    await using a = await startRom("esp32", { mac: "24:0a:c4:00:00:01" });
    await using b = await startRom("esp32", { mac: "24:0a:c4:00:00:02" });
    const table = textBytes(3072, 8);
    const app = textBytes(60_000, 9);
    const macs = new Map<string, string>();
    const summary = await runStation(
      [a.url, b.url],
      async ({ device, stage }) => {
        stage("flash");
        const r = await device.flash([
          { address: 0x8000, data: table, name: "partitions" },
          { address: 0x10000, data: app, name: "app" },
        ]);
        assert.ok(r.verified);
        stage("mac");
        macs.set(device.port, await device.readMac());
      },
      { connect: { before: "no-reset", baud: 921600, after: "no-reset" } },
    );
    assert.equal(summary.passed, 2, JSON.stringify(summary.outcomes));
    assert.equal(macs.get(a.url), "24:0a:c4:00:00:01");
    assert.equal(macs.get(b.url), "24:0a:c4:00:00:02");
    for (const rom of [a, b]) {
      await assertFlashHolds(rom, { address: 0x8000, data: table, what: "partition table" });
      await assertFlashHolds(rom, { address: 0x10000, data: app, what: "app" });
    }
  },
});

externalTest({
  name:
    "ESP32 ROM habits: an unsupported command after SYNC (eight error frames) and a late answer leave the next commands their own answers",
  needs,
  async fn() {
    await using rom = await startRom("esp32");
    const transport = await openTransport(rom.url, { baud: 115200 });
    const s = await LoaderSession.connect(transport, { before: "no-reset", connectAttempts: 2 });
    try {
      assert.equal(s.chip.key, "esp32");
      const magic = await s.readReg(0x40001000);
      await s.sync(); // the ROM now repeats its next error answer eight times
      const err = await s.command(0x55).then(() => null, (e) => e);
      assert.ok(err instanceof LoaderStatusError, String(err));
      assert.equal(err.status, 0x0105);
      for (let i = 0; i < 3; i++) assert.equal(await s.readReg(0x40001000), magic);
      // An MD5 of 1 MiB takes the ROM far longer than 20 ms: its answer comes after the timeout.
      await s.spiAttach();
      const late = await s.command(Op.SPI_FLASH_MD5, u32le(0, 0x100000, 0, 0), {
        timeoutMs: 20,
        payloadLength: 32,
      }).then(() => null, (e) => e);
      assert.ok(late instanceof TimeoutError, String(late));
      assert.equal(await s.readReg(0x40001000), magic);
      assert.equal(
        await flashMd5(s, { address: 0, size: 0x1000 }),
        md5Hex(new Uint8Array(0x1000).fill(0xff)),
      );
    } finally {
      await s.close();
    }
  },
});
