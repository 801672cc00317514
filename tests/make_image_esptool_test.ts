/**
 * Images built by makeImage, read by esptool (a reading nobody here wrote):
 * header, chip, segments, checksum, SHA-256 and the application descriptor.
 */

import assert from "node:assert/strict";
import { appDescriptor, makeImage } from "../lib/image/make_image.ts";
import { chipByKey } from "../lib/chips/index.ts";
import { esptool, externalTest, runEsptool } from "./support/external.ts";

externalTest({
  name: "esptool image-info accepts makeImage's images for every chip with an extended header",
  needs: [esptool()],
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      for (const key of ["esp32", "esp32s3", "esp32c3", "esp32c6", "esp32h2"]) {
        const chip = chipByKey(key);
        const drom = chip.memoryMap.find((r) => r.name === "DROM")!;
        const image = makeImage({
          chip,
          segments: [
            {
              address: drom.start + 0x20,
              data: appDescriptor({ projectName: `mk-${key}`, built: new Date(0) }),
            },
            { address: drom.start + 0x1000, data: new Uint8Array(777).fill(5) },
          ],
          minRevision: 1,
        });
        await Deno.writeFile(`${dir}/${key}.bin`, image);
        const r = await runEsptool(["image-info", `${dir}/${key}.bin`]);
        assert.equal(r.code, 0, r.output);
        assert.match(r.output, new RegExp(`Chip ID: ${chip.imageChipId} \\(${chip.name}\\)`));
        assert.match(r.output, /Checksum: 0x[0-9a-f]{2} \(valid\)/);
        assert.match(r.output, /Validation hash: [0-9a-f]{64} \(valid\)/);
        assert.match(r.output, new RegExp(`Project name: mk-${key}`));
        assert.match(r.output, /Minimal chip revision: v0\.1/);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
