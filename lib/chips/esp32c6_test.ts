import assert from "node:assert/strict";
import { ESP32C6 } from "./esp32c6.ts";
import { fakeRegs } from "../../tests/support/fake_regs.ts";
import { formatMac } from "./index.ts";

// esptool targets/esp32c6.py: EFUSE_BASE 0x600B0800, BLOCK1 at +0x44.
const MAC0 = 0x600b0844;
const MAC1 = 0x600b0848;
const B1W3 = 0x600b0850;
const B1W4 = 0x600b0854;

Deno.test("ESP32-C6 readMac ignores the ff:fe extension in the upper half", async () => {
  const { readReg } = fakeRegs(new Map([[MAC0, 0x12345678], [MAC1, 0xfffe4022]]));
  assert.equal(formatMac(await ESP32C6.readMac(readReg)), "40:22:12:34:56:78");
});

Deno.test("ESP32-C6 revision and description", async () => {
  const qfn40 = fakeRegs(new Map([[B1W3, 0x00040000]])); // minor 1 (bits 18..21)
  assert.equal(await ESP32C6.readDescription(qfn40.readReg), "ESP32-C6 (QFN40) (revision v0.1)");
  // Package 1 (bits 24..26) is the FH4 or the FH8, by the flash size in BLOCK1 word 4 (esptool 5.3.1).
  const fh4 = fakeRegs(new Map([[B1W3, 0x01000000], [B1W4, 1]]));
  assert.equal(await ESP32C6.readDescription(fh4.readReg), "ESP32-C6FH4 (QFN32) (revision v0.0)");
  const fh8 = fakeRegs(new Map([[B1W3, 0x01000000], [B1W4, 2]]));
  assert.equal(await ESP32C6.readDescription(fh8.readReg), "ESP32-C6FH8 (QFN32) (revision v0.0)");
  // minor 9 (bits 18 and 21) and major 1 (bit 22).
  const wide = fakeRegs(new Map([[B1W3, 0x00640000]]));
  assert.deepEqual(await ESP32C6.readRevision(wide.readReg), { major: 1, minor: 9 });
});

Deno.test("ESP32-C6 features (embedded flash by BLOCK1 word 4, as esptool 5.3.1) and crystal", async () => {
  const { readReg } = fakeRegs(new Map([[B1W4, 0]]));
  assert.deepEqual(await ESP32C6.readFeatures(readReg), [
    "Wi-Fi 6",
    "BT 5 (LE)",
    "IEEE802.15.4",
    "Single Core + LP Core",
    "160MHz",
    "Unknown Embedded Flash",
  ]);
  const fh8 = fakeRegs(new Map([[B1W4, 2]]));
  assert.equal((await ESP32C6.readFeatures(fh8.readReg)).at(-1), "Embedded Flash 8MB");
  assert.equal(await ESP32C6.readCrystalMhz(readReg, 115200), 40);
  assert.equal(ESP32C6.spi.cmd, 0x60003000);
});
