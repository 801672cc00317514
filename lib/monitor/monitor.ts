/**
 * The serial monitor: reset a board into its application and follow its
 * output as timestamped lines; wait for a pattern with `expect()`, type with
 * `send()`, keep a log file.
 *
 * Lines end at `\n`, `\r\n` or a lone `\r`; a partial line (a prompt such as
 * `login: `) is delivered after a short silence. Bytes are decoded as UTF-8
 * incrementally, so a character split across two reads stays whole; invalid
 * bytes become U+FFFD. ANSI colour codes are kept in the text ({@link stripAnsi}
 * removes them).
 *
 * Which lines `expect()` searches (the "unread" rule): every monitor has a
 * cursor. It starts at the first line after the monitor opened and moves past
 * the line each `expect()` matches, and past everything printed before a
 * successful `reset()`. By default `expect()` searches from the cursor, so
 * the boot banner printed between `openMonitor()` and the first `expect()` is
 * not missed, two expects in a row see the lines after the first match even
 * if they arrived before the second call, and an expect after `reset()` does
 * not match the output of the previous boot.
 *
 * @module
 */

import { AbortedError, EsplineError, TimeoutError } from "../errors.ts";
import { hardReset, isNoModemLines, type ResetConfig } from "../loader/reset.ts";
import type { Transport } from "../transport/transport.ts";

/** Line speed the monitor uses unless told otherwise (ESP-IDF's console default). */
export const DEFAULT_MONITOR_BAUD = 115200;
/** How long `expect()` waits unless told otherwise, ms. */
export const DEFAULT_EXPECT_TIMEOUT_MS = 10_000;
/** Lines kept for `history()` and error messages unless told otherwise. */
const DEFAULT_HISTORY_LINES = 200;
/** Silence after which a partial line is delivered, ms. */
const DEFAULT_PARTIAL_LINE_MS = 100;
/** How long one read of the background loop waits before checking for close, ms. */
const READ_POLL_MS = 50;
/** Lines shown in an {@link ExpectTimeoutError}. */
const ERROR_TAIL_LINES = 20;

/** Where a search or an iteration starts (see {@link ExpectOptions.since}). */
type Since = "unread" | "start" | "now";

/** One line of output. */
export interface MonitorLine {
  /** When the line ended: its line ending arrived, or (a partial line) the silence timer delivered it. */
  time: Date;
  /** Milliseconds since the monitor opened. */
  elapsedMs: number;
  /** The text, without the line ending; ANSI codes kept. */
  text: string;
}

/** Options for {@link openMonitor}. */
export interface MonitorOptions {
  /**
   * Hard-reset into the application first (EN pulsed low through RTS, IO0
   * released). On a port without modem lines the monitor goes on without a
   * reset and {@link Monitor.resetWorked} is false. Default true.
   */
  reset?: boolean;
  /**
   * Reset settings for that reset (`custom_hard_reset_sequence` replaces the
   * pulse), read once by the program with `readResetConfig`. Default none.
   */
  resetConfig?: ResetConfig;
  /** Line speed; `transport.setBaud` is called when the port is at another speed. Default 115200. */
  baud?: number;
  /** Append `ISO-time text` lines to this file, each written as soon as the line ends. Default none. */
  logFile?: string;
  /** Lines kept for `history()`, `since: "start"` and error messages. Default 200. */
  historyLines?: number;
  /**
   * Called for every line, in order. If it throws, the monitor stops as if
   * the port had failed with that error. Default none.
   */
  onLine?: (line: MonitorLine) => void;
  /** Aborting stops the monitor (as `close()`; the port stays open) and fails pending expects. */
  signal?: AbortSignal;
  /** Milliseconds since the epoch, for `time` and `elapsedMs` (tests). Default `Date.now` / `performance.now`. */
  clock?: () => number;
  /** Deliver a partial line after this much silence, ms. Default 100. */
  partialLineMs?: number;
}

