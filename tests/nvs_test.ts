/**
 * NVS images against ESP-IDF's generator (tests/fixtures/nvs), and the
 * nvs-gen / nvs-info commands, through files and a virtual chip.
 */

import { cliCapture } from "./support/cli_capture.ts";
import assert from "node:assert/strict";
import { loadNvsCsv } from "../lib/image/nvs_csv.ts";
import { buildNvs, parseNvsSize } from "../lib/image/nvs_gen.ts";
import { NvsInputError } from "../lib/image/nvs_format.ts";
import { parseNvs } from "../lib/image/nvs_parse.ts";
import { parsePartitionCsv, partitionTableToBinary } from "../lib/image/partition.ts";

const DIR = new URL("./fixtures/nvs/", import.meta.url).pathname;

interface Case {
  name: string;
  inputs: string[];
  size: string;
  version?: 1 | 2;
  espline?: string;
}
interface Result {
  exit: number;
  output: string | null;
  message: string;
}

const { cases } = JSON.parse(await Deno.readTextFile(`${DIR}cases.json`)) as { cases: Case[] };
const { results } = JSON.parse(await Deno.readTextFile(`${DIR}results.json`)) as {
  results: Record<string, Result>;
};

async function build(c: Case): Promise<Uint8Array> {
  const rows = await loadNvsCsv(c.inputs.map((i) => DIR + i), { baseDir: DIR });
  return buildNvs(rows, { size: parseNvsSize(c.size), version: c.version });
}

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) if (a[i] !== b[i]) return i;
  return -1;
}

Deno.test("every fixture case has the generator's result recorded", () => {
  assert.deepEqual(Object.keys(results).sort(), cases.map((c) => c.name).sort());
  assert.ok(cases.length >= 40);
});

for (const c of cases) {
  const r = results[c.name];
  if (c.espline === undefined) {
    Deno.test(`nvs fixture ${c.name}: byte-identical to nvs_partition_gen`, async () => {
      assert.equal(r.exit, 0, r.message);
      const want = await Deno.readFile(DIR + r.output);
      const got = await build(c);
      const at = firstDifference(got, want);
      assert.equal(
        at,
        -1,
        `first difference at 0x${at.toString(16)} (${got.length} vs ${want.length} bytes)`,
      );
      // The generator's image reads back clean.
      assert.deepEqual(parseNvs(want).problems, []);
    });
  } else if (c.espline.startsWith("E_")) {
    Deno.test(`nvs fixture ${c.name}: ${c.espline} (generator: ${r.exit ? "fails" : "writes a damaged or misplaced entry"})`, async () => {
      await assert.rejects(
        () => build(c),
        (e: unknown) => e instanceof NvsInputError && e.code === c.espline,
      );
    });
  }
}

Deno.test("nvs fixture syntax: values are kept exactly as the generator's CSV reader gives them", async () => {
  const items = parseNvs(await build(cases.find((c) => c.name === "syntax")!)).items;
  const v = Object.fromEntries(items.map((i) => [i.key, i.value]));
  assert.deepEqual(v, {
    s1: 'a, quoted "value"',
    s2: " leading space",
    s3: "multi\nline",
    s4: "abcd",
    s5: 'a"b',
    s6: "trailing",
    " spaced": 2,
    after: 3,
  });
});

Deno.test("nvs fixture types and files: every type's value reads back as the CSV wrote it", async () => {
  const types = parseNvs(await Deno.readFile(`${DIR}out/types.bin`)).items;
  const v = Object.fromEntries(types.map((i) => [i.key, i.value]));
  assert.equal(v.u64_max, 18446744073709551615n);
  assert.equal(v.i64_min, -9223372036854775808n);
  assert.equal(v.i32_min, -2147483648);
  assert.equal(v.underscores, 1_000_000);
  assert.equal(v.utf8, "grüße ✓ 日本");
  assert.deepEqual(v.hex, Uint8Array.from([0xde, 0xad, 0xbe, 0xef, 0x00, 0x01]));
  assert.deepEqual(v.b64, new TextEncoder().encode("Hello, NVS!"));
  const files = parseNvs(await Deno.readFile(`${DIR}out/files.bin`)).items;
  const f = Object.fromEntries(files.map((i) => [i.key, i.value]));
  assert.equal(f.text, await Deno.readTextFile(`${DIR}files/text.txt`));
  assert.deepEqual(f.blob, await Deno.readFile(`${DIR}files/blob.bin`));
  assert.equal(f.num, 12345);
  assert.equal(f.bom, "\ufeffwith bom");
});

