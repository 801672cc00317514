/**
 * A line as its engineers run it: `scripts/provision.ts` with a live
 * dashboard, per-board NVS from a mass-manufacturing template, and a
 * journal on PostgreSQL (a throwaway cluster) or unreachable, on virtual
 * boards, in child processes as a person would start them.
 */

import assert from "node:assert/strict";
import { connect } from "../lib/device/device.ts";
import { sha256Hex } from "../lib/device/nvs_write.ts";
import { parseNvs } from "../lib/image/nvs_parse.ts";
import { openJournal } from "../lib/station/journal.ts";
import { EsplineError } from "../lib/errors.ts";
import { openStationJournal } from "../scripts/script_main.ts";
import { writeDemoBuild } from "../scripts/demo_firmware.ts";
import { externalTest, freePort, postgres } from "./support/external.ts";
import { testSchema } from "./support/postgres.ts";
import { runDeno } from "./support/run_deno.ts";

const CONFIG = new URL("../deno.json", import.meta.url).pathname;
const script = (name: string) => new URL(`../scripts/${name}`, import.meta.url).pathname;

/** A script started as a child, its output read line by line as it comes. */
function startScript(name: string, args: string[], cwd?: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", CONFIG, script(name), ...args],
    cwd,
    stdout: "piped",
    stderr: "piped",
    env: { RUST_BACKTRACE: "0", NO_COLOR: "1" },
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let out = "";
  const stderr = new Response(child.stderr).text();
  return {
    /** The process's exit code, when it exits. */
    exited: child.status.then((s) => s.code),
    /** The next whole line of stdout (null at its end). */
    async line(): Promise<string | null> {
      while (!buffer.includes("\n")) {
        const { value, done } = await lines.read();
        if (done) return null;
        buffer += value;
        out += value;
      }
      const i = buffer.indexOf("\n");
      const line = buffer.slice(0, i);
      buffer = buffer.slice(i + 1);
      return line;
    },
    /** Wait for the end: exit code and everything printed. */
    async end(): Promise<{ code: number; out: string }> {
      while (true) {
        const { value, done } = await lines.read();
        if (done) break;
        out += value;
      }
      const status = await child.status;
      return { code: status.code, out: out + (await stderr) };
    },
  };
}

/** Server-sent events of a dashboard, parsed (one `data:` line per event, as it sends them). */
async function* dashboardEvents(
  url: string,
  token: string,
): AsyncGenerator<{ event: string; data: unknown }> {
  const r = await fetch(`${url}events`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(r.status, 200);
  const reader = r.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1] ?? "message";
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (data !== undefined) yield { event, data: JSON.parse(data) };
      }
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}

interface WireTile {
  port: string;
  station: string;
  state: string;
  mac: string | null;
  serial: string | null;
  last: { result: string; mac: string | null; serial: string | null } | null;
}

