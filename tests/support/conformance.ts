/**
 * Conformance runs: the same bytes sent to Espressif's genuine ROM (in the
 * emulator, over raw TCP) and to the virtual chip, the answers cut into SLIP
 * frames and text and compared field by field.
 *
 * A recording ({@link Recording}) holds, per case, the boot output and for
 * every step the request bytes and the raw answer bytes; it is what
 * `tests/fixtures/rom/*.json` store, so the comparison also runs as a replay
 * against the virtual chip when the emulator is absent.
 *
 * Host-side SLIP handling here is written apart from both lib/protocol and
 * lib/sim, so neither side's codec is trusted by the test.
 *
 * @module
 */

import { VirtualChip, type VirtualChipOptions } from "../../lib/sim/virtual_chip.ts";
import { type RomChip, startRom } from "./rom.ts";

// ------------------------------------------------------------ bytes on the wire

/** Bytes as lowercase hex. */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Hex back to bytes. */
export function fromHex(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Little-endian 32-bit words. */
export function le(...words: number[]): number[] {
  return words.flatMap((w) => [w & 0xff, (w >>> 8) & 0xff, (w >>> 16) & 0xff, (w >>> 24) & 0xff]);
}

/** SLIP-frame a payload (C0, escaped body, C0). */
export function slipFrame(payload: ArrayLike<number>): Uint8Array {
  const out = [0xc0];
  for (let i = 0; i < payload.length; i++) {
    const b = payload[i];
    if (b === 0xc0) out.push(0xdb, 0xdc);
    else if (b === 0xdb) out.push(0xdb, 0xdd);
    else out.push(b);
  }
  out.push(0xc0);
  return Uint8Array.from(out);
}

/** The protocol's data checksum (XOR seeded with 0xEF). */
export function dataChecksum(data: ArrayLike<number>): number {
  let c = 0xef;
  for (let i = 0; i < data.length; i++) c ^= data[i];
  return c;
}

/** Options for {@link request}. */
export interface RequestOptions {
  /** Checksum word; default 0. */
  checksum?: number;
  /** Length field; default the data's length (set it to send a lying header). */
  size?: number;
  /** Direction byte; default 0 (request). */
  direction?: number;
}

/** A SLIP-framed request: direction, opcode, length, checksum word, data. */
export function request(
  op: number,
  data: ArrayLike<number> = [],
  options: RequestOptions = {},
): Uint8Array {
  const size = options.size ?? data.length;
  const chk = options.checksum ?? 0;
  return slipFrame([
    options.direction ?? 0,
    op,
    size & 0xff,
    (size >> 8) & 0xff,
    ...le(chk),
    ...Array.from(data),
  ]);
}

/** One thing the chip sent: a SLIP frame, or bytes outside frames (text). */
export type AnswerItem =
  | { kind: "frame"; bytes: Uint8Array }
  | { kind: "text"; text: string };

/** Cut received bytes into frames and the text between them (latin-1). */
export function splitAnswer(bytes: Uint8Array): AnswerItem[] {
  const items: AnswerItem[] = [];
  let text: number[] = [];
  let frame: number[] | null = null;
  let esc = false;
  const flushText = () => {
    if (text.length) items.push({ kind: "text", text: String.fromCharCode(...text) });
    text = [];
  };
  for (const b of bytes) {
    if (frame === null) {
      if (b === 0xc0) {
        flushText();
        frame = [];
      } else text.push(b);
      continue;
    }
    if (b === 0xc0) {
      if (frame.length) {
        items.push({ kind: "frame", bytes: Uint8Array.from(frame) });
        frame = null;
      }
      continue;
    }
    if (esc) {
      frame.push(b === 0xdc ? 0xc0 : b === 0xdd ? 0xdb : b);
      esc = false;
    } else if (b === 0xdb) esc = true;
    else frame.push(b);
  }
  if (frame && frame.length) items.push({ kind: "text", text: "<partial frame>" });
  flushText();
  return items;
}

/** A response frame cut into its fields. */
export interface DecodedFrame {
  /** Direction byte (1 for a response). */
  direction: number;
  /** Opcode byte. */
  op: number;
  /** Length field. */
  size: number;
  /** Value word. */
  value: number;
  /** Bytes between the header and the status bytes. */
  data: Uint8Array;
  /** The first two status bytes (status, error; the stub: error code). */
  status: Uint8Array;
  /** ROM only: the two bytes after them. */
  statusTail: Uint8Array;
}

/** Decode a response frame; `statusBytes` is 4 for ESP32-family ROMs, 2 for stubs. */
export function decodeFrame(bytes: Uint8Array, statusBytes: 2 | 4): DecodedFrame {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const body = bytes.subarray(8);
  const cut = Math.max(0, body.length - statusBytes);
  return {
    direction: bytes[0],
    op: bytes[1] ?? -1,
    size: bytes.length >= 4 ? dv.getUint16(2, true) : -1,
    value: bytes.length >= 8 ? dv.getUint32(4, true) : -1,
    data: body.subarray(0, cut),
    status: body.subarray(cut, cut + 2),
    statusTail: body.subarray(cut + 2),
  };
}

// ------------------------------------------------------------------ recordings

/** One step of a case: bytes to send, and how long the answer may take. */
export interface CaseStep {
  /** What the step does, for messages. */
  name: string;
  /** Bytes written to the chip. */
  send: Uint8Array;
  /** Silence that ends the answer, ms (emulator only); default 1000. */
  quietMs?: number;
  /** Answer fields that legitimately differ between chips (see the case's comment). */
  mask?: MaskField[];
}

/** Fields a step may exclude from comparison. */
export type MaskField = "value" | "data" | "statusTail" | "text";

/** A conformance case: a fresh chip, then steps in order. */
export interface ConformanceCase {
  /** Unique name. */
  name: string;
  /** Steps. */
  steps: CaseStep[];
  /** Initial flash contents (padded with 0xFF); default erased. */
  flash?: Uint8Array;
}

/** What one run of a case produced. */
export interface CaseRecording {
  /** Case name. */
  name: string;
  /** What the chip printed before the first step. */
  boot: string;
  /** Per step: request and answer, hex. */
  steps: { name: string; request: string; answer: string }[];
}

/** A fixture file: all cases of one chip as recorded on the genuine ROM. */
export interface Recording {
  /** Chip. */
  chip: RomChip;
  /** How it was made. */
  source: string;
  /** MAC burnt into the emulated eFuse (the virtual chip gets the same). */
  mac: string;
  /** Flash size, bytes. */
  flashSize: number;
  /** The cases. */
  cases: CaseRecording[];
}

function flashImage(c: ConformanceCase, size: number): Uint8Array | undefined {
  if (!c.flash) return undefined;
  const out = new Uint8Array(size).fill(0xff);
  out.set(c.flash.subarray(0, size));
  return out;
}

/** Options of {@link recordOnRom}. */
export interface RecordOptions {
  /** MAC for the emulated eFuse. */
  mac: string;
  /** Flash size, bytes. */
  flashSize: number;
  /**
   * A previous recording of the same cases: each answer is awaited until as
   * many bytes as recorded have come, then briefly for more (much faster
   * than waiting for silence; a different answer is still caught).
   */
  expect?: Recording;
}

/** Run `cases` on the genuine ROM in the emulator, a fresh emulator per case. */
export async function recordOnRom(
  chip: RomChip,
  cases: ConformanceCase[],
  options: RecordOptions,
): Promise<Recording> {
  const out: CaseRecording[] = [];
  for (const c of cases) {
    await using rom = await startRom(chip, {
      mac: options.mac,
      flashSize: options.flashSize,
      flash: flashImage(c, options.flashSize),
      waitForClient: true,
    });
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: rom.port });
    let acc: number[] = [];
    let last = Date.now();
    const reader = (async () => {
      const buf = new Uint8Array(65536);
      try {
        for (;;) {
          const n = await conn.read(buf);
          if (n === null) break;
          for (let i = 0; i < n; i++) acc.push(buf[i]);
          last = Date.now();
        }
      } catch { /* closed */ }
    })();
    const take = () => {
      const b = Uint8Array.from(acc);
      acc = [];
      return b;
    };
    const quiet = async (ms: number, maxMs: number) => {
      const start = Date.now();
      while (Date.now() - last < ms && Date.now() - start < maxMs) {
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    // The banner: wait for the first byte, then for silence.
    const t0 = Date.now();
    while (acc.length === 0 && Date.now() - t0 < 20_000) {
      await new Promise((r) => setTimeout(r, 20));
    }
    await quiet(500, 5000);
    const boot = new TextDecoder("latin1").decode(take());
    const steps: CaseRecording["steps"] = [];
    const expected = options.expect?.cases.find((e) => e.name === c.name);
    for (const [j, s] of c.steps.entries()) {
      last = Date.now();
      await conn.write(s.send);
      last = Date.now();
      // Wire time at 115200 plus what the emulated CPU needs on a busy host.
      const wireMs = (s.send.length * 10 * 1000) / 115200;
      const want = expected?.steps[j]?.answer.length;
      if (want !== undefined && want > 0) {
        const start = Date.now();
        while (acc.length < want / 2 && Date.now() - start < 10_000) {
          await new Promise((r) => setTimeout(r, 10));
        }
        await quiet(150, 2000);
      } else if (want === 0) {
        await quiet(400 + wireMs, 2000);
      } else {
        await quiet((s.quietMs ?? 1000) + 4 * wireMs, 15_000);
      }
      steps.push({ name: s.name, request: toHex(s.send), answer: toHex(take()) });
    }
    conn.close();
    await reader;
    out.push({ name: c.name, boot, steps });
  }
  return {
    chip,
    source: "Espressif mask ROM in ../shared/emulator (QEMU esp32/esp32c3), raw TCP",
    mac: options.mac,
    flashSize: options.flashSize,
    cases: out,
  };
}

/** Options of the virtual chip that stands in for the emulated one. */
export function simOptionsFor(
  recording: Pick<Recording, "chip" | "mac" | "flashSize">,
  flash?: Uint8Array,
): VirtualChipOptions & { initialFlash?: Uint8Array } {
  return {
    chip: recording.chip,
    mac: recording.mac,
    flashSize: recording.flashSize,
    // The emulator runs the ESP32 v3 ROM (its banner says so); the C3 ROM is the same for all revisions.
    revision: recording.chip === "esp32" ? "v3.0" : "v0.0",
    romRepeatsAnswers: true,
    initialFlash: flash,
  };
}

/** Replay a recorded case on a new virtual chip: its boot output and its answers. */
export async function replayOnSim(
  recording: Pick<Recording, "chip" | "mac" | "flashSize">,
  c: Pick<CaseRecording, "steps"> & { flash?: Uint8Array },
): Promise<{ boot: string; answers: string[] }> {
  const { initialFlash, ...opts } = simOptionsFor(recording, c.flash);
  const dir = initialFlash ? await Deno.makeTempDir({ prefix: "espline-conf-" }) : null;
  if (dir && initialFlash) {
    const image = new Uint8Array(recording.flashSize).fill(0xff);
    image.set(initialFlash.subarray(0, recording.flashSize));
    await Deno.writeFile(`${dir}/flash.bin`, image);
    opts.flashFile = `${dir}/flash.bin`;
  }
  const chip = new VirtualChip(opts);
  // Over the emulator's raw TCP there is no line speed: the host follows every baud change.
  chip.onBaudChange((baud) => chip.setHostBaud(baud));
  let acc: number[] = [];
  const off = chip.onTransmit((b) => {
    for (const x of b) acc.push(x);
  });
  const take = () => {
    const b = Uint8Array.from(acc);
    acc = [];
    return b;
  };
  try {
    const boot = new TextDecoder("latin1").decode(take());
    const answers: string[] = [];
    for (const s of c.steps) {
      chip.receive(fromHex(s.request));
      await new Promise((r) => setTimeout(r, 0));
      answers.push(toHex(take()));
    }
    return { boot, answers };
  } finally {
    off();
    await chip.close();
    if (dir) await Deno.remove(dir, { recursive: true });
  }
}

// ------------------------------------------------------------------ comparison

/** Compare two answers to one step; returns what differs (empty: the same). */
export function compareAnswers(
  expected: Uint8Array,
  actual: Uint8Array,
  statusBytes: 2 | 4,
  mask: MaskField[] = [],
): string[] {
  const e = splitAnswer(expected);
  const a = splitAnswer(actual);
  const diffs: string[] = [];
  const describe = (items: AnswerItem[]) =>
    items.map((i) => i.kind === "frame" ? `frame(op ${hex8(i.bytes[1])})` : "text").join(", ");
  if (e.length !== a.length || e.some((x, i) => x.kind !== a[i].kind)) {
    diffs.push(`${e.length} items [${describe(e)}] expected, ${a.length} [${describe(a)}] sent`);
    return diffs;
  }
  for (let i = 0; i < e.length; i++) {
    const x = e[i];
    const y = a[i];
    if (x.kind === "text" && y.kind === "text") {
      // Masked text: only the first line counts (a panic's header, not its register dump).
      const firstLine = (t: string) => t.split("\r\n")[0];
      const ex = mask.includes("text") ? firstLine(x.text) : x.text;
      const ac = mask.includes("text") ? firstLine(y.text) : y.text;
      if (ex !== ac) {
        diffs.push(`item ${i}: text ${JSON.stringify(ex)} expected, ${JSON.stringify(ac)} sent`);
      }
      continue;
    }
    if (x.kind !== "frame" || y.kind !== "frame") continue;
    const fx = decodeFrame(x.bytes, statusBytes);
    const fy = decodeFrame(y.bytes, statusBytes);
    const field = (name: string, ex: string, ac: string) => {
      if (ex !== ac) diffs.push(`frame ${i}: ${name} ${ex} expected, ${ac} sent`);
    };
    field("direction", String(fx.direction), String(fy.direction));
    field("opcode", hex8(fx.op), hex8(fy.op));
    field("length", String(fx.size), String(fy.size));
    if (!mask.includes("value")) field("value", hex32(fx.value), hex32(fy.value));
    if (!mask.includes("data")) field("data", toHex(fx.data), toHex(fy.data));
    field("status", toHex(fx.status), toHex(fy.status));
    if (!mask.includes("statusTail")) {
      field("status tail", toHex(fx.statusTail), toHex(fy.statusTail));
    }
  }
  return diffs;
}

function hex8(n: number): string {
  return `0x${n.toString(16).padStart(2, "0")}`;
}
function hex32(n: number): string {
  return `0x${(n >>> 0).toString(16).padStart(8, "0")}`;
}
