import assert from "node:assert/strict";
import { ESP32 } from "./esp32.ts";
import { fakeRegs } from "../../tests/support/fake_regs.ts";
import { formatMac } from "./index.ts";
import { macCrc8 } from "./efuse.ts";

// Register words laid out by hand from esptool targets/esp32.py:
// eFuse BLOCK0 read word n at 0x3FF5A000 + 4n; APB_CTL_DATE at 0x3FF6607C.
const W1 = 0x3ff5a004;
const W2 = 0x3ff5a008;
const W3 = 0x3ff5a00c;
const W4 = 0x3ff5a010;
const W5 = 0x3ff5a014;
const W6 = 0x3ff5a018;
const APB_DATE = 0x3ff6607c;
const UART0_CLKDIV = 0x3ff40014;

/** A D0WD-V3 at revision v3.0 with MAC 24:0a:c4:12:34:56. */
function d0wdV3() {
  return fakeRegs(
    new Map([
      // MAC bytes 2..5 fill word 1; bytes 0..1 sit in word 2 bits 15..0, CRC 0xAB in bits 23..16.
      [W1, 0xc4123456],
      [W2, 0x00ab240a],
      // word 3: pkg=1 (bits 9..11 → 0x200), CPU_FREQ_RATED (bit 13 → 0x2000),
      // rev bit 0 (bit 15 → 0x8000); BT and APP CPU enabled (bits 0,1 clear).
      [W3, 0x0000a200],
      // word 4: ADC_VREF bits 8..12 = 0b01010.
      [W4, 0x00000a00],
      // word 5: rev bit 1 (bit 20), minor 0 (bits 24..25).
      [W5, 0x00100000],
      // word 6: coding scheme 0.
      [W6, 0x00000000],
      // APB_CTL_DATE bit 31: rev bit 2.
      [APB_DATE, 0x80000000],
    ]),
  );
}

/** A single-core ESP32-S0WDQ6 at v1.1 without BT, rated 160 MHz, 3/4 coding. */
function s0wdq6() {
  return fakeRegs(
    new Map([
      [W1, 0x00000001],
      [W2, 0x00000000],
      // word 3: DIS_APP_CPU (bit 0), DIS_BT (bit 1), FREQ_LOW (bit 12), FREQ_RATED (bit 13),
      // BLK3_PART_RESERVE (bit 14), rev bit 0 (bit 15); pkg 0.
      [W3, 0x0000f003],
      [W4, 0x00000000],
      // word 5: minor 1 (bit 24), rev bit 1 clear.
      [W5, 0x01000000],
      [W6, 0x00000001],
      [APB_DATE, 0x00000000],
    ]),
  );
}

Deno.test("ESP32 readMac drops the CRC byte and orders the six MAC bytes", async () => {
  const { readReg } = d0wdV3();
  assert.equal(formatMac(await ESP32.readMac(readReg)), "24:0a:c4:12:34:56");
});

Deno.test("ESP32 revision combines eFuse bits and APB_CTL_DATE into v3.0", async () => {
  assert.deepEqual(await ESP32.readRevision(d0wdV3().readReg), { major: 3, minor: 0 });
  // rev bits (bit2, bit1, bit0) = (0, 0, 1) → major 1; minor from word 5 bits 24..25.
  assert.deepEqual(await ESP32.readRevision(s0wdq6().readReg), { major: 1, minor: 1 });
});

Deno.test("ESP32 description matches esptool's wording", async () => {
  assert.equal(await ESP32.readDescription(d0wdV3().readReg), "ESP32-D0WD-V3 (revision v3.0)");
  assert.equal(await ESP32.readDescription(s0wdq6().readReg), "ESP32-S0WDQ6 (revision v1.1)");
});

Deno.test("ESP32 description uses the package high bit (word 3 bit 2)", async () => {
  const words = new Map([
    [W3, 0x00000204], // pkg low bits = 1, high bit set → pkg 9: unknown
    [W5, 0],
    [APB_DATE, 0],
  ]);
  assert.equal(
    await ESP32.readDescription(fakeRegs(words).readReg),
    "Unknown ESP32 (revision v0.0)",
  );
});