/** Options for {@link Monitor.expect}. */
export interface ExpectOptions {
  /** Give up after this long, ms. Default 10 000. */
  timeoutMs?: number;
  /** Cancels the wait (rejects with `AbortedError`). */
  signal?: AbortSignal;
  /**
   * Which lines to search before waiting for new ones:
   * - `"unread"` (default): from the monitor's cursor: lines after the last
   *   match of an earlier `expect()`, after the last successful `reset()`, or
   *   since the monitor opened (see the module notes);
   * - `"start"`: every line still in the history;
   * - `"now"`: only lines that end after the call.
   */
  since?: "unread" | "start" | "now";
}

/**
 * `expect()` ran out of time. The message names the pattern and the timeout
 * and shows the last lines seen (or says there was no output at all).
 *
 * @example
 * ```ts
 * import { ExpectTimeoutError } from "./monitor.ts";
 * const e = new ExpectTimeoutError(/ready/, 500, ["booting", "panic"]);
 * console.log(e.code, e.lastLines); // E_EXPECT_TIMEOUT [ "booting", "panic" ]
 * ```
 */
export class ExpectTimeoutError extends TimeoutError {
  /** The last lines seen (at most 20), oldest first. */
  readonly lastLines: string[];
  /** Create the error from the pattern, the timeout and the lines seen. */
  constructor(pattern: RegExp, timeoutMs: number, lastLines: string[]) {
    const tail = lastLines.slice(-ERROR_TAIL_LINES);
    let message = `expected ${pattern} within ${timeoutMs} ms, `;
    if (tail.length === 0) {
      message += "but there was no output at all: is the baud right, is the app running?";
    } else {
      message +=
        `but it did not appear. Last ${tail.length} line${tail.length === 1 ? "" : "s"}:\n` +
        tail.map((l) => `  | ${l}`).join("\n");
      if (looksGarbled(tail)) {
        message += "\nThe output looks garbled: is the baud right? " +
          "(ESP8266 and 26 MHz boards print their ROM messages at 74880)";
      }
    }
    super(message, {
      code: "E_EXPECT_TIMEOUT",
      details: { pattern: String(pattern), timeoutMs, lastLines: tail },
    });
    this.lastLines = tail;
  }
}

/** True when much of the text is replacement characters or stray control bytes. */
function looksGarbled(lines: string[]): boolean {
  let bad = 0;
  let total = 0;
  for (const l of lines) {
    for (const ch of stripAnsi(l)) {
      total++;
      const c = ch.codePointAt(0)!;
      if (ch === "\uFFFD" || (c < 0x20 && ch !== "\t")) bad++;
    }
  }
  return total >= 8 && bad / total > 0.25;
}

// CSI sequences (colours, cursor moves), OSC sequences (titles) and two-byte escapes.
// deno-lint-ignore no-control-regex
const ANSI_RE = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]/g;

/**
 * Remove ANSI colour, cursor and title escape codes from a line.
 *
 * @example
 * ```ts
 * import { stripAnsi } from "./monitor.ts";
 * console.log(stripAnsi("\x1b[0;32mI (31) boot: ok\x1b[0m")); // "I (31) boot: ok"
 * ```
 */
export function stripAnsi(text: string): string {
  return text.replace(ANSI_RE, "");
}

/** A RegExp that matches like `pattern` but keeps no state between calls. */
function toRegExp(pattern: RegExp | string): RegExp {
  if (typeof pattern === "string") {
    return new RegExp(pattern.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  }
  return pattern.global || pattern.sticky
    ? new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ""))
    : pattern;
}

interface Waiter {
  pattern: RegExp;
  /** Called for each new line; returns true when the waiter is done. */
  offer(line: MonitorLine, seq: number): boolean;
  /** The monitor stopped (closed, aborted or failed). */
  stop(error: unknown): void;
}

interface Subscriber {
  line(line: MonitorLine): void;
  end(error: unknown): void;
}

/**
 * A running monitor. Create it with {@link openMonitor}.
 *
 * @example
 * ```ts
 * import { openMonitor } from "./monitor.ts";
 * import { openSimPort } from "../sim/sim_port.ts";
 * const port = openSimPort({ chip: "esp32" });
 * {
 *   await using mon = await openMonitor(port);
 *   const { line } = await mon.expect(/Hello/, { timeoutMs: 2000 });
 *   console.log(line.text);
 * }
 * await port.close();
 * ```
 */
