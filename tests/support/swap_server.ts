/**
 * A network serial server (`socket://127.0.0.1:PORT`) whose board can be
 * replaced mid-run by another virtual chip: what a station sees when a board
 * is swapped on a fixed port, or when a serial server's slot is re-cabled.
 *
 * The server passes the host's SLIP frames to the current chip one by one,
 * so a test can swap boards at an exact frame (`swapWhen`): with `drop` the
 * TCP connection is closed too (the port "vanishes" and the client opens it
 * again, meeting the new board); with `keep` the connection stays and the
 * new board simply answers from then on.
 *
 * A test double, not the virtual chip's own fault (that lives in lib/sim).
 *
 * @module
 */

import { SlipDecoder, slipEncode } from "../../lib/protocol/slip.ts";
import { VirtualChip, type VirtualChipOptions } from "../../lib/sim/virtual_chip.ts";

/** Options for {@link serveSwappable}. */
export interface SwapServerOptions {
  /** The board on the port at first. */
  first: VirtualChipOptions;
  /** The board that replaces it. */
  second: VirtualChipOptions;
  /** Swap before handing this host frame (a request payload, SLIP removed) to the first board. */
  swapWhen: (frame: Uint8Array, index: number) => boolean;
  /** `drop`: close the connection at the swap (the port vanishes); `keep`: the connection stays. */
  mode: "drop" | "keep";
}

/** A running swap server. */
export interface SwapServer {
  /** `socket://127.0.0.1:PORT`. */
  url: string;
  /** The first board. */
  first: VirtualChip;
  /** The second board. */
  second: VirtualChip;
  /** True once the swap happened. */
  readonly swapped: boolean;
  /** Stop serving and close both chips. */
  close(): Promise<void>;
}

/** Serve `first` over TCP until `swapWhen` says, then `second`. */
export function serveSwappable(options: SwapServerOptions): SwapServer {
  const first = new VirtualChip(options.first);
  const second = new VirtualChip(options.second);
  let current = first;
  let swapped = false;
  let frameIndex = 0;
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const conns = new Set<Deno.Conn>();
  let closed = false;
  // No line speed over a socket: each chip is always heard at its own UART rate.
  for (const chip of [first, second]) chip.onBaudChange((baud) => chip.setHostBaud(baud));

  const serve = async (conn: Deno.Conn) => {
    conns.add(conn);
    let writing = Promise.resolve();
    const send = (bytes: Uint8Array) => {
      writing = writing.then(async () => {
        try {
          for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
        } catch {
          // the client went away
        }
      });
    };
    let chip = current;
    let off = chip.onTransmit(send);
    const decoder = new SlipDecoder();
    const buf = new Uint8Array(65536);
    try {
      reading: for (;;) {
        const n = await conn.read(buf);
        if (n === null) break;
        for (const frame of decoder.push(buf.subarray(0, n))) {
          if (!swapped && options.swapWhen(frame, frameIndex++)) {
            swapped = true;
            current = second;
            if (options.mode === "drop") break reading;
          }
          if (chip !== current) {
            off();
            chip = current;
            off = chip.onTransmit(send);
          }
          chip.setHostBaud(chip.uartBaud);
          chip.receive(slipEncode(frame));
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

  const accepting = (async () => {
    const running = new Set<Promise<void>>();
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
    await Promise.all([...running]);
  })();

  return {
    url: `socket://127.0.0.1:${port}`,
    first,
    second,
    get swapped() {
      return swapped;
    },
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
      await first.close();
      await second.close();
    },
  };
}
