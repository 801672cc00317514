import assert from "node:assert/strict";
import { readConfirmed, sameBoard } from "./identity.ts";
import { TimeoutError, UsageError } from "../errors.ts";

/** A reader that hands out `values` in order (an Error is thrown instead of returned). */
function reader<T>(values: (T | Error)[]) {
  let n = 0;
  const read = () => {
    const v = values[n++];
    if (v === undefined) throw new Error("read too often");
    return v instanceof Error ? Promise.reject(v) : Promise.resolve(v);
  };
  return { read, count: () => n };
}

Deno.test("readConfirmed: two agreeing reads in a row are enough", async () => {
  const r = reader([0x1234, 0x1234]);
  assert.equal(await readConfirmed("word", r.read), 0x1234);
  assert.equal(r.count(), 2);
});

Deno.test("readConfirmed: after a disagreement a value needs three readings", async () => {
  // A corrupted address reads an unused register (0): two such faults agree with each other.
  const r = reader([0x1234, 0, 0, 0x1234, 0x1234]);
  assert.equal(await readConfirmed("word", r.read), 0x1234);
  assert.equal(r.count(), 5);
});

Deno.test("readConfirmed: reads failing on the link count as reads; never agreeing is E_IDENTITY_UNSTABLE", async () => {
  const ok = reader([new TimeoutError("no answer"), 7, 7]);
  assert.equal(await readConfirmed("word", ok.read), 7);
  const bad = reader([1, 2, 3, new TimeoutError("no answer"), 4, 5]);
  await assert.rejects(readConfirmed("MAC", bad.read, { port: "/dev/ttyUSB3" }), (e: unknown) => {
    assert.ok(e instanceof Error && "code" in e && e.code === "E_IDENTITY_UNSTABLE");
    assert.match(e.message, /MAC read back differently every time \(1, 2, 3, no answer/);
    assert.match(e.message, /\/dev\/ttyUSB3.*lower --baud/);
    return true;
  });
  // Refused every time: that refusal is the error, not "unstable".
  const refused = reader<number>(Array(6).fill(new TimeoutError("no answer to READ_REG")));
  await assert.rejects(readConfirmed("word", refused.read), TimeoutError);
  // Anything else is not a link fault: it goes straight through.
  const usage = reader<number>([new UsageError("wrong")]);
  await assert.rejects(readConfirmed("word", usage.read), UsageError);
});

Deno.test("readConfirmed: invalid readings count as failed reads, unless nothing else ever answers", async () => {
  const valid = (v: number) => v !== 0;
  const healed = reader([0, 0xc84016, 0, 0xc84016]);
  assert.equal(await readConfirmed("flash id", healed.read, { valid }), 0xc84016);
  const none = reader([0, 0, 0, 0, 0, 0]);
  assert.equal(await readConfirmed("flash id", none.read, { valid }), 0, "what the board says");
});

Deno.test("readConfirmed: a reading already made counts as the first", async () => {
  const r = reader([5]);
  assert.equal(await readConfirmed("id", r.read, { initial: { value: 5 } }), 5);
  assert.equal(r.count(), 1);
});

Deno.test("sameBoard: chip and MAC must match; an unknown MAC compares by chip", () => {
  const a = { chip: "esp32", name: "ESP32", mac: "24:0a:c4:00:00:01", macCrc: null };
  assert.equal(sameBoard(a, { ...a }), true);
  assert.equal(sameBoard(a, { ...a, mac: "24:0a:c4:00:00:02" }), false);
  assert.equal(sameBoard(a, { ...a, chip: "esp32s3", name: "ESP32-S3" }), false);
  assert.equal(sameBoard(a, { ...a, mac: null }), true);
});
