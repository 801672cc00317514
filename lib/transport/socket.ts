/**
 * `socket://host:port`: a raw TCP connection to a serial server (ser2net,
 * esp-link, the virtual chip's TCP server). No modem lines, no baud rate:
 * the far end owns the UART.
 *
 * @module
 */

import { TransportError, UsageError } from "../errors.ts";
import type { PortInfo, SerialSignals, Transport } from "./transport.ts";

/** Parse `socket://host:port` (or `rfc2217://…`) into host and port. */
export function parseHostPort(url: string): { hostname: string; port: number } {
  const m = /^[a-z0-9]+:\/\/(\[[^\]]+\]|[^:/?]+):(\d+)\/?(\?.*)?$/i.exec(url);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) {
    throw new UsageError(
      `invalid network port "${url}": write it as socket://HOST:PORT, e.g. socket://192.168.1.20:3333`,
    );
  }
  return { hostname: m[1].replace(/^\[|\]$/g, ""), port: Number(m[2]) };
}

/** A chunked byte pipe over a TCP connection, with read timeouts. */
export class TcpStream {
  #conn: Deno.TcpConn;
  #chunks: Uint8Array[] = [];
  #waiter: (() => void) | null = null;
  #ended: Error | null = null;
  #pump: Promise<void>;
  /** Create around an open connection and start reading. */
  constructor(conn: Deno.TcpConn, onData?: (chunk: Uint8Array) => Uint8Array) {
    this.#conn = conn;
    this.#pump = (async () => {
      const buf = new Uint8Array(16384);
      try {
        for (;;) {
          const n = await conn.read(buf);
          if (n === null) break;
          const chunk = onData ? onData(buf.slice(0, n)) : buf.slice(0, n);
          if (chunk.length) this.#chunks.push(chunk);
          this.#waiter?.();
        }
        this.#ended = new Error("closed by the server");
      } catch (e) {
        this.#ended = e instanceof Error ? e : new Error(String(e));
      }
      this.#waiter?.();
    })();
  }
  /** Next bytes, or null after `timeoutMs`; rejects once the connection is gone. */
  async read(timeoutMs: number, what: string): Promise<Uint8Array | null> {
    const deadline = Date.now() + timeoutMs;
    // Wake-ups can carry no data (a Telnet command filtered out): wait again until the deadline.
    while (this.#chunks.length === 0 && !this.#ended) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          this.#waiter = null;
          resolve();
        }, remaining);
        this.#waiter = () => {
          clearTimeout(t);
          this.#waiter = null;
          resolve();
        };
      });
    }
    if (this.#chunks.length) return this.#chunks.shift()!;
    if (this.#ended) {
      throw new TransportError(
        "E_PORT_GONE",
        `${what}: the connection ended (${this.#ended.message})`,
      );
    }
    return null;
  }
  /** Write all bytes. */
  async write(data: Uint8Array, what: string): Promise<void> {
    try {
      let off = 0;
      while (off < data.length) off += await this.#conn.write(data.subarray(off));
    } catch (e) {
      throw new TransportError("E_PORT_GONE", `${what}: write failed (${(e as Error).message})`);
    }
  }
  /** Drop buffered input. */
  flush(): void {
    this.#chunks = [];
  }
  /** Close the connection and wait for the reader. */
  async close(): Promise<void> {
    try {
      this.#conn.close();
    } catch { /* already closed */ }
    await this.#pump;
  }
}

/** Connect with a clear error. */
export async function connectTcp(url: string): Promise<Deno.TcpConn> {
  const { hostname, port } = parseHostPort(url);
  try {
    const conn = await Deno.connect({ hostname, port });
    conn.setNoDelay(true);
    return conn;
  } catch (e) {
    throw new TransportError(
      "E_PORT_NOT_FOUND",
      `cannot connect to ${hostname}:${port} (${
        (e as Error).message
      }): is the serial server running there?`,
    );
  }
}

/** A raw TCP serial connection. */
export class SocketTransport implements Transport {
  /** The URL. */
  readonly path: string;
  /** Identity. */
  readonly info: PortInfo;
  #stream: TcpStream;
  #baud: number;
  #closed = false;
  /** Use {@link openSocket}. */
  constructor(path: string, conn: Deno.TcpConn, baud: number) {
    this.path = path;
    this.info = { path };
    this.#stream = new TcpStream(conn);
    this.#baud = baud;
  }
  /** Nominal baud (the server's UART decides). */
  get baud(): number {
    return this.#baud;
  }
  /** Read with timeout. */
  read(timeoutMs: number): Promise<Uint8Array | null> {
    if (this.#closed) {
      return Promise.reject(new TransportError("E_PORT_CLOSED", `${this.path} is closed`));
    }
    return this.#stream.read(timeoutMs, this.path);
  }
  /** Write. */
  write(data: Uint8Array): Promise<void> {
    return this.#stream.write(data, this.path);
  }
  /** Records the rate; a raw socket cannot change the far UART's speed. */
  setBaud(baud: number): Promise<void> {
    this.#baud = baud;
    return Promise.resolve();
  }
  /** No modem lines over a raw socket. */
  setSignals(_signals: SerialSignals): Promise<void> {
    return Promise.reject(
      new TransportError(
        "E_NO_MODEM_LINES",
        `${this.path} is a raw TCP socket: it cannot drive DTR/RTS (use rfc2217://)`,
      ),
    );
  }
  /** Drop buffered input. */
  flushInput(): Promise<void> {
    this.#stream.flush();
    return Promise.resolve();
  }
  /** Close. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#stream.close();
  }
}

/**
 * Open `socket://host:port`.
 *
 * @example
 * ```ts
 * import { openSocket } from "./socket.ts";
 * const t = await openSocket("socket://127.0.0.1:3333");
 * await t.close();
 * ```
 */
export async function openSocket(
  url: string,
  options: { baud?: number } = {},
): Promise<SocketTransport> {
  return new SocketTransport(url, await connectTcp(url), options.baud ?? 115200);
}
