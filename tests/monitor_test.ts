import assert from "node:assert/strict";
import {
  ExpectTimeoutError,
  type MonitorLine,
  openMonitor,
  stripAnsi,
} from "../lib/monitor/monitor.ts";
import { openSimPort } from "../lib/sim/sim_port.ts";
import { connect } from "../lib/device/device.ts";
import { TransportError } from "../lib/errors.ts";
import type { Transport } from "../lib/transport/transport.ts";

/** A scripted port: hands out the given chunks, records writes, can fail. */
function scripted(chunks: (Uint8Array | Error)[]): Transport & { written: Uint8Array[] } {
  const queue = [...chunks];
  return {
    path: "scripted",
    baud: 115200,
    info: { path: "scripted" },
    written: [],
    async read(timeoutMs: number) {
      const next = queue.shift();
      if (next instanceof Error) throw next;
      if (next) return next;
      await new Promise((r) => setTimeout(r, Math.min(timeoutMs, 5)));
      return null;
    },
    write(data: Uint8Array) {
      this.written.push(data);
      return Promise.resolve();
    },
    setBaud: () => Promise.resolve(),
    setSignals: () => Promise.reject(new TransportError("E_NO_MODEM_LINES", "no modem lines")),
    flushInput: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
}

const enc = (s: string) => new TextEncoder().encode(s);

Deno.test("the monitor resets a virtual board into its app and expect() finds its banner", async () => {
  const port = openSimPort({ chip: "esp32", mac: "24:0a:c4:12:34:56" });
  try {
    await using mon = await openMonitor(port);
    assert.equal(mon.resetWorked, true);
    const { line, match } = await mon.expect(/base MAC (\S+)/, { timeoutMs: 3000 });
    assert.equal(match[1], "24:0a:c4:12:34:56");
    assert.match(line.text, /app_main/);
    await mon.expect("Hello from espline sim", { timeoutMs: 3000 });
    // Lines seen before can be searched again from the start.
    const again = await mon.expect(/2nd stage bootloader/, { since: "start", timeoutMs: 10 });
    assert.match(again.line.text, /ESP-IDF/);
  } finally {
    await port.close();
  }
});

Deno.test("expect() timing out shows the pattern and the last lines seen", async () => {
  const port = openSimPort({ chip: "esp32c3" });
  try {
    await using mon = await openMonitor(port);
    await mon.expect(/Hello/, { timeoutMs: 3000 });
    const err = await mon.expect(/app_main\(\) started/, { timeoutMs: 150 }).then(
      () => null,
      (e) => e,
    );
    assert.ok(err instanceof ExpectTimeoutError);
    assert.equal(err.code, "E_EXPECT_TIMEOUT");
    assert.match(err.message, /expected \/app_main\\\(\\\) started\/ within 150 ms/);
    assert.match(err.message, /\| Hello from espline sim/);
    assert.ok(err.lastLines.length > 3);
  } finally {
    await port.close();
  }
});

Deno.test("silence gives a timeout that says there was no output at all", async () => {
  await using mon = await openMonitor(scripted([]), { reset: false });
  await assert.rejects(() => mon.expect(/x/, { timeoutMs: 30 }), /no output at all/);
});

Deno.test("lines are split on \\n, \\r\\n and lone \\r, across chunks and inside UTF-8 characters", async () => {
  const euro = enc("€"); // 3 bytes
  const t = scripted([
    enc("one\r"),
    enc("\ntwo\rthr"),
    enc("ee\nprice: "),
    euro.subarray(0, 1),
    euro.subarray(1),
    enc(" 5\n\x1b[0;32mI (1) ok\x1b[0m\n"),
  ]);
  await using mon = await openMonitor(t, { reset: false });
  await mon.expect(/ok/, { timeoutMs: 1000 });
  assert.deepEqual(mon.history().map((l) => l.text).slice(0, 4), [
    "one",
    "two",
    "three",
    "price: € 5",
  ]);
  assert.equal(stripAnsi(mon.history()[4].text), "I (1) ok");
});

Deno.test("a partial line is delivered after a short silence", async () => {
  await using mon = await openMonitor(scripted([enc("login: ")]), {
    reset: false,
    partialLineMs: 20,
  });
  const { line } = await mon.expect(/login:/, { timeoutMs: 1000 });
  assert.equal(line.text, "login: ");
});

Deno.test("send() reaches the port; reset on a port without modem lines is reported, not thrown", async () => {
  const t = scripted([]);
  await using mon = await openMonitor(t);
  assert.equal(mon.resetWorked, false);
  await mon.send("help\r\n");
  assert.deepEqual(t.written.map((w) => new TextDecoder().decode(w)), ["help\r\n"]);
});

Deno.test("a vanished port ends lines() with the typed error and fails pending expects", async () => {
  const t = scripted([enc("a\n"), new TransportError("E_PORT_GONE", "port scripted vanished")]);
  await using mon = await openMonitor(t, { reset: false });
  const seen: string[] = [];
  await assert.rejects(async () => {
    for await (const l of mon.lines()) seen.push(l.text);
  }, (e) => e instanceof TransportError && e.code === "E_PORT_GONE");
  await assert.rejects(() => mon.expect(/never/, { timeoutMs: 1000 }), /vanished/);
});

Deno.test("the log file gets one timestamped line per line", async () => {
  const dir = await Deno.makeTempDir();
  try {
    {
      await using mon = await openMonitor(scripted([enc("boot\nready\n")]), {
        reset: false,
        logFile: `${dir}/m.log`,
      });
      await mon.expect(/ready/, { timeoutMs: 1000 });
    }
    const lines = (await Deno.readTextFile(`${dir}/m.log`)).trim().split("\n");
    assert.equal(lines.length, 2);
    assert.match(lines[0], /^\d{4}-\d\d-\d\dT\S+Z boot$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("device.monitor() after flashing, then reset('download') returns to the loader", async () => {
  await using dev = await connect("sim://esp32s3?mac=02:00:00:00:00:42", { baud: 921600 });
  // Data outside the factory app (the board boots what its flash holds: garbage at the app's
  // offset would rightly boot-loop), written through the loader before the monitor.
  const app = { address: 0x200000, data: new Uint8Array(8192).fill(7) };
  await dev.flash([app]);
  {
    await using mon = await dev.monitor();
    await mon.expect(/02:00:00:00:00:42/, { timeoutMs: 3000 });
  }
  await assert.rejects(() => dev.readMac(), /running its application/);
  await dev.reset("download");
  // Back in the loader (stub restarted): the flash written before the monitor is still there.
  assert.equal((await dev.verify([app])).ok, true);
  assert.equal(await dev.readMac(), "02:00:00:00:00:42");
});

// ------------------------------------------------ the monitor on virtual boards

const texts = (lines: MonitorLine[]) => lines.map((l) => l.text);
const rejection = <T>(p: Promise<T>): Promise<unknown> => p.then(() => null, (e) => e);
const APP = ["I (10) boot: custom app", "I (20) main: sensor ok", "ready> "];

Deno.test("reset into the app: the boot lines of a virtual board arrive in order", async () => {
  const port = openSimPort({ chip: "esp32", mac: "02:aa:bb:cc:dd:01", appOutput: APP });
  try {
    await using mon = await openMonitor(port);
    assert.equal(mon.resetWorked, true);
    const { match, line } = await mon.expect(/main: sensor (\w+)/, { timeoutMs: 3000 });
    assert.equal(match[1], "ok");
    assert.equal(line.text, "I (20) main: sensor ok");
    const h = texts(mon.history());
    // The download-mode banner from power-on, then the app's own lines after the reset.
    assert.ok(h.indexOf("waiting for download") < h.indexOf("I (10) boot: custom app"));
    assert.equal(port.chip.mode, "app");
  } finally {
    await port.close();
  }
});

Deno.test("the first expect() after open finds the boot banner even if it arrived before the call", async () => {
  const port = openSimPort({ chip: "esp32s3", appOutput: APP });
  try {
    await using mon = await openMonitor(port);
    // Let the whole boot arrive before asking for its first line.
    for await (const l of mon.lines()) if (l.text === "ready> ") break;
    const { line } = await mon.expect("custom app", { timeoutMs: 10 });
    assert.equal(line.text, "I (10) boot: custom app");
    // ... and the next expect sees what followed that match.
    await mon.expect(/sensor ok/, { timeoutMs: 10 });
  } finally {
    await port.close();
  }
});

Deno.test("after a match, earlier lines are only found with since: 'start'; 'now' waits for new ones", async () => {
  const port = openSimPort({ chip: "esp32c3", appOutput: APP });
  try {
    await using mon = await openMonitor(port);
    await mon.expect(/ready>/, { timeoutMs: 3000 });
    const err = await rejection(mon.expect(/custom app/, { timeoutMs: 30 }));
    assert.ok(err instanceof ExpectTimeoutError);
    const again = await mon.expect(/custom app/, { since: "start", timeoutMs: 10 });
    assert.equal(again.line.text, "I (10) boot: custom app");
    // "now" ignores the history even though the line is there.
    const now = await rejection(mon.expect(/ready>/, { since: "now", timeoutMs: 30 }));
    assert.ok(now instanceof ExpectTimeoutError);
  } finally {
    await port.close();
  }
});

Deno.test("reset() re-prints the boot output and expect() waits for the new boot, not the old lines", async () => {
  const port = openSimPort({ chip: "esp32", appOutput: APP });
  try {
    await using mon = await openMonitor(port);
    const first = await mon.expect(/custom app/, { timeoutMs: 3000 });
    assert.equal(await mon.reset(), true);
    const second = await mon.expect(/custom app/, { timeoutMs: 3000 });
    assert.notEqual(second.line, first.line);
    assert.equal(texts(mon.history()).filter((t) => t === "I (10) boot: custom app").length, 2);
  } finally {
    await port.close();
  }
});

Deno.test("a board on Espressif's USB-Serial/JTAG is reset into its app too", async () => {
  const port = openSimPort({ chip: "esp32c3", usb: "usb-jtag", appOutput: APP });
  try {
    await using mon = await openMonitor(port);
    await mon.expect(/ready>/, { timeoutMs: 3000 });
    assert.equal(port.chip.mode, "app");
  } finally {
    await port.close();
  }
});

Deno.test("reset: false leaves a board already running its app alone", async () => {
  const port = openSimPort({ chip: "esp32", startMode: "app", appOutput: APP });
  try {
    await using mon = await openMonitor(port, { reset: false });
    assert.equal(mon.resetWorked, false);
    await mon.expect(/ready>/, { timeoutMs: 3000 });
    assert.equal(texts(mon.history()).filter((t) => t.includes("custom app")).length, 1);
  } finally {
    await port.close();
  }
});

// ---------------------------------------------------------------- line splitting
