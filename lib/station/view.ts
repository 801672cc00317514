/**
 * Shows a station's progress: one live line per device on a terminal (a
 * progress bar with the stage), plain lines when piped, NDJSON with `json`;
 * every board that does not pass is shown with the stage it stopped at and
 * the error. {@link formatSummary} puts a run's result in a few lines.
 *
 * @module
 */

import type { DeviceOutcome, RunSummary, StationEvent } from "./runner.ts";

/** Where a view writes (the CLI's output sinks fit). */
export interface ViewSink {
  /** Write a chunk of text. */
  stdout(text: string): void;
  /** Whether the text goes to a terminal (then rows redraw in place). */
  isTerminal: boolean;
}

/** Options for {@link createStationView}. */
export interface StationViewOptions {
  /** Print NDJSON events. Default false. */
  json?: boolean;
  /** Where to write. Default the process's stdout. */
  sinks?: ViewSink;
}

const encoder = new TextEncoder();

function stdoutSink(): ViewSink {
  return {
    stdout: (t) => void Deno.stdout.writeSync(encoder.encode(t)),
    isTerminal: Deno.stdout.isTerminal(),
  };
}

/**
 * How a board ended, in a line: `passed MAC 3.1 s`, `failed at flash: E_…:
 * message`, `unverified: why`.
 *
 * @example
 * ```ts
 * import { describeOutcome } from "./view.ts";
 * describeOutcome({ port: "/dev/ttyUSB0", result: "failed", stage: "boot", seconds: 9.2,
 *   error: { code: "E_EXPECT_TIMEOUT", message: "expected /app_main/ within 5000 ms" } });
 * // "failed at boot: E_EXPECT_TIMEOUT: expected /app_main/ within 5000 ms"
 * ```
 */
export function describeOutcome(o: DeviceOutcome): string {
  if (o.result === "passed") return `passed ${o.mac ?? ""} ${o.seconds.toFixed(1)} s`.trimEnd();
  if (o.result === "unverified") return `unverified: ${o.error?.message ?? "not verified"}`;
  const error = o.error ? `: ${o.error.code}: ${o.error.message}` : "";
  return `${o.result} at ${o.stage}${error}`;
}

/**
 * A run's result in a few lines: the counts, then each board that did not
 * pass with its stage and error.
 *
 * @example
 * ```ts
 * import { formatSummary } from "./view.ts";
 * console.log(formatSummary({
 *   outcomes: [{ port: "/dev/ttyUSB0", result: "failed", stage: "connect", seconds: 0.1,
 *     error: { code: "E_PORT_NOT_FOUND", message: "no such port" } }],
 *   passed: 0, failed: 1, unverified: 0, aborted: 0, seconds: 0.1,
 * }));
 * // 0 passed, 1 failed
 * //   /dev/ttyUSB0: failed at connect: E_PORT_NOT_FOUND: no such port
 * ```
 */
export function formatSummary(summary: RunSummary): string {
  const counts = [`${summary.passed} passed`, `${summary.failed} failed`];
  if (summary.unverified) counts.push(`${summary.unverified} unverified`);
  if (summary.aborted) counts.push(`${summary.aborted} aborted`);
  const lines = [counts.join(", ")];
  for (const o of summary.outcomes) {
    if (o.result !== "passed") {
      lines.push(`  ${o.port}: ${describeOutcome(o).replaceAll("\n", "\n    ")}`);
    }
  }
  return lines.join("\n");
}

/** Characters of a board's status kept in its live row on a terminal. */
const STATUS_WIDTH = 100;

interface Row {
  port: string;
  stage: string;
  done: number;
  total: number;
  status: string;
}

/** A short, distinct label for a port: `esp32c3 58:cf:79:00:00:01` for sim URLs, else the path's end. */
export function portLabel(port: string, width = 30): string {
  let label = port;
  const sim = /^sim:\/\/([^?]+)(?:\?(.*))?$/.exec(port);
  if (sim) {
    const mac = new URLSearchParams(sim[2] ?? "").get("mac");
    label = `${sim[1]}${mac ? ` ${mac}` : ""}`;
  }
  return label.length > width ? `…${label.slice(label.length - width + 1)}` : label.padEnd(width);
}

