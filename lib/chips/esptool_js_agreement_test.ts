/**
 * A second reading of the same eFuse facts: esptool-js 0.7.0 (npm, pinned in
 * deno.json) decodes MAC, revision and package from the same registers. For
 * many pseudo-random register images, our readers must agree with it where
 * esptool-js follows esptool v5.1.0. Where esptool-js is known to lag (ESP32
 * description format, ESP32-C2/C6 revision layout, ESP8285 variants, feature
 * wording), only the MAC is compared; the per-chip tests pin esptool's output.
 */
import assert from "node:assert/strict";
import { CHIPS, formatMac } from "./index.ts";
import type { ReadReg } from "./types.ts";

/** esptool-js class name per family, and whether its revision/description follow esptool v5.1.0. */
const ESPTOOL_JS: Record<string, { cls: string; fullAgreement: boolean }> = {
  esp8266: { cls: "ESP8266ROM", fullAgreement: false },
  esp32: { cls: "ESP32ROM", fullAgreement: false },
  esp32s2: { cls: "ESP32S2ROM", fullAgreement: true },
  esp32s3: { cls: "ESP32S3ROM", fullAgreement: true },
  esp32c2: { cls: "ESP32C2ROM", fullAgreement: false },
  esp32c3: { cls: "ESP32C3ROM", fullAgreement: true },
  esp32c5: { cls: "ESP32C5ROM", fullAgreement: true },
  esp32c6: { cls: "ESP32C6ROM", fullAgreement: false },
  esp32h2: { cls: "ESP32H2ROM", fullAgreement: true },
  esp32p4: { cls: "ESP32P4ROM", fullAgreement: true },
};

interface EsptoolJsRom {
  readMac(loader: unknown): Promise<string>;
  getChipDescription(loader: unknown): Promise<string>;
  getMajorChipVersion?(loader: unknown): Promise<number>;
  getMinorChipVersion?(loader: unknown): Promise<number>;
}

/** A deterministic 32-bit mix of address and seed, so every register holds varied bits. */
function scramble(address: number, seed: number): number {
  let x = (address ^ Math.imul(seed, 0x9e3779b1)) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b) >>> 0;
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

const SEEDS = 200;

for (const chip of CHIPS) {
  const entry = ESPTOOL_JS[chip.key];
  Deno.test(`${chip.name} readers agree with esptool-js 0.7.0`, async () => {
    assert.ok(entry, `no esptool-js class listed for ${chip.key}`);
    const mod = await import(`esptool-js/lib/targets/${chip.key}.js`);
    const Rom = mod[entry.cls] as new () => EsptoolJsRom;
    const rom = new Rom();
    for (let seed = 1; seed <= SEEDS; seed++) {
      const readReg: ReadReg = (address) => Promise.resolve(scramble(address, seed));
      const loader = { readReg, transport: { baudrate: 115200 }, info() {}, debug() {} };
      if (chip.key === "esp8266") {
        // esptool-js has no "unknown OUI" check; compare only images with a known OUI.
        const mac = await chip.readMac(readReg).catch(() => null);
        if (mac) assert.equal(formatMac(mac), await rom.readMac(loader), `seed ${seed}`);
        continue;
      }
      assert.equal(
        formatMac(await chip.readMac(readReg)),
        await rom.readMac(loader),
        `seed ${seed}`,
      );
      if (!entry.fullAgreement) continue;
      assert.equal(
        (await chip.readDescription(readReg)).toLowerCase(),
        (await rom.getChipDescription(loader)).toLowerCase(),
        `seed ${seed}`,
      );
      if (rom.getMajorChipVersion && rom.getMinorChipVersion) {
        assert.deepEqual(await chip.readRevision(readReg), {
          major: await rom.getMajorChipVersion(loader),
          minor: await rom.getMinorChipVersion(loader),
        }, `seed ${seed}`);
      }
    }
  });
}
