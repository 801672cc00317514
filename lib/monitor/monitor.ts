/**
 * The serial monitor: reset a board into its application and follow its
 * output as timestamped lines; wait for a pattern with `expect()`, type with
 * `send()`, keep a log file.
 *
 * @module
 */

import { AbortedError, EsplineError, TimeoutError } from "../errors.ts";
import type { Transport } from "../transport/transport.ts";
import { delay } from "../transport/transport.ts";

/** One line of output. */
export interface MonitorLine {
  /** When the line ended. */
  time: Date;
  /** Milliseconds since the monitor opened. */
  elapsedMs: number;
  /** The text, without the line ending. */
  text: string;
}

/** Options for {@link openMonitor}. */
export interface MonitorOptions {
  /** Reset into the application first (RTS pulse). Default true. */
  reset?: boolean;
  /** Line speed. Default 115200. */
  baud?: number;
  /** Append timestamped lines to this file. */
  logFile?: string;
  /** Lines kept for `history()` and error messages. Default 200. */
  historyLines?: number;
  /** Called for every line. */
  onLine?: (line: MonitorLine) => void;
  /** Flush a partial line after this much silence, ms. Default 100. */
  partialLineMs?: number;
}

/** Options for {@link Monitor.expect}. */
export interface ExpectOptions {
  /** Give up after this long, ms. Default 10 000. */
  timeoutMs?: number;
  /** Cancels the wait. */
  signal?: AbortSignal;
  /**
   * `unread` (default): lines not yet matched by an earlier expect(), so a
   * line that arrived between reset and expect() is not missed;
   * `start`: every line since the monitor opened; `now`: only new lines.
   */
  since?: "unread" | "start" | "now";
}

/** `expect()` ran out of time. The message shows the last lines seen. */
export class ExpectTimeoutError extends TimeoutError {
  /** The last lines seen. */
  readonly lastLines: string[];
  /** Create the error. */
  constructor(pattern: RegExp, timeoutMs: number, lastLines: string[]) {
    const tail = lastLines.slice(-20);
    super(
      `expected ${pattern} within ${timeoutMs} ms, ` +
        (tail.length
          ? `but it did not appear. Last ${tail.length} lines:\n${
            tail.map((l) => `  | ${l}`).join("\n")
          }`
          : "but there was no output at all: is the baud rate right, and is the application running?"),
      {
        code: "E_EXPECT_TIMEOUT",
        details: { pattern: String(pattern), timeoutMs, lastLines: tail },
      },
    );
    this.lastLines = tail;
  }
}

/** Remove ANSI colour and cursor codes from a line. */
export function stripAnsi(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "");
}

/**
 * Reset the board into its application: pulse EN low through RTS with IO0
 * released (DTR off). Returns false when the port has no modem lines.
 */
export async function resetIntoApp(transport: Transport): Promise<boolean> {
  try {
    await transport.setSignals({ dtr: false, rts: true });
    await delay(100);
    await transport.setSignals({ dtr: false, rts: false });
    return true;
  } catch (e) {
    if (e instanceof EsplineError && e.code === "E_NO_MODEM_LINES") return false;
    throw e;
  }
}

interface Waiter {
  pattern: RegExp;
  resolve: (v: { match: RegExpMatchArray; line: MonitorLine }) => void;
}

/**
 * A running monitor. Create with {@link openMonitor}.
 *
 * @example
 * ```ts
 * import { openMonitor } from "./monitor.ts";
 * import { openTransport } from "../transport/open.ts";
 * await using mon = await openMonitor(await openTransport("sim://esp32?start=app"));
 * const { line } = await mon.expect(/Hello/, { timeoutMs: 2000 });
 * console.log(line.text);
 * ```
 */
export class Monitor {
  /** The port. */
  readonly transport: Transport;
  /** Whether the last reset worked (false on ports without modem lines). */
  resetWorked = false;
  #options: MonitorOptions;
  #t0 = performance.now();
  #decoder = new TextDecoder("utf-8", { fatal: false });
  #partial = "";
  #partialTimer: ReturnType<typeof setTimeout> | null = null;
  #lastWasCr = false;
  #lines: MonitorLine[] = [];
  #unread = 0; // index in #lines of the first line not yet matched by expect()
  #waiters = new Set<Waiter>();
  #subscribers = new Set<(line: MonitorLine | null, error?: unknown) => void>();
  #loop: Promise<void>;
  #closed = false;
  #error: unknown = null;
  #log: Deno.FsFile | null = null;

  /** Use {@link openMonitor}. */
  constructor(transport: Transport, options: MonitorOptions, log: Deno.FsFile | null) {
    this.transport = transport;
    this.#options = options;
    this.#log = log;
    this.#loop = this.#readLoop();
  }

