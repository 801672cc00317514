import assert from "node:assert/strict";
import { runStation } from "../lib/station/runner.ts";
import { createStationView } from "../lib/station/view.ts";
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
          return Promise.resolve();
        },
        event(kind, detail) {
          r.events.push(`${kind}: ${detail}`);
          return Promise.resolve();
        },
        pass() {
          r.result = "passed";
          return Promise.resolve();
        },
        fail(e, o) {
          r.result = "failed";
          r.stage = o.stage;
          r.error = e instanceof EsplineError ? e.code : String(e);
          return Promise.resolve();
        },
        abort() {
          r.result = "aborted";
          return Promise.resolve();
        },
      };
      return Promise.resolve(rec);
    },
  };
  return { journal, records };
}

const data = new Uint8Array(30000).map((_, i) => (i * 13) & 0xff);

Deno.test("a station flashes several boards in parallel, each with its own outcome and record", async () => {
  const { journal, records } = memoryJournal();
  let out = "";
  const view = createStationView({
    sinks: { stdout: (t) => (out += t), isTerminal: false },
  });
  const ports = [
    "sim://esp32?mac=02:00:00:00:00:01",
    "sim://esp32c3?mac=02:00:00:00:00:02",
    "sim://esp32s3?mac=02:00:00:00:00:03",
  ];
  const summary = await runStation(ports, async ({ device, stage, log }) => {
    stage("flash");
    const r = await device.flash([{ address: 0x10000, data }]);
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
    assert.match(out, new RegExp(`${p.replace(/[?]/g, "\\?")}: passed 02:00`));
  }
});

Deno.test("a failing board fails alone, at its stage, and the journal says failed", async () => {
  const { journal, records } = memoryJournal();
  const summary = await runStation(
    ["sim://esp32", "sim://esp32c6"],
    async ({ device, stage, port }) => {
      stage("flash");
      await device.flash([{ address: 0x10000, data }]);
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
  // Incompressible (an LCG's high bytes), so the write is a dozen blocks: each draws a possible
  // reset (seed 1 resets at least once in this sequence; if a change to the command sequence
  // moves the draws so none does, pick another seed: the test says "a reset happened").
  let x = 12345;
  const big = new Uint8Array(200_000).map(() =>
    (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 24
  );
  const summary = await runStation(["sim://esp32?seed=1&reset=0.1"], async ({ device }) => {
    // Writes in a station resume after faults by default; here with more attempts.
    const r = await device.flash([{ address: 0x10000, data: big }], { resume: { attempts: 6 } });
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
    await device.flash([{ address: 0x10000, data }], { signal });
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

import { formatSummary } from "../lib/station/view.ts";
import { makeImage } from "../lib/image/make_image.ts";
import { chipByKey } from "../lib/chips/index.ts";
import { connect } from "../lib/device/device.ts";

Deno.test("a pre-flight refusal fails the board at a preflight stage with nothing written; the job stops there", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { journal, records } = memoryJournal();
    const boot32 = makeImage({
      chip: chipByKey("esp32"),
      segments: [{ address: 0x3ffe0100, data: new Uint8Array(3000).fill(9) }],
    });
    let after = false;
    let out = "";
    const port = `sim://esp32c3?firmware=erased&flash=${dir}/f.bin`;
    const summary = await runStation([port], async ({ device, stage }) => {
      stage("flash");
      await device.flash([{ address: 0x0, data: boot32, name: "bootloader.bin" }]);
      after = true;
    }, {
      journal,
      onEvent: createStationView({ sinks: { stdout: (t) => (out += t), isTerminal: false } }),
    });
    assert.equal(summary.failed, 1);
    const o = summary.outcomes[0];
    assert.equal(o.stage, "preflight");
    assert.equal(o.error?.code, "E_IMAGE_CHIP");
    assert.equal(after, false);
    assert.deepEqual(records.map((r) => [r.result, r.stage, r.error]), [
      ["failed", "preflight", "E_IMAGE_CHIP"],
    ]);
    assert.match(out, /failed at preflight: E_IMAGE_CHIP: refusing to write/);
    await using dev = await connect(port);
    assert.ok((await dev.read({ address: 0, size: 0x1000 })).every((b) => b === 0xff));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a board whose write could not be verified ends unverified, in the outcome and the journal", async () => {
  const calls: string[] = [];
  const journal: StationJournal = {
    begin: () =>
      Promise.resolve({
        update: () => Promise.resolve(),
        event: () => Promise.resolve(),
        pass: (extra) => void calls.push(`pass ${JSON.stringify(extra ?? {})}`),
        unverified: (reason) => void calls.push(`unverified ${reason}`),
        fail: () => void calls.push("fail"),
        abort: () => void calls.push("abort"),
      }),
  };
  const summary = await runStation(["sim://esp32c3"], async ({ device }) => {
    await device.flash([{ address: 0x10000, data }], { verify: false });
  }, { journal });
  assert.equal(summary.unverified, 1);
  assert.equal(summary.passed, 0);
  assert.equal(summary.outcomes[0].result, "unverified");
  assert.deepEqual(calls, ["unverified verification was turned off"]);
  assert.match(
    formatSummary(summary),
    /^0 passed, 0 failed, 1 unverified\n {2}sim:\/\/esp32c3: unverified: verification was turned off$/,
  );
});

Deno.test("formatSummary names every board that did not pass, with its stage and error", async () => {
  const summary = await runStation(
    ["sim://esp32", "/dev/espline-no-such-port"],
    async ({ stage }) => {
      stage("work");
      await Promise.resolve();
    },
  );
  const text = formatSummary(summary);
  assert.match(text, /^1 passed, 1 failed$/m);
  assert.match(text, /^ {2}\/dev\/espline-no-such-port: failed at connect: E_\w+: /m);
});

import type { StationEventLike } from "../lib/station/dashboard/model.ts";
import { freePort } from "./support/external.ts";

Deno.test("a station publishes its boards to a dashboard under its name: identity while running, the noted serial, no traces", async () => {
  const published: { event: StationEventLike & Record<string, unknown>; station?: string }[] = [];
  const sink = {
    publish(event: StationEventLike, options?: { station?: string }) {
      published.push({ event: event as StationEventLike & Record<string, unknown>, ...options });
    },
  };
  let seenWhileRunning: string[] = [];
  let traces = 0;
  const summary = await runStation(["sim://esp32c6?mac=02:00:00:00:0d:01"], ({ note }) => {
    // The job runs: the dashboard knows the board's identity already.
    seenWhileRunning = published.map((p) => p.event.type);
    note({ serial: "LINE-000077" });
    return Promise.resolve();
  }, {
    station: "line-4",
    dashboard: sink,
    connect: { trace: true },
    onEvent: (e) => e.type === "trace" && traces++,
  });
  assert.equal(summary.passed, 1);
  assert.ok(traces > 0, "the run traced its protocol");
  assert.ok(published.every((p) => p.station === "line-4"));
  assert.ok(!published.some((p) => p.event.type === "trace"), "protocol traces stay off the page");
  const info = published.find((p) => p.event.type === "device-info")!.event;
  assert.deepEqual(
    [info.port, info.mac, info.chip, info.revision, info.flashSize],
    [
      "sim://esp32c6?mac=02:00:00:00:0d:01",
      "02:00:00:00:0d:01",
      "esp32c6",
      "v0.1",
      4 * 1024 * 1024,
    ],
  );
  assert.ok(seenWhileRunning.includes("device-info"));
  assert.ok(!seenWhileRunning.includes("device-end"));
  const note = published.find((p) => p.event.type === "note")!.event;
  assert.deepEqual(note.fields, { serial: "LINE-000077" });
  assert.equal(published.at(-1)!.event.type, "device-end");
});

Deno.test("runStation({ dashboard: address }) serves the dashboard while the run lasts: a board's tile with MAC and serial", async () => {
  const port = freePort();
  let tileWhileRunning: Record<string, unknown> | undefined;
  const summary = await runStation(["sim://esp32c3?mac=02:00:00:00:0d:02"], async ({ note }) => {
    note({ serial: "LINE-000078" });
    // Events reach the page's state at once; browsers get them on the next flush.
    const state = await (await fetch(`http://127.0.0.1:${port}/api/state`)).json();
    tileWhileRunning = state.tiles[0];
  }, { station: "line-5", dashboard: `127.0.0.1:${port}` });
  assert.equal(summary.passed, 1);
  assert.equal(tileWhileRunning?.station, "line-5");
  assert.equal(tileWhileRunning?.state, "running");
  assert.equal(tileWhileRunning?.mac, "02:00:00:00:0d:02");
  assert.equal(tileWhileRunning?.chip, "esp32c3");
  assert.equal(tileWhileRunning?.serial, "LINE-000078");
  // Started by the run, stopped with it.
  await assert.rejects(() => fetch(`http://127.0.0.1:${port}/api/state`));
});

Deno.test("a journal that cannot be reached fails each board at journal, before its port is opened", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const journal: StationJournal = {
      begin: () =>
        Promise.reject(
          new EsplineError("E_JOURNAL_UNREACHABLE", "cannot reach the PostgreSQL journal"),
        ),
    };
    const events: string[] = [];
    const port = `sim://esp32c3?flash=${dir}/f.bin`;
    const summary = await runStation([port], () => {
      throw new Error("the job must not run");
    }, { journal, onEvent: (e) => events.push(e.type) });
    const o = summary.outcomes[0];
    assert.equal(o.result, "failed");
    assert.equal(o.stage, "journal");
    assert.equal(o.error?.code, "E_JOURNAL_UNREACHABLE");
    assert.deepEqual(events, ["device-start", "device-end"]);
    // The virtual board was never opened: its flash file was never written.
    await assert.rejects(() => Deno.stat(`${dir}/f.bin`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
