/**
 * The CLI's output, exit codes and --json, line for line, against goldens
 * recorded from the CLI before it became a client of lib/device (and kept
 * since). A change here is a change users see: if it is meant, record the
 * goldens again with `UPDATE_GOLDEN=1 deno test -A tests/cli_output_test.ts`
 * and say so in the commit.
 */

import assert from "node:assert/strict";
import { runCli } from "../lib/cli/main.ts";
import { writeDemoBuild } from "../scripts/demo_firmware.ts";
import { appDescriptor, makeImage } from "../lib/image/make_image.ts";
import { chipByKey } from "../lib/chips/index.ts";

const GOLDEN = new URL("./cli_output.golden.json", import.meta.url);

interface Result {
  code: number;
  out: string;
  err: string;
}

/** Run every scenario in order (they share a virtual chip's flash file) and collect normalised results. */
async function scenarios(dir: string): Promise<Record<string, Result>> {
  const norm = (t: string) =>
    t.replaceAll(dir, "DIR").replace(/\d+\.\d+ s\b/g, "N s")
      .replace(/"seconds":[0-9.e-]+/g, '"seconds":N').replace(
        /in [0-9.]+ seconds( \([0-9.]+ kbit\/s\))?/g,
        (_, speed) => `in N seconds${speed ? " (N kbit/s)" : ""}`,
      );
  const results: Record<string, Result> = {};
  const run = async (name: string, args: string[]) => {
    let out = "";
    let err = "";
    const code = await runCli(args, {
      sinks: { stdout: (t) => (out += t), stderr: (t) => (err += t), isTerminal: false },
    });
    results[name] = { code, out: norm(out), err: norm(err) };
  };
  const app = new Uint8Array(150_000).map((_, i) => (i * 7 + (i >> 8)) & 0xff);
  await Deno.writeFile(`${dir}/app.bin`, app);
  const c3 = `sim://esp32c3?firmware=erased&flash=${dir}/f.bin&mac=02:00:00:00:00:01`;
  await run("write fresh", ["-p", c3, "-b", "921600", "write-flash", "0x10000", `${dir}/app.bin`]);
  app[70000] ^= 0xff;
  await Deno.writeFile(`${dir}/app.bin`, app);
  await run("write patched", ["-p", c3, "write-flash", "0x10000", `${dir}/app.bin`]);
  await run("write skipped json", ["-p", c3, "--json", "write-flash", "0x10000", `${dir}/app.bin`]);
  app[100] ^= 0xff;
  await Deno.writeFile(`${dir}/app.bin`, app);
  await run("verify diff", [
    "-p",
    c3,
    "--after",
    "no-reset",
    "verify-flash",
    "--diff",
    "0x10000",
    `${dir}/app.bin`,
  ]);
  await run("verify json", ["-p", c3, "--json", "verify-flash", "0x10000", `${dir}/app.bin`]);
  await run("read all", ["-p", c3, "read-flash", "0x3ff000", "ALL", `${dir}/end.bin`]);
  await run("read past end", ["-p", c3, "read-flash", "0x3ff000", "0x2000", `${dir}/end.bin`]);
  await run("read json", ["-p", c3, "--json", "read-flash", "0x3ff000", "0x1000", `${dir}/e.bin`]);
  await run("erase all from", ["-p", c3, "erase-region", "0x3f0000", "ALL"]);
  await run("erase past end", ["-p", c3, "erase-region", "0x3ff000", "0x2000"]);
  await run("erase-flash", ["-p", c3, "erase-flash"]);
  await run("erase json", ["-p", c3, "--json", "erase-region", "0x10000", "0x1000"]);
  await run("flash-id", ["-p", c3, "flash-id"]);
  await run("chip-id json", ["-p", c3, "--json", "chip-id"]);
  await run("trace read-mac", ["-p", c3, "--no-stub", "--trace", "read-mac"]);
  await writeDemoBuild(`${dir}/build`, "esp32c3", { fixtures: false, appSize: 20000 });
  const c3b = `sim://esp32c3?firmware=erased&flash=${dir}/g.bin&mac=02:00:00:00:00:02`;
  await run("manifest", ["-p", c3b, "write-flash", "--manifest", `${dir}/build`]);
  await run("manifest json", [
    "-p",
    c3b,
    "--json",
    "write-flash",
    "--no-skip",
    "--manifest",
    `${dir}/build/flasher_args.json`,
  ]);
  await run("manifest size override", [
    "-p",
    c3b,
    "write-flash",
    "--flash-size",
    "2MB",
    "--flash_freq",
    "40m",
    "--manifest",
    `${dir}/build`,
  ]);
  await Deno.writeFile(`${dir}/nvs.bin`, new Uint8Array(5000).fill(0x42));
  await run("partition", ["-p", c3b, "write-flash", "--partition", "nvs", `${dir}/nvs.bin`]);
  await run("partition too big", [
    "-p",
    c3b,
    "write-flash",
    "--partition",
    "phy_init",
    `${dir}/nvs.bin`,
  ]);
  await run("erase partition", ["-p", c3b, "--json", "erase-region", "--partition", "nvs"]);
  const boot32 = makeImage({
    chip: chipByKey("esp32"),
    segments: [{ address: 0x3ffe0100, data: new Uint8Array(3000).fill(9) }],
  });
  await Deno.writeFile(`${dir}/boot32.bin`, boot32);
  await run("preflight refused", ["-p", c3b, "write-flash", "0x0", `${dir}/boot32.bin`]);
  await run("preflight refused json", [
    "-p",
    c3b,
    "--json",
    "write-flash",
    "0x0",
    `${dir}/boot32.bin`,
  ]);
  await run("preflight forced", ["-p", c3b, "write-flash", "--force", "0x0", `${dir}/boot32.bin`]);
  const newer = makeImage({
    chip: chipByKey("esp32c3"),
    segments: [{ address: 0x3c000020, data: appDescriptor({ built: new Date(0) }) }],
    minRevision: 101,
  });
  await Deno.writeFile(`${dir}/newer.bin`, newer);
  await run("preflight revision", ["-p", c3b, "write-flash", "0x20000", `${dir}/newer.bin`]);
  const e32 = `sim://esp32?firmware=erased&flash=${dir}/h.bin&mac=02:00:00:00:00:03`;
  await run("rom write", ["-p", e32, "--no-stub", "write-flash", "0x10000", `${dir}/nvs.bin`]);
  await run("esp8266 chip-id", ["-p", "sim://esp8266?mac=02:00:00:00:00:04", "chip-id"]);
  await run("esp8266 rom read-mac", [
    "-p",
    "sim://esp8266?mac=02:00:00:00:00:04",
    "--no-stub",
    "read-mac",
  ]);
  await run("bad chip", ["-p", c3, "--chip", "esp99", "read-mac"]);
  await run("before underscore", [
    "-p",
    c3,
    "--before",
    "no_reset_no_sync",
    "--connect-attempts",
    "1",
    "--after",
    "no_reset",
    "read-mac",
  ]);
  return results;
}

Deno.test("CLI output, exit codes and --json are as recorded (write/verify/read/erase, manifests, partitions, pre-flight, ROM, trace)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const got = await scenarios(dir);
    if (Deno.env.get("UPDATE_GOLDEN") === "1") {
      await Deno.writeTextFile(GOLDEN, JSON.stringify(got, null, 2) + "\n");
      return;
    }
    const want: Record<string, Result> = JSON.parse(await Deno.readTextFile(GOLDEN));
    assert.deepEqual(Object.keys(got), Object.keys(want), "the same scenarios");
    for (const name of Object.keys(want)) {
      assert.deepEqual(got[name], want[name], `scenario "${name}"`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
