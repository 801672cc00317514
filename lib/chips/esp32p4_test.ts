import assert from "node:assert/strict";
import { ESP32P4 } from "./esp32p4.ts";
import { fakeRegs } from "../../tests/support/fake_regs.ts";
import { formatMac } from "./index.ts";

// esptool targets/esp32p4.py: EFUSE_BASE 0x5012D000, BLOCK1 at +0x44.
const MAC0 = 0x5012d044;
const MAC1 = 0x5012d048;
const B1W2 = 0x5012d04c;

Deno.test("ESP32-P4 MAC, revision and description", async () => {
  // major low bits 4..5 = 3 (0x30), minor 1 (bits 0..3) → v3.1; pkg 0 (bits 20..22).
  const { readReg } = fakeRegs(new Map([[MAC0, 0x01020304], [MAC1, 0x000030ed], [B1W2, 0x31]]));
  assert.equal(formatMac(await ESP32P4.readMac(readReg)), "30:ed:01:02:03:04");
  assert.deepEqual(await ESP32P4.readRevision(readReg), { major: 3, minor: 1 });
  assert.equal(await ESP32P4.readDescription(readReg), "ESP32-P4 (revision v3.1)");
});

Deno.test("ESP32-P4 major revision bit 2 is word 2 bit 23, not part of the package", async () => {
  const { readReg } = fakeRegs(new Map([[B1W2, 0x00800010]]));
  assert.deepEqual(await ESP32P4.readRevision(readReg), { major: 5, minor: 0 });
  assert.equal(await ESP32P4.readDescription(readReg), "ESP32-P4 (revision v5.0)");
  const pkg1 = fakeRegs(new Map([[B1W2, 0x00100000]]));
  assert.equal(await ESP32P4.readDescription(pkg1.readReg), "Unknown ESP32-P4 (revision v0.0)");
});

Deno.test("ESP32-P4 picks the rev1 stub below v3.0", () => {
  assert.equal(ESP32P4.stubNameForRevision?.({ major: 1, minor: 3 }), "esp32p4-rev1");
  assert.equal(ESP32P4.stubNameForRevision?.({ major: 3, minor: 0 }), "esp32p4");
});

Deno.test("ESP32-P4 features, crystal and offsets", async () => {
  const { readReg } = fakeRegs(new Map());
  assert.deepEqual(await ESP32P4.readFeatures(readReg), ["Dual Core + LP Core", "400MHz"]);
  assert.equal(await ESP32P4.readCrystalMhz(readReg, 115200), 40);
  assert.equal(ESP32P4.bootloaderOffset, 0x2000);
  assert.equal(ESP32P4.spi.cmd, 0x5008d000);
});
