/**
 * `monitor` CLI command: reset the board into its application and show its
 * output. On a terminal, keys go to the board; Ctrl-C exits, Ctrl-R resets.
 * With `--expect`, it exits 0 on a match and 1 with the last lines on timeout.
 *
 * @module
 */

import type { CommandSpec } from "./command.ts";
import { openTransport } from "../transport/open.ts";
import { openMonitor } from "../monitor/monitor.ts";

const CTRL_C = 0x03;
const CTRL_R = 0x12;

/** The monitor command. */
export const MONITOR_COMMANDS: CommandSpec[] = [{
  name: "monitor",
  summary: "show the application's serial output (Ctrl-C exits, Ctrl-R resets)",
  usage: "monitor [--log FILE] [--no-reset] [--timestamps] [--expect PATTERN [--timeout SECONDS]]",
  options: {
    log: { type: "string", valueName: "FILE", help: "append timestamped lines to FILE" },
    "no-reset": { type: "boolean", help: "do not reset the board first" },
    timestamps: { type: "boolean", help: "prefix lines with the time since start" },
    expect: {
      type: "string",
      valueName: "PATTERN",
      help: "exit 0 when a line matches (regular expression)",
    },
    timeout: {
      type: "string",
      valueName: "SECONDS",
      help: "with --expect: give up after this long (default 10)",
    },
  },
  positionals: [0, 0],
  async run(ctx) {
    const o = ctx.options;
    let pattern: RegExp | null = null;
    if (o.expect) {
      try {
        pattern = new RegExp(o.expect as string);
      } catch (e) {
        throw ctx.usage(`--expect is not a valid regular expression: ${(e as Error).message}`);
      }
    }
    const timeoutS = o.timeout === undefined ? 10 : Number(o.timeout);
    if (!Number.isFinite(timeoutS) || timeoutS <= 0) {
      throw ctx.usage("--timeout takes a positive number of seconds");
    }
    const transport = await openTransport(ctx.global.port, {
      baud: ctx.global.baud,
      portFilter: ctx.global.portFilter,
    });
    const show = (t: string, elapsedMs: number) =>
      o.timestamps ? `[${(elapsedMs / 1000).toFixed(3).padStart(9)}] ${t}` : t;
    const mon = await openMonitor(transport, {
      baud: ctx.global.baud,
      reset: !o["no-reset"],
      logFile: o.log as string | undefined,
      onLine: (l) => {
        if (ctx.out.json) ctx.out.event({ type: "line", time: l.time.toISOString(), text: l.text });
        else ctx.out.info(show(l.text, l.elapsedMs));
      },
    });
    const interactive = !pattern && Deno.stdin.isTerminal() && !ctx.out.json;
    try {
      if (!ctx.out.json) {
        ctx.out.info(
          `--- espline monitor on ${transport.path} at ${ctx.global.baud} baud; ` +
            (interactive ? "Ctrl-C exits, Ctrl-R resets ---" : "Ctrl-C exits ---"),
        );
      }
      if (pattern) {
        const { line } = await mon.expect(pattern, {
          timeoutMs: timeoutS * 1000,
          signal: ctx.signal,
          since: "start",
        });
        ctx.out.result({ matched: line.text }, `--- matched: ${line.text}`);
        return;
      }
      if (interactive) {
        Deno.stdin.setRaw(true);
        try {
          const buf = new Uint8Array(64);
          for (;;) {
            const n = await Deno.stdin.read(buf);
            if (n === null) break;
            const keys = buf.subarray(0, n);
            if (keys.includes(CTRL_C)) break;
            if (keys.includes(CTRL_R)) {
              ctx.out.info("--- reset ---");
              await mon.reset();
              continue;
            }
            await mon.send(keys.slice());
          }
        } finally {
          Deno.stdin.setRaw(false);
        }
      } else {
        // Piped: follow until Ctrl-C (the abort signal) or the port goes away.
        await new Promise<void>((resolve, reject) => {
          ctx.signal.addEventListener("abort", () => resolve(), { once: true });
          (async () => {
            for await (const _ of mon.lines()) { /* printed by onLine */ }
          })().then(resolve, reject);
        });
      }
    } finally {
      await mon.close({ closeTransport: true });
    }
  },
}];
