import assert from "node:assert/strict";
import { buildNvs, type NvsData } from "./nvs_gen.ts";
import { parseNvsCsv } from "./nvs_csv.ts";
import { nvsCrc32, nvsEntryCrc, NvsFormatError, nvsHeaderCrc } from "./nvs_format.ts";
import {
  formatNvsReport,
  formatNvsValue,
  type NvsProblemKind,
  type NvsReport,
  nvsReportToJson,
  parseNvs,
} from "./nvs_parse.ts";
import { fuzz, prng } from "../fuzz/harness.ts";

const PAGE = 4096;
const entryOffset = (page: number, entry: number) => page * PAGE + 64 + entry * 32;

/** Blob "b" of 5000 bytes: chunk 0 fills page 0 from entry 4, chunk 1 and the index are on page 1. */
const BLOB = Uint8Array.from({ length: 5000 }, (_, i) => (i * 7 + 3) & 0xff);
const DATA: NvsData = {
  ns: {
    a: { type: "u8", value: 200 },
    s: "hello",
    b: BLOB,
    c: { type: "u32", value: 4_000_000_000 },
  },
};
const base = () => buildNvs(DATA, { size: 0x4000 });

function setEntryState(img: Uint8Array, page: number, entry: number, bits: number): void {
  const at = page * PAGE + 32 + ((entry * 2) >> 3);
  const shift = (entry * 2) & 7;
  img[at] = (img[at] & ~(0b11 << shift)) | (bits << shift);
}

/** Recompute an entry's header CRC after changing it. */
function reseal(img: Uint8Array, page: number, entry: number): void {
  const e = img.subarray(entryOffset(page, entry), entryOffset(page, entry) + 32);
  new DataView(e.buffer, e.byteOffset).setUint32(4, nvsEntryCrc(e), true);
}

function kinds(r: NvsReport): NvsProblemKind[] {
  return r.problems.map((p) => p.kind);
}

const keys = (r: NvsReport) => r.items.map((i) => i.key);

Deno.test("build → parse gives back every type and value, pages and namespaces", () => {
  const data: NvsData = {
    one: {
      u8: { type: "u8", value: 255 },
      i8: { type: "i8", value: -128 },
      u16: { type: "u16", value: 65535 },
      i16: { type: "i16", value: -32768 },
      u32: { type: "u32", value: 4294967295 },
      i32: -2147483648,
      u64: { type: "u64", value: 18446744073709551615n },
      i64: -9223372036854775808n,
      str: "grüße ✓",
      empty: "",
      blob: Uint8Array.from([0, 1, 0xff]),
    },
    two: { long: "z".repeat(3800), hex: { type: "hex2bin", value: "c0ffee" } },
  };
  const report = parseNvs(buildNvs(data, { size: 0x5000 }));
  assert.deepEqual(report.problems, []);
  assert.deepEqual(report.namespaces.map((n) => [n.name, n.index]), [["one", 1], ["two", 2]]);
  const got = Object.fromEntries(report.items.map((i) => [`${i.namespace}/${i.key}`, i.value]));
  assert.deepEqual(got, {
    "one/u8": 255,
    "one/i8": -128,
    "one/u16": 65535,
    "one/i16": -32768,
    "one/u32": 4294967295,
    "one/i32": -2147483648,
    "one/u64": 18446744073709551615n,
    "one/i64": -9223372036854775808n,
    "one/str": "grüße ✓",
    "one/empty": "",
    "one/blob": Uint8Array.from([0, 1, 0xff]),
    "two/long": "z".repeat(3800),
    "two/hex": Uint8Array.from([0xc0, 0xff, 0xee]),
  });
  assert.deepEqual(report.items.map((i) => i.type).slice(0, 11), [
    "u8",
    "i8",
    "u16",
    "i16",
    "u32",
    "i32",
    "u64",
    "i64",
    "string",
    "string",
    "blob",
  ]);
  // "long" does not fit the rest of page 0, so page 0 is FULL and page 1 ACTIVE; 3 pages unused.
  assert.deepEqual(report.pages.map((p) => [p.state, p.sequence]), [
    ["full", 0],
    ["active", 1],
    ["uninitialized", null],
    ["uninitialized", null],
    ["uninitialized", null],
  ]);
  const json = JSON.parse(JSON.stringify(nvsReportToJson(report)));
  const byKey = Object.fromEntries(
    json.items.map((i: { key: string; value: unknown }) => [i.key, i.value]),
  );
  assert.equal(byKey.u64, "18446744073709551615");
  assert.equal(byKey.blob, "0001ff");
  assert.equal(byKey.u8, 255);
});

