import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { patchFlashParams } from "../lib/image/flash_params.ts";
import { chipByKey } from "../lib/chips/index.ts";
import { externalTest, fixtures, readFixture } from "./support/external.ts";

const sha = (d: Uint8Array) => createHash("sha256").update(d).digest("hex");

// Expected digests: esptool v5.1.0 `merge-bin` with the same flash options on the same fixture
// (it patches bootloaders exactly as write-flash does).
externalTest({
  name:
    "ESP32-C3 bootloader: dio/80m/4MB patched byte-for-byte as esptool does, SHA-256 recomputed",
  needs: [fixtures()],
  async fn() {
    const boot = await readFixture("bootloader_esp32c3.bin");
    const r = patchFlashParams(boot, 0x0, {
      chip: chipByKey("esp32c3"),
      params: { mode: "dio", freq: "80m", size: "4MB" },
    });
    assert.equal(r.changed, true);
    assert.deepEqual([r.data[2], r.data[3]], [0x02, 0x2f]);
    assert.ok(r.notes.includes("SHA digest in image updated"));
    assert.equal(sha(r.data), "6762a82f98b48e30842c687d78bebe983d6996206fd285ff151f6f1022604b70");
  },
});

externalTest({
  name: "ESP32 bootloader at 0x1000: dout/26m/8MB patched as esptool does",
  needs: [fixtures()],
  async fn() {
    const boot = await readFixture("bootloader_esp32.bin");
    const r = patchFlashParams(boot, 0x1000, {
      chip: chipByKey("esp32"),
      params: { mode: "dout", freq: "26m", size: "8MB" },
    });
    assert.deepEqual([r.data[2], r.data[3]], [0x03, 0x31]);
    assert.equal(sha(r.data), "ec509e292168d6c4ac55a49d95773ea2a73f812c87855b0032cfaa942f5943ab");
  },
});

externalTest({
  name: "images away from the bootloader offset, non-images and 'keep' are left alone",
  needs: [fixtures()],
  async fn() {
    const boot = await readFixture("bootloader_esp32.bin");
    const esp32 = chipByKey("esp32");
    assert.equal(
      patchFlashParams(boot, 0x10000, { chip: esp32, params: { mode: "dio" } }).data,
      boot,
    );
    assert.equal(patchFlashParams(boot, 0x1000, { chip: esp32, params: {} }).changed, false);
    const junk = new Uint8Array(64).fill(0x12);
    const r = patchFlashParams(junk, 0x1000, { chip: esp32, params: { mode: "dio" } });
    assert.equal(r.changed, false);
    assert.match(r.notes[0], /doesn't look like an image file/);
    const broken = boot.slice(0, 200);
    assert.match(
      patchFlashParams(broken, 0x1000, { chip: esp32, params: { mode: "dio" } }).notes[0],
      /not a valid ESP32 image/,
    );
  },
});

externalTest({
  name: "a frequency the chip does not have is refused naming the valid ones",
  needs: [fixtures()],
  async fn() {
    const boot = await readFixture("bootloader_esp32c3.bin");
    assert.throws(
      () => patchFlashParams(boot, 0, { chip: chipByKey("esp32c3"), params: { freq: "60m" } }),
      /ESP32-C3 does not support --flash-freq 60m: use 80m, 40m, 26m, 20m/,
    );
  },
});
