import assert from "node:assert/strict";
import { buildNvs } from "./nvs_gen.ts";
import { parseNvsCsv } from "./nvs_csv.ts";
import { parseNvs } from "./nvs_parse.ts";
import { NvsInputError } from "./nvs_format.ts";
import { loadNvsTemplate, nvsTemplate, parseNvsTemplate } from "./nvs_template.ts";

const BOARD = { mac: "58:CF:79:00:00:2A", serial: "LINE1-000042", chip: "esp32c3" };

/** The error a promise or function ends in (it must be an NvsInputError). */
async function nvsError(fn: () => unknown): Promise<NvsInputError> {
  try {
    await fn();
  } catch (e) {
    assert.ok(e instanceof NvsInputError, `not an NvsInputError: ${e}`);
    return e;
  }
  throw new Error("did not throw");
}

/** Keys and values of an image, as the firmware would read them. */
function read(image: Uint8Array): Record<string, unknown> {
  const report = parseNvs(image);
  assert.deepEqual(report.problems, []);
  return Object.fromEntries(report.items.map((i) => [`${i.namespace}/${i.key}`, i.value]));
}

Deno.test("a generator CSV template: placeholders take the board's facts, and the image is the one the filled-in CSV gives", async () => {
  const template = parseNvsTemplate(
    "key,type,encoding,value\n" +
      "factory,namespace,,\n" +
      "serial_no,data,string,{serial}\n" +
      "mac,data,hex2bin,{mac_hex}\n" +
      "mac_text,data,string,SN {serial} / {mac} on {chip}\n" +
      "hw_rev,data,u8,3\n" +
      'json,data,string,"{""a"":{""b"":1}}"\n',
    { source: "mfg.csv" },
  );
  assert.deepEqual(template.keyNames, [
    "factory/serial_no",
    "factory/mac",
    "factory/mac_text",
    "factory/hw_rev",
    "factory/json",
  ]);
  const image = buildNvs(await template.rows(BOARD), { size: 0x6000 });
  const filled = parseNvsCsv(
    "key,type,encoding,value\nfactory,namespace,,\nserial_no,data,string,LINE1-000042\n" +
      "mac,data,hex2bin,58cf7900002a\n" +
      "mac_text,data,string,SN LINE1-000042 / 58:cf:79:00:00:2a on esp32c3\n" +
      'hw_rev,data,u8,3\njson,data,string,"{""a"":{""b"":1}}"\n',
  );
  assert.deepEqual(image, buildNvs(filled, { size: 0x6000 }));
  const values = read(image);
  assert.equal(values["factory/serial_no"], "LINE1-000042");
  assert.deepEqual(values["factory/mac"], new Uint8Array([0x58, 0xcf, 0x79, 0, 0, 0x2a]));
  assert.equal(values["factory/json"], '{"a":{"b":1}}'); // braces that are not placeholders stay
});

Deno.test("the mass-manufacturing configuration CSV with one values row for every board; REPEAT and SECRET tags", async () => {
  const template = parseNvsTemplate(
    "app,namespace,\nfirmware_key,data,hex2bin,SECRET\nserial_no,data,string,REPEAT\n" +
      "device_no,data,i32\n",
    {
      source: "config.csv",
      values: "id,firmware_key,serial_no,device_no\n1,00112233{mac_hex},{serial},7\n",
      valuesSource: "values.csv",
    },
  );
  assert.deepEqual(template.secretKeys, ["app/firmware_key"]);
  assert.deepEqual(template.keys.map((k) => [k.key, k.kind, k.encoding, k.secret, k.hasValue]), [
    ["firmware_key", "data", "hex2bin", true, true],
    ["serial_no", "data", "string", false, true],
    ["device_no", "data", "i32", false, true],
  ]);
  const values = read(buildNvs(await template.rows(BOARD), { size: 0x3000 }));
  assert.deepEqual(values, {
    "app/firmware_key": new Uint8Array([0, 0x11, 0x22, 0x33, 0x58, 0xcf, 0x79, 0, 0, 0x2a]),
    "app/serial_no": "LINE1-000042",
    "app/device_no": 7,
  });
});

