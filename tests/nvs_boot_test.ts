/**
 * The virtual chip's application announces what is in its own NVS partition
 * at boot (issue 16 item 4): its NVS reader (lib/sim/nvs_reader.ts) agrees
 * with the client's (lib/image/nvs_parse.ts) on ESP-IDF generator images;
 * a station writes each board's serial into its NVS, and the boot check
 * `serial {serial}` passes only where the board prints its own serial from
 * its own flash. A board whose NVS was not written, was erased, or holds
 * another board's serial fails the check, with the app's IDF-style error
 * line (or the wrong serial) among the last lines.
 */

import assert from "node:assert/strict";
import { connect } from "../lib/device/device.ts";
import { loadFirmware } from "../lib/device/firmware.ts";
import { parseNvs } from "../lib/image/nvs_parse.ts";
import { nvsTemplate } from "../lib/image/nvs_template.ts";
import { stripAnsi } from "../lib/monitor/monitor.ts";
import { openJournal } from "../lib/station/journal.ts";
import { runStation } from "../lib/station/runner.ts";
import { initNvs, type NvsGetType } from "../lib/sim/nvs_reader.ts";
import { demoFirmware, writeDemoBuild } from "../scripts/demo_firmware.ts";
import { runDeno } from "./support/run_deno.ts";

const ROOT = new URL("../", import.meta.url);
const FIXTURES = new URL("fixtures/nvs/", import.meta.url);
/** What the boards' application prints: its serial number, read from NVS. */
const APP_LINE = encodeURIComponent("serial {nvs:factory/serial_no}");
const board = (dir: string, n: number, mac = `58:cf:79:00:0e:0${n}`) =>
  `sim://esp32c3?mac=${mac}&flash=${dir}/board${n}.bin&app=${APP_LINE}`;

/** Values the way both readers can be compared: 64-bit integers and bytes as text. */
function comparable(v: unknown): string {
  return typeof v === "bigint"
    ? `${v}n`
    : v instanceof Uint8Array
    ? `bytes ${v.join(",")}`
    : String(v);
}

Deno.test("the virtual chip's NVS reader finds every key of ESP-IDF's generator images with the value the client's parser finds", async () => {
  let images = 0;
  let keys = 0;
  for await (const file of Deno.readDir(new URL("out/", FIXTURES))) {
    const name = file.name.replace(/\.bin$/, "");
    const image = await Deno.readFile(new URL(`out/${file.name}`, FIXTURES));
    // A one-page partition holding data has no free page: ESP-IDF reads it only if read-only.
    const init = initNvs(image, { readOnly: name.includes("readonly") });
    assert.ok(init.ok, `${name}: ${init.ok ? "" : init.error}`);
    const client = parseNvs(image).items.filter((it) => it.namespace !== null);
    // By namespace index: where two namespace entries claim one index (the generator's
    // diff_no_namespace), both names open it, and the readers name it differently.
    const clientKeys = client.map((it) =>
      `${it.nsIndex}/${it.key}:${it.type === "string" ? "str" : it.type}`
    );
    const simKeys = init.nvs.keys().map((k) => `${k.nsIndex}/${k.key}:${k.type}`);
    assert.deepEqual(simKeys.toSorted(), clientKeys.toSorted(), name);
    for (const it of client) {
      const type = (it.type === "string" ? "str" : it.type) as NvsGetType;
      const got = init.nvs.get(init.nvs.namespaceIndex(it.namespace!)!, it.key, type);
      assert.ok(got.ok, `${name} ${it.namespace}/${it.key}`);
      const value: unknown = type === "str"
        ? new TextDecoder("utf-8", { ignoreBOM: true }).decode(got.value as Uint8Array)
        : got.value;
      assert.equal(comparable(value), comparable(it.value), `${name} ${it.namespace}/${it.key}`);
      keys++;
    }
    images++;
  }
  assert.ok(images >= 26 && keys > 1000, `${images} images, ${keys} keys`);
});

Deno.test("the virtual chip's boot and NVS reading import nothing of the client", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "--config", new URL("deno.json", ROOT).pathname, "lib/sim/boot.ts"],
    cwd: ROOT.pathname,
    stdout: "piped",
  }).output();
  const graph: { modules: { specifier: string }[] } = JSON.parse(
    new TextDecoder().decode(out.stdout),
  );
  const project = graph.modules.map((m) => m.specifier).filter((s) => s.startsWith(ROOT.href))
    .map((s) => s.slice(ROOT.href.length));
  assert.ok(project.includes("lib/sim/nvs_reader.ts"));
  assert.deepEqual(project.filter((f) => !f.startsWith("lib/sim/")), []);
});

