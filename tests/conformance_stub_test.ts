/**
 * Conformance of the virtual chip's flasher stub model against the genuine
 * stubs running on the emulated ESP32: the one in the esptool-js package
 * (which espline uploads) and esptool 5.3.1's default; both turned out to be
 * esp-flasher-stub builds and answer alike. Not on the ESP32-C3: see
 * STUB_TARGETS in tests/conformance_cases.ts.
 *
 * The stubs' own bytes are never stored: the fixtures hold what was sent
 * after the upload and what came back. Replays upload the esptool-js stub
 * from the npm package, or a stand-in for esptool's (the virtual chip takes
 * any executed upload for esp-flasher-stub).
 *
 * @module
 */

import {
  CONFORMANCE_FLASH_SIZE,
  CONFORMANCE_MAC,
  STUB_TARGETS,
  stubCases,
} from "./conformance_cases.ts";
import { conformanceTests, type Deliberate } from "./support/conformance.ts";
import { emulator, esptool } from "./support/external.ts";

/** The deliberate differences between the stub model and the genuine stubs. */
export const DELIBERATE: Deliberate[] = [
  {
    chips: ["esp32"],
    case: /./,
    step: /^boot$/,
    fields: ["text"],
    reason: "the ROM's boot-mode line before the upload: see the same entry in " +
      "tests/conformance_rom_test.ts (emulator strap vs. DevKit strap).",
  },
];

for (const { chip, kind } of STUB_TARGETS) {
  conformanceTests(
    {
      name: `stub conformance, ${kind} stub on ${chip}`,
      chip,
      fixture: new URL(`./fixtures/rom/${chip}-stub-${kind}.json`, import.meta.url),
      cases: stubCases(chip, kind),
      deliberate: DELIBERATE,
      statusBytes: 2,
      mac: CONFORMANCE_MAC[chip],
      flashSize: CONFORMANCE_FLASH_SIZE,
    },
    kind === "esptool-js" ? [emulator()] : [emulator(), esptool()],
  );
}
