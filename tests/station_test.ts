import assert from "node:assert/strict";
import { runStation } from "../lib/station/runner.ts";
import { writeFlashResilient } from "../lib/station/recovery.ts";
import { createStationView } from "../lib/cli/station_view.ts";
import type { StationJournal, StationRecord } from "../lib/station/runner.ts";
import { EsplineError } from "../lib/errors.ts";

/** A journal that keeps records in memory, to check what the station tells it. */
function memoryJournal() {
  const records: {
    port: string;
    result: string;
    stage?: string;
    mac?: string;
    events: string[];
    error?: string;
  }[] = [];
  const journal: StationJournal = {
    begin(init) {
      const r = {
        port: init.port,
        result: "in-progress",
        events: [] as string[],
      } as (typeof records)[number];
      records.push(r);
      const rec: StationRecord = {
        update(f) {
          if (f.stage) r.stage = f.stage;
          if (f.mac) r.mac = f.mac;
        },
        event(kind, detail) {
          r.events.push(`${kind}: ${detail}`);
        },
        pass() {
          r.result = "passed";
        },
        fail(e, o) {
          r.result = "failed";
          r.stage = o.stage;
          r.error = e instanceof EsplineError ? e.code : String(e);
        },
        abort() {
          r.result = "aborted";
        },
      };
      return rec;
    },
  };
  return { journal, records };
}

const data = new Uint8Array(30000).map((_, i) => (i * 13) & 0xff);

Deno.test("a station flashes several boards in parallel, each with its own outcome and record", async () => {
  const { journal, records } = memoryJournal();
  let out = "";
  const view = createStationView({
    sinks: { stdout: (t) => (out += t), stderr: () => {}, isTerminal: false },
  });
  const ports = [
    "sim://esp32?mac=02:00:00:00:00:01",
    "sim://esp32c3?mac=02:00:00:00:00:02",
    "sim://esp32s3?mac=02:00:00:00:00:03",
  ];
  const summary = await runStation(ports, async ({ device, stage, log }) => {
    stage("flash");
    const r = await writeFlashResilient(device, [{ address: 0x10000, data }]);
    log(`wrote ${r.bytesWritten}`);
  }, { journal, onEvent: view });
  assert.equal(summary.passed, 3);
  assert.deepEqual(summary.outcomes.map((o) => o.mac), [
    "02:00:00:00:00:01",
    "02:00:00:00:00:02",
    "02:00:00:00:00:03",
  ]);
  assert.deepEqual(records.map((r) => r.result), ["passed", "passed", "passed"]);
  for (const p of ports) {
    assert.match(out, new RegExp(`${p.replace(/[?]/g, "\\?")}: flash`));
    assert.match(out, new RegExp(`${p.replace(/[?]/g, "\\?")}: PASS 02:00`));
  }
});

Deno.test("a failing board fails alone, at its stage, and the journal says failed", async () => {
  const { journal, records } = memoryJournal();
  const summary = await runStation(
    ["sim://esp32", "sim://esp32c6"],
    async ({ device, stage, port }) => {
      stage("flash");
      await device.writeFlash([{ address: 0x10000, data }]);
      stage("check");
      if (port.includes("c6")) {
        throw new EsplineError(
          "E_BOOT_CHECK",
          "the app did not print its banner",
        );
      }
    },
    { journal },
  );
  assert.equal(summary.passed, 1);
  assert.equal(summary.failed, 1);
  const bad = summary.outcomes[1];
  assert.equal(bad.stage, "check");
  assert.equal(bad.error?.code, "E_BOOT_CHECK");
  assert.deepEqual(records.map((r) => [r.result, r.stage, r.error]), [
    ["passed", "check", undefined],
    ["failed", "check", "E_BOOT_CHECK"],
  ]);
});

Deno.test("a port that cannot be opened fails at the connect stage with a typed error", async () => {
  const { journal, records } = memoryJournal();
  const summary = await runStation(["sim://esp99"], () => Promise.resolve(), { journal });
  assert.equal(summary.failed, 1);
  assert.equal(summary.outcomes[0].stage, "connect");
  assert.equal(summary.outcomes[0].error?.code, "E_USAGE");
  assert.equal(records[0].result, "failed");
});

Deno.test("a write disturbed by brown-out resets recovers and the journal records the recovery", async () => {
  const { journal, records } = memoryJournal();
  const big = new Uint8Array(200_000).map((_, i) => (i * 7 + (i >> 9)) & 0xff);
  const summary = await runStation(["sim://esp32?seed=2&reset=0.2"], async ({ device, record }) => {
    const r = await writeFlashResilient(device, [{ address: 0x10000, data: big }], {
      attempts: 6,
      onRecovery: (e) => record?.event("recovery", `${e.error.code} at ${e.baud}`),
    });
    assert.ok(r.recoveries.length > 0, "a reset happened");
    assert.equal(r.verified, true);
  }, { journal, connect: { baud: 460800 } });
  assert.equal(summary.passed, 1, JSON.stringify(summary.outcomes[0].error));
  assert.ok(records[0].events.some((e) => e.startsWith("recovery:")));
});

Deno.test("cancelling a run marks boards in progress as aborted", async () => {
  const { journal, records } = memoryJournal();
  const controller = new AbortController();
  const summary = await runStation(["sim://esp32"], async ({ device, signal }) => {
    controller.abort();
    await device.writeFlash([{ address: 0x10000, data }], { signal });
  }, { journal, signal: controller.signal });
  assert.equal(summary.aborted, 1);
  assert.equal(records[0].result, "aborted");
});

import { waitForDevice } from "../lib/station/wait.ts";
import { AbortedError, TimeoutError } from "../lib/errors.ts";

Deno.test("waitForDevice notices a board plugged in, then taken out; times out and aborts cleanly", async () => {
  let ports = ["/dev/ttyUSB0"];
  const list = () => Promise.resolve(ports);
  const appeared = waitForDevice({ list, pollMs: 5 });
  setTimeout(() => (ports = ["/dev/ttyUSB0", "/dev/ttyACM0"]), 20);
  assert.equal(await appeared, "/dev/ttyACM0", "the new port, not the one already there");
  const gone = waitForDevice({ list, gone: "/dev/ttyACM0", pollMs: 5 });
  setTimeout(() => (ports = ["/dev/ttyUSB0"]), 20);
  assert.equal(await gone, "/dev/ttyACM0");
  await assert.rejects(() => waitForDevice({ list, pollMs: 5, timeoutMs: 30 }), TimeoutError);
  const c = new AbortController();
  const waiting = waitForDevice({ list, pollMs: 5, signal: c.signal });
  c.abort();
  await assert.rejects(() => waiting, AbortedError);
});
