import assert from "node:assert/strict";
import { openSimPort } from "../lib/sim/sim_port.ts";
import type { SimChipKey } from "../lib/sim/virtual_chip.ts";
import { LoaderSession } from "../lib/loader/session.ts";
import { readChipInfo, readFlashInfo } from "../lib/loader/info.ts";

const CHIPS: SimChipKey[] = [
  "esp8266",
  "esp32",
  "esp32s2",
  "esp32s3",
  "esp32c2",
  "esp32c3",
  "esp32c5",
  "esp32c6",
  "esp32h2",
  "esp32p4",
];

for (const chip of CHIPS) {
  Deno.test(`detects ${chip} and reads its MAC and flash id through the ROM`, async () => {
    const mac = "02:aa:bb:cc:dd:" + (CHIPS.indexOf(chip) + 16).toString(16);
    const port = openSimPort({ chip, mac, flashSize: 8 * 1024 * 1024 });
    const s = await LoaderSession.connect(port, { connectAttempts: 2 });
    try {
      assert.equal(s.chip.key, chip);
      const info = await readChipInfo(s);
      assert.equal(info.mac, mac);
      console.log(chip, info.description, info.features.join(", "), info.crystalMhz);
      const flash = await readFlashInfo(s);
      assert.equal(flash.size, 8 * 1024 * 1024);
    } finally {
      await s.close();
    }
  });
}