Deno.test("ESP32 features list matches esptool's strings", async () => {
  assert.deepEqual(await ESP32.readFeatures(d0wdV3().readReg), [
    "Wi-Fi",
    "BT",
    "Dual Core + LP Core",
    "240MHz",
    "Vref calibration in eFuse",
    "Coding Scheme None",
  ]);
  assert.deepEqual(await ESP32.readFeatures(s0wdq6().readReg), [
    "Wi-Fi",
    "Single Core + LP Core",
    "160MHz",
    "BLK3 partially reserved",
    "Coding Scheme 3/4",
  ]);
});

Deno.test("ESP32 PICO-V3-02 reports embedded flash and PSRAM", async () => {
  const words = new Map([
    [W3, 0x00000c00], // pkg 6 in bits 9..11
    [W4, 0],
    [W6, 0x00000003],
  ]);
  const features = await ESP32.readFeatures(fakeRegs(words).readReg);
  assert.deepEqual(features.slice(3), [
    "Embedded Flash",
    "Embedded PSRAM",
    "Coding Scheme None (may contain encoding data)",
  ]);
});

Deno.test("ESP32 crystal comes from the UART divider at the current baud", async () => {
  // 40 MHz / 115200 ≈ 347 (0x15B); bits above the 20-bit divider field must be ignored.
  const forty = fakeRegs(new Map([[UART0_CLKDIV, 0x0f00015b]]));
  assert.equal(await ESP32.readCrystalMhz(forty.readReg, 115200), 40);
  assert.deepEqual(forty.reads, [UART0_CLKDIV]);
  // 26 MHz / 115200 ≈ 226.
  const twentySix = fakeRegs(new Map([[UART0_CLKDIV, 226]]));
  assert.equal(await ESP32.readCrystalMhz(twentySix.readReg, 115200), 26);
  // 40 MHz at 921600 baud: divider 43.
  const fast = fakeRegs(new Map([[UART0_CLKDIV, 43]]));
  assert.equal(await ESP32.readCrystalMhz(fast.readReg, 921600), 40);
});

Deno.test("ESP32 static facts", () => {
  assert.equal(ESP32.bootloaderOffset, 0x1000);
  assert.equal(ESP32.imageChipId, 0);
  assert.equal(ESP32.securityInfoHasChipId, false);
  assert.equal(ESP32.spi.w0, 0x3ff42080);
  assert.equal(ESP32.spi.mosiDlen, 0x3ff42028);
  assert.ok(ESP32.memoryMap.some((r) => r.name === "DROM" && r.start === 0x3f400000));
});

Deno.test("ESP32 checkMac: the eFuse MAC CRC-8 over the MAC as printed; a mismatch says both values", async () => {
  const mac = Uint8Array.of(0x24, 0x0a, 0xc4, 0x12, 0x34, 0x56);
  // 0xF5: CRC-8 (reflected 0x8C, init 0) of 24 0a c4 12 34 56, worked out by hand
  // with espefuse's EfuseMacField.calc_crc; the reversed byte order would give 0x50.
  const good = fakeRegs(new Map([[W1, 0xc4123456], [W2, 0x00f5240a]]));
  assert.equal(await ESP32.checkMac!(mac, good.readReg), null);
  const bad = fakeRegs(new Map([[W1, 0xc4123456], [W2, 0x0050240a]]));
  assert.deepEqual(await ESP32.checkMac!(mac, bad.readReg), { stored: 0x50, computed: 0xf5 });
  const unburnt = fakeRegs(new Map([[W1, 0xc4123456], [W2, 0x0000240a]]));
  assert.deepEqual(
    await ESP32.checkMac!(mac, unburnt.readReg),
    { stored: 0, computed: 0xf5 },
    "ESP-IDF makes no exception for a zero CRC beside a burnt MAC",
  );
  // ESP-IDF accepts Espressif's range 18:fe:34:6a:85:c7..f8 whatever the CRC says.
  const own = Uint8Array.of(0x18, 0xfe, 0x34, 0x6a, 0x85, 0xd0);
  const exempt = fakeRegs(new Map([[W1, 0x346a85d0], [W2, 0x000018fe]]));
  assert.equal(await ESP32.checkMac!(own, exempt.readReg), null);
  assert.equal(macCrc8(new Uint8Array(6)), 0, "an all-zero BLOCK0 agrees with itself");
});
