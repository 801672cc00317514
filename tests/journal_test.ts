import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { openJournal } from "../lib/station/journal.ts";
import { EsplineError } from "../lib/errors.ts";

const JOURNAL_MODULE = new URL("../lib/station/journal.ts", import.meta.url).href;
const MOD = new URL("../mod.ts", import.meta.url).href;
// Child scripts live in a temp dir: point them at the project config for its import map.
const CONFIG = new URL("../deno.json", import.meta.url).pathname;

Deno.test("records round-trip: facts, events, pass and fail, history newest first", async () => {
  await using j = await openJournal(":memory:");
  const a = await j.begin({
    port: "p1",
    station: "s",
    files: [{ path: "app.bin", sha256: "ab", address: 0x10000 }],
  });
  await a.update({
    mac: "24:0A:C4:00:00:01",
    chip: "esp32",
    revision: "v3.1",
    flashSize: 4194304,
    stage: "flash",
  });
  await a.event("recovery", "E_TIMEOUT: retrying at 115200");
  await a.fail(new EsplineError("E_VERIFY_FAILED", "bad md5"), { stage: "verify" });
  const b = await j.begin({ port: "p1", station: "s" });
  await b.update({ mac: "24:0a:c4:00:00:01", fields: { serial: "ESP-1" } });
  await b.pass();
  const h = await j.history("24:0a:c4:00:00:01");
  assert.deepEqual(h.map((r) => r.result), ["passed", "failed"]);
  assert.equal(h[1].errorCode, "E_VERIFY_FAILED");
  assert.equal(h[1].stage, "verify");
  assert.equal(h[1].revision, "v3.1");
  assert.deepEqual(h[1].files, [{ path: "app.bin", sha256: "ab", address: 0x10000 }]);
  assert.deepEqual(h[1].events.map((e) => e.kind), ["recovery"]);
  assert.deepEqual(h[0].fields, { serial: "ESP-1" });
  assert.equal(await j.lastResult("24:0a:c4:00:00:01"), "passed");
  assert.equal(await j.lastResult("00:00:00:00:00:00"), null);
  assert.deepEqual(await j.summary(), { total: 2, passed: 1, failed: 1 });
});

Deno.test("serial numbers: unique, and the same MAC gets its number back", async () => {
  await using j = await openJournal(":memory:");
  const s1 = await j.allocateSerial("aa:00:00:00:00:01", { prefix: "LINE1-", digits: 4 });
  const s2 = await j.allocateSerial("aa:00:00:00:00:02", { prefix: "LINE1-", digits: 4 });
  assert.equal(s1, "LINE1-0001");
  assert.equal(s2, "LINE1-0002");
  assert.equal(await j.allocateSerial("AA:00:00:00:00:01", { prefix: "LINE1-", digits: 4 }), s1);
});

Deno.test("CSV export quotes commas, quotes and newlines; JSONL has one record per line", async () => {
  await using j = await openJournal(":memory:");
  const r = await j.begin({ port: "p", station: 'line "1", east' });
  await r.fail(new EsplineError("E_X", "first line\nsecond, with comma"), { stage: "flash" });
  const csv = await j.exportCsv();
  assert.match(csv, /"line ""1"", east"/);
  assert.match(csv, /"first line\nsecond, with comma"/);
  assert.equal(csv.split("\r\n")[0].split(",")[0], "id");
  const lines = (await j.exportJsonl()).trim().split("\n");
  assert.equal(lines.length, 1);
  assert.equal(JSON.parse(lines[0]).result, "failed");
});

