import assert from "node:assert/strict";
import { LoaderSession } from "./session.ts";
import { RAM_BLOCK_SIZE } from "./stub_upload.ts";
import { loadStubImage } from "./stub.ts";
import { readChipInfo } from "./info.ts";
import { FakeRom } from "../../tests/support/fake_rom.ts";
import { Op, u32le } from "../protocol/packet.ts";
import { slipEncode } from "../protocol/slip.ts";
import { LoaderStatusError } from "../protocol/status.ts";
import { TimeoutError } from "../errors.ts";

/** ESP32 magic value at 0x40001000 (esptool targets/esp32.py). */
const ESP32_MAGIC = 0x00f01d83;
const MAGIC_ADDR = 0x40001000;
/** ESP32 UART0 clock divider register (esptool targets/esp32.py UART_CLKDIV_REG). */
const ESP32_UART_CLKDIV = 0x3ff40014;
const SOME_REG = 0x3ff5a004;

function esp32Regs(): Map<number, number> {
  return new Map([
    [MAGIC_ADDR, ESP32_MAGIC],
    [SOME_REG, 0xc4123456],
    // eFuse word 2: MAC bytes 0..1 (00 00) and the CRC-8 of 00:00:c4:12:34:56 (0x22) in bits 16..23.
    [SOME_REG + 4, 0x00220000],
    // 40 MHz crystal at 115200 baud: 40e6 / 115200 ≈ 347.
    [ESP32_UART_CLKDIV, 347],
  ]);
}

function readRegAnswer(value: number): Uint8Array {
  const f = new Uint8Array(12);
  f[0] = 0x01;
  f[1] = Op.READ_REG;
  new DataView(f.buffer).setUint16(2, 4, true);
  new DataView(f.buffer).setUint32(4, value, true);
  return slipEncode(f);
}

Deno.test("connects to an ESP32 ROM that answers the unsupported GET_SECURITY_INFO eight times", async () => {
  const rom = new FakeRom({ regs: esp32Regs() });
  const s = await LoaderSession.connect(rom, { before: "no-reset", connectAttempts: 1 });
  assert.equal(s.chip.key, "esp32");
  // The eight error frames were drained, not read as the answers to what followed.
  assert.equal(await s.readReg(SOME_REG), 0xc4123456);
  assert.equal(await s.readReg(MAGIC_ADDR), ESP32_MAGIC);
});

Deno.test("an unsupported command right after SYNC fails once and leaves the next command its own answer", async () => {
  const rom = new FakeRom({ regs: esp32Regs() });
  const s = await LoaderSession.connect(rom, { before: "no-reset", connectAttempts: 1 });
  await s.sync(); // the next error is repeated eight times, as after the connect SYNC
  const err = await s.command(0x55).then(() => null, (e) => e);
  assert.ok(err instanceof LoaderStatusError, String(err));
  assert.equal(err.status, 0x0105);
  for (let i = 0; i < 3; i++) assert.equal(await s.readReg(SOME_REG), 0xc4123456);
});

Deno.test("an answer that arrives after its command timed out is not taken for the next command's", async () => {
  const rom = new FakeRom({ regs: esp32Regs() });
  const s = await LoaderSession.connect(rom, { before: "no-reset", connectAttempts: 1 });
  rom.delayMs = new Map([[Op.READ_REG, 130]]);
  const err = await s.command(Op.READ_REG, u32le(MAGIC_ADDR), { timeoutMs: 100 }).then(
    () => null,
    (e) => e,
  );
  assert.ok(err instanceof TimeoutError, String(err));
  // The late answer (the magic value) comes 30 ms later: the next read must get SOME_REG's value.
  assert.equal(await s.readReg(SOME_REG), 0xc4123456);
});

Deno.test("junk after a baud change, spread over time, is drained before the first command at the new rate", async () => {
  const junk = [
    new TextEncoder().encode("\x00\xff\x80junk"),
    readRegAnswer(0xdeadbeef),
    Uint8Array.of(0xc0, 0x01, 0x0a, 0xdb),
    readRegAnswer(0xbadc0de),
  ];
  const rom = new FakeRom({ regs: esp32Regs(), baudJunk: { runs: junk, everyMs: 30 } });
  const s = await LoaderSession.connect(rom, { before: "no-reset", connectAttempts: 1 });
  assert.equal(await s.changeBaud(921600), 921600);
  for (let i = 0; i < 10; i++) {
    assert.equal(await s.readReg(SOME_REG), 0xc4123456, `read ${i}`);
    await new Promise((r) => setTimeout(r, 15));
  }
});

Deno.test("the crystal is the one measured at connect time, not after the stub moved the UART divider", async () => {
  const regs = esp32Regs();
  const rom = new FakeRom({ regs });
  const s = await LoaderSession.connect(rom, { before: "no-reset", connectAttempts: 1 });
  assert.equal(s.crystalMhz, 40);
  // What the legacy stub leaves in the divider at 115200 on the emulated ESP32 (read as 48 MHz).
  regs.set(ESP32_UART_CLKDIV, 417);
  const info = await readChipInfo(s);
  assert.equal(info.crystalMhz, 40);
});

Deno.test("a stub block spoiled on the wire (the ROM's invalid-message answer) is sent again", async () => {
  const rom = new FakeRom({ regs: esp32Regs() });
  const s = await LoaderSession.connect(rom, { before: "no-reset", connectAttempts: 1 });
  rom.failures.set(Op.MEM_DATA, [0x05]);
  await s.runStub();
  assert.ok(s.loader.kind === "stub");
  const stub = await loadStubImage("esp32");
  const expected = [stub.text, stub.data].reduce(
    (n, seg) => n + (seg ? Math.ceil(seg.bytes.length / RAM_BLOCK_SIZE) : 0),
    0,
  );
  // Every block once, the spoiled one twice.
  assert.equal(rom.requests.filter((op) => op === Op.MEM_DATA).length, expected + 1);
  assert.equal(await s.readReg(SOME_REG), 0xc4123456);
});
