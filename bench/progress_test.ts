import assert from "node:assert/strict";
import { formatDuration, Progress } from "./progress.ts";

function make(isTerminal: boolean) {
  let t = 0;
  let out = "";
  const printed: string[] = [];
  const p = new Progress({
    print: (l) => printed.push(l),
    total: 10,
    label: "soak",
    isTerminal,
    write: (s) => (out += s),
    now: () => t,
    everyMs: 30_000,
  });
  return { p, tick: (ms: number) => (t += ms), out: () => out, printed };
}

Deno.test("the time left follows the pace so far", () => {
  const { p, tick } = make(false);
  assert.match(p.line(), /^soak: 0% \(0\/10\), 0s so far, estimating the time left$/);
  tick(20_000);
  p.advance(4);
  // 4 units in 20 s: 6 more take about 30 s.
  assert.equal(p.line(), "soak: 40% (4/10), 20s so far, about 30s left");
  tick(40_000);
  p.partial(1, "seed 7");
  assert.equal(p.line(), "soak: 50% (5/10), 1m00s so far, about 1m00s left · seed 7");
});

Deno.test("piped: a plain line now and then, never a stream of frames", () => {
  const { p, tick, out } = make(false);
  for (let i = 0; i < 10; i++) {
    tick(10_000); // 100 s in all, one unit every 10 s
    p.advance(1);
  }
  p.finish();
  const lines = out().trimEnd().split("\n");
  // The first step, then at most one line per 30 s.
  assert.ok(lines.length >= 3 && lines.length <= 4, out());
  assert.ok(lines.every((l) => /^soak: \d+% \(\d+\/10\), .* so far, /.test(l)), out());
  assert.doesNotMatch(out(), /\r/);
});

Deno.test("on a terminal one line rewrites itself and results print clear of it", () => {
  const { p, tick, out, printed } = make(true);
  tick(1000);
  p.advance(1);
  p.log("payload 1 MiB");
  tick(1000);
  p.advance(1);
  p.finish();
  assert.ok(out().startsWith("\r\x1b[Ksoak: 10% (1/10)"), JSON.stringify(out()));
  assert.ok(!out().includes("payload"), "results are printed apart from the progress line");
  assert.deepEqual(printed, ["payload 1 MiB"]);
  // Cleared before the result, drawn again after it.
  // deno-lint-ignore no-control-regex
  assert.match(out(), /^\r\x1b\[Ksoak: 10%[^\r]*\r\x1b\[K\r\x1b\[Ksoak: 10%/);
  assert.ok(out().endsWith("\r\x1b[K"), "the line is cleared at the end");
});

Deno.test("durations read as people say them", () => {
  assert.equal(formatDuration(7.4), "7s");
  assert.equal(formatDuration(75), "1m15s");
  assert.equal(formatDuration(3725), "1h02m");
});
