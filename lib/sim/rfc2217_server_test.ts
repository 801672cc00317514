import assert from "node:assert/strict";
import { serveSimRfc2217 } from "./rfc2217_server.ts";
import { gather, type Gathered } from "../../tests/support/sim_util.ts";

const IAC = 255;
const SB = 250;
const SE = 240;
/** RFC 2217 SET-CONTROL with a value (8/9 DTR on/off, 11/12 RTS on/off). */
const setControl = (v: number) => Uint8Array.from([IAC, SB, 44, 5, v, IAC, SE]);

/** What the server sent in the next `ms`, as latin-1 text. */
async function textIn(rx: Gathered, ms: number): Promise<string> {
  await new Promise((r) => setTimeout(r, ms));
  return new TextDecoder("latin1").decode(rx.take());
}

Deno.test("RFC 2217 'esp' resets: DTR on starts a download reset run by the server; nothing is acknowledged", async () => {
  const srv = serveSimRfc2217({ chip: "esp32", startMode: "app" }, { resets: "esp" });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: srv.port });
  const rx = gather(conn);
  try {
    await conn.write(setControl(9)); // DTR off: swallowed
    await conn.write(setControl(8)); // DTR on: the server's own ClassicReset
    const text = await textIn(rx, 400);
    assert.match(text, /waiting for download/);
    assert.ok(!text.includes(String.fromCharCode(IAC, SB, 44, 105)), "no SET-CONTROL answer");
    assert.equal(srv.chip.mode, "download");
    await conn.write(setControl(9)); // DTR off ends the download state
    await conn.write(setControl(12)); // RTS off: the server's hard reset
    assert.match(await textIn(rx, 400), /SPI_FAST_FLASH_BOOT/);
    assert.equal(srv.chip.mode, "app");
  } finally {
    conn.close();
    await rx.done;
    await srv.close();
  }
});

Deno.test("RFC 2217 'direct' resets: each line change is applied at once and acknowledged", async () => {
  const srv = serveSimRfc2217({ chip: "esp32", startMode: "app" }, { resets: "direct" });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: srv.port });
  const rx = gather(conn);
  try {
    await conn.write(setControl(11)); // RTS on: EN low at once
    const answer = await textIn(rx, 200);
    assert.ok(
      answer.includes(String.fromCharCode(IAC, SB, 44, 105, 11)),
      "acknowledged with its value",
    );
    assert.equal(srv.chip.mode, "halted");
  } finally {
    conn.close();
    await rx.done;
    await srv.close();
  }
});
