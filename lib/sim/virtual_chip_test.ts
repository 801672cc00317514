import assert from "node:assert/strict";
import { EN_STRAP_SAMPLE_MS } from "./reset_circuit.ts";
import { VirtualChip, type VirtualChipOptions } from "./virtual_chip.ts";
import { Collector, hostSlip, sleep, transact, words } from "../../tests/support/sim_util.ts";

const SYNC = Uint8Array.from([0x07, 0x07, 0x12, 0x20, ...new Array(32).fill(0x55)]);

function setup(options: VirtualChipOptions): { chip: VirtualChip; col: Collector } {
  const chip = new VirtualChip(options);
  const col = new Collector(chip);
  return { chip, col };
}

function readReg(chip: VirtualChip, col: Collector, addr: number): number {
  const [r] = transact(chip, col, 0x0a, words(addr));
  assert.equal(r.op, 0x0a);
  assert.equal(r.data[0], 0, "READ_REG status");
  return r.value;
}

function writeReg(chip: VirtualChip, col: Collector, addr: number, value: number): void {
  const [r] = transact(chip, col, 0x09, words(addr, value, 0xffffffff, 0));
  assert.equal(r.data[0], 0, "WRITE_REG status");
}

Deno.test("power-on prints the chip's download-mode banner", async () => {
  const { chip, col } = setup({ chip: "esp32" });
  assert.match(
    col.text(),
    /rst:0x1 \(POWERON_RESET\),boot:0x3 \(DOWNLOAD_BOOT.*\)\r\nwaiting for download\r\n/,
  );
  const s3 = setup({ chip: "esp32s3" });
  assert.match(
    s3.col.text(),
    /^ESP-ROM:esp32s3-.*boot:0x0 \(DOWNLOAD\(USB\/UART0\)\)\r\nwaiting for download/s,
  );
  await chip.close();
  await s3.chip.close();
});

Deno.test("SYNC: ROM answers 8 times with value 0x20120707; status width per chip", async () => {
  for (const [key, statusLen] of [["esp32", 4], ["esp8266", 2], ["esp32c3", 4]] as const) {
    const { chip, col } = setup({ chip: key });
    const rs = transact(chip, col, 0x08, SYNC);
    assert.equal(rs.length, 8, key);
    for (const r of rs) {
      assert.equal(r.op, 0x08);
      assert.equal(r.value, 0x20120707);
      assert.equal(r.data.length, statusLen, key);
      assert.ok(r.data.every((b) => b === 0));
    }
    await chip.close();
  }
});

Deno.test("SYNC: the ROM checks no payload; its value word is the payload's first word (genuine ROM)", async () => {
  const { chip, col } = setup({ chip: "esp32" });
  const odd = SYNC.slice();
  odd[0] = 0x01;
  odd[10] = 0x54;
  const rs = transact(chip, col, 0x08, odd);
  assert.equal(rs.length, 8);
  for (const r of rs) {
    assert.equal(r.value, 0x20120701);
    assert.deepEqual(Array.from(r.data), [0, 0, 0, 0]);
  }
  await chip.close();
});

Deno.test("READ_REG: the ROM ignores the length field and takes missing bytes from the previous request", async () => {
  const { chip, col } = setup({ chip: "esp32s3" });
  // Length field 8 over 4 data bytes: answered as a plain READ_REG.
  col.take();
  chip.receive(
    hostSlip(Uint8Array.from([0x00, 0x0a, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0x10, 0x00, 0x40])),
  );
  const [r] = col.take();
  assert.equal(r.op, 0x0a);
  assert.equal(r.value, 0x9);
  // Three address bytes: the fourth is what the buffer still holds (0x40).
  const [r3] = transact(chip, col, 0x0a, Uint8Array.from([0x00, 0x10, 0x00]));
  assert.equal(r3.value, 0x9);
  await chip.close();
});

