import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { zlibSync } from "fflate";
import { VirtualChip, type VirtualChipOptions } from "./virtual_chip.ts";
import { stubImage } from "../../tests/support/stub_images.ts";
import {
  cat,
  checksum,
  Collector,
  request,
  type Resp,
  transact,
  words,
} from "../../tests/support/sim_util.ts";
import { BLOCK_ERASE_MS, CHIP_ERASE_MS_PER_MIB, SECTOR_ERASE_MS } from "./nor_flash.ts";

const SYNC = Uint8Array.from([0x07, 0x07, 0x12, 0x20, ...new Array(32).fill(0x55)]);

function setup(options: VirtualChipOptions): { chip: VirtualChip; col: Collector } {
  const chip = new VirtualChip(options);
  const col = new Collector(chip);
  col.clear();
  return { chip, col };
}

function ok(r: Resp | undefined, statusAt = 0): void {
  assert.ok(r, "expected a response");
  assert.equal(r.data[statusAt], 0, `status ${Array.from(r.data).join(",")}`);
}

function pattern(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

function dataPacket(data: Uint8Array, seq: number): [Uint8Array, number] {
  return [cat(words(data.length, seq, 0, 0), data), checksum(data)];
}

/** Upload an esptool-js stub image through MEM_BEGIN/MEM_DATA/MEM_END. */
function uploadStub(chip: VirtualChip, col: Collector, name: string): Resp[] {
  const img = stubImage(name)!;
  for (const seg of img.segments) {
    const block = 0x1800;
    const blocks = Math.ceil(seg.bytes.length / block);
    ok(transact(chip, col, 0x05, words(seg.bytes.length, blocks, block, seg.addr))[0]);
    for (let i = 0; i < blocks; i++) {
      const [d, c] = dataPacket(seg.bytes.subarray(i * block, (i + 1) * block), i);
      ok(transact(chip, col, 0x07, d, c)[0]);
    }
  }
  col.take();
  chip.receive(request(0x06, words(0, img.entry)));
  return col.take();
}

Deno.test("ROM flash write: a bad checksum is 0x07 and still uses up its sequence number; MD5 as 32 hex chars", async () => {
  const { chip, col } = setup({ chip: "esp32" });
  ok(transact(chip, col, 0x0d, words(0, 0))[0]);
  const img = pattern(0x800);
  ok(transact(chip, col, 0x02, words(0x1000, 2, 0x400, 0x10000))[0]);
  const [d0, c0] = dataPacket(img.subarray(0, 0x400), 0);
  const bad = transact(chip, col, 0x03, d0, c0 ^ 0x5a)[0];
  assert.deepEqual(Array.from(bad.data), [1, 0x07, 0, 0]);
  // The genuine ROM expects seq 1 now: resending seq 0 is "invalid message" (so is any other number).
  assert.deepEqual(Array.from(transact(chip, col, 0x03, d0, c0)[0].data.subarray(0, 2)), [1, 0x05]);
  const [d3, c3] = dataPacket(img.subarray(0x400), 3);
  assert.deepEqual(Array.from(transact(chip, col, 0x03, d3, c3)[0].data.subarray(0, 2)), [1, 0x05]);
  // Starting over works.
  ok(transact(chip, col, 0x02, words(0x1000, 2, 0x400, 0x10000))[0]);
  ok(transact(chip, col, 0x03, d0, c0)[0]);
  const [d1, c1] = dataPacket(img.subarray(0x400), 1);
  ok(transact(chip, col, 0x03, d1, c1)[0]);
  const [md5] = transact(chip, col, 0x13, words(0x10000, 0x800, 0, 0));
  assert.equal(md5.data.length, 32 + 4);
  assert.equal(
    new TextDecoder().decode(md5.data.subarray(0, 32)),
    createHash("md5").update(img).digest("hex"),
  );
  assert.deepEqual(Array.from(chip.flash.subarray(0x10000, 0x10800)), Array.from(img));
  await chip.close();
});

Deno.test("ROM refuses flash commands before SPI_ATTACH on ESP32", async () => {
  const { chip, col } = setup({ chip: "esp32" });
  assert.deepEqual(Array.from(transact(chip, col, 0x02, words(0x1000, 1, 0x400, 0))[0].data), [
    1,
    0x06,
    0,
    0,
  ]);
  await chip.close();
});

Deno.test("NOR semantics: programming without erasing ANDs bits, and the ROM's read-back reports 0x08", async () => {
  const { chip, col } = setup({ chip: "esp32c3" });
  ok(transact(chip, col, 0x0d, words(0, 0))[0]);
  // The ESP32-C3 ROM wants the fifth ("encrypted") FLASH_BEGIN word; four are "invalid message".
  assert.deepEqual(
    Array.from(transact(chip, col, 0x02, words(0x1000, 1, 0x400, 0))[0].data.subarray(0, 2)),
    [1, 0x05],
  );
  ok(transact(chip, col, 0x02, words(0x1000, 1, 0x400, 0, 0))[0]);
  const [a, ca] = dataPacket(new Uint8Array(0x400).fill(0xf0), 0);
  ok(transact(chip, col, 0x03, a, ca)[0]);
  // Begin again with erase size 0: nothing is erased, so 0x0F over 0xF0 leaves 0x00.
  ok(transact(chip, col, 0x02, words(0, 1, 0x400, 0, 0))[0]);
  const [b, cb] = dataPacket(new Uint8Array(0x400).fill(0x0f), 0);
  const r = transact(chip, col, 0x03, b, cb)[0];
  assert.deepEqual(Array.from(r.data.subarray(0, 2)), [1, 0x08]);
  assert.equal(chip.flash[0], 0x00);
  assert.equal(chip.flash[0x400], 0xff, "rest of the erased sector untouched");
  await chip.close();
});

Deno.test("ESP8266 ROM over-erases like the real SPIEraseArea; esptool's corrected size erases exactly", async () => {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/f.bin`;
  await Deno.writeFile(file, new Uint8Array(0x40000)); // all zero
  const { chip, col } = setup({ chip: "esp8266", flashFile: file, flashSize: 0x40000 });
  ok(transact(chip, col, 0x02, words(0x2000, 8, 0x400, 0))[0]); // naive size: 2 sectors
  assert.equal(chip.flash[0x3fff], 0xff, "4 sectors erased, not 2");
  assert.equal(chip.flash[0x4000], 0x00);
  await chip.close();
  const second = setup({ chip: "esp8266", flashFile: `${dir}/g.bin`, flashSize: 0x40000 });
  second.chip.flash.fill(0);
  ok(transact(second.chip, second.col, 0x02, words(0x1000, 8, 0x400, 0))[0]); // esptool get_erase_size(0, 0x2000)
  assert.equal(second.chip.flash[0x1fff], 0xff);
  assert.equal(second.chip.flash[0x2000], 0x00, "exactly 2 sectors");
  await second.chip.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("the esptool-js stub upload runs as esp-flasher-stub: OHAI, 2 status bytes, SYNC value 0, raw MD5", async () => {
  const { chip, col } = setup({ chip: "esp32s3" });
  const rs = uploadStub(chip, col, "esp32s3.json");
  assert.equal(rs[0].op, 0x06);
  assert.equal(chip.mode, "stub");
  assert.ok(col.raw.length > 0);
  const text = col.text();
  assert.match(text, /\xc0OHAI\xc0$/);
  const syncs = transact(chip, col, 0x08, SYNC);
  assert.equal(syncs.length, 8);
  assert.equal(syncs[0].value, 0);
  assert.deepEqual(Array.from(syncs[0].data), [0, 0]);
  chip.flash.fill(0x11, 0, 0x100);
  const [md5] = transact(chip, col, 0x13, words(0, 0x100, 0, 0));
  assert.equal(md5.data.length, 18);
  assert.deepEqual(
    Array.from(md5.data.subarray(0, 16)),
    Array.from(createHash("md5").update(new Uint8Array(0x100).fill(0x11)).digest()),
  );
  // READ_FLASH_SLOW is the ROM's: esp-flasher-stub answers INVALID_COMMAND (C3 00)
  assert.deepEqual(Array.from(transact(chip, col, 0x0e, words(0, 64))[0].data), [0xc3, 0]);
  await chip.close();
});

Deno.test("other RAM code runs as esptool 5's stub when its entry is inside it, else the chip halts", async () => {
  for (const [entry, mode] of [[0x40080010, "stub"], [0x40070000, "halted"]] as const) {
    const { chip, col } = setup({ chip: "esp32" });
    const code = pattern(0x100);
    ok(transact(chip, col, 0x05, words(0x100, 1, 0x1800, 0x40080000))[0]);
    const [d, c] = dataPacket(code, 0);
    ok(transact(chip, col, 0x07, d, c)[0]);
    col.clear();
    chip.receive(request(0x06, words(0, entry)));
    assert.equal(chip.mode, mode);
    assert.equal(col.text().includes("OHAI"), mode === "stub");
    await chip.close();
  }
});

async function stubChip(
  options: VirtualChipOptions,
): Promise<{ chip: VirtualChip; col: Collector }> {
  const s = setup(options);
  uploadStub(s.chip, s.col, `${options.chip}.json`);
  assert.equal(s.chip.mode, "stub");
  s.col.clear();
  return await Promise.resolve(s);
}

Deno.test("stub compressed write inflates, erases as it goes and verifies by MD5", async () => {
  const { chip, col } = await stubChip({ chip: "esp32" });
  const img = cat(pattern(50000), new Uint8Array(30000));
  const z = zlibSync(img, { level: 9 });
  const block = 0x4000;
  const blocks = Math.ceil(z.length / block);
  ok(transact(chip, col, 0x10, words(img.length, blocks, block, 0x20000))[0]);
  for (let i = 0; i < blocks; i++) {
    const [d, c] = dataPacket(z.subarray(i * block, (i + 1) * block), i);
    ok(transact(chip, col, 0x11, d, c)[0]);
  }
  ok(transact(chip, col, 0x12, words(1))[0]);
  assert.deepEqual(chip.flash.subarray(0x20000, 0x20000 + img.length), img);
  assert.equal(chip.mode, "stub", "FLASH_DEFL_END(1) stays in the stub");
  // A corrupted deflate stream is found after the answer: the next answer carries 0xC7
  // (and that command is not carried out).
  ok(transact(chip, col, 0x10, words(1000, 1, block, 0x40000))[0]);
  const junk = Uint8Array.from([0x78, 0x9c, 0xff, 0xff, 0xff, 0xff, 0x00]);
  const [dj, cj] = dataPacket(junk, 0);
  ok(transact(chip, col, 0x11, dj, cj)[0]);
  const [next] = transact(chip, col, 0x0a, words(0x40001000));
  assert.deepEqual([next.value, next.data[0]], [0, 0xc7]);
  assert.equal(transact(chip, col, 0x0a, words(0x40001000))[0].value, 0x00f01d83);
  await chip.close();
});

Deno.test("stub READ_FLASH streams packets, waits for acks, ends with the MD5", async () => {
  const { chip, col } = await stubChip({ chip: "esp32c3" });
  const img = pattern(10000, 9);
  chip.flash.set(img, 0x3000);
  col.clear();
  chip.receive(request(0xd2, words(0x3000, 10000, 0x1000, 64)));
  let frames = col.takeFrames();
  assert.deepEqual(Array.from(frames.shift()!.subarray(0, 2)), [0x01, 0xd2]);
  let got: Uint8Array = new Uint8Array(0);
  assert.equal(frames.length, 1, "one packet in flight");
  while (got.length < 10000) {
    got = cat(got, frames[0]);
    const ack = words(got.length);
    chip.receive(Uint8Array.from([0xc0, ...ack, 0xc0]));
    frames = col.takeFrames();
    if (got.length >= 10000) break;
  }
  assert.deepEqual(got, img);
  assert.equal(frames.length, 1);
  assert.deepEqual(Array.from(frames[0]), Array.from(createHash("md5").update(img).digest()));
  await chip.close();
});

Deno.test("stub ERASE_REGION needs 4 KiB alignment; ERASE_FLASH erases everything", async () => {
  const { chip, col } = await stubChip({ chip: "esp32s2" });
  chip.flash.fill(0);
  assert.equal(transact(chip, col, 0xd1, words(0x1000, 0x800))[0].data[0], 0xc0);
  ok(transact(chip, col, 0xd1, words(0x1000, 0x1000))[0]);
  assert.equal(chip.flash[0xfff], 0);
  assert.equal(chip.flash[0x1000], 0xff);
  assert.equal(chip.flash[0x2000], 0);
  ok(transact(chip, col, 0xd0)[0]);
  assert.ok(chip.flash.every((b) => b === 0xff));
  await chip.close();
});

Deno.test("flash timing model: computed busy time for sector, block and chip erase", async () => {
  const { chip, col } = await stubChip({ chip: "esp32" });
  const before = chip.stats.flashBusyMs;
  ok(transact(chip, col, 0xd1, words(0x11000, 0x1000))[0]);
  assert.equal(chip.stats.flashBusyMs - before, SECTOR_ERASE_MS);
  ok(transact(chip, col, 0xd1, words(0x20000, 0x10000))[0]);
  assert.equal(chip.stats.flashBusyMs - before, SECTOR_ERASE_MS + BLOCK_ERASE_MS);
  ok(transact(chip, col, 0xd0)[0]);
  assert.equal(
    chip.stats.flashBusyMs - before,
    SECTOR_ERASE_MS + BLOCK_ERASE_MS + 4 * CHIP_ERASE_MS_PER_MIB,
  );
  await chip.close();
});

Deno.test("CHANGE_BAUDRATE: reply at the old speed, then a host left behind sees garbage", async () => {
  const { chip, col } = setup({ chip: "esp32s3" });
  transact(chip, col, 0x08, SYNC);
  const [r] = transact(chip, col, 0x0f, words(921600, 0));
  ok(r);
  assert.equal(chip.uartBaud, 921600);
  // host still at 115200: the READ_REG is garbled on the way in, nothing sensible comes back
  const rs = transact(chip, col, 0x0a, words(0x40001000));
  assert.equal(rs.length, 0);
  chip.setHostBaud(921600);
  assert.equal(transact(chip, col, 0x0a, words(0x40001000))[0].value, 9);
  await chip.close();
});

Deno.test("FLASH_END asking to run: the ESP32 ROM boots a flashed image, or falls back to its interpreter", async () => {
  const booted = setup({ chip: "esp32" });
  ok(transact(booted.chip, booted.col, 0x0d, words(0, 0))[0]);
  ok(transact(booted.chip, booted.col, 0x02, words(0, 0, 0x400, 0))[0]);
  booted.col.clear();
  booted.chip.receive(request(0x04, words(1)));
  assert.equal(booted.chip.mode, "app");
  assert.match(
    booted.col.text(),
    /configsip: 0[\s\S]*entry 0x[0-9a-f]{8}\r\n[\s\S]*main_task: Calling app_main\(\)/,
  );
  await booted.chip.close();
  const rom = setup({ chip: "esp32", firmware: "erased" });
  ok(transact(rom.chip, rom.col, 0x0d, words(0, 0))[0]);
  ok(transact(rom.chip, rom.col, 0x02, words(0, 0, 0x400, 0))[0]);
  rom.col.clear();
  rom.chip.receive(request(0x04, words(1)));
  assert.equal(rom.chip.mode, "console");
  assert.match(
    rom.col.text(),
    /flash read err, 631\r\nFalling back to built-in command interpreter\.\r\nOK\r\n>$/,
  );
  rom.col.clear();
  rom.chip.receive(Uint8Array.from([0x41, 0x00, 0x08, 0x42]));
  assert.equal(rom.col.text(), "A\b \bB", "the interpreter echoes, drops NUL, erases on backspace");
  await rom.chip.close();
  const c3 = setup({ chip: "esp32c3", firmware: "erased" });
  ok(transact(c3.chip, c3.col, 0x0d, words(0, 0))[0]);
  ok(transact(c3.chip, c3.col, 0x02, words(0, 0, 0x400, 0, 0))[0]);
  c3.col.clear();
  c3.chip.receive(request(0x04, words(1)));
  assert.match(
    c3.col.text(),
    /user code done\r\nGuru Meditation Error: Core 0 panic'ed \(Instruction access fault\)/,
  );
  assert.equal(c3.chip.mode, "halted");
  await c3.chip.close();
  // esp-flasher-stub does not reboot on FLASH_END, nor run the app on RUN_USER_CODE (recorded).
  const { chip, col } = await stubChip({ chip: "esp32c6" });
  ok(transact(chip, col, 0x02, words(0, 0, 0x4000, 0))[0]);
  ok(transact(chip, col, 0x04, words(0))[0]);
  assert.deepEqual(transact(chip, col, 0xd3), []);
  assert.equal(chip.mode, "stub");
  assert.equal(transact(chip, col, 0x0a, words(0x40001000))[0].value, 0x2ce0806f);
  await chip.close();
});

Deno.test("flash file: loaded if present, saved after FLASH_END and on close", async () => {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/flash.bin`;
  const { chip, col } = await stubChip({ chip: "esp32", flashFile: file, flashSize: 0x100000 });
  const img = pattern(0x1000, 5);
  ok(transact(chip, col, 0x02, words(img.length, 1, 0x4000, 0x8000))[0]);
  const [d, c] = dataPacket(img, 0);
  ok(transact(chip, col, 0x03, d, c)[0]);
  ok(transact(chip, col, 0x04, words(1))[0]);
  assert.deepEqual((await Deno.readFile(file)).subarray(0x8000, 0x9000), img);
  await chip.close();
  const again = new VirtualChip({ chip: "esp32", flashFile: file, flashSize: 0x100000 });
  assert.deepEqual(again.flash.subarray(0x8000, 0x9000), img);
  await again.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("brown-out fault on FLASH_DATA reboots into download mode and loses the stub", async () => {
  const { chip, col } = await stubChip({ chip: "esp32", faults: { seed: 3, resetRate: 1 } });
  ok(transact(chip, col, 0x02, words(0x1000, 1, 0x4000, 0))[0]);
  const [d, c] = dataPacket(pattern(0x1000), 0);
  col.clear();
  chip.receive(request(0x03, d, c));
  assert.equal(chip.mode, "download");
  assert.match(col.text(), /waiting for download/);
  assert.ok(chip.stats.faultsInjected >= 1);
  await chip.close();
});

Deno.test("fault injection is deterministic for a seed", async () => {
  const run = async (seed: number) => {
    const { chip, col } = setup({
      chip: "esp32",
      faults: { seed, corruptRate: 0.3, dropRate: 0.2 },
    });
    for (let i = 0; i < 40; i++) chip.receive(request(0x0a, words(0x40001000)));
    const out = { raw: col.raw.join(","), faults: chip.stats.faultsInjected };
    await chip.close();
    return out;
  };
  const a = await run(7);
  const b = await run(7);
  const c = await run(8);
  assert.deepEqual(a, b);
  assert.ok(a.faults > 0);
  assert.notDeepEqual(a.raw, c.raw);
});
