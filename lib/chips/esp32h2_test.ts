import assert from "node:assert/strict";
import { ESP32H2 } from "./esp32h2.ts";
import { fakeRegs } from "../../tests/support/fake_regs.ts";
import { formatMac } from "./index.ts";

// esptool targets/esp32h2.py inherits EFUSE_BASE 0x600B0800 (BLOCK1 at +0x44) from esp32c6.py.
const MAC0 = 0x600b0844;
const MAC1 = 0x600b0848;
const B1W3 = 0x600b0850;
const B1W4 = 0x600b0854;

Deno.test("ESP32-H2 MAC, revision and description", async () => {
  // major 1 (bits 21..22 → 0x200000), minor 2 (bits 18..20 → 0x80000); pkg 0 in word 4.
  const { readReg } = fakeRegs(
    new Map([[MAC0, 0x00112233], [MAC1, 0xfffe7410], [B1W3, 0x00280000], [B1W4, 0]]),
  );
  assert.equal(formatMac(await ESP32H2.readMac(readReg)), "74:10:00:11:22:33");
  assert.deepEqual(await ESP32H2.readRevision(readReg), { major: 1, minor: 2 });
  assert.equal(await ESP32H2.readDescription(readReg), "ESP32-H2 (revision v1.2)");
});

Deno.test("ESP32-H2 minor is three bits wide; unknown package prints as esptool does", async () => {
  const { readReg } = fakeRegs(new Map([[B1W3, 0x00200000], [B1W4, 0x00000001]]));
  assert.deepEqual(await ESP32H2.readRevision(readReg), { major: 1, minor: 0 });
  assert.equal(await ESP32H2.readDescription(readReg), "Unknown ESP32-H2 (revision v1.0)");
});

Deno.test("ESP32-H2 features and 32 MHz crystal", async () => {
  const { readReg } = fakeRegs(new Map());
  assert.deepEqual(await ESP32H2.readFeatures(readReg), [
    "BT 5 (LE)",
    "IEEE802.15.4",
    "Single Core",
    "96MHz",
  ]);
  assert.equal(await ESP32H2.readCrystalMhz(readReg, 115200), 32);
});
