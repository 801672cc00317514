import assert from "node:assert/strict";
import { ExpectTimeoutError, type MonitorLine, openMonitor, stripAnsi } from "./monitor.ts";
import { hardReset, isNoModemLines } from "../loader/reset.ts";
import { FakePort } from "../../tests/support/fake_port.ts";
import { AbortedError, EsplineError, TimeoutError, TransportError } from "../errors.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const texts = (lines: MonitorLine[]) => lines.map((l) => l.text);
const rejection = <T>(p: Promise<T>): Promise<unknown> => p.then(() => null, (e) => e);

Deno.test("lines split across chunks, on \\r\\n split between chunks, lone \\r and empty lines", async () => {
  const port = new FakePort();
  await using mon = await openMonitor(port, { reset: false });
  for (const c of ["hel", "lo\r", "\nwor", "ld\n\n", "50%\r100%\r\n", "end\n"]) port.push(c);
  await mon.expect(/^end$/, { timeoutMs: 1000 });
  assert.deepEqual(texts(mon.history()), ["hello", "world", "", "50%", "100%", "end"]);
});

Deno.test("UTF-8 characters split across chunks stay whole; invalid bytes become U+FFFD", async () => {
  const port = new FakePort();
  await using mon = await openMonitor(port, { reset: false });
  const euro = enc("€"); // 3 bytes
  const snake = enc("🐍"); // 4 bytes
  port.push(Uint8Array.of(...enc("price "), euro[0]));
  port.push(Uint8Array.of(euro[1]));
  port.push(Uint8Array.of(euro[2], ...enc(" "), snake[0], snake[1]));
  port.push(Uint8Array.of(snake[2], snake[3], 0x0a));
  port.push(Uint8Array.of(0x61, 0xff, 0x62, 0x0a));
  await mon.expect(/^a.b$/, { timeoutMs: 1000 });
  assert.deepEqual(texts(mon.history()), ["price € 🐍", "a\uFFFDb"]);
});

Deno.test("ANSI colours are kept in the text and stripAnsi removes them", async () => {
  const port = new FakePort();
  await using mon = await openMonitor(port, { reset: false });
  port.push("\x1b[0;32mI (31) boot: ok\x1b[0m\r\n");
  const { line } = await mon.expect(/boot: ok/, { timeoutMs: 1000 });
  assert.equal(line.text, "\x1b[0;32mI (31) boot: ok\x1b[0m");
  assert.equal(stripAnsi(line.text), "I (31) boot: ok");
  assert.equal(stripAnsi("\x1b]0;title\x07\x1b[2K\x1b[1Aplain"), "plain");
});

Deno.test("a partial line arrives after a short silence", async () => {
  const port = new FakePort();
  await using mon = await openMonitor(port, { reset: false, partialLineMs: 10 });
  port.push("login: ");
  const { line } = await mon.expect(/^login: $/, { timeoutMs: 1000 });
  assert.equal(line.text, "login: ");
});

Deno.test("a partial line is delivered when the monitor closes", async () => {
  const port = new FakePort();
  const seen: string[] = [];
  const mon = await openMonitor(port, {
    reset: false,
    partialLineMs: 60_000,
    onLine: (l) => seen.push(l.text),
  });
  port.push("done\nno newline");
  await mon.expect(/done/, { timeoutMs: 1000 });
  await mon.close();
  assert.deepEqual(seen, ["done", "no newline"]);
});

// ---------------------------------------------------------------- expect

Deno.test("expect(): groups, literal strings and global regexps that match every time", async () => {
  const port = new FakePort();
  await using mon = await openMonitor(port, { reset: false });
  port.push("axb\na.b\nv=1\nv=2\n");
  const lit = await mon.expect("a.b", { timeoutMs: 1000 });
  assert.equal(lit.line.text, "a.b");
  const g = /v=(\d)/g;
  assert.equal((await mon.expect(g, { timeoutMs: 1000 })).match[1], "1");
  assert.equal((await mon.expect(g, { timeoutMs: 1000 })).match[1], "2");
});

