import assert from "node:assert/strict";
import { EsplineError } from "../errors.ts";
import { ESP8266 } from "./esp8266.ts";
import { fakeRegs } from "../../tests/support/fake_regs.ts";
import { formatMac } from "./index.ts";

// OTP words 0..3 at 0x3FF00050..0x3FF0005C (esptool targets/esp8266.py ESP_OTP_MAC*, get_efuses).
const OTP0 = 0x3ff00050;
const OTP1 = 0x3ff00054;
const OTP2 = 0x3ff00058;
const OTP3 = 0x3ff0005c;
const UART0_CLKDIV = 0x60000014;

function otp(w0: number, w1: number, w2: number, w3: number) {
  return fakeRegs(new Map([[OTP0, w0], [OTP1, w1], [OTP2, w2], [OTP3, w3]]));
}

Deno.test("ESP8266 MAC: OUI code 0 in OTP word 1 means 18:fe:34", async () => {
  // byte 5 = word 0 bits 31..24; bytes 3,4 = word 1 bits 15..0; OUI code = word 1 bits 23..16.
  const { readReg } = otp(0xc3001200, 0x0000a1b2, 0, 0);
  assert.equal(formatMac(await ESP8266.readMac(readReg)), "18:fe:34:a1:b2:c3");
});

Deno.test("ESP8266 MAC: OUI code 1 means ac:d0:74", async () => {
  const { readReg } = otp(0x7f000000, 0x0001beef, 0, 0);
  assert.equal(formatMac(await ESP8266.readMac(readReg)), "ac:d0:74:be:ef:7f");
});

Deno.test("ESP8266 MAC: a non-blank OTP word 3 carries the OUI itself", async () => {
  const { readReg } = otp(0x01000000, 0x00ff0203, 0, 0x005ccf7f);
  assert.equal(formatMac(await ESP8266.readMac(readReg)), "5c:cf:7f:02:03:01");
});

Deno.test("ESP8266 MAC: unknown OUI code is a typed error", async () => {
  const { readReg } = otp(0, 0x00020000, 0, 0);
  await assert.rejects(
    () => ESP8266.readMac(readReg),
    (err: unknown) => err instanceof EsplineError && err.code === "E_UNKNOWN_OUI",
  );
});

Deno.test("ESP8266 description tells ESP8266EX from ESP8285 variants", async () => {
  assert.equal(await ESP8266.readDescription(otp(0xc3001200, 0, 0, 0).readReg), "ESP8266EX");
  // bit 4 (word 0) set, bits 121..123 clear → ESP8285 with 1MB, bit 5 clear → N08.
  assert.equal(await ESP8266.readDescription(otp(0x10, 0, 0, 0).readReg), "ESP8285N08");
  // bit 80 (word 2 bit 16) marks ESP8285; bit 121 (word 3 bit 25) with bit 4 clear → 2MB;
  // bit 5 (word 0) → high-temperature H part.
  assert.equal(
    await ESP8266.readDescription(otp(0x20, 0, 0x00010000, 0x02000000).readReg),
    "ESP8285H16",
  );
  // bit 4 and bit 123 (word 3 bit 27): size code not in esptool's table.
  assert.equal(await ESP8266.readDescription(otp(0x10, 0, 0, 0x08000000).readReg), "ESP8285");
});

Deno.test("ESP8266 features and revision", async () => {
  assert.deepEqual(await ESP8266.readFeatures(otp(0, 0, 0, 0).readReg), ["Wi-Fi", "160MHz"]);
  assert.deepEqual(await ESP8266.readFeatures(otp(0x10, 0, 0, 0).readReg), [
    "Wi-Fi",
    "160MHz",
    "Embedded Flash",
  ]);
  assert.deepEqual(await ESP8266.readRevision(otp(0, 0, 0, 0).readReg), { major: 0, minor: 0 });
});

Deno.test("ESP8266 crystal: the UART runs from twice the crystal", async () => {
  // 26 MHz crystal → 52 MHz bus; 52e6 / 115200 ≈ 451.
  const c26 = fakeRegs(new Map([[UART0_CLKDIV, 451]]));
  assert.equal(await ESP8266.readCrystalMhz(c26.readReg, 115200), 26);
  // 40 MHz crystal → 80 MHz bus; 80e6 / 115200 ≈ 694.
  const c40 = fakeRegs(new Map([[UART0_CLKDIV, 694]]));
  assert.equal(await ESP8266.readCrystalMhz(c40.readReg, 115200), 40);
});

Deno.test("ESP8266 static facts", () => {
  assert.equal(ESP8266.imageChipId, null);
  assert.equal(ESP8266.rom.compressedWrites, false);
  assert.equal(ESP8266.rom.md5, false);
  assert.equal(ESP8266.rom.spiAttach, false);
  assert.equal(ESP8266.stubRunsUserCode, true);
  assert.equal(ESP8266.spi.mosiDlen, undefined);
  assert.equal(ESP8266.spi.w0, 0x60000240);
  assert.equal(ESP8266.bootloaderOffset, 0);
});

Deno.test("the ESP8266 ROM is told the erase sizes esptool tells it (its FLASH_BEGIN erase bug)", () => {
  // Values printed by esptool 5.3.1's ESP8266ROM.get_erase_size for the same arguments.
  const cases: [offset: number, size: number, erase: number][] = [
    [0x0, 0x1000, 0x1000],
    [0x0, 0x10000, 0x8000],
    [0x0, 0x100000, 0xf0000],
    [0x1000, 0x3000, 0x2000],
    [0xf000, 0x2000, 0x1000],
    [0x10000, 0x40000, 0x30000],
    [0x3000, 0x1800, 0x1000],
  ];
  for (const [offset, size, erase] of cases) {
    assert.equal(ESP8266.rom.eraseSize?.(offset, size), erase, `${offset.toString(16)}+${size}`);
  }
});
