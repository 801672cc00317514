/**
 * The facts esptool's chip-id, read-mac and flash-id print beyond the
 * connect block: the ESP8266 chip ID, the EUI-64 extension of 802.15.4
 * chips, where the flash voltage comes from, and the flash type eFuse.
 * Register values are built by hand from esptool's targets.
 */

import assert from "node:assert/strict";
import { fakeRegs } from "../../tests/support/fake_regs.ts";
import { chipByKey, CHIPS } from "./index.ts";

Deno.test("ESP8266 chip ID: OTP word 0's top byte under word 1's low 24 bits (esptool chip_id)", async () => {
  // MAC 02:11:22:33:44:55 puts 0x55 in word 0's top byte and 0x..3344 in word 1.
  const { readReg } = fakeRegs(new Map([[0x3ff00050, 0x55000000], [0x3ff00054, 0x00003344]]));
  assert.equal(await chipByKey("esp8266").readChipId!(readReg), 0x00334455);
  const high = fakeRegs(new Map([[0x3ff00050, 0xfe123456], [0x3ff00054, 0xffabcdef]]));
  assert.equal(await chipByKey("esp8266").readChipId!(high.readReg), 0xabcdeffe);
});

Deno.test("only the ESP8266 has a chip ID; only C6, H2 and C5 have MAC_EXT; only ESP32, S2, S3 report the flash voltage", () => {
  const has = (f: (c: (typeof CHIPS)[number]) => unknown) =>
    CHIPS.filter((c) => f(c) !== undefined).map((c) => c.key).sort();
  assert.deepEqual(has((c) => c.readChipId), ["esp8266"]);
  assert.deepEqual(has((c) => c.readMacExt), ["esp32c5", "esp32c6", "esp32h2"]);
  assert.deepEqual(has((c) => c.readFlashVoltage), ["esp32", "esp32s2", "esp32s3"]);
  assert.deepEqual(has((c) => c.readFlashType), ["esp32s2", "esp32s3"]);
});

Deno.test("ESP32-C6 MAC_EXT: the top half of the second MAC word, most significant byte first", async () => {
  const { readReg, reads } = fakeRegs(new Map([[0x600b0844 + 4, 0xfffe0211]]));
  assert.deepEqual(await chipByKey("esp32c6").readMacExt!(readReg), Uint8Array.of(0xff, 0xfe));
  assert.deepEqual(reads, [0x600b0848]);
});

Deno.test("ESP32 flash voltage: RTC override first, then the VDD_SPI eFuses, then the MTDI strap", async () => {
  const RTC = 0x3ff48074, EFUSE = 0x3ff5a010, STRAP = 0x3ff44038;
  const voltage = (rtc: number, efuse: number, strap: number) =>
    chipByKey("esp32").readFlashVoltage!(
      fakeRegs(new Map([[RTC, rtc], [EFUSE, efuse], [STRAP, strap]])).readReg,
    );
  assert.deepEqual(await voltage(0, 0, 0), { voltage: "3.3V", source: "a strapping pin" });
  assert.deepEqual(await voltage(0, 0, 1 << 5), { voltage: "1.8V", source: "a strapping pin" });
  // eFuse forced: XPD on, TIEH off → 1.8 V; TIEH on → 3.3 V; XPD off → OFF.
  assert.deepEqual(await voltage(0, (1 << 16) | (1 << 14), 0), {
    voltage: "1.8V",
    source: "eFuse",
  });
  assert.deepEqual(await voltage(0, (1 << 16) | (1 << 14) | (1 << 15), 1 << 5), {
    voltage: "3.3V",
    source: "eFuse",
  });
  assert.deepEqual(await voltage(0, 1 << 16, 0), { voltage: "OFF", source: "eFuse" });
  // RTC forced wins over everything: DREFH set → 1.9 V, XPD → 1.8 V, neither → OFF.
  assert.deepEqual(await voltage((1 << 22) | (1 << 29), 1 << 16, 0), {
    voltage: "1.9V",
    source: "RTC_CNTL",
  });
  assert.deepEqual(await voltage(((1 << 22) | (1 << 31)) >>> 0, 0, 0), {
    voltage: "1.8V",
    source: "RTC_CNTL",
  });
  assert.deepEqual(await voltage(1 << 22, 0, 0), { voltage: "OFF", source: "RTC_CNTL" });
});

Deno.test("ESP32-S3 flash voltage and type: eFuse bits 4..6 at +0x34, strap bit 4 (GPIO45), type bit 9 at +0x3C", async () => {
  const base = 0x60007000;
  const regs = (efuse: number, strap: number, repeat3: number) =>
    fakeRegs(new Map([[base + 0x34, efuse], [0x60004038, strap], [base + 0x3c, repeat3]]))
      .readReg;
  const s3 = chipByKey("esp32s3");
  assert.deepEqual(await s3.readFlashVoltage!(regs(0, 1 << 4, 0)), {
    voltage: "1.8V",
    source: "a strapping pin",
  });
  assert.deepEqual(await s3.readFlashVoltage!(regs((1 << 6) | (1 << 4) | (1 << 5), 0, 0)), {
    voltage: "3.3V",
    source: "eFuse",
  });
  assert.equal(await s3.readFlashType!(regs(0, 0, 0)), "quad");
  assert.equal(await s3.readFlashType!(regs(0, 0, 1 << 9)), "octal");
  // The S2 reads the same fields at its own addresses.
  const s2 = chipByKey("esp32s2");
  const s2regs = fakeRegs(
    new Map([[0x3f41a034, 0], [0x3f404038, 1 << 4], [0x3f41a03c, 1 << 9]]),
  ).readReg;
  assert.deepEqual(await s2.readFlashVoltage!(s2regs), {
    voltage: "1.8V",
    source: "a strapping pin",
  });
  assert.equal(await s2.readFlashType!(s2regs), "octal");
});
