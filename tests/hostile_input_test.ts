/**
 * Odd input is a typed error that names what to fix, never "Internal error
 * … This is a bug": manifests of every kind with the wrong JSON types,
 * build folders that are not, merge-bin addresses past any flash, areas at
 * the end of the flash, empty partition tables, folders given as files.
 */

import assert from "node:assert/strict";
import { cliCapture } from "./support/cli_capture.ts";
import { connect, loadFirmware, UsageError } from "../mod.ts";

const cli = (args: string[]) => cliCapture(args);

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(`${dir}/app.bin`, new Uint8Array(0x2000).fill(0x5a));
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("flasher_args.json with the wrong JSON types: E_BAD_MANIFEST naming the file and field", async () => {
  await withDir(async (dir) => {
    const files = { "0x10000": "app.bin" };
    const cases: [unknown, RegExp][] = [
      [null, /the file holds null, not an object/],
      [[files], /the file holds a list, not an object/],
      [{}, /it has no "flash_files"/],
      [{ flash_files: null }, /"flash_files" is null, not an object/],
      [{ flash_files: ["app.bin"] }, /"flash_files" is a list, not an object/],
      [{ flash_files: { "": "app.bin" } }, /"flash_files" key "" is not a flash address/],
      [{ flash_files: { "0x10000": 4 } }, /"flash_files" entry "0x10000" is the number 4/],
      [{ flash_files: { "0x10000": null } }, /"flash_files" entry "0x10000" is null/],
      [
        { flash_files: files, flash_settings: { flash_size: 4 } },
        /"flash_settings\.flash_size" is the number 4, not text/,
      ],
      [{ flash_files: files, flash_settings: [] }, /"flash_settings" is a list/],
      [{ flash_files: files, flash_settings: { flash_size: "16XB" } }, /invalid flash size "16XB"/],
      [{ flash_files: files, extra_esptool_args: { chip: 5 } }, /"extra_esptool_args\.chip" is/],
      [{ flash_files: files, extra_esptool_args: { chip: "esp99" } }, /unknown chip "esp99"/],
      [{ flash_files: files, extra_esptool_args: "esp32" }, /"extra_esptool_args" is the text/],
    ];
    for (const [json, why] of cases) {
      const path = `${dir}/flasher_args.json`;
      await Deno.writeTextFile(path, JSON.stringify(json));
      await assert.rejects(loadFirmware(path), (e: unknown) => {
        assert.ok(e instanceof UsageError, `${JSON.stringify(json)}: ${e}`);
        assert.match(e.message, why, JSON.stringify(json));
        assert.ok(e.message.startsWith(path), `names the file: ${e.message}`);
        return true;
      });
    }
    // Through the CLI: exit 2 and a one-line error, before any port is opened.
    await Deno.writeTextFile(`${dir}/flasher_args.json`, "null");
    const r = await cli(["--port", "/dev/ttyNOPE", "write-flash", "--manifest", dir]);
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, /^error: .*flasher_args\.json: the file holds null/m);
    assert.doesNotMatch(r.err, /Internal error/);
  });
});

Deno.test("build folders and manifest paths that are not: typed errors", async () => {
  await withDir(async (dir) => {
    await assert.rejects(loadFirmware("/dev/null"), /neither a file nor a folder/);
    // A PlatformIO folder whose bootloader is not an ESP image.
    await Deno.mkdir(`${dir}/pio`);
    await Deno.writeFile(`${dir}/pio/firmware.bin`, new Uint8Array(0x1000).fill(1));
    await Deno.writeFile(`${dir}/pio/bootloader.bin`, new Uint8Array(100).fill(2));
    await assert.rejects(loadFirmware(`${dir}/pio`), (e: unknown) => {
      assert.ok(e instanceof UsageError);
      assert.equal(e.code, "E_BAD_MANIFEST");
      assert.match(e.message, /cannot tell the chip from bootloader\.bin/);
      return true;
    });
  });
});

Deno.test("merge-bin: an address or padding past the largest flash is E_PAST_END, and nothing is written", async () => {
  await withDir(async (dir) => {
    for (
      const args of [
        ["0xFFFFFFFF", `${dir}/app.bin`],
        ["0x7FFFFFFF000", `${dir}/app.bin`],
        ["--pad-to-size", "99999999999", "0x1000", `${dir}/app.bin`],
        ["--format", "hex", "0x7FFFF000", `${dir}/app.bin`],
      ]
    ) {
      const r = await cli([
        "--json",
        "--chip",
        "esp32",
        "merge-bin",
        "-o",
        `${dir}/m.bin`,
        ...args,
      ]);
      assert.equal(r.code, 2, args.join(" "));
      assert.match(r.out, /"code":"E_PAST_END"/, args.join(" "));
      assert.match(r.out, /largest flash \(128MB\)/);
    }
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["app.bin"]);
  });
});

Deno.test("read-flash and erase-region from an address at or past the end of the flash (size ALL)", async () => {
  await withDir(async (dir) => {
    const read = await cli(["--port", "sim://esp32", "read-flash", "0x400000", "ALL", `${dir}/o`]);
    assert.equal(read.code, 2);
    assert.match(
      read.err,
      /0x00400000 is at or past the end of the 4MB flash: there is nothing to read/,
    );
    const erase = await cli(["--port", "sim://esp32", "erase-region", "0x500000", "ALL"]);
    assert.equal(erase.code, 2);
    assert.match(erase.err, /0x00500000 is at or past the end of the 4MB flash/);
  });
});

Deno.test("partition-table of an empty file, nvs-info of a folder: typed errors", async () => {
  await withDir(async (dir) => {
    await Deno.writeFile(`${dir}/empty.csv`, new Uint8Array());
    const pt = await cli(["--json", "partition-table", `${dir}/empty.csv`]);
    assert.equal(pt.code, 2);
    assert.match(pt.out, /"code":"E_EMPTY_FILE".*holds no partitions/);
    await Deno.mkdir(`${dir}/nvs.bin`);
    const nvs = await cli(["--json", "nvs-info", `${dir}/nvs.bin`]);
    assert.equal(nvs.code, 2);
    assert.match(nvs.out, /"code":"E_NOT_A_FILE"/);
  });
});

Deno.test("a script's untyped mistakes (null firmware, a number, null entries, a bad reset mode) are typed errors", async () => {
  const bad = [null, 5, {}, [null], [5]] as unknown as string[];
  for (const source of bad) {
    await assert.rejects(loadFirmware(source), (e: unknown) => {
      assert.ok(e instanceof UsageError, `${JSON.stringify(source)}: ${e}`);
      assert.equal(e.code, "E_BAD_FIRMWARE");
      return true;
    });
  }
  await using dev = await connect("sim://esp32");
  await assert.rejects(dev.reset("boot" as "app"), UsageError);
});

Deno.test("writing by partition name on a chip without a partition table says the table is empty", async () => {
  await withDir(async (dir) => {
    const r = await cli([
      "--port",
      "sim://esp32?firmware=erased",
      "write-flash",
      "--partition",
      "app",
      `${dir}/app.bin`,
    ]);
    assert.equal(r.code, 2);
    assert.match(r.err, /no partition named "app": the partition table is empty/);
  });
});
