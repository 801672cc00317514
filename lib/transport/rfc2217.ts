/**
 * `rfc2217://host:port`: a serial port on another machine through a Telnet
 * COM-PORT-OPTION server (ser2net, esp_rfc2217_server, pyserial's
 * rfc2217_server): data with IAC escaping, baud rate and DTR/RTS by
 * subnegotiation, so boards on a remote serial server can be reset and
 * flashed.
 *
 * Protocol facts: RFC 854, RFC 856, RFC 858, RFC 2217.
 *
 * @module
 */

import { TransportError } from "../errors.ts";
import type { PortInfo, SerialSignals, Transport } from "./transport.ts";
import { connectTcp, TcpStream } from "./socket.ts";

const IAC = 255;
const SB = 250;
const SE = 240;
const WILL = 251;
const WONT = 252;
const DO = 253;
const DONT = 254;
const BINARY = 0;
const SGA = 3;
const COM_PORT_OPTION = 44;
/** RFC 2217 commands (client to server). */
const SET_BAUDRATE = 1;
const SET_DATASIZE = 2;
const SET_PARITY = 3;
const SET_STOPSIZE = 4;
const SET_CONTROL = 5;
const PURGE_DATA = 12;
/** SET-CONTROL values and parameter values. */
const DTR_ON = 8;
const DTR_OFF = 9;
const RTS_ON = 11;
const RTS_OFF = 12;
const PARITY_NONE = 1;
const STOPSIZE_1 = 1;
const PURGE_RX = 1;

/** Escape IAC bytes in outgoing data. */
export function iacEscape(data: Uint8Array): Uint8Array {
  let n = 0;
  for (const b of data) if (b === IAC) n++;
  if (n === 0) return data;
  const out = new Uint8Array(data.length + n);
  let j = 0;
  for (const b of data) {
    out[j++] = b;
    if (b === IAC) out[j++] = IAC;
  }
  return out;
}

/** Splits a Telnet stream into data and commands (streaming). */
export class TelnetParser {
  #state: "data" | "iac" | "opt" | "sb" | "sb-iac" = "data";
  #verb = 0;
  /** Negotiation requests seen (verb, option) — the transport answers them. */
  requests: [number, number][] = [];
  /** Feed received bytes; returns the data bytes. */
  feed(chunk: Uint8Array): Uint8Array {
    const out: number[] = [];
    for (const b of chunk) {
      switch (this.#state) {
        case "data":
          if (b === IAC) this.#state = "iac";
          else out.push(b);
          break;
        case "iac":
          if (b === IAC) {
            out.push(IAC);
            this.#state = "data";
          } else if (b === SB) this.#state = "sb";
          else if (b === WILL || b === WONT || b === DO || b === DONT) {
            this.#verb = b;
            this.#state = "opt";
          } else this.#state = "data";
          break;
        case "opt":
          this.requests.push([this.#verb, b]);
          this.#state = "data";
          break;
        case "sb":
          if (b === IAC) this.#state = "sb-iac";
          break;
        case "sb-iac":
          this.#state = b === IAC ? "sb" : "data"; // IAC SE ends it; server answers are not needed
          break;
      }
    }
    return Uint8Array.from(out);
  }
}

/** A serial port reached over RFC 2217. */
export class Rfc2217Transport implements Transport {
  /** The URL. */
  readonly path: string;
  /** Identity. */
  readonly info: PortInfo;
  #stream: TcpStream;
  #conn: Deno.TcpConn;
  #parser: TelnetParser;
  #baud: number;
  #closed = false;

  /** Use {@link openRfc2217}. */
  constructor(path: string, conn: Deno.TcpConn, baud: number) {
    this.path = path;
    this.info = { path };
    this.#conn = conn;
    this.#baud = baud;
    this.#parser = new TelnetParser();
    this.#stream = new TcpStream(conn, (chunk) => {
      const data = this.#parser.feed(chunk);
      this.#answerNegotiation();
      return data;
    });
  }

  /** Current baud rate (set on the remote port). */
  get baud(): number {
    return this.#baud;
  }

