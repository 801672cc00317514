/**
 * The README's examples are true: its code blocks are `examples/*.ts`
 * verbatim, and those run against virtual boards as the README says.
 */

import assert from "node:assert/strict";
import { writeDemoBuild } from "../scripts/demo_firmware.ts";
import { openJournal } from "../lib/station/journal.ts";
import { connect } from "../lib/device/device.ts";
import { parseNvs } from "../lib/image/nvs_parse.ts";
import { runDeno } from "./support/run_deno.ts";

const ROOT = new URL("../", import.meta.url);

/** The README's fenced blocks of a language, in order. */
async function readmeBlocks(lang: string): Promise<string[]> {
  const text = await Deno.readTextFile(new URL("README.md", ROOT));
  return [...text.matchAll(new RegExp("^```" + lang + "\\n([\\s\\S]*?)^```$", "gm"))].map((m) =>
    m[1]
  );
}

/** Run an example the way the README says (`deno run -A examples/X.ts …`), from `cwd`. */
function runExample(name: string, args: string[], cwd: string) {
  return runDeno(`examples/${name}`, args, { cwd });
}

Deno.test("the README's links to files in the repository lead somewhere (no ../shared)", async () => {
  const text = await Deno.readTextFile(new URL("README.md", ROOT));
  const links = [...text.matchAll(/\]\(([^)#\s]+)\)/g)].map((m) => m[1])
    .filter((l) => !/^[a-z]+:/.test(l));
  assert.ok(links.includes("docs/architecture.md"), "the architecture note is linked");
  for (const link of links) {
    assert.ok(!link.startsWith(".."), `${link} points outside the repository`);
    await Deno.stat(new URL(link, ROOT)); // throws for a dead link
  }
  assert.doesNotMatch(text, /\.\.\/shared\/ARCHITECTURE/);
});

Deno.test("the README's TypeScript examples are examples/*.ts, verbatim", async () => {
  const blocks = (await readmeBlocks("ts")).filter((b) => b.startsWith("// examples/"));
  assert.deepEqual(
    blocks.map((b) => /^\/\/ (examples\/\S+\.ts)/.exec(b)![1]),
    ["examples/station.ts", "examples/line.ts", "examples/factory_data.ts"],
  );
  for (const block of blocks) {
    const file = /^\/\/ (examples\/\S+\.ts)/.exec(block)![1];
    assert.equal(
      block,
      await Deno.readTextFile(new URL(file, ROOT)),
      `${file} differs from the README`,
    );
  }
});

Deno.test("README example 1 flashes two virtual boards, checks boot and journals serials", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeDemoBuild(`${dir}/build`, "esp32c3", { fixtures: false, appSize: 30000 });
    const r = await runExample("station.ts", [
      "sim://esp32c3?mac=58:cf:79:00:00:01",
      "sim://esp32c3?mac=58:cf:79:00:00:02",
    ], dir);
    assert.equal(r.code, 0, r.out);
    assert.equal(r.out, "2 passed, 0 failed\n");
    await using journal = await openJournal(`${dir}/line1.db`);
    for (const mac of ["58:cf:79:00:00:01", "58:cf:79:00:00:02"]) {
      const rec = (await journal.history(mac))[0];
      assert.equal(rec.result, "passed");
      assert.match(String(rec.fields.serial), /^ESP-\d{6}$/);
      assert.deepEqual(rec.files.map((f) => f.address), [0x0, 0x8000, 0x10000]);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** The README's own ports are on this machine (then its no-boards claim cannot be checked here). */
const README_PORTS_PRESENT = ["/dev/ttyUSB0", "/dev/ttyUSB1"].some((p) => {
  try {
    Deno.statSync(p);
    return true;
  } catch {
    return false;
  }
});

Deno.test({
  name: "README example 1 run as written, with no boards, prints why each board failed",
  ignore: README_PORTS_PRESENT,
}, async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeDemoBuild(`${dir}/build`, "esp32c3", { fixtures: false, appSize: 4096 });
    const r = await runExample("station.ts", [], dir);
    const shown = (await readmeBlocks("")).find((b) => b.startsWith("0 passed, 2 failed"));
    assert.ok(shown, "the README shows the output");
    const got = r.out.trimEnd().split("\n");
    const want = shown!.trimEnd().split("\n");
    assert.equal(got.length, want.length, r.out);
    want.forEach((line, i) => assert.ok(got[i].startsWith(line.replace(/ …$/, "")), got[i]));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("README example 2: a build onto a line, the board of the wrong chip fails at preflight unwritten", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeDemoBuild(`${dir}/build`, "esp32c3", { fixtures: false, appSize: 30000 });
    const r = await runExample("line.ts", [
      "build",
      "sim://esp32c3?mac=58:cf:79:00:00:03",
      "sim://esp32?mac=24:0a:c4:00:00:04",
    ], dir);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /^1 passed, 1 failed$/m);
    assert.match(
      r.out,
      /^ {2}sim:\/\/esp32\?mac=24:0a:c4:00:00:04: failed at preflight: E_IMAGE_CHIP: refusing to write \(nothing was written\):$/m,
    );
    assert.match(r.out, /build\/app\.bin is built for ESP32-C3, but the connected chip is ESP32/);
    assert.match(r.out, /sim:\/\/esp32c3\?mac=58:cf:79:00:00:03: serial LINE1-000001/);
    await using journal = await openJournal(`${dir}/line.db`);
    const good = (await journal.history("58:cf:79:00:00:03"))[0];
    assert.equal(good.result, "passed");
    assert.equal(good.fields.serial, "LINE1-000001");
    const bad = (await journal.history("24:0a:c4:00:00:04"))[0];
    assert.equal(bad.result, "failed");
    assert.equal(bad.stage, "preflight");
    assert.equal(bad.fields.serial, undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("README example 3: each board's NVS from the README's mass-manufacturing CSVs; a board without its certificate fails at nvs", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeDemoBuild(`${dir}/build`, "esp32c3", { fixtures: false, appSize: 20000 });
    // The CSV files exactly as the README shows them.
    const text = await Deno.readTextFile(new URL("README.md", ROOT));
    const csv = [...text.matchAll(/^```csv (\S+)\n([\s\S]*?)^```$/gm)];
    assert.deepEqual(csv.map((m) => m[1]), ["mfg_config.csv", "mfg_values.csv"]);
    for (const [, name, body] of csv) await Deno.writeTextFile(`${dir}/${name}`, body);
    // Certificates and keys for two serial numbers; the third board's are missing.
    await Deno.mkdir(`${dir}/certs`);
    for (const n of [1, 2]) {
      await Deno.writeTextFile(`${dir}/certs/LINE1-00000${n}.pem`, `CERT ${n}\n`);
      await Deno.writeTextFile(`${dir}/certs/LINE1-00000${n}.key`, `KEY-MATERIAL-${n}-7c4a8d09`);
    }
    const ports = [1, 2, 3].map((n) =>
      `sim://esp32c3?mac=58:cf:79:00:0e:0${n}&flash=${dir}/board${n}.bin`
    );
    const r = await runExample("factory_data.ts", ["build", ...ports], dir);
    assert.match(r.out, /^2 passed, 1 failed$/m, r.out);
    assert.match(r.out, /failed at nvs: E_NVS_FILE: mfg_config\.csv line 4 \(key "device_cert"\)/);
    assert.ok(!r.out.includes("KEY-MATERIAL"), "a secret value was printed");
    await using journal = await openJournal(`${dir}/line.db`);
    assert.ok(
      !(await journal.exportJsonl()).includes("KEY-MATERIAL"),
      "a secret value was journaled",
    );
    for (const [i, port] of ports.entries()) {
      const rec = (await journal.history(`58:cf:79:00:0e:0${i + 1}`))[0];
      await using dev = await connect(port);
      const items = parseNvs(await dev.read({ partition: "nvs" })).items;
      if (rec.result === "failed") {
        assert.equal(rec.stage, "nvs");
        assert.equal(rec.fields.serial, "LINE1-000003");
        assert.equal(items.length, 0, "nothing written to its NVS");
        continue;
      }
      const values = Object.fromEntries(items.map((x) => [x.key, x.value]));
      const n = String(rec.fields.serial).slice(-1);
      assert.equal(values.serial_no, rec.fields.serial);
      assert.equal(values.hw_rev, 3);
      assert.equal(values.device_cert, `CERT ${n}\n`);
      assert.equal(
        new TextDecoder().decode(values.device_key as Uint8Array),
        `KEY-MATERIAL-${n}-7c4a8d09`,
      );
      assert.deepEqual((rec.fields.nvs as { secret: string[] }).secret, ["factory/device_key"]);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
