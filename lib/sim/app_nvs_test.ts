import assert from "node:assert/strict";
import { bootFromFlash } from "./boot.ts";
import { chipFacts, type SimChipKey } from "./chip_facts.ts";
import { firmwareRegions } from "./factory_firmware.ts";
import { buildPartitionTable, PART, PARTITION_TABLE_OFFSET } from "./image_format.ts";
import { parseNvsRef } from "./app_nvs.ts";
import { simOptionsFromUrl } from "./sim_port.ts";
import { SimError } from "./sim_error.ts";

const SIZE = 4 * 1024 * 1024;
/** Where the factory firmware's table puts the nvs partition (0x6000 bytes). */
const NVS_AT = 0x9000;
// deno-lint-ignore no-control-regex
const plain = (t: string) => t.replace(/\x1b\[[0-9;]*m/g, "");
// An image ESP-IDF's NVS generator wrote: namespace "storage" with every type (types.csv).
const TYPES = await Deno.readFile(
  new URL("../../tests/fixtures/nvs/out/types.bin", import.meta.url),
);

function flashWith(nvs: Uint8Array | null, chip: SimChipKey = "esp32c3"): Uint8Array {
  const flash = new Uint8Array(SIZE).fill(0xff);
  for (const r of firmwareRegions(chipFacts(chip))) flash.set(r.data, r.address);
  if (nvs) flash.set(nvs, NVS_AT);
  return flash;
}

/** What the app prints after app_main(), colours removed. */
function appOutput(flash: Uint8Array, appLines: string[], chip: SimChipKey = "esp32c3"): string {
  const r = bootFromFlash({
    facts: chipFacts(chip),
    flash,
    revision: { major: 0, minor: 4 },
    mac: "02:00:00:00:00:01",
    appLines,
  });
  const text = plain(r.text);
  const at = text.indexOf("Calling app_main()\r\n");
  return at < 0 ? text : text.slice(at + "Calling app_main()\r\n".length);
}

Deno.test("app NVS: {nvs:NS/KEY} prints the string from the board's NVS partition; typed placeholders use that getter", () => {
  const out = appOutput(flashWith(TYPES), [
    "serial {nvs:storage/str} on {chip}",
    "{nvs:storage/utf8}",
    "u8 {nvs:storage/u8_max:u8} i8 {nvs:storage/i8_min:i8} u32 {nvs:storage/u32_max:u32}",
    "i64 {nvs:storage/i64_min:i64} u64 {nvs:storage/u64_max:u64}",
    "blob {nvs:storage/hex:blob}",
  ]);
  assert.equal(
    out,
    "serial hello world on ESP32-C3\r\n" +
      "grüße ✓ 日本\r\n" +
      "u8 255 i8 -128 u32 4294967295\r\n" +
      "i64 -9223372036854775808 u64 18446744073709551615\r\n" +
      "blob deadbeef0001\r\n",
  );
});

Deno.test("app NVS: a missing key, a key of another type, or a missing namespace is logged as the IDF app logs it, never a value", () => {
  const out = appOutput(flashWith(TYPES), [
    "a {nvs:storage/serial_no}",
    "b {nvs:storage/u8_max}",
    "c {nvs:factory/serial_no}",
    "d {nvs:storage/str}",
  ]);
  const lines = out.split("\r\n");
  assert.match(lines[0], /^E \(\d+\) app: nvs_get_str\(serial_no\) failed: ESP_ERR_NVS_NOT_FOUND$/);
  assert.match(lines[1], /^E \(\d+\) app: nvs_get_str\(u8_max\) failed: ESP_ERR_NVS_NOT_FOUND$/);
  assert.match(lines[2], /^E \(\d+\) app: nvs_open\(factory\) failed: ESP_ERR_NVS_NOT_FOUND$/);
  assert.equal(lines[3], "d hello world");
  assert.doesNotMatch(out, /^[abc] /m);
});

Deno.test("app NVS: an erased partition, a partition table without nvs, and a damaged value", () => {
  const erased = appOutput(flashWith(null), ["serial {nvs:factory/serial_no}"]);
  assert.match(erased, /^E \(\d+\) app: nvs_open\(factory\) failed: ESP_ERR_NVS_NOT_FOUND\r\n$/);

  const noNvs = flashWith(TYPES);
  noNvs.fill(0xff, PARTITION_TABLE_OFFSET, PARTITION_TABLE_OFFSET + 0xc00);
  noNvs.set(
    buildPartitionTable([
      {
        label: "factory",
        type: PART.APP,
        subtype: PART.FACTORY,
        offset: 0x10000,
        size: 0x100000,
        flags: 0,
      },
      // data/nvs, but not the partition nvs_flash_init() opens
      {
        label: "fctry",
        type: PART.DATA,
        subtype: PART.DATA_NVS,
        offset: NVS_AT,
        size: 0x6000,
        flags: 0,
      },
    ]),
    PARTITION_TABLE_OFFSET,
  );
  const missing = appOutput(noNvs, ["serial {nvs:storage/str}", "again {nvs:storage/str}"]);
  assert.equal(
    missing.replace(/\(\d+\)/g, "(T)"),
    "E (T) app: nvs_flash_init failed: ESP_ERR_NOT_FOUND\r\n" +
      "E (T) app: nvs_open(storage) failed: ESP_ERR_NVS_NOT_INITIALIZED\r\n" +
      "E (T) app: nvs_open(storage) failed: ESP_ERR_NVS_NOT_INITIALIZED\r\n",
  );

  const damaged = TYPES.slice();
  const at = new TextDecoder("latin1").decode(damaged).indexOf("hello world");
  damaged[at] ^= 0x20;
  assert.match(
    appOutput(flashWith(damaged), ["serial {nvs:storage/str}"]),
    /^E \(\d+\) app: nvs_get_str\(str\) failed: ESP_ERR_NVS_NOT_FOUND\r\n$/,
  );
});

Deno.test("app NVS: lines without {nvs:…} do not touch NVS; the ESP8266 app reads it too", () => {
  // No nvs partition at all, and no NVS line: nothing about NVS is printed.
  assert.equal(appOutput(flashWith(null), ["hi {mac}"]), "hi 02:00:00:00:00:01\r\n");
  // The ESP8266 model boots any image at 0; its partition table sits where ESP-IDF's does.
  const flash = new Uint8Array(SIZE).fill(0xff);
  flash[0] = 0xe9;
  flash.set(firmwareRegions(chipFacts("esp32c3"))[1].data, PARTITION_TABLE_OFFSET);
  flash.set(TYPES, NVS_AT);
  assert.equal(appOutput(flash, ["s={nvs:storage/str}"], "esp8266"), "s=hello world\r\n");
});

Deno.test("sim URL: app= lines may read NVS; a malformed {nvs:…} is a usage error saying how to write it", () => {
  const opts = simOptionsFromUrl("sim://esp32c3?app=serial%20{nvs:factory/serial_no}&app=x");
  assert.deepEqual(opts.appOutput, ["serial {nvs:factory/serial_no}", "x"]);
  assert.deepEqual(parseNvsRef("factory/hw_rev:u8"), {
    namespace: "factory",
    key: "hw_rev",
    type: "u8",
  });
  assert.deepEqual(parseNvsRef("f/a:b"), { namespace: "f", key: "a:b", type: "str" });
  for (
    const [bad, says] of [
      ["{nvs:serial_no}", /names no namespace: write \{nvs:NAMESPACE\/KEY\}/],
      ["{nvs:factory/}", /the key "" must be 1 to 15 characters/],
      ["{nvs:a_namespace_too_long/k}", /the namespace "a_namespace_too_long" must be 1 to 15/],
    ] as const
  ) {
    assert.throws(
      () => simOptionsFromUrl(`sim://esp32c3?app=${encodeURIComponent(bad)}`),
      (e: unknown) => e instanceof SimError && e.code === "E_USAGE" && says.test(e.message),
      bad,
    );
  }
});
