import assert from "node:assert/strict";
import { serveSimRfc2217 } from "../lib/sim/rfc2217_server.ts";
import { iacEscape, openRfc2217, TelnetParser } from "../lib/transport/rfc2217.ts";
import { LoaderSession } from "../lib/loader/session.ts";
import { readChipInfo } from "../lib/loader/info.ts";
import {
  classicReset,
  connectStrategies,
  customReset,
  hardReset,
  unixTightReset,
} from "../lib/loader/reset.ts";
import { runCli } from "../lib/cli/main.ts";

Deno.test("IAC escaping and Telnet parsing round-trip 0xFF bytes", () => {
  const data = Uint8Array.from([1, 255, 2, 255, 255]);
  const p = new TelnetParser();
  assert.deepEqual(p.feed(iacEscape(data)), data);
  // Commands are taken out of the data; negotiation requests are recorded.
  assert.deepEqual(
    p.feed(Uint8Array.from([7, 255, 251, 44, 8, 255, 250, 44, 105, 8, 255, 240, 9])),
    Uint8Array.from([7, 8, 9]),
  );
  assert.deepEqual(p.requests, [[251, 44]]);
});

for (const strategy of [classicReset(), unixTightReset()]) {
  Deno.test(`over RFC 2217, ${strategy.name} resets a board running its app into download mode; chip-id works`, async () => {
    const srv = serveSimRfc2217({ chip: "esp32c3", startMode: "app", mac: "58:cf:79:00:22:17" });
    try {
      const t = await openRfc2217(`rfc2217://127.0.0.1:${srv.port}`);
      const s = await LoaderSession.connect(t, { resetStrategies: [strategy], connectAttempts: 2 });
      try {
        assert.equal((await readChipInfo(s)).mac, "58:cf:79:00:22:17");
      } finally {
        await s.close();
      }
    } finally {
      await srv.close();
    }
  });
}

Deno.test("over RFC 2217, a wrong sequence boots the app (its output arrives) and hard reset boots it too", async () => {
  const srv = serveSimRfc2217({ chip: "esp32" });
  try {
    const t = await openRfc2217(`rfc2217://127.0.0.1:${srv.port}`);
    try {
      await customReset("D0|R1|W0.05|R0|W0.05").run(t); // IO0 never pulled low
      let text = "";
      for (let c = await t.read(500); c; c = await t.read(150)) text += new TextDecoder().decode(c);
      assert.match(text, /Hello from espline sim/);
      assert.equal(srv.chip.mode, "app");
      await classicReset().run(t);
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(srv.chip.mode, "download");
      await hardReset(t);
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(srv.chip.mode, "app");
    } finally {
      await t.close();
    }
  } finally {
    await srv.close();
  }
});

Deno.test("CLI over rfc2217://: chip-id, and a write whose data is full of 0xFF bytes verifies", async () => {
  const srv = serveSimRfc2217({ chip: "esp32s3", startMode: "app" });
  const dir = await Deno.makeTempDir();
  try {
    const url = `rfc2217://127.0.0.1:${srv.port}`;
    assert.equal(
      connectStrategies("default_reset", { path: url }, { config: {}, os: "linux" })[0].name,
      "classic(50 ms)",
    );
    let out = "";
    let err = "";
    const sinks = {
      stdout: (t: string) => (out += t),
      stderr: (t: string) => (err += t),
      isTerminal: false,
    };
    assert.equal(await runCli(["-p", url, "chip_id"], { sinks }), 0, err);
    assert.match(out, /Chip type: {10}ESP32-S3/);
    const data = new Uint8Array(40000).map((_, i) => (i % 3 === 0 ? 0xff : i & 0xff));
    await Deno.writeFile(`${dir}/ff.bin`, data);
    out = "";
    assert.equal(
      await runCli(["-p", url, "-b", "460800", "write-flash", "-u", "0x20000", `${dir}/ff.bin`], {
        sinks,
      }),
      0,
      err,
    );
    assert.match(out, /Hash of data verified/);
  } finally {
    await srv.close();
    await Deno.remove(dir, { recursive: true });
  }
});

import { usbJtagSerialReset } from "../lib/loader/reset.ts";

Deno.test("over RFC 2217, the USB-Serial/JTAG reset puts a USB-JTAG chip in download mode", async () => {
  const srv = serveSimRfc2217({ chip: "esp32c6", usb: "usb-jtag", startMode: "app" });
  try {
    const t = await openRfc2217(`rfc2217://127.0.0.1:${srv.port}`);
    const s = await LoaderSession.connect(t, {
      resetStrategies: [usbJtagSerialReset()],
      connectAttempts: 2,
    });
    try {
      assert.equal(s.chip.key, "esp32c6");
    } finally {
      await s.close();
    }
  } finally {
    await srv.close();
  }
});
