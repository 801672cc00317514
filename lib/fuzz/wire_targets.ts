/**
 * Fuzz targets on the wire, against the virtual chip: the loader session
 * with answers tampered with in ways the session must survive without
 * timing out (so most inputs get past the connect and through a flash read,
 * MD5 and identity reads), the stub's READ_FLASH stream replaced by the
 * input, and the RFC 2217 client (its Telnet parser alone, and the
 * transport against a TCP server that sends the input).
 *
 * The virtual chip is reached through `sim://` URLs (openTransport loads
 * it), so the client code under test is the code a station runs.
 *
 * @module
 */

import { SlipDecoder, slipEncode } from "../protocol/slip.ts";
import { Op, u32le } from "../protocol/packet.ts";
import { TransportError } from "../errors.ts";
import type { PortInfo, SerialSignals, Transport } from "../transport/transport.ts";
import { openTransport } from "../transport/open.ts";
import { setupSession } from "../loader/open_session.ts";
import { readIdentity } from "../loader/identity.ts";
import { readFlash } from "../flash/read.ts";
import { flashMd5, md5Hex } from "../flash/md5.ts";
import { MAX_SUBNEGOTIATION_BYTES, openRfc2217, TelnetParser } from "../transport/rfc2217.ts";
import type { FuzzTarget } from "./harness.ts";

/** SLIP frame end (RFC 1055). */
const END = 0xc0;
/** Response direction byte (esptool docs, serial protocol). */
const RESPONSE = 0x01;
/** Response header: direction, opcode, length (2), value (4). */
const HEADER = 8;
/**
 * Answers changed per input, at most: enough to reach every stage with
 * damage on the way, few enough that the command timeouts some changes
 * cost (a stray answer taken for the real one: 3 s) keep an input short.
 */
const MAX_TAMPERED = 6;

/** A response frame as the loader sends it (direction 1, its length field right). */
function isResponse(frame: Uint8Array): boolean {
  return frame.length >= HEADER + 2 && frame[0] === RESPONSE &&
    (frame[2] | (frame[3] << 8)) === frame.length - HEADER;
}

/**
 * The chip's side of a transport, its answers tampered with as the input
 * says. Each response frame takes the next input byte: below 0x90 it passes
 * as sent; otherwise one change that leaves it a well-formed answer to the
 * same command (so the session is not left waiting): a flipped bit or a new
 * value word, a changed payload or status byte, noise or a stale answer of
 * another command before it, or the answer twice. Once the input is used up
 * (or {@link MAX_TAMPERED} answers were changed) everything passes, so most
 * inputs get past the connect.
 */