Deno.test("expect() timeout: the error names the pattern and timeout and shows the last 20 lines", async () => {
  const port = new FakePort();
  await using mon = await openMonitor(port, { reset: false });
  for (let i = 1; i <= 30; i++) port.push(`line ${i}\r\n`);
  await mon.expect(/line 30/, { timeoutMs: 1000 });
  const err = await rejection(mon.expect(/WiFi connected/, { timeoutMs: 40 }));
  assert.ok(err instanceof ExpectTimeoutError);
  assert.ok(err instanceof TimeoutError);
  assert.equal(err.code, "E_EXPECT_TIMEOUT");
  assert.match(err.message, /expected \/WiFi connected\/ within 40 ms/);
  assert.match(err.message, /\| line 30\n?/);
  assert.match(err.message, /\| line 11\n/);
  assert.doesNotMatch(err.message, /\| line 10\n/);
  assert.equal(err.lastLines.length, 20);
  assert.equal(err.lastLines[0], "line 11");
  assert.deepEqual(err.details.lastLines, err.lastLines);
});

Deno.test("expect() timeout with no output at all asks about the baud and the app", async () => {
  const port = new FakePort();
  await using mon = await openMonitor(port, { reset: false });
  const err = await rejection(mon.expect(/x/, { timeoutMs: 20 }));
  assert.ok(err instanceof ExpectTimeoutError);
  assert.match(err.message, /no output at all: is the baud right, is the app running\?/);
});

Deno.test("expect() timeout over garbled output suggests the baud is wrong", async () => {
  const port = new FakePort();
  await using mon = await openMonitor(port, { reset: false });
  port.push(Uint8Array.of(0xfe, 0x80, 0x9c, 0x01, 0xff, 0xe0, 0x80, 0x80, 0x02, 0xc1, 0x0a));
  port.push("ok\n");
  await mon.expect(/ok/, { timeoutMs: 1000 });
  const err = await rejection(mon.expect(/ready/, { timeoutMs: 20 }));
  assert.match(String(err), /looks garbled: is the baud right/);
});

Deno.test("expect() with its own signal rejects with AbortedError and the monitor goes on", async () => {
  const port = new FakePort();
  await using mon = await openMonitor(port, { reset: false });
  const ac = new AbortController();
  const pending = rejection(mon.expect(/never/, { timeoutMs: 60_000, signal: ac.signal }));
  ac.abort();
  assert.ok((await pending) instanceof AbortedError);
  port.push("still here\n");
  await mon.expect(/still here/, { timeoutMs: 1000 });
});

// ---------------------------------------------------------------- send, reset, log

Deno.test("send() reaches the board (an echoing app answers)", async () => {
  const port = new FakePort({
    onWrite: (d, p) => p.push(`echo: ${new TextDecoder().decode(d).trim()}\r\n`),
  });
  await using mon = await openMonitor(port, { reset: false });
  await mon.send("help\r\n");
  await mon.send(Uint8Array.of(0x76, 0x0d));
  assert.equal((await mon.expect(/^echo: (.*)$/, { timeoutMs: 1000 })).match[1], "help");
  assert.equal((await mon.expect(/^echo: (.*)$/, { timeoutMs: 1000 })).match[1], "v");
  assert.deepEqual(port.writes.map((w) => new TextDecoder().decode(w)), ["help\r\n", "v\r"]);
});

Deno.test("hardReset drives EN low through RTS with IO0 released, then lets go", async () => {
  const port = new FakePort();
  assert.equal(await hardReset(port), true);
  assert.deepEqual(port.signals, [{ dtr: false, rts: true }, { rts: false }]);
  let why: unknown = null;
  const noLines = new FakePort({ modemLines: false });
  assert.equal(await hardReset(noLines, { onSkipped: (e) => why = e }), false);
  assert.equal(isNoModemLines(why), true);
});

