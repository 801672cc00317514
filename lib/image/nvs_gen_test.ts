import assert from "node:assert/strict";
import { nvsErrorCode } from "../../tests/support/nvs.ts";
import { crc32 } from "node:zlib";
import { buildNvs, nvsLayout, nvsRowsFromData, parseNvsSize } from "./nvs_gen.ts";
import { type NvsRow, parseNvsCsv } from "./nvs_csv.ts";
import { NvsInputError } from "./nvs_format.ts";
import { parseNvs } from "./nvs_parse.ts";

const CSV_HEAD = "key,type,encoding,value\n";

function message(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error("did not throw");
}

const u32 = (b: Uint8Array, at: number) => new DataView(b.buffer, b.byteOffset).getUint32(at, true);

Deno.test("typed data and the same data as generator CSV build the same bytes", () => {
  const typed = buildNvs({
    factory: {
      serial: "SN-000123",
      rev: { type: "u8", value: 3 },
      temp: -5,
      big: 1n << 40n,
      cal: Uint8Array.from([1, 2, 3]),
      mask: { type: "hex2bin", value: "0a0b" },
      id: { type: "u64", value: "18446744073709551615" },
    },
    other: { note: { type: "base64", value: "aGk=" } },
  }, { size: 0x4000 });
  const csv = buildNvs(
    parseNvsCsv(
      CSV_HEAD + "factory,namespace,,\nserial,data,string,SN-000123\nrev,data,u8,3\n" +
        "temp,data,i32,-5\nbig,data,i64,1099511627776\ncal,data,hex2bin,010203\n" +
        "mask,data,binary,\n\x0a\x0b\nid,data,u64,18446744073709551615\nother,namespace,,\n" +
        "note,data,binary,hi\n",
    ).map((r) => r.key === "mask" ? { ...r, value: Uint8Array.from([10, 11]) } : r),
    { size: 0x4000 },
  );
  assert.deepEqual(typed, csv);
});

Deno.test("the first page: header, CRCs and entry bitmap laid out as ESP-IDF defines them", () => {
  const img = buildNvs({ cfg: { a: { type: "u8", value: 7 }, s: "hi" } }, { size: 0x3000 });
  assert.equal(img.length, 0x3000);
  // Header: state ACTIVE, sequence 0, version byte 0xFE, 19 reserved 0xFF, CRC of bytes 4..27.
  assert.equal(u32(img, 0), 0xfffffffe);
  assert.equal(u32(img, 4), 0);
  assert.equal(img[8], 0xfe);
  assert.ok(img.subarray(9, 28).every((b) => b === 0xff));
  assert.equal(u32(img, 28), crc32(img.subarray(4, 28), 0xffffffff));
  // Four entries written (namespace, u8, string header, string data): 2 bits each, 10 = written.
  assert.equal(img[32], 0b10101010);
  assert.ok(img.subarray(33, 64).every((b) => b === 0xff));
  // Entry 0 defines namespace "cfg" as index 1; entry 1 is a = 7 in namespace 1.
  const e0 = img.subarray(64, 96);
  assert.deepEqual([...e0.subarray(0, 4)], [0, 0x01, 1, 0xff]);
  assert.equal(new TextDecoder().decode(e0.subarray(8, 11)), "cfg");
  assert.ok(e0.subarray(11, 24).every((b) => b === 0));
  assert.equal(e0[24], 1);
  const crcInput = new Uint8Array([...e0.subarray(0, 4), ...e0.subarray(8, 32)]);
  assert.equal(u32(e0, 4), crc32(crcInput, 0xffffffff));
  const e1 = img.subarray(96, 128);
  assert.deepEqual([...e1.subarray(0, 4)], [1, 0x01, 1, 0xff]);
  assert.equal(e1[24], 7);
  assert.ok(e1.subarray(25, 32).every((b) => b === 0xff));
  // The string: type 0x21, span 2, size 3 (with NUL), CRC of its data, data in the next entry.
  const e2 = img.subarray(128, 160);
  assert.deepEqual([...e2.subarray(0, 4)], [1, 0x21, 2, 0xff]);
  assert.equal(new DataView(e2.buffer, e2.byteOffset).getUint16(24, true), 3);
  assert.equal(u32(e2, 28), crc32(Uint8Array.from([0x68, 0x69, 0]), 0xffffffff));
  assert.deepEqual([...img.subarray(160, 164)], [0x68, 0x69, 0, 0xff]);
  // Pages 1 and 2 (a free page and the reserved one) are erased flash.
  assert.ok(img.subarray(0x1000).every((b) => b === 0xff));
});

