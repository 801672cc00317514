import assert from "node:assert/strict";
import { nvsErrorCode } from "../../tests/support/nvs.ts";
import {
  decodeBase64Py,
  decodeHex2bin,
  loadNvsCsv,
  parseNvsCsv,
  parsePyInt,
  pyStrip,
  readCsvRecords,
} from "./nvs_csv.ts";
import { NvsInputError } from "./nvs_format.ts";

const hex = (b: Uint8Array | string) =>
  typeof b === "string"
    ? `error: ${b}`
    : Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

Deno.test("CSV records follow Python's csv module: quotes, doubled quotes, text after a closing quote, multi-line fields", () => {
  // Expected fields are what Python 3.11's csv.reader returns for the same text.
  const cases: [string, string[][]][] = [
    ['a,"b,c",d\n', [["a", "b,c", "d"]]],
    ['"say ""hi""",x\n', [['say "hi"', "x"]]],
    ['"ab"cd,e\n', [["abcd", "e"]]],
    ['a"b,c\n', [['a"b', "c"]]],
    ['"multi\nline",z\n', [["multi\nline", "z"]]],
    ["a,\n,b\n", [["a", ""], ["", "b"]]],
    ["x, y ,z\n", [["x", " y ", "z"]]],
    ["a\r\nb\rc\n", [["a"], ["b"], ["c"]]],
    ["\n\na\n\n", [["a"]]],
    ['"open quote\nnever closed', [["open quote\nnever closed"]]],
    ["no newline at end", [["no newline at end"]]],
  ];
  for (const [text, want] of cases) {
    assert.deepEqual(readCsvRecords(text).map((r) => r.fields), want, JSON.stringify(text));
  }
});

Deno.test("CSV lines starting with # are dropped before parsing (even inside a quoted field); others are data", () => {
  const recs = readCsvRecords('#c\nk,"one\n#gone\ntwo"\n #kept\n');
  assert.deepEqual(recs.map((r) => r.fields), [["k", "one\ntwo"], [" #kept"]]);
  assert.deepEqual(recs.map((r) => r.line), [2, 5]);
});

Deno.test("parseNvsCsv maps columns by the header, keeps keys and values verbatim, and reads namespace/data/file rows", () => {
  const rows = parseNvsCsv(
    "\ufeff# comment\ntype, value ,key,encoding\nnamespace,,ns,\ndata, spaced ,k, string \nfile,a.bin,f,binary\n   \n",
    { source: "x.csv" },
  );
  assert.deepEqual(rows, [
    { type: "namespace", key: "ns", line: 3, source: "x.csv" },
    { type: "data", key: "k", encoding: "string", value: " spaced ", line: 4, source: "x.csv" },
    { type: "file", key: "f", encoding: "binary", path: "a.bin", line: 5, source: "x.csv" },
  ]);
});

Deno.test("parseNvsCsv refuses a missing header column, a row without its fields and an unknown type", () => {
  assert.equal(nvsErrorCode(() => parseNvsCsv("key,type,value\nns,namespace,\n")), "E_NVS_CSV");
  assert.equal(nvsErrorCode(() => parseNvsCsv("")), "E_NVS_CSV");
  assert.equal(nvsErrorCode(() => parseNvsCsv("key,type,encoding,value\nns\n")), "E_NVS_CSV");
  assert.equal(
    nvsErrorCode(() => parseNvsCsv("key,type,encoding,value\nk,data,u8\n")),
    "E_NVS_CSV",
  );
  assert.equal(
    nvsErrorCode(() => parseNvsCsv("key,type,encoding,value\nk,dat,u8,1\n")),
    "E_NVS_TYPE",
  );
  assert.throws(
    () =>
      parseNvsCsv("key,type,encoding,value\nns,namespace,,\nk,blob,u8,1\n", { source: "f.csv" }),
    (e: unknown) =>
      e instanceof NvsInputError &&
      /^f\.csv line 3 \(key "k"\): unknown type "blob"/.test(e.message) &&
      JSON.stringify(e.details) === JSON.stringify({ source: "f.csv", line: 3, key: "k" }),
  );
});

