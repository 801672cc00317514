import assert from "node:assert/strict";
import { crc32 } from "node:zlib";
import { initNvs, NVS_PAGE_BYTES, type NvsStorage } from "./nvs_reader.ts";

// Images ESP-IDF's NVS partition generator wrote (tests/fixtures/nvs/README.md).
const FIXTURES = new URL("../../tests/fixtures/nvs/out/", import.meta.url);
const fixture = (name: string) => Deno.readFile(new URL(`${name}.bin`, FIXTURES));
const text = (v: unknown) => new TextDecoder().decode(v as Uint8Array);
const hex = (v: unknown) =>
  Array.from(v as Uint8Array, (b) => b.toString(16).padStart(2, "0")).join("");

function opened(image: Uint8Array, readOnly = false): NvsStorage {
  const init = initNvs(image, { readOnly });
  assert.ok(init.ok, init.ok ? "" : init.error);
  return init.nvs;
}

/** Where the entry holding `key` starts (first match, any page). */
function entryOf(image: Uint8Array, key: string): number {
  const want = new TextEncoder().encode(`${key}\0`);
  for (let page = 0; page < image.length; page += NVS_PAGE_BYTES) {
    for (let at = page + 64; at < page + NVS_PAGE_BYTES; at += 32) {
      if (want.every((b, i) => image[at + 8 + i] === b)) return at;
    }
  }
  throw new Error(`no entry for ${key}`);
}

/** Recompute a page header's CRC (bytes 4..27) after an edit, as a writer would. */
function fixHeader(image: Uint8Array, page: number): void {
  const at = page * NVS_PAGE_BYTES;
  new DataView(image.buffer).setUint32(
    at + 28,
    crc32(image.subarray(at + 4, at + 28), 0xffffffff),
    true,
  );
}

Deno.test("nvs reader: every type of the generator's types.csv reads back through its getter", async () => {
  const nvs = opened(await fixture("types"));
  const ns = nvs.namespaceIndex("storage");
  assert.equal(ns, 1);
  const get = (key: string, type: Parameters<NvsStorage["get"]>[2]) => {
    const r = nvs.get(ns!, key, type);
    assert.ok(r.ok, `${key}: ${r.ok ? "" : r.error}`);
    return r.value;
  };
  assert.equal(get("u8_max", "u8"), 255);
  assert.equal(get("i8_min", "i8"), -128);
  assert.equal(get("u16_spaces", "u16"), 42);
  assert.equal(get("i16_min", "i16"), -32768);
  assert.equal(get("u32_max", "u32"), 4294967295);
  assert.equal(get("i32_neg1", "i32"), -1);
  assert.equal(get("u64_max", "u64"), 18446744073709551615n);
  assert.equal(get("i64_min", "i64"), -9223372036854775808n);
  assert.equal(text(get("str", "str")), "hello world");
  assert.equal(text(get("empty_str", "str")), "");
  assert.equal(text(get("utf8", "str")), "grüße ✓ 日本");
  assert.equal(hex(get("hex", "blob")), "deadbeef0001");
  assert.equal(text(get("b64", "blob")), "Hello, NVS!");
  assert.equal(text(get("bin", "blob")), "raw text");
  assert.equal((get("empty_bin", "blob") as Uint8Array).length, 0);
  assert.equal(get("key_exactly_15c", "u8"), 1);
});

Deno.test("nvs reader: a getter of another type, a missing key or namespace finds nothing", async () => {
  const nvs = opened(await fixture("types"));
  const ns = nvs.namespaceIndex("storage")!;
  assert.deepEqual(nvs.get(ns, "u8_max", "str"), { ok: false, error: "ESP_ERR_NVS_NOT_FOUND" });
  assert.deepEqual(nvs.get(ns, "u8_max", "u16"), { ok: false, error: "ESP_ERR_NVS_NOT_FOUND" });
  assert.deepEqual(nvs.get(ns, "str", "blob"), { ok: false, error: "ESP_ERR_NVS_NOT_FOUND" });
  assert.deepEqual(nvs.get(ns, "nope", "str"), { ok: false, error: "ESP_ERR_NVS_NOT_FOUND" });
  assert.equal(nvs.namespaceIndex("factory"), null);
});

