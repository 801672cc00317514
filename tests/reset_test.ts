import assert from "node:assert/strict";
import { openSimPort, type SimPort } from "../lib/sim/sim_port.ts";
import { LoaderSession } from "../lib/loader/session.ts";
import {
  classicReset,
  connectStrategies,
  customReset,
  hardReset,
  hardResetStrategy,
  readResetConfig,
  type ResetStrategy,
  unixTightReset,
  usbJtagSerialReset,
} from "../lib/loader/reset.ts";
import { TransportError, UsageError } from "../lib/errors.ts";
import type { SerialSignals, Transport } from "../lib/transport/transport.ts";

/** The sim port, with every setSignals call recorded as "D1 R0" style text. */
function recording(port: SimPort): { t: Transport; calls: string[] } {
  const calls: string[] = [];
  const t: Transport = {
    get path() {
      return port.path;
    },
    get baud() {
      return port.baud;
    },
    get info() {
      return port.info;
    },
    read: (ms) => port.read(ms),
    write: (d) => port.write(d),
    setBaud: (b) => port.setBaud(b),
    setSignals(s: SerialSignals) {
      calls.push(
        [
          s.dtr === undefined ? "" : `D${s.dtr ? 1 : 0}`,
          s.rts === undefined ? "" : `R${s.rts ? 1 : 0}`,
        ].filter(Boolean).join(" "),
      );
      return port.setSignals(s);
    },
    flushInput: () => port.flushInput(),
    close: () => port.close(),
  };
  return { t, calls };
}

/** Run a strategy on a board running its app; return the mode it ends in and the line calls. */
async function bootsInto(
  strategy: ResetStrategy,
  usb: "uart" | "usb-jtag",
  startMode: "app" | "download" = "app",
): Promise<{ mode: string; calls: string[] }> {
  const port = openSimPort({ chip: usb === "usb-jtag" ? "esp32c3" : "esp32", usb, startMode });
  try {
    const { t, calls } = recording(port);
    await strategy.run(t);
    await new Promise((r) => setTimeout(r, 30)); // the chip samples IO0 a few ms after EN rises
    return { mode: port.chip.mode, calls };
  } finally {
    await port.close();
  }
}

Deno.test("classic reset: one line per call, as esptool's ClassicReset; the board enters download mode", async () => {
  const r = await bootsInto(classicReset(), "uart");
  assert.equal(r.mode, "download");
  assert.deepEqual(r.calls, ["D0", "R1", "D1", "R0", "D0"]);
});

Deno.test("unix-tight reset: both lines in every call, as esptool's UnixTightReset; download mode", async () => {
  const r = await bootsInto(unixTightReset(), "uart");
  assert.equal(r.mode, "download");
  assert.deepEqual(r.calls, ["D0 R0", "D1 R1", "D0 R1", "D1 R0", "D0 R0", "D0"]);
});

Deno.test("the USB-Serial/JTAG reset puts a USB-JTAG chip in download mode; esptool's exact order", async () => {
  const r = await bootsInto(usbJtagSerialReset(), "usb-jtag");
  assert.equal(r.mode, "download");
  assert.deepEqual(r.calls, ["R0", "D0", "D1", "R0", "R1", "D0", "R1", "D0", "R0"]);
});

Deno.test("in the virtual chip's USB-JTAG model the classic sequence boots the app, not download mode", async () => {
  // The USB logic sees (1,1) between classic's steps as leaving reset with no
  // download request captured: the app boots. Only the USB-JTAG sequence works.
  assert.equal((await bootsInto(classicReset(), "usb-jtag")).mode, "app");
});

Deno.test("a custom sequence that keeps IO0 high boots the application; esptool's documented ones enter download", async () => {
  assert.equal((await bootsInto(customReset("D0|R1|W0.05|D0|R0|W0.05"), "uart")).mode, "app");
  const classic = await bootsInto(customReset("D0|R1|W0.1|D1|R0|W0.05|D0"), "uart");
  assert.equal(classic.mode, "download");
  assert.deepEqual(classic.calls, ["D0", "R1", "D1", "R0", "D0"]);
  // esptool reset.py's docstring spells both-lines steps U1,1.
  const tight = await bootsInto(customReset("U1,1|U0,1|W0.1|U1,0|W0.05|U0,0"), "uart");
  assert.equal(tight.mode, "download");
  assert.deepEqual(tight.calls, ["D1 R1", "D0 R1", "D1 R0", "D0 R0"]);
  assert.deepEqual((await bootsInto(customReset(" u10 | w0 "), "uart")).calls, ["D1 R0"]);
});

