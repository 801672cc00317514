import assert from "node:assert/strict";
import { cliCapture } from "./support/cli_capture.ts";
import { monitorCommand, type MonitorKeyboard } from "../lib/cli/cmd_monitor.ts";
import type { CommandContext, OptionValues } from "../lib/cli/command.ts";
import { HumanOutput, JsonOutput, type OutputSinks } from "../lib/cli/output.ts";
import { EsplineError, TransportError, UsageError } from "../lib/errors.ts";
import { FakePort } from "./support/fake_port.ts";

const dec = (b: Uint8Array) => new TextDecoder().decode(b);

const cli = (args: string[]) => cliCapture(args);

/** A command context over captured output; `seen(re)` resolves once stdout matches. */
function context(options: OptionValues, init: { json?: boolean; signal?: AbortSignal } = {}) {
  let out = "";
  let err = "";
  const watchers: { re: RegExp; resolve: () => void }[] = [];
  const sinks: OutputSinks = {
    stdout: (t) => {
      out += t;
      for (const w of [...watchers]) {
        if (w.re.test(out)) {
          watchers.splice(watchers.indexOf(w), 1);
          w.resolve();
        }
      }
    },
    stderr: (t) => (err += t),
    isTerminal: false,
  };
  const ctx: CommandContext = {
    options,
    positionals: [],
    global: {
      port: "fake://board",
      chip: "auto",
      baud: 115200,
      before: "default-reset",
      after: "hard-reset",
      connectAttempts: 7,
      stub: true,
      json: init.json ?? false,
      trace: false,
      resetConfig: {},
    },
    out: init.json ? new JsonOutput(sinks) : new HumanOutput(sinks),
    signal: init.signal ?? new AbortController().signal,
    usage: (m) => new UsageError(m),
    programName: "espline",
  };
  return {
    ctx,
    out: () => out,
    err: () => err,
    seen: (re: RegExp) =>
      re.test(out) ? Promise.resolve() : new Promise<void>((resolve) => {
        watchers.push({ re, resolve });
      }),
  };
}

/** A terminal keyboard whose reads run the given steps in order, then never return. */
function keyboard(steps: (() => Promise<string | null>)[], terminal = true) {
  const raw: boolean[] = [];
  const kb: MonitorKeyboard = {
    isTerminal: () => terminal,
    setRaw: (r) => void raw.push(r),
    read: async (buf) => {
      const step = steps.shift();
      if (!step) return await new Promise<null>(() => {});
      const keys = await step();
      if (keys === null) return null;
      const bytes = new TextEncoder().encode(keys);
      buf.set(bytes);
      return bytes.length;
    },
  };
  return { kb, raw };
}

// ---------------------------------------------------------------- through runCli and sim://

Deno.test("monitor --expect on a virtual board exits 0 with the matching line", async () => {
  const r = await cli([
    "--port",
    "sim://esp32?mac=02:00:00:00:00:07",
    "monitor",
    "--expect",
    "base MAC (\\S+)",
    "--timeout",
    "5",
  ]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^--- espline monitor on sim:\/\/esp32\S* at 115200; waiting up to 5 s/);
  // The virtual board boots its flash: ESP-IDF's coloured log, then the app's lines.
  assert.match(r.out, /^\S*I \(\d+\) boot: ESP-IDF v5.3.1 2nd stage bootloader\S*$/m);
  assert.match(r.out, /^--- matched: I \(\d+\) app_main: ESP32 base MAC 02:00:00:00:00:07$/m);
});

Deno.test("monitor --expect timing out exits 1 and shows the last lines", async () => {
  const r = await cli([
    "-p",
    "sim://esp32c3",
    "monitor",
    "--expect",
    "WiFi up",
    "--timeout",
    "0.3",
  ]);
  assert.equal(r.code, 1);
  assert.match(r.err, /expected \/WiFi up\/ within 300 ms/);
  assert.match(r.err, /\| Hello from espline sim/);
});

Deno.test("monitor --json: every line is a line event, then the result", async () => {
  const r = await cli(["--json", "-p", "sim://esp32s3", "monitor", "--expect", "Hel+o (\\w+)"]);
  assert.equal(r.code, 0, r.out);
  const events = r.out.trim().split("\n").map((l) => JSON.parse(l));
  const lines = events.filter((e) => e.event === "line");
  assert.ok(lines.some((e) => /I \(\d+\) cpu_start: Pro cpu start user code/.test(e.text)));
  for (const e of lines) assert.ok(!Number.isNaN(Date.parse(e.time)), e.time);
  const result = events.at(-1);
  assert.equal(result.event, "result");
  assert.equal(result.matched, "Hello from espline sim");
  assert.deepEqual(result.groups, ["from"]);
});

