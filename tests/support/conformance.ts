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

import assert from "node:assert/strict";
import { VirtualChip, type VirtualChipOptions } from "../../lib/sim/virtual_chip.ts";
import { emulator, externalTest, type Resource } from "./external.ts";
import { gather } from "./sim_util.ts";
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
  if (bytes.length < 8) {
    // Not a response: a data block or digest from a stub's READ_FLASH stream.
    return {
      direction: -1,
      op: -1,
      size: bytes.length,
      value: 0,
      data: bytes,
      status: new Uint8Array(0),
      statusTail: new Uint8Array(0),
    };
  }
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

/** A RAM image to upload and run (a flasher stub). */
export interface RamImage {
  /** Load segments. */
  segments: { addr: number; bytes: Uint8Array }[];
  /** Entry point. */
  entry: number;
}

/** A conformance case: a fresh chip, then steps in order. */
export interface ConformanceCase {
  /** Unique name. */
  name: string;
  /** Steps. */
  steps: CaseStep[];
  /** Initial flash contents (padded with 0xFF); default erased. */
  flash?: Uint8Array;
  /**
   * Upload and start a flasher stub first (SYNC, MEM_BEGIN/MEM_DATA in
   * 0x1800-byte blocks, MEM_END); the steps then talk to the stub. The
   * upload's bytes are not stored in recordings (the stub is not ours to
   * copy): `live` gives the image sent to the genuine chip, `replay` the one
   * sent to the virtual chip (which only needs to recognise the kind).
   */
  stub?: { live: () => Promise<RamImage>; replay: () => RamImage };
}

/** The bytes that upload and start `image` (esptool's and espline's block size, 0x1800). */
export function uploadRequests(image: RamImage): Uint8Array[] {
  const block = 0x1800;
  const out: Uint8Array[] = [
    request(0x08, [0x07, 0x07, 0x12, 0x20, ...new Array<number>(32).fill(0x55)]),
  ];
  for (const seg of image.segments) {
    const blocks = Math.ceil(seg.bytes.length / block);
    out.push(request(0x05, le(seg.bytes.length, blocks, block, seg.addr)));
    for (let i = 0; i < blocks; i++) {
      const b = seg.bytes.subarray(i * block, (i + 1) * block);
      out.push(request(0x07, [...le(b.length, i, 0, 0), ...b], { checksum: dataChecksum(b) }));
    }
  }
  out.push(request(0x06, le(0, image.entry)));
  return out;
}