Deno.test("custom sequences: each bad step is a usage error naming the step and the valid forms", () => {
  const cases: [string, RegExp][] = [
    ["X1", /step 1 "X1": unknown command; use D0\/D1/],
    ["D0|D2", /step 2 "D2": D needs 0 or 1/],
    ["Wfast", /the wait must be a number of seconds/],
    ["W-1", /the wait must be a number of seconds/],
    ["W", /the wait must be a number of seconds/],
    ["D0|W1e9", /step 2 "W1e9": a wait of 1e9 s is longer than 10 s/],
    ["W10.5", /a wait of 10.5 s is longer than 10 s/],
    ["U1", /U needs DTR,RTS as two bits, e.g. U1,0/],
    ["", /custom reset sequence is empty/],
  ];
  for (const [bad, message] of cases) {
    assert.throws(
      () => customReset(bad),
      (e) => e instanceof UsageError && message.test(e.message),
      bad,
    );
  }
});

Deno.test("hard reset boots the application, on a bridge and (longer form) on USB-Serial/JTAG", async () => {
  const uart = await bootsInto(hardResetStrategy(), "uart", "download");
  assert.equal(uart.mode, "app");
  assert.deepEqual(uart.calls, ["D0 R1", "R0"]);
  assert.equal((await bootsInto(hardResetStrategy(true), "usb-jtag", "download")).mode, "app");
  // hardReset() picks the USB form from the port's 303a:1001 ids and never throws.
  const port = openSimPort({ chip: "esp32s3", usb: "usb-jtag" });
  try {
    assert.equal(port.chip.mode, "download");
    assert.equal(await hardReset(port, { config: {} }), true);
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(port.chip.mode, "app");
  } finally {
    await port.close();
  }
  const noLines = {
    ...recording(openSimPort({ chip: "esp32" })).t,
    setSignals: () => Promise.reject(new TransportError("E_NO_MODEM_LINES", "pty")),
  };
  // Resolves false: a pty cannot reset, that is not an error; onSkipped says why.
  const skipped: unknown[] = [];
  assert.equal(await hardReset(noLines, { config: {}, onSkipped: (e) => skipped.push(e) }), false);
  assert.equal((skipped[0] as TransportError).code, "E_NO_MODEM_LINES");
  await noLines.close();
});

Deno.test("hardReset: a port that goes away once EN was driven still counts as reset", async () => {
  const base = recording(openSimPort({ chip: "esp32" })).t;
  let calls = 0;
  const vanishing = {
    ...base,
    setSignals: (s: SerialSignals) =>
      ++calls === 1
        ? base.setSignals(s)
        : Promise.reject(new TransportError("E_PORT_GONE", "gone")),
  };
  let skipped = false;
  assert.equal(await hardReset(vanishing, { onSkipped: () => skipped = true }), true);
  assert.equal(skipped, false);
  // A port that fails before any line changed did not reset anything.
  const dead = {
    ...base,
    setSignals: () => Promise.reject(new TransportError("E_PORT_GONE", "gone")),
  };
  assert.equal(await hardReset(dead, { onSkipped: () => skipped = true }), false);
  assert.equal(skipped, true);
  await base.close();
});