Deno.test("a full page is marked FULL, the next page gets the next sequence number", () => {
  const keys: Record<string, number> = {};
  for (let i = 0; i < 130; i++) keys[`k${i}`] = i;
  const img = buildNvs({ ns: keys }, { size: 0x4000 });
  assert.equal(u32(img, 0), 0xfffffffc);
  assert.equal(u32(img, 0x1000), 0xfffffffe);
  assert.equal(u32(img, 0x1004), 1);
  const report = parseNvs(img);
  assert.equal(report.items.length, 130);
  assert.deepEqual(report.problems, []);
});

Deno.test("version 1: single-page blobs of type 0x41 and header version 0xFF", () => {
  const img = buildNvs({ ns: { b: Uint8Array.from([9, 8, 7]) } }, { size: 0x3000, version: 1 });
  assert.equal(img[8], 0xff);
  assert.deepEqual([...img.subarray(96, 100)], [1, 0x41, 2, 0xff]);
  const item = parseNvs(img).items[0];
  assert.deepEqual(item.value, Uint8Array.from([9, 8, 7]));
  assert.equal(item.chunks, undefined);
  assert.equal(
    nvsErrorCode(() => buildNvs({ ns: { b: new Uint8Array(1985) } }, { size: 0x3000, version: 1 })),
    "E_NVS_TOO_LONG",
  );
});

Deno.test("version 2 blobs larger than a page are split into chunks and read back whole", () => {
  const blob = Uint8Array.from({ length: 10_000 }, (_, i) => (i * 31) & 0xff);
  const img = buildNvs({ ns: { big: blob, after: "x" } }, { size: 0x5000 });
  const report = parseNvs(img);
  assert.deepEqual(report.problems, []);
  const big = report.items.find((i) => i.key === "big")!;
  assert.deepEqual(big.value, blob);
  assert.deepEqual(big.chunks!.map((c) => [c.page, c.index]), [[0, 0], [1, 1], [2, 2]]);
  assert.equal(big.chunks!.reduce((n, c) => n + c.size, 0), 10_000);
});

Deno.test("partition sizes: whole pages, read-only below 0x3000, hex in any case, K suffix", () => {
  assert.deepEqual(nvsLayout(0x6000), { pages: 6, dataPages: 5, readOnly: false });
  assert.deepEqual(nvsLayout(0x3000), { pages: 3, dataPages: 2, readOnly: false });
  assert.deepEqual(nvsLayout(0x2000), { pages: 2, dataPages: 2, readOnly: true });
  assert.deepEqual(nvsLayout(0x1000), { pages: 1, dataPages: 1, readOnly: true });
  for (const bad of [0, 0x1800, -4096, 0x3001, 1.5, 0x10000000]) {
    assert.equal(nvsErrorCode(() => nvsLayout(bad)), "E_NVS_SIZE", String(bad));
  }
  assert.deepEqual(
    ["0x6000", "0X6000", "0x6a000", "0X6A000", "24576", "24K", "24k", " 1M ", "24KB"].map(
      parseNvsSize,
    ),
    [0x6000, 0x6000, 0x6a000, 0x6a000, 24576, 24576, 24576, 0x100000, 24576],
  );
  for (const bad of ["", "0x", "six", "0x6000g", "-4096", "1.5K"]) {
    assert.equal(nvsErrorCode(() => parseNvsSize(bad)), "E_NVS_SIZE", bad);
  }
  // A read-only image holds only the pages in use, as the generator writes it.
  assert.equal(buildNvs({ ns: { a: 1 } }, { size: 0x2000 }).length, 0x1000);
});