/** True when `bytes` hold the stub's greeting frame (C0 "OHAI" C0). */
export function hasGreeting(bytes: Uint8Array): boolean {
  return splitAnswer(bytes).some((i) =>
    i.kind === "frame" && new TextDecoder().decode(i.bytes) === "OHAI"
  );
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
    const rx = gather(conn);
    let sentAt = 0;
    const last = () => Math.max(rx.lastAt, sentAt);
    const take = () => rx.take();
    const quiet = async (ms: number, maxMs: number) => {
      const start = Date.now();
      while (Date.now() - last() < ms && Date.now() - start < maxMs) {
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    // The banner: wait for its reset line (on a busy host it may come in pieces), then for silence.
    const t0 = Date.now();
    const bannerDone = () => /rst:[^\n]*\n/.test(new TextDecoder("latin1").decode(rx.peek()));
    while (!bannerDone() && Date.now() - t0 < 30_000) {
      await new Promise((r) => setTimeout(r, 20));
    }
    await quiet(500, 5000);
    const boot = new TextDecoder("latin1").decode(take());
    if (c.stub) {
      for (const r of uploadRequests(await c.stub.live())) {
        sentAt = Date.now();
        await conn.write(r);
        await quiet(100, 5000);
      }
      const t1 = Date.now();
      while (!hasGreeting(rx.peek()) && Date.now() - t1 < 10_000) {
        await new Promise((r) => setTimeout(r, 20));
      }
      if (!hasGreeting(take())) {
        throw new Error(`${chip} / ${c.name}: the stub did not start (no OHAI)`);
      }
    }
    const steps: CaseRecording["steps"] = [];
    const expected = options.expect?.cases.find((e) => e.name === c.name);
    for (const [j, s] of c.steps.entries()) {
      sentAt = Date.now();
      await conn.write(s.send);
      sentAt = Date.now();
      // Wire time at 115200 plus what the emulated CPU needs on a busy host.
      const wireMs = (s.send.length * 10 * 1000) / 115200;
      const want = expected?.steps[j]?.answer.length;
      if (want !== undefined && want > 0) {
        const start = Date.now();
        while (rx.peek().length < want / 2 && Date.now() - start < 20_000) {
          await new Promise((r) => setTimeout(r, 10));
        }
        await quiet(300, 3000);
      } else if (want === 0) {
        await quiet(600 + wireMs, 3000);
      } else {
        await quiet((s.quietMs ?? 1000) + 4 * wireMs, 15_000);
      }
      steps.push({ name: s.name, request: toHex(s.send), answer: toHex(take()) });
    }
    conn.close();
    await rx.done;
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
    // The emulator's flash file starts erased.
    firmware: "erased",
    initialFlash: flash,
  };
}

/** Replay a recorded case on a new virtual chip: its boot output and its answers. */
export async function replayOnSim(
  recording: Pick<Recording, "chip" | "mac" | "flashSize">,
  c: Pick<CaseRecording, "steps"> & Pick<ConformanceCase, "flash" | "stub">,
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
    if (c.stub) {
      for (const r of uploadRequests(c.stub.replay())) chip.receive(r);
      await new Promise((r) => setTimeout(r, 0));
      if (!hasGreeting(take())) {
        throw new Error("the virtual chip did not start the stub (no OHAI)");
      }
    }
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

// --------------------------------------------------------------- test suites

/** A known, intended difference between the virtual chip and the genuine ROM. */
export interface Deliberate {
  /** Chips it applies to. */
  chips: RomChip[];
  /** Case name. */
  case: RegExp;
  /** Step name; `boot` for the boot output. */
  step: RegExp;
  /** Fields left out of the comparison, or "skip" to leave the whole step out. */
  fields: MaskField[] | "skip";
  /** Why the virtual chip does not do what the genuine ROM does. */
  reason: string;
}

/** A set of cases for one chip, recorded in one fixture file. */
export interface SuiteDefinition {
  /** Name for the tests. */
  name: string;
  /** Chip emulated. */
  chip: RomChip;
  /** Fixture file (under tests/fixtures/rom/). */
  fixture: URL;
  /** The cases. */
  cases: ConformanceCase[];
  /** Deliberate differences. */
  deliberate: Deliberate[];
  /** Status bytes of the answers: 4 for the ROMs, 2 for the stubs. */
  statusBytes: 2 | 4;
  /** MAC and flash size of the emulated chip. */
  mac: string;
  /** Flash size, bytes. */
  flashSize: number;
}

function deliberateFor(
  suite: SuiteDefinition,
  caseName: string,
  step: string,
): Deliberate | undefined {
  return suite.deliberate.find((d) =>
    d.chips.includes(suite.chip) && d.case.test(caseName) && d.step.test(step)
  );
}

/**
 * First line and reset cause of a boot log (what must match under a
 * boot-mode exception). A live run on a loaded host sometimes sees the
 * emulated ESP32 come up with `rst:0x3 (SW_RESET)`: `withCause: false`
 * compares the ROM's first line only.
 */
function bootKey(text: string, withCause = true): string {
  const first = text.split("\r\n").find((l) => l.length > 0) ?? "";
  const rst = withCause ? /rst:0x[0-9a-f]+ \([A-Z_]+\)/.exec(text)?.[0] ?? "" : "";
  return `${first} | ${rst}`;
}

/** Compare a recording of the genuine chip with the virtual chip's answers; returns the differences. */
export async function compareWithSim(
  suite: SuiteDefinition,
  recording: Recording,
  options: { live?: boolean } = {},
): Promise<string[]> {
  const diffs: string[] = [];
  for (const [index, def] of suite.cases.entries()) {
    const rec = recording.cases[index];
    const sim = await replayOnSim(recording, {
      steps: rec.steps,
      flash: def.flash,
      stub: def.stub,
    });
    const bootDeliberate = deliberateFor(suite, rec.name, "boot");
    const bootSame = bootDeliberate
      ? bootKey(rec.boot, !options.live) === bootKey(sim.boot, !options.live)
      : rec.boot === sim.boot;
    if (!bootSame) {
      diffs.push(
        `${rec.name} / boot: ${JSON.stringify(rec.boot)} expected, ${
          JSON.stringify(sim.boot)
        } sent`,
      );
    }
    rec.steps.forEach((s, i) => {
      const d = deliberateFor(suite, rec.name, s.name);
      if (d?.fields === "skip") return;
      const mask = [...(def.steps[i].mask ?? []), ...(d ? d.fields as MaskField[] : [])];
      for (
        const why of compareAnswers(
          fromHex(s.answer),
          fromHex(sim.answers[i]),
          suite.statusBytes,
          mask,
        )
      ) {
        diffs.push(`${rec.name} / ${s.name}: ${why}`);
      }
    });
  }
  return diffs;
}

/** Differences between two recordings of the genuine chip (the emulator drifted from the fixture). */
export function compareRecordings(
  suite: SuiteDefinition,
  was: Recording,
  now: Recording,
): string[] {
  const drift: string[] = [];
  now.cases.forEach((c, i) => {
    c.steps.forEach((s, j) => {
      const d = deliberateFor(suite, c.name, s.name);
      const fields = [
        ...(suite.cases[i].steps[j].mask ?? []),
        ...(d && d.fields !== "skip" ? d.fields : []),
      ];
      for (
        const why of compareAnswers(
          fromHex(was.cases[i].steps[j].answer),
          fromHex(s.answer),
          suite.statusBytes,
          fields,
        )
      ) {
        drift.push(`${c.name} / ${s.name}: ${why}`);
      }
    });
  });
  return drift;
}

/** Complain unless the recording holds exactly the suite's cases (same steps, same bytes). */
export function fixtureMismatch(suite: SuiteDefinition, recording: Recording): string | null {
  const same = recording.cases.length === suite.cases.length &&
    suite.cases.every((c, i) =>
      recording.cases[i].name === c.name &&
      recording.cases[i].steps.length === c.steps.length &&
      c.steps.every((s, j) => recording.cases[i].steps[j].request === toHex(s.send))
    );
  return same
    ? null
    : `${suite.fixture.pathname} is out of date with the cases in tests/conformance_cases.ts: ` +
      "re-record it with ESPLINE_RECORD_ROM=1 (needs ../shared/emulator)";
}

const RECORD = Deno.env.get("ESPLINE_RECORD_ROM") === "1";

/** Register a conformance suite: a replay test everywhere, a live test where the emulator is. */
export function conformanceTests(suite: SuiteDefinition, needs: Resource[] = [emulator()]): void {
  Deno.test(`${suite.name} (replay of the recorded genuine chip): the virtual chip answers the same bytes`, async () => {
    const recording: Recording = JSON.parse(await Deno.readTextFile(suite.fixture));
    const stale = fixtureMismatch(suite, recording);
    assert.equal(stale, null, stale ?? "");
    const diffs = await compareWithSim(suite, recording);
    assert.deepEqual(
      diffs,
      [],
      `the virtual ${suite.chip} differs from the genuine chip:\n${diffs.join("\n")}`,
    );
  });

  externalTest({
    name:
      `${suite.name} (live, in the emulator): fixture and virtual chip agree with the genuine chip`,
    needs,
    sanitizeResources: false,
    async fn() {
      const recorded: Recording | undefined = RECORD
        ? undefined
        : JSON.parse(await Deno.readTextFile(suite.fixture));
      const live = await recordOnRom(suite.chip, suite.cases, {
        mac: suite.mac,
        flashSize: suite.flashSize,
        expect: recorded,
      });
      if (RECORD) await Deno.writeTextFile(suite.fixture, JSON.stringify(live, null, 2) + "\n");
      const drift = compareRecordings(suite, recorded ?? live, live);
      assert.deepEqual(
        drift,
        [],
        `the emulated ${suite.chip} no longer answers as recorded:\n${drift.join("\n")}`,
      );
      const diffs = await compareWithSim(suite, live, { live: true });
      assert.deepEqual(
        diffs,
        [],
        `the virtual ${suite.chip} differs from the genuine chip:\n${diffs.join("\n")}`,
      );
    },
  });
}
