import assert from "node:assert/strict";
import { openSerialPort } from "../lib/transport/serial_posix.ts";
import { serveSimPty } from "../lib/sim/pty.ts";
import { LoaderSession } from "../lib/loader/session.ts";
import { readChipInfo, readFlashInfo } from "../lib/loader/info.ts";
import { writeFlash } from "../lib/flash/write.ts";
import { readFlash } from "../lib/flash/read.ts";
import { TransportError } from "../lib/errors.ts";
import { runCli } from "../lib/cli/main.ts";

const linux = Deno.build.os === "linux";

Deno.test({
  name: "chip-id, write and verify over a real pty through the FFI serial code",
  ignore: !linux,
  async fn() {
    const pty = serveSimPty({ chip: "esp32s3", mac: "02:11:22:33:44:55" });
    try {
      const port = openSerialPort(pty.path, { baud: 115200 });
      const s = await LoaderSession.connect(port, { connectAttempts: 3 });
      try {
        assert.equal((await readChipInfo(s)).mac, "02:11:22:33:44:55");
        await s.runStub();
        assert.equal(
          await s.changeBaud(921600),
          921600,
          "termios2 sets a fast rate the chip follows",
        );
        assert.equal((await readFlashInfo(s)).size, 4 * 1024 * 1024);
        const data = new Uint8Array(100_000).map((_, i) => (i * 31) & 0xff);
        const r = await writeFlash(s, [{ address: 0x20000, data }]);
        assert.equal(r.verified, true);
        assert.deepEqual(await readFlash(s, { address: 0x20000, size: data.length }), data);
      } finally {
        await s.close();
      }
    } finally {
      await pty.close();
    }
  },
});

Deno.test({
  name: "a second open of a busy port fails with a clear message",
  ignore: !linux,
  async fn() {
    const pty = serveSimPty({ chip: "esp32" });
    try {
      const first = openSerialPort(pty.path);
      try {
        assert.throws(
          () => openSerialPort(pty.path),
          (e) =>
            e instanceof TransportError && e.code === "E_PORT_BUSY" &&
            /is busy: another process holds it/.test(e.message),
        );
      } finally {
        await first.close();
      }
      // Released: it opens again.
      await openSerialPort(pty.path).close();
    } finally {
      await pty.close();
    }
  },
});

/** Start `deno eval CODE` and wait for its first output line. */
async function childWithLine(code: string): Promise<{ line: string; child: Deno.ChildProcess }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", code],
    stdout: "piped",
    stderr: "inherit",
    stdin: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`child ended before printing a line: ${text}`);
    text += value;
  }
  reader.releaseLock();
  return { line: text.split("\n")[0].trim(), child };
}

Deno.test({
  name: "the busy-port message names the program holding the port, not the pty server behind it",
  ignore: !linux,
  async fn() {
    const root = new URL("..", import.meta.url).href;
    // A: serves a virtual chip on a pty (it keeps the slave side open too).
    const server = await childWithLine(
      `import { serveSimPty } from "${root}lib/sim/pty.ts";
       const p = serveSimPty({ chip: "esp32" }); console.log(p.path); setInterval(() => {}, 60_000);`,
    );
    let holder: { line: string; child: Deno.ChildProcess } | null = null;
    try {
      // B: the program that opened the port (a serial monitor left running).
      holder = await childWithLine(
        `import { openSerialPort } from "${root}lib/transport/serial_posix.ts";
         openSerialPort(${
          JSON.stringify(server.line)
        }); console.log("held"); setInterval(() => {}, 60_000);`,
      );
      assert.equal(holder.line, "held");
      let err: unknown = null;
      try {
        openSerialPort(server.line);
      } catch (e) {
        err = e;
      }
      assert.ok(err instanceof TransportError && err.code === "E_PORT_BUSY", String(err));
      assert.equal(err.details.pid, holder.child.pid, err.message);
      assert.match(err.message, new RegExp(`pid ${holder.child.pid}: .*deno`));
      assert.doesNotMatch(err.message, new RegExp(`pid ${server.child.pid}\\b`));
    } finally {
      for (const c of [holder?.child, server.child]) {
        if (!c) continue;
        c.kill("SIGKILL");
        await c.status;
        await c.stdout.cancel().catch(() => {});
      }
    }
  },
});

Deno.test({
  name: "read timeouts return null and leave later bytes to the next read",
  ignore: !linux,
  async fn() {
    const pty = serveSimPty({ chip: "esp32" });
    try {
      const port = openSerialPort(pty.path);
      try {
        while (await port.read(50)) { /* drain the boot banner */ }
        assert.equal(await port.read(30), null);
        pty.chip.reset("download"); // the chip prints its banner again
        let text = "";
        for (let chunk = await port.read(500); chunk; chunk = await port.read(100)) {
          text += new TextDecoder().decode(chunk);
        }
        assert.match(text, /waiting for download/);
      } finally {
        await port.close();
      }
    } finally {
      await pty.close();
    }
  },
});

Deno.test({
  name: "a device vanishing mid-read is a typed E_PORT_GONE, not a hang",
  ignore: !linux,
  async fn() {
    const pty = serveSimPty({ chip: "esp32" });
    const port = openSerialPort(pty.path);
    try {
      while (await port.read(50)) { /* drain */ }
      const pending = port.read(5000);
      setTimeout(() => pty.hangUp(), 50);
      await assert.rejects(pending, (e) => e instanceof TransportError && e.code === "E_PORT_GONE");
    } finally {
      await port.close();
      await pty.close();
    }
  },
});

Deno.test({
  name: "ptys have no modem lines: setSignals says so and connect still works without reset",
  ignore: !linux,
  async fn() {
    const pty = serveSimPty({ chip: "esp32c3" });
    try {
      let out = "";
      let err = "";
      const sinks = {
        stdout: (t: string) => (out += t),
        stderr: (t: string) => (err += t),
        isTerminal: false,
      };
      const code = await runCli(["--port", pty.path, "--after", "no-reset", "read-mac"], { sinks });
      assert.equal(code, 0, err);
      assert.match(out, /^MAC: /m);
      const port = openSerialPort(pty.path);
      await assert.rejects(
        () => port.setSignals({ dtr: true }),
        (e) => e instanceof TransportError && e.code === "E_NO_MODEM_LINES",
      );
      await port.close();
    } finally {
      await pty.close();
    }
  },
});

Deno.test("opening a missing device says what to check", () => {
  assert.throws(
    () => openSerialPort("/dev/ttyUSB-espline-missing"),
    (e) =>
      e instanceof TransportError && e.code === "E_PORT_NOT_FOUND" &&
      /is the board plugged in/.test(e.message),
  );
});

Deno.test({
  name:
    "an open port is not inherited by child processes (close-on-exec), so it cannot stay locked by them",
  ignore: !linux,
  async fn() {
    const pty = serveSimPty({ chip: "esp32" });
    const port = openSerialPort(pty.path);
    try {
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "eval",
          "for (const e of Deno.readDirSync('/proc/self/fd')) { try { console.log(Deno.readLinkSync('/proc/self/fd/' + e.name)); } catch { /* gone */ } }",
        ],
        stdout: "piped",
        stderr: "null",
      }).output();
      const links = new TextDecoder().decode(out.stdout);
      assert.ok(!links.split("\n").includes(pty.path), `child holds ${pty.path}:\n${links}`);
    } finally {
      await port.close();
      await pty.close();
    }
  },
});
