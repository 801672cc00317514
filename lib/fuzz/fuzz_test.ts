import assert from "node:assert/strict";
import { fuzz, isTypedError, prng } from "./harness.ts";
import { TARGETS } from "./targets.ts";
import { sessionProgress } from "./wire_targets.ts";
import { EsplineError } from "../errors.ts";

/** Targets whose first sample is a valid input (the others' samples are raw material). */
const DEEP = [
  "session",
  "read-flash",
  "rfc2217-telnet",
  "rfc2217",
  "manifest-json",
  "build-folder",
  "arg-files",
  "reset-cfg",
  "sim-url",
];

for (const target of TARGETS) {
  const inputs = target.quickInputs ?? 2000;
  Deno.test(`fuzz ${target.name}: ${inputs} seeded inputs, typed errors only`, async () => {
    const r = await fuzz(target, { inputs, seed: 7 });
    assert.deepEqual(r.findings, [], JSON.stringify(r.findings.slice(0, 3), null, 2));
    assert.ok(r.typedErrors + r.successes === r.inputs);
    if (target.name === "session") {
      // Most inputs get past the connect (the answers are tampered with, not cut off) …
      assert.ok(
        sessionProgress.connected > inputs * 0.6,
        `${sessionProgress.connected} of ${inputs} connected`,
      );
      // … and many through the identity, MD5 and flash read, with answers changed on the way.
      assert.ok(sessionProgress.finished > inputs * 0.3, JSON.stringify(sessionProgress));
      assert.ok(sessionProgress.tampered > inputs, JSON.stringify(sessionProgress));
    }
    if (DEEP.includes(target.name)) {
      // The first sample is valid: the target reaches as deep as a good input goes.
      const [valid] = await target.samples();
      if (valid) await target.run(valid, prng(1));
    }
  });
}

Deno.test("fuzz harness: an untyped error, an E_INTERNAL and a hang are findings", async () => {
  assert.ok(isTypedError(new EsplineError("E_TIMEOUT", "x")));
  assert.ok(!isTypedError(new EsplineError("E_INTERNAL", "x")));
  assert.ok(!isTypedError(new EsplineError("timeout", "x")));
  assert.ok(!isTypedError(new TypeError("x")));
  let n = 0;
  const r = await fuzz({
    name: "bad",
    budgetMs: 20,
    samples: () => [],
    run() {
      n++;
      if (n === 1) throw new RangeError("boom");
      if (n === 2) throw new EsplineError("E_INTERNAL", "wrapped");
      if (n === 3) return new Promise<void>(() => {}); // never ends
    },
  }, { inputs: 4, seed: 1 });
  assert.equal(r.successes, 1);
  assert.deepEqual(r.findings.map((f) => f.index), [0, 1, 2, 2]);
  assert.match(r.findings[2].problem, /hang/);
});
