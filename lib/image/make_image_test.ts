import assert from "node:assert/strict";
import { appDescriptor, makeImage } from "./make_image.ts";
import { parseImage } from "./image.ts";
import { chipByKey, CHIPS } from "../chips/index.ts";
import { preflight } from "./preflight.ts";

Deno.test("makeImage builds an image parseImage reads back: chip, segments, checksum, SHA-256, app descriptor", () => {
  for (const chip of CHIPS.filter((c) => c.imageChipId !== null)) {
    const drom = chip.memoryMap.find((r) => r.name === "DROM")!;
    const code = new Uint8Array(1001).map((_, i) => (i * 37) & 0xff);
    const desc = appDescriptor({ projectName: "espline-test", version: "7.1" });
    const image = makeImage({
      chip,
      segments: [
        { address: drom.start + 0x20, data: desc },
        { address: drom.start + 0x10000, data: code },
      ],
      minRevision: 3,
    });
    const info = parseImage(image);
    assert.equal(info.chip, chip.key);
    assert.equal(info.segments.length, 2);
    assert.equal(info.segments[1].length, 1004, "padded to 4");
    assert.equal(info.checksum.valid, true, chip.key);
    assert.equal(info.sha256?.valid, true, chip.key);
    assert.equal(info.app?.projectName, "espline-test");
    assert.equal(info.app?.version, "7.1");
    assert.equal(info.extended?.minRev, 3);
    assert.equal(info.flashMode, "DIO");
  }
});

Deno.test("makeImage: an ESP8266 image has the short header and no digest", () => {
  const image = makeImage({
    chip: chipByKey("esp8266"),
    segments: [{ address: 0x40100000, data: new Uint8Array(64).fill(1) }],
  });
  const info = parseImage(image, { chip: "esp8266" });
  assert.equal(info.extended, null);
  assert.equal(info.checksum.valid, true);
  assert.equal(image.length % 16, 0);
});

Deno.test("a generated image is refused by pre-flight on another chip and accepted on its own", () => {
  const image = makeImage({
    chip: chipByKey("esp32"),
    segments: [{ address: 0x3f400020, data: appDescriptor() }],
  });
  const target = { revision: { major: 0, minor: 4 }, flashSize: 4 << 20 };
  const region = [{ address: 0x10000, data: image, name: "app.bin" }];
  assert.deepEqual(
    preflight(region, { chip: chipByKey("esp32c3"), ...target }).map((i) => i.code),
    ["E_IMAGE_CHIP"],
  );
  assert.deepEqual(preflight(region, { chip: chipByKey("esp32"), ...target }), []);
});
