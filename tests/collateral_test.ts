import assert from "node:assert/strict";
import { connect } from "../lib/device/device.ts";
import type { DeviceEvent } from "../lib/device/events.ts";
import { runOne, type StationEvent } from "../lib/station/runner.ts";
import { openJournal } from "../lib/station/journal.ts";
import { serveTampered } from "./support/tamper_server.ts";

/** FLASH_DEFL_BEGIN (esptool loader.py ESP_FLASH_DEFL_BEGIN). */
const FLASH_DEFL_BEGIN = 0x10;
/** Where its address word sits: request header (8 bytes), then size, blocks, block size. */
const BEGIN_ADDRESS_AT = 8 + 12;
/** A sector of data outside the write that must survive it (an NVS partition, say). */
const KEEP_AT = 0x30000;
const APP_AT = 0x10000;

/** ERASE_REGION (esptool loader.py ESP_ERASE_REGION); its data is address, then size. */
const ERASE_REGION = 0xd1;
const ERASE_SIZE_AT = 8 + 4;

/** Flip `mask` in the size of the first ERASE_REGION. */
function flipFirstEraseSize(mask: number): (request: Uint8Array) => Uint8Array | null {
  let done = false;
  return (req) => {
    if (done || req[0] !== 0 || req[1] !== ERASE_REGION) return null;
    done = true;
    const dv = new DataView(req.buffer, req.byteOffset);
    dv.setUint32(ERASE_SIZE_AT, dv.getUint32(ERASE_SIZE_AT, true) ^ mask, true);
    return req;
  };
}

/** Flip `mask` in the address of the first FLASH_DEFL_BEGIN, as a noisy line would. */
function flipFirstBegin(mask: number): (request: Uint8Array) => Uint8Array | null {
  let done = false;
  return (req) => {
    if (done || req[0] !== 0 || req[1] !== FLASH_DEFL_BEGIN) return null;
    done = true;
    const dv = new DataView(req.buffer, req.byteOffset);
    dv.setUint32(BEGIN_ADDRESS_AT, dv.getUint32(BEGIN_ADDRESS_AT, true) ^ mask, true);
    return req;
  };
}

function board(): Uint8Array {
  const flash = new Uint8Array(KEEP_AT + 0x1000).fill(0xff);
  flash.fill(0x5a, KEEP_AT);
  return flash;
}

function app(): Uint8Array {
  const data = new Uint8Array(0x10000);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0x3f;
  return data;
}

async function station(
  tamper: (r: Uint8Array) => Uint8Array | null,
  data: Uint8Array,
  options: { flash?: Uint8Array; collateralCheck?: "recovered" } = {},
) {
  const server = serveTampered(
    { chip: "esp32c3", firmware: "erased", flash: options.flash ?? board() },
    tamper,
  );
  const dir = await Deno.makeTempDir({ prefix: "espline-collateral-" });
  const events: StationEvent[] = [];
  try {
    await using journal = await openJournal(`${dir}/j.db`);
    const outcome = await runOne(server.url, async ({ device }) => {
      await device.flash([{ address: APP_AT, data, name: "app.bin" }], {
        collateralCheck: options.collateralCheck,
      });
    }, {
      journal,
      connect: { before: "no-reset", after: "no-reset" },
      onEvent: (e) => events.push(e),
    });
    const [record] = await journal.records();
    return { outcome, record, events, chip: server.chip, tampered: server.tampered };
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a begin address flipped on the way and obeyed: the recovered write fails with E_COLLATERAL_DAMAGE naming the range", async () => {
  const data = app();
  // 0x10000 ^ 0x20000 = 0x30000: the data lands on the sector that must survive.
  const r = await station(flipFirstBegin(0x20000), data);
  assert.equal(r.tampered, 1);
  assert.equal(r.outcome.result, "failed");
  assert.equal(r.outcome.error?.code, "E_COLLATERAL_DAMAGE", r.outcome.error?.message ?? "");
  assert.match(r.outcome.error!.message, /0x00020000-0x003fffff/);
  // The region itself was rewritten and verified; the damage is elsewhere.
  assert.deepEqual(r.chip.flash.subarray(APP_AT, APP_AT + data.length), data);
  assert.notEqual(r.chip.flash[KEEP_AT], 0x5a);
  const check = r.events.find((e) => e.type === "collateral-check");
  assert.ok(check && check.type === "collateral-check" && !check.ok);
  assert.deepEqual(check.changed, [{ address: 0x20000, size: 0x3e0000 }]);
  assert.equal(r.record.result, "failed");
  assert.equal(r.record.errorCode, "E_COLLATERAL_DAMAGE");
  const journaled = r.record.events.find((e) => e.kind === "collateral-check");
  assert.match(journaled?.detail ?? "", /CHANGED, checked after a write that needed 1 recovery/);
});