Deno.test("values rows by MAC: each board gets its row, REPEAT cells come from the first, a board without one is refused", async () => {
  const config = "app,namespace,\ncloud_id,data,string\nregion,data,string,REPEAT\n";
  const template = parseNvsTemplate(config, {
    values: "mac,cloud_id,region,batch\n" +
      "58:cf:79:00:00:2a,thing-42,eu-west-1,B7\n" +
      "58CF7900002B,thing-43,,B7\n",
    valuesSource: "values.csv",
  });
  const second = read(
    buildNvs(await template.rows({ ...BOARD, mac: "58:cf:79:00:00:2b" }), { size: 0x3000 }),
  );
  assert.deepEqual(second, { "app/cloud_id": "thing-43", "app/region": "eu-west-1" });
  const e = await nvsError(() => template.rows({ ...BOARD, mac: "58:cf:79:00:00:99" }));
  assert.equal(e.code, "E_NVS_NO_VALUE");
  assert.match(e.message, /values\.csv has no row for this board's MAC 58:cf:79:00:00:99/);
  // Several rows and nothing naming the boards: a station could not tell them apart.
  const ambiguous = await nvsError(() =>
    parseNvsTemplate(config, { values: "cloud_id,region\na,eu\nb,\n", valuesSource: "v.csv" })
  );
  assert.match(ambiguous.message, /2 rows of values but no mac column/);
  const missing = await nvsError(() =>
    parseNvsTemplate(config, { values: "cloud_id\na\n", valuesSource: "v.csv" })
  );
  assert.match(missing.message, /v\.csv line 1 has no column for app\/region/);
});

Deno.test("templates are checked when loaded: unknown placeholders, tags, encodings, keys and secret names", async () => {
  const cases: [string, () => unknown, RegExp][] = [
    [
      "E_NVS_TEMPLATE",
      () => parseNvsTemplate("key,type,encoding,value\nf,namespace,,\nsn,data,string,{seriall}\n"),
      /template line 3 \(key "sn"\): unknown placeholder \{seriall\}: use \{serial\}/,
    ],
    [
      "E_NVS_TEMPLATE",
      () => parseNvsTemplate("f,namespace,\nsn,data,string,REPAET\n", { source: "c.csv" }),
      /c\.csv line 2 \(key "sn"\): unknown tag "REPAET"/,
    ],
    [
      "E_NVS_ENCODING",
      () => parseNvsTemplate("f,namespace,\nsn,data,text\n"),
      /unknown encoding "text"/,
    ],
    [
      "E_NVS_KEY",
      () => parseNvsTemplate("f,namespace,\nserial_number_xyz,data,string\n"),
      /not an NVS key: 1 to 15 ASCII characters/,
    ],
    [
      "E_NVS_NO_NAMESPACE",
      () => parseNvsTemplate("sn,data,string\nf,namespace,\n"),
      /comes before any namespace/,
    ],
    [
      "E_NVS_TEMPLATE",
      () => nvsTemplate({ f: { key: { type: "binary", value: "x" } } }, { secret: ["device_key"] }),
      /secret key "device_key" is not in the template \(its keys: f\/key\)/,
    ],
  ];
  for (const [code, fn, message] of cases) {
    const e = await nvsError(fn);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, message);
  }
});

