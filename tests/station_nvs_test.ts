/**
 * Per-board NVS in a station run (issue 16 item 2), on virtual boards:
 * every board gets its own values in its own NVS partition, read back from
 * the chip; the journal has the image's SHA-256 and the key names, never a
 * secret value; a missing file or a value that does not fit fails the board
 * at `nvs` with nothing written to the partition.
 */

import assert from "node:assert/strict";
import { connect } from "../lib/device/device.ts";
import { loadFirmware } from "../lib/device/firmware.ts";
import { sha256Hex } from "../lib/device/nvs_write.ts";
import { nvsTemplate } from "../lib/image/nvs_template.ts";
import { parseNvs } from "../lib/image/nvs_parse.ts";
import { openJournal } from "../lib/station/journal.ts";
import { runStation, type StationEvent } from "../lib/station/runner.ts";
import { demoFirmware } from "../scripts/demo_firmware.ts";

const firmware = await loadFirmware(
  (await demoFirmware("esp32c3", { fixtures: false, appSize: 4096 })).map((f) => ({
    address: f.address,
    data: f.data,
    name: f.name,
  })),
);

/** Bytes that are recognisably a secret wherever they turn up (text, JSON, hex). */
const SECRET = (n: number) => `PRIVATE-KEY-MATERIAL-${n}-d41d8cd98f00b204`;
const asHex = (text: string) =>
  [...new TextEncoder().encode(text)].map((b) => b.toString(16).padStart(2, "0")).join("");

function template(certs: string) {
  return nvsTemplate({
    factory: {
      serial_no: { type: "string", value: "{serial}" },
      mac: { type: "hex2bin", value: "{mac_hex}" },
      hw_rev: { type: "u8", value: 3 },
      device_cert: { type: "string", file: "{serial}.pem" },
      device_key: { type: "binary", file: "{serial}.key", secret: true },
    },
  }, { files: certs });
}

