import assert from "node:assert/strict";
import { HumanOutput, PIPED_PROGRESS_AFTER_MS, PIPED_PROGRESS_EVERY_MS } from "./output.ts";
import { regionLines } from "./cmd_device.ts";

function piped(now: () => number) {
  let out = "";
  const o = new HumanOutput(
    { stdout: (t) => (out += t), stderr: (t) => (out += t), isTerminal: false },
    { now },
  );
  return { o, text: () => out };
}

const progress = (label: string, done: number, total: number) => ({
  type: "progress",
  stage: "write",
  label,
  address: 0,
  done,
  total,
});

Deno.test("piped: a short operation prints no progress lines at all, not even 0 % and 100 %", () => {
  let t = 0;
  const { o, text } = piped(() => t);
  for (let done = 0; done <= 100_000; done += 10_000, t += 300) {
    o.event(progress("Writing app.bin at 0x00010000", done, 100_000));
  }
  o.info("Hash of data verified.");
  assert.equal(text(), "Hash of data verified.\n");
});

Deno.test("piped: a long operation prints a few lines, spaced out, and its end", () => {
  let t = 0;
  const { o, text } = piped(() => t);
  const total = 1_000_000;
  // 100 events over 60 s.
  for (let i = 0; i <= 100; i++, t += 600) {
    o.event(progress("Reading flash", i * 10_000, total));
  }
  const lines = text().trimEnd().split("\n");
  assert.ok(lines.length >= 3 && lines.length <= 1 + 60_000 / PIPED_PROGRESS_EVERY_MS, text());
  assert.match(lines[0], /^Reading flash: \d+% \(\d+\/1000000 bytes\)$/);
  assert.equal(lines.at(-1), "Reading flash: 100% (1000000/1000000 bytes)");
  // Nothing before the operation has run for a while.
  const first = Number(/\((\d+)\//.exec(lines[0])![1]);
  assert.ok(first >= (PIPED_PROGRESS_AFTER_MS / 600) * 10_000, lines[0]);
});

Deno.test("regionLines: esptool's sentences per region, espline's extra one for changed chunks", () => {
  const base = {
    type: "region-done" as const,
    name: "app.bin",
    address: 0x10000,
    size: 200_000,
    md5: "x",
    chunksTotal: 0,
    chunksWritten: 0,
    index: 0,
    count: 1,
  };
  assert.deepEqual(
    regionLines({
      ...base,
      action: "written",
      bytesWritten: 200_000,
      bytesOnWire: 1107,
      compressed: true,
      verified: true,
      seconds: 0.4,
    }),
    [
      "Wrote 200000 bytes (1107 compressed) at 0x00010000 in 0.4 seconds (4000.0 kbit/s).",
      "Hash of data verified.",
    ],
  );
  assert.deepEqual(
    regionLines({
      ...base,
      action: "written",
      bytesWritten: 70_000,
      bytesOnWire: 70_000,
      compressed: false,
      verified: false,
      seconds: 0,
    }),
    ["Wrote 70000 bytes at 0x00010000 in 0.0 seconds."],
  );
  assert.deepEqual(
    regionLines({
      ...base,
      action: "skipped",
      bytesWritten: 0,
      bytesOnWire: 0,
      compressed: false,
      verified: true,
      seconds: 0.01,
    }),
    ["'app.bin' at 0x00010000 already in flash, skipping write."],
  );
  const patched = regionLines({
    ...base,
    action: "patched",
    bytesWritten: 65536,
    bytesOnWire: 587,
    chunksTotal: 4,
    chunksWritten: 1,
    compressed: true,
    verified: true,
    seconds: 0.5,
  });
  assert.equal(
    patched[0],
    "Only 1 of 4 64 KiB chunks of 'app.bin' differed from the chip; the rest were left as they were.",
  );
  assert.match(patched[1], /^Wrote 65536 bytes \(587 compressed\) at 0x00010000 in 0\.5 seconds/);
  const start = { type: "region-start" as const, name: "b.bin", address: 0x8000, size: 3072 };
  assert.deepEqual(regionLines({ ...start, index: 0, count: 1 }), []);
  assert.deepEqual(regionLines({ ...start, index: 0, count: 3 }), [
    "Writing 'b.bin' at 0x00008000...",
  ]);
  assert.deepEqual(regionLines({ ...start, index: 1, count: 3 }), [
    "",
    "Writing 'b.bin' at 0x00008000...",
  ]);
});
