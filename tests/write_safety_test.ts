/**
 * A write job that cannot go right is refused before it starts, and one cut
 * short says what it left behind: a flash size larger than the chip's is a
 * pre-flight error, and a cancelled write names the address ranges it left
 * partly written or erased (in the API, the CLI and a station's journal).
 */

import assert from "node:assert/strict";
import {
  AbortedError,
  connect,
  type DeviceEvent,
  openJournal,
  PreflightError,
  runStation,
} from "../mod.ts";
import { cliCapture } from "./support/cli_capture.ts";
import { randomBytes } from "./support/rom_cli.ts";

const REGIONS = [
  { address: 0x10000, data: randomBytes(0x8000, 1), name: "a.bin" },
  { address: 0x40000, data: randomBytes(0x40000, 2), name: "b.bin" },
  { address: 0x100000, data: randomBytes(0x8000, 3), name: "c.bin" },
];

/** Aborts `controller` once the write of the region at `address` has made progress. */
function abortWhenWriting(controller: AbortController, address: number) {
  return (e: DeviceEvent) => {
    if (e.type === "progress" && e.stage === "write" && e.address === address && e.done > 0) {
      controller.abort();
    }
  };
}

Deno.test("a flash size larger than the chip's is refused before writing; force writes anyway", async () => {
  const data = randomBytes(0x2000, 9);
  await using dev = await connect("sim://esp32c3?size=4MB&firmware=erased");
  await assert.rejects(
    dev.flash([{ address: 0x10000, data }], { flashSize: "16MB" }),
    (e: unknown) => {
      assert.ok(e instanceof PreflightError);
      assert.equal(e.code, "E_FLASH_SIZE");
      assert.match(e.message, /flash size asked for \(16MB\) is larger than the 4MB flash/);
      assert.match(e.message, /nothing was written/);
      return true;
    },
  );
  assert.ok((await dev.read({ address: 0x10000, size: 0x2000 })).every((b) => b === 0xff));
  const report = await dev.flash([{ address: 0x10000, data }], { flashSize: "16MB", force: true });
  assert.equal(report.verified, true);
  assert.ok(report.warnings.some((w) => w.code === "E_FLASH_SIZE"));
  // The same or a smaller size is fine.
  await dev.flash([{ address: 0x10000, data }], { flashSize: "2MB" });
});

Deno.test("a write cancelled mid-way names the ranges it left partly written and those not written", async () => {
  const controller = new AbortController();
  await using dev = await connect("sim://esp32c3", {
    onEvent: abortWhenWriting(controller, 0x40000),
  });
  await assert.rejects(dev.flash(REGIONS, { signal: controller.signal }), (e: unknown) => {
    assert.ok(e instanceof AbortedError);
    assert.equal(e.code, "E_ABORTED");
    assert.match(e.message, /^operation cancelled during the write/);
    assert.match(e.message, /partly written or erased: 0x00040000-0x0007ffff \(b\.bin\)/);
    assert.match(e.message, /not written: 0x00100000-0x00107fff \(c\.bin\)/);
    assert.match(e.message, /; written: 0x00010000-0x00017fff \(a\.bin\)/);
    assert.deepEqual(
      (e.details.regions as { name: string; state: string }[]).map((r) => [r.name, r.state]),
      [["a.bin", "written"], ["b.bin", "partial"], ["c.bin", "untouched"]],
    );
    return true;
  });
});

Deno.test("a write cancelled before it began says nothing was written", async () => {
  const controller = new AbortController();
  controller.abort();
  await using dev = await connect("sim://esp32c3");
  await assert.rejects(dev.flash(REGIONS, { signal: controller.signal }), (e: unknown) => {
    assert.ok(e instanceof AbortedError);
    assert.match(e.message, /before anything was written/);
    return true;
  });
});

Deno.test("a station cancelled mid-write records the board aborted with the partly written ranges", async () => {
  const controller = new AbortController();
  await using journal = await openJournal(":memory:");
  const mac = "02:aa:bb:cc:00:07";
  const summary = await runStation([`sim://esp32c3?mac=${mac}`], async ({ device, stage }) => {
    stage("flash");
    await device.flash(REGIONS); // the job passes no signal: the station's reaches the write
  }, {
    journal,
    signal: controller.signal,
    onEvent: (e) => {
      if ("type" in e) abortWhenWriting(controller, 0x40000)(e as DeviceEvent);
    },
  });
  assert.equal(summary.outcomes[0].result, "aborted");
  const [record] = await journal.history(mac);
  assert.equal(record.result, "aborted");
  assert.match(record.errorMessage ?? "", /partly written or erased: 0x00040000-0x0007ffff/);
});

Deno.test("CLI: Ctrl-C during write-flash says which ranges are partly written (exit 130)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const args: string[] = [];
    for (const r of REGIONS) {
      await Deno.writeFile(`${dir}/${r.name}`, r.data);
      args.push(`0x${r.address.toString(16)}`, `${dir}/${r.name}`);
    }
    const controller = new AbortController();
    const { code, out, err } = await cliCapture(
      ["--port", "sim://esp32c3", "write-flash", ...args],
      {
        signal: controller.signal,
        onStdout: (t) => {
          // "Writing b.bin at 0x00040000" or esptool's "Writing 'b.bin' at 0x00040000...".
          if (/Writing\b.*b\.bin'? at 0x00040000/.test(t)) controller.abort();
        },
      },
    );
    assert.equal(code, 130, out + err);
    // Cancelled as b.bin begins: it is named, as partly written or not written.
    assert.match(err, /operation cancelled during the write, /);
    assert.match(err, /(partly written or erased|not written): [^;]*0x00040000-0x0007ffff \(/);
    assert.match(err, /0x00100000-0x00107fff/);
    assert.match(err, /Write the firmware again before using the board/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
