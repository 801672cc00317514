import assert from "node:assert/strict";
import { openSimPort } from "../lib/sim/sim_port.ts";
import { LoaderSession } from "../lib/loader/session.ts";
import { readChipInfo, readFlashInfo } from "../lib/loader/info.ts";
import { SIM_CHIP_KEYS } from "../lib/sim/chip_facts.ts";

const CHIPS = SIM_CHIP_KEYS;

for (const chip of CHIPS) {
  Deno.test(`detects ${chip} and reads its MAC and flash id through the ROM`, async () => {
    const mac = "02:aa:bb:cc:dd:" + (CHIPS.indexOf(chip) + 16).toString(16);
    const port = openSimPort({ chip, mac, flashSize: 8 * 1024 * 1024 });
    const s = await LoaderSession.connect(port, { connectAttempts: 2 });
    try {
      assert.equal(s.chip.key, chip);
      const info = await readChipInfo(s);
      assert.equal(info.mac, mac);
      console.log(chip, info.description, info.features.join(", "), info.crystalMhz);
      const flash = await readFlashInfo(s);
      assert.equal(flash.size, 8 * 1024 * 1024);
    } finally {
      await s.close();
    }
  });
}

import { EsplineError } from "../lib/errors.ts";
import type { Transport } from "../lib/transport/transport.ts";
import { classicReset } from "../lib/loader/reset.ts";

function silentTransport(): Transport & { writes: number } {
  return {
    path: "/dev/silent",
    baud: 115200,
    info: { path: "/dev/silent" },
    writes: 0,
    async read(timeoutMs: number) {
      await new Promise((r) => setTimeout(r, Math.min(timeoutMs, 5)));
      return null;
    },
    write() {
      this.writes++;
      return Promise.resolve();
    },
    setBaud: () => Promise.resolve(),
    setSignals: () => Promise.resolve(),
    flushInput: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
}

Deno.test("a port that never answers fails after the attempts budget with a readable message", async () => {
  const t = silentTransport();
  const err = await LoaderSession.connect(t, { connectAttempts: 3 }).then(
    () => null,
    (e) => e,
  );
  assert.ok(err instanceof EsplineError);
  assert.equal(err.code, "E_CONNECT_FAILED");
  assert.match(err.message, /could not connect to the chip on \/dev\/silent after 3 attempts/);
  assert.match(err.message, /download mode/);
  assert.equal(t.writes, 3 * 5, "five SYNCs per attempt, then it gives up");
});

Deno.test("a chip that boots its application instead of the ROM is told apart", async () => {
  const port = openSimPort({ chip: "esp32", startMode: "app" });
  // A reset sequence that keeps IO0 high boots the app: the banner says so.
  const wrong = {
    name: "wrong",
    async run(t: Transport) {
      await t.setSignals({ dtr: false, rts: true });
      await new Promise((r) => setTimeout(r, 20));
      await t.setSignals({ dtr: false, rts: false });
      await new Promise((r) => setTimeout(r, 30));
    },
  };
  try {
    const err = await LoaderSession.connect(port, { connectAttempts: 1, resetStrategies: [wrong] })
      .then(
        () => null,
        (e) => e,
      );
    assert.ok(err instanceof EsplineError);
    assert.match(err.message, /booted in the wrong mode \(boot:0x\w+\)/);
    // The classic sequence does enter download mode.
    const s = await LoaderSession.connect(port, {
      connectAttempts: 2,
      resetStrategies: [classicReset()],
    });
    assert.equal(s.chip.key, "esp32");
  } finally {
    await port.close();
  }
});

Deno.test("a wrong --chip is refused with the detected chip's name", async () => {
  const port = openSimPort({ chip: "esp32c3" });
  try {
    await assert.rejects(
      () => LoaderSession.connect(port, { chip: "esp32" }),
      (e) =>
        e instanceof EsplineError && e.code === "E_WRONG_CHIP" &&
        /ESP32-C3, not ESP32/.test(e.message),
    );
  } finally {
    await port.close();
  }
});

Deno.test("the stub upload greets, and SYNC later detects an already-running stub", async () => {
  const port = openSimPort({ chip: "esp32s3" });
  const s = await LoaderSession.connect(port);
  await s.runStub();
  assert.equal(s.loader.kind, "stub");
  // A second session on the same line finds the stub already running (esptool's --after no-reset-stub).
  const again = await LoaderSession.connect(port);
  try {
    assert.equal(again.loader.kind, "stub");
  } finally {
    await again.close();
  }
});

Deno.test("changeBaud switches both ends and the link keeps working", async () => {
  const port = openSimPort({ chip: "esp32" });
  const s = await LoaderSession.connect(port);
  try {
    await s.runStub();
    assert.equal(await s.changeBaud(921600), 921600);
    assert.equal(port.baud, 921600);
    assert.equal((await readChipInfo(s)).chip, "esp32");
  } finally {
    await s.close();
  }
});

Deno.test("ESP32-C2 ROM with a 26 MHz crystal: the baud change is scaled so the link keeps working", async () => {
  const port = openSimPort({ chip: "esp32c2", crystalMhz: 26 });
  const s = await LoaderSession.connect(port);
  try {
    assert.equal(await s.changeBaud(460800), 460800);
    assert.equal(port.chip.uartBaud, 460800, "the chip's UART really runs at the wanted rate");
    assert.equal((await readChipInfo(s)).crystalMhz, 26);
  } finally {
    await s.close();
  }
});
