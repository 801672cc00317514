import assert from "node:assert/strict";
import { openSimPort } from "../lib/sim/sim_port.ts";
import { LoaderSession } from "../lib/loader/session.ts";
import { writeFlash } from "../lib/flash/write.ts";
import { receiveMs } from "../lib/flash/timeouts.ts";
import { readFlash } from "../lib/flash/read.ts";
import { randomBytes } from "./support/rom_cli.ts";
import { FakeRom } from "./support/fake_rom.ts";
import { Op } from "../lib/protocol/packet.ts";

for (const stub of [true, false]) {
  Deno.test(`incompressible data is sent raw, not deflated (${stub ? "stub" : "ROM"}), and lands intact`, async () => {
    const port = openSimPort({ chip: "esp32", flashSize: 4 * 1024 * 1024 });
    const s = await LoaderSession.connect(port, { connectAttempts: 2 });
    try {
      if (stub) await s.runStub();
      const data = randomBytes(40_000, 11);
      const r = await writeFlash(s, [{ address: 0x20000, data, name: "random.bin" }]);
      // Deflating random bytes makes them longer; raw blocks carry exactly the data
      // (the last block padded to the block size).
      const block = stub ? 0x4000 : s.chip.rom.flashWriteSize;
      assert.equal(r.bytesOnWire, Math.ceil(data.length / block) * block);
      assert.ok(r.verified);
      assert.deepEqual(await readFlash(s, { address: 0x20000, size: data.length }), data);
      // Compressible data still goes deflated.
      const text = new TextEncoder().encode("espline ".repeat(5000));
      const r2 = await writeFlash(s, [{ address: 0x40000, data: text }]);
      assert.ok(r2.bytesOnWire < text.length / 10, `compressed (${r2.bytesOnWire})`);
    } finally {
      await s.close();
    }
  });
}

Deno.test("a block's answer is given time to cross the wire at the current baud, with slack", () => {
  // 16 KiB + header at 115200: 1.42 s on the wire, three times that allowed.
  assert.equal(receiveMs(16384 + 24, 115200), Math.ceil((16408 * 10 * 1000 * 3) / 115200));
  assert.ok(receiveMs(16408, 115200) > 4000);
  assert.ok(receiveMs(16408, 921600) < 600);
});

Deno.test("a padded image on a blank chip: the flash is read once to compare, 0xFF sectors are left alone", async () => {
  const port = openSimPort({ chip: "esp32", flashSize: 4 * 1024 * 1024 });
  const sent: number[] = [];
  const s = await LoaderSession.connect(port, {
    connectAttempts: 2,
    trace: true,
    onEvent: (e) => {
      // Requests start with C0 00 OP.
      if (e.type === "trace" && e.direction === "out" && e.bytes[1] === 0x00) sent.push(e.bytes[2]);
    },
  });
  try {
    await s.runStub();
    const img = new Uint8Array(0x40000).fill(0xff);
    img.set(randomBytes(0x6000, 3), 0);
    img.set(randomBytes(0x1000, 4), 0x30000);
    sent.length = 0;
    const r = await writeFlash(s, [{ address: 0x100000, data: img }], { flashSize: 4 << 20 });
    assert.ok(r.verified);
    const count = (op: number) => sent.filter((o) => o === op).length;
    assert.equal(count(0x13), 4 + 1, "one MD5 per 64 KiB chunk, then one to verify");
    assert.equal(count(0xd1), 0, "no erase of sectors that are blank already");
    // Raw blocks are padded to 16 KiB: two for the first 24 KiB, one for the last 4 KiB.
    assert.equal(r.bytesOnWire, 3 * 0x4000, "only the data sectors go over the wire");
    assert.deepEqual(await readFlash(s, { address: 0x100000, size: img.length }), img);
    // Written again unchanged: the same four chunk MD5s, nothing else.
    sent.length = 0;
    const again = await writeFlash(s, [{ address: 0x100000, data: img }], { flashSize: 4 << 20 });
    assert.equal(again.skipped, 1);
    assert.deepEqual(sent, [0x13, 0x13, 0x13, 0x13]);
  } finally {
    await s.close();
  }
});

Deno.test("a data block spoiled on the wire (invalid message, bad checksum) is sent again", async () => {
  const rom = new FakeRom({ regs: new Map([[0x40001000, 0x00f01d83]]) }); // ESP32 magic
  const s = await LoaderSession.connect(rom, { before: "no-reset", connectAttempts: 1 });
  rom.failures.set(Op.FLASH_DATA, [0x05, 0x07]);
  const data = new Uint8Array(0x800).fill(0x5a);
  const r = await writeFlash(s, [{ address: 0x10000, data }], {
    flashSize: 4 << 20,
    compress: false,
    skipUnchanged: false,
    verify: false,
  });
  assert.equal(r.bytesWritten, data.length);
  // Two blocks of 0x400 for the ROM: the first sent three times, the second once.
  assert.equal(rom.requests.filter((op) => op === Op.FLASH_DATA).length, 4);
});
