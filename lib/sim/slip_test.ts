import assert from "node:assert/strict";
import { SlipDecoder, slipEncode } from "./slip.ts";

Deno.test("slipEncode escapes C0 and DB and wraps in delimiters", () => {
  assert.deepEqual(
    Array.from(slipEncode(Uint8Array.from([0x01, 0xc0, 0xdb, 0x02]))),
    [0xc0, 0x01, 0xdb, 0xdc, 0xdb, 0xdd, 0x02, 0xc0],
  );
});

Deno.test("SlipDecoder skips noise between frames and ignores empty frames", () => {
  const d = new SlipDecoder();
  const text = new TextEncoder().encode("ets Jun  8 2016\r\n");
  const frames = d.push(
    Uint8Array.from([...text, 0xc0, 0xc0, 0x01, 0x02, 0xc0, 0x41, 0x42, 0xc0, 0x03, 0xc0]),
  );
  // "AB" between two frames is inside a C0..C0 pair, so it forms a frame too (as on the wire).
  assert.deepEqual(frames.map((f) => Array.from(f.payload)), [[0x01, 0x02], [0x41, 0x42], [0x03]]);
});

Deno.test("SlipDecoder reassembles a frame split across pushes, including a split escape", () => {
  const d = new SlipDecoder();
  assert.equal(d.push(Uint8Array.from([0xc0, 0x10, 0xdb])).length, 0);
  assert.equal(d.inFrame, true);
  const frames = d.push(Uint8Array.from([0xdc, 0x11, 0xc0]));
  assert.deepEqual(Array.from(frames[0].payload), [0x10, 0xc0, 0x11]);
  assert.equal(frames[0].badEscape, false);
});

Deno.test("SlipDecoder flags an invalid escape sequence", () => {
  const d = new SlipDecoder();
  const [f] = d.push(Uint8Array.from([0xc0, 0xdb, 0x01, 0xc0]));
  assert.equal(f.badEscape, true);
});