Deno.test("unknown opcode: the previous answer's op and value with 'invalid message', repeated after SYNC", async () => {
  const { chip, col } = setup({ chip: "esp32" });
  assert.equal(transact(chip, col, 0x08, SYNC).length, 8);
  const rs = transact(chip, col, 0x14); // GET_SECURITY_INFO: not in the ESP32 ROM
  assert.equal(rs.length, 8, "as many as the SYNC answer had");
  for (const r of rs) {
    assert.equal(r.op, 0x08);
    assert.equal(r.value, 0x20120707);
    assert.deepEqual(Array.from(r.data), [1, 0x05, 0, 0]);
  }
  readReg(chip, col, 0x40001000);
  const [one, ...more] = transact(chip, col, 0xd0); // ERASE_FLASH is stub-only
  assert.equal(more.length, 0);
  assert.equal(one.op, 0x0a);
  assert.equal(one.value, 0x00f01d83);
  await chip.close();
  // As the genuine ROM by default; romRepeatsAnswers: false answers once.
  const plain = setup({ chip: "esp32" });
  transact(plain.chip, plain.col, 0x08, SYNC);
  assert.equal(transact(plain.chip, plain.col, 0x14).length, 8);
  await plain.chip.close();
  const quiet = setup({ chip: "esp32", romRepeatsAnswers: false });
  transact(quiet.chip, quiet.col, 0x08, SYNC);
  assert.equal(transact(quiet.chip, quiet.col, 0x14).length, 1);
  await quiet.chip.close();
});

