import assert from "node:assert/strict";
import { serveSimTcp } from "../lib/sim/tcp_server.ts";
import { runCli } from "../lib/cli/main.ts";
import { openTransport } from "../lib/transport/open.ts";
import { TransportError, UsageError } from "../lib/errors.ts";

function sinks() {
  const s = {
    out: "",
    err: "",
    stdout: (t: string) => (s.out += t),
    stderr: (t: string) => (s.err += t),
    isTerminal: false,
  };
  return s;
}

Deno.test("socket:// reaches a virtual chip served over TCP: read-mac and a verified write", async () => {
  const server = serveSimTcp({ chip: "esp32c6", mac: "40:4c:ca:00:00:77" }, {
    hostname: "127.0.0.1",
    port: 0,
  });
  const dir = await Deno.makeTempDir();
  try {
    const url = `socket://127.0.0.1:${server.port}`;
    let s = sinks();
    assert.equal(
      await runCli(["-p", url, "--after", "no-reset", "read-mac"], { sinks: s }),
      0,
      s.err,
    );
    assert.match(s.out, /^BASE MAC: +40:4c:ca:00:00:77$/m);
    await Deno.writeFile(`${dir}/app.bin`, new Uint8Array(20000).map((_, i) => i % 251));
    s = sinks();
    assert.equal(
      await runCli([
        "-p",
        url,
        "--before",
        "no_reset",
        "--after",
        "no_reset",
        "write_flash",
        "0x10000",
        `${dir}/app.bin`,
      ], {
        sinks: s,
      }),
      0,
      s.err,
    );
    assert.match(s.out, /Hash of data verified/);
    // The default --after hard-reset cannot happen on a raw socket: it says so and why, and does
    // not claim esptool's "Hard resetting via RTS pin...".
    s = sinks();
    assert.equal(await runCli(["-p", url, "--before", "no-reset", "read-mac"], { sinks: s }), 0);
    assert.match(
      s.err,
      /^Warning: Hard reset skipped: socket:\/\/127\.0\.0\.1:\d+ is a raw TCP socket: it cannot drive DTR\/RTS \(use rfc2217:\/\/\); the chip stays in its loader until it is reset by hand/m,
    );
    assert.doesNotMatch(s.out, /Hard resetting via RTS pin/);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bad and unreachable network ports are typed errors", async () => {
  await assert.rejects(
    () => openTransport("socket://nohost"),
    (e) => e instanceof UsageError && /socket:\/\/HOST:PORT/.test(e.message),
  );
  await assert.rejects(
    () => openTransport("socket://127.0.0.1:1"),
    (e) => e instanceof TransportError && e.code === "E_PORT_NOT_FOUND",
  );
  await assert.rejects(
    () => openTransport("ftp://x:1"),
    (e) => e instanceof UsageError && e.code === "E_PORT_UNSUPPORTED",
  );
});
