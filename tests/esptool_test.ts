/**
 * esptool 5.3.1 (Espressif's Python reference client, unmodified) against
 * the virtual chip, for every chip the virtual chip has: over raw TCP it
 * reads ids, writes with its default stub (esp-flasher-stub; plain,
 * `-b 921600`, `-u`, `--after no-reset`) and through the ROM (`--no-stub`),
 * verifies, reads back and erases; espline reads back what esptool wrote
 * and esptool what espline wrote. Over RFC 2217, esptool's own reset
 * sequence: through a server that runs resets itself (esptool's
 * esp_rfc2217_server) it reaches download mode; through one that forwards
 * each line change (ser2net), it lands in the application, as a real DevKit
 * would (see lib/sim/rfc2217_server.ts).
 *
 * One Python process runs a chip's whole esptool sequence (esptool.main per
 * command) so that the interpreter starts once per chip, not per command.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { runCli } from "../lib/cli/main.ts";
import type { OutputSinks } from "../lib/cli/output.ts";
import { SIM_CHIP_KEYS, type SimChipKey } from "../lib/sim/chip_facts.ts";
import { serveSimRfc2217 } from "../lib/sim/rfc2217_server.ts";
import { serveSimTcp } from "../lib/sim/tcp_server.ts";
import { esptool, ESPTOOL_DIR, externalTest, PYTHON } from "./support/external.ts";

/** Runs esptool.main for each argv read from stdin (JSON), between markers on stdout. */
const BATCH_DRIVER = `
import json, sys
sys.stderr = sys.stdout
import esptool
from esptool.util import FatalError
for i, argv in enumerate(json.load(sys.stdin)):
    print(f"@@@begin {i}", flush=True)
    code = 0
    try:
        esptool.main(argv)
    except FatalError as e:
        print(f"A fatal error occurred: {e}")
        code = 2
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except Exception as e:
        print(f"{type(e).__name__}: {e}")
        code = 1
    print(f"@@@end {i} {code}", flush=True)
`;

/** What one esptool command printed and returned. */
interface EsptoolRun {
  argv: string[];
  code: number;
  output: string;
}

