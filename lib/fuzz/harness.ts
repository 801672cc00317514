/**
 * A small seeded fuzzer: random and mutated inputs (bit flips, byte inserts
 * and deletes, splices of valid samples, boundary integers) fed to a target
 * that reads outside bytes. The rule: the target may succeed or throw an
 * {@link EsplineError} with an `E_` code (see {@link isTypedError}); anything
 * else, a run past the time budget, a hang (no end within ten budgets: the
 * input is reported and the fuzzer moves on), or
 * unbounded memory growth is a finding, reported with its seed and index so
 * it can be replayed.
 *
 * @module
 */

import { EsplineError } from "../errors.ts";

/** A deterministic PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const BOUNDARY = [0x00, 0x01, 0x7f, 0x80, 0xc0, 0xdb, 0xdc, 0xdd, 0xe9, 0xfe, 0xff];

/** Make one input: random bytes, or a mutation of one of the valid samples. */
export function makeInput(rand: () => number, samples: Uint8Array[], maxLen = 4096): Uint8Array {
  const int = (n: number) => Math.floor(rand() * n);
  if (samples.length === 0 || rand() < 0.15) {
    const out = new Uint8Array(int(Math.min(maxLen, 512)));
    for (let i = 0; i < out.length; i++) {
      out[i] = rand() < 0.3 ? BOUNDARY[int(BOUNDARY.length)] : int(256);
    }
    return out;
  }
  let data = Array.from(samples[int(samples.length)]);
  const rounds = 1 + int(8);
  for (let r = 0; r < rounds; r++) {
    const op = int(7);
    const at = data.length ? int(data.length) : 0;
    if (op === 0 && data.length) data[at] ^= 1 << int(8); // bit flip
    else if (op === 1 && data.length) data[at] = BOUNDARY[int(BOUNDARY.length)]; // boundary byte
    else if (op === 2) data.splice(at, 0, ...Array.from({ length: 1 + int(8) }, () => int(256))); // insert
    else if (op === 3 && data.length) data.splice(at, 1 + int(16)); // delete
    else if (op === 4 && samples.length > 1) { // splice with another sample
      const other = samples[int(samples.length)];
      const from = int(other.length + 1);
      data = data.slice(0, at).concat(Array.from(other.subarray(from, from + int(64))));
    } else if (op === 5 && data.length >= 4) { // boundary 32-bit integer
      const v = [0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0x10000, 0xffff][int(7)];
      const p = int(data.length - 3);
      data[p] = v & 0xff;
      data[p + 1] = (v >>> 8) & 0xff;
      data[p + 2] = (v >>> 16) & 0xff;
      data[p + 3] = (v >>> 24) & 0xff;
    } else if (op === 6) data = data.slice(0, int(data.length + 1)); // truncate
  }
  return Uint8Array.from(data.slice(0, maxLen));
}

/** A fuzz target. */
export interface FuzzTarget {
  /** Name (`slip`, `response`, …). */
  name: string;
  /** Valid inputs to mutate. */
  samples(): Uint8Array[] | Promise<Uint8Array[]>;
  /** Run one input; resolve or throw an EsplineError. */
  run(input: Uint8Array, rand: () => number): void | Promise<void>;
  /** Time budget per input, ms. Default 1000. */
  budgetMs?: number;
  /** Inputs in the test suite's short run (`fuzz_test.ts`). Default 2000. */
  quickInputs?: number;
}

/**
 * A typed error: one of espline's error classes with an `E_` code, and not
 * `E_INTERNAL` (what an unexpected exception becomes at the edges).
 */
export function isTypedError(e: unknown): e is EsplineError {
  return e instanceof EsplineError && /^E_[A-Z0-9_]+$/.test(e.code) && e.code !== "E_INTERNAL";
}

/** A finding: an input that broke the rule. */
export interface Finding {
  /** Target name. */
  target: string;
  /** Seed and index that reproduce it. */
  seed: number;
  /** Index of the input in the run. */
  index: number;
  /** What happened. */
  problem: string;
  /** The input, hex. */
  inputHex: string;
}

/** Per-target results. */
export interface FuzzResult {
  /** Target name. */
  target: string;
  /** Inputs tried. */
  inputs: number;
  /** Inputs that ended in a typed error. */
  typedErrors: number;
  /** Inputs accepted. */
  successes: number;
  /** Findings. */
  findings: Finding[];
  /** Heap growth over the run, bytes (after GC where available). */
  heapGrowth: number;
  /** Wall time, s. */
  seconds: number;
}

/** A run that did not end within ten budgets. */
class FuzzHang extends Error {
  constructor(ms: number) {
    super(`no end within ${ms} ms: a hang`);
    this.name = "FuzzHang";
  }
}

const hex = (d: Uint8Array) =>
  Array.from(d.subarray(0, 2048), (b) => b.toString(16).padStart(2, "0")).join("");

/**
 * Fuzz one target with `inputs` inputs from `seed`.
 *
 * @example
 * ```ts
 * import { fuzz } from "./harness.ts";
 * import { slipTarget } from "./targets.ts";
 * const r = await fuzz(slipTarget, { inputs: 1000, seed: 1 });
 * console.log(r.findings.length);
 * ```
 */
export async function fuzz(
  target: FuzzTarget,
  options: {
    inputs: number;
    seed: number;
    /** Called every 100 inputs with the count done so far (progress for long runs). */
    onProgress?: (done: number) => void;
  },
): Promise<FuzzResult> {
  const t0 = performance.now();
  const samples = await target.samples();
  const rand = prng(options.seed);
  const res: FuzzResult = {
    target: target.name,
    inputs: 0,
    typedErrors: 0,
    successes: 0,
    findings: [],
    heapGrowth: 0,
    seconds: 0,
  };
  const heap0 = Deno.memoryUsage().heapUsed;
  for (let i = 0; i < options.inputs; i++) {
    const input = makeInput(rand, samples);
    const started = performance.now();
    res.inputs++;
    const hangMs = 10 * (target.budgetMs ?? 1000);
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const ran = Promise.resolve().then(() => target.run(input, rand)).then(() => "done" as const);
      const hung = new Promise<"hung">((resolve) => {
        timer = setTimeout(() => resolve("hung"), hangMs);
      });
      if (await Promise.race([ran, hung]) === "hung") {
        ran.catch(() => {}); // it may still end; its outcome no longer counts
        throw new FuzzHang(hangMs);
      }
      res.successes++;
    } catch (e) {
      if (!(e instanceof FuzzHang) && isTypedError(e)) res.typedErrors++;
      else {
        const what = e instanceof FuzzHang
          ? e.message
          : e instanceof EsplineError
          ? `${e.name} with code ${e.code}: ${e.message}`
          : e instanceof Error
          ? `${e.name}: ${e.message}`
          : String(e);
        res.findings.push({
          target: target.name,
          seed: options.seed,
          index: i,
          problem: e instanceof FuzzHang ? what : `untyped ${what}`,
          inputHex: hex(input),
        });
      }
    }
    clearTimeout(timer);
    if ((i + 1) % 100 === 0) options.onProgress?.(i + 1);
    const took = performance.now() - started;
    if (took > (target.budgetMs ?? 1000)) {
      res.findings.push({
        target: target.name,
        seed: options.seed,
        index: i,
        problem: `took ${took.toFixed(0)} ms (budget ${target.budgetMs ?? 1000} ms)`,
        inputHex: hex(input),
      });
    }
  }
  res.heapGrowth = Deno.memoryUsage().heapUsed - heap0;
  res.seconds = (performance.now() - t0) / 1000;
  return res;
}