Deno.test("provision.ts --dashboard: a page's event stream sees each board's tile go to passed with its MAC and serial while the stations run, a second station's too", async () => {
  const dir = await Deno.makeTempDir();
  // A third "board" on a TCP port the test holds: the run cannot end until the test lets it go.
  const hold = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const holdPort = `socket://127.0.0.1:${(hold.addr as Deno.NetAddr).port}`;
  let station: ReturnType<typeof startScript> | null = null;
  let held: Deno.Conn | null = null;
  let guard: ReturnType<typeof setTimeout> | undefined;
  const release = () => {
    for (const c of [held, hold]) {
      try {
        c?.close();
      } catch { /* closed already */ }
    }
  };
  try {
    await writeDemoBuild(`${dir}/build`, "esp32c3", { fixtures: false, appSize: 20000 });
    const sims = [1, 2].map((n) => `sim://esp32c3?mac=58:cf:79:00:0a:0${n}`);
    const dashboardPort = freePort();
    const token = "line-token-5e884898da28";
    station = startScript("provision.ts", [
      "--manifest",
      `${dir}/build`,
      ...[...sims, holdPort].flatMap((p) => ["--port", p]),
      "--journal",
      `${dir}/line.db`,
      "--station",
      "line-9",
      "--dashboard",
      `127.0.0.1:${dashboardPort}`,
      "--dashboard-token",
      token,
      "--connect-attempts",
      "0", // the held board is tried until the test lets it go
    ]);
    const first = await station.line();
    const url = `http://127.0.0.1:${dashboardPort}/`;
    assert.equal(first, `dashboard: ${url}?token=${token}`);
    const running = station;
    const conn = held = await Promise.race([
      hold.accept(),
      running.exited.then(async () => {
        throw new Error(`the station ended early:\n${(await running.end()).out}`);
      }),
    ]);
    // A hang guard, not a timed assertion: letting the held board go ends the station's run.
    guard = setTimeout(release, 120_000);
    (async () => {
      const sink = new Uint8Array(4096);
      try {
        while ((await conn.read(sink)) !== null) { /* the station's SYNC attempts */ }
      } catch { /* closed by the test */ }
    })();

    // A second station (another process, or PC) sends its board to the same page.
    const other = "sim://esp32c3?mac=58:cf:79:00:0a:08";
    let second: Promise<{ code: number; out: string }> | null = null;
    const tiles = new Map<string, WireTile>();
    const seenRunningWithMac = new Set<string>();
    for await (const { event, data } of dashboardEvents(url, token)) {
      const changed = event === "snapshot"
        ? (data as { tiles: WireTile[] }).tiles
        : event === "tile"
        ? [data as WireTile]
        : [];
      for (const t of changed) {
        tiles.set(t.port, t);
        if (t.state === "running" && t.mac) seenRunningWithMac.add(t.port);
        if (t.state !== "running" && t.state !== "passed") {
          throw new Error(`${t.port} ended ${t.state}: ${JSON.stringify(t.last)}`);
        }
      }
      if (sims.every((p) => tiles.get(p)?.state === "passed")) {
        second ??= runDeno("scripts/provision.ts", [
          "--manifest",
          `${dir}/build`,
          "--port",
          other,
          "--journal",
          `${dir}/line.db`,
          "--station",
          "line-8",
          "--dashboard",
          url,
          "--dashboard-token",
          token,
        ]);
        if (tiles.get(other)?.state === "passed") break;
      }
    }
    // Every virtual board passed while the first station still runs (the held board keeps it going).
    assert.equal(tiles.get(holdPort)?.state, "running");
    const secondEnd = await second!;
    assert.equal(secondEnd.code, 0, secondEnd.out);
    assert.match(secondEnd.out, new RegExp(`^dashboard: ${url}$`, "m"));
    const forwarded = tiles.get(other)!;
    assert.equal(forwarded.station, "line-8");
    assert.equal(forwarded.mac, "58:cf:79:00:0a:08");
    assert.match(String(forwarded.serial), /^ESP-\d{6}$/);
    const journal = await openJournal(`${dir}/line.db`, { readOnly: true });
    for (const [i, p] of sims.entries()) {
      const t = tiles.get(p)!;
      const mac = `58:cf:79:00:0a:0${i + 1}`;
      assert.equal(t.station, "line-9");
      assert.equal(t.mac, mac);
      assert.equal(t.last?.mac, mac);
      const serial = (await journal.history(mac))[0].fields.serial;
      assert.match(String(serial), /^ESP-\d{6}$/);
      assert.equal(t.serial, serial);
      assert.equal(t.last?.serial, serial);
      assert.ok(seenRunningWithMac.has(p), "the tile showed the board's MAC while it ran");
    }
    await journal.close();
    release();
    const end = await station.end();
    station = null;
    assert.equal(end.code, 1, end.out);
    assert.match(end.out, /^2 passed, 1 failed$/m);
    assert.match(end.out, /socket:\/\/127\.0\.0\.1:\d+: failed at connect/);
  } finally {
    clearTimeout(guard);
    release(); // however the test ended, the station's run ends and its process exits
    await station?.end();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("provision.ts --nvs-template: each board's own serial, certificate and key in its NVS; a missing certificate fails that board at nvs with its NVS unwritten", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeDemoBuild(`${dir}/build`, "esp32c3", { fixtures: false, appSize: 20000 });
    // The mass-manufacturing utility's files: a configuration CSV and one values row for all.
    await Deno.writeTextFile(
      `${dir}/mfg_config.csv`,
      "factory,namespace,\nserial_no,data,string\nmac,data,hex2bin\nhw_rev,data,u8,REPEAT\n" +
        "device_cert,file,string\ndevice_key,file,binary,SECRET\n",
    );
    await Deno.writeTextFile(
      `${dir}/mfg_values.csv`,
      "id,serial_no,mac,hw_rev,device_cert,device_key\n" +
        "1,{serial},{mac_hex},3,{serial}.pem,{serial}.key\n",
    );
    await Deno.mkdir(`${dir}/certs`);
    // Certificates for the first two serials only.
    for (const n of [1, 2]) {
      await Deno.writeTextFile(`${dir}/certs/LINE1-00000${n}.pem`, `CERT ${n}\n`);
      await Deno.writeTextFile(`${dir}/certs/LINE1-00000${n}.key`, `SECRET-KEY-${n}-5f4dcc3b5aa7`);
    }
    const ports = [1, 2, 3].map((n) =>
      `sim://esp32c3?mac=58:cf:79:00:0b:0${n}&flash=${dir}/board${n}.bin`
    );
    // One board after another, so the serial numbers follow the ports.
    const outputs: string[] = [];
    let code = 0;
    for (const port of ports) {
      const r = await runDeno("scripts/provision.ts", [
        "--manifest",
        `${dir}/build`,
        "--port",
        port,
        "--journal",
        `${dir}/line.db`,
        "--nvs-template",
        `${dir}/mfg_config.csv`,
        "--nvs-values",
        `${dir}/mfg_values.csv`,
        "--nvs-files",
        `${dir}/certs`,
        "--expect",
        "base MAC {mac}",
        "--serial-prefix",
        "LINE1-",
      ]);
      outputs.push(r.out);
      code = Math.max(code, r.code);
    }
    assert.match(outputs[0], /^1 passed, 0 failed$/m, outputs[0]);
    assert.match(outputs[1], /^1 passed, 0 failed$/m, outputs[1]);
    assert.match(outputs[2], /^0 passed, 1 failed$/m, outputs[2]);
    assert.match(
      outputs[2],
      /failed at nvs: E_NVS_FILE: \S*mfg_config\.csv line 5 \(key "device_cert"\): the file .*LINE1-000003\.pem for this board \(serial LINE1-000003, MAC 58:cf:79:00:0b:03\) cannot be read \(not found\)/,
    );
    await using journal = await openJournal(`${dir}/line.db`);
    for (const n of [1, 2]) {
      const rec = (await journal.history(`58:cf:79:00:0b:0${n}`))[0];
      assert.equal(rec.result, "passed");
      assert.equal(rec.fields.serial, `LINE1-00000${n}`);
      await using dev = await connect(ports[n - 1]);
      const partition = await dev.read({ partition: "nvs" });
      const items = Object.fromEntries(parseNvs(partition).items.map((x) => [x.key, x.value]));
      assert.equal(items.serial_no, `LINE1-00000${n}`);
      assert.deepEqual(items.mac, new Uint8Array([0x58, 0xcf, 0x79, 0, 0x0b, n]));
      assert.equal(items.hw_rev, 3);
      assert.equal(items.device_cert, `CERT ${n}\n`);
      assert.equal(
        new TextDecoder().decode(items.device_key as Uint8Array),
        `SECRET-KEY-${n}-5f4dcc3b5aa7`,
      );
      const nvs = rec.fields.nvs as { sha256: string; keys: string[]; secret: string[] };
      assert.equal(nvs.sha256, await sha256Hex(partition));
      assert.deepEqual(nvs.secret, ["factory/device_key"]);
      assert.equal(nvs.keys.length, 5);
    }
    // The board without a certificate: failed at nvs, its firmware there, its NVS never written.
    const bad = (await journal.history("58:cf:79:00:0b:03"))[0];
    assert.equal(bad.result, "failed");
    assert.equal(bad.stage, "nvs");
    assert.equal(bad.fields.nvs, undefined);
    {
      await using dev = await connect(ports[2]);
      assert.ok((await dev.read({ partition: "nvs" })).every((b) => b === 0xff));
      assert.ok(!(await dev.read({ address: 0x10000, size: 0x100 })).every((b) => b === 0xff));
    }
    const shown = outputs.join("\n") + (await journal.exportJsonl()) + (await journal.exportCsv());
    assert.ok(!shown.includes("SECRET-KEY-"), "a secret value was printed or journaled");
    assert.ok(!shown.includes("5f4dcc3b5aa7"));
    // Where the station prints what it wrote, it names the keys and the image.
    assert.match(
      outputs[0],
      /nvs: 5 keys \(factory\/serial_no, .*factory\/device_key\) in partition nvs at 0x9000, sha256 [0-9a-f]{64}/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("provision.ts with a PostgreSQL journal that cannot be reached does not start: no board is touched", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeDemoBuild(`${dir}/build`, "esp32c3", { fixtures: false, appSize: 4096 });
    const url = `postgres://espline:secret@127.0.0.1:${freePort()}/line1`;
    const r = await runDeno("scripts/provision.ts", [
      "--manifest",
      `${dir}/build`,
      "--port",
      `sim://esp32c3?flash=${dir}/board.bin`,
      "--journal",
      url,
      "--journal-timeout",
      "0.5",
    ]);
    assert.equal(r.code, 1, r.out);
    assert.match(
      r.out,
      /^error: cannot reach the PostgreSQL journal at 127\.0\.0\.1:\d+ .*\(the station did not start: no board was touched\)$/m,
    );
    assert.ok(!r.out.includes("secret"), "the password is not printed");
    // The virtual board was never opened.
    await assert.rejects(() => Deno.stat(`${dir}/board.bin`), Deno.errors.NotFound);
    // The same, as a script sees it: a typed error.
    const e = await openStationJournal(url, 0.5).then(() => null, (e) => e);
    assert.ok(e instanceof EsplineError);
    assert.equal(e.code, "E_JOURNAL_UNREACHABLE");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("provision.ts refuses a dashboard open to the network without a token, and NVS options without a template, before anything", async () => {
  const open = await runDeno("scripts/provision.ts", [
    "--firmware",
    "0x10000=/nonexistent/app.bin",
    "--port",
    "sim://esp32",
    "--dashboard",
    "0.0.0.0:8080",
  ]);
  assert.equal(open.code, 2, open.out);
  assert.match(
    open.out,
    /^error: --dashboard 0\.0\.0\.0:8080 would show the line to the network without a token: give --dashboard-token/m,
  );
  const nvs = await runDeno("scripts/provision.ts", [
    "--firmware",
    "0x10000=/nonexistent/app.bin",
    "--nvs-files",
    "certs/",
  ]);
  assert.equal(nvs.code, 2, nvs.out);
  assert.match(nvs.out, /^error: --nvs-files goes with --nvs-template FILE/m);
});

externalTest({
  name:
    "provision.ts and log_macs.ts on a PostgreSQL journal: serials unique across stations, a board's history across scripts",
  needs: [postgres()],
  async fn() {
    const dir = await Deno.makeTempDir();
    await using schema = await testSchema();
    try {
      await writeDemoBuild(`${dir}/build`, "esp32c3", { fixtures: false, appSize: 4096 });
      const station = (name: string, macs: string[]) =>
        runDeno("scripts/provision.ts", [
          "--manifest",
          `${dir}/build`,
          ...macs.flatMap((m) => ["--port", `sim://esp32c3?mac=${m}`]),
          "--journal",
          schema.url,
          "--station",
          name,
        ]);
      // Two stations at once on one database.
      const [a, b] = await Promise.all([
        station("line-1", ["58:cf:79:00:0c:01", "58:cf:79:00:0c:02"]),
        station("line-2", ["58:cf:79:00:0c:03", "58:cf:79:00:0c:04"]),
      ]);
      assert.equal(a.code, 0, a.out);
      assert.equal(b.code, 0, b.out);
      const macs = await runDeno("scripts/log_macs.ts", [
        "--port",
        "sim://esp32c3?mac=58:cf:79:00:0c:03",
        "--journal",
        schema.url,
      ]);
      assert.equal(macs.code, 0, macs.out);
      assert.match(macs.out, /58:cf:79:00:0c:03\t\(seen before: passed\)/);
      await using journal = await openJournal(schema.url);
      const records = (await journal.records()).filter((r) => r.fields.serial !== undefined);
      const serials = records.map((r) => r.fields.serial);
      assert.equal(serials.length, 4);
      assert.equal(new Set(serials).size, 4, `duplicated serials: ${serials}`);
      assert.deepEqual(new Set(records.map((r) => r.station)), new Set(["line-1", "line-2"]));
      assert.equal((await journal.history("58:cf:79:00:0c:03")).length, 2);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
