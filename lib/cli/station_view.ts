/**
 * Shows a station's progress: one live line per device on a terminal (a
 * progress bar with the stage), plain lines when piped, NDJSON with `json`.
 *
 * @module
 */

import type { StationEvent } from "../station/runner.ts";
import type { OutputSinks } from "./output.ts";

/** Options for {@link createStationView}. */
export interface StationViewOptions {
  /** Print NDJSON events. Default false. */
  json?: boolean;
  /** Where to write; default the process's stdout/stderr. */
  sinks: OutputSinks;
}

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
 * import { createStationView } from "./station_view.ts";
 * import { processSinks } from "./output.ts";
 * const view = createStationView({ sinks: processSinks() });
 * view({ type: "device-start", port: "sim://esp32" });
 * ```
 */
export function createStationView(options: StationViewOptions): (event: StationEvent) => void {
  const { sinks } = options;
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
        row.stage = o.result === "pass" ? "done" : o.stage;
        row.done = row.total;
        row.status = o.result === "pass"
          ? `PASS ${o.mac ?? ""} ${o.seconds.toFixed(1)} s`
          : `${o.result.toUpperCase()} ${o.error?.code ?? ""}: ${o.error?.message ?? ""}`;
        if (!sinks.isTerminal) sinks.stdout(`${port}: ${row.status}\n`);
        break;
      }
      case "log":
        if (event.level === "warn" && !sinks.isTerminal) {
          sinks.stdout(`${port}: warning: ${event.message}\n`);
        }
        break;
      default:
        break;
    }
    if (sinks.isTerminal) redraw(event.type !== "progress");
  };
}
