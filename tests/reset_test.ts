import assert from "node:assert/strict";
import { openSimPort } from "../lib/sim/sim_port.ts";
import { LoaderSession } from "../lib/loader/session.ts";
import {
  classicReset,
  connectStrategies,
  customReset,
  hardReset,
  readResetConfig,
  type ResetStrategy,
  unixTightReset,
  usbJtagSerialReset,
} from "../lib/loader/reset.ts";
import { UsageError } from "../lib/errors.ts";

async function bootsInto(strategy: ResetStrategy, usb: "uart" | "usb-jtag"): Promise<string> {
  const port = openSimPort({
    chip: usb === "usb-jtag" ? "esp32c3" : "esp32",
    usb,
    startMode: "app",
  });
  try {
    await strategy.run(port);
    await new Promise((r) => setTimeout(r, 30));
    return port.chip.mode;
  } finally {
    await port.close();
  }
}

Deno.test("classic and unix-tight resets put a dev board (auto-reset circuit) in download mode", async () => {
  assert.equal(await bootsInto(classicReset(), "uart"), "download");
  assert.equal(await bootsInto(unixTightReset(), "uart"), "download");
});

Deno.test("the USB-Serial/JTAG reset puts a USB-JTAG chip in download mode", async () => {
  assert.equal(await bootsInto(usbJtagSerialReset(), "usb-jtag"), "download");
});

Deno.test("a custom sequence that keeps IO0 high boots the application; esptool's classic one enters download", async () => {
  assert.equal(await bootsInto(customReset("D0|R1|W0.05|D0|R0|W0.05"), "uart"), "app");
  assert.equal(await bootsInto(customReset("D0|R1|W0.1|D1|R0|W0.05|D0"), "uart"), "download");
});

Deno.test("hard reset boots the application from download mode", async () => {
  const port = openSimPort({ chip: "esp32" });
  try {
    assert.equal(port.chip.mode, "download");
    await hardReset(port);
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(port.chip.mode, "app");
  } finally {
    await port.close();
  }
});

Deno.test("connect() alternates strategies and gets through with each kind of port", async () => {
  for (const usb of ["uart", "usb-jtag"] as const) {
    const port = openSimPort({ chip: "esp32s3", usb, startMode: "app" });
    try {
      const s = await LoaderSession.connect(port, {
        resetStrategies: connectStrategies("default_reset", port.info, { config: {} }),
      });
      assert.equal(s.chip.key, "esp32s3");
    } finally {
      await port.close();
    }
  }
});

Deno.test("strategy choice follows esptool: USB-JTAG for 303a:1001, unix-tight then classic elsewhere", () => {
  const names = (s: ResetStrategy[]) => s.map((x) => x.name);
  assert.deepEqual(
    names(
      connectStrategies("default-reset", { path: "/dev/ttyACM0", vid: 0x303a, pid: 0x1001 }, {
        config: {},
      }),
    ),
    [
      "usb-jtag",
    ],
  );
  assert.deepEqual(
    names(connectStrategies("usb_reset", { path: "/dev/ttyUSB0" }, { config: {} })),
    ["usb-jtag"],
  );
  assert.deepEqual(
    names(
      connectStrategies("default_reset", { path: "/dev/ttyUSB0" }, { config: {}, os: "linux" }),
    ),
    [
      "unix-tight(50 ms)",
      "unix-tight(550 ms)",
      "classic(50 ms)",
      "classic(550 ms)",
    ],
  );
  assert.deepEqual(
    names(connectStrategies("default-reset", { path: "COM3" }, { config: {}, os: "windows" })),
    [
      "classic(50 ms)",
      "classic(550 ms)",
    ],
  );
  assert.deepEqual(connectStrategies("no_reset", { path: "x" }), []);
  assert.deepEqual(
    names(
      connectStrategies("default-reset", { path: "x" }, {
        config: { customResetSequence: "D0|R1" },
      }),
    ),
    [
      "custom(D0|R1)",
    ],
  );
});

Deno.test("custom sequences: bad steps are usage errors; the config file is read", async () => {
  for (const bad of ["X1", "D2", "Wfast", "U1", ""]) {
    assert.throws(() => customReset(bad), UsageError, bad);
  }
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/tox.ini`,
      "[tox]\nx=1\n[esptool]\ncustom_reset_sequence = D0|R1|W0.1|D1|R0|W0.05|D0\nreset_delay = 0.2\n",
    );
    assert.deepEqual(readResetConfig(dir), {
      customResetSequence: "D0|R1|W0.1|D1|R0|W0.05|D0",
      resetDelaySeconds: 0.2,
    });
    assert.deepEqual(readResetConfig(`${dir}/missing`), {});
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

import { watchdogReset } from "../lib/loader/open_session.ts";
import { chipByKey } from "../lib/chips/index.ts";

Deno.test("watchdog reset programs the RTC watchdog as esptool does (unlock, timeout, enable, lock)", async () => {
  const port = openSimPort({ chip: "esp32c3" });
  const s = await LoaderSession.connect(port);
  try {
    await watchdogReset(s);
    const wdt = chipByKey("esp32c3").rtcWatchdog!;
    assert.equal(await s.readReg(wdt.config1), 2000);
    assert.equal(await s.readReg(wdt.config0), ((1 << 31) | (5 << 28) | (1 << 8) | 2) >>> 0);
    assert.equal(await s.readReg(wdt.protect), 0, "locked again");
  } finally {
    await s.close();
  }
});