Deno.test("nvs fixture ns_reenter: espline puts the keys into the namespace named again; the generator does not", async () => {
  const c = cases.find((x) => x.name === "ns_reenter")!;
  const generator = await Deno.readFile(DIR + results.ns_reenter.output);
  const ours = await build(c);
  const where = (img: Uint8Array) =>
    Object.fromEntries(parseNvs(img).items.map((i) => [i.key, i.namespace]));
  assert.deepEqual(where(ours), { a: "ns1", b: "ns2", c: "ns1" });
  assert.deepEqual(where(generator), { a: "ns1", b: "ns2", c: "ns2" });
  // Only entry 4 of page 0 ("c": namespace byte and CRC) differs.
  const differs = [...ours.keys()].filter((i) => ours[i] !== generator[i]);
  assert.ok(differs.length > 0);
  assert.ok(differs.every((i) => i >= 64 + 4 * 32 && i < 64 + 5 * 32), String(differs));
});

Deno.test("nvs fixtures where the generator writes damage espline refuses: what the generator wrote", async () => {
  const read = async (name: string) => parseNvs(await Deno.readFile(DIR + results[name].output));
  // A key before any namespace lands in namespace index 0 and reads as a namespace definition.
  const orphan = await read("diff_no_namespace");
  assert.ok(orphan.problems.some((p) => p.kind === "namespace-entry"));
  // STRING in capitals: the string is stored without its NUL.
  assert.deepEqual((await read("diff_upper_string")).problems.map((p) => p.kind), [
    "string-terminator",
  ]);
  // A type typo ("dat") is taken as data by the generator.
  assert.deepEqual((await read("diff_type")).items.map((i) => [i.key, i.value]), [["v", 1]]);
});

Deno.test("nvs fixture too_small: espline says the size that fits, and it does", async () => {
  const c = cases.find((x) => x.name === "too_small")!;
  await assert.rejects(() => build(c), /at least 0x4000 bytes/);
  assert.match(results.too_small.message, /Size parameter is less than the size of data/);
  const image = await build({ ...c, size: "0x4000" });
  assert.equal(parseNvs(image).items.length, 252);
});

// ---------------------------------------------------------------------------
// The CLI

const cli = (args: string[]) => cliCapture(args);

