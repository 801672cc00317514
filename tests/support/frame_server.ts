/**
 * A network serial server (`socket://127.0.0.1:PORT`) in front of virtual
 * chips that hands the host's requests over one SLIP frame at a time, each
 * through a `route` function of the test: which chip hears it and what it
 * hears (a changed request, another board), or `"drop"` to close the
 * connection there (the port vanishes). The test doubles built on it pick
 * an exact frame: tests/support/tamper_server.ts, swap_server.ts.
 *
 * @module
 */

import { SlipDecoder, slipEncode } from "../../lib/protocol/slip.ts";
import type { VirtualChip } from "../../lib/sim/virtual_chip.ts";

/** Where one host frame goes: the chip and the request it hears, or close the connection. */
export type FrameRoute = { chip: VirtualChip; frame: Uint8Array } | "drop";

/** A running frame server. */
export interface FrameServer {
  /** `socket://127.0.0.1:PORT`. */
  url: string;
  /** Stop serving, then close every chip. */
  close(): Promise<void>;
}

/**
 * Serve `chips` over TCP. `route(frame, index)` is called for every host
 * frame (payload, SLIP removed; `index` counts frames over all connections).
 * A new connection hears `current()` (the first chip unless said) until a
 * frame goes to another chip; from then on it hears that one.
 */
export function serveFrames(
  chips: VirtualChip[],
  route: (frame: Uint8Array, index: number) => FrameRoute,
  current: () => VirtualChip = () => chips[0],
): FrameServer {
  // No line speed over a socket: each chip is always heard at its own UART rate.
  for (const chip of chips) chip.onBaudChange((baud) => chip.setHostBaud(baud));
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  let frameIndex = 0;
  let closed = false;

  const serve = async (conn: Deno.Conn) => {
    conns.add(conn);
    let writing = Promise.resolve();
    const send = (bytes: Uint8Array) => {
      writing = writing.then(async () => {
        try {
          for (let o = 0; o < bytes.length;) o += await conn.write(bytes.subarray(o));
        } catch {
          // the client went away
        }
      });
    };
    let listening = current();
    let off = listening.onTransmit(send);
    const decoder = new SlipDecoder();
    const buf = new Uint8Array(65536);
    try {
      reading: for (;;) {
        const n = await conn.read(buf);
        if (n === null) break;
        for (const frame of decoder.push(buf.subarray(0, n))) {
          const to = route(frame, frameIndex++);
          if (to === "drop") break reading;
          if (to.chip !== listening) {
            off();
            listening = to.chip;
            off = to.chip.onTransmit(send);
          }
          to.chip.setHostBaud(to.chip.uartBaud);
          to.chip.receive(slipEncode(to.frame));
        }
      }
    } catch {
      // connection reset
    }
    off();
    await writing;
    conns.delete(conn);
    try {
      conn.close();
    } catch {
      // already closed
    }
  };

  const running = new Set<Promise<void>>();
  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        if (closed) {
          conn.close();
          break;
        }
        const p = serve(conn);
        running.add(p);
        p.finally(() => running.delete(p));
      }
    } catch {
      // listener closed
    }
  })();

  return {
    url: `socket://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    async close() {
      if (closed) return;
      closed = true;
      for (const c of conns) {
        try {
          c.close();
        } catch {
          // already closed
        }
      }
      listener.close();
      await accepting;
      await Promise.all([...running]);
      for (const chip of chips) await chip.close();
    },
  };
}
