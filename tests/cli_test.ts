import assert from "node:assert/strict";
import { cliCapture } from "./support/cli_capture.ts";
import { runCli } from "../lib/cli/main.ts";
import { SIM_CHIP_KEYS } from "../lib/sim/chip_facts.ts";
import { externalTest, fixtures, FIXTURES_DIR, readFixture } from "./support/external.ts";

const cli = (args: string[]) => cliCapture(args);

const CHIPS = SIM_CHIP_KEYS;

for (const chip of CHIPS) {
  Deno.test(`read-mac and chip-id on a virtual ${chip}`, async () => {
    const port = `sim://${chip}?mac=02:aa:bb:cc:dd:${(CHIPS.indexOf(chip) + 0x10).toString(16)}`;
    const mac = port.slice(port.indexOf("mac=") + 4);
    const r = await cli(["--port", port, "read-mac"]);
    assert.equal(r.code, 0, r.err);
    // esptool's layout: the label padded to 20 columns (the base MAC is "BASE MAC" where an
    // EUI-64 comes first).
    assert.match(r.out, new RegExp(`^(BASE )?MAC: +${mac}$`, "m"));
    const id = await cli(["-p", port, "chip_id"]);
    assert.equal(id.code, 0, id.err);
    assert.match(id.out, /^Chip type: {10}\S/m);
    assert.match(id.out, /^Features: {11}\S/m);
    assert.match(id.out, /^Crystal frequency: {2}\d+MHz$/m);
    assert.match(id.out, /^Detected flash size: 4MB$/m);
  });
}

Deno.test("--json read_mac prints one result object with the MAC", async () => {
  const r = await cli(["--port", "sim://esp32c6?mac=02:00:00:00:00:07", "--json", "read_mac"]);
  assert.equal(r.code, 0);
  const events = r.out.trim().split("\n").map((l) => JSON.parse(l));
  const result = events.find((e) => e.event === "result");
  assert.deepEqual(result, {
    event: "result",
    chip: "esp32c6",
    mac: "02:00:00:00:00:07",
    eui64: "02:00:00:ff:fe:00:00:07",
    macExt: "ff:fe",
  });
});

Deno.test("flash-id reports the JEDEC id and the size the virtual chip was given", async () => {
  const r = await cli(["--port", "sim://esp32?size=16MB", "flash-id"]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^Device: 4018$/m);
  assert.match(r.out, /^Detected flash size: 16MB$/m);
});

Deno.test("write-flash, skip on re-flash, read-flash, erase-region, verify-flash round trip", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const app = new Uint8Array(50_000).map((_, i) => (i * 7) & 0xff);
    await Deno.writeFile(`${dir}/app.bin`, app);
    const port = `sim://esp32c3?flash=${dir}/flash.bin`;
    let r = await cli([
      "-p",
      port,
      "-b",
      "921600",
      "write_flash",
      "-z",
      "0x10000",
      `${dir}/app.bin`,
    ]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /Hash of data verified/);
    r = await cli(["-p", port, "write-flash", "0x10000", `${dir}/app.bin`]);
    assert.match(r.out, /^'.*app\.bin' at 0x00010000 already in flash, skipping write\.$/m);
    r = await cli(["-p", port, "read-flash", "0x10000", String(app.length), `${dir}/back.bin`]);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(await Deno.readFile(`${dir}/back.bin`), app);
    r = await cli(["-p", port, "erase_region", "0x10000", "0x1000"]);
    assert.equal(r.code, 0, r.err);
    r = await cli(["-p", port, "verify-flash", "0x10000", `${dir}/app.bin`]);
    assert.equal(r.code, 1);
    assert.match(r.out, /MISMATCH/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a missing file is reported before any device is touched", async () => {
  // The port does not exist: if the CLI tried to open it first, the error would be about the port.
  const r = await cli([
    "-p",
    "/dev/does-not-exist",
    "write-flash",
    "0x1000",
    "/nonexistent/boot.bin",
  ]);
  assert.equal(r.code, 2);
  assert.match(r.err, /file not found: \/nonexistent\/boot\.bin/);
});