Deno.test("data that does not fit says how large the partition must be, and that size works", () => {
  const keys: Record<string, number> = {};
  for (let i = 0; i < 300; i++) keys[`k${i}`] = i;
  let err: NvsInputError | undefined;
  try {
    buildNvs({ ns: keys }, { size: 0x3000 });
  } catch (e) {
    err = e as NvsInputError;
  }
  assert.equal(err?.code, "E_NVS_FULL");
  assert.match(err!.message, /needs 3 NVS pages but a 0x3000 partition holds 2/);
  assert.match(err!.message, /at least 0x4000 bytes/);
  assert.equal(err!.details.minSize, 0x4000);
  assert.equal(buildNvs({ ns: keys }, { size: 0x4000 }).length, 0x4000);
});

Deno.test("input mistakes are typed errors that name the row", () => {
  const csv = (body: string) => () =>
    buildNvs(parseNvsCsv(CSV_HEAD + body, { source: "f.csv" }), { size: 0x3000 });
  assert.equal(nvsErrorCode(csv("k,data,u8,1\n")), "E_NVS_NO_NAMESPACE");
  assert.doesNotThrow(csv("ns,namespace,,\nk,data,u8,1\n"));
  assert.equal(nvsErrorCode(csv("ns,namespace,,\nkey_is_16_chars_,data,u8,1\n")), "E_NVS_KEY");
  assert.equal(nvsErrorCode(csv("namespace_is_16c,namespace,,\n")), "E_NVS_KEY");
  assert.equal(nvsErrorCode(csv("ns,namespace,,\nschlüssel,data,u8,1\n")), "E_NVS_KEY");
  assert.equal(nvsErrorCode(csv("ns,namespace,,\nk,data,u16,65536\n")), "E_NVS_RANGE");
  assert.equal(
    nvsErrorCode(csv("ns,namespace,,\nk,data,i64,-9223372036854775809\n")),
    "E_NVS_RANGE",
  );
  assert.equal(nvsErrorCode(csv("ns,namespace,,\nk,data,u8,1.5\n")), "E_NVS_VALUE");
  assert.equal(nvsErrorCode(csv("ns,namespace,,\nk,data,float,1\n")), "E_NVS_ENCODING");
  assert.equal(nvsErrorCode(csv("ns,namespace,,\nk,data,,1\n")), "E_NVS_ENCODING");
  assert.equal(nvsErrorCode(csv("ns,namespace,,\nk,data,Hex2bin,00\n")), "E_NVS_ENCODING");
  assert.equal(nvsErrorCode(csv("ns,namespace,,\nk,data,blob_fill(x;0xff),a\n")), "E_NVS_ENCODING");
  assert.equal(
    nvsErrorCode(csv("ns,namespace,,\nk,data,string," + "a".repeat(3968) + "\n")),
    "E_NVS_TOO_LONG",
  );
  assert.equal(nvsErrorCode(csv("ns,namespace,,\nk,file,binary,nothing.bin\n")), "E_NVS_FILE");
  assert.match(
    message(csv("ns,namespace,,\nk,data,u8,256\n")),
    /^f\.csv line 3 \(key "k"\): 256 is out of range for u8 \(0 to 255\)/,
  );
  assert.equal(
    nvsErrorCode(() => buildNvs({ ns: { k: 2 ** 31 } }, { size: 0x3000 })),
    "E_NVS_TYPE",
  );
  assert.equal(nvsErrorCode(() => buildNvs({ ns: { k: 0.5 } }, { size: 0x3000 })), "E_NVS_TYPE");
  assert.equal(
    nvsErrorCode(() =>
      buildNvs({ ns: { k: { type: "float", value: 1 } } } as never, { size: 0x3000 })
    ),
    "E_NVS_TYPE",
  );
  assert.equal(
    nvsErrorCode(() => buildNvs({ ns: { k: 1 } }, { size: 0x3000, version: 3 as never })),
    "E_NVS_VERSION",
  );
  // 254 namespaces fit (indices 1..254); the 255th does not.
  const many: Record<string, Record<string, never>> = {};
  for (let i = 0; i < 254; i++) many[`n${i}`] = {};
  assert.equal(parseNvs(buildNvs(many, { size: 0x5000 })).namespaces.length, 254);
  many.n254 = {};
  assert.equal(nvsErrorCode(() => buildNvs(many, { size: 0x5000 })), "E_NVS_NAMESPACES");
});