  /** Options we have already offered (WILL) or asked for (DO): their echoes need no answer. */
  #willSent = new Set<number>([BINARY, SGA, COM_PORT_OPTION]);
  #doSent = new Set<number>([BINARY, SGA]);

  #answerNegotiation(): void {
    const replies: number[] = [];
    for (const [verb, opt] of this.#parser.requests.splice(0)) {
      const ok = opt === BINARY || opt === SGA || opt === COM_PORT_OPTION;
      if (verb === DO && !this.#willSent.has(opt)) {
        replies.push(IAC, ok ? WILL : WONT, opt);
        if (ok) this.#willSent.add(opt);
      } else if (verb === WILL && !this.#doSent.has(opt)) {
        replies.push(IAC, ok ? DO : DONT, opt);
        if (ok) this.#doSent.add(opt);
      }
    }
    if (replies.length) void this.#raw(Uint8Array.from(replies)).catch(() => {});
  }

  #raw(bytes: Uint8Array): Promise<void> {
    return this.#stream.write(bytes, this.path);
  }

  #command(cmd: number, value: number[]): Promise<void> {
    const body: number[] = [];
    for (const b of value) {
      body.push(b);
      if (b === IAC) body.push(IAC);
    }
    return this.#raw(Uint8Array.from([IAC, SB, COM_PORT_OPTION, cmd, ...body, IAC, SE]));
  }

  /** Negotiate and set the line (called by {@link openRfc2217}). */
  async start(): Promise<void> {
    await this.#raw(Uint8Array.from([
      IAC,
      WILL,
      BINARY,
      IAC,
      DO,
      BINARY,
      IAC,
      WILL,
      SGA,
      IAC,
      DO,
      SGA,
      IAC,
      WILL,
      COM_PORT_OPTION,
    ]));
    await this.setBaud(this.#baud);
    await this.#command(SET_DATASIZE, [8]);
    await this.#command(SET_PARITY, [PARITY_NONE]);
    await this.#command(SET_STOPSIZE, [STOPSIZE_1]);
  }

  /** Read data (Telnet commands removed). */
  read(timeoutMs: number): Promise<Uint8Array | null> {
    if (this.#closed) {
      return Promise.reject(new TransportError("E_PORT_CLOSED", `${this.path} is closed`));
    }
    return this.#stream.read(timeoutMs, this.path);
  }

  /** Write data (IAC escaped). */
  write(data: Uint8Array): Promise<void> {
    return this.#raw(iacEscape(data));
  }

  /** SET-BAUDRATE on the remote port. */
  async setBaud(baud: number): Promise<void> {
    await this.#command(SET_BAUDRATE, [
      (baud >>> 24) & 0xff,
      (baud >>> 16) & 0xff,
      (baud >>> 8) & 0xff,
      baud & 0xff,
    ]);
    this.#baud = baud;
  }

  /** SET-CONTROL for DTR and RTS. */
  async setSignals(signals: SerialSignals): Promise<void> {
    if (signals.dtr !== undefined) {
      await this.#command(SET_CONTROL, [signals.dtr ? DTR_ON : DTR_OFF]);
    }
    if (signals.rts !== undefined) {
      await this.#command(SET_CONTROL, [signals.rts ? RTS_ON : RTS_OFF]);
    }
  }

  /** PURGE-DATA (receive side) remotely and drop what is buffered here. */
  async flushInput(): Promise<void> {
    await this.#command(PURGE_DATA, [PURGE_RX]);
    this.#stream.flush();
  }

  /** Close the connection. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#stream.close();
    void this.#conn;
  }
}

/**
 * Open `rfc2217://host:port`.
 *
 * @example
 * ```ts
 * import { openRfc2217 } from "./rfc2217.ts";
 * const t = await openRfc2217("rfc2217://192.168.1.20:4000", { baud: 115200 });
 * await t.setSignals({ dtr: false, rts: true });
 * await t.close();
 * ```
 */
export async function openRfc2217(
  url: string,
  options: { baud?: number } = {},
): Promise<Rfc2217Transport> {
  const t = new Rfc2217Transport(url, await connectTcp(url), options.baud ?? 115200);
  await t.start();
  return t;
}