Deno.test("custom_hard_reset_sequence from the config replaces the hard reset pulse", async () => {
  const port = openSimPort({ chip: "esp32" });
  try {
    const { t, calls } = recording(port);
    let heldAfter = -1;
    await hardReset(t, {
      config: { customHardResetSequence: "R1|W0.01|R0" },
      onHeld: () => heldAfter = calls.length, // before the last step lets EN go
    });
    assert.deepEqual(calls, ["R1", "R0"]);
    assert.equal(heldAfter, 1);
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
  const jtag = { path: "/dev/ttyACM0", vid: 0x303a, pid: 0x1001 };
  assert.deepEqual(names(connectStrategies("default-reset", jtag, { config: {} })), ["usb-jtag"]);
  assert.deepEqual(
    names(connectStrategies("usb_reset", { path: "/dev/ttyUSB0" }, { config: {} })),
    ["usb-jtag"],
  );
  assert.deepEqual(
    names(
      connectStrategies("default_reset", { path: "/dev/ttyUSB0" }, { config: {}, os: "linux" }),
    ),
    ["unix-tight(50 ms)", "unix-tight(550 ms)", "classic(50 ms)", "classic(550 ms)"],
  );
  for (const [path, os] of [["COM3", "windows"], ["rfc2217://host:4000", "linux"]]) {
    assert.deepEqual(names(connectStrategies("default-reset", { path }, { config: {}, os })), [
      "classic(50 ms)",
      "classic(550 ms)",
    ]);
  }
  assert.deepEqual(
    names(connectStrategies("default_reset", { path: "/dev/ttyUSB0" }, {
      config: { resetDelaySeconds: 0.2 },
      os: "darwin",
    })),
    ["unix-tight(200 ms)", "unix-tight(200 ms)", "classic(200 ms)", "classic(200 ms)"],
    "reset_delay replaces both delays",
  );
  assert.deepEqual(connectStrategies("no_reset", { path: "x" }, { config: {} }), []);
  assert.deepEqual(connectStrategies("no-reset-no-sync", { path: "x" }, { config: {} }), []);
  assert.deepEqual(
    names(connectStrategies("default-reset", jtag, { config: { customResetSequence: "D0|R1" } })),
    ["custom(D0|R1)"],
    "a configured sequence wins, even over USB-JTAG",
  );
  assert.throws(
    () => connectStrategies("hard_reset", { path: "x" }, { config: {} }),
    (e) =>
      e instanceof UsageError &&
      /unknown --before "hard_reset": use one of default-reset/.test(e.message),
  );
});

Deno.test("config files: the first with an [esptool] section wins; keys as esptool spells them", async () => {
  const dir = await Deno.makeTempDir();
  try {
    assert.deepEqual(readResetConfig(dir, { file: `${dir}/none.cfg` }), {});
    assert.deepEqual(readResetConfig(`${dir}/missing`), {});
    await Deno.writeTextFile(`${dir}/setup.cfg`, "[metadata]\nname = x\n"); // no [esptool]: skipped
    await Deno.writeTextFile(
      `${dir}/tox.ini`,
      "[tox]\nx=1\n[esptool]\n# comment\nCustom_Reset_Sequence = D0|R1|W0.1|D1|R0|W0.05|D0\n" +
        "reset_delay: 0.2\ncustom_hard_reset_sequence = R1|W0.1|R0\n[other]\nreset_delay = 9\n",
    );
    assert.deepEqual(readResetConfig(dir), {
      source: `${dir}/tox.ini`,
      customResetSequence: "D0|R1|W0.1|D1|R0|W0.05|D0",
      customHardResetSequence: "R1|W0.1|R0",
      resetDelaySeconds: 0.2,
    });
    // An esptool.cfg with the section wins over tox.ini even with nothing in it; espline.cfg over both.
    await Deno.writeTextFile(`${dir}/esptool.cfg`, "[esptool]\n");
    assert.deepEqual(readResetConfig(dir), { source: `${dir}/esptool.cfg` });
    await Deno.writeTextFile(`${dir}/espline.cfg`, "[esptool]\nreset_delay = 0.5\n");
    assert.equal(readResetConfig(dir).resetDelaySeconds, 0.5);
    // Mistakes name the file.
    await Deno.writeTextFile(`${dir}/espline.cfg`, "[esptool]\nreset_delay = soon\n");
    assert.throws(
      () => readResetConfig(dir),
      (e) =>
        e instanceof UsageError && e.message.startsWith(`${dir}/espline.cfg: reset_delay = "soon"`),
    );
    await Deno.writeTextFile(`${dir}/espline.cfg`, "[esptool]\nreset_delay = 50\n");
    assert.throws(
      () => readResetConfig(dir),
      (e) =>
        e instanceof UsageError &&
        e.message.startsWith(`${dir}/espline.cfg: reset_delay = 50 is longer than 10 s`),
    );
    await Deno.writeTextFile(`${dir}/espline.cfg`, "[esptool]\ncustom_reset_sequence = D0|Q1\n");
    assert.throws(
      () => readResetConfig(dir),
      (e) =>
        e instanceof UsageError &&
        e.message.startsWith(`${dir}/espline.cfg: custom_reset_sequence: custom reset sequence`) &&
        /step 2 "Q1"/.test(e.message),
    );
    assert.deepEqual(readResetConfig(dir, { file: `${dir}/esptool.cfg` }), {
      source: `${dir}/esptool.cfg`,
    });
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
