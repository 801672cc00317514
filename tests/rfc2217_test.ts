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
  type ResetStrategy,
  unixTightReset,
  usbJtagSerialReset,
} from "../lib/loader/reset.ts";
import { runCli } from "../lib/cli/main.ts";
import { TransportError } from "../lib/errors.ts";

const IAC = 255, SB = 250, SE = 240, WILL = 251, DO = 253, DONT = 254;

Deno.test("IAC escaping and Telnet parsing round-trip 0xFF bytes, across chunk boundaries", () => {
  const data = Uint8Array.from([1, 255, 2, 255, 255]);
  const p = new TelnetParser();
  assert.deepEqual(p.feed(iacEscape(data)), data);
  // Commands are taken out of the data; negotiation requests and answers are recorded.
  assert.deepEqual(
    p.feed(Uint8Array.from([7, IAC, WILL, 44, 8, IAC, SB, 44, 105, 8, IAC, SE, 9])),
    Uint8Array.from([7, 8, 9]),
  );
  assert.deepEqual(p.requests, [[WILL, 44]]);
  // A SET-BAUDRATE answer whose value holds 0xFF (doubled on the wire), split mid-command.
  const wire = [0x41, IAC, SB, 44, 101, 0, 0, IAC, IAC, IAC, IAC, IAC, SE, IAC, IAC, 0x42];
  const out: number[] = [];
  for (const b of wire) out.push(...p.feed(Uint8Array.of(b)));
  assert.deepEqual(out, [0x41, 0xff, 0x42]);
  assert.deepEqual(p.subnegotiations.at(-1), [44, 101, 0, 0, 0xff, 0xff]);
});

