import assert from "node:assert/strict";
import { FAULT_KINDS, FaultInjector } from "./faults.ts";
import { openSimPort, simOptionsFromUrl } from "./sim_port.ts";
import { forgetBoard, onBoardPlugged } from "./replug.ts";
import { VirtualChip } from "./virtual_chip.ts";
import { Collector, request, transact, words } from "../../tests/support/sim_util.ts";
import { SimError } from "./sim_error.ts";

const READ_REG = 0x0a;
const FLASH_DEFL_BEGIN = 0x10;
const ERASE_REGION = 0xd1;

function requestPayload(op: number, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + data.length);
  out[1] = op;
  out[2] = data.length & 0xff;
  out[3] = data.length >> 8;
  out.set(data, 8);
  return out;
}

Deno.test("the later faults draw from their own stream: an old seed's frame faults replay unchanged", () => {
  const old = new FaultInjector({ seed: 90059, corruptRate: 0.03, dropRate: 0.01 });
  const more = new FaultInjector({
    seed: 90059,
    corruptRate: 0.03,
    dropRate: 0.01,
    swapRate: 0.2,
    framingRate: 0.5,
    readRegRate: 0.5,
  });
  for (let i = 0; i < 500; i++) {
    assert.deepEqual(more.frame(20), old.frame(20));
    more.wire(new Uint8Array(10));
    more.answer(requestPayload(READ_REG, words(0)));
  }
});

Deno.test("framing damage inserts, deletes, bursts and breaks escapes, and counts each kind", () => {
  const f = new FaultInjector({ seed: 3, framingRate: 1 });
  const frame = Uint8Array.from([0xc0, 1, 8, 2, 0, 0xdb, 0xdc, 5, 6, 7, 8, 9, 10, 0xc0]);
  let changed = 0;
  for (let i = 0; i < 400; i++) {
    const { bytes, injected } = f.wire(frame);
    assert.equal(injected, 1);
    if (bytes.length !== frame.length || bytes.some((b, k) => b !== frame[k])) changed++;
  }
  for (const kind of ["insert", "delete", "burst", "escape"] as const) {
    assert.ok(f.counts[kind] > 50, `${kind}: ${f.counts[kind]}`);
  }
  // A burst may rewrite bytes with the same values; nearly every frame still differs.
  assert.ok(changed > 390, `changed ${changed}`);
  assert.equal(f.total, 400);
  assert.deepEqual(new FaultInjector({ seed: 3 }).wire(frame).bytes, frame);
});

