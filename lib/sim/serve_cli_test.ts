import assert from "node:assert/strict";
import { DEFAULT_TCP_PORT, parseSimServeArgs, SimUsageError, startSimServe } from "./serve_cli.ts";
import { SimError } from "./sim_error.ts";

Deno.test("sim serve: arguments become a sim:// URL and the servers asked for", () => {
  assert.equal(parseSimServeArgs([]), null, "no arguments: help");
  assert.equal(parseSimServeArgs(["esp32", "--help"]), null);
  const a = parseSimServeArgs(["esp32s3", "--mac", "02:aa:bb:cc:dd:01", "--size", "8MB", "--pty"])!;
  assert.equal(a.url, "sim://esp32s3?mac=02%3Aaa%3Abb%3Acc%3Add%3A01&size=8MB");
  assert.deepEqual([a.tcpPort, a.pty, a.rfc2217Port, a.rfc2217Resets], [
    DEFAULT_TCP_PORT,
    true,
    null,
    "esp",
  ]);
  const b = parseSimServeArgs([
    "sim://esp32?seed=3",
    "--no-tcp",
    "--rfc2217",
    "4000",
    "--rfc2217-resets",
    "direct",
  ])!;
  assert.equal(b.url, "sim://esp32?seed=3");
  assert.deepEqual([b.tcpPort, b.rfc2217Port, b.rfc2217Resets], [null, 4000, "direct"]);
});

Deno.test("sim serve: mistakes are one-line usage errors", () => {
  for (
    const [argv, message] of [
      [["esp32", "--bogus", "1"], /unknown option --bogus/],
      [["--port", "5555"], /the chip comes first/],
      [["esp32", "--port"], /--port needs a TCP port number/],
      [["esp32", "--port", "http"], /--port needs a TCP port number/],
      [["esp32", "--mac"], /--mac needs a value/],
      [["esp32", "--no-tcp"], /nothing to serve/],
      [["esp32", "--rfc2217-resets", "maybe"], /esp or direct/],
    ] as const
  ) {
    assert.throws(
      () => parseSimServeArgs([...argv]),
      (e) => e instanceof SimUsageError && message.test(e.message),
    );
  }
});

Deno.test("sim serve: a flash file that cannot work is refused before anything is served", () => {
  const args = parseSimServeArgs([
    "esp32",
    "--port",
    "0",
    "--flash",
    "/nonexistent-dir/x/flash.bin",
  ])!;
  assert.throws(
    () => startSimServe(args),
    (e) =>
      e instanceof SimError && e.code === "E_SIM_FLASH_FILE" &&
      /\/nonexistent-dir\/x does not exist/.test(e.message),
  );
});

Deno.test("sim serve: one chip on TCP and RFC 2217 at once; the summary names both and the commands", async () => {
  const serve = startSimServe(
    parseSimServeArgs(["esp32c3", "--port", "0", "--rfc2217", "0", "--mac", "58:cf:79:00:00:77"])!,
  );
  try {
    const tcp = /socket:\/\/127\.0\.0\.1:(\d+)/.exec(serve.summary);
    const rfc = /rfc2217:\/\/127\.0\.0\.1:(\d+)\?ign_set_control/.exec(serve.summary);
    assert.ok(tcp && rfc, serve.summary);
    assert.match(serve.summary, /MAC 58:cf:79:00:00:77/);
    assert.match(serve.summary, /esptool --port socket:\/\/127\.0\.0\.1:\d+ chip-id/);
    assert.match(
      serve.summary,
      /deno task cli --port socket:\/\/127\.0\.0\.1:\d+ --before no-reset chip-id/,
    );
    // A SYNC over the TCP port reaches the chip the summary describes.
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(tcp[1]) });
    const sync = [0x07, 0x07, 0x12, 0x20, ...new Array(32).fill(0x55)];
    await conn.write(Uint8Array.from([0xc0, 0x00, 0x08, 0x24, 0x00, 0, 0, 0, 0, ...sync, 0xc0]));
    const buf = new Uint8Array(512);
    let got = "";
    while (!got.includes("\xc0\x01\x08")) {
      const n = await conn.read(buf);
      if (n === null) break;
      got += String.fromCharCode(...buf.subarray(0, n));
    }
    conn.close();
    assert.ok(got.includes("\xc0\x01\x08"), "a SYNC answer");
  } finally {
    await serve.close();
  }
});
