import assert from "node:assert/strict";
import { ESP32C5 } from "./esp32c5.ts";
import { fakeRegs } from "../../tests/support/fake_regs.ts";
import { formatMac } from "./index.ts";

// esptool targets/esp32c5.py: EFUSE_BASE 0x600B4800, BLOCK1 at +0x44.
const MAC0 = 0x600b4844;
const MAC1 = 0x600b4848;
const B1W2 = 0x600b484c;
const UART0_CLKDIV = 0x60000014;

Deno.test("ESP32-C5 MAC, revision and description", async () => {
  // major 1 (bits 4..5 → 0x10), minor 0 (bits 0..3), pkg 0 (bits 26..28).
  const { readReg } = fakeRegs(new Map([[MAC0, 0xaabbccdd], [MAC1, 0xfffe3cdc], [B1W2, 0x10]]));
  assert.equal(formatMac(await ESP32C5.readMac(readReg)), "3c:dc:aa:bb:cc:dd");
  assert.deepEqual(await ESP32C5.readRevision(readReg), { major: 1, minor: 0 });
  assert.equal(await ESP32C5.readDescription(readReg), "ESP32-C5 (revision v1.0)");
});

Deno.test("ESP32-C5 unknown package", async () => {
  const { readReg } = fakeRegs(new Map([[B1W2, 0x04000001]])); // pkg 1, minor 1
  assert.equal(await ESP32C5.readDescription(readReg), "Unknown ESP32-C5 (revision v0.1)");
});

Deno.test("ESP32-C5 features", async () => {
  assert.deepEqual(await ESP32C5.readFeatures(fakeRegs(new Map()).readReg), [
    "Wi-Fi 6 (dual-band)",
    "BT 5 (LE)",
    "IEEE802.15.4",
    "Single Core + LP Core",
    "240MHz",
  ]);
});

Deno.test("ESP32-C5 crystal is 48 or 40 MHz from the UART divider", async () => {
  // 48e6 / 115200 ≈ 417; 40e6 / 115200 ≈ 347.
  const c48 = fakeRegs(new Map([[UART0_CLKDIV, 417]]));
  assert.equal(await ESP32C5.readCrystalMhz(c48.readReg, 115200), 48);
  const c40 = fakeRegs(new Map([[UART0_CLKDIV, 347]]));
  assert.equal(await ESP32C5.readCrystalMhz(c40.readReg, 115200), 40);
});

Deno.test("ESP32-C5 static facts", () => {
  assert.equal(ESP32C5.bootloaderOffset, 0x2000);
  assert.equal(ESP32C5.imageChipId, 23);
  assert.equal(ESP32C5.spi.w0, 0x60003058);
});
