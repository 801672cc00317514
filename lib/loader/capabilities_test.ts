import assert from "node:assert/strict";
import { loaderCapabilities, STUB_FLASH_WRITE_SIZE } from "./capabilities.ts";
import { CHIPS, ESP32, ESP32C2, ESP32C3, ESP8266 } from "../chips/index.ts";

Deno.test("the ESP8266 ROM lacks what esptool's ESP8266ROM lacks; its stub does not", () => {
  const rom = loaderCapabilities(ESP8266, false);
  assert.equal(rom.kind, "rom");
  assert.equal(rom.md5, null);
  assert.equal(rom.compressedWrites, false);
  assert.equal(rom.readFlash, null);
  assert.equal(rom.eraseRegion, null);
  assert.equal(rom.eraseFlash, false);
  assert.equal(rom.spiAttachArg, null); // a zero-length FLASH_BEGIN attaches instead
  assert.equal(rom.setFlashParams, false);
  assert.equal(rom.eraseSize(0, 0x10000), 0x8000); // the ROM's erase bug, worked around
  const stub = loaderCapabilities(ESP8266, true);
  assert.equal(stub.kind, "stub");
  assert.equal(stub.md5, "raw");
  assert.equal(stub.readFlash, "stream");
  assert.equal(stub.eraseSize(0, 0x10000), 0x10000);
  assert.equal(stub.softReset, "run-user-code");
});

Deno.test("ROM and stub differ the same way on every other chip", () => {
  for (const chip of CHIPS.filter((c) => c !== ESP8266)) {
    const rom = loaderCapabilities(chip, false);
    const stub = loaderCapabilities(chip, true);
    assert.equal(rom.md5, "hex", chip.name);
    assert.equal(rom.readFlash, "slow", chip.name);
    assert.equal(rom.eraseRegion, "flash-begin", chip.name);
    assert.equal(rom.erasesAtBegin, true, chip.name);
    assert.equal(rom.answersBeforeWriting, false, chip.name);
    assert.equal(rom.spiAttachArg?.length, 8, chip.name);
    assert.equal(rom.softReset, "flash-end", chip.name);
    assert.equal(stub.flashWriteSize, STUB_FLASH_WRITE_SIZE, chip.name);
    assert.equal(stub.spiAttachArg?.length, 4, chip.name);
    assert.equal(stub.erasesAtBegin, false, chip.name);
    assert.equal(stub.answersBeforeWriting, true, chip.name);
    assert.equal(stub.eraseFlash, true, chip.name);
    assert.equal(stub.changeBaudSendsOldRate, true, chip.name);
    assert.equal(stub.softReset, null, chip.name);
  }
  // The 20-byte FLASH_BEGIN: the ROMs from the ESP32-S2 on.
  assert.equal(loaderCapabilities(ESP32, false).beginTakesEncryptFlag, false);
  assert.equal(loaderCapabilities(ESP32C3, false).beginTakesEncryptFlag, true);
});

Deno.test("only the ESP32-C2 ROM asks for a scaled baud rate, and only on a 26 MHz board", () => {
  assert.equal(loaderCapabilities(ESP32C2, false).baudRequest?.(115200 * 8, 26), 1417846);
  assert.equal(loaderCapabilities(ESP32C2, true).baudRequest, undefined);
  assert.equal(loaderCapabilities(ESP32C3, false).baudRequest, undefined);
});