  async #readLoop(): Promise<void> {
    while (!this.#closed) {
      let chunk: Uint8Array | null;
      try {
        chunk = await this.transport.read(50);
      } catch (e) {
        if (!this.#closed) this.#fail(e);
        return;
      }
      if (this.#closed) return;
      if (chunk) this.#feed(this.#decoder.decode(chunk, { stream: true }));
    }
  }

  #feed(text: string): void {
    for (const ch of text) {
      if (ch === "\n") {
        if (this.#lastWasCr) {
          this.#lastWasCr = false;
          continue; // \r\n: the line already ended at \r
        }
        this.#endLine();
      } else if (ch === "\r") {
        this.#endLine();
        this.#lastWasCr = true;
      } else {
        this.#lastWasCr = false;
        this.#partial += ch;
      }
    }
    if (this.#partialTimer) clearTimeout(this.#partialTimer);
    this.#partialTimer = null;
    if (this.#partial) {
      this.#partialTimer = setTimeout(() => {
        this.#partialTimer = null;
        if (this.#partial) this.#endLine();
      }, this.#options.partialLineMs ?? 100);
    }
  }

  #endLine(): void {
    const now = new Date();
    const line: MonitorLine = {
      time: now,
      elapsedMs: performance.now() - this.#t0,
      text: this.#partial,
    };
    this.#partial = "";
    this.#lines.push(line);
    const keep = this.#options.historyLines ?? 200;
    if (this.#lines.length > keep) {
      const drop = this.#lines.length - keep;
      this.#lines.splice(0, drop);
      this.#unread = Math.max(0, this.#unread - drop);
    }
    this.#log?.writeSync(new TextEncoder().encode(`${now.toISOString()} ${line.text}\n`));
    this.#options.onLine?.(line);
    for (const s of this.#subscribers) s(line);
    for (const w of this.#waiters) {
      const m = line.text.match(w.pattern);
      if (m) {
        this.#waiters.delete(w);
        this.#unread = this.#lines.length;
        w.resolve({ match: m, line });
      }
    }
  }

  #fail(e: unknown): void {
    this.#error = e;
    for (const s of this.#subscribers) s(null, e);
  }

  /** Lines kept so far (oldest first). */
  history(): MonitorLine[] {
    return [...this.#lines];
  }

  /** Every line from now on, until the monitor closes or the port fails. */
  async *lines(): AsyncIterable<MonitorLine> {
    const queue: (MonitorLine | null)[] = [];
    let wake: (() => void) | null = null;
    let failure: unknown = null;
    const sub = (line: MonitorLine | null, error?: unknown) => {
      if (error) failure = error;
      queue.push(line);
      wake?.();
    };
    this.#subscribers.add(sub);
    try {
      while (true) {
        if (queue.length === 0) {
          if (this.#closed) return;
          await new Promise<void>((r) => (wake = r));
          wake = null;
        }
        const next = queue.shift();
        if (next === null || next === undefined) {
          if (failure) throw failure;
          return;
        }
        yield next;
      }
    } finally {
      this.#subscribers.delete(sub);
    }
  }

  /** Wait for a line matching `pattern`; fails with {@link ExpectTimeoutError} showing the last lines. */
  expect(
    pattern: RegExp | string,
    options: ExpectOptions = {},
  ): Promise<{ match: RegExpMatchArray; line: MonitorLine }> {
    const re = typeof pattern === "string"
      ? new RegExp(pattern.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
      : pattern;
    const timeoutMs = options.timeoutMs ?? 10_000;
    const since = options.since ?? "unread";
    const from = since === "start" ? 0 : since === "unread" ? this.#unread : this.#lines.length;
    for (let i = from; i < this.#lines.length; i++) {
      const m = this.#lines[i].text.match(re);
      if (m) {
        this.#unread = i + 1;
        return Promise.resolve({ match: m, line: this.#lines[i] });
      }
    }
    if (this.#error) return Promise.reject(this.#error);
    if (this.#closed) {
      return Promise.reject(new EsplineError("E_MONITOR_CLOSED", "the monitor is closed"));
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        pattern: re,
        resolve: (v) => {
          cleanup();
          resolve(v);
        },
      };
      const onAbort = () => {
        cleanup();
        reject(new AbortedError(`expect(${re}) cancelled`));
      };
      const onFail = (_l: MonitorLine | null, e?: unknown) => {
        if (_l !== null) return;
        cleanup();
        reject(
          e ?? new EsplineError("E_MONITOR_CLOSED", `the monitor closed while waiting for ${re}`),
        );
      };
      const cleanup = () => {
        clearTimeout(timer);
        this.#waiters.delete(waiter);
        this.#subscribers.delete(onFail);
        options.signal?.removeEventListener("abort", onAbort);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new ExpectTimeoutError(re, timeoutMs, this.#lines.map((l) => l.text)));
      }, timeoutMs);
      this.#waiters.add(waiter);
      this.#subscribers.add(onFail);
      options.signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Send text or bytes to the board. */
  async send(data: string | Uint8Array): Promise<void> {
    await this.transport.write(typeof data === "string" ? new TextEncoder().encode(data) : data);
  }

  /** Reset the board into its application again. */
  async reset(): Promise<void> {
    this.resetWorked = await resetIntoApp(this.transport);
  }

  /**
   * Stop reading. The port stays open (it belongs to the caller) unless
   * `closeTransport` is set.
   */
  async close(options: { closeTransport?: boolean } = {}): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      await this.#loop;
      if (this.#partialTimer) clearTimeout(this.#partialTimer);
      if (this.#partial) this.#endLine();
      for (const s of this.#subscribers) s(null);
      this.#log?.close();
      this.#log = null;
    }
    if (options.closeTransport) await this.transport.close();
  }

  /** `await using` support: stops reading, keeps the port. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Start monitoring `transport`: set the baud, reset into the application
 * (unless `reset: false`) and start collecting lines.
 */
export async function openMonitor(
  transport: Transport,
  options: MonitorOptions = {},
): Promise<Monitor> {
  const baud = options.baud ?? 115200;
  if (transport.baud !== baud) await transport.setBaud(baud);
  const log = options.logFile
    ? await Deno.open(options.logFile, { append: true, create: true })
    : null;
  const mon = new Monitor(transport, options, log);
  if (options.reset ?? true) await mon.reset();
  return mon;
}
