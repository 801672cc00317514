import assert from "node:assert/strict";
import { fuzz } from "./harness.ts";
import { TARGETS } from "./targets.ts";

for (const target of TARGETS) {
  Deno.test(`fuzz ${target.name}: 2,000 seeded inputs, typed errors only`, async () => {
    const r = await fuzz(target, { inputs: target.name === "session" ? 300 : 2000, seed: 7 });
    assert.deepEqual(r.findings, [], JSON.stringify(r.findings.slice(0, 3), null, 2));
    assert.ok(r.typedErrors + r.successes === r.inputs);
  });
}
