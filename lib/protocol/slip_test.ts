import assert from "node:assert/strict";
import { SlipDecoder, slipEncode } from "./slip.ts";

const enc = (xs: number[]) => slipEncode(Uint8Array.from(xs));

Deno.test("slipEncode escapes END and ESC", () => {
  assert.deepEqual(
    Array.from(enc([0x01, 0xc0, 0x02, 0xdb, 0x03])),
    [0xc0, 0x01, 0xdb, 0xdc, 0x02, 0xdb, 0xdd, 0x03, 0xc0],
  );
});

Deno.test("decoder round-trips every byte value", () => {
  const payload = Uint8Array.from({ length: 256 }, (_, i) => i);
  const frames = new SlipDecoder().push(slipEncode(payload));
  assert.equal(frames.length, 1);
  assert.deepEqual(frames[0], payload);
});

Deno.test("decoder joins frames split at every possible point, including inside an escape", () => {
  const payload = Uint8Array.from([0xc0, 0xdb, 0x10, 0xc0, 0xdb]);
  const wire = slipEncode(payload);
  for (let cut = 1; cut < wire.length; cut++) {
    const d = new SlipDecoder();
    const frames = [...d.push(wire.subarray(0, cut)), ...d.push(wire.subarray(cut))];
    assert.equal(frames.length, 1, `cut at ${cut}`);
    assert.deepEqual(frames[0], payload);
  }
});

Deno.test("decoder delivers bytes one at a time", () => {
  const d = new SlipDecoder();
  const wire = [...enc([1, 2, 3]), ...enc([4, 0xc0])];
  const frames = wire.flatMap((b) => d.push(Uint8Array.of(b)));
  assert.deepEqual(frames.map((f) => Array.from(f)), [[1, 2, 3], [4, 0xc0]]);
});

Deno.test("boot banner and garbage between frames are kept as noise, not frames", () => {
  const d = new SlipDecoder();
  const banner = new TextEncoder().encode("ets Jun  8 2016 00:22:57\r\nwaiting for download\r\n");
  const frames = [...d.push(banner), ...d.push(enc([9, 8])), ...d.push(Uint8Array.of(0x41, 0x42))];
  assert.deepEqual(frames.map((f) => Array.from(f)), [[9, 8]]);
  assert.equal(
    new TextDecoder().decode(d.takeNoise()),
    "ets Jun  8 2016 00:22:57\r\nwaiting for download\r\nAB",
  );
  assert.equal(d.takeNoise().length, 0);
});

Deno.test("back-to-back delimiters do not produce empty frames", () => {
  const d = new SlipDecoder();
  const frames = d.push(Uint8Array.of(0xc0, 0xc0, 0xc0, 1, 0xc0, 0xc0, 2, 0xc0));
  assert.deepEqual(frames.map((f) => Array.from(f)), [[1], [2]]);
});

Deno.test("a bad escape drops only that frame", () => {
  const d = new SlipDecoder();
  const frames = d.push(Uint8Array.of(0xc0, 1, 0xdb, 0x00, 2, 0xc0, 0xc0, 3, 0xc0));
  assert.deepEqual(frames.map((f) => Array.from(f)), [[3]]);
  assert.equal(d.badFrames, 1);
});

Deno.test("an escape right before END spoils the frame", () => {
  const d = new SlipDecoder();
  assert.deepEqual(d.push(Uint8Array.of(0xc0, 1, 0xdb, 0xc0)), []);
  assert.equal(d.badFrames, 1);
});

Deno.test("oversized frames are dropped and the stream recovers", () => {
  const d = new SlipDecoder({ maxFrame: 4 });
  const frames = d.push(Uint8Array.of(0xc0, 1, 2, 3, 4, 5, 6, 0xc0, 0xc0, 7, 0xc0));
  assert.deepEqual(frames.map((f) => Array.from(f)), [[7]]);
  assert.equal(d.badFrames, 1);
});

Deno.test("reset discards a partial frame", () => {
  const d = new SlipDecoder();
  d.push(Uint8Array.of(0xc0, 1, 2));
  d.reset();
  assert.deepEqual(d.push(Uint8Array.of(3, 0xc0, 4, 0xc0)).map((f) => Array.from(f)), [[4]]);
});