Deno.test("provision.ts --nvs-template --expect 'serial {serial}': each board announces its own serial from its own NVS; a board whose NVS was not written fails the boot check with the app's NVS error", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeDemoBuild(`${dir}/build`, "esp32c3", { fixtures: false, appSize: 4096 });
    // ESP-IDF's NVS generator CSV, {serial} being each board's own.
    await Deno.writeTextFile(
      `${dir}/nvs.csv`,
      "key,type,encoding,value\nfactory,namespace,,\nserial_no,data,string,{serial}\n",
    );
    const common = [
      "--manifest",
      `${dir}/build`,
      "--journal",
      `${dir}/line.db`,
      "--serial-prefix",
      "LINE7-",
      "--expect",
      "serial {serial}$",
    ];
    const ports = [1, 2, 3].map((n) => board(dir, n));
    const run = await runDeno("scripts/provision.ts", [
      ...common,
      "--nvs-template",
      `${dir}/nvs.csv`,
      ...ports.flatMap((p) => ["--port", p]),
    ]);
    assert.equal(run.code, 0, run.out);
    assert.match(run.out, /^3 passed, 0 failed$/m);

    const serials: string[] = [];
    {
      await using journal = await openJournal(`${dir}/line.db`);
      for (const n of [1, 2, 3]) {
        const rec = (await journal.history(`58:cf:79:00:0e:0${n}`))[0];
        assert.equal(rec.result, "passed");
        serials.push(String(rec.fields.serial));
      }
    }
    assert.equal(new Set(serials).size, 3, "three boards, three serials");
    for (const [i, port] of ports.entries()) {
      // Its own NVS holds its own serial, and its app prints that one.
      await using dev = await connect(port);
      const nvs = parseNvs(await dev.read({ partition: "nvs" }));
      assert.equal(nvs.items.find((it) => it.key === "serial_no")?.value, serials[i]);
      await using mon = await dev.monitor();
      const { line } = await mon.expect(/^serial /, { timeoutMs: 10_000 });
      assert.equal(line.text, `serial ${serials[i]}`);
    }

    // A fourth board provisioned without its NVS: it boots, but has no serial to announce.
    const skipped = await runDeno("scripts/provision.ts", [
      ...common,
      "--expect-timeout",
      "2",
      "--port",
      board(dir, 4),
    ]);
    assert.equal(skipped.code, 1, skipped.out);
    assert.match(skipped.out, /^0 passed, 1 failed$/m);
    assert.match(
      stripAnsi(skipped.out),
      /failed at boot-check: E_EXPECT_TIMEOUT: expected \/serial LINE7-000004\$\/ within 2000 ms, but it did not appear\. Last \d+ lines:\n[\s\S]*\| E \(\d+\) app: nvs_open\(factory\) failed: ESP_ERR_NVS_NOT_FOUND/,
    );
    await using journal = await openJournal(`${dir}/line.db`);
    const rec = (await journal.history("58:cf:79:00:0e:04"))[0];
    assert.equal(rec.result, "failed");
    assert.equal(rec.stage, "boot-check");
    assert.equal(rec.errorCode, "E_EXPECT_TIMEOUT");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("station nvs() then a boot check on the serial: another board's serial in the NVS, or an erased NVS, fails that board at boot with what its app printed", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const firmware = await loadFirmware(
      (await demoFirmware("esp32c3", { fixtures: false, appSize: 4096 })).map((f) => ({
        address: f.address,
        data: f.data,
        name: f.name,
      })),
    );
    const template = nvsTemplate({
      factory: {
        serial_no: { type: "string", value: "{serial}" },
        hw_rev: { type: "u8", value: 3 },
      },
    });
    await using journal = await openJournal(":memory:");
    const ports = [1, 2, 3, 4].map((n) => board(dir, n, `58:cf:79:00:0f:0${n}`));
    const summary = await runStation(ports, async ({ device, port, stage, note, nvs }) => {
      stage("flash");
      await device.flash(firmware);
      stage("serial");
      const serial = await journal.allocateSerial(await device.readMac(), { prefix: "LINE8-" });
      note({ serial });
      if (port === ports[2]) {
        await nvs(template, { serial: "LINE8-999999" }); // a value meant for another board
      } else await nvs(template);
      if (port === ports[3]) await device.erase({ partition: "nvs" }); // gone again
      stage("boot");
      await using mon = await device.monitor();
      await mon.expect(new RegExp(`^serial ${serial}$`), { timeoutMs: 2000 });
    }, { journal });
    const [a, b, wrong, erased] = summary.outcomes;
    assert.equal(a.result, "passed", a.error?.message ?? "");
    assert.equal(b.result, "passed", b.error?.message ?? "");
    for (const o of [wrong, erased]) {
      assert.equal(o.result, "failed");
      assert.equal(o.stage, "boot");
      assert.equal(o.error?.code, "E_EXPECT_TIMEOUT");
    }
    assert.match(wrong.error!.message, /\| serial LINE8-999999$/m);
    assert.match(
      stripAnsi(erased.error!.message),
      /\| E \(\d+\) app: nvs_open\(factory\) failed: ESP_ERR_NVS_NOT_FOUND/,
    );
    assert.doesNotMatch(erased.error!.message, /\| serial /);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