Deno.test("nvs reader: blobs split over pages (version 2) and single-page blobs (version 1) read whole", async () => {
  const v1 = opened(await fixture("v1"));
  const ns1 = v1.namespaceIndex("v1")!;
  const blob = v1.get(ns1, "max_blob", "blob");
  assert.ok(blob.ok);
  assert.equal((blob.value as Uint8Array).length, 1984);
  assert.match(hex(blob.value), /^20fd240f37eb72c1.*94459$/);
  assert.equal(text((v1.get(ns1, "s", "str") as { value: Uint8Array }).value), "version one");
  // long.csv: a blob that takes chunks on several pages.
  const long = opened(await fixture("long"));
  const blobs = long.keys().filter((k) => k.type === "blob");
  assert.ok(blobs.length > 0);
  for (const k of blobs) {
    const r = long.get(long.namespaceIndex(k.namespace)!, k.key, "blob");
    assert.ok(r.ok && (r.value as Uint8Array).length > 0, k.key);
  }
  const image = await fixture("long");
  const big = blobs.map((k) => ({
    k,
    size: (long.get(long.namespaceIndex(k.namespace)!, k.key, "blob") as { value: Uint8Array })
      .value.length,
  })).sort((a, b) => b.size - a.size)[0];
  assert.ok(big.size > 4000, "a blob longer than a page");
  // Its second chunk's entry damaged: the whole blob is lost, not half of it.
  const want = new TextEncoder().encode(`${big.k.key}\0`);
  let chunkAt = -1;
  for (let at = 64; at < image.length && chunkAt < 0; at += 32) {
    if (
      image[at + 1] === 0x42 && image[at + 3] === 1 && want.every((b, i) => image[at + 8 + i] === b)
    ) {
      chunkAt = at;
    }
  }
  assert.ok(chunkAt > 0);
  image[chunkAt + 30] ^= 0xff; // inside the entry: its CRC no longer matches
  const damaged = opened(image);
  assert.deepEqual(damaged.get(damaged.namespaceIndex(big.k.namespace)!, big.k.key, "blob"), {
    ok: false,
    error: "ESP_ERR_NVS_NOT_FOUND",
  });
});

Deno.test("nvs reader: a damaged entry, damaged string data or a half-written entry is not read", async () => {
  const image = await fixture("types");
  const ns = opened(image).namespaceIndex("storage")!;
  const entry = image.slice();
  entry[entryOf(entry, "u8_max") + 24] = 7; // the value changed, the CRC not
  assert.deepEqual(opened(entry).get(ns, "u8_max", "u8"), {
    ok: false,
    error: "ESP_ERR_NVS_NOT_FOUND",
  });
  assert.ok(opened(entry).get(ns, "u8_min", "u8").ok, "the others are still there");
  const data = image.slice();
  data[entryOf(data, "str") + 32] ^= 0x20; // "hello" → "Hello": the data CRC does not match
  assert.deepEqual(opened(data).get(ns, "str", "str"), {
    ok: false,
    error: "ESP_ERR_NVS_NOT_FOUND",
  });
  // The string's data entry marked empty in the bitmap: a write cut short.
  const half = image.slice();
  const i = (entryOf(half, "str") - 64) / 32 + 1;
  half[32 + (i >> 2)] |= 0b11 << ((i & 3) * 2);
  assert.deepEqual(opened(half).get(ns, "str", "str"), {
    ok: false,
    error: "ESP_ERR_NVS_NOT_FOUND",
  });
});

Deno.test("nvs reader: erased, corrupt-header, newer-format and full partitions as nvs_flash_init sees them", async () => {
  const erased = initNvs(new Uint8Array(0x6000).fill(0xff));
  assert.ok(erased.ok);
  assert.equal(erased.nvs.namespaceIndex("factory"), null);
  assert.deepEqual(erased.nvs.keys(), []);

  const image = await fixture("types");
  const header = image.slice();
  header[4] ^= 1; // the sequence number, under the header CRC
  const corrupt = opened(header);
  assert.equal(corrupt.namespaceIndex("storage"), null, "a corrupt page's entries are not read");

  const newer = image.slice();
  newer[8] = 0xfd; // format version 3
  fixHeader(newer, 0);
  assert.deepEqual(initNvs(newer), { ok: false, error: "ESP_ERR_NVS_NEW_VERSION_FOUND" });

  // One page holding data and no free page: a writable partition cannot start; a read-only one can.
  const one = await fixture("small_4k_readonly");
  assert.deepEqual(initNvs(one), { ok: false, error: "ESP_ERR_NVS_NO_FREE_PAGES" });
  assert.ok(opened(one, true).keys().length > 0);
  assert.deepEqual(initNvs(new Uint8Array(0)), {
    ok: false,
    error: "ESP_ERR_NVS_NOT_ENOUGH_SPACE",
  });
});

Deno.test("nvs reader: an erased header over data is a corrupt page, not an empty one", async () => {
  const image = await fixture("types");
  image.fill(0xff, 0, 32); // header erased, entries still there
  const nvs = opened(image);
  assert.equal(nvs.namespaceIndex("storage"), null);
});
