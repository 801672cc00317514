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

/** Options for {@link HumanOutput}. */
export interface HumanOutputOptions {
  /** Clock in ms, for the piped progress lines' timing (tests pass a fake). Default `performance.now`. */
  now?: () => number;
}

/** Piped, an operation shorter than this prints no progress at all (ms). */
export const PIPED_PROGRESS_AFTER_MS = 5_000;
/** Piped, a long operation prints a progress line at most this often (ms). */
export const PIPED_PROGRESS_EVERY_MS = 10_000;

/**
 * Human output. On a terminal a progress bar redraws in place; piped (a log
 * file, CI), progress prints nothing for operations that finish within
 * {@link PIPED_PROGRESS_AFTER_MS}, and a line every
 * {@link PIPED_PROGRESS_EVERY_MS} for longer ones, so a log holds results,
 * not bar frames.
 */
export class HumanOutput implements Output {
  /** Always false. */
  readonly json = false;
  #sinks: OutputSinks;
  #barOpen = false;
  #now: () => number;
  /** Per progress label: when it started and when a piped line was last printed. */
  #piped = new Map<string, { started: number; printed: number }>();
  /** Write to `sinks`. */
  constructor(sinks: OutputSinks, options: HumanOutputOptions = {}) {
    this.#sinks = sinks;
    this.#now = options.now ?? (() => performance.now());
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
        const now = this.#now();
        const seen = this.#piped.get(label) ?? { started: now, printed: -Infinity };
        this.#piped.set(label, seen);
        if (done >= total) {
          this.#piped.delete(label); // a label used again later starts afresh
          if (seen.printed === -Infinity) return; // short: the result line says it
        } else if (
          now - seen.started < PIPED_PROGRESS_AFTER_MS ||
          now - seen.printed < PIPED_PROGRESS_EVERY_MS
        ) {
          return;
        }
        seen.printed = now;
        this.#sinks.stdout(`${label}: ${pct}% (${done}/${total} bytes)\n`);
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
