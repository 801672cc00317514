import assert from "node:assert/strict";
import { soak } from "../bench/soak.ts";

Deno.test("short soak: every faulty run verifies or fails with a typed error; no silent corruption", async () => {
  const r = await soak({ runs: 24, seed: 1000, parallel: 6 });
  assert.equal(r.runs, 24);
  assert.ok(r.faultsInjected > 0, "faults were injected");
  assert.equal(r.silentCorruptions, 0, r.problems.join("\n"));
  assert.equal(r.untyped, 0, r.problems.join("\n"));
  assert.equal(r.journalWrong, 0, r.problems.join("\n"));
  assert.equal(r.clean + r.recovered + r.failedCleanly, 24);
  // The checks ran: every passed run's boards compared to the flash end, every run's record read.
  const passed = r.clean + r.recovered;
  assert.ok(r.checks.boardsCompared >= passed && passed > 0);
  assert.ok(r.checks.bytesCompared >= passed * 0x200000);
  assert.equal(r.checks.journalRecords, 24);
  const kinds = Object.values(r.byKind).filter((f) => f.runs > 0).length;
  assert.equal(kinds, 12, "one run of every kind, each counted under its kind");
});

Deno.test("the soak sees what it is there to see: with the collateral check off, obeyed command-field faults are silent corruptions; with it on, E_COLLATERAL_DAMAGE", async () => {
  // Seeds 10, 22 and 34 are cmdfield runs; 10 and 34 erase outside their regions.
  const blind = await soak({ runs: 25, seed: 10, kinds: ["cmdfield"], collateralCheck: false });
  assert.equal(blind.runs, 3);
  assert.ok(blind.silentCorruptions >= 1, "the soak's whole-flash check finds the damage");
  assert.match(blind.problems.join("\n"), /flash outside the regions changed/);
  const checked = await soak({ runs: 25, seed: 10, kinds: ["cmdfield"] });
  assert.equal(checked.silentCorruptions, 0, checked.problems.join("\n"));
  assert.ok(checked.byKind.cmdfield.collateralCaught >= 1);
  assert.ok((checked.byKind.cmdfield.errorCodes.E_COLLATERAL_DAMAGE ?? 0) >= 1);
});
