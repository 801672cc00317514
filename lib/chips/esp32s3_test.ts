import assert from "node:assert/strict";
import { ESP32S3 } from "./esp32s3.ts";
import { fakeRegs } from "../../tests/support/fake_regs.ts";
import { formatMac } from "./index.ts";

// From esptool targets/esp32s3.py: EFUSE_BASE 0x60007000, BLOCK1 at +0x44, BLOCK2 at +0x5C.
const MAC0 = 0x60007044; // BLOCK1 word 0
const MAC1 = 0x60007048; // BLOCK1 word 1
const B1W3 = 0x60007050;
const B1W4 = 0x60007054;
const B1W5 = 0x60007058;
const B2W4 = 0x6000706c;

/** QFN56 v0.2, no embedded memory, MAC 7c:df:a1:e0:11:22. */
function qfn56() {
  return fakeRegs(
    new Map([
      [MAC0, 0xa1e01122],
      [MAC1, 0x00ab7cdf], // bits above 15 belong to other fields and must be ignored
      [B1W3, 0x00080000], // minor low = 2 (bits 18..20), pkg 0, flash cap 0, blk minor 0
      [B1W4, 0x00000000],
      [B1W5, 0x00000000], // major 0, minor high 0, PSRAM cap high 0
      [B2W4, 0x00000000],
    ]),
  );
}

/** PICO-1 v1.1 with 8MB XMC flash and 4MB AP_3v3 PSRAM. */
function pico() {
  return fakeRegs(
    new Map([
      [MAC0, 0],
      [MAC1, 0],
      // pkg 1 (bit 21), minor low 1 (bit 18), flash cap 1 (bit 27)
      [B1W3, 0x08240000],
      // flash vendor 1 (bits 0..2), PSRAM cap low 0 (bits 3..4), PSRAM vendor 1 (bits 7..8)
      [B1W4, 0x00000081],
      // PSRAM cap high bit (bit 19), major 1 (bits 24..25)
      [B1W5, 0x01080000],
      [B2W4, 0x00000000],
    ]),
  );
}

Deno.test("ESP32-S3 readMac takes bytes 0..1 from the low half of the second word", async () => {
  assert.equal(formatMac(await ESP32S3.readMac(qfn56().readReg)), "7c:df:a1:e0:11:22");
});

Deno.test("ESP32-S3 revision and description", async () => {
  assert.deepEqual(await ESP32S3.readRevision(qfn56().readReg), { major: 0, minor: 2 });
  assert.equal(await ESP32S3.readDescription(qfn56().readReg), "ESP32-S3 (QFN56) (revision v0.2)");
  assert.equal(
    await ESP32S3.readDescription(pico().readReg),
    "ESP32-S3-PICO-1 (LGA56) (revision v1.1)",
  );
});

Deno.test("ESP32-S3 minor revision high bit is word 5 bit 23", async () => {
  const { readReg } = fakeRegs(
    new Map([[B1W3, 0x00040000], [B1W5, 0x00800000], [B2W4, 0]]),
  );
  assert.deepEqual(await ESP32S3.readRevision(readReg), { major: 0, minor: 9 });
});

Deno.test("ESP32-S3 ECO0 workaround: block version v1.1 with minor 0 reads as v0.0", async () => {
  // raw major 1 (word 5 bit 24), raw minor 0, BLK_VERSION_MINOR 1 (word 3 bit 24),
  // BLK_VERSION_MAJOR 1 (BLOCK2 word 4 bit 0).
  const eco0 = fakeRegs(new Map([[B1W3, 0x01000000], [B1W5, 0x01000000], [B2W4, 0x00000001]]));
  assert.deepEqual(await ESP32S3.readRevision(eco0.readReg), { major: 0, minor: 0 });
  // Same chip but block version v1.0: the major field is trusted.
  const normal = fakeRegs(new Map([[B1W3, 0x00000000], [B1W5, 0x01000000], [B2W4, 0x00000001]]));
  assert.deepEqual(await ESP32S3.readRevision(normal.readReg), { major: 1, minor: 0 });
});

Deno.test("ESP32-S3 features", async () => {
  assert.deepEqual(await ESP32S3.readFeatures(qfn56().readReg), [
    "Wi-Fi",
    "BT 5 (LE)",
    "Dual Core + LP Core",
    "240MHz",
  ]);
  assert.deepEqual(await ESP32S3.readFeatures(pico().readReg), [
    "Wi-Fi",
    "BT 5 (LE)",
    "Dual Core + LP Core",
    "240MHz",
    "Embedded Flash 8MB (XMC)",
    "Embedded PSRAM 4MB (AP_3v3)",
  ]);
});

Deno.test("ESP32-S3 crystal is fixed at 40 MHz and reads nothing", async () => {
  const { readReg, reads } = fakeRegs(new Map());
  assert.equal(await ESP32S3.readCrystalMhz(readReg, 115200), 40);
  assert.equal(reads.length, 0);
});

Deno.test("ESP32-S3 static facts", () => {
  assert.equal(ESP32S3.bootloaderOffset, 0);
  assert.equal(ESP32S3.imageChipId, 9);
  assert.equal(ESP32S3.spi.cmd, 0x60002000);
  assert.equal(ESP32S3.spi.usr2, 0x60002020);
  assert.equal(ESP32S3.spi.w0, 0x60002058);
  assert.equal(ESP32S3.stubName, "esp32s3");
});