export class Monitor {
  /** The port (it belongs to the caller; `close()` leaves it open unless asked). */
  readonly transport: Transport;
  /** Whether the last reset drove the lines (false on ports without modem lines, or before any reset). */
  resetWorked = false;
  #options: MonitorOptions;
  #now: () => number;
  #elapsed: () => number;
  #t0: number;
  #decoder = new TextDecoder("utf-8", { fatal: false });
  #partial = "";
  #partialTimer: ReturnType<typeof setTimeout> | null = null;
  #lastWasCr = false;
  #keep: number;
  #history: MonitorLine[] = [];
  /** Sequence number of the next line to end; history holds seqs [#seq - history.length, #seq). */
  #seq = 0;
  /** First line seq that counts as unread (see the module notes). */
  #cursor = 0;
  #waiters = new Set<Waiter>();
  #subscribers = new Set<Subscriber>();
  #stopping = false;
  /** Why the monitor stopped: null while running, else the error (or a close/abort marker). */
  #stopReason: unknown = null;
  #failed = false;
  #loop: Promise<void>;
  #closing: Promise<void> | null = null;
  #log: Deno.FsFile | null;
  #encoder = new TextEncoder();
  #onAbort: (() => void) | null = null;

  /**
   * Start reading `transport` (and open the log file). Prefer
   * {@link openMonitor}, which also sets the baud and resets the board.
   *
   * @throws {EsplineError} `E_LOG_FILE` when the log file cannot be opened.
   */
  constructor(transport: Transport, options: MonitorOptions = {}) {
    this.transport = transport;
    this.#options = options;
    this.#log = options.logFile ? openLog(options.logFile) : null;
    this.#keep = Math.max(1, options.historyLines ?? DEFAULT_HISTORY_LINES);
    const clock = options.clock;
    this.#now = clock ?? Date.now;
    this.#elapsed = clock ?? (() => performance.now());
    this.#t0 = this.#elapsed();
    const signal = options.signal;
    if (signal) {
      this.#onAbort = () => void this.#shutdown(new AbortedError("monitor stopped: cancelled"));
      signal.addEventListener("abort", this.#onAbort, { once: true });
    }
    this.#loop = this.#readLoop();
  }

  async #readLoop(): Promise<void> {
    while (!this.#stopping) {
      let chunk: Uint8Array | null;
      try {
        chunk = await this.transport.read(READ_POLL_MS);
      } catch (e) {
        if (!this.#stopping) this.#fail(e);
        return;
      }
      // Bytes that arrive while close() waits for this read are still delivered.
      if (chunk && chunk.length) this.#feed(this.#decoder.decode(chunk, { stream: true }));
    }
  }

  #feed(text: string): void {
    for (const ch of text) {
      if (this.#failed) return;
      if (ch === "\n") {
        if (this.#lastWasCr) {
          this.#lastWasCr = false; // \r\n: the line already ended at \r
          continue;
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
    this.#armPartialTimer();
  }

  #armPartialTimer(): void {
    if (this.#partialTimer !== null) clearTimeout(this.#partialTimer);
    this.#partialTimer = null;
    if (!this.#partial || this.#stopping) return;
    this.#partialTimer = setTimeout(() => {
      this.#partialTimer = null;
      if (this.#partial && !this.#stopping) this.#endLine();
    }, this.#options.partialLineMs ?? DEFAULT_PARTIAL_LINE_MS);
  }

  #endLine(): void {
    const line: MonitorLine = {
      time: new Date(this.#now()),
      elapsedMs: this.#elapsed() - this.#t0,
      text: this.#partial,
    };
    this.#partial = "";
    const seq = this.#seq++;
    this.#history.push(line);
    if (this.#history.length > this.#keep) {
      this.#history.splice(0, this.#history.length - this.#keep);
    }
    try {
      this.#writeLog(`${line.time.toISOString()} ${line.text}\n`);
      this.#options.onLine?.(line);
    } catch (e) {
      this.#fail(e);
      return;
    }
    for (const s of this.#subscribers) s.line(line);
    for (const w of this.#waiters) {
      if (w.offer(line, seq)) this.#waiters.delete(w);
    }
  }

  #writeLog(text: string): void {
    if (!this.#log) return;
    const bytes = this.#encoder.encode(text);
    for (let off = 0; off < bytes.length;) off += this.#log.writeSync(bytes.subarray(off));
  }

  /** Flush the partial line and the decoder (end of output, or before a reset). */
  #flushPartial(): void {
    if (this.#partialTimer !== null) clearTimeout(this.#partialTimer);
    this.#partialTimer = null;
    this.#partial += this.#decoder.decode();
    this.#lastWasCr = false;
    if (this.#partial) this.#endLine();
  }

  #fail(error: unknown): void {
    if (this.#stopping) return;
    this.#failed = true;
    void this.#shutdown(error);
  }

  /** Stop everything once: the loop, timers, waiters, iterators, the log. */
  #shutdown(reason: unknown): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#stopping = true;
    this.#stopReason = reason;
    if (this.#onAbort) this.#options.signal?.removeEventListener("abort", this.#onAbort);
    this.#onAbort = null;
    this.#closing = (async () => {
      await this.#loop;
      // Deliver what arrived before the end (a prompt, a last line without \n).
      this.#flushPartial();
      const reason = this.#stopReason;
      for (const w of this.#waiters) w.stop(reason);
      this.#waiters.clear();
      for (const s of this.#subscribers) s.end(this.#failed ? reason : null);
      this.#subscribers.clear();
      const log = this.#log;
      this.#log = null;
      log?.close();
    })();
    return this.#closing;
  }

  /**
   * The lines still kept (at most `historyLines`), oldest first.
   *
   * @example
   * ```ts
   * import { openMonitor } from "./monitor.ts";
   * import { openSimPort } from "../sim/sim_port.ts";
   * const port = openSimPort({ chip: "esp32" });
   * const mon = await openMonitor(port);
   * await mon.expect(/Hello/, { timeoutMs: 2000 });
   * console.log(mon.history().length);
   * await mon.close({ closeTransport: true });
   * ```
   */
  history(): MonitorLine[] {
    return [...this.#history];
  }

  /** History lines with their sequence numbers, from `since`. */
  #backlog(since: Since): { line: MonitorLine; seq: number }[] {
    if (since === "now") return [];
    const first = this.#seq - this.#history.length;
    const from = since === "start" ? first : Math.max(first, this.#cursor);
    const out: { line: MonitorLine; seq: number }[] = [];
    for (let seq = from; seq < this.#seq; seq++) {
      out.push({ line: this.#history[seq - first], seq });
    }
    return out;
  }

  /**
   * The lines from `since` (default: unread ones, as for {@link ExpectOptions.since}),
   * then each new line as it ends. The iteration ends when the monitor is
   * closed or aborted, and throws the port's error (e.g. `E_PORT_GONE`) when
   * the port fails. Reading lines does not move the cursor.
   *
   * @example
   * ```ts
   * import { openMonitor } from "./monitor.ts";
   * import { openSimPort } from "../sim/sim_port.ts";
   * const port = openSimPort({ chip: "esp32" });
   * const mon = await openMonitor(port);
   * for await (const line of mon.lines()) {
   *   if (line.text.includes("Hello")) break;
   * }
   * await mon.close({ closeTransport: true });
   * ```
   */
  lines(options: { since?: "unread" | "start" | "now" } = {}): AsyncIterable<MonitorLine> {
    const since = options.since ?? "unread";
    return { [Symbol.asyncIterator]: () => this.#iterate(since) };
  }

  async *#iterate(since: Since): AsyncGenerator<MonitorLine> {
    if (this.#closing) {
      // Already stopping: let the final partial line land, then replay and end.
      await this.#closing;
      for (const b of this.#backlog(since)) yield b.line;
      if (this.#failed) throw this.#stopReason;
      return;
    }
    // Take the backlog and subscribe in one synchronous step, so no line falls between.
    const queue: MonitorLine[] = this.#backlog(since).map((b) => b.line);
    let ended = false;
    let failure: unknown = null;
    let wake: (() => void) | null = null;
    const sub: Subscriber = {
      line: (l) => {
        queue.push(l);
        wake?.();
      },
      end: (e) => {
        ended = true;
        failure = e;
        wake?.();
      },
    };
    this.#subscribers.add(sub);
    try {
      while (true) {
        const next = queue.shift();
        if (next) {
          yield next;
          continue;
        }
        if (ended) {
          if (failure) throw failure;
          return;
        }
        await new Promise<void>((r) => (wake = r));
        wake = null;
      }
    } finally {
      this.#subscribers.delete(sub);
    }
  }

  /**
   * Wait for a line matching `pattern` (a RegExp, or a string matched
   * literally). Searches from `since` (default the unread lines, see the
   * module notes), then new lines; the match moves the cursor past its line.
   *
   * @throws {ExpectTimeoutError} (code `E_EXPECT_TIMEOUT`) after `timeoutMs`,
   * with the last lines seen in its message.
   * @throws {AbortedError} when `options.signal` (or the monitor's) aborts.
   * @throws {EsplineError} `E_MONITOR_CLOSED` when the monitor is closed
   * meanwhile; the port's {@link TransportError} when it fails.
   * @example
   * ```ts
   * import { openMonitor } from "./monitor.ts";
   * import { openSimPort } from "../sim/sim_port.ts";
   * const port = openSimPort({ chip: "esp32", mac: "02:aa:bb:cc:dd:01" });
   * const mon = await openMonitor(port);
   * const { match } = await mon.expect(/base MAC (\S+)/, { timeoutMs: 3000 });
   * console.log(match[1]); // "02:aa:bb:cc:dd:01"
   * await mon.close({ closeTransport: true });
   * ```
   */
  expect(
    pattern: RegExp | string,
    options: ExpectOptions = {},
  ): Promise<{ match: RegExpMatchArray; line: MonitorLine }> {
    const re = toRegExp(pattern);
    const timeoutMs = options.timeoutMs ?? DEFAULT_EXPECT_TIMEOUT_MS;
    for (const { line, seq } of this.#backlog(options.since ?? "unread")) {
      const match = line.text.match(re);
      if (match) {
        this.#cursor = Math.max(this.#cursor, seq + 1);
        return Promise.resolve({ match, line });
      }
    }
    if (this.#closing) return Promise.reject(this.#stoppedError(this.#stopReason, re));
    if (options.signal?.aborted) {
      return Promise.reject(new AbortedError(`expect(${re}) cancelled`));
    }
    return new Promise<{ match: RegExpMatchArray; line: MonitorLine }>((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        this.#waiters.delete(waiter);
        options.signal?.removeEventListener("abort", onAbort);
      };
      const waiter: Waiter = {
        pattern: re,
        offer: (line, seq) => {
          const match = line.text.match(re);
          if (!match) return false;
          this.#cursor = Math.max(this.#cursor, seq + 1);
          cleanup();
          resolve({ match, line });
          return true;
        },
        stop: (reason) => {
          cleanup();
          reject(this.#stoppedError(reason, re));
        },
      };
      const onAbort = () => {
        cleanup();
        reject(new AbortedError(`expect(${re}) cancelled`));
      };
      const timer = setTimeout(() => {
        cleanup();
        const seen = this.#history.map((l) => l.text);
        if (this.#partial) seen.push(this.#partial);
        reject(new ExpectTimeoutError(re, timeoutMs, seen));
      }, timeoutMs);
      this.#waiters.add(waiter);
      options.signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  #stoppedError(reason: unknown, re: RegExp): unknown {
    if (this.#failed || reason instanceof AbortedError) return reason;
    return new EsplineError(
      "E_MONITOR_CLOSED",
      `the monitor on ${this.transport.path} was closed while waiting for ${re}`,
    );
  }

  /**
   * Send text (as UTF-8) or bytes to the board. Nothing is added: include
   * `"\r\n"` yourself where the application wants a line ending.
   *
   * @example
   * ```ts
   * import { openMonitor } from "./monitor.ts";
   * import { openSimPort } from "../sim/sim_port.ts";
   * const port = openSimPort({ chip: "esp32" });
   * const mon = await openMonitor(port);
   * await mon.send("help\r\n");
   * await mon.close({ closeTransport: true });
   * ```
   */
  async send(data: string | Uint8Array): Promise<void> {
    if (this.#closing) {
      throw new EsplineError(
        "E_MONITOR_CLOSED",
        `the monitor on ${this.transport.path} is closed: open a new one to send`,
      );
    }
    await this.transport.write(typeof data === "string" ? this.#encoder.encode(data) : data);
  }

  /**
   * Hard-reset the board into its application again (the loader's `hardReset`).
   * When it worked, the output printed before it no longer counts as unread,
   * so the next `expect()` waits for the new boot's lines.
   *
   * @returns whether the lines could be driven (also in {@link resetWorked}).
   * @example
   * ```ts
   * import { openMonitor } from "./monitor.ts";
   * import { openSimPort } from "../sim/sim_port.ts";
   * const port = openSimPort({ chip: "esp32" });
   * const mon = await openMonitor(port);
   * await mon.expect(/Hello/, { timeoutMs: 2000 });
   * await mon.reset();
   * await mon.expect(/Hello/, { timeoutMs: 2000 }); // the second boot's greeting
   * await mon.close({ closeTransport: true });
   * ```
   */
  async reset(): Promise<boolean> {
    let failure: unknown = null;
    this.resetWorked = await hardReset(this.transport, {
      config: this.#options.resetConfig,
      onHeld: () => {
        if (this.#closing) return;
        // The chip is held in reset: what arrived so far belongs to the old boot.
        this.#flushPartial();
        this.#cursor = this.#seq;
      },
      onSkipped: (reason) => failure = reason,
    });
    // No modem lines is an answer (false); a port that failed is an error.
    if (!this.resetWorked && failure !== null && !isNoModemLines(failure)) throw failure;
    return this.resetWorked;
  }

  /**
   * Stop reading and wait for the background loop to end. A partial line is
   * delivered, pending expects reject with `E_MONITOR_CLOSED`, `lines()`
   * iterations end, the log file is closed. The port stays open (it belongs
   * to the caller) unless `closeTransport` is set. Idempotent.
   *
   * @example
   * ```ts
   * import { openMonitor } from "./monitor.ts";
   * import { openSimPort } from "../sim/sim_port.ts";
   * const mon = await openMonitor(openSimPort({ chip: "esp32" }));
   * await mon.close({ closeTransport: true });
   * ```
   */
  async close(options: { closeTransport?: boolean } = {}): Promise<void> {
    await this.#shutdown(null);
    if (options.closeTransport) await this.transport.close();
  }

  /** `await using` support: {@link close} without closing the port. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Start monitoring `transport`: set the baud, open the log file, start the
 * background read loop and (unless `reset: false`) hard-reset the board into
 * its application. Lines printed from then on are unread for the first
 * `expect()`, whenever it is called.
 *
 * @throws {AbortedError} when `options.signal` is already aborted.
 * @example
 * ```ts
 * import { openMonitor } from "./monitor.ts";
 * import { openSimPort } from "../sim/sim_port.ts";
 * const port = openSimPort({ chip: "esp32c3" });
 * {
 *   await using mon = await openMonitor(port, { logFile: "/tmp/boot.log" });
 *   await mon.expect("Hello from espline sim", { timeoutMs: 3000 });
 * }
 * await port.close();
 * ```
 */
export async function openMonitor(
  transport: Transport,
  options: MonitorOptions = {},
): Promise<Monitor> {
  if (options.signal?.aborted) throw new AbortedError("monitor not started: cancelled");
  const baud = options.baud ?? DEFAULT_MONITOR_BAUD;
  if (transport.baud !== baud) await transport.setBaud(baud);
  const mon = new Monitor(transport, options);
  if (options.reset ?? true) {
    try {
      await mon.reset();
    } catch (e) {
      await mon.close();
      throw e;
    }
  }
  return mon;
}

/** Open `path` for appending, as a typed error when that fails. */
function openLog(path: string): Deno.FsFile {
  try {
    return Deno.openSync(path, { append: true, create: true });
  } catch (e) {
    throw new EsplineError(
      "E_LOG_FILE",
      `cannot open the log file ${path}: ${
        (e as Error).message
      }; check the folder exists and is writable`,
      { cause: e, details: { path } },
    );
  }
}