Deno.test("a load from an unmapped address stops the ROM: ESP32 silently, ESP32-C3 after a Guru Meditation", async () => {
  const esp32 = setup({ chip: "esp32" });
  assert.deepEqual(transact(esp32.chip, esp32.col, 0x0a, words(0x4)), []);
  assert.equal(esp32.chip.mode, "halted");
  assert.deepEqual(transact(esp32.chip, esp32.col, 0x08, SYNC), []);
  await esp32.chip.close();
  const c3 = setup({ chip: "esp32c3" });
  c3.col.clear();
  assert.deepEqual(transact(c3.chip, c3.col, 0x0a, words(0x4)), []);
  assert.match(c3.col.text(), /^Guru Meditation Error: Core 0 panic'ed \(Load access fault\)\r\n/);
  assert.equal(c3.chip.mode, "halted");
  await c3.chip.close();
});

Deno.test("READ_REG 0x40001000 returns each chip's detection magic", async () => {
  const expect: Record<string, number> = {
    esp8266: 0xfff0c101,
    esp32: 0x00f01d83,
    esp32s2: 0x000007c6,
    esp32s3: 0x9,
    esp32c3: 0x1b31506f,
    esp32c6: 0x2ce0806f,
    esp32h2: 0xd7b73e80,
  };
  for (const [key, magic] of Object.entries(expect)) {
    const { chip, col } = setup({ chip: key as VirtualChipOptions["chip"] });
    assert.equal(readReg(chip, col, 0x40001000), magic, key);
    await chip.close();
  }
});

Deno.test("GET_SECURITY_INFO: 20-byte form with chip id on S3, 12-byte form on S2, SDM flag", async () => {
  const s3 = setup({ chip: "esp32s3", secureDownload: true });
  const [r] = transact(s3.chip, s3.col, 0x14);
  assert.equal(r.data.length, 20 + 4);
  const dv = new DataView(r.data.buffer, r.data.byteOffset);
  assert.equal(dv.getUint32(0, true) & 4, 4, "SECURE_DOWNLOAD_ENABLE");
  assert.equal(dv.getUint32(12, true), 9, "chip id");
  // In secure download mode the ROM refuses register reads (the previous answer's op, error 0x05).
  const [rr] = transact(s3.chip, s3.col, 0x0a, words(0x40001000));
  assert.equal(rr.op, 0x14);
  assert.deepEqual(Array.from(rr.data.subarray(0, 2)), [1, 0x05]);
  await s3.chip.close();
  const s2 = setup({ chip: "esp32s2" });
  const [r2] = transact(s2.chip, s2.col, 0x14);
  assert.equal(r2.data.length, 12 + 4);
  await s2.chip.close();
});

function esptoolMacFromBlock1(chip: VirtualChip, col: Collector, macReg: number): string {
  const mac0 = readReg(chip, col, macReg);
  const mac1 = readReg(chip, col, macReg + 4);
  const b = [
    (mac1 >> 8) & 0xff,
    mac1 & 0xff,
    mac0 >>> 24,
    (mac0 >> 16) & 0xff,
    (mac0 >> 8) & 0xff,
    mac0 & 0xff,
  ];
  return b.map((x) => x.toString(16).padStart(2, "0")).join(":");
}

Deno.test("eFuse words decode (esptool's formulas) to the configured MAC and revision", async () => {
  // ESP32: words 1/2 of EFUSE_RD_REG_BASE 0x3FF5A000, revision from word3/word5/APB_CTL_DATE.
  const e = setup({ chip: "esp32", mac: "02:aa:bb:cc:dd:01", revision: "v3.1" });
  const w1 = readReg(e.chip, e.col, 0x3ff5a004);
  const w2 = readReg(e.chip, e.col, 0x3ff5a008);
  const mac = [
    (w2 >> 8) & 0xff,
    w2 & 0xff,
    w1 >>> 24,
    (w1 >> 16) & 0xff,
    (w1 >> 8) & 0xff,
    w1 & 0xff,
  ];
  assert.deepEqual(mac, [0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0x01]);
  const w3 = readReg(e.chip, e.col, 0x3ff5a00c);
  const w5 = readReg(e.chip, e.col, 0x3ff5a014);
  const apb = readReg(e.chip, e.col, 0x3ff6607c);
  const combined = ((apb >>> 31) << 2) | (((w5 >> 20) & 1) << 1) | ((w3 >> 15) & 1);
  assert.equal(({ 0: 0, 1: 1, 3: 2, 7: 3 } as Record<number, number>)[combined], 3);
  assert.equal((w5 >> 24) & 3, 1);
  await e.chip.close();
  // ESP32-S3: MAC at EFUSE_BASE 0x60007000 + 0x44; revision split over BLOCK1 words 3 and 5.
  const s3 = setup({ chip: "esp32s3", mac: "7c:df:a1:00:11:22", revision: "v0.2" });
  assert.equal(esptoolMacFromBlock1(s3.chip, s3.col, 0x60007044), "7c:df:a1:00:11:22");
  const b3 = readReg(s3.chip, s3.col, 0x60007044 + 12);
  const b5 = readReg(s3.chip, s3.col, 0x60007044 + 20);
  assert.equal((((b5 >> 23) & 1) << 3) + ((b3 >> 18) & 7), 2, "minor");
  assert.equal((b5 >> 24) & 3, 0, "major");
  await s3.chip.close();
  // ESP32-C6: revision in BLOCK1 word 3.
  const c6 = setup({ chip: "esp32c6", mac: "40:4c:ca:01:02:03", revision: "v0.1" });
  assert.equal(esptoolMacFromBlock1(c6.chip, c6.col, 0x600b0844), "40:4c:ca:01:02:03");
  const c6w3 = readReg(c6.chip, c6.col, 0x600b0844 + 12);
  assert.equal((c6w3 >> 18) & 0xf, 1);
  await c6.chip.close();
  // ESP8266: OTP words; OUI from MAC3.
  const e8 = setup({ chip: "esp8266", mac: "18:fe:34:0a:0b:0c" });
  const m0 = readReg(e8.chip, e8.col, 0x3ff00050);
  const m1 = readReg(e8.chip, e8.col, 0x3ff00054);
  const m3 = readReg(e8.chip, e8.col, 0x3ff0005c);
  assert.deepEqual(
    [(m3 >> 16) & 0xff, (m3 >> 8) & 0xff, m3 & 0xff, (m1 >> 8) & 0xff, m1 & 0xff, m0 >>> 24],
    [0x18, 0xfe, 0x34, 0x0a, 0x0b, 0x0c],
  );
  await e8.chip.close();
});

Deno.test("ESP32 UART_CLKDIV is consistent with the crystal at the synced baud", async () => {
  for (const xtal of [26, 40]) {
    const { chip, col } = setup({ chip: "esp32", crystalMhz: xtal });
    transact(chip, col, 0x08, SYNC);
    const div = readReg(chip, col, 0x3ff40014) & 0xfffff;
    assert.equal(Math.round((115200 * div) / 1e6), xtal);
    await chip.close();
  }
});

function flashIdViaRegs(chip: VirtualChip, col: Collector, layout: {
  base: number;
  usr: number;
  usr1: number;
  usr2: number;
  w0: number;
  miso?: number;
}): number {
  const { base } = layout;
  if (layout.miso !== undefined) writeReg(chip, col, base + layout.miso, 24 - 1);
  else writeReg(chip, col, base + layout.usr1, (24 - 1) << 8);
  writeReg(chip, col, base + layout.usr, (1 << 31) | (1 << 28));
  writeReg(chip, col, base + layout.usr2, (7 << 28) | 0x9f);
  writeReg(chip, col, base + layout.w0, 0);
  writeReg(chip, col, base, 1 << 18);
  assert.equal(readReg(chip, col, base) & (1 << 18), 0, "USR bit clears when done");
  return readReg(chip, col, base + layout.w0);
}

Deno.test("RDID through the SPI user-command registers reports the JEDEC id for the flash size", async () => {
  const esp32 = setup({ chip: "esp32", flashSize: 8 * 1024 * 1024 });
  const id = flashIdViaRegs(esp32.chip, esp32.col, {
    base: 0x3ff42000,
    usr: 0x1c,
    usr1: 0x20,
    usr2: 0x24,
    w0: 0x80,
    miso: 0x2c,
  });
  assert.equal(id & 0xff, 0xc8);
  assert.equal(((id >> 8) & 0xff) << 8 | ((id >> 16) & 0xff), 0x4017);
  await esp32.chip.close();
  const e8 = setup({ chip: "esp8266" });
  const id8 = flashIdViaRegs(e8.chip, e8.col, {
    base: 0x60000200,
    usr: 0x1c,
    usr1: 0x20,
    usr2: 0x24,
    w0: 0x40,
  });
  assert.equal((id8 >> 16) & 0xff, 0x16);
  await e8.chip.close();
  const c3 = setup({ chip: "esp32c3", flashSize: 16 * 1024 * 1024 });
  const idc3 = flashIdViaRegs(c3.chip, c3.col, {
    base: 0x60002000,
    usr: 0x18,
    usr1: 0x1c,
    usr2: 0x20,
    w0: 0x58,
    miso: 0x28,
  });
  assert.equal(idc3 & 0xffffff, 0x1840c8);
  await c3.chip.close();
});

Deno.test("classic DTR/RTS sequence enters download mode; an RTS pulse boots the app", async () => {
  const { chip, col } = setup({ chip: "esp32", startMode: "app" });
  assert.equal(chip.mode, "app");
  col.clear();
  // esptool ClassicReset: D0 R1, 100 ms, D1 R0, 50 ms, D0 (one line per call, as pyserial does)
  chip.setSignals({ dtr: false });
  chip.setSignals({ rts: true });
  assert.equal(chip.mode, "halted");
  await sleep(20);
  chip.setSignals({ dtr: true });
  chip.setSignals({ rts: false });
  await sleep(20);
  chip.setSignals({ dtr: false });
  assert.equal(chip.mode, "download");
  assert.match(col.text(), /waiting for download/);
  col.clear();
  // Hard reset: RTS alone
  chip.setSignals({ rts: true });
  await sleep(10);
  chip.setSignals({ rts: false });
  await sleep(20);
  assert.equal(chip.mode, "app");
  assert.match(col.text(), /SPI_FAST_FLASH_BOOT[\s\S]*Hello from espline sim\r\n/);
  await chip.close();
});

Deno.test("DevKit RC delay: DTR and RTS both asserted for longer than EN takes to charge boot the app", async () => {
  const sample = EN_STRAP_SAMPLE_MS;
  assert.ok(sample > 13 && sample < 15, "10 kΩ · 1 µF to 0.75 VDD");
  for (const [bothAssertedMs, mode] of [[0, "download"], [3 * sample, "app"]] as const) {
    const { chip } = setup({ chip: "esp32", startMode: "app" });
    chip.setSignals({ dtr: false });
    chip.setSignals({ rts: true }); // EN low
    await sleep(5);
    chip.setSignals({ dtr: true }); // both asserted: EN released, IO0 still high
    if (bothAssertedMs) await sleep(bothAssertedMs);
    chip.setSignals({ rts: false }); // IO0 low
    await sleep(2 * sample);
    chip.setSignals({ dtr: false });
    assert.equal(chip.mode, mode, `both lines asserted for ${bothAssertedMs} ms`);
    await chip.close();
  }
});

Deno.test("an EN release shorter than the RC delay resets nothing: the chip stays held", async () => {
  const { chip } = setup({ chip: "esp32", startMode: "app" });
  chip.setSignals({ rts: true });
  assert.equal(chip.mode, "halted");
  chip.setSignals({ rts: false });
  chip.setSignals({ rts: true }); // pulled low again before EN crossed its threshold
  await sleep(2 * EN_STRAP_SAMPLE_MS);
  assert.equal(chip.mode, "halted");
  await chip.close();
});

Deno.test("flash file: written through as the chip programs it, and reloaded by the next chip", async () => {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/flash.bin`;
  const { chip, col } = setup({ chip: "esp32", flashFile: file, flashSize: 0x40000 });
  assert.equal((await Deno.readFile(file)).length, 0x40000, "the whole image at power-on");
  transact(chip, col, 0x0d, words(0, 0));
  transact(chip, col, 0x02, words(0x1000, 1, 0x400, 0x2000));
  const block = new Uint8Array(0x400).fill(0x5a);
  let chk = 0xef;
  for (const b of block) chk ^= b;
  const [r] = transact(chip, col, 0x03, Uint8Array.from([...words(0x400, 0, 0, 0), ...block]), chk);
  assert.deepEqual(Array.from(r.data.subarray(0, 2)), [0, 0]);
  // Not closed yet: a process killed now leaves this in the file.
  const onDisk = await Deno.readFile(file);
  assert.ok(onDisk.subarray(0x2000, 0x2400).every((b) => b === 0x5a));
  assert.ok(onDisk.subarray(0x2400, 0x3000).every((b) => b === 0xff));
  await chip.close();
  const again = new VirtualChip({ chip: "esp32", flashFile: file, flashSize: 0x40000 });
  assert.equal(again.flash[0x2000], 0x5a);
  await again.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("USB-Serial/JTAG: esptool's USBJTAGSerialReset enters download, classic sequence does not", async () => {
  const { chip, col } = setup({ chip: "esp32c3", usb: "usb-jtag", startMode: "app" });
  const seq = async (steps: Array<{ dtr?: boolean; rts?: boolean } | number>) => {
    for (const s of steps) {
      if (typeof s === "number") await sleep(s);
      else chip.setSignals(s);
    }
  };
  await seq([
    { rts: false },
    { dtr: false },
    5,
    { dtr: true },
    { rts: false },
    5,
    { rts: true },
    { dtr: false },
    {
      rts: true,
    },
    5,
    { dtr: false },
    { rts: false },
  ]);
  assert.equal(chip.mode, "download");
  col.clear();
  await seq([
    { dtr: false },
    { rts: true },
    5,
    { dtr: true },
    { rts: false },
    5,
    { dtr: false },
    10,
  ]);
  assert.equal(chip.mode, "app");
  // USB-JTAG console reported by UARTDEV_BUF_NO once back in download mode
  await seq([{ rts: false }, { dtr: false }, { dtr: true }, { rts: true }, { dtr: false }, {
    rts: false,
  }]);
  assert.equal(chip.mode, "download");
  assert.equal(readReg(chip, col, 0x3fcdf07c), 3);
  await chip.close();
});

Deno.test("default MAC is stable for a chip and seed, and differs between seeds", async () => {
  const a = new VirtualChip({ chip: "esp32s3", faults: { seed: 1 } });
  const b = new VirtualChip({ chip: "esp32s3", faults: { seed: 1 } });
  const c = new VirtualChip({ chip: "esp32s3", faults: { seed: 2 } });
  assert.equal(a.mac, b.mac);
  assert.notEqual(a.mac, c.mac);
  assert.ok(a.mac.startsWith("7c:df:a1:"));
  await Promise.all([a.close(), b.close(), c.close()]);
});

Deno.test("bad options are usage errors", () => {
  assert.throws(() => new VirtualChip({ chip: "esp32", usb: "usb-jtag" }), /no USB-Serial\/JTAG/);
  assert.throws(() => new VirtualChip({ chip: "esp32s3", revision: "v9.0" }), /does not fit/);
  assert.throws(() => new VirtualChip({ chip: "esp32", flashSize: 3_000_000 }), /power of two/);
  assert.throws(() => new VirtualChip({ chip: "esp99" as "esp32" }), /unknown sim chip/);
});

Deno.test("boot loops run until a reset: the ESP32-C3 repeats 'invalid header', the ESP32 reboots by its RTC watchdog", async () => {
  const c3 = setup({ chip: "esp32c3", firmware: "erased", startMode: "app" });
  await sleep(120);
  assert.ok((c3.col.text().match(/invalid header: 0xffffffff\r\n/g) ?? []).length > 2);
  c3.chip.reset("download");
  c3.col.clear();
  await sleep(120);
  assert.doesNotMatch(c3.col.text(), /invalid header/, "a reset stops the loop");
  await c3.chip.close();
  const esp32 = setup({ chip: "esp32", firmware: "erased", startMode: "app" });
  await sleep(1100);
  assert.match(
    esp32.col.text(),
    /flash read err, 1000\r\nets_main\.c 371 \r\n[\s\S]*rst:0x10 \(RTCWDT_RTC_RESET\),boot:0x13[\s\S]*flash read err, 1000/,
  );
  await esp32.chip.close();
});

Deno.test("a fresh board boots its factory firmware; the sim URL's app lines follow app_main()", async () => {
  const { chip, col } = setup({
    chip: "esp32s3",
    startMode: "app",
    appOutput: ["ready {project} {version}"],
  });
  assert.match(
    col.text(),
    /Project name: {5}sim-factory[\s\S]*main_task: Calling app_main\(\)[^\n]*\nready sim-factory 1\.0\.0\r\n/,
  );
  await chip.close();
});
