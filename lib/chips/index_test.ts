import assert from "node:assert/strict";
import { EsplineError, UsageError } from "../errors.ts";
import {
  CHIP_DETECT_MAGIC_REG_ADDR,
  chipByImageId,
  chipByKey,
  chipByMagic,
  CHIPS,
  flashSizeFromCapacity,
  flashSizeFromJedec,
  formatFlashSize,
  formatMac,
} from "./index.ts";

Deno.test("every magic value maps back to its own family and none is shared", () => {
  const seen = new Map<number, string>();
  for (const chip of CHIPS) {
    assert.ok(chip.magicValues.length > 0, `${chip.name} has no magic value`);
    for (const magic of chip.magicValues) {
      const owner = seen.get(magic >>> 0);
      assert.equal(owner, undefined, `0x${magic.toString(16)} shared by ${owner} and ${chip.name}`);
      seen.set(magic >>> 0, chip.name);
      assert.equal(chipByMagic(magic)?.key, chip.key);
    }
  }
  assert.equal(chipByMagic(0xdeadbeef), null);
  assert.equal(CHIP_DETECT_MAGIC_REG_ADDR, 0x40001000);
});

Deno.test("known magic values from esptool pick the right family", () => {
  assert.equal(chipByMagic(0x00f01d83)?.name, "ESP32");
  assert.equal(chipByMagic(0x00000009)?.name, "ESP32-S3");
  assert.equal(chipByMagic(0x1b31506f)?.name, "ESP32-C3");
  // READ_REG values may arrive as signed 32-bit numbers.
  assert.equal(chipByMagic(0x6921506f | 0)?.name, "ESP32-C3");
});

Deno.test("keys, names and image ids are unique", () => {
  const keys = new Set(CHIPS.map((c) => c.key));
  const names = new Set(CHIPS.map((c) => c.name));
  const ids = CHIPS.map((c) => c.imageChipId).filter((id) => id !== null);
  assert.equal(keys.size, CHIPS.length);
  assert.equal(names.size, CHIPS.length);
  assert.equal(new Set(ids).size, ids.length);
  for (const chip of CHIPS) {
    if (chip.imageChipId !== null) assert.equal(chipByImageId(chip.imageChipId), chip);
  }
  assert.equal(chipByImageId(9)?.key, "esp32s3");
  assert.equal(chipByImageId(0x7777), null);
});

Deno.test("chipByKey accepts key, display name and dashed lower case", () => {
  for (const spelling of ["esp32s3", "ESP32-S3", "esp32-s3", " Esp32_S3 "]) {
    assert.equal(chipByKey(spelling).key, "esp32s3", spelling);
  }
  assert.equal(chipByKey("ESP32").key, "esp32");
  assert.equal(chipByKey("esp32-c3").key, "esp32c3");
});

Deno.test("chipByKey rejects an unknown chip and lists the valid keys", () => {
  assert.throws(
    () => chipByKey("esp31"),
    (err: unknown) => {
      assert.ok(err instanceof UsageError);
      assert.ok(err instanceof EsplineError);
      assert.equal(err.code, "E_UNKNOWN_CHIP");
      assert.match(err.message, /esp31/);
      for (const chip of CHIPS) assert.match(err.message, new RegExp(`\\b${chip.key}\\b`));
      return true;
    },
  );
});

Deno.test("flash size from the JEDEC id", () => {
  // Winbond W25Q32: manufacturer 0xEF, type 0x40, capacity 0x16.
  assert.equal(flashSizeFromJedec(0x1640ef), 4 * 1024 * 1024);
  // GigaDevice GD25Q128: capacity 0x18.
  assert.equal(flashSizeFromJedec(0x1840c8), 16 * 1024 * 1024);
  // XMC 0x39 capacity code = 32MB.
  assert.equal(flashSizeFromJedec(0x394020), 32 * 1024 * 1024);
  // Adesto AT25SF041: manufacturer 0x1F, density code in low 5 bits of byte 1 (0x84 → 4 = 512KB).
  assert.equal(flashSizeFromJedec(0x01841f), 512 * 1024);
  assert.equal(flashSizeFromJedec(0xffffff), null);
  assert.equal(flashSizeFromJedec(0x000000), null);
  assert.equal(flashSizeFromCapacity(0x16), 4 * 1024 * 1024);
  assert.equal(flashSizeFromCapacity(0x12), 256 * 1024);
  assert.equal(flashSizeFromCapacity(0x99), null);
});

Deno.test("formatFlashSize and formatMac print as esptool does", () => {
  assert.equal(formatFlashSize(4 * 1024 * 1024), "4MB");
  assert.equal(formatFlashSize(128 * 1024 * 1024), "128MB");
  assert.equal(formatFlashSize(256 * 1024), "256KB");
  assert.equal(formatFlashSize(512 * 1024), "512KB");
  assert.equal(formatMac(Uint8Array.of(0xaa, 0xbb, 0x0c, 0x01, 0x02, 0xff)), "aa:bb:0c:01:02:ff");
});

Deno.test("every stub name is a flasher stub shipped in esptool-js 0.7.0", async () => {
  const names = new Set<string>();
  for (const chip of CHIPS) {
    if (chip.stubName) names.add(chip.stubName);
    for (const major of [0, 1, 2, 3]) {
      const name = chip.stubNameForRevision?.({ major, minor: 1 });
      if (name) names.add(name);
    }
  }
  assert.ok(names.has("esp32p4-rev1"));
  for (const name of names) {
    const mod = await import(`esptool-js/lib/targets/stub_flasher/${name}.json`, {
      with: { type: "json" },
    });
    const stub = mod.default as { text?: unknown; entry?: unknown };
    assert.equal(typeof stub.text, "string", name);
    assert.equal(typeof stub.entry, "number", name);
  }
});

Deno.test("bootloader offsets per family match esptool", () => {
  const offsets = Object.fromEntries(CHIPS.map((c) => [c.key, c.bootloaderOffset]));
  assert.deepEqual(offsets, {
    esp8266: 0x0,
    esp32: 0x1000,
    esp32s2: 0x1000,
    esp32s3: 0x0,
    esp32c2: 0x0,
    esp32c3: 0x0,
    esp32c5: 0x2000,
    esp32c6: 0x0,
    esp32h2: 0x0,
    esp32p4: 0x2000,
  });
  const withChipId = CHIPS.filter((c) => c.securityInfoHasChipId).map((c) => c.key);
  assert.deepEqual(withChipId, [
    "esp32s3",
    "esp32c2",
    "esp32c3",
    "esp32c5",
    "esp32c6",
    "esp32h2",
    "esp32p4",
  ]);
  for (const chip of CHIPS) {
    assert.equal(chip.rom.flashWriteSize, 0x400, chip.name);
    assert.equal(chip.rom.compressedWrites, chip.key !== "esp8266", chip.name);
    // The 20-byte FLASH_BEGIN: every ROM but the ESP8266's and the ESP32's (esptool flash_begin).
    assert.equal(
      chip.rom.beginTakesEncryptFlag,
      chip.key !== "esp8266" && chip.key !== "esp32",
      chip.name,
    );
    for (const region of chip.memoryMap) assert.ok(region.end > region.start, region.name);
  }
});
