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
/** The server answers a command with the command's code plus 100 (RFC 2217 "Server to Client"). */
const SERVER_ANSWER_OFFSET = 100;
/**
 * Longest subnegotiation kept. RFC 2217's are a few bytes (SIGNATURE text is
 * the longest); a server that never sends IAC SE must not grow memory
 * without limit: the excess is dropped until the subnegotiation ends.
 */
export const MAX_SUBNEGOTIATION_BYTES = 256;
/** How long setBaud waits for the server's SET-BAUDRATE answer, ms. */
const BAUD_ANSWER_TIMEOUT_MS = 1000;

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

/**
 * Splits a Telnet stream into data and commands (streaming: a command may
 * span chunks). Doubled IAC bytes in data become one 0xFF; subnegotiations
 * (the server's RFC 2217 answers, code + 100, and its notifications) are
 * collected without their IAC doubling.
 *
 * @example
 * ```ts
 * import { TelnetParser } from "./rfc2217.ts";
 * const p = new TelnetParser();
 * p.feed(Uint8Array.from([0x41, 255, 255, 255, 253, 44])); // data [0x41, 0xff]; request [DO, 44]
 * ```
 */
export class TelnetParser {
  #state: "data" | "iac" | "opt" | "sb" | "sb-iac" = "data";
  #verb = 0;
  #sb: number[] = [];
  #sbOverflow = false;
  /** Subnegotiations cut short because they exceeded {@link MAX_SUBNEGOTIATION_BYTES}. */
  oversized = 0;
  /** Negotiation requests seen (verb, option) — the transport answers them. */
  requests: [number, number][] = [];
  /** Subnegotiations seen (option, then its bytes), e.g. `[44, 101, 0, 1, 194, 0]`. */
  subnegotiations: number[][] = [];
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
          } else if (b === SB) {
            this.#sb = [];
            this.#sbOverflow = false;
            this.#state = "sb";
          } else if (b === WILL || b === WONT || b === DO || b === DONT) {
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
          else this.#sbPush(b);
          break;
        case "sb-iac":
          if (b === IAC) {
            this.#sbPush(IAC);
            this.#state = "sb";
          } else {
            // IAC SE ends it (anything else is a protocol error; end it too).
            if (this.#sbOverflow) this.oversized++;
            else this.subnegotiations.push(this.#sb);
            this.#sb = [];
            this.#state = "data";
          }
          break;
      }
    }
    return Uint8Array.from(out);
  }

  #sbPush(b: number): void {
    if (this.#sb.length < MAX_SUBNEGOTIATION_BYTES) this.#sb.push(b);
    else this.#sbOverflow = true;
  }
}

/** Options for {@link openRfc2217}. */
export interface Rfc2217Options {
  /** Baud rate to set on the remote port. Default 115200. */
  baud?: number;
  /** How long to wait for the server to accept COM-PORT-OPTION, ms. Default 3000. */
  negotiationTimeoutMs?: number;
}

/** A serial port reached over RFC 2217. */
export class Rfc2217Transport implements Transport {
  /** The URL. */
  readonly path: string;
  /** Identity. */
  readonly info: PortInfo;
  #stream: TcpStream;
  #parser: TelnetParser;
  #baud: number;
  #closed = false;
  /** The server's answer to our WILL COM-PORT-OPTION: DO (true), DONT (false), none yet. */
  #comPort: boolean | undefined;
  #onComPort: (() => void) | null = null;
  /** Waiting for the server's SET-BAUDRATE answer (the rate it set). */
  #onBaudAnswer: ((baud: number) => void) | null = null;

