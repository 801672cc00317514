/**
 * Serve one {@link VirtualChip} over raw TCP, the way esptool's `socket://`
 * and ser2net-style bridges expect: bytes in, bytes out, no modem lines.
 * One client at a time; a new connection replaces the old one. The host's
 * baud follows the chip's UART (a raw socket carries no line speed).
 *
 * @module
 */

import { VirtualChip, type VirtualChipOptions } from "./virtual_chip.ts";
import { PacedLink } from "./wire.ts";

/** Where to listen. */
export interface SimTcpListenOptions {
  /** Interface to bind; default "127.0.0.1". */
  hostname?: string;
  /** TCP port; default 0 (pick a free one). */
  port?: number;
}

/** A running TCP server for a virtual chip. */
export interface SimTcpServer {
  /** The bound port. */
  port: number;
  /** The chip being served. */
  chip: VirtualChip;
  /** Stop listening, drop the client and close the chip if the server made it (persists its flash file). */
  close(): Promise<void>;
}

/**
 * Serve a virtual chip over TCP: a new one from `options` (closed with the
 * server) or an existing one (left open).
 *
 * @example
 * ```ts
 * import { serveSimTcp } from "./tcp_server.ts";
 * const server = serveSimTcp({ chip: "esp32" }, { port: 0 });
 * // esptool --port socket://127.0.0.1:<server.port> --before no-reset chip-id
 * await server.close();
 * ```
 */
export function serveSimTcp(
  options: VirtualChipOptions | VirtualChip,
  listen: SimTcpListenOptions = {},
): SimTcpServer {
  const owned = !(options instanceof VirtualChip);
  const chip = options instanceof VirtualChip ? options : new VirtualChip(options);
  const listener = Deno.listen({
    hostname: listen.hostname ?? "127.0.0.1",
    port: listen.port ?? 0,
  });
  const port = (listener.addr as Deno.NetAddr).port;
  let current: { conn: Deno.Conn; links: PacedLink[]; off: () => void } | null = null;
  let closed = false;
  const pumps = new Set<Promise<void>>();

  const dropClient = () => {
    if (!current) return;
    const c = current;
    current = null;
    c.off();
    for (const l of c.links) l.close();
    try {
      c.conn.close();
    } catch {
      // already closed
    }
  };
  const offGone = chip.onGone(() => dropClient());
  // A raw socket carries no line speed: the host is taken to start at 115200
  // and to follow every CHANGE_BAUDRATE it requests (as esptool does).
  let hostBaud = 115200;
  const offBaud = chip.onBaudChange((baud) => {
    hostBaud = baud;
    chip.setHostBaud(baud);
  });

  const serveConn = async (conn: Deno.Conn) => {
    dropClient();
    // Unplugged by a disconnect fault: a new connection is the board plugged back in.
    if (chip.comesBack === "same") chip.plugIn();
    try {
      (conn as Deno.TcpConn).setNoDelay(true);
    } catch {
      // not a TCP connection
    }
    const linkOpts = {
      pace: chip.options.pace,
      latencyMs: chip.options.latencyMs,
      baud: () => hostBaud,
    };
    let writing = Promise.resolve();
    const toHost = new PacedLink(linkOpts, (bytes) => {
      writing = writing.then(async () => {
        try {
          let off = 0;
          while (off < bytes.length) off += await conn.write(bytes.subarray(off));
        } catch {
          // client went away
        }
      });
    });
    const toDevice = new PacedLink(linkOpts, (bytes) => {
      chip.setHostBaud(hostBaud);
      chip.receive(bytes);
    });
    const off = chip.onTransmit((bytes) => void toHost.send(bytes));
    const me = { conn, links: [toHost, toDevice], off };
    current = me;
    const buf = new Uint8Array(65536);
    try {
      while (!closed && current === me) {
        const n = await conn.read(buf);
        if (n === null) break;
        await toDevice.send(buf.slice(0, n));
      }
    } catch {
      // connection reset
    }
    if (current === me) dropClient();
    await writing;
  };

  const acceptLoop = (async () => {
    try {
      for await (const conn of listener) {
        if (closed) {
          conn.close();
          break;
        }
        const p = serveConn(conn);
        pumps.add(p);
        p.finally(() => pumps.delete(p));
      }
    } catch {
      // listener closed
    }
  })();

  return {
    port,
    chip,
    async close() {
      if (closed) return;
      closed = true;
      offGone();
      offBaud();
      dropClient();
      try {
        listener.close();
      } catch {
        // already closed
      }
      await acceptLoop;
      await Promise.all([...pumps]);
      if (owned) await chip.close();
    },
  };
}