/** A transport that passes every call to `inner`; the wrappers below override what they change. */
class WireWrapper implements Transport {
  constructor(protected readonly inner: Transport) {}
  get path(): string {
    return this.inner.path;
  }
  get baud(): number {
    return this.inner.baud;
  }
  get info(): PortInfo {
    return this.inner.info;
  }
  read(timeoutMs: number): Promise<Uint8Array | null> {
    return this.inner.read(timeoutMs);
  }
  write(data: Uint8Array): Promise<void> {
    return this.inner.write(data);
  }
  setBaud(baud: number): Promise<void> {
    return this.inner.setBaud(baud);
  }
  setSignals(signals: SerialSignals): Promise<void> {
    return this.inner.setSignals(signals);
  }
  flushInput(): Promise<void> {
    return this.inner.flushInput();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

class TamperedWire extends WireWrapper {
  readonly #input: Uint8Array;
  #at = 0;
  #frame: number[] | null = null;
  #pending: Uint8Array[] = [];
  /** Answers changed. */
  tampered = 0;

  constructor(inner: Transport, input: Uint8Array) {
    super(inner);
    this.#input = input;
  }

  #next(): number {
    return this.#at < this.#input.length ? this.#input[this.#at++] : 0;
  }

  #word(): number {
    return (this.#next() | (this.#next() << 8) | (this.#next() << 16) | (this.#next() << 24)) >>> 0;
  }

  /** The frame (SLIP-decoded) as it goes out to the host: one or more frames and noise. */
  #tamper(frame: Uint8Array): Uint8Array[] {
    if (!isResponse(frame) || this.#at >= this.#input.length) return [slipEncode(frame)];
    const b = this.#next();
    if (b < 0x90 || this.tampered >= MAX_TAMPERED) return [slipEncode(frame)];
    this.tampered++;
    const f = frame.slice();
    const dv = new DataView(f.buffer);
    switch (b % 8) {
      case 0:
        dv.setUint32(4, dv.getUint32(4, true) ^ (1 << (this.#next() % 32)), true);
        break;
      case 1:
        dv.setUint32(4, this.#word(), true);
        break;
      case 2: // the status bytes and the payload's end
        f[f.length - 1 - (this.#next() % Math.min(4, f.length - HEADER))] = this.#next();
        break;
      case 3:
        f[HEADER + (this.#next() % (f.length - HEADER))] ^= 1 << (this.#next() % 8);
        break;
      case 4: { // noise before it (may hold frame ends: stray frames)
        const noise = Uint8Array.from({ length: 1 + (this.#next() % 24) }, () => this.#next());
        return [noise, slipEncode(f)];
      }
      case 5: { // a stale answer to another command first
        const other = Uint8Array.from([RESPONSE, this.#next(), 2, 0, ...u32le(this.#word()), 0, 0]);
        return [slipEncode(other), slipEncode(f)];
      }
      case 6: // the answer twice, as the ROM repeats answers
        return [slipEncode(f), slipEncode(f)];
      case 7: // the opcode of another command (a stray answer; the real one never comes)
        f[1] ^= 1 << (this.#next() % 8);
        return [slipEncode(f), slipEncode(frame)];
    }
    return [slipEncode(f)];
  }

  /** Split the chip's bytes into noise and frames, tampering with the frames. */
  #filter(chunk: Uint8Array): Uint8Array {
    const out: number[] = [];
    for (const b of chunk) {
      if (this.#frame === null) {
        if (b === END) this.#frame = [];
        else out.push(b);
        continue;
      }
      if (b !== END) {
        this.#frame.push(b);
        continue;
      }
      if (this.#frame.length === 0) continue; // back-to-back ends: the next frame starts here
      const raw = Uint8Array.from([END, ...this.#frame, END]);
      this.#frame = null;
      const d = new SlipDecoder({ maxFrame: 1 << 20 });
      const frames = d.push(raw);
      if (frames.length !== 1) {
        out.push(...raw);
        continue;
      }
      for (const part of this.#tamper(frames[0])) out.push(...part);
    }
    return Uint8Array.from(out);
  }

  override async read(timeoutMs: number): Promise<Uint8Array | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.#pending.length) return this.#pending.shift()!;
      const chunk = await this.inner.read(Math.max(0, deadline - Date.now()));
      if (chunk === null) return null;
      const out = this.#filter(chunk);
      if (out.length) return out;
      if (Date.now() >= deadline) return null;
    }
  }
  override flushInput(): Promise<void> {
    this.#frame = null;
    return this.inner.flushInput();
  }
}

const SESSION_CHIPS = ["esp32", "esp32c3", "esp32s3", "esp32c6", "esp8266"];

/** How far the session inputs got (the test asserts most get past the connect). */
export const sessionProgress = { inputs: 0, connected: 0, finished: 0, tampered: 0 };

/**
 * A loader session with tampered answers (see {@link TamperedWire}):
 * connect (ROM or stub), identity, flash ID, an MD5 and a flash read
 * through to the end, or a typed error. The first input byte picks the
 * chip and whether the stub runs.
 */
export const sessionTarget: FuzzTarget = {
  name: "session",
  budgetMs: 8000,
  quickInputs: 60,
  samples: () => [
    new Uint8Array(0),
    Uint8Array.from([0, 0x90, 0x91, 0x12, 0x34, 0x56, 0x78]),
    Uint8Array.from([1, 0, 0, 0, 0x92, 3, 0xff, 0, 0, 0x95, 7, 1, 2, 3, 4]),
    Uint8Array.from([2, 0, 0x94, 5, END, 1, 2, END, 0, 0x96, 0, 0x97, 3]),
    Uint8Array.from([3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x9b, 1]),
  ],
  async run(input) {
    const pick = input[0] ?? 0;
    const chip = SESSION_CHIPS[pick % SESSION_CHIPS.length];
    const stub = (pick & 0x80) === 0;
    sessionProgress.inputs++;
    const inner = await openTransport(
      `sim://${chip}?firmware=factory&size=1MB&seed=${pick}&romrepeat=${pick & 1}`,
      { baud: 115200 },
    );
    const wire = new TamperedWire(inner, input.subarray(1));
    try {
      const s = await setupSession(wire, { before: "no-reset", stub });
      sessionProgress.connected++;
      await readIdentity(s);
      await s.flashId();
      if (s.loader.md5) await flashMd5(s, { address: 0x8000, size: 0x1000 });
      if (s.loader.readFlash) {
        await readFlash(s, { address: 0x8000, size: 0x300 }, { blockSize: 0x100 });
      }
      sessionProgress.finished++;
    } finally {
      sessionProgress.tampered += wire.tampered;
      await wire.close();
    }
  },
};

/** READ_FLASH request opcode sent by the host, in its SLIP frame: c0 00 d2. */
function isReadFlashRequest(data: Uint8Array): boolean {
  for (let i = 0; i + 2 < data.length; i++) {
    if (data[i] === END && data[i + 1] === 0x00 && data[i + 2] === Op.READ_FLASH) return true;
  }
  return false;
}

/**
 * The chip's side of a transport until the host sends READ_FLASH; from then
 * on the input, in chunks, then the port vanishes.
 */
class ReplayAfterRead extends WireWrapper {
  readonly #input: Uint8Array;
  readonly #rand: () => number;
  #replaying = false;
  #off = 0;

  constructor(inner: Transport, input: Uint8Array, rand: () => number) {
    super(inner);
    this.#input = input;
    this.#rand = rand;
  }
  override read(timeoutMs: number): Promise<Uint8Array | null> {
    if (!this.#replaying) return this.inner.read(timeoutMs);
    if (this.#off >= this.#input.length) {
      return Promise.reject(new TransportError("E_PORT_GONE", "the read-flash input is used up"));
    }
    const n = 1 + Math.floor(this.#rand() * 300);
    const chunk = this.#input.subarray(this.#off, this.#off + n);
    this.#off += n;
    return Promise.resolve(chunk);
  }
  override write(data: Uint8Array): Promise<void> {
    if (this.#replaying) return Promise.resolve(); // acknowledgements go nowhere
    if (isReadFlashRequest(data)) this.#replaying = true;
    return this.inner.write(data);
  }
  override flushInput(): Promise<void> {
    return this.#replaying ? Promise.resolve() : this.inner.flushInput();
  }
}

/** What the read-flash target reads: 4 blocks of 256 bytes of an erased flash. */
const READ_SIZE = 0x400;
const READ_BLOCK = 0x100;

function md5Bytes(data: Uint8Array): Uint8Array {
  return Uint8Array.from(md5Hex(data).match(/../g)!, (h) => parseInt(h, 16));
}

/** The stream a stub sends for the read above: its answer, the blocks, the MD5. */
function readFlashStream(data: Uint8Array, blocks = READ_BLOCK): Uint8Array {
  const parts = [slipEncode(Uint8Array.from([RESPONSE, Op.READ_FLASH, 2, 0, 0, 0, 0, 0, 0, 0]))];
  for (let off = 0; off < data.length; off += blocks) {
    parts.push(slipEncode(data.subarray(off, off + blocks)));
  }
  parts.push(slipEncode(md5Bytes(data)));
  return Uint8Array.from(parts.flatMap((p) => Array.from(p)));
}

/**
 * The stub's READ_FLASH stream (answer, acknowledged blocks, closing MD5)
 * replaced by the input: the read returns the right bytes or fails typed.
 */
export const readFlashTarget: FuzzTarget = {
  name: "read-flash",
  budgetMs: 4000,
  quickInputs: 150,
  samples() {
    const erased = new Uint8Array(READ_SIZE).fill(0xff);
    const mixed = Uint8Array.from({ length: READ_SIZE }, (_, i) => [END, 0xdb, 0xdc, i][i % 4]);
    return [
      readFlashStream(erased),
      readFlashStream(mixed), // escapes in every block (a different MD5: must fail typed)
      (readFlashStream(erased)).subarray(0, 600),
    ];
  },
  async run(input, rand) {
    const inner = await openTransport("sim://esp32c3?firmware=erased&size=256KB", {
      baud: 115200,
    });
    const wire = new ReplayAfterRead(inner, input, rand);
    try {
      const s = await setupSession(wire, { before: "no-reset", stub: true });
      const got = await readFlash(s, { address: 0, size: READ_SIZE }, { blockSize: READ_BLOCK });
      if (got.length !== READ_SIZE) throw new Error(`read returned ${got.length} bytes`);
    } finally {
      await wire.close();
    }
  },
};

/** The Telnet parser alone: data and commands split exactly, memory bounded, no exception. */
export const telnetTarget: FuzzTarget = {
  name: "rfc2217-telnet",
  samples: () => [
    Uint8Array.from([0x41, 255, 255, 255, 253, 44, 255, 251, 0, 0x42]),
    Uint8Array.from([255, 250, 44, 101, 0, 1, 194, 0, 255, 240, 0x43]),
    Uint8Array.from([255, 250, 44, 106, 255, 255, 3, 255, 240, 255, 254, 1, 0x44]),
  ],
  run(input, rand) {
    const p = new TelnetParser();
    const data: number[] = [];
    let off = 0;
    while (off < input.length) {
      const n = 1 + Math.floor(rand() * 16);
      data.push(...p.feed(input.subarray(off, off + n)));
      off += n;
    }
    // The same bytes in one piece give the same data: a command split over chunks is one command.
    const whole = new TelnetParser();
    const once = Array.from(whole.feed(input));
    if (once.join() !== data.join()) throw new Error("chunking changed the data");
    if (data.length > input.length) throw new Error("more data out than bytes in");
    for (const sub of p.subnegotiations) {
      if (sub.length > MAX_SUBNEGOTIATION_BYTES) throw new Error("subnegotiation not bounded");
    }
  },
};

/** Telnet: IAC DO COM-PORT-OPTION, IAC SB COM-PORT-OPTION SET-BAUDRATE-answer 115200 IAC SE. */
const RFC2217_OK = [255, 253, 44, 255, 251, 0, 255, 250, 44, 101, 0, 1, 194, 0, 255, 240];

/**
 * The RFC 2217 client against a server that sends the input (then closes):
 * open (negotiation, baud), DTR/RTS, reads until the data ends: typed
 * errors only, never a hang.
 */
export const rfc2217Target: FuzzTarget = {
  name: "rfc2217",
  budgetMs: 3000,
  quickInputs: 12,
  samples: () => [
    Uint8Array.from([...RFC2217_OK, 0x41, 0x42, 255, 255, 0x43]),
    Uint8Array.from([...RFC2217_OK, 255, 250, 44, 106, 0x10, 255, 240, 0x44]),
    Uint8Array.from([255, 254, 44, 0x45]),
  ],
  async run(input, rand) {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const served = (async () => {
      const conn = await listener.accept();
      try {
        // Paced, so answers can come after the commands they answer: the first bytes (the
        // negotiation) a few at a time, then larger pieces.
        let off = 0;
        while (off < input.length) {
          const n = 1 + Math.floor(rand() * (off < 32 ? 8 : 512));
          await conn.write(input.subarray(off, off + n));
          off += n;
          await new Promise((r) => setTimeout(r, 5));
        }
        // Then stay until the client hangs up, as a server does.
        const sink = new Uint8Array(1024);
        while (await conn.read(sink) !== null) { /* what the client sends */ }
      } catch { /* the client went away */ }
      try {
        conn.close();
      } catch { /* closed */ }
    })();
    try {
      const { port } = listener.addr as Deno.NetAddr;
      const t = await openRfc2217(`rfc2217://127.0.0.1:${port}`, {
        baud: 115200,
        negotiationTimeoutMs: 100,
      });
      try {
        await t.setSignals({ dtr: false, rts: true });
        for (let i = 0; i < 64; i++) {
          const got = await t.read(50);
          if (got === null) break;
        }
      } finally {
        await t.close();
      }
    } finally {
      listener.close();
      await served;
    }
  },
};
