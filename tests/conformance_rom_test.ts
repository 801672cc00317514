/**
 * Conformance: the virtual chip against Espressif's genuine ROM loaders.
 *
 * The same byte sequences (tests/conformance_cases.ts) go to the ESP32 and
 * ESP32-C3 mask ROMs running in the emulator and to the virtual chip; the
 * answers are compared frame by frame (count, opcode, length, value, data,
 * status bytes, the reserved status bytes) and text by text. The genuine
 * answers are recorded in tests/fixtures/rom/CHIP.json, so the comparison
 * runs everywhere as a replay; where the emulator is present a second test
 * records afresh and checks both the fixture and the virtual chip against
 * it. `ESPLINE_RECORD_ROM=1` rewrites the fixtures from that run.
 *
 * Where the virtual chip differs on purpose, {@link DELIBERATE} says where
 * and why; nothing else may differ.
 *
 * @module
 */

import { CONFORMANCE_FLASH_SIZE, CONFORMANCE_MAC, romCases } from "./conformance_cases.ts";
import { conformanceTests, type Deliberate } from "./support/conformance.ts";

/** The deliberate differences. Everything else the ROM does, the virtual chip must do. */
export const DELIBERATE: Deliberate[] = [
  {
    chips: ["esp32", "esp32c3"],
    case: /./,
    step: /^boot$/,
    fields: ["text"],
    reason: "boot mode: the emulator straps UART-only download (ESP32 0x0f " +
      "'UART_BOOT(UART0)', ESP32-C3 0x02 'UART0_BOOT' + 'wait uart0 download'); the virtual chip " +
      "models a DevKit whose auto-reset pulls IO0/GPIO9 low (ESP32 0x3 'DOWNLOAD_BOOT…', C3 0x5 " +
      "'DOWNLOAD(USB/UART0/1)') and prints 'waiting for download', which clients look for. " +
      "The ROM banner's first line and the reset cause are compared (see bootMatches).",
  },
  {
    chips: ["esp32", "esp32c3"],
    case: /unmapped READ_REG|unknown opcodes|FLASH_END asks/,
    step: /READ_REG 0x4$|frame of 7 bytes|FLASH_END run/,
    fields: ["text"],
    reason: "the ESP32-C3's Guru Meditation dump: the first line is compared; the register " +
      "and stack dump that follows is the emulated CPU's state, which the virtual chip does " +
      "not have.",
  },
  {
    chips: ["esp32", "esp32c3"],
    case: /before SPI_ATTACH/,
    step: /^(SPI_FLASH_MD5 0\+0x1000|READ_FLASH_SLOW 0\+16|FLASH_BEGIN 0x1000 at 0x20000)$/,
    fields: "skip",
    reason:
      "the emulated ROMs serve flash commands before SPI_ATTACH (the emulator's flash needs " +
      "no pin setup); on silicon the flash pins are not configured yet in UART download boot. " +
      "The virtual chip answers FAILED_TO_ACT (0x06) so that a client that skips SPI_ATTACH fails " +
      "in tests, not on a board.",
  },
];

for (const chip of ["esp32", "esp32c3"] as const) {
  conformanceTests({
    name: `ROM conformance, ${chip}`,
    chip,
    fixture: new URL(`./fixtures/rom/${chip}.json`, import.meta.url),
    cases: romCases(chip),
    deliberate: DELIBERATE,
    statusBytes: 4,
    mac: CONFORMANCE_MAC[chip],
    flashSize: CONFORMANCE_FLASH_SIZE,
  });
}