Deno.test("the base image: where the blob's chunks and index sit", () => {
  const r = parseNvs(base());
  assert.deepEqual(r.problems, []);
  const b = r.items.find((i) => i.key === "b")!;
  assert.deepEqual(b.value, BLOB);
  assert.deepEqual(b.chunks, [
    { page: 0, entry: 4, index: 0, size: 3872 },
    { page: 1, entry: 0, index: 1, size: 1128 },
  ]);
  assert.deepEqual([b.page, b.entry], [1, 37]);
  assert.deepEqual(keys(r), ["a", "s", "b", "c"]);
});

Deno.test("a bad entry CRC is reported and that key is left out", () => {
  const img = base();
  img[entryOffset(0, 1) + 8] ^= 0x20; // "a" → "A" without a new CRC
  const r = parseNvs(img);
  assert.deepEqual(kinds(r), ["entry-crc"]);
  assert.deepEqual([r.problems[0].page, r.problems[0].entry], [0, 1]);
  assert.deepEqual(keys(r), ["s", "b", "c"]);
});

Deno.test("a run of bad entries is one problem with a count", () => {
  const img = base();
  for (let i = 1; i <= 3; i++) img[entryOffset(0, i) + 4] ^= 1;
  const r = parseNvs(img);
  assert.deepEqual(kinds(r), ["entry-crc"]);
  assert.equal(r.problems[0].count, 3);
  assert.match(r.problems[0].message, /entries 1–3 of page 0/);
});

Deno.test("changed data under a good header is a data-crc problem", () => {
  const img = base();
  img[entryOffset(0, 3)] = 0x48; // "hello" → "Hello"
  const r = parseNvs(img);
  assert.deepEqual(kinds(r), ["data-crc"]);
  assert.equal(r.problems[0].key, "s");
  assert.ok(!keys(r).includes("s"));
});

Deno.test("half-written: data entries not marked written, or data under an empty state", () => {
  let img = base();
  setEntryState(img, 0, 3, 0b11); // the string's data entry still EMPTY
  let r = parseNvs(img);
  assert.ok(kinds(r).includes("half-written"));
  assert.ok(!keys(r).includes("s"));
  img = base();
  img.set([1, 2, 3, 4], entryOffset(1, 60)); // bytes in an entry the bitmap calls empty
  r = parseNvs(img);
  assert.deepEqual(kinds(r), ["half-written"]);
  assert.deepEqual([r.problems[0].page, r.problems[0].entry], [1, 60]);
});

Deno.test("erased entries are listed (not problems) and their keys are gone", () => {
  const img = base();
  setEntryState(img, 0, 1, 0b00);
  setEntryState(img, 0, 2, 0b00);
  setEntryState(img, 0, 3, 0b00);
  const r = parseNvs(img);
  assert.deepEqual(r.problems, []);
  assert.deepEqual(r.erased.map((e) => [e.key, e.type, e.entry]), [["a", "u8", 1], [
    "s",
    "string",
    2,
  ]]);
  assert.deepEqual(keys(r), ["b", "c"]);
  assert.equal(r.pages[0].entries.erased, 3);
});

Deno.test("illegal entry state, bad span, unknown type, unknown namespace", () => {
  let img = base();
  setEntryState(img, 0, 1, 0b01);
  assert.deepEqual(kinds(parseNvs(img)), ["illegal-state"]);
  img = base();
  img[entryOffset(0, 2) + 2] = 200; // the string claims 200 entries
  reseal(img, 0, 2);
  let r = parseNvs(img);
  assert.equal(kinds(r)[0], "span");
  assert.ok(!keys(r).includes("s"));
  img = base();
  img[entryOffset(0, 1) + 1] = 0x77;
  reseal(img, 0, 1);
  assert.deepEqual(kinds(parseNvs(img)), ["unknown-type"]);
  img = base();
  img[entryOffset(0, 1)] = 9;
  reseal(img, 0, 1);
  r = parseNvs(img);
  assert.deepEqual(kinds(r), ["unknown-namespace"]);
  assert.equal(r.items[0].namespace, null);
  assert.equal(r.items[0].nsIndex, 9);
  assert.match(formatNvsReport(r), /Namespace \(index 9, undefined\):\n {2}a {4}u8 {6}200/);
});