Deno.test("monitor --log writes the lines to the file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const r = await cli([
      "-p",
      "sim://esp32",
      "monitor",
      "--log",
      `${dir}/m.log`,
      "--expect",
      "Hello",
    ]);
    assert.equal(r.code, 0, r.err);
    const log = await Deno.readTextFile(`${dir}/m.log`);
    assert.match(log, /^\d{4}-\d\d-\d\dT[\d:.]+Z Hello from espline sim$/m);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("monitor usage mistakes exit 2", async () => {
  for (
    const args of [
      ["--expect", "(unclosed"],
      ["--timeout", "3"],
      ["--expect", "x", "--timeout", "soon"],
      ["--expect", "x", "--timeout", "0"],
    ]
  ) {
    const r = await cli(["-p", "sim://esp32", "monitor", ...args]);
    assert.equal(r.code, 2, args.join(" "));
    assert.match(r.err, /usage: espline monitor/);
  }
});

// ---------------------------------------------------------------- piped and interactive

Deno.test("piped: lines stream with --timestamps until the abort signal, then exit cleanly", async () => {
  const port = new FakePort({ onBoot: (p) => p.push("boot\r\nready\r\n") });
  const ac = new AbortController();
  const { kb, raw } = keyboard([], false);
  const t = context({ timestamps: true }, { signal: ac.signal });
  const spec = monitorCommand({ open: () => Promise.resolve(port), keyboard: kb });
  const run = spec.run(t.ctx);
  await t.seen(/ready\n/);
  ac.abort();
  await run;
  assert.match(t.out(), /^--- espline monitor on fake:\/\/board at 115200; Ctrl-C exits ---$/m);
  assert.match(t.out(), /^\[ +\d+\.\d{3}\] boot$/m);
  assert.deepEqual(raw, []); // the terminal is never touched when piped
  assert.ok((await port.read(1).catch((e) => e)) instanceof TransportError); // port closed
});

Deno.test("interactive: keys reach the board (Enter as CR LF), Ctrl-R resets, Ctrl-C exits and restores the terminal", async () => {
  let boots = 0;
  const port = new FakePort({ onBoot: (p) => p.push(`boot ${++boots}\r\nready\r\n`) });
  const t = context({});
  const { kb, raw } = keyboard([
    async () => {
      await t.seen(/boot 1\nready\n/);
      return "ls\r";
    },
    () => Promise.resolve("\x12"),
    async () => {
      await t.seen(/boot 2\nready\n/);
      return "q\x03ignored";
    },
  ]);
  await monitorCommand({ open: () => Promise.resolve(port), keyboard: kb }).run(t.ctx);
  assert.match(t.out(), /Ctrl-C exits, Ctrl-R resets ---\n/);
  assert.match(t.out(), /^--- reset ---$/m);
  assert.deepEqual(port.writes.map(dec), ["ls\r\n", "q"]);
  assert.deepEqual(raw, [true, false]);
  // Two resets: at start and on Ctrl-R.
  assert.equal(port.signals.filter((s) => s.rts === true).length, 2);
});

Deno.test("interactive: the port vanishing ends the command with E_PORT_GONE and raw mode is restored", async () => {
  const port = new FakePort();
  const { kb, raw } = keyboard([]); // a key read stays pending for ever
  const t = context({ "no-reset": true });
  const run = monitorCommand({ open: () => Promise.resolve(port), keyboard: kb }).run(t.ctx);
  port.push("running\n");
  await t.seen(/running\n/);
  port.fail(new TransportError("E_PORT_GONE", "fake://board vanished"));
  const err = await run.then(() => null, (e) => e);
  assert.ok(err instanceof EsplineError);
  assert.equal(err.code, "E_PORT_GONE");
  assert.deepEqual(raw, [true, false]);
  assert.deepEqual(port.signals, []); // --no-reset
});

Deno.test("a port without modem lines: a warning says the board was not reset, output still shows", async () => {
  const port = new FakePort({ modemLines: false });
  const ac = new AbortController();
  const { kb } = keyboard([], false);
  const t = context({}, { signal: ac.signal });
  const run = monitorCommand({ open: () => Promise.resolve(port), keyboard: kb }).run(t.ctx);
  port.push("still running\n");
  await t.seen(/still running\n/);
  ac.abort();
  await run;
  assert.match(t.err(), /no modem lines, so the board was not reset/);
});

Deno.test("JSON mode never switches the terminal to raw", async () => {
  const port = new FakePort({ onBoot: (p) => p.push("ready\n") });
  const ac = new AbortController();
  const { kb, raw } = keyboard([]);
  const t = context({}, { json: true, signal: ac.signal });
  const run = monitorCommand({ open: () => Promise.resolve(port), keyboard: kb }).run(t.ctx);
  await t.seen(/"event":"line".*"text":"ready"/);
  ac.abort();
  await run;
  assert.deepEqual(raw, []);
  assert.doesNotMatch(t.out(), /espline monitor on/);
});
