/**
 * `monitor` CLI command: reset the board into its application and show its
 * output. On a terminal, typed keys go to the board (Enter as CR LF, as
 * ESP-IDF's monitor sends it); Ctrl-C exits and restores the terminal,
 * Ctrl-R resets the board. Piped, it streams lines until Ctrl-C. With
 * `--expect`, it exits 0 on a matching line and 1 with the last lines seen
 * on timeout. With `--json`, each line is a `{"event":"line",…}` object.
 *
 * @module
 */

import type { CommandContext, CommandSpec } from "./command.ts";
import { openTransport, type OpenTransportOptions } from "../transport/open.ts";
import type { Transport } from "../transport/transport.ts";
import { type Monitor, type MonitorLine, openMonitor } from "../monitor/monitor.ts";
import { checkAppendPath } from "./output_file.ts";

/** Ctrl-C as a raw terminal delivers it (ASCII ETX). */
const CTRL_C = 0x03;
/** Ctrl-R (ASCII DC2). */
const CTRL_R = 0x12;
/** Enter in raw mode (ASCII CR). */
const CR = 0x0d;
/** ASCII LF. */
const LF = 0x0a;
/** `--timeout` unless given, seconds. */
const DEFAULT_EXPECT_TIMEOUT_S = 10;

/** The keyboard side of the monitor (replaceable in tests). */
export interface MonitorKeyboard {
  /** Whether keys come from a terminal (then raw mode and Ctrl-C / Ctrl-R handling apply). */
  isTerminal(): boolean;
  /** Switch the terminal's raw mode on or off. */
  setRaw(raw: boolean): void;
  /** Read typed bytes into `buffer`; the count, or null at the end of input. */
  read(buffer: Uint8Array): Promise<number | null>;
}

/** Options for {@link monitorCommand}. */
export interface MonitorCommandOptions {
  /** Opens the port. Default {@link openTransport}. */
  open?: (port: string, options: OpenTransportOptions) => Promise<Transport>;
  /** Where keys come from. Default the process's stdin. */
  keyboard?: MonitorKeyboard;
}

/** The process's stdin as a {@link MonitorKeyboard}. */
const STDIN_KEYBOARD: MonitorKeyboard = {
  isTerminal: () => Deno.stdin.isTerminal(),
  setRaw: (raw) => Deno.stdin.setRaw(raw),
  read: (buffer) => Deno.stdin.read(buffer),
};

/**
 * Build the `monitor` command with its port opener and keyboard (tests pass
 * fakes; {@link MONITOR_COMMANDS} uses the real ones).
 *
 * @example
 * ```ts
 * import { monitorCommand } from "./cmd_monitor.ts";
 * const spec = monitorCommand();
 * console.log(spec.usage);
 * ```
 */
export function monitorCommand(options: MonitorCommandOptions = {}): CommandSpec {
  const open = options.open ?? openTransport;
  const keyboard = options.keyboard ?? STDIN_KEYBOARD;
  return {
    name: "monitor",
    summary: "show the application's serial output (Ctrl-C exits, Ctrl-R resets)",
    usage:
      "monitor [--log FILE] [--no-reset] [--timestamps] [--expect PATTERN [--timeout SECONDS]]",
    examples: [
      "-p /dev/ttyUSB0 monitor",
      '-p /dev/ttyUSB0 monitor --expect "app_main" --timeout 10   # exit 0 once the app starts',
      "-p /dev/ttyUSB0 -b 115200 monitor --log boot.log --timestamps",
    ],
    options: {
      log: { type: "string", valueName: "FILE", help: "append timestamped lines to FILE" },
      "no-reset": { type: "boolean", help: "do not reset the board first" },
      timestamps: { type: "boolean", help: "prefix lines with the seconds since start" },
      expect: {
        type: "string",
        valueName: "PATTERN",
        help: "exit 0 when a line matches PATTERN (a regular expression), 1 on timeout",
      },
      timeout: {
        type: "string",
        valueName: "SECONDS",
        help: `with --expect: give up after this long (default ${DEFAULT_EXPECT_TIMEOUT_S})`,
      },
    },
    positionals: [0, 0],
    run: (ctx) => runMonitor(ctx, open, keyboard),
  };
}