/** Run esptool commands one after the other in one Python process. */
async function esptoolBatch(commands: string[][], cwd: string): Promise<EsptoolRun[]> {
  const child = new Deno.Command(PYTHON, {
    args: ["-c", BATCH_DRIVER],
    env: { PYTHONPATH: ESPTOOL_DIR, NO_COLOR: "1", TERM: "dumb" },
    cwd,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(JSON.stringify(commands)));
  await writer.close();
  const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
  const out = await child.output();
  clearTimeout(timer);
  // deno-lint-ignore no-control-regex
  const text = new TextDecoder().decode(out.stdout).replace(/\x1b\[[0-9;]*[A-Za-z]/g, "");
  const runs: EsptoolRun[] = [];
  for (const [i, argv] of commands.entries()) {
    const m = new RegExp(`@@@begin ${i}\\n([\\s\\S]*?)@@@end ${i} (\\d+)`).exec(text);
    if (!m) {
      throw new Error(
        `esptool stopped before ${argv.join(" ")}:\n${text}\n${
          new TextDecoder().decode(out.stderr)
        }`,
      );
    }
    runs.push({ argv, code: Number(m[2]), output: m[1] });
  }
  return runs;
}

/** espline's CLI in this process. */
async function espline(args: string[]): Promise<{ code: number; out: string }> {
  let out = "";
  const sinks: OutputSinks = {
    stdout: (t) => (out += t),
    stderr: (t) => (out += t),
    isTerminal: false,
  };
  const code = await runCli(args, { sinks });
  return { code, out };
}

function md5(data: Uint8Array): string {
  return createHash("md5").update(data).digest("hex");
}

/** A compressible image (an application's mix of code-like bytes and padding). */
function appLike(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = (x >>> 28) < 6 ? (x >>> 20) & 0xff : 0;
  }
  return out;
}

function random(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1664525 + 1013904223) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

function macFor(chip: SimChipKey): string {
  return `02:e5:70:00:00:${(SIM_CHIP_KEYS.indexOf(chip) + 0x10).toString(16)}`;
}

function ok(run: EsptoolRun, pattern?: RegExp): void {
  assert.equal(run.code, 0, `esptool ${run.argv.join(" ")} failed:\n${run.output}`);
  if (pattern) assert.match(run.output, pattern, `esptool ${run.argv.join(" ")}:\n${run.output}`);
}

for (const chip of SIM_CHIP_KEYS) {
  externalTest({
    name:
      `esptool 5.3.1 on a virtual ${chip} over TCP: ids, writes (stub, -b 921600, -u, --no-stub, --after no-reset), verify, read, erase; espline reads esptool's writes and esptool espline's`,
    needs: [esptool()],
    sanitizeResources: false,
    async fn() {
      const dir = await Deno.makeTempDir({ prefix: `espline-esptool-${chip}-` });
      const mac = macFor(chip);
      const images = {
        a: appLike(0x6000, 1),
        b: random(0x4000, 2),
        c: appLike(0x2000, 3),
        d: appLike(0x1000, 4),
        e: appLike(0x3000, 5),
        f: appLike(0x1000, 6),
      };
      for (const [name, data] of Object.entries(images)) {
        await Deno.writeFile(`${dir}/${name}.bin`, data);
      }
      const server = serveSimTcp({ chip, mac }, { port: 0 });
      const port = `socket://127.0.0.1:${server.port}`;
      try {
        const p = ["--port", port];
        const [chipId, readMac, flashId, w1, w2, w3, verify, read, erase, noReset] =
          await esptoolBatch([
            [...p, "chip-id"],
            [...p, "read-mac"],
            [...p, "flash-id"],
            [...p, "write-flash", "0x10000", "a.bin"],
            [...p, "-b", "921600", "write-flash", "0x20000", "b.bin"],
            [...p, "write-flash", "-u", "0x30000", "c.bin"],
            [...p, "verify-flash", "0x10000", "a.bin", "0x20000", "b.bin", "0x30000", "c.bin"],
            [...p, "read-flash", "0x10000", String(images.a.length), "a-back.bin"],
            [...p, "erase-region", "0x30000", "0x1000"],
            [...p, "--after", "no-reset", "write-flash", "0x40000", "d.bin"],
          ], dir);
        ok(chipId, new RegExp(`MAC:\\s+${mac}`));
        ok(readMac, new RegExp(`MAC:\\s+${mac}`));
        ok(flashId, /Detected flash size: 4MB/);
        for (const w of [w1, w2, w3]) ok(w, /Hash of data verified/);
        ok(
          verify,
          /Verification successful \(digest matched\)[\s\S]*Verification successful[\s\S]*Verification successful/,
        );
        ok(read);
        assert.equal(md5(await Deno.readFile(`${dir}/a-back.bin`)), md5(images.a));
        ok(erase, /erased successfully/);
        ok(noReset, /Staying in bootloader/);

        // espline reads what esptool wrote, and writes what esptool then checks.
        const e = ["--port", port, "--before", "no-reset"];
        const back = await espline([
          ...e,
          "read-flash",
          "0x20000",
          String(images.b.length),
          `${dir}/b-back.bin`,
        ]);
        assert.equal(back.code, 0, back.out);
        assert.equal(md5(await Deno.readFile(`${dir}/b-back.bin`)), md5(images.b));
        const erased = await espline([
          ...e,
          "read-flash",
          "0x30000",
          "0x1000",
          `${dir}/erased.bin`,
        ]);
        assert.equal(erased.code, 0, erased.out);
        assert.ok((await Deno.readFile(`${dir}/erased.bin`)).every((b) => b === 0xff));
        const wrote = await espline([
          ...e,
          "--after",
          "no-reset",
          "write-flash",
          "0x50000",
          `${dir}/e.bin`,
        ]);
        assert.equal(wrote.code, 0, wrote.out);
        const [check, readE, eraseAll, after] = await esptoolBatch([
          [...p, "verify-flash", "0x50000", "e.bin", "0x40000", "d.bin"],
          [...p, "read-flash", "0x50000", String(images.e.length), "e-back.bin"],
          [...p, "erase-flash"],
          [...p, "read-flash", "0x50000", "0x100", "after-erase.bin"],
        ], dir);
        ok(check, /Verification successful[\s\S]*Verification successful/);
        ok(readE);
        assert.equal(md5(await Deno.readFile(`${dir}/e-back.bin`)), md5(images.e));
        ok(eraseAll, /Flash memory erased successfully/);
        ok(after);
        assert.ok((await Deno.readFile(`${dir}/after-erase.bin`)).every((b) => b === 0xff));
      } finally {
        await server.close();
      }

      // Through the ROM: a fresh chip, esptool --no-stub, espline reads it back.
      const rom = serveSimTcp({ chip, mac }, { port: 0 });
      const romPort = `socket://127.0.0.1:${rom.port}`;
      try {
        const steps = [["--port", romPort, "--no-stub", "write-flash", "0x60000", "f.bin"]];
        // The ESP8266 ROM has no READ_FLASH_SLOW (esptool reads through the stub only there).
        if (chip !== "esp8266") {
          steps.push([
            "--port",
            romPort,
            "--no-stub",
            "read-flash",
            "0x60000",
            "0x100",
            "f-back.bin",
          ]);
        }
        const [romWrite, romRead] = await esptoolBatch(steps, dir);
        ok(romWrite, chip === "esp8266" ? /Wrote/ : /Hash of data verified/);
        if (romRead) {
          ok(romRead);
          assert.equal(
            md5(await Deno.readFile(`${dir}/f-back.bin`)),
            md5(images.f.subarray(0, 0x100)),
          );
        }
        const back = await espline([
          "--port",
          romPort,
          "--before",
          "no-reset",
          "read-flash",
          "0x60000",
          String(images.f.length),
          `${dir}/f-espline.bin`,
        ]);
        assert.equal(back.code, 0, back.out);
        assert.equal(md5(await Deno.readFile(`${dir}/f-espline.bin`)), md5(images.f));
      } finally {
        await rom.close();
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}

externalTest({
  name:
    "esptool's own reset over RFC 2217: a resetting server (esp_rfc2217_server) reaches download mode; a forwarding one (ser2net) boots the app, as a DevKit does",
  needs: [esptool()],
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir();
    const esp = serveSimRfc2217({ chip: "esp32", mac: "24:0a:c4:00:00:42" }, { resets: "esp" });
    const direct = serveSimRfc2217({ chip: "esp32", mac: "24:0a:c4:00:00:43" }, {
      resets: "direct",
    });
    try {
      const [good, bad] = await esptoolBatch([
        ["--port", `rfc2217://127.0.0.1:${esp.port}?ign_set_control`, "read-mac"],
        ["--port", `rfc2217://127.0.0.1:${direct.port}`, "--connect-attempts", "1", "read-mac"],
      ], dir);
      ok(good, /MAC:\s+24:0a:c4:00:00:42/);
      assert.match(good.output, /Hard resetting via RTS pin/);
      // pyserial waits >= 50 ms for each control-line acknowledgement: DTR and RTS stay
      // asserted together while EN charges (~14 ms), so IO0 is high when the chip samples it.
      assert.notEqual(bad.code, 0, bad.output);
      assert.match(bad.output, /Wrong boot mode detected \(0x13\)/);
      assert.equal(direct.chip.mode, "app");
    } finally {
      await esp.close();
      await direct.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
