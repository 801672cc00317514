import assert from "node:assert/strict";
import { ESP32C2 } from "./esp32c2.ts";
import { fakeRegs } from "../../tests/support/fake_regs.ts";
import { formatMac } from "./index.ts";

// esptool targets/esp32c2.py: EFUSE_BASE 0x60008800, BLOCK2 (MAC and revision) at +0x40.
// BLOCK2 word 1 holds MAC bytes 0..1 (bits 0..15) and the revision/package fields above them.
const B2W0 = 0x60008840;
const B2W1 = 0x60008844;
const UART0_CLKDIV = 0x60000014;

Deno.test("ESP32-C2 MAC, revision and description share BLOCK2 word 1", async () => {
  // minor 2 (bits 16..19 → 0x20000), major 1 (bits 20..21 → 0x100000), MAC bytes 08:3a.
  const { readReg } = fakeRegs(new Map([[B2W0, 0x8d010203], [B2W1, 0x0012083a]]));
  assert.equal(formatMac(await ESP32C2.readMac(readReg)), "08:3a:8d:01:02:03");
  assert.deepEqual(await ESP32C2.readRevision(readReg), { major: 1, minor: 2 });
  assert.equal(await ESP32C2.readDescription(readReg), "ESP32-C2 (revision v1.2)");
});

Deno.test("ESP32-C2 package ids 0 and 1 both print ESP32-C2", async () => {
  const pkg1 = fakeRegs(new Map([[B2W1, 0x00400000]])); // pkg 1 (bits 22..24)
  assert.equal(await ESP32C2.readDescription(pkg1.readReg), "ESP32-C2 (revision v0.0)");
  const pkg2 = fakeRegs(new Map([[B2W1, 0x00800000]]));
  assert.equal(await ESP32C2.readDescription(pkg2.readReg), "Unknown ESP32-C2 (revision v0.0)");
});

Deno.test("ESP32-C2 features", async () => {
  assert.deepEqual(await ESP32C2.readFeatures(fakeRegs(new Map()).readReg), [
    "Wi-Fi",
    "BT 5 (LE)",
    "Single Core",
    "120MHz",
  ]);
});

Deno.test("ESP32-C2 crystal is 26 or 40 MHz from the UART divider", async () => {
  const c26 = fakeRegs(new Map([[UART0_CLKDIV, 226]]));
  assert.equal(await ESP32C2.readCrystalMhz(c26.readReg, 115200), 26);
  const c40 = fakeRegs(new Map([[UART0_CLKDIV, 347]]));
  assert.equal(await ESP32C2.readCrystalMhz(c40.readReg, 115200), 40);
});

Deno.test("ESP32-C2 v0.0 has no flasher stub", () => {
  assert.equal(ESP32C2.stubNameForRevision?.({ major: 0, minor: 0 }), null);
  assert.equal(ESP32C2.stubNameForRevision?.({ major: 1, minor: 0 }), "esp32c2");
  assert.equal(ESP32C2.stubNameForRevision?.({ major: 0, minor: 1 }), "esp32c2");
});

Deno.test("the ESP32-C2 ROM is asked for a scaled baud rate on a 26 MHz board only", () => {
  // esptool ESP32C2ROM.change_baud: baud * 40 // 26 when the crystal is 26 MHz.
  assert.equal(ESP32C2.rom.baudRequest?.(921600, 26), 1417846);
  assert.equal(ESP32C2.rom.baudRequest?.(460800, 26), 708923);
  assert.equal(ESP32C2.rom.baudRequest?.(921600, 40), 921600);
});