Deno.test("usage mistakes get a clear message and exit code 2", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(`${dir}/a.bin`, new Uint8Array(16));
    const cases: [string[], RegExp][] = [
      [["write-flash", "0x1000"], /"0x1000", has no partner/],
      [["write-flash"], /give ADDRESS FILE pairs, --manifest PATH, or --partition NAME FILE/],
      [["write-flash", "0x1000", `${dir}/a.bin`, "0x2000"], /at least 2|ADDRESS FILE pairs/],
      [["write-flash", "0x1001", `${dir}/a.bin`], /not a multiple of 0x1000/],
      [["write-flash", "zz", `${dir}/a.bin`], /invalid address "zz"/],
      [["write-flash", "--flash-mode", "fast", "0", `${dir}/a.bin`], /choose one of keep, qio/],
      [["write-flsh"], /did you mean write-flash/],
      [["erase-region", "0x1000", "100"], /not a positive multiple of 0x1000/],
      [["--baud", "fast", "read-mac"], /invalid --baud/],
      [["read-mac", "--bogus"], /unknown option --bogus/],
      [["--before", "sometimes", "read-mac"], /choose one of default-reset/],
    ];
    for (const [args, pattern] of cases) {
      const r = await cli(["-p", "sim://esp32", ...args]);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.err}`);
      assert.match(r.err, pattern, args.join(" "));
      assert.doesNotMatch(r.err, /at .*\.ts:\d+/, "no stack trace for user mistakes");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("erase-flash without the stub says it needs the stub", async () => {
  const r = await cli(["-p", "sim://esp32", "--no-stub", "erase_flash"]);
  assert.equal(r.code, 1);
  assert.match(r.err, /erase-flash needs the flasher stub/);
});

Deno.test("a wrong --chip is refused naming the real chip", async () => {
  const r = await cli(["-p", "sim://esp32c3", "--chip", "esp32s3", "read-mac"]);
  assert.equal(r.code, 2);
  assert.match(r.err, /this chip is ESP32-C3, not ESP32-S3/);
});

Deno.test("--help lists commands; version prints", async () => {
  const h = await cli(["--help"]);
  assert.equal(h.code, 0);
  assert.match(h.out, /write-flash/);
  const v = await cli(["version"]);
  assert.match(v.out, /^espline \d+\.\d+\.\d+/);
});

externalTest({
  name:
    "write-flash --flash_mode dio --flash-size detect patches the bootloader header on the chip",
  needs: [fixtures()],
  async fn() {
    const boot = await readFixture("bootloader_esp32.bin");
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeFile(`${dir}/boot.bin`, boot);
      const port = `sim://esp32?size=8MB&flash=${dir}/flash.bin`;
      const r = await cli([
        "-p",
        port,
        "write_flash",
        "--flash_mode",
        "dio",
        "--flash-size",
        "detect",
        "0x1000",
        `${dir}/boot.bin`,
      ]);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /flash parameters at 0x1000 set to 0x0230/);
      const rb = await cli(["-p", port, "read-flash", "0x1000", "16", `${dir}/hdr.bin`]);
      assert.equal(rb.code, 0, rb.err);
      const hdr = await Deno.readFile(`${dir}/hdr.bin`);
      assert.equal(hdr[2], 0x02, "dio");
      assert.equal(hdr[3] >> 4, 0x3, "8MB");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("Ctrl-C during write-flash stops between blocks with exit code 130 and says so", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(
      `${dir}/big.bin`,
      new Uint8Array(512 * 1024).map((_, i) => (i * 2654435761) >>> 24),
    );
    const controller = new AbortController();
    let out = "";
    let err = "";
    const sinks = {
      stdout: (t: string) => (out += t),
      stderr: (t: string) => (err += t),
      isTerminal: false,
    };
    const run = runCli(["-p", "sim://esp32?pace=1", "write-flash", "0x10000", `${dir}/big.bin`], {
      sinks,
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(), 800);
    assert.equal(await run, 130, out + err);
    assert.match(err, /cancelled/);
    assert.doesNotMatch(out, /Hash of data verified/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

externalTest({
  name: "write-flash refuses an ESP32 bootloader on an ESP32-C3 before writing; --force overrides",
  needs: [fixtures()],
  async fn() {
    const boot = `${FIXTURES_DIR}bootloader_esp32.bin`;
    const dir = await Deno.makeTempDir();
    try {
      const port = `sim://esp32c3?flash=${dir}/f.bin`;
      const r = await cli(["-p", port, "write-flash", "0x0", boot]);
      assert.equal(r.code, 2);
      assert.match(r.err, /refusing to write \(nothing was written\)/);
      assert.match(r.err, /built for ESP32, but the connected chip is ESP32-C3/);
      const v = await cli(["-p", port, "verify-flash", "0x0", boot]);
      assert.match(v.out, /MISMATCH/, "nothing was written");
      const f = await cli(["-p", port, "write-flash", "--force", "0x0", boot]);
      assert.equal(f.code, 0, f.err);
      assert.match(f.err, /forced: /);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("write-flash --partition and erase-region --partition use the table read from the chip", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/pt.csv`,
      "nvs, data, nvs, 0x9000, 24K\nfactory, app, factory, 0x10000, 1M\nstore, data, spiffs, , 64K\n",
    );
    assert.equal((await cli(["partition-table", `${dir}/pt.csv`, "-o", `${dir}/pt.bin`])).code, 0);
    const port = `sim://esp32s3?flash=${dir}/f.bin`;
    assert.equal((await cli(["-p", port, "write-flash", "0x8000", `${dir}/pt.bin`])).code, 0);
    await Deno.writeFile(`${dir}/data.bin`, new Uint8Array(5000).fill(0x42));
    const w = await cli(["-p", port, "write_flash", "--partition", "store", `${dir}/data.bin`]);
    assert.equal(w.code, 0, w.err);
    assert.match(w.out, /Partition store is at 0x00110000/);
    const v = await cli(["-p", port, "verify-flash", "0x110000", `${dir}/data.bin`]);
    assert.match(v.out, /OK/);
    const e = await cli(["-p", port, "erase-region", "--partition", "store"]);
    assert.equal(e.code, 0, e.err);
    assert.match(e.out, /Erased partition store \(65536 bytes at 0x00110000\)/);
    const missing = await cli([
      "-p",
      port,
      "write-flash",
      "--partition",
      "ota_0",
      `${dir}/data.bin`,
    ]);
    assert.equal(missing.code, 2);
    assert.match(missing.err, /no partition named "ota_0": the table has nvs, factory, store/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

externalTest({
  name: "image-info, merge-bin and partition-table on the command line",
  needs: [fixtures()],
  async fn() {
    const app = `${FIXTURES_DIR}esp_idf_blink_esp32s2.bin`;
    const r = await cli(["image_info", app]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /Project name: blink/);
    assert.match(r.out, /Validation hash: 10f48f4a\w+ \(valid\)/);
    const j = await cli(["--json", "image-info", app]);
    assert.equal(JSON.parse(j.out.trim()).chip, "esp32s2");
    const dir = await Deno.makeTempDir();
    try {
      const m = await cli([
        "--chip",
        "esp32s2",
        "merge_bin",
        "-o",
        `${dir}/m.uf2`,
        "--format",
        "uf2",
        "0x10000",
        app,
      ]);
      assert.equal(m.code, 0, m.err);
      assert.equal((await Deno.stat(`${dir}/m.uf2`)).size % 512, 0);
      const noChip = await cli(["merge-bin", "-o", `${dir}/x.bin`, "0x10000", app]);
      assert.match(noChip.err, /merge-bin needs --chip/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("addresses and sizes in every spelling esptool takes: 0X3FE000, 0x3FE000, 5_000, 8k", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const data = new Uint8Array(5000).map((_, i) => (i * 3) & 0xff);
    await Deno.writeFile(`${dir}/a.bin`, data);
    const port = `sim://esp32c3?flash=${dir}/f.bin`;
    const w = await cli(["-p", port, "write-flash", "0X3FE000", `${dir}/a.bin`]);
    assert.equal(w.code, 0, w.err);
    assert.match(w.out, /Wrote 5000 bytes .* at 0x003fe000/);
    const r = await cli(["-p", port, "read-flash", "0x3FE000", "5_000", `${dir}/b.bin`]);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(await Deno.readFile(`${dir}/b.bin`), data);
    const v = await cli(["-p", port, "verify-flash", "0X3fe000", `${dir}/a.bin`]);
    assert.equal(v.code, 0, v.err);
    const e = await cli(["-p", port, "erase-region", "0x3FE000", "8k"]);
    assert.equal(e.code, 0, e.err);
    assert.match(e.out, /Erased 8192 bytes at 0x003fe000/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
