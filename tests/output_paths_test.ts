/**
 * Every CLI command that writes a file checks the path before it touches a
 * device or does the work, fails with a typed usage error (E_OUTPUT_PATH,
 * exit 2) and leaves nothing behind: read-flash, partition-table -o,
 * merge-bin -o, monitor --log, nvs-gen (journal export -o has its own test).
 */

import assert from "node:assert/strict";
import { cliCapture } from "./support/cli_capture.ts";

const cli = (args: string[]) => cliCapture(args);

/** The code of the error event of a `--json` run. */
function errorCode(out: string): string | undefined {
  const line = out.trim().split("\n").map((l) => JSON.parse(l)).find((e) => e.event === "error");
  return line?.code;
}

function listing(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}

/** Output paths that cannot be written, for a folder `dir` holding a folder `adir.bin`. */
function badPaths(dir: string): [string, RegExp][] {
  return [
    [`${dir}/no/such/dir/out.bin`, /folder .*no\/such\/dir does not exist/],
    [`${dir}/adir.bin`, /it is a folder; give a file name inside it/],
    ["/proc/version", /cannot write \/proc\/version/],
  ];
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/adir.bin`);
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("read-flash checks its output path before touching the device, and leaves nothing behind", async () => {
  await withDir(async (dir) => {
    for (const [path, why] of badPaths(dir)) {
      // A port that does not exist: the path must be refused before it is opened.
      const r = await cli(["--port", "/dev/ttyNOPE", "--json", "read-flash", "0", "0x1000", path]);
      assert.equal(r.code, 2, `${path}: ${r.out}`);
      assert.equal(errorCode(r.out), "E_OUTPUT_PATH", path);
      const human = await cli(["--port", "sim://esp32", "read-flash", "0", "0x1000", path]);
      assert.equal(human.code, 2, path);
      assert.match(human.err, why, path);
      assert.doesNotMatch(human.err, /Internal error/);
    }
    assert.deepEqual(listing(dir), ["adir.bin"]);
    assert.deepEqual(listing(`${dir}/adir.bin`), [], "no adir.bin.partial or temp file");
    const ok = await cli(["--port", "sim://esp32", "read-flash", "0", "0x1000", `${dir}/f.bin`]);
    assert.equal(ok.code, 0, ok.err);
    assert.equal((await Deno.readFile(`${dir}/f.bin`)).length, 0x1000);
    assert.deepEqual(listing(dir), ["adir.bin", "f.bin"]);
  });
});

Deno.test("partition-table -o and merge-bin -o check the output before the work; nothing left behind", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(
      `${dir}/p.csv`,
      "# Name, Type, SubType, Offset, Size\nnvs, data, nvs, 0x9000, 0x6000\nfactory, app, factory, 0x10000, 1M\n",
    );
    await Deno.writeFile(`${dir}/app.bin`, new Uint8Array(0x2000).fill(7));
    for (const [path, why] of badPaths(dir)) {
      // The input does not exist: the output is checked first.
      const pt = await cli(["partition-table", `${dir}/missing.csv`, "-o", path]);
      assert.equal(pt.code, 2, path);
      assert.match(pt.err, path === "/proc/version" ? /use a \.csv or \.bin name/ : why, path);
      const mb = await cli([
        "--chip",
        "esp32",
        "merge-bin",
        "-o",
        path,
        "0x1000",
        `${dir}/missing`,
      ]);
      assert.equal(mb.code, 2, path);
      assert.match(mb.err, why, path);
    }
    const wrongExt = await cli(["--json", "partition-table", `${dir}/p.csv`, "-o", `${dir}/t.txt`]);
    assert.equal(errorCode(wrongExt.out), "E_OUTPUT_PATH");
    assert.deepEqual(listing(dir), ["adir.bin", "app.bin", "p.csv"]);
    assert.deepEqual(listing(`${dir}/adir.bin`), []);
    assert.equal((await cli(["partition-table", `${dir}/p.csv`, "-o", `${dir}/t.bin`])).code, 0);
    const mb = await cli([
      "--chip",
      "esp32",
      "merge-bin",
      "-o",
      `${dir}/m.bin`,
      "0x1000",
      `${dir}/app.bin`,
    ]);
    assert.equal(mb.code, 0, mb.err);
    assert.deepEqual(listing(dir), ["adir.bin", "app.bin", "m.bin", "p.csv", "t.bin"]);
  });
});

Deno.test("monitor --log checks the log file before opening the port", async () => {
  await withDir(async (dir) => {
    for (const [path, why] of badPaths(dir)) {
      const r = await cli(["--port", "/dev/ttyNOPE", "monitor", "--log", path]);
      assert.equal(r.code, 2, `${path}: ${r.err}`);
      assert.match(r.err, path === "/proc/version" ? /it is read-only|cannot write/ : why, path);
    }
    assert.deepEqual(listing(dir), ["adir.bin"]);
    // A good path gets as far as the port (which does not exist), and creates no log.
    const r = await cli(["--port", "/dev/ttyNOPE", "monitor", "--log", `${dir}/boot.log`]);
    assert.equal(r.code, 1);
    assert.match(r.err, /no such port/);
    assert.deepEqual(listing(dir), ["adir.bin"]);
  });
});