Deno.test("a damaged page header hides its entries; the blob's other chunk is an orphan", () => {
  const img = base();
  img[PAGE + 4] ^= 0xff; // page 1's sequence number, header CRC now wrong
  const r = parseNvs(img);
  assert.deepEqual(kinds(r), ["page-header-crc", "orphan-chunk"]);
  assert.equal(r.pages[1].state, "corrupt");
  assert.equal(r.pages[1].headerCrcOk, false);
  assert.deepEqual(keys(r), ["a", "s"]);
});

Deno.test("a blob whose chunk was erased is incomplete", () => {
  const img = base();
  for (let e = 0; e <= 36; e++) setEntryState(img, 1, e, 0b00);
  const r = parseNvs(img);
  assert.deepEqual(kinds(r), ["blob-incomplete"]);
  assert.match(r.problems[0].message, /lacks chunk 1 of 2/);
  assert.deepEqual(keys(r), ["a", "s", "c"]);
});

Deno.test("page states: device-marked corrupt, unknown word, erased header over data, duplicate sequence, version", () => {
  let img = base();
  new DataView(img.buffer).setUint32(PAGE, 0xfffffff0, true);
  let r = parseNvs(img);
  assert.equal(r.pages[1].state, "corrupt");
  assert.ok(kinds(r).includes("page-state"));
  img = base();
  new DataView(img.buffer).setUint32(PAGE, 0x12345678, true);
  assert.equal(parseNvs(img).pages[1].state, "unknown");
  img = base();
  new DataView(img.buffer).setUint32(PAGE, 0xffffffff, true);
  r = parseNvs(img);
  assert.equal(r.pages[1].state, "corrupt");
  assert.equal(kinds(r)[0], "page-not-empty");
  img = base();
  const view = new DataView(img.buffer);
  view.setUint32(PAGE + 4, 0, true);
  view.setUint32(PAGE + 28, nvsHeaderCrc(img.subarray(PAGE, PAGE + 32)), true);
  assert.ok(kinds(parseNvs(img)).includes("duplicate-sequence"));
  img = base();
  img[8] = 0xfd;
  new DataView(img.buffer).setUint32(28, nvsHeaderCrc(img.subarray(0, 32)), true);
  r = parseNvs(img);
  assert.deepEqual(kinds(r), ["page-version"]);
  assert.equal(r.pages[0].version, null);
});

Deno.test("a key written twice: the later value counts and the earlier is reported", () => {
  const rows = parseNvsCsv("key,type,encoding,value\nns,namespace,,\nk,data,u8,1\nk,data,u8,2\n");
  const r = parseNvs(buildNvs(rows, { size: 0x3000 }));
  assert.deepEqual(kinds(r), ["duplicate-key"]);
  assert.deepEqual(r.items.map((i) => i.value), [2]);
});

Deno.test("a string without its NUL is read and reported", () => {
  const img = base();
  const at = entryOffset(0, 2);
  const view = new DataView(img.buffer);
  img[at + 24] = 5; // size 5 instead of 6: the NUL falls outside
  view.setUint32(at + 28, nvsCrc32(img.subarray(entryOffset(0, 3), entryOffset(0, 3) + 5)), true);
  reseal(img, 0, 2);
  const r = parseNvs(img);
  assert.deepEqual(kinds(r), ["string-terminator"]);
  assert.equal(r.items.find((i) => i.key === "s")!.value, "hello");
});

Deno.test("truncated and too-short images", () => {
  const img = base();
  const r = parseNvs(img.subarray(0, 0x3000 + 100));
  assert.deepEqual(kinds(r), ["truncated"]);
  assert.equal(r.pages.length, 3);
  assert.throws(() => parseNvs(img.subarray(0, 4095)), NvsFormatError);
  assert.throws(() => parseNvs(new Uint8Array(0)), NvsFormatError);
});

