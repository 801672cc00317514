/**
 * A sense of time for long tasks (the benchmark, the soak, the fuzzer):
 * how far along, how long so far, about how long is left. On a terminal one
 * line rewrites itself; piped (a log, CI) a plain line is printed every
 * half minute or so, never a stream of frames.
 *
 * Work is counted in units the task chooses; steps of unequal cost give
 * each step a weight (the benchmark weighs a write by its wire time), so
 * the estimate holds across them.
 *
 * @module
 */

/** Options for {@link Progress}. */
export interface ProgressOptions {
  /** Units of work in all (sum of the steps' weights). */
  total: number;
  /** What is running, at the start of the line (`bench`, `soak`). */
  label: string;
  /** Rewrite one line in place. Default: whether stderr is a terminal. */
  isTerminal?: boolean;
  /** Where progress lines go. Default stderr (stdout stays the task's results). */
  write?: (text: string) => void;
  /** Where {@link Progress.log} prints results. Default `console.log`. */
  print?: (line: string) => void;
  /** Clock in ms (tests pass a fake). Default `performance.now`. */
  now?: () => number;
  /** Piped: at most one line this often, ms. Default 30 000. */
  everyMs?: number;
  /** Terminal: redraw at most this often, ms. Default 250. */
  redrawMs?: number;
}

/** `75 s` → `1m15s`; `3725 s` → `1h02m`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

const encoder = new TextEncoder();

/**
 * Progress of a long task with an estimate of the time left.
 *
 * @example
 * ```ts
 * import { Progress } from "./progress.ts";
 * const p = new Progress({ total: 3, label: "demo" });
 * for (let i = 0; i < 3; i++) p.advance(1, `step ${i + 1}`);
 * p.finish();
 * ```
 */
export class Progress {
  #total: number;
  #label: string;
  #terminal: boolean;
  #write: (text: string) => void;
  #print: (line: string) => void;
  #now: () => number;
  #everyMs: number;
  #redrawMs: number;
  #started: number;
  #done = 0;
  #partial = 0;
  #note = "";
  #lastShown = -Infinity;
  #lineOpen = false;

  /** Start counting now. */
  constructor(options: ProgressOptions) {
    this.#total = Math.max(1e-9, options.total);
    this.#label = options.label;
    this.#terminal = options.isTerminal ?? Deno.stderr.isTerminal();
    this.#write = options.write ?? ((t) => Deno.stderr.writeSync(encoder.encode(t)));
    this.#print = options.print ?? ((line) => console.log(line));
    this.#now = options.now ?? (() => performance.now());
    this.#everyMs = options.everyMs ?? 30_000;
    this.#redrawMs = options.redrawMs ?? 250;
    this.#started = this.#now();
  }

  /** A step of `units` finished; `note` says what runs next (shown on the line). */
  advance(units = 1, note?: string): void {
    this.#done = Math.min(this.#total, this.#done + units);
    this.#partial = 0;
    if (note !== undefined) this.#note = note;
    this.#show(false);
  }

  /** How far the step in progress is, in units (from a byte count within it, say). */
  partial(units: number, note?: string): void {
    this.#partial = Math.max(0, Math.min(units, this.#total - this.#done));
    if (note !== undefined) this.#note = note;
    this.#show(false);
  }

  /** Print a line of results without tearing the progress line. */
  log(line: string): void {
    this.#clear();
    this.#print(line);
    this.#show(true);
  }

  /** The task is over: clear the progress line. */
  finish(): void {
    this.#clear();
  }

  /** The line as it would be shown now, e.g. `soak: 40% (400/1000), 2m50s so far, about 4m15s left`. */
  line(): string {
    const done = this.#done + this.#partial;
    const elapsed = (this.#now() - this.#started) / 1000;
    const pct = Math.floor((done / this.#total) * 100);
    const left = done > 0 ? (elapsed / done) * (this.#total - done) : null;
    const count = Number.isInteger(this.#total) && Number.isInteger(this.#done)
      ? ` (${Math.floor(done)}/${this.#total})`
      : "";
    return `${this.#label}: ${pct}%${count}, ${formatDuration(elapsed)} so far, ${
      left === null ? "estimating the time left" : `about ${formatDuration(left)} left`
    }${this.#note ? ` · ${this.#note}` : ""}`;
  }

  #show(force: boolean): void {
    const now = this.#now();
    const every = this.#terminal ? this.#redrawMs : this.#everyMs;
    if (!force && now - this.#lastShown < every) return;
    if (!this.#terminal && force) return; // piped: results lines need no progress line after them
    this.#lastShown = now;
    if (this.#terminal) {
      this.#write(`\r\x1b[K${this.line()}`);
      this.#lineOpen = true;
    } else {
      this.#write(`${this.line()}\n`);
    }
  }

  #clear(): void {
    if (this.#terminal && this.#lineOpen) {
      this.#write("\r\x1b[K");
      this.#lineOpen = false;
    }
  }
}

if (import.meta.main) {
  console.log(`bench/progress.ts is a module, not a program: the progress line of the
benchmark, the soak and the fuzzer (see deno task bench --help, soak --help, fuzz --help).`);
}
