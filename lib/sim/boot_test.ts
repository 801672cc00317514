import assert from "node:assert/strict";
import { type BootContext, bootFromFlash } from "./boot.ts";
import { chipFacts, type SimChipKey } from "./chip_facts.ts";
import { firmwareRegions } from "./factory_firmware.ts";
import { buildImage, buildPartitionTable, otaCrc32, PART } from "./image_format.ts";

const SIZE = 4 * 1024 * 1024;
// deno-lint-ignore no-control-regex
const plain = (t: string) => t.replace(/\x1b\[[0-9;]*m/g, "");

function flashWith(chip: SimChipKey, edit?: (flash: Uint8Array) => void): Uint8Array {
  const flash = new Uint8Array(SIZE).fill(0xff);
  for (const r of firmwareRegions(chipFacts(chip), { projectName: "blink", version: "2.1" })) {
    flash.set(r.data, r.address);
  }
  edit?.(flash);
  return flash;
}

function boot(
  chip: SimChipKey,
  flash: Uint8Array,
  rev = { major: 0, minor: 4 },
  appLines = ["hi {mac} {project}"],
) {
  const ctx: BootContext = {
    facts: chipFacts(chip),
    flash,
    revision: rev,
    mac: "02:00:00:00:00:01",
    appLines,
  };
  const r = bootFromFlash(ctx);
  return { ...r, text: plain(r.text) };
}

Deno.test("a valid firmware boots: ROM lines, partition table, app descriptor, app_main, declared lines", () => {
  const r = boot("esp32c3", flashWith("esp32c3"));
  assert.equal(r.end.kind, "app");
  assert.match(r.text, /^SPIWP:0xee\r\nmode:DIO, clock div:2\r\nload:0x[0-9a-f]{8},len:0x50\r\n/);
  assert.match(r.text, /boot: ESP-IDF v5\.3\.1 2nd stage bootloader/);
  assert.ok(r.text.includes("boot:  2 factory          factory app      00 00 00010000 00100000"));
  assert.match(r.text, /boot: Loaded app from partition at offset 0x10000/);
  assert.ok(r.text.includes("app_init: Project name:     blink\r\n"));
  assert.ok(r.text.includes("app_init: App version:      2.1\r\n"));
  assert.ok(r.text.includes("app_init: ESP-IDF:          v5.3.1\r\n"));
  assert.match(r.text, /main_task: Calling app_main\(\)\r\nhi 02:00:00:00:00:01 blink\r\n$/);
});

Deno.test("an erased app partition: ESP-IDF's refusal, then a software reset", () => {
  const r = boot("esp32c3", flashWith("esp32c3", (f) => f.fill(0xff, 0x10000, 0x20000)));
  assert.deepEqual(r.end, {
    kind: "reboot",
    afterMs: r.end.kind === "reboot" ? r.end.afterMs : 0,
    cause: "software",
  });
  assert.match(r.text, /E \(\d+\) esp_image: image at 0x10000 has invalid magic byte/);
  assert.match(r.text, /W \(\d+\) esp_image: image at 0x10000 has invalid SPI mode 255/);
  assert.match(r.text, /E \(\d+\) boot: Factory app partition is not bootable/);
  assert.match(r.text, /E \(\d+\) boot: No bootable app partitions in the partition table/);
  assert.doesNotMatch(r.text, /app_main/);
});

Deno.test("an app built for another chip, a corrupt app and a too-new app are refused", () => {
  const esp32App = firmwareRegions(chipFacts("esp32"))[2].data;
  const wrong = boot("esp32c3", flashWith("esp32c3", (f) => f.set(esp32App, 0x10000)));
  assert.match(wrong.text, /boot_comm: mismatch chip ID, expected 5, found 0/);
  const corrupt = boot("esp32c3", flashWith("esp32c3", (f) => f[0x10000 + 0x40] ^= 1));
  assert.match(
    corrupt.text,
    /esp_image: Checksum failed\. Calculated 0x[0-9a-f]{2} read 0x[0-9a-f]{2}/,
  );
  const newer = flashWith("esp32c3", (f) => {
    f[0x10000 + 15] = 100; // min_chip_rev_full = v1.0
  });
  assert.match(boot("esp32c3", newer).text, /Image requires chip rev >= v1\.0, but chip is v0\.4/);
});

Deno.test("a partition table with a bad MD5 or no magic stops the bootloader", () => {
  const md5 = boot("esp32c3", flashWith("esp32c3", (f) => f[0x8000 + 0x20 + 4] ^= 1));
  assert.match(
    md5.text,
    /flash_parts: Incorrect MD5 checksum\r\n[\s\S]*boot: load partition table error!/,
  );
  assert.equal(md5.end.kind, "reboot");
  const gone = boot("esp32c3", flashWith("esp32c3", (f) => f.fill(0, 0x8000, 0x8020)));
  assert.match(gone.text, /flash_parts: partition 0 invalid magic number 0x0/);
});

Deno.test("OTA data picks the slot: sequence 2 of two slots boots ota_1", () => {
  const facts = chipFacts("esp32c3");
  const [bootloader, , app] = firmwareRegions(facts, { projectName: "ota-app" });
  const table = buildPartitionTable([
    {
      label: "otadata",
      type: PART.DATA,
      subtype: PART.DATA_OTA,
      offset: 0xd000,
      size: 0x2000,
      flags: 0,
    },
    {
      label: "ota_0",
      type: PART.APP,
      subtype: PART.OTA_0,
      offset: 0x10000,
      size: 0x100000,
      flags: 0,
    },
    {
      label: "ota_1",
      type: PART.APP,
      subtype: PART.OTA_0 + 1,
      offset: 0x110000,
      size: 0x100000,
      flags: 0,
    },
  ]);
  const flash = new Uint8Array(SIZE).fill(0xff);
  flash.set(bootloader.data, 0);
  flash.set(table, 0x8000);
  flash.set(app.data, 0x10000);
  flash.set(app.data, 0x110000);
  const seq = Uint8Array.from([2, 0, 0, 0]);
  const entry = new Uint8Array(32).fill(0xff);
  entry.set(seq, 0);
  new DataView(entry.buffer).setUint32(28, otaCrc32(seq), true);
  flash.set(entry, 0xd000);
  assert.match(plain(boot("esp32c3", flash).text), /Loaded app from partition at offset 0x110000/);
  flash.fill(0xff, 0xd000, 0xf000); // blank OTA data: the first slot
  assert.match(plain(boot("esp32c3", flash).text), /Loaded app from partition at offset 0x10000/);
});

Deno.test("the ROM stage: erased flash, wrong-chip bootloader, bad checksum, bad SHA-256", () => {
  const erasedC3 = boot("esp32c3", new Uint8Array(SIZE).fill(0xff));
  assert.deepEqual(erasedC3.end, { kind: "repeat", line: "invalid header: 0xffffffff\r\n" });
  const erased32 = boot("esp32", new Uint8Array(SIZE).fill(0xff));
  assert.equal(erased32.text, "flash read err, 1000\r\nets_main.c 371 \r\n");
  assert.deepEqual(erased32.end, { kind: "reboot", afterMs: 1000, cause: "watchdog" });
  const esp32Boot = firmwareRegions(chipFacts("esp32"))[0].data;
  const wrong = boot("esp32c3", flashWith("esp32c3", (f) => f.set(esp32Boot, 0)));
  assert.equal(
    wrong.text,
    "Invalid chip id. Expected 5 read 0. Bootloader for wrong chip?\r\nets_main.c 333 \r\n",
  );
  assert.equal(wrong.end.kind, "halt");
  const sum = boot("esp32c3", flashWith("esp32c3", (f) => f[0x20] ^= 1));
  assert.match(
    sum.text,
    /Checksum failure\. Calculated 0x[0-9a-f]{2} stored 0x[0-9a-f]{2}\r\nets_main\.c 333 \r\n$/,
  );
  const sum32 = boot("esp32", flashWith("esp32", (f) => f[0x1020] ^= 1), { major: 3, minor: 0 });
  assert.match(
    sum32.text,
    /csum err:0x[0-9a-f]{2}!=0x[0-9a-f]{2}\r\nFalling back to built-in command interpreter\.\r\nOK\r\n>$/,
  );
  assert.equal(sum32.end.kind, "console");
  const bootLen = firmwareRegions(chipFacts("esp32c3"))[0].data.length;
  const sha = boot("esp32c3", flashWith("esp32c3", (f) => f[bootLen - 1] ^= 1));
  assert.match(
    sha.text,
    /SHA-256 comparison failed:\r\nCalculated: [0-9a-f]{64}\r\nExpected: [0-9a-f]{64}\r\nAttempting to boot anyway\.\.\.\r\nentry/,
  );
  assert.equal(sha.end.kind, "app");
});

Deno.test("an image built by buildImage has the layout esptool reads (checksum ends a 16-byte block, digest after)", () => {
  const img = buildImage({
    chipId: 5,
    entry: 0x40380000,
    segments: [{ addr: 0x3fc80000, data: new Uint8Array(5) }],
  });
  assert.equal(img[0], 0xe9);
  assert.equal((img.length - 32) % 16, 0);
  assert.equal(img[23], 1, "hash appended");
});