Deno.test("a recovered write that touched nothing else passes, and the report, events and journal say it was checked", async () => {
  const data = app();
  // Bit 31: past the end of the flash, refused by the stub: a recovery, no damage.
  const r = await station(flipFirstBegin(0x80000000), data);
  assert.equal(r.tampered, 1);
  assert.equal(r.outcome.result, "passed", r.outcome.error?.message ?? "");
  assert.equal(r.chip.flash[KEEP_AT], 0x5a);
  const check = r.events.find((e) => e.type === "collateral-check");
  assert.ok(check && check.type === "collateral-check" && check.ok);
  assert.equal(check.recoveries, 1);
  const journaled = r.record.events.find((e) => e.kind === "collateral-check");
  assert.match(journaled?.detail ?? "", /unchanged, checked after a write that needed 1 recovery/);
});

Deno.test("the write report says whether the flash outside the regions was compared", async () => {
  const server = serveTampered({ chip: "esp32c3", firmware: "erased", flash: board() }, () => null);
  try {
    const events: DeviceEvent[] = [];
    await using dev = await connect(server.url, {
      before: "no-reset",
      after: "no-reset",
      onEvent: (e) => events.push(e),
    });
    const region = [{ address: APP_AT, data: app(), name: "app.bin" }];
    const resumed = await dev.flash(region, { resume: true, skipUnchanged: false });
    assert.equal(resumed.collateral?.result, "not-needed");
    assert.deepEqual(resumed.collateral?.ranges, [
      { address: 0, size: APP_AT },
      { address: 0x20000, size: 0x3e0000 },
    ]);
    const always = await dev.flash(region, { resume: true, collateralCheck: "always" });
    assert.equal(always.collateral?.result, "unchanged");
    assert.equal(events.filter((e) => e.type === "collateral-check").length, 1);
    const off = await dev.flash(region, { resume: true, collateralCheck: false });
    assert.equal(off.collateral?.result, "unchecked");
    assert.match(off.collateral?.reason ?? "", /turned off/);
    // Without resume there is no recovery to suspect: nothing is compared or reported.
    assert.equal((await dev.flash(region)).collateral, undefined);
  } finally {
    await server.close();
  }
});

Deno.test("an erase whose size grew on the way fails the board though no recovery was needed (and would pass if only recoveries were followed by a check)", async () => {
  // Old data where the image has a run of 0xFF: the run is erased (ERASE_REGION), not written.
  const flash = board();
  flash.fill(0x11, APP_AT, APP_AT + 0x10000);
  const data = new Uint8Array(0x11000).fill(0xff);
  data.set(app().subarray(0, 0x1000), 0x10000);
  // 0x10000 + 0x20000: the erase runs on to 0x40000, over the sector that must survive.
  const r = await station(flipFirstEraseSize(0x20000), data, { flash });
  assert.equal(r.tampered, 1);
  assert.equal(r.outcome.error?.code, "E_COLLATERAL_DAMAGE", r.outcome.error?.message ?? "");
  assert.match(r.outcome.error!.message, /may erase a run of 0xFF sectors/);
  assert.ok(!r.events.some((e) => e.type === "recovery"), "no recovery was needed");
  const blind = await station(flipFirstEraseSize(0x20000), data, {
    flash,
    collateralCheck: "recovered",
  });
  assert.equal(blind.outcome.result, "passed");
  assert.notEqual(blind.chip.flash[KEEP_AT], 0x5a, "the damage a recovery-only check misses");
});