Deno.test("a namespace named again takes the keys that follow it", () => {
  const rows = parseNvsCsv(
    CSV_HEAD +
      "a,namespace,,\nx,data,u8,1\nb,namespace,,\ny,data,u8,2\na,namespace,,\nz,data,u8,3\n",
  );
  const report = parseNvs(buildNvs(rows, { size: 0x3000 }));
  assert.deepEqual(report.items.map((i) => `${i.namespace}/${i.key}`), ["a/x", "b/y", "a/z"]);
  assert.equal(report.namespaces.length, 2);
});

Deno.test("Wi-Fi keys get the generator's companion entries; ap.pmk_info holds the PBKDF2 PMK", async () => {
  const rows = parseNvsCsv(
    CSV_HEAD + "nvs.net80211,namespace,,\nsta.ssid,data,string,home\nsta.pswd,data,string,pw\n" +
      "ap.ssid,data,string,espline\nap.authmode,data,u8,3\nap.passwd,data,string,secret12\n",
  );
  const keys = parseNvs(buildNvs(rows, { size: 0x3000 })).items;
  assert.deepEqual(keys.map((i) => i.key), [
    "sta.ssid",
    "sta.apinfo",
    "sta.pmk",
    "sta.apsw",
    "sta.pswd",
    "ap.ssid",
    "ap.authmode",
    "ap.pmk_info",
    "ap.passwd",
  ]);
  // The PMK, computed here with WebCrypto: PBKDF2-HMAC-SHA1(password, ssid, 4096 rounds, 32 bytes).
  const enc = new TextEncoder();
  const base = await crypto.subtle.importKey(
    "raw",
    enc.encode("secret12"),
    "PBKDF2",
    false,
    [
      "deriveBits",
    ],
  );
  const pmk = new Uint8Array(
    await crypto.subtle.deriveBits(
      { name: "PBKDF2", hash: "SHA-1", salt: enc.encode("espline"), iterations: 4096 },
      base,
      256,
    ),
  );
  const info = keys.find((i) => i.key === "ap.pmk_info")!.value as Uint8Array;
  assert.equal(info.length, 132);
  assert.ok(info.subarray(0, 100).every((b) => b === 0));
  assert.deepEqual(info.subarray(100), pmk);
  const plain = parseNvs(buildNvs(rows, { size: 0x3000, wifiExtras: false })).items;
  assert.deepEqual(plain.map((i) => i.key), [
    "sta.ssid",
    "sta.pswd",
    "ap.ssid",
    "ap.authmode",
    "ap.passwd",
  ]);
});

Deno.test("building is pure: same input, same bytes, input untouched", () => {
  const rows: NvsRow[] = nvsRowsFromData({
    ns: { a: "x", b: Uint8Array.from([1]), c: { type: "u16", value: 9 } },
  });
  const before = structuredClone(rows);
  const one = buildNvs(rows, { size: 0x3000 });
  const two = buildNvs(rows, { size: 0x3000 });
  assert.deepEqual(one, two);
  assert.deepEqual(rows, before);
});