Deno.test("nvs-gen writes the generator's bytes, with --size in any spelling or in the generator's order", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const want = await Deno.readFile(`${DIR}out/small_upper_hex.bin`);
    for (const size of [["--size", "0X6000"], ["--size", "0x6000"], ["--size=24576"], ["24K"]]) {
      const args = size.length === 1 && !size[0].startsWith("--")
        ? ["nvs-gen", `${DIR}small.csv`, `${dir}/o.bin`, "--size", size[0]]
        : ["nvs-gen", `${DIR}small.csv`, `${dir}/o.bin`, ...size];
      const r = await cli(args);
      assert.equal(r.code, 0, r.err);
      assert.deepEqual(await Deno.readFile(`${dir}/o.bin`), want, size.join(" "));
      assert.match(
        r.out,
        /Created NVS partition image .*o\.bin: 0x6000 bytes, format version 2, 1 namespace\(s\), 2 key\(s\), 1 of 5 data pages used\./,
      );
    }
    const gen = await cli(["nvs_gen", `${DIR}small.csv`, `${dir}/g.bin`, "0x6000"]);
    assert.equal(gen.code, 0, gen.err);
    assert.deepEqual(await Deno.readFile(`${dir}/g.bin`), want);
    const v1 = await cli([
      "nvs-gen",
      `${DIR}v1.csv`,
      `${dir}/v1.bin`,
      "--size",
      "0x4000",
      "--version",
      "1",
    ]);
    assert.equal(v1.code, 0, v1.err);
    assert.deepEqual(await Deno.readFile(`${dir}/v1.bin`), await Deno.readFile(`${DIR}out/v1.bin`));
    const json = await cli([
      "--json",
      "nvs-gen",
      `${DIR}small.csv`,
      `${dir}/j.bin`,
      "--size",
      "0x2000",
    ]);
    const events = json.out.trim().split("\n").map((l) => JSON.parse(l));
    assert.equal(events[0].event, "warning");
    assert.match(events[0].message, /read-only.*flag it readonly/);
    assert.deepEqual(
      { ...events[1], output: undefined },
      {
        event: "result",
        output: undefined,
        size: 0x2000,
        bytes: 0x1000,
        version: 2,
        readOnly: true,
        pagesUsed: 1,
        dataPages: 2,
        namespaces: 1,
        keys: 2,
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("nvs-gen refuses an unwritable output before reading anything, and leaves nothing behind on errors", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // The CSV does not exist either: the output is checked first.
    let r = await cli([
      "nvs-gen",
      `${dir}/missing.csv`,
      `${dir}/no/such/dir/o.bin`,
      "--size",
      "0x3000",
    ]);
    assert.equal(r.code, 2);
    assert.match(r.err, /cannot write .*o\.bin: folder .* does not exist/);
    r = await cli(["nvs-gen", `${DIR}small.csv`, dir, "--size", "0x3000"]);
    assert.equal(r.code, 2);
    assert.match(r.err, /it is a folder; give a file name inside it/);
    // A bad row: exit 2, the row named, no image and no temporary file left.
    await Deno.writeTextFile(
      `${dir}/bad.csv`,
      "key,type,encoding,value\nns,namespace,,\nx,data,u8,300\n",
    );
    r = await cli(["nvs-gen", `${dir}/bad.csv`, `${dir}/o.bin`, "--size", "0x3000"]);
    assert.equal(r.code, 2);
    assert.match(r.err, /bad\.csv line 3 \(key "x"\): 300 is out of range for u8 \(0 to 255\)/);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["bad.csv"]);
    r = await cli(["nvs-gen", `${DIR}too_small.csv`, `${dir}/o.bin`, "--size", "0x3000"]);
    assert.equal(r.code, 2);
    assert.match(r.err, /make the partition at least 0x4000 bytes/);
    for (const size of ["0x3100", "0x", "big"]) {
      r = await cli(["nvs-gen", `${DIR}small.csv`, `${dir}/o.bin`, "--size", size]);
      assert.equal(r.code, 2, size);
      assert.match(r.err, /not a multiple of 4096|is not a partition size/, size);
    }
    r = await cli(["nvs-gen", `${DIR}small.csv`, `${dir}/o.bin`]);
    assert.equal(r.code, 2);
    assert.match(r.err, /give the partition size with --size/);
    r = await cli(["nvs-gen", `${dir}/o.bin`, "--size", "0x3000"]);
    assert.match(r.err, /give the input CSV file\(s\), then the output file/);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["bad.csv"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("nvs-gen --help shows the usage and an example", async () => {
  const r = await cli(["nvs-gen", "--help"]);
  assert.equal(r.code, 0);
  assert.match(r.out, /usage: espline nvs-gen INPUT\.csv/);
  assert.match(r.out, /e\.g\. nvs-gen factory\.csv nvs\.bin --size 0x6000/);
  assert.match(r.out, /--size SIZE/);
});

Deno.test("nvs-info prints namespaces, keys, types and values; --json gives the report", async () => {
  let r = await cli(["nvs-info", `${DIR}out/wifi.bin`]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^NVS partition: 16384 bytes \(0x4000\), 4 pages, format version 2$/m);
  assert.match(r.out, /^0 +0x000000 ACTIVE +0 +2 +41 +0 +85$/m);
  assert.match(r.out, /^Namespace nvs\.net80211 \(index 1\):$/m);
  assert.match(r.out, /^ {2}ap\.authmode +u8 +3$/m);
  assert.match(r.out, /^ {2}sta\.ssid +string +"again"$/m);
  assert.match(r.out, /^No problems found\.$/m);
  r = await cli(["--json", "nvs-info", `${DIR}out/types.bin`]);
  assert.equal(r.code, 0);
  const result = JSON.parse(r.out.trim());
  assert.equal(result.event, "result");
  const byKey = Object.fromEntries(
    result.items.map((
      i: { key: string; type: string; value: unknown },
    ) => [i.key, [i.type, i.value]]),
  );
  assert.deepEqual(byKey.u64_max, ["u64", "18446744073709551615"]);
  assert.deepEqual(byKey.hex, ["blob", "deadbeef0001"]);
  assert.deepEqual(byKey.str, ["string", "hello world"]);
  assert.deepEqual(result.problems, []);
});

Deno.test("nvs-info reports damage instead of failing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const img = await Deno.readFile(`${DIR}out/small_big.bin`);
    img[64 + 32 + 8] ^= 1; // the key of entry 1 ("serial"), CRC left as it was
    await Deno.writeFile(`${dir}/bad.bin`, img);
    const r = await cli(["nvs-info", `${dir}/bad.bin`]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^Problems \(1\):\n {2}entry-crc: entries 1–2 of page 0 have bad CRCs/m);
    assert.doesNotMatch(r.out, /serial/);
    const missing = await cli(["nvs-info", `${dir}/none.bin`]);
    assert.equal(missing.code, 2);
    assert.match(missing.err, /cannot read .*none\.bin: file not found/);
    const both = await cli([
      "-p",
      "sim://esp32",
      "nvs-info",
      `${dir}/bad.bin`,
      "--partition",
      "nvs",
    ]);
    assert.equal(both.code, 2);
    assert.match(both.err, /give FILE or --partition NAME, not both/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("nvs-gen, write-flash --partition nvs, nvs-info --partition nvs on a virtual chip", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const table = partitionTableToBinary(
      parsePartitionCsv("nvs, data, nvs, 0x9000, 0x6000\nfactory, app, factory, 0x10000, 1M\n"),
    );
    await Deno.writeFile(`${dir}/pt.bin`, table);
    const port = `sim://esp32c3?flash=${dir}/flash.bin`;
    assert.equal((await cli(["-p", port, "write-flash", "0x8000", `${dir}/pt.bin`])).code, 0);
    // files.csv names its files relative to the fixture folder; here they are given absolute.
    const csv = (await Deno.readTextFile(`${DIR}files.csv`)).replaceAll(",files/", `,${DIR}files/`);
    await Deno.writeTextFile(`${dir}/files.csv`, csv);
    let r = await cli(["nvs-gen", `${dir}/files.csv`, `${dir}/nvs.bin`, "--size", "0x6000"]);
    assert.equal(r.code, 0, r.err);
    const w = await cli(["-p", port, "write-flash", "--partition", "nvs", `${dir}/nvs.bin`]);
    assert.equal(w.code, 0, w.err);
    r = await cli(["-p", port, "nvs-info", "--partition", "nvs"]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^NVS partition: 24576 bytes \(0x6000\), 6 pages/m);
    assert.match(r.out, /^ {2}num +u32 +12345$/m);
    assert.match(r.out, /^ {2}text +string +"Hello from a file\\nsecond line\\n"$/m);
    const json = await cli(["-p", port, "--json", "nvs-info", "--partition", "nvs"]);
    const result = json.out.trim().split("\n").map((l) => JSON.parse(l)).find((e) =>
      e.event === "result"
    );
    assert.equal(result.partition, "nvs");
    assert.equal(result.address, 0x9000);
    const blob = result.items.find((i: { key: string }) => i.key === "blob");
    const want = await Deno.readFile(`${DIR}files/blob.bin`);
    assert.equal(blob.value, Array.from(want, (b) => b.toString(16).padStart(2, "0")).join(""));
    const app = await cli(["-p", port, "nvs-info", "--partition", "factory"]);
    assert.equal(app.code, 2);
    assert.match(
      app.err,
      /partition factory is not an NVS partition; the table's NVS partitions: nvs/,
    );
    const none = await cli(["-p", port, "nvs-info", "--partition", "nvs2"]);
    assert.equal(none.code, 2);
    assert.match(none.err, /no partition named "nvs2"/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
