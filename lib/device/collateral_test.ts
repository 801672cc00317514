import assert from "node:assert/strict";
import { formatRange, outsideRegions } from "./collateral.ts";

const bytes = (n: number) => new Uint8Array(n);

Deno.test("outside the regions: the gaps between their whole sectors, to the end of the flash", () => {
  const flash = 0x400000;
  assert.deepEqual(
    outsideRegions([
      { address: 0x10000, data: bytes(0x1234) },
      { address: 0x1000, data: bytes(0x5000) },
      { address: 0x8000, data: bytes(0xc00) },
    ], flash),
    [
      { address: 0, size: 0x1000 },
      { address: 0x6000, size: 0x2000 },
      { address: 0x9000, size: 0x7000 },
      { address: 0x12000, size: flash - 0x12000 },
    ],
  );
  // Regions that meet or reach the end leave no empty ranges.
  assert.deepEqual(
    outsideRegions([
      { address: 0, data: bytes(0x1000) },
      { address: 0x1000, data: bytes(flash - 0x1000) },
    ], flash),
    [],
  );
  assert.equal(formatRange({ address: 0x29000, size: 0x1000 }), "0x00029000-0x00029fff");
});