Deno.test("READ_REG answers get one value bit flipped; other answers pass untouched", () => {
  const f = new FaultInjector({ seed: 1, readRegRate: 1 });
  const answer = Uint8Array.from([1, READ_REG, 2, 0, 0x78, 0x56, 0x34, 0x12, 0, 0]);
  const { payload, injected } = f.answer(answer);
  assert.equal(injected, 1);
  const before = new DataView(answer.buffer).getUint32(4, true);
  const after = new DataView(payload.buffer).getUint32(4, true);
  const diff = (before ^ after) >>> 0;
  assert.ok(diff !== 0 && (diff & (diff - 1)) === 0, "exactly one bit");
  assert.deepEqual(payload.subarray(8), answer.subarray(8));
  const md5 = Uint8Array.from([1, 0x13, 2, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(f.answer(md5).injected, 0);
});

Deno.test("an obeyed command field: one bit of a begin's or erase's address or size flips", () => {
  const f = new FaultInjector({ seed: 5, commandFieldRate: 1 });
  const begin = requestPayload(FLASH_DEFL_BEGIN, words(0x4000, 1, 0x4000, 0x10000));
  const erase = requestPayload(ERASE_REGION, words(0x20000, 0x10000));
  for (const p of [begin, erase]) {
    for (let i = 0; i < 50; i++) {
      const out = f.command(p).payload;
      const changed = [...out.keys()].filter((k) => out[k] !== p[k]);
      assert.equal(changed.length, 1);
      const fields = p[1] === ERASE_REGION ? [8, 9, 10, 11, 12, 13, 14, 15] : [
        8,
        9,
        10,
        11,
        20,
        21,
        22,
        23,
      ];
      assert.ok(fields.includes(changed[0]), `byte ${changed[0]}`);
    }
  }
  assert.equal(f.command(requestPayload(READ_REG, words(0))).injected, 0);
  assert.equal(f.counts.cmdfield, 100);
});

Deno.test("a disconnect is a replug: the same board, flash as it was left, answers the next open", async () => {
  const path = "sim://esp32c3?seed=11&disconnect=1";
  const seen: string[] = [];
  const off = onBoardPlugged((p, chip) => p === path && seen.push(chip.mac));
  const first = openSimPort({ chip: "esp32c3", faults: { seed: 11, disconnectRate: 1 } }, {
    path,
  });
  const chip = first.chip;
  chip.flash.set([1, 2, 3, 4], 0x29000);
  await first.read(50); // banner
  await first.write(request(READ_REG, words(0x40001000)));
  await assert.rejects(first.read(200), (e) => e instanceof SimError && e.code === "E_PORT_GONE");
  assert.equal(chip.comesBack, "same");
  await first.close(); // the board lives on, unplugged
  const again = openSimPort({ chip: "esp32c3", faults: { seed: 11, disconnectRate: 1 } }, {
    path,
  });
  assert.equal(again.chip, chip);
  assert.equal(chip.gone, false);
  assert.deepEqual(Array.from(chip.flash.subarray(0x29000, 0x29004)), [1, 2, 3, 4]);
  assert.match(new TextDecoder().decode((await again.read(50)) ?? new Uint8Array()), /download/);
  assert.equal(chip.stats.faults.disconnect, 1);
  await again.close();
  off();
  assert.deepEqual(seen, [chip.mac, chip.mac]);
  // Without a fault, each open is a new board.
  const fresh = openSimPort({ chip: "esp32c3" }, { path });
  assert.notEqual(fresh.chip, chip);
  await fresh.close();
});

Deno.test("a swap: another board of the same type, another MAC, answers the next open", async () => {
  const path = "sim://esp32?seed=4&swap=1";
  const first = openSimPort({ chip: "esp32", faults: { seed: 4, swapRate: 1 } }, { path });
  const chip = first.chip;
  await first.read(50);
  await first.write(request(READ_REG, words(0x40001000)));
  await assert.rejects(first.read(200), (e) => e instanceof SimError && e.code === "E_PORT_GONE");
  assert.equal(chip.comesBack, "other");
  await first.close();
  const second = openSimPort({ chip: "esp32", faults: { seed: 4, swapRate: 1 } }, { path });
  assert.notEqual(second.chip, chip);
  assert.equal(second.chip.facts.key, "esp32");
  assert.notEqual(second.chip.mac, chip.mac);
  assert.equal(second.chip.mac.slice(0, 8), chip.mac.slice(0, 8), "same OUI");
  await second.close();
  await forgetBoard(path);
});

Deno.test("a power cut during the ROM's FLASH_BEGIN erase leaves some sectors erased and reboots", () => {
  const chip = new VirtualChip({ chip: "esp32", faults: { seed: 2, eraseCutRate: 1 } });
  chip.flash.fill(0x00, 0x10000, 0x20000);
  const col = new Collector(chip);
  transact(chip, col, 0x0d, words(0, 0)); // SPI_ATTACH
  col.clear();
  const answers = transact(chip, col, 0x02, words(0x10000, 16, 0x1000, 0x10000));
  assert.equal(answers.length, 0, "no answer: the power went");
  assert.match(col.text(), /waiting for download/);
  const erased = chip.flash.subarray(0x10000, 0x20000).findIndex((b) => b !== 0xff);
  assert.ok(erased >= 0 && erased % 0x1000 === 0, `first unerased byte at ${erased}`);
  assert.equal(chip.stats.faults.erasecut, 1);
  col.off();
  void chip.close();
});

Deno.test("every fault kind has a counter, zero on a new chip", async () => {
  const chip = new VirtualChip({ chip: "esp32" });
  assert.deepEqual(Object.keys(chip.stats.faults), [...FAULT_KINDS]);
  assert.ok(Object.values(chip.stats.faults).every((n) => n === 0));
  await chip.close();
});

Deno.test("sim:// URLs take the later faults: swap, framing, readreg, erasecut, cmdfield", () => {
  const o = simOptionsFromUrl(
    "sim://esp32?seed=9&swap=0.01&framing=0.02&readreg=0.03&erasecut=0.04&cmdfield=0.05",
  );
  assert.deepEqual(o.faults, {
    seed: 9,
    swapRate: 0.01,
    framingRate: 0.02,
    readRegRate: 0.03,
    eraseCutRate: 0.04,
    commandFieldRate: 0.05,
  });
  assert.throws(() => simOptionsFromUrl("sim://esp32?framing=2"), SimError);
});

Deno.test("vanish=block: a disconnect or swap happens only at the host's flash data blocks", () => {
  const f = new FaultInjector({ seed: 8, disconnectRate: 1, swapRate: 1, vanishOn: "block" });
  assert.equal(f.pass(requestPayload(READ_REG, words(0))).kind, "pass");
  assert.equal(f.pass(Uint8Array.from([1, READ_REG, 2, 0, 0, 0, 0, 0, 0, 0])).kind, "pass");
  const block = f.pass(requestPayload(0x11, words(4, 0, 0, 0, 0)));
  assert.equal(block.kind, "gone");
  assert.equal(simOptionsFromUrl("sim://esp32?vanish=block").faults?.vanishOn, "block");
});
