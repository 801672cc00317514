import assert from "node:assert/strict";
import { ESP32C3 } from "./esp32c3.ts";
import { fakeRegs } from "../../tests/support/fake_regs.ts";
import { formatMac } from "./index.ts";

// From esptool targets/esp32c3.py: EFUSE_BASE 0x60008800, BLOCK1 at +0x44.
const MAC0 = 0x60008844;
const MAC1 = 0x60008848;
const B1W3 = 0x60008850;
const B1W4 = 0x60008854;
const B1W5 = 0x60008858;

/** QFN32 v0.4, no embedded flash, MAC 34:85:18:00:a1:b2. */
function qfn32() {
  return fakeRegs(
    new Map([
      [MAC0, 0x1800a1b2],
      [MAC1, 0xffff3485],
      [B1W3, 0x00100000], // minor low 4 (bits 18..20)
      [B1W4, 0x00000000],
      [B1W5, 0x00000000],
    ]),
  );
}

/** ESP8685 v1.11 with 4MB ZBIT flash. */
function esp8685() {
  return fakeRegs(
    new Map([
      [MAC0, 0],
      [MAC1, 0],
      // pkg 1 (bit 21), minor low 3 (bits 18,19), flash cap 1 (bit 27)
      [B1W3, 0x082c0000],
      [B1W4, 0x00000005], // flash vendor 5
      [B1W5, 0x01800000], // major 1 (bit 24), minor high (bit 23)
    ]),
  );
}

Deno.test("ESP32-C3 readMac", async () => {
  assert.equal(formatMac(await ESP32C3.readMac(qfn32().readReg)), "34:85:18:00:a1:b2");
});

Deno.test("ESP32-C3 revision and description", async () => {
  assert.deepEqual(await ESP32C3.readRevision(qfn32().readReg), { major: 0, minor: 4 });
  assert.equal(await ESP32C3.readDescription(qfn32().readReg), "ESP32-C3 (QFN32) (revision v0.4)");
  assert.deepEqual(await ESP32C3.readRevision(esp8685().readReg), { major: 1, minor: 11 });
  assert.equal(
    await ESP32C3.readDescription(esp8685().readReg),
    "ESP8685 (QFN28) (revision v1.11)",
  );
});

Deno.test("ESP32-C3 features", async () => {
  assert.deepEqual(await ESP32C3.readFeatures(qfn32().readReg), [
    "Wi-Fi",
    "BT 5 (LE)",
    "Single Core",
    "160MHz",
  ]);
  assert.deepEqual(await ESP32C3.readFeatures(esp8685().readReg), [
    "Wi-Fi",
    "BT 5 (LE)",
    "Single Core",
    "160MHz",
    "Embedded Flash 4MB (ZBIT)",
  ]);
});

Deno.test("ESP32-C3 unknown package and flash code print as esptool does", async () => {
  const { readReg } = fakeRegs(
    new Map([[B1W3, 0x38e00000], [B1W4, 0], [B1W5, 0]]), // pkg 7, flash cap 7
  );
  assert.equal(await ESP32C3.readDescription(readReg), "Unknown ESP32-C3 (revision v0.0)");
  assert.equal((await ESP32C3.readFeatures(readReg)).at(-1), "Unknown Embedded Flash ()");
});

Deno.test("ESP32-C3 crystal is fixed at 40 MHz", async () => {
  assert.equal(await ESP32C3.readCrystalMhz(fakeRegs(new Map()).readReg, 460800), 40);
});
