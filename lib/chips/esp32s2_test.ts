import assert from "node:assert/strict";
import { ESP32S2 } from "./esp32s2.ts";
import { fakeRegs } from "../../tests/support/fake_regs.ts";
import { formatMac } from "./index.ts";

// esptool targets/esp32s2.py: EFUSE_BASE 0x3F41A000, BLOCK1 at +0x44, BLOCK2 at +0x5C.
const MAC0 = 0x3f41a044;
const MAC1 = 0x3f41a048;
const B1W3 = 0x3f41a050;
const B1W4 = 0x3f41a054;
const B2W4 = 0x3f41a06c;

function chip(w3: number, w4: number, b2w4: number) {
  return fakeRegs(
    new Map([[MAC0, 0x0a0b0c0d], [MAC1, 0x00007cdf], [B1W3, w3], [B1W4, w4], [B2W4, b2w4]]),
  );
}

Deno.test("ESP32-S2 readMac", async () => {
  assert.equal(formatMac(await ESP32S2.readMac(chip(0, 0, 0).readReg)), "7c:df:0a:0b:0c:0d");
});

Deno.test("ESP32-S2 plain part, v0.0", async () => {
  const { readReg } = chip(0, 0, 0);
  assert.equal(await ESP32S2.readDescription(readReg), "ESP32-S2 (revision v0.0)");
  assert.deepEqual(await ESP32S2.readFeatures(readReg), [
    "Wi-Fi",
    "Single Core",
    "240MHz",
    "No Embedded Flash",
    "No Embedded PSRAM",
    "No calibration in BLK2 of efuse",
  ]);
});

Deno.test("ESP32-S2FNR2 v1.0 with BLK2 calibration V2", async () => {
  // word 3: flash cap 2 (bits 21..24 → 0x400000), PSRAM cap 1 (bits 28..31 → 0x10000000),
  // major 1 (bits 18..19 → 0x40000). BLOCK2 word 4 bits 4..6 = 2 → 0x20.
  const { readReg } = chip(0x10440000, 0x00000000, 0x00000020);
  assert.deepEqual(await ESP32S2.readRevision(readReg), { major: 1, minor: 0 });
  assert.equal(await ESP32S2.readDescription(readReg), "ESP32-S2FNR2 (revision v1.0)");
  assert.deepEqual(await ESP32S2.readFeatures(readReg), [
    "Wi-Fi",
    "Single Core",
    "240MHz",
    "Embedded Flash 4MB",
    "Embedded PSRAM 2MB",
    "ADC and temperature sensor calibration in BLK2 of eFuse V2",
  ]);
});

Deno.test("ESP32-S2 minor revision: high bit word 3 bit 20, low bits word 4 bits 4..6", async () => {
  // pkg version (word 4 bits 0..3) is set too and must not leak into the minor.
  const { readReg } = chip(0x00100000, 0x0000001f, 0);
  assert.deepEqual(await ESP32S2.readRevision(readReg), { major: 0, minor: 9 });
});

Deno.test("ESP32-S2 static facts", async () => {
  assert.equal(ESP32S2.bootloaderOffset, 0x1000);
  assert.equal(ESP32S2.securityInfoHasChipId, false);
  assert.equal(ESP32S2.imageChipId, 2);
  assert.equal(ESP32S2.spi.w0, 0x3f402058);
  assert.equal(await ESP32S2.readCrystalMhz(fakeRegs(new Map()).readReg, 115200), 40);
});