async function until(ok: () => boolean, what: string): Promise<void> {
  for (let i = 0; !ok(); i++) {
    if (i > 2000) throw new Error(`never saw ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * SET-BAUDRATE requests in what a client sent (`IAC SB 44 1 b3 b2 b1 b0 IAC SE`,
 * IAC doubled inside): the rates asked for, in order.
 */
function baudRequests(bytes: number[]): number[] {
  const out: number[] = [];
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (bytes[i] !== IAC || bytes[i + 1] !== SB || bytes[i + 2] !== 44 || bytes[i + 3] !== 1) {
      continue;
    }
    const v: number[] = [];
    let j = i + 4;
    while (j < bytes.length && v.length < 4) {
      if (bytes[j] === IAC && bytes[j + 1] === IAC) j++;
      v.push(bytes[j++]);
    }
    if (v.length === 4) out.push(((v[0] << 24) | (v[1] << 16) | (v[2] << 8) | v[3]) >>> 0);
  }
  return out;
}

/**
 * A hand-made Telnet peer: records what the client sends, answers WILL
 * COM-PORT-OPTION as told and, when it accepts, answers each SET-BAUDRATE
 * (RFC 2217: code 101 with the rate set) with `setBaud(asked)`, or not at
 * all when that returns null.
 */
function fakeServer(
  answer: "accept" | "refuse" | "silent",
  setBaud: (asked: number) => number | null = (asked) => asked,
) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const received: number[] = [];
  let conn: Deno.Conn | null = null;
  const done = (async () => {
    conn = await listener.accept();
    const buf = new Uint8Array(4096);
    for (;;) {
      let n: number | null = null;
      try {
        n = await conn.read(buf);
      } catch {
        break;
      }
      if (n === null) break;
      const before = received.length;
      const bauds = baudRequests(received).length;
      received.push(...buf.subarray(0, n));
      if (answer === "accept") {
        for (const asked of baudRequests(received).slice(bauds)) {
          const set = setBaud(asked);
          if (set === null) continue;
          const body = [24, 16, 8, 0].map((sh) => (set >>> sh) & 0xff).flatMap((b) =>
            b === IAC ? [IAC, IAC] : [b]
          );
          await conn.write(Uint8Array.from([IAC, SB, 44, 101, ...body, IAC, SE]));
        }
      }
      for (let i = Math.max(0, before - 2); i + 2 < received.length; i++) {
        if (received[i] === IAC && received[i + 1] === WILL && received[i + 2] === 44) {
          if (i + 2 >= before && answer !== "silent") {
            await conn.write(Uint8Array.of(IAC, answer === "accept" ? DO : DONT, 44));
          }
        }
      }
    }
    try {
      conn.close();
    } catch { /* closed */ }
  })();
  return {
    url: `rfc2217://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    received,
    send: (bytes: number[]) => conn!.write(Uint8Array.from(bytes)),
    /** Wait until `n` bytes arrived (a guard of 10 s turns a hang into a failure). */
    waitFor(n: number) {
      return until(() => received.length >= n, `${n} bytes, got ${received.length}`);
    },
    waitForSequence(seq: number[]) {
      return until(() => received.join(",").includes(seq.join(",")), `[${seq}] in [${received}]`);
    },
    async close() {
      listener.close();
      await done;
    },
  };
}

Deno.test("on the wire: negotiation, SET-BAUDRATE, SET-CONTROL for DTR/RTS, PURGE-DATA, doubled IAC", async () => {
  const srv = fakeServer("accept");
  try {
    const t = await openRfc2217(srv.url, { baud: 115200 });
    try {
      // The last step of opening: SET-STOPSIZE 1.
      await srv.waitForSequence([IAC, SB, 44, 4, 1, IAC, SE]);
      const afterOpen = srv.received.length;
      const opening = srv.received.slice(0, afterOpen);
      for (const opt of [0, 3, 44]) {
        assert.ok(
          opening.some((b, i) => b === IAC && opening[i + 1] === WILL && opening[i + 2] === opt),
          `WILL ${opt}`,
        );
      }
      assert.ok(opening.some((b, i) => b === IAC && opening[i + 1] === DO && opening[i + 2] === 0));
      // SET-BAUDRATE 115200 = 0x0001C200, then 8N1.
      assert.ok(
        opening.join(",").includes([IAC, SB, 44, 1, 0, 1, 0xc2, 0, IAC, SE].join(",")),
        "SET-BAUDRATE 115200",
      );
      await t.setSignals({ dtr: true, rts: false });
      await t.setBaud(0x00ff00ff); // a value holding 0xFF bytes, to see them doubled
      await t.flushInput();
      await t.write(Uint8Array.of(0xff, 0x01, 0xff));
      const tail = [
        ...[IAC, SB, 44, 5, 8, IAC, SE], // SET-CONTROL DTR on
        ...[IAC, SB, 44, 5, 12, IAC, SE], // SET-CONTROL RTS off
        ...[IAC, SB, 44, 1, 0, 0xff, 0xff, 0, 0xff, 0xff, IAC, SE], // SET-BAUDRATE
        ...[IAC, SB, 44, 12, 1, IAC, SE], // PURGE-DATA receive buffer
        ...[0xff, 0xff, 0x01, 0xff, 0xff], // data, IAC doubled
      ];
      await srv.waitFor(afterOpen + tail.length);
      assert.deepEqual(srv.received.slice(afterOpen), tail);
      assert.equal(t.baud, 0x00ff00ff);
      // From the server: data with a doubled IAC around an answer and a modem-state notice.
      await srv.send([
        0x10,
        IAC,
        IAC,
        IAC,
        SB,
        44,
        105,
        8,
        IAC,
        SE,
        IAC,
        SB,
        44,
        107,
        0x30,
        IAC,
        SE,
        0x11,
      ]);
      let got: number[] = [];
      while (got.length < 3) got = [...got, ...((await t.read(2000)) ?? [])];
      assert.deepEqual(got, [0x10, 0xff, 0x11]);
    } finally {
      await t.close();
    }
  } finally {
    await srv.close();
  }
});

Deno.test("a server that refuses or ignores COM-PORT-OPTION is reported, pointing at socket://", async () => {
  for (const answer of ["refuse", "silent"] as const) {
    const srv = fakeServer(answer);
    try {
      await assert.rejects(
        () => openRfc2217(srv.url, { negotiationTimeoutMs: 300 }),
        (e) =>
          e instanceof TransportError && e.code === "E_RFC2217_UNSUPPORTED" &&
          (answer === "refuse" ? /refused RFC 2217/ : /no Telnet answer/).test(e.message) &&
          /use socket:\/\//.test(e.message),
      );
    } finally {
      await srv.close();
    }
  }
});

Deno.test("a server that sets another baud rate than asked is an error naming both; no answer is taken at its word", async () => {
  const srv = fakeServer(
    "accept",
    (asked) => asked === 921600 ? 460800 : asked === 57600 ? null : asked,
  );
  try {
    const t = await openRfc2217(srv.url, { baud: 115200 });
    try {
      assert.equal(t.baud, 115200);
      await assert.rejects(
        () => t.setBaud(921600),
        (e) =>
          e instanceof TransportError && e.code === "E_BAUD_REFUSED" &&
          /set 460800 baud when asked for 921600/.test(e.message),
      );
      assert.equal(t.baud, 460800, "the transport reports the rate really in force");
      await t.setBaud(57600); // this server does not answer: accepted as asked
      assert.equal(t.baud, 57600);
    } finally {
      await t.close();
    }
  } finally {
    await srv.close();
  }
});

Deno.test("a subnegotiation that never ends does not grow memory without limit", () => {
  const p = new TelnetParser();
  const endless = new Uint8Array(1_000_000).fill(0x41);
  p.feed(Uint8Array.of(IAC, SB, 44, 107));
  for (let i = 0; i < 10; i++) p.feed(endless);
  const data = p.feed(Uint8Array.of(IAC, SE, 0x42));
  assert.deepEqual([...data], [0x42], "data after the cut-off subnegotiation still flows");
  assert.equal(p.subnegotiations.length, 0, "the oversized subnegotiation is dropped");
  assert.equal(p.oversized, 1);
  p.feed(Uint8Array.of(IAC, SB, 44, 101, 0, 1, 0xc2, 0, IAC, SE));
  assert.deepEqual(p.subnegotiations, [[44, 101, 0, 1, 0xc2, 0]], "normal ones are still kept");
});

Deno.test("nothing listening: a clear transport error", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  await assert.rejects(
    () => openRfc2217(`rfc2217://127.0.0.1:${port}`),
    (e) => e instanceof TransportError && e.code === "E_PORT_NOT_FOUND",
  );
});