Deno.test("a file that is not a journal is refused with a typed error", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/j.db`, "this is not sqlite, just text padding ".repeat(50));
    await assert.rejects(
      () => openJournal(`${dir}/j.db`),
      (e) => e instanceof EsplineError && e.code === "E_JOURNAL_CORRUPT",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SIGKILL mid-flash leaves the journal consistent and the board incomplete, never passed", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/line.db`;
    // A real station run in a child process, killed while the board is being flashed.
    const script = `
      import { openJournal, runStation } from ${JSON.stringify(MOD)};
      const j = await openJournal(${JSON.stringify(path)});
      const data = new Uint8Array(2 * 1024 * 1024).map((_, i) => (i * 2654435761) >>> 24);
      await runStation(["sim://esp32?mac=02:00:00:00:00:99&pace=1"], async ({ device, stage }) => {
        stage("flash");
        console.log("FLASHING");
        await device.writeFlash([{ address: 0x10000, data }], { skipUnchanged: false });
      }, { journal: j, connect: { baud: 115200 } });
      console.log("FINISHED");
    `;
    await Deno.writeTextFile(`${dir}/child.ts`, script);
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--config", CONFIG, `${dir}/child.ts`],
      stdout: "piped",
      stderr: "null",
      env: { RUST_BACKTRACE: "0" },
    }).spawn();
    const reader = child.stdout.getReader();
    let seen = "";
    while (!seen.includes("FLASHING")) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += new TextDecoder().decode(value);
    }
    assert.match(seen, /FLASHING/);
    await new Promise((r) => setTimeout(r, 300)); // well into the multi-second write
    child.kill("SIGKILL");
    await child.status;
    await reader.cancel();

    // The file is intact and the record is still marked in progress…
    const raw = new DatabaseSync(path);
    assert.deepEqual(Object.values(raw.prepare("PRAGMA integrity_check").get() as object), ["ok"]);
    raw.close();
    // …until a journal is opened: then the dead process's record becomes incomplete.
    await using j = await openJournal(path);
    const h = await j.history("02:00:00:00:00:99");
    assert.equal(h.length, 1);
    assert.equal(h[0].result, "incomplete");
    assert.equal(h[0].stage, "flash");
    assert.equal((await j.summary()).passed ?? 0, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("two processes allocating serials at once never share a number", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/serials.db`;
    await (await openJournal(path)).close();
    const script = (tag: string) => `
      import { openJournal } from ${JSON.stringify(JOURNAL_MODULE)};
      const j = await openJournal(${JSON.stringify(path)});
      const out = [];
      for (let i = 0; i < 40; i++) out.push(await j.allocateSerial("${tag}:" + i.toString(16).padStart(2, "0")));
      console.log(JSON.stringify(out));
      await j.close();
    `;
    const runs = await Promise.all(["aa:aa:aa:aa:aa", "bb:bb:bb:bb:bb"].map(async (tag, k) => {
      await Deno.writeTextFile(`${dir}/c${k}.ts`, script(tag));
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--config", CONFIG, `${dir}/c${k}.ts`],
        stderr: "inherit",
      })
        .output();
      assert.equal(out.code, 0);
      return JSON.parse(new TextDecoder().decode(out.stdout)) as string[];
    }));
    const all = runs.flat();
    assert.equal(all.length, 80);
    assert.equal(new Set(all).size, 80, "every serial is unique");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

import { runCli } from "../lib/cli/main.ts";

Deno.test("journal CLI: summary, history and CSV export", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/j.db`;
    {
      await using j = await openJournal(path);
      const r = await j.begin({ port: "sim://esp32" });
      await r.update({ mac: "02:00:00:00:00:01", chip: "esp32" });
      await r.pass();
    }
    let out = "";
    const sinks = { stdout: (t: string) => (out += t), stderr: () => {}, isTerminal: false };
    assert.equal(await runCli(["journal", "--journal", path, "summary"], { sinks }), 0);
    assert.match(out, /passed\s+1/);
    out = "";
    assert.equal(
      await runCli(["journal", "--journal", path, "history", "02:00:00:00:00:01"], { sinks }),
      0,
    );
    assert.match(out, /passed\s+esp32 sim:\/\/esp32/);
    assert.equal(
      await runCli(["journal", "--journal", path, "export", "-o", `${dir}/j.csv`], { sinks }),
      0,
    );
    assert.match(await Deno.readTextFile(`${dir}/j.csv`), /^id,mac,chip/);
    assert.equal(await runCli(["journal", "--journal", `${dir}/none.db`, "summary"], { sinks }), 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