Deno.test("values for people: quoted strings, blob heads with sizes", () => {
  assert.equal(formatNvsValue({ type: "string", value: 'say "hi"' }), '"say \\"hi\\""');
  assert.equal(
    formatNvsValue({ type: "blob", value: Uint8Array.from([1, 0xab]) }),
    "2 bytes: 01 ab",
  );
  assert.match(
    formatNvsValue({ type: "blob", value: new Uint8Array(100) }),
    /^100 bytes: (00 ){23}00 …$/,
  );
  assert.match(formatNvsValue({ type: "string", value: "x".repeat(60) }), /… \(60 bytes\)$/);
  assert.equal(formatNvsValue({ type: "u64", value: 5n }), "5");
});

function mutate(img: Uint8Array, rand: () => number): Uint8Array {
  const int = (n: number) => Math.floor(rand() * n);
  let out = img.slice();
  for (let r = 1 + int(6); r > 0; r--) {
    const pages = Math.floor(out.length / PAGE);
    const op = pages ? int(7) : 0;
    if (!out.length) break;
    if (op === 0) out[int(out.length)] ^= 1 << int(8);
    else if (op === 1) out[int(out.length)] = [0, 0xff, 0xfe, 0x7f, 0x80, 1][int(6)];
    else if (op === 2) { // a bitmap byte
      out[int(pages) * PAGE + 32 + int(32)] = int(256);
    } else if (op === 3) { // a header field of some entry: type, span, chunk index, size
      const at = entryOffset(int(pages), int(126));
      out[at + [0, 1, 2, 3, 24, 25, 28, 29][int(8)]] = int(256);
      if (rand() < 0.7) reseal(out, Math.floor(at / PAGE), (at % PAGE - 64) / 32);
    } else if (op === 4) { // a page header word
      const p = int(pages) * PAGE;
      new DataView(out.buffer).setUint32(
        p + [0, 4, 28][int(3)],
        [0xffffffff, 0xfffffffe, 0xfffffffc, 0xfffffff8, 0xfffffff0, 0, int(2 ** 32)][int(7)],
        true,
      );
    } else if (op === 5) { // one page copied over another
      const from = int(pages) * PAGE;
      out.copyWithin(int(pages) * PAGE, from, from + PAGE);
    } else out = out.slice(0, int(out.length + 1)); // truncation
  }
  return out;
}

Deno.test("fuzz: 3,000 mutated images give reports or NvsFormatError, never a crash", () => {
  const samples = [
    base(),
    buildNvs({ v1: { a: 1, s: "text", b: new Uint8Array(1500).fill(7) } }, {
      size: 0x3000,
      version: 1,
    }),
    buildNvs({ n: Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`k${i}`, i])) }, {
      size: 0x5000,
    }),
  ];
  const rand = prng(16);
  let reports = 0;
  let damaged = 0;
  for (let i = 0; i < 3000; i++) {
    const input = mutate(samples[i % samples.length], rand);
    try {
      const r = parseNvs(input);
      formatNvsReport(r);
      JSON.stringify(nvsReportToJson(r));
      reports++;
      if (r.problems.length) damaged++;
    } catch (e) {
      if (!(e instanceof NvsFormatError)) {
        throw new Error(`input ${i} (${input.length} bytes): ${e}`, { cause: e });
      }
    }
  }
  // The mutations must reach the checks: most inputs are read, and most are found damaged.
  assert.ok(reports > 2500, `${reports} reports`);
  assert.ok(damaged > reports / 2, `${damaged} of ${reports} damaged`);
});

Deno.test("fuzz: 2,000 mutated CSV inputs give images or typed errors, never a crash", async () => {
  const enc = new TextEncoder();
  const r = await fuzz({
    name: "nvs-csv",
    samples: () => [
      enc.encode(
        'key,type,encoding,value\nns,namespace,,\na,data,u8,1\nb,data,i64,-5\ns,data,string,"x,y"\n' +
          "h,data,hex2bin,0a0b\nc,data,base64,aGk=\nf,data,blob_sz_fill(8;0x00),ab\n" +
          "w,data,blob_fill(4;0xff),\nsta.ssid,data,string,x\n",
      ),
    ],
    run(input) {
      buildNvs(parseNvsCsv(new TextDecoder().decode(input)), { size: 0x3000 });
    },
  }, { inputs: 2000, seed: 16 });
  assert.deepEqual(r.findings, [], JSON.stringify(r.findings.slice(0, 3)));
  assert.ok(r.successes > 0 && r.typedErrors > 0, `${r.successes} ok, ${r.typedErrors} errors`);
});
