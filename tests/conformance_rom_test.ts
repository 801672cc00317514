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

import assert from "node:assert/strict";
import { CONFORMANCE_FLASH_SIZE, CONFORMANCE_MAC, romCases } from "./conformance_cases.ts";
import {
  compareAnswers,
  type ConformanceCase,
  fromHex,
  type MaskField,
  type Recording,
  recordOnRom,
  replayOnSim,
  toHex,
} from "./support/conformance.ts";
import { emulator, externalTest } from "./support/external.ts";
import type { RomChip } from "./support/rom.ts";

/** A known, intended difference between the virtual chip and the genuine ROM. */
export interface Deliberate {
  /** Chips it applies to. */
  chips: RomChip[];
  /** Case name. */
  case: RegExp;
  /** Step name; `boot` for the boot output. */
  step: RegExp;
  /** Fields left out of the comparison, or "skip" to leave the whole step out. */
  fields: MaskField[] | "skip";
  /** Why the virtual chip does not do what the genuine ROM does. */
  reason: string;
}

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
];

const FIXTURE_DIR = new URL("./fixtures/rom/", import.meta.url);
const RECORD = Deno.env.get("ESPLINE_RECORD_ROM") === "1";

async function loadFixture(chip: RomChip): Promise<Recording> {
  return JSON.parse(await Deno.readTextFile(new URL(`${chip}.json`, FIXTURE_DIR)));
}

function deliberateFor(chip: RomChip, caseName: string, step: string): Deliberate | undefined {
  return DELIBERATE.find((d) =>
    d.chips.includes(chip) && d.case.test(caseName) && d.step.test(step)
  );
}

/** First line and reset cause of a boot log (what must match under the boot-mode exception). */
function bootKey(text: string): string {
  const first = text.split("\r\n").find((l) => l.length > 0) ?? "";
  const rst = /rst:0x[0-9a-f]+ \([A-Z_]+\)/.exec(text)?.[0] ?? "";
  return `${first} | ${rst}`;
}

/** Compare one case's genuine recording with the virtual chip's answers; returns the differences. */
async function compareCase(
  chip: RomChip,
  recording: Recording,
  def: ConformanceCase,
  index: number,
): Promise<string[]> {
  const rec = recording.cases[index];
  const sim = await replayOnSim(recording, { steps: rec.steps, flash: def.flash });
  const diffs: string[] = [];
  const bootDeliberate = deliberateFor(chip, rec.name, "boot");
  const bootSame = bootDeliberate ? bootKey(rec.boot) === bootKey(sim.boot) : rec.boot === sim.boot;
  if (!bootSame) {
    diffs.push(
      `${rec.name} / boot: ${JSON.stringify(rec.boot)} expected, ${JSON.stringify(sim.boot)} sent`,
    );
  }
  rec.steps.forEach((s, i) => {
    const d = deliberateFor(chip, rec.name, s.name);
    if (d?.fields === "skip") return;
    const mask = [...(def.steps[i].mask ?? []), ...(d ? d.fields as MaskField[] : [])];
    for (const why of compareAnswers(fromHex(s.answer), fromHex(sim.answers[i]), 4, mask)) {
      diffs.push(`${rec.name} / ${s.name}: ${why}`);
    }
  });
  return diffs;
}

/** The fixture still matches the cases in code (same steps, same bytes). */
function assertFixtureMatchesCases(
  chip: RomChip,
  recording: Recording,
  cases: ConformanceCase[],
): void {
  const hint = `tests/fixtures/rom/${chip}.json is out of date with tests/conformance_cases.ts: ` +
    "re-record with ESPLINE_RECORD_ROM=1 deno test -A tests/conformance_rom_test.ts (needs ../shared/emulator)";
  assert.deepEqual(recording.cases.map((c) => c.name), cases.map((c) => c.name), hint);
  cases.forEach((c, i) => {
    assert.deepEqual(
      recording.cases[i].steps.map((s) => s.request),
      c.steps.map((s) => toHex(s.send)),
      `${hint} (case "${c.name}")`,
    );
  });
}

for (const chip of ["esp32", "esp32c3"] as const) {
  Deno.test(`ROM conformance (replay of the recorded genuine ${chip} ROM): the virtual chip answers the same bytes`, async () => {
    const recording = await loadFixture(chip);
    const cases = romCases(chip);
    assertFixtureMatchesCases(chip, recording, cases);
    const diffs: string[] = [];
    for (let i = 0; i < cases.length; i++) {
      diffs.push(...await compareCase(chip, recording, cases[i], i));
    }
    assert.deepEqual(
      diffs,
      [],
      `the virtual ${chip} differs from the genuine ROM:\n${diffs.join("\n")}`,
    );
  });

  externalTest({
    name:
      `ROM conformance (live ${chip} ROM in the emulator): fixture and virtual chip agree with it`,
    needs: [emulator()],
    sanitizeResources: false,
    async fn() {
      const cases = romCases(chip);
      const recorded = RECORD ? undefined : await loadFixture(chip);
      const live = await recordOnRom(chip, cases, {
        mac: CONFORMANCE_MAC[chip],
        flashSize: CONFORMANCE_FLASH_SIZE,
        expect: recorded,
      });
      if (RECORD) {
        await Deno.writeTextFile(
          new URL(`${chip}.json`, FIXTURE_DIR),
          JSON.stringify(live, null, 2) + "\n",
        );
      }
      const fixture = recorded ?? live;
      // The genuine ROM answers today as it did when the fixture was recorded.
      const drift: string[] = [];
      live.cases.forEach((c, i) => {
        c.steps.forEach((s, j) => {
          const mask = cases[i].steps[j].mask ?? [];
          const d = deliberateFor(chip, c.name, s.name);
          const fields = [...mask, ...(d && d.fields !== "skip" ? d.fields : [])];
          for (
            const why of compareAnswers(
              fromHex(fixture.cases[i].steps[j].answer),
              fromHex(s.answer),
              4,
              fields,
            )
          ) {
            drift.push(`${c.name} / ${s.name}: ${why}`);
          }
        });
      });
      assert.deepEqual(
        drift,
        [],
        `the emulated ${chip} ROM no longer answers as recorded:\n${drift.join("\n")}`,
      );
      const diffs: string[] = [];
      for (let i = 0; i < cases.length; i++) {
        diffs.push(...await compareCase(chip, live, cases[i], i));
      }
      assert.deepEqual(
        diffs,
        [],
        `the virtual ${chip} differs from the genuine ROM:\n${diffs.join("\n")}`,
      );
    },
  });
}
