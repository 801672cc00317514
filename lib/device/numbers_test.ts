import assert from "node:assert/strict";
import { parseAddress, parseIntArg } from "./numbers.ts";
import { UsageError } from "../errors.ts";

Deno.test("parseIntArg takes every spelling Python's int(x, 0) takes, as esptool does", () => {
  const cases: [string, number][] = [
    ["4096", 4096],
    ["0", 0],
    ["00", 0],
    ["0x1000", 0x1000],
    ["0x3FF000", 0x3ff000],
    ["0X10000", 0x10000],
    ["0xaBc", 0xabc],
    ["0o17", 0o17],
    ["0O17", 0o17],
    ["0b101", 5],
    ["0B11", 3],
    ["1_000", 1000],
    ["0x_10_00", 0x1000],
    ["  0x20  ", 0x20],
    ["0x1b", 0x1b],
  ];
  for (const [text, n] of cases) assert.equal(parseIntArg(text), n, text);
});

Deno.test("parseIntArg takes size suffixes k and M (also KB/MB)", () => {
  assert.equal(parseIntArg("4M"), 4 * 1024 * 1024);
  assert.equal(parseIntArg("4MB"), 4 * 1024 * 1024);
  assert.equal(parseIntArg("64k"), 65536);
  assert.equal(parseIntArg("256KB"), 256 * 1024);
  assert.equal(parseIntArg("0x10k"), 16 * 1024);
});

Deno.test("parseIntArg refuses what int(x, 0) refuses", () => {
  for (
    const bad of ["", "0x", "0x10zz", "010", "1__0", "_1", "1_", "0x_", "12abc", "1e3", "-", "0xg"]
  ) {
    assert.equal(parseIntArg(bad), null, bad);
  }
});

Deno.test("parseAddress names the argument in its usage error", () => {
  assert.equal(parseAddress("0X10000"), 0x10000);
  assert.throws(
    () => parseAddress("zz", "size"),
    (e) =>
      e instanceof UsageError && e.code === "E_BAD_ADDRESS" && /invalid size "zz"/.test(e.message),
  );
});