  /** Use {@link openRfc2217}. */
  constructor(path: string, conn: Deno.TcpConn, baud: number) {
    this.path = path;
    this.info = { path };
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
    // Of the answers to our commands (code + 100) and the notifications, only the
    // baud rate the server actually set matters: the others carry nothing we act on.
    for (const sub of this.#parser.subnegotiations.splice(0)) {
      if (
        sub[0] === COM_PORT_OPTION && sub[1] === SET_BAUDRATE + SERVER_ANSWER_OFFSET &&
        sub.length >= 6
      ) {
        const baud = ((sub[2] << 24) | (sub[3] << 16) | (sub[4] << 8) | sub[5]) >>> 0;
        this.#onBaudAnswer?.(baud);
      }
    }
    for (const [verb, opt] of this.#parser.requests.splice(0)) {
      if (
        opt === COM_PORT_OPTION && (verb === DO || verb === DONT) && this.#comPort === undefined
      ) {
        this.#comPort = verb === DO;
        this.#onComPort?.();
      }
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

  /**
   * Negotiate and set the line (called by {@link openRfc2217}): offer BINARY,
   * SGA and COM-PORT-OPTION, wait until the server accepts COM-PORT-OPTION,
   * then set baud and 8N1.
   */
  async start(negotiationTimeoutMs = 3000): Promise<void> {
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
    if (this.#comPort === undefined) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.#onComPort = null;
          resolve();
        }, negotiationTimeoutMs);
        this.#onComPort = () => {
          clearTimeout(timer);
          this.#onComPort = null;
          resolve();
        };
      });
    }
    if (this.#comPort !== true) {
      throw new TransportError(
        "E_RFC2217_UNSUPPORTED",
        this.#comPort === false
          ? `${this.path}: the server refused RFC 2217 (COM-PORT-OPTION): it cannot set baud or DTR/RTS; ` +
            "if it is a raw TCP bridge, use socket://"
          : `${this.path}: no Telnet answer from the server within ${negotiationTimeoutMs} ms; ` +
            "if it is a raw TCP bridge (ser2net raw mode, esp-link), use socket://",
      );
    }
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

  /**
   * SET-BAUDRATE on the remote port, then wait (up to 1 s) for the server's
   * answer, which names the rate it actually set. A server that set another
   * rate (its UART cannot do the one asked for) is an error: talking on at
   * the wrong speed would only garble. A server that does not answer is
   * taken at its word.
   *
   * @throws {TransportError} `E_BAUD_REFUSED` when the server set another rate.
   */
  async setBaud(baud: number): Promise<void> {
    const answer = new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => {
        this.#onBaudAnswer = null;
        resolve(null);
      }, BAUD_ANSWER_TIMEOUT_MS);
      this.#onBaudAnswer = (set) => {
        clearTimeout(timer);
        this.#onBaudAnswer = null;
        resolve(set);
      };
    });
    try {
      await this.#command(SET_BAUDRATE, [
        (baud >>> 24) & 0xff,
        (baud >>> 16) & 0xff,
        (baud >>> 8) & 0xff,
        baud & 0xff,
      ]);
    } catch (e) {
      this.#onBaudAnswer?.(baud); // settle the wait: nothing will answer a failed write
      await answer;
      throw e;
    }
    const set = await answer;
    if (set !== null && set !== baud) {
      this.#baud = set;
      throw new TransportError(
        "E_BAUD_REFUSED",
        `${this.path}: the serial server set ${set} baud when asked for ${baud}; ` +
          "use a --baud the server's port supports",
        { details: { asked: baud, set } },
      );
    }
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
  }
}

/**
 * Open `rfc2217://host:port` and negotiate the serial line.
 *
 * @throws {TransportError} `E_PORT_NOT_FOUND` (nothing listens there),
 *   `E_RFC2217_UNSUPPORTED` (the server does not do COM-PORT-OPTION).
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
  options: Rfc2217Options = {},
): Promise<Rfc2217Transport> {
  const t = new Rfc2217Transport(url, await connectTcp(url), options.baud ?? 115200);
  try {
    await t.start(options.negotiationTimeoutMs);
  } catch (e) {
    await t.close();
    throw e;
  }
  return t;
}
