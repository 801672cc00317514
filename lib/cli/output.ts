/**
 * Renders command output: human text with a progress bar on a terminal,
 * plain lines when piped, NDJSON with `--json`.
 *
 * @module
 */

import type { Output } from "./command.ts";

/** Where output goes (replaceable in tests). */
export interface OutputSinks {
  /** Write a chunk to stdout. */
  stdout(text: string): void;
  /** Write a chunk to stderr. */
  stderr(text: string): void;
  /** Whether stdout is a terminal (progress bars redraw in place). */
  isTerminal: boolean;
}

const encoder = new TextEncoder();

/** Sinks bound to the process's stdout and stderr. */
export function processSinks(): OutputSinks {
  return {
    stdout: (t) => Deno.stdout.writeSync(encoder.encode(t)),
    stderr: (t) => Deno.stderr.writeSync(encoder.encode(t)),
    isTerminal: Deno.stdout.isTerminal(),
  };
}

function jsonReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Uint8Array) return Array.from(value);
  if (typeof value === "bigint") return value.toString();
  return value;
}

/** NDJSON output: one JSON object per line on stdout. */
export class JsonOutput implements Output {
  /** Always true. */
  readonly json = true;
  #sinks: OutputSinks;
  /** Write to `sinks`. */
  constructor(sinks: OutputSinks) {
    this.#sinks = sinks;
  }
  /** Dropped in JSON mode. */
  info(_text: string): void {}
  /** A warning event line. */
  warn(text: string): void {
    this.#line({ event: "warning", message: text });
  }
  /** The result line. */
  result(data: Record<string, unknown>): void {
    this.#line({ event: "result", ...data });
  }
  /** An event line. */
  event(event: { type: string } & Record<string, unknown>): void {
    const { type, ...rest } = event;
    this.#line({ event: type, ...rest });
  }
  #line(obj: Record<string, unknown>): void {
    this.#sinks.stdout(JSON.stringify(obj, jsonReplacer) + "\n");
  }
}

/** Human output; progress bars redraw on a terminal and print every 10 % otherwise. */
export class HumanOutput implements Output {
  /** Always false. */
  readonly json = false;
  #sinks: OutputSinks;
  #barOpen = false;
  #lastPct = new Map<string, number>();
  /** Write to `sinks`. */
  constructor(sinks: OutputSinks) {
    this.#sinks = sinks;
  }
  #endBar(): void {
    if (this.#barOpen) {
      this.#sinks.stdout("\n");
      this.#barOpen = false;
    }
  }
  /** A line of text. */
  info(text: string): void {
    this.#endBar();
    this.#sinks.stdout(text + "\n");
  }
  /** A warning on stderr. */
  warn(text: string): void {
    this.#endBar();
    this.#sinks.stderr(`Warning: ${text}\n`);
  }
  /** Print the human form of a result. */
  result(_data: Record<string, unknown>, human?: string): void {
    if (human !== undefined) this.info(human);
  }
  /** Render progress and log events. */
  event(event: { type: string } & Record<string, unknown>): void {
    if (event.type === "progress") {
      const done = Number(event.done ?? 0);
      const total = Math.max(1, Number(event.total ?? 1));
      const label = String(event.label ?? "");
      const pct = Math.min(100, Math.floor((done * 100) / total));
      if (this.#sinks.isTerminal) {
        const width = 30;
        const filled = Math.round((pct / 100) * width);
        const bar = "#".repeat(filled) + ".".repeat(width - filled);
        this.#sinks.stdout(
          `\r${label} [${bar}] ${pct.toString().padStart(3)}% ${done}/${total} bytes`,
        );
        this.#barOpen = true;
        if (done >= total) this.#endBar();
      } else {
        const last = this.#lastPct.get(label) ?? -10;
        if (pct >= last + 10 || (done >= total && last < 100)) {
          this.#lastPct.set(label, pct);
          this.#sinks.stdout(`${label} ${pct}% (${done}/${total} bytes)\n`);
        }
      }
      return;
    }
    if (event.type === "log") {
      const level = String(event.level ?? "info");
      if (level === "debug") return;
      if (level === "warn") this.warn(String(event.message));
      else this.info(String(event.message));
      return;
    }
    if (event.type === "connecting") {
      if (event.attempt === 1) {
        this.#endBar();
        this.#sinks.stdout("Connecting...");
        this.#barOpen = true;
      } else this.#sinks.stdout(".");
      return;
    }
    if (event.type === "connected") {
      this.#endBar();
      return;
    }
  }
}