const downloadStrategies: [ResetStrategy, "uart" | "usb-jtag"][] = [
  [classicReset(), "uart"],
  [unixTightReset(), "uart"],
  [usbJtagSerialReset(), "usb-jtag"],
];
for (const [strategy, usb] of downloadStrategies) {
  Deno.test(`over RFC 2217, ${strategy.name} resets a board running its app into download mode; chip-id works`, async () => {
    const srv = serveSimRfc2217({
      chip: usb === "usb-jtag" ? "esp32c6" : "esp32c3",
      usb,
      startMode: "app",
      mac: "58:cf:79:00:22:17",
    });
    try {
      const t = await openRfc2217(`rfc2217://127.0.0.1:${srv.port}`);
      const s = await LoaderSession.connect(t, { resetStrategies: [strategy], connectAttempts: 2 });
      try {
        const info = await readChipInfo(s);
        assert.equal(info.mac, "58:cf:79:00:22:17");
        assert.equal(s.chip.key, usb === "usb-jtag" ? "esp32c6" : "esp32c3");
      } finally {
        await s.close();
      }
    } finally {
      await srv.close();
    }
  });
}

async function readText(t: { read(ms: number): Promise<Uint8Array | null> }): Promise<string> {
  let text = "";
  for (let c = await t.read(500); c; c = await t.read(150)) text += new TextDecoder().decode(c);
  return text;
}

Deno.test("over RFC 2217, a wrong sequence boots the app (its output arrives) and hard reset boots it too", async () => {
  const srv = serveSimRfc2217({ chip: "esp32" });
  try {
    const t = await openRfc2217(`rfc2217://127.0.0.1:${srv.port}`);
    try {
      await customReset("D0|R1|W0.05|R0|W0.05").run(t); // IO0 never pulled low
      assert.match(await readText(t), /Hello from espline sim/);
      assert.equal(srv.chip.mode, "app");
      await classicReset().run(t);
      assert.match(await readText(t), /waiting for download/);
      assert.equal(srv.chip.mode, "download");
      await hardReset(t, { config: {} });
      assert.match(await readText(t), /Hello from espline sim/);
      assert.equal(srv.chip.mode, "app");
    } finally {
      await t.close();
    }
  } finally {
    await srv.close();
  }
});

Deno.test("over RFC 2217, the USB form of hard reset takes a USB-JTAG chip from download mode to its app", async () => {
  const srv = serveSimRfc2217({ chip: "esp32c3", usb: "usb-jtag" });
  try {
    const t = await openRfc2217(`rfc2217://127.0.0.1:${srv.port}`);
    try {
      assert.equal(srv.chip.mode, "download");
      await hardReset(t, { usesUsb: true, config: {} });
      assert.match(await readText(t), /Hello from espline sim/);
      assert.equal(srv.chip.mode, "app");
    } finally {
      await t.close();
    }
  } finally {
    await srv.close();
  }
});

Deno.test("CLI over rfc2217://: chip-id; 0xFF-heavy data written, verified and read back byte for byte", async () => {
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
    assert.equal(await runCli(["--port", url, "chip_id"], { sinks }), 0, err);
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
    assert.deepEqual(srv.chip.flash.subarray(0x20000, 0x20000 + data.length), data);
    assert.equal(
      await runCli(["-p", url, "read-flash", "0x20000", String(data.length), `${dir}/back.bin`], {
        sinks,
      }),
      0,
      err,
    );
    assert.deepEqual(await Deno.readFile(`${dir}/back.bin`), data);
  } finally {
    await srv.close();
    await Deno.remove(dir, { recursive: true });
  }
});