async function runMonitor(
  ctx: CommandContext,
  open: NonNullable<MonitorCommandOptions["open"]>,
  keyboard: MonitorKeyboard,
): Promise<void> {
  const o = ctx.options;
  let pattern: RegExp | null = null;
  if (typeof o.expect === "string") {
    try {
      pattern = new RegExp(o.expect);
    } catch (e) {
      throw ctx.usage(`--expect is not a valid regular expression: ${(e as Error).message}`);
    }
  }
  if (o.timeout !== undefined && !pattern) throw ctx.usage("--timeout only applies with --expect");
  const timeoutS = o.timeout === undefined ? DEFAULT_EXPECT_TIMEOUT_S : Number(o.timeout);
  if (!Number.isFinite(timeoutS) || timeoutS <= 0) {
    throw ctx.usage(`--timeout takes a positive number of seconds, not "${o.timeout}"`);
  }
  // The log file is checked before the port is opened (and the board reset).
  if (typeof o.log === "string") await checkAppendPath(o.log);
  const baud = ctx.global.baud;
  const transport = await open(ctx.global.port, { baud, portFilter: ctx.global.portFilter });
  const interactive = !pattern && !ctx.out.json && keyboard.isTerminal();
  const show = (l: MonitorLine) => {
    if (ctx.out.json) {
      ctx.out.event({ type: "line", time: l.time.toISOString(), text: l.text });
    } else {
      ctx.out.info(
        o.timestamps ? `[${(l.elapsedMs / 1000).toFixed(3).padStart(9)}] ${l.text}` : l.text,
      );
    }
  };
  let mon: Monitor | null = null;
  try {
    if (!ctx.out.json) {
      const keys = pattern
        ? `waiting up to ${timeoutS} s for ${pattern}`
        : interactive
        ? "Ctrl-C exits, Ctrl-R resets"
        : "Ctrl-C exits";
      ctx.out.info(`--- espline monitor on ${transport.path} at ${baud}; ${keys} ---`);
    }
    mon = await openMonitor(transport, {
      baud,
      reset: !o["no-reset"],
      logFile: typeof o.log === "string" ? o.log : undefined,
      onLine: show,
      signal: ctx.signal,
    });
    if (!o["no-reset"] && !mon.resetWorked) {
      ctx.out.warn(
        `${transport.path} has no modem lines, so the board was not reset: showing what it prints now`,
      );
    }
    if (pattern) {
      const { line, match } = await mon.expect(pattern, {
        timeoutMs: timeoutS * 1000,
        signal: ctx.signal,
      });
      ctx.out.result(
        { matched: line.text, groups: [...match].slice(1), elapsedMs: line.elapsedMs },
        `--- matched: ${line.text}`,
      );
      return;
    }
    // Runs until the monitor closes (Ctrl-C through ctx.signal) or the port fails.
    const follow = (async () => {
      for await (const _ of mon.lines({ since: "now" })) { /* printed by onLine */ }
    })();
    if (interactive) {
      const stop = { now: false };
      keyboard.setRaw(true);
      try {
        await Promise.race([follow, typeKeys(mon, keyboard, ctx, stop)]);
      } finally {
        // Restore the terminal even when the port failed while a key read is pending.
        stop.now = true;
        keyboard.setRaw(false);
      }
    } else {
      await follow;
    }
  } finally {
    await mon?.close();
    await transport.close();
  }
}

/** Forward keys to the board (raw mode is on) until Ctrl-C, the end of input or `stop`. */
async function typeKeys(
  mon: Monitor,
  keyboard: MonitorKeyboard,
  ctx: CommandContext,
  stop: { now: boolean },
): Promise<void> {
  const buf = new Uint8Array(256);
  for (;;) {
    const n = await keyboard.read(buf);
    if (n === null || stop.now) return;
    const out: number[] = [];
    const flush = async () => {
      if (out.length) await mon.send(Uint8Array.from(out));
      out.length = 0;
    };
    for (const b of buf.subarray(0, n)) {
      if (b === CTRL_C) {
        await flush();
        return;
      }
      if (b === CTRL_R) {
        await flush();
        ctx.out.info("--- reset ---");
        if (!(await mon.reset())) {
          ctx.out.warn(`${mon.transport.path} has no modem lines: cannot reset the board`);
        }
      } else if (b === CR) {
        out.push(CR, LF);
      } else {
        out.push(b);
      }
    }
    await flush();
  }
}

/** The monitor command, with the real port opener and stdin. */
export const MONITOR_COMMANDS: CommandSpec[] = [monitorCommand()];