Deno.test("station nvs(): each board gets its own serial, certificate and key in its NVS partition; the journal has the SHA-256 and key names, not the secret", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/certs`);
    for (const n of [1, 2, 3]) {
      await Deno.writeTextFile(`${dir}/certs/LINE-00000${n}.pem`, `CERT for board ${n}\n`);
      await Deno.writeTextFile(`${dir}/certs/LINE-00000${n}.key`, SECRET(n));
    }
    await using journal = await openJournal(`${dir}/line.db`);
    const ports = [1, 2, 3].map((n) =>
      `sim://esp32c3?mac=58:cf:79:00:01:0${n}&flash=${dir}/board${n}.bin`
    );
    const events: StationEvent[] = [];
    const summary = await runStation(ports, async ({ device, stage, note, nvs }) => {
      stage("flash");
      await device.flash(firmware);
      stage("serial");
      note({ serial: await journal.allocateSerial(await device.readMac(), { prefix: "LINE-" }) });
      const report = await nvs(template(`${dir}/certs`));
      assert.equal(report.verified, true);
    }, { journal, station: "line-1", onEvent: (e) => events.push(e) });
    assert.equal(summary.passed, 3, JSON.stringify(summary.outcomes));

    const records = await journal.records();
    for (const [i, port] of ports.entries()) {
      const rec = records.find((r) => r.port === port)!;
      const serial = rec.fields.serial as string;
      assert.match(serial, /^LINE-00000[123]$/);
      // What the firmware will read, from the board itself.
      await using dev = await connect(port);
      const partition = await dev.read({ partition: "nvs" });
      const items = Object.fromEntries(parseNvs(partition).items.map((x) => [x.key, x.value]));
      assert.equal(items.serial_no, serial);
      assert.deepEqual(items.mac, new Uint8Array([0x58, 0xcf, 0x79, 0, 1, i + 1]));
      assert.equal(items.hw_rev, 3);
      const n = Number(serial.slice(-1));
      assert.equal(items.device_cert, `CERT for board ${n}\n`);
      assert.equal(new TextDecoder().decode(items.device_key as Uint8Array), SECRET(n));
      // The journal: where, which image, which keys; never a value of the secret one.
      assert.deepEqual(rec.fields.nvs, {
        partition: "nvs",
        address: 0x9000,
        size: 0x6000,
        sha256: await sha256Hex(partition),
        keys: [
          "factory/serial_no",
          "factory/mac",
          "factory/hw_rev",
          "factory/device_cert",
          "factory/device_key",
        ],
        secret: ["factory/device_key"],
      });
      assert.ok(
        rec.events.some((e) =>
          e.kind === "log" && e.detail.includes((rec.fields.nvs as { sha256: string }).sha256)
        ),
      );
    }
    const everything = [
      await journal.exportJsonl(),
      await journal.exportCsv(),
      JSON.stringify(events, (_k, v) => v instanceof Uint8Array ? [...v] : v),
    ].join("\n");
    for (const n of [1, 2, 3]) {
      assert.ok(!everything.includes(SECRET(n)), "a secret value reached the journal or events");
      assert.ok(!everything.includes(asHex(SECRET(n))));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("station nvs(): a missing certificate or a value that does not fit fails the board at nvs, its partition untouched, the secret unshown", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/certs`);
    // Only board 1's files exist.
    await Deno.writeTextFile(`${dir}/certs/LINE-000001.pem`, "CERT 1\n");
    await Deno.writeTextFile(`${dir}/certs/LINE-000001.key`, SECRET(1));
    const ports = [1, 2].map((n) =>
      `sim://esp32c3?mac=58:cf:79:00:02:0${n}&flash=${dir}/board${n}.bin`
    );
    // The boards hold their firmware (and partition table) already.
    for (const port of ports) {
      await using dev = await connect(port);
      await dev.flash(firmware);
    }
    const before = await Promise.all(
      ports.map((_, i) => Deno.readFile(`${dir}/board${i + 1}.bin`)),
    );
    await using journal = await openJournal(":memory:");
    const summary = await runStation(ports, async ({ note, nvs, port }) => {
      note({ serial: port === ports[0] ? "LINE-000002" : "LINE-000001" });
      await nvs(template(`${dir}/certs`));
    }, { journal });
    const [missing, other] = summary.outcomes;
    assert.equal(missing.result, "failed");
    assert.equal(missing.stage, "nvs");
    assert.equal(missing.error?.code, "E_NVS_FILE");
    assert.match(missing.error!.message, /LINE-000002\.pem for this board \(serial LINE-000002/);
    assert.equal(other.result, "passed");
    // Nothing was written to the failing board at all.
    assert.deepEqual(await Deno.readFile(`${dir}/board1.bin`), before[0]);
    assert.notDeepEqual(await Deno.readFile(`${dir}/board2.bin`), before[1]);
    const rec = (await journal.history("58:cf:79:00:02:01"))[0];
    assert.equal(rec.result, "failed");
    assert.equal(rec.stage, "nvs");
    assert.equal(rec.errorCode, "E_NVS_FILE");
    assert.equal(rec.fields.nvs, undefined);

    // A secret value that does not fit its type: failed at nvs, nothing written, value not shown.
    const pin = nvsTemplate({
      factory: { pin: { type: "u16", value: "{mac_hex}", secret: true } },
    });
    const again = await runStation([ports[0]], async ({ nvs }) => {
      await nvs(pin);
    }, { journal });
    const o = again.outcomes[0];
    assert.equal(o.stage, "nvs");
    assert.equal(o.error?.code, "E_NVS_VALUE");
    assert.ok(!o.error!.message.includes("58cf79000201"), o.error!.message);
    assert.match(o.error!.message, /secret key "pin" cannot be stored as u16/);
    assert.deepEqual(await Deno.readFile(`${dir}/board1.bin`), before[0]);
    const exported = await journal.exportJsonl();
    assert.ok(!exported.includes("58cf79000201"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("station nvs(): a partition that is not data/nvs, or {serial} before the board has one, is refused before writing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const port = `sim://esp32c3?mac=58:cf:79:00:03:01&flash=${dir}/board.bin`;
    {
      await using dev = await connect(port);
      await dev.flash(firmware);
    }
    const before = await Deno.readFile(`${dir}/board.bin`);
    const t = nvsTemplate({ factory: { serial_no: { type: "string", value: "{serial}" } } });
    const summary = await runStation([port], async ({ nvs }) => {
      await nvs(t, { partition: "factory", serial: "LINE-000009" });
    });
    const o = summary.outcomes[0];
    assert.equal(o.stage, "nvs");
    assert.equal(o.error?.code, "E_NOT_NVS_PARTITION");
    assert.match(o.error!.message, /partition "factory" is app\/factory, not an NVS partition/);
    const noSerial = await runStation([port], async ({ nvs }) => {
      await nvs(t);
    });
    assert.equal(noSerial.outcomes[0].error?.code, "E_NVS_NO_SERIAL");
    assert.deepEqual(await Deno.readFile(`${dir}/board.bin`), before);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