Deno.test("files per board: the path names the board; a missing one is E_NVS_FILE naming the file and the board", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/certs`);
    await Deno.writeTextFile(`${dir}/certs/LINE1-000042.pem`, "-----BEGIN CERTIFICATE-----\n");
    await Deno.writeFile(`${dir}/certs/58cf7900002a.key`, new Uint8Array([1, 2, 3]));
    await Deno.writeTextFile(
      `${dir}/mfg.csv`,
      "key,type,encoding,value\nfactory,namespace,,\ncert,file,string,{serial}.pem\n" +
        "key,file,binary,{mac_hex}.key\n",
    );
    const template = await loadNvsTemplate(`${dir}/mfg.csv`, {
      files: `${dir}/certs/`,
      secret: ["factory/key"],
    });
    assert.deepEqual(template.secretKeys, ["factory/key"]);
    const values = read(buildNvs(await template.rows(BOARD), { size: 0x3000 }));
    assert.equal(values["factory/cert"], "-----BEGIN CERTIFICATE-----\n");
    assert.deepEqual(values["factory/key"], new Uint8Array([1, 2, 3]));
    const e = await nvsError(() => template.rows({ ...BOARD, serial: "LINE1-000043" }));
    assert.equal(e.code, "E_NVS_FILE");
    assert.match(
      e.message,
      /mfg\.csv line 3 \(key "cert"\): the file .*certs\/LINE1-000043\.pem for this board \(serial LINE1-000043, MAC 58:CF:79:00:00:2A\) cannot be read \(not found\)/,
    );
    const noSerial = await nvsError(() => template.rows({ mac: BOARD.mac }));
    assert.equal(noSerial.code, "E_NVS_NO_SERIAL");
    const noFile = await nvsError(() => loadNvsTemplate(`${dir}/none.csv`));
    assert.equal(noFile.code, "E_NVS_FILE");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("typed templates: value functions, values given per board win, and a secret value stays out of every message", async () => {
  const template = nvsTemplate({
    factory: {
      serial_no: { type: "string", value: "{serial}" },
      cal: { type: "u8", value: (board) => Number(board.fields?.cal ?? 0) },
      pin: { type: "u8", value: () => 300, secret: true },
    },
    wifi: { pin: { type: "u16", value: 300 } },
  });
  assert.deepEqual(template.secretKeys, ["factory/pin"]);
  const rows = await template.rows({ ...BOARD, fields: { cal: 17 } }, {
    values: { "factory/pin": 9, serial_no: "OVERRIDE-1" },
  });
  const values = read(buildNvs(rows, { size: 0x3000 }));
  assert.deepEqual(values, {
    "factory/serial_no": "OVERRIDE-1",
    "factory/cal": 17,
    "factory/pin": 9,
    "wifi/pin": 300,
  });
  // The secret's own value does not fit u8: the builder's message says 300; redacted, it does not.
  const raw = await nvsError(async () => buildNvs(await template.rows(BOARD), { size: 0x3000 }));
  assert.equal(raw.code, "E_NVS_RANGE");
  assert.match(raw.message, /300 is out of range for u8/);
  const shown = template.redact(raw) as NvsInputError;
  assert.equal(shown.code, "E_NVS_RANGE");
  assert.equal(
    shown.message,
    'factory/pin: the value of the secret key "pin" cannot be stored as u8 (E_NVS_RANGE); it is not shown: check where it comes from',
  );
  assert.ok(!shown.message.includes("300"));
  // Another key's error is kept whole.
  const other = new NvsInputError("E_NVS_RANGE", "factory/cal: 999 is out of range for u8", {
    details: { key: "cal" },
  });
  assert.equal(template.redact(other), other);
  // A secret value function that throws: its message may hold the value, so it is not shown.
  const failing = nvsTemplate({
    f: {
      k: {
        type: "string",
        secret: true,
        value: () => {
          throw new Error("vault said: hunter2 expired");
        },
      },
    },
  });
  const e = await nvsError(() => failing.rows(BOARD));
  assert.equal(e.code, "E_NVS_VALUE");
  assert.ok(!e.message.includes("hunter2"), e.message);
  const unknown = await nvsError(() => template.rows(BOARD, { values: { nope: 1 } }));
  assert.match(unknown.message, /a value is given for "nope", which the template does not have/);
});