function bar(done: number, total: number, width = 24): string {
  const pct = total > 0 ? Math.min(1, done / total) : 0;
  const filled = Math.round(pct * width);
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${
    String(Math.floor(pct * 100)).padStart(3)
  }%`;
}

/**
 * A function to pass as a station's `onEvent`, rendering every device.
 *
 * @example
 * ```ts
 * import { createStationView } from "./view.ts";
 * const view = createStationView();
 * view({ type: "device-start", port: "sim://esp32" });
 * ```
 */
export function createStationView(
  options: StationViewOptions = {},
): (event: StationEvent) => void {
  const sinks = options.sinks ?? stdoutSink();
  const rows = new Map<string, Row>();
  let drawn = 0;
  let lastDraw = 0;
  const lastPct = new Map<string, number>();

  const redraw = (force = false) => {
    const now = Date.now();
    if (!force && now - lastDraw < 100) return;
    lastDraw = now;
    let text = drawn > 0 ? `\x1b[${drawn}A` : "";
    for (const r of rows.values()) {
      const line = `${portLabel(r.port)} ${r.stage.padEnd(12).slice(0, 12)} ${
        bar(r.done, r.total)
      } ${r.status}`;
      text += `\r\x1b[2K${line}\n`;
    }
    drawn = rows.size;
    sinks.stdout(text);
  };

  return (event) => {
    if (options.json) {
      sinks.stdout(
        JSON.stringify(event, (_k, v) => v instanceof Uint8Array ? undefined : v) + "\n",
      );
      return;
    }
    const port = event.port ?? "";
    let row = rows.get(port);
    if (!row) {
      row = { port, stage: "connect", done: 0, total: 1, status: "" };
      rows.set(port, row);
    }
    switch (event.type) {
      case "stage":
        row.stage = event.stage;
        row.done = 0;
        row.total = 1;
        if (!sinks.isTerminal) sinks.stdout(`${port}: ${event.stage}\n`);
        break;
      case "progress": {
        row.done = event.done;
        row.total = event.total;
        if (!sinks.isTerminal) {
          const pct = Math.floor((event.done * 100) / Math.max(1, event.total));
          const key = `${port} ${event.label}`;
          if (
            pct >= (lastPct.get(key) ?? -10) + 25 ||
            (event.done >= event.total && (lastPct.get(key) ?? 0) < 100)
          ) {
            lastPct.set(key, pct);
            sinks.stdout(`${port}: ${event.label} ${pct}%\n`);
          }
        }
        break;
      }
      case "device-log":
        if (!sinks.isTerminal) sinks.stdout(`${port}: ${event.message}\n`);
        break;
      case "device-end": {
        const o = event.outcome;
        row.stage = o.result === "passed" ? "done" : o.stage;
        row.done = row.total;
        const status = describeOutcome(o);
        // A live row holds one short line; formatSummary gives the whole message at the end.
        const first = status.split("\n")[0];
        row.status = first.length > STATUS_WIDTH ? `${first.slice(0, STATUS_WIDTH - 1)}…` : first;
        if (!sinks.isTerminal) sinks.stdout(`${port}: ${status.replaceAll("\n", "\n    ")}\n`);
        break;
      }
      case "log":
        if (event.level === "warn" && !sinks.isTerminal) {
          sinks.stdout(`${port}: warning: ${event.message}\n`);
        }
        break;
      case "notice":
        if (!sinks.isTerminal) {
          sinks.stdout(`${port}: ${event.level === "warn" ? "warning: " : ""}${event.message}\n`);
        }
        break;
      case "recovery":
        if (!sinks.isTerminal) {
          sinks.stdout(
            `${port}: recovering from ${event.error.code}: retrying at ${event.baud} baud\n`,
          );
        }
        break;
      case "collateral-check":
        if (!sinks.isTerminal) {
          sinks.stdout(
            `${port}: flash outside the written regions ${
              event.ok ? "unchanged" : "CHANGED"
            }, checked ${event.because}\n`,
          );
        }
        break;
      default:
        break;
    }
    if (sinks.isTerminal) redraw(event.type !== "progress");
  };
}
