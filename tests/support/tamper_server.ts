/**
 * A network serial server (`socket://127.0.0.1:PORT`) in front of one
 * virtual chip that can change the host's requests on the way in: what a
 * corrupted command field looks like when the chip obeys it (an address or
 * size word carries no checksum). The test picks the exact frame and bit.
 *
 * A test double; the virtual chip's own, random, version is its `cmdfield`
 * fault (lib/sim/faults.ts).
 *
 * @module
 */

import { SlipDecoder, slipEncode } from "../../lib/protocol/slip.ts";
import { VirtualChip, type VirtualChipOptions } from "../../lib/sim/virtual_chip.ts";

/** A running tamper server. */
export interface TamperServer {
  /** `socket://127.0.0.1:PORT`. */
  url: string;
  /** The chip behind it. */
  chip: VirtualChip;
  /** Requests changed so far. */
  readonly tampered: number;
  /** Stop serving and close the chip. */
  close(): Promise<void>;
}

/**
 * Serve `options`' chip; every host request (payload, SLIP removed) goes
 * through `tamper`, which returns it changed, or null to pass it as it is.
 */
export function serveTampered(
  options: VirtualChipOptions,
  tamper: (request: Uint8Array) => Uint8Array | null,
): TamperServer {
  const chip = new VirtualChip(options);
  // No line speed over a socket: the chip is always heard at its own UART rate.
  chip.onBaudChange((baud) => chip.setHostBaud(baud));
  let tampered = 0;
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const serve = async (conn: Deno.Conn) => {
    conns.add(conn);
    let writing = Promise.resolve();
    const off = chip.onTransmit((bytes) => {
      writing = writing.then(async () => {
        try {
          for (let o = 0; o < bytes.length;) o += await conn.write(bytes.subarray(o));
        } catch {
          // the client went away
        }
      });
    });
    const decoder = new SlipDecoder();
    const buf = new Uint8Array(65536);
    try {
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) break;
        for (const frame of decoder.push(buf.subarray(0, n))) {
          const changed = tamper(frame.slice());
          if (changed) tampered++;
          chip.setHostBaud(chip.uartBaud);
          chip.receive(slipEncode(changed ?? frame));
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
    chip,
    get tampered() {
      return tampered;
    },
    async close() {
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
      await chip.close();
    },
  };
}