Deno.test("a port without modem lines: no reset, recorded, and the monitor still works", async () => {
  const port = new FakePort({ modemLines: false });
  await using mon = await openMonitor(port);
  assert.equal(mon.resetWorked, false);
  port.push("running\n");
  await mon.expect(/running/, { timeoutMs: 1000 });
  assert.equal(await mon.reset(), false);
});

Deno.test("openMonitor sets the baud when the port is at another speed", async () => {
  const port = new FakePort({ baud: 9600 });
  {
    await using _mon = await openMonitor(port, { reset: false });
  }
  {
    await using _mon = await openMonitor(port, { reset: false, baud: 74880 });
  }
  assert.deepEqual(port.bauds, [115200, 74880]);
});

Deno.test("the log file gets one timestamped line per line, appended, with the clock given", async () => {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/monitor.log`;
  try {
    let now = Date.UTC(2026, 10, 23, 10, 0, 0, 0);
    const port = new FakePort({ onBoot: (p) => p.push("boot\r\nready\r\n") });
    {
      await using mon = await openMonitor(port, { logFile: file, clock: () => now });
      const { line } = await mon.expect(/ready/, { timeoutMs: 1000 });
      assert.equal(line.elapsedMs, 0);
      now += 1500;
      port.push("tick\n");
      const tick = await mon.expect(/tick/, { timeoutMs: 1000 });
      assert.equal(tick.line.elapsedMs, 1500);
      // Each line is in the file as soon as it ended.
      assert.match(await Deno.readTextFile(file), /tick\n$/);
    }
    {
      await using mon = await openMonitor(port, { reset: false, logFile: file, clock: () => now });
      port.push("second run\n");
      await mon.expect(/second run/, { timeoutMs: 1000 });
    }
    assert.equal(
      await Deno.readTextFile(file),
      "2026-11-23T10:00:00.000Z boot\n" +
        "2026-11-23T10:00:00.000Z ready\n" +
        "2026-11-23T10:00:01.500Z tick\n" +
        "2026-11-23T10:00:01.500Z second run\n",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a log file that cannot be opened is a typed error naming it", async () => {
  const err = await rejection(
    openMonitor(new FakePort(), { logFile: "/nonexistent-dir/x/monitor.log" }),
  );
  assert.ok(err instanceof EsplineError);
  assert.equal(err.code, "E_LOG_FILE");
  assert.match(err.message, /\/nonexistent-dir\/x\/monitor\.log/);
});

Deno.test("history keeps only historyLines lines; since: 'start' searches just those", async () => {
  const port = new FakePort();
  await using mon = await openMonitor(port, { reset: false, historyLines: 3 });
  port.push("a\nb\nc\nd\ne\n");
  await mon.expect(/e/, { timeoutMs: 1000 });
  assert.deepEqual(texts(mon.history()), ["c", "d", "e"]);
  const err = await rejection(mon.expect(/^a$/, { since: "start", timeoutMs: 20 }));
  assert.ok(err instanceof ExpectTimeoutError);
  assert.deepEqual(err.lastLines, ["c", "d", "e"]);
});

// ---------------------------------------------------------------- endings

Deno.test("close() rejects a pending expect() with E_MONITOR_CLOSED and ends lines()", async () => {
  const port = new FakePort();
  const mon = await openMonitor(port, { reset: false });
  const pending = rejection(mon.expect(/never/, { timeoutMs: 60_000 }));
  const seen: string[] = [];
  const iterating = (async () => {
    for await (const l of mon.lines({ since: "now" })) seen.push(l.text);
  })();
  port.push("last\n");
  await mon.expect(/last/, { timeoutMs: 1000 });
  await mon.close();
  const err = await pending;
  assert.ok(err instanceof EsplineError);
  assert.equal(err.code, "E_MONITOR_CLOSED");
  await iterating; // ends without error
  assert.deepEqual(seen, ["last"]);
  // After close, expect() and send() fail at once; the port is still open.
  assert.equal(((await rejection(mon.expect(/x/))) as EsplineError).code, "E_MONITOR_CLOSED");
  assert.equal(((await rejection(mon.send("x"))) as EsplineError).code, "E_MONITOR_CLOSED");
  assert.equal(await port.read(1), null);
  await mon.close({ closeTransport: true }); // idempotent, then closes the port
  assert.ok((await rejection(port.read(1))) instanceof TransportError);
});

Deno.test("a port that vanishes (E_PORT_GONE) ends lines() with that error and fails expects", async () => {
  const port = new FakePort();
  const mon = await openMonitor(port, { reset: false });
  const pending = rejection(mon.expect(/never/, { timeoutMs: 60_000 }));
  const seen: string[] = [];
  const iterErr = rejection((async () => {
    for await (const l of mon.lines()) seen.push(l.text);
  })());
  port.push("a\nhalf");
  port.fail(new TransportError("E_PORT_GONE", "port fake://board vanished: plug it back in"));
  const err = await iterErr;
  assert.ok(err instanceof TransportError);
  assert.equal(err.code, "E_PORT_GONE");
  assert.deepEqual(seen, ["a", "half"]);
  assert.equal(await pending, err);
  // Asked afterwards, both report the same failure instead of waiting forever.
  const late = rejection((async () => {
    for await (const _ of mon.lines({ since: "now" })) { /* none */ }
  })());
  assert.equal(await late, err);
  assert.equal(await rejection(mon.expect(/never/, { timeoutMs: 60_000 })), err);
  await mon.close();
});

Deno.test("aborting the monitor's signal stops it: lines() ends, pending expects reject AbortedError", async () => {
  const port = new FakePort();
  const ac = new AbortController();
  const mon = await openMonitor(port, { reset: false, signal: ac.signal });
  const pending = rejection(mon.expect(/never/, { timeoutMs: 60_000 }));
  const iterating = (async () => {
    for await (const _ of mon.lines()) { /* none */ }
  })();
  ac.abort();
  assert.ok((await pending) instanceof AbortedError);
  await iterating;
  await mon.close();
  assert.ok((await rejection(openMonitor(port, { signal: ac.signal }))) instanceof AbortedError);
});

Deno.test("an onLine callback that throws stops the monitor with its error", async () => {
  const port = new FakePort();
  const boom = new Error("renderer broke");
  const mon = await openMonitor(port, {
    reset: false,
    onLine: (l) => {
      if (l.text === "bad") throw boom;
    },
  });
  const pending = rejection(mon.expect(/never/, { timeoutMs: 60_000 }));
  port.push("good\nbad\n");
  assert.equal(await pending, boom);
  await mon.close();
});

Deno.test("a reset that fails on a broken port fails openMonitor and leaves nothing running", async () => {
  const port = new FakePort();
  port.setSignals = () => Promise.reject(new TransportError("E_PORT_GONE", "unplugged"));
  const err = await rejection(openMonitor(port));
  assert.ok(err instanceof TransportError);
  assert.equal(err.code, "E_PORT_GONE");
});

Deno.test("reset(): an unfinished line of the old run is not glued to the new boot's first line", async () => {
  const port = new FakePort({ onBoot: (p) => p.push("rst:0x1 boot\r\n") });
  await using mon = await openMonitor(port, { reset: false, partialLineMs: 60_000 });
  port.push("old line\r\nhalf a li");
  await mon.expect(/old line/, { timeoutMs: 1000 });
  await mon.reset();
  const { line } = await mon.expect(/boot/, { timeoutMs: 1000 });
  assert.equal(line.text, "rst:0x1 boot");
  assert.deepEqual(texts(mon.history()), ["old line", "half a li", "rst:0x1 boot"]);
  // The old run's lines are no longer unread.
  assert.ok((await rejection(mon.expect(/half/, { timeoutMs: 20 }))) instanceof ExpectTimeoutError);
});
