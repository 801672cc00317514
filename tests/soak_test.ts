import assert from "node:assert/strict";
import { soak } from "../bench/soak.ts";

Deno.test("short soak: every faulty run verifies or fails with a typed error; no silent corruption", async () => {
  const r = await soak({ runs: 24, seed: 1000, parallel: 6 });
  assert.equal(r.runs, 24);
  assert.ok(r.faultsInjected > 0, "faults were injected");
  assert.equal(r.silentCorruptions, 0, r.problems.join("\n"));
  assert.equal(r.untyped, 0, r.problems.join("\n"));
  assert.equal(r.clean + r.recovered + r.failedCleanly, 24);
});