Deno.test("integers are read as Python's int() reads them", () => {
  const ok: [string, bigint][] = [
    ["42", 42n],
    [" -7 ", -7n],
    ["+5", 5n],
    ["007", 7n],
    ["1_000_000", 1000000n],
    ["\t9\n", 9n],
    ["18446744073709551616", 18446744073709551616n],
  ];
  for (const [t, v] of ok) assert.equal(parsePyInt(t), v, t);
  for (const t of ["", "0x10", "1.0", "1e3", "_1", "1__0", "1_", "- 5", "five"]) {
    assert.equal(parsePyInt(t), null, t);
  }
});

Deno.test("hex2bin: stripped, even length, hex digits only", () => {
  assert.equal(hex(decodeHex2bin("  DEADbeef\n")), "deadbeef");
  assert.equal(hex(decodeHex2bin("")), "");
  assert.match(hex(decodeHex2bin("abc")), /^error: .*3 digits/);
  assert.match(hex(decodeHex2bin("0g")), /^error: "g" at position 2/);
  assert.match(hex(decodeHex2bin("aa bb")), /^error: the hex text has 5 digits/);
  assert.match(hex(decodeHex2bin("aa  bb")), /^error: " " at position 3 is not a hex digit/);
  // A file's bytes: ASCII whitespace around the digits is stripped.
  assert.equal(hex(decodeHex2bin(new TextEncoder().encode("\r\n0102 \n"))), "0102");
  assert.equal(pyStrip("\u3000 x \x1c"), "x");
});

Deno.test("base64 is decoded as binascii.a2b_base64 decodes it (non-strict)", () => {
  // Expected values: Python 3.11 binascii.a2b_base64 on the same text.
  const cases: [string, string][] = [
    ["SGVsbG8=", "48656c6c6f"],
    ["SGVs*bG8=trailing", "48656c6c6f"],
    ["SGVsbG8h", "48656c6c6f21"],
    ["=SGVs", "48656c"],
    ["S=G=Vs", "48656c"],
    ["SGV=s", "4865"],
    ["SGVzbG8==", "4865736c6f"],
    ["SG Vs\nbG8=", "48656c6c6f"],
    ["", ""],
    ["====", ""],
    ["SGVsbG8=SGVs", "48656c6c6f"],
    ["Zg==", "66"],
    ["Zm9vYg=x=", "666f6f620c"],
    ["ab==cd", "69"],
  ];
  for (const [t, want] of cases) assert.equal(hex(decodeBase64Py(t)), want, t);
  for (const bad of ["SGVsbG8", "SGVsb", "Zg=", "ab=c", "a===", "Zm9vYg", "é"]) {
    assert.match(hex(decodeBase64Py(bad)), /^error: /, bad);
  }
  // Bytes (a file's content) may hold anything; non-alphabet bytes are skipped.
  assert.equal(hex(decodeBase64Py(Uint8Array.from([0xff, 0x5a, 0x67, 0x3d, 0x3d]))), "66");
});

Deno.test("loadNvsCsv reads several CSVs in order and the files their rows name", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/a.csv`, "key,type,encoding,value\nns,namespace,,\n");
    await Deno.writeTextFile(`${dir}/b.csv`, "key,type,encoding,value\nf,file,binary,data.bin\n");
    await Deno.writeFile(`${dir}/data.bin`, Uint8Array.from([1, 2, 3]));
    const rows = await loadNvsCsv([`${dir}/a.csv`, `${dir}/b.csv`], { baseDir: dir });
    assert.equal(rows.length, 2);
    assert.equal(rows[1].type, "file");
    assert.deepEqual(rows[1].type === "file" && rows[1].content, Uint8Array.from([1, 2, 3]));
    await assert.rejects(
      () => loadNvsCsv(`${dir}/b.csv`, { baseDir: `${dir}/elsewhere` }),
      (e: unknown) =>
        e instanceof NvsInputError && e.code === "E_NVS_FILE" &&
        /line 2 \(key "f"\): file data\.bin: cannot read it \(not found\)/.test(e.message),
    );
    await assert.rejects(
      () => loadNvsCsv(`${dir}/missing.csv`),
      (e: unknown) => e instanceof NvsInputError && e.code === "E_NVS_FILE",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
