/**
 * Frames and command exchanges on one transport: SLIP framing, one command
 * at a time, the one loop that waits for a frame (answers, greetings, streamed
 * data alike), draining the line when a stray or late frame shows it is out of
 * step, and telling a chip that reset from a chip that is slow.
 *
 * Facts used here come from esptool's loader.py and the serial-protocol
 * document; the code is our own.
 *
 * @module
 */

import { EsplineError, TimeoutError } from "../errors.ts";
import type { Transport } from "../transport/transport.ts";
import { SlipDecoder, slipEncode } from "../protocol/slip.ts";
import { decodeResponse, encodeRequest, opName, type Response } from "../protocol/packet.ts";
import {
  BAD_CHECKSUM_STATUSES,
  checkStatus,
  isUnsupportedAnswer,
  LoaderStatusError,
  ROM_INVALID_MESSAGE,
} from "../protocol/status.ts";

/** Default answer timeout for ordinary commands (esptool DEFAULT_TIMEOUT, 3 s). */
export const DEFAULT_COMMAND_TIMEOUT_MS = 3000;
/** Stray bytes (outside frames) after which a missing answer is blamed on a chip reset. */
const SUSPECT_RESET_NOISE_BYTES = 24;
/** How long to keep waiting for an answer once stray bytes suggest a reset, ms. */
const SUSPECT_RESET_GRACE_MS = 500;
/**
 * Silence that ends a resynchronising drain, ms. Longer than a USB bridge's
 * latency timer (16 ms on FTDI, the longest of the common ones) plus the
 * eight repeated 14-byte error frames of the ESP32 ROM at 115200 (about 10 ms).
 */
export const RESYNC_QUIET_MS = 50;
/** Longest a resynchronising drain reads a chip that keeps talking, ms. */
const RESYNC_MAX_MS = 1000;
/** Text kept from the chip's stray output to spot a ROM boot banner in, characters. */
const NOISE_TAIL_CHARS = 512;
/** Sends of a repeatable command before its failure is final (see {@link Exchange.commandWithRetry}). */
const DEFAULT_COMMAND_ATTEMPTS = 3;

/** Something that happened during a session, for the caller's log or progress display. */
export type LoaderEvent =
  | { type: "connecting"; attempt: number; strategy: string }
  | { type: "connected"; chip: string; stub: boolean }
  | { type: "log"; level: "info" | "warn" | "debug"; message: string }
  | { type: "trace"; direction: "out" | "in"; bytes: Uint8Array };

/** Options for one command exchange. */
export interface CommandOptions {
  /** Checksum field (data commands). Default 0. */
  checksum?: number;
  /** Answer timeout in ms. Default 3000. */
  timeoutMs?: number;
  /** Bytes of payload expected before the status bytes. Default 0. */
  payloadLength?: number;
  /** What the command does, for error messages ("read register"). */
  what?: string;
}

/** Options for a command that is safe to send again. */
export interface RetryOptions extends CommandOptions {
  /** Sends in all. Default 3. */
  attempts?: number;
  /** Status codes that mean "send it again". Default: a bad checksum (ROM 0x0107, stub 0xC100). */
  retryStatuses?: readonly number[];
}

/** The answer to a command: its value word and the payload before the status bytes. */
export interface CommandResult {
  /** The response's 32-bit value field. */
  value: number;
  /** Payload (length = `payloadLength`). */
  payload: Uint8Array;
}

/**
 * What a wait for a frame does with each frame that arrives: `take` ends the
 * wait with a value; `skip` drops the frame; `stray` drops it and drains the
 * line before the next frame is sent (the reason goes to the debug log).
 */
export type FrameVerdict<T> = { take: T } | { skip: true } | { stray: string };

/** Options for {@link Exchange}. */
export interface ExchangeOptions {
  /** Where log lines and protocol traces go. */
  emit: (event: LoaderEvent) => void;
  /** Send every byte in and out as a `trace` event. Default false. */
  trace?: boolean;
  /** Called when the chip is seen to reset: whatever ran on it (the stub, SPI attach) is gone. */
  onChipReset: () => void;
}

/** Frames and command exchanges on one transport (see the module notes). */
export class Exchange {
  /** The byte pipe. */
  readonly transport: Transport;
  /**
   * Once connected the loader sends nothing outside frames, so stray text is
   * watched for a ROM boot banner (the chip reset). Off while connecting.
   */
  watchForReset = false;

  #decoder = new SlipDecoder();
  #frames: Uint8Array[] = [];
  #emit: (event: LoaderEvent) => void;
  #trace: boolean;
  #onChipReset: () => void;
  #lock: Promise<unknown> = Promise.resolve();
  #closed = false;
  #resyncReason: string | null = null;
  #suspectReset = false;
  #noiseTail = "";

  /** Wrap `transport`. */
  constructor(transport: Transport, options: ExchangeOptions) {
    this.transport = transport;
    this.#emit = options.emit;
    this.#trace = options.trace ?? false;
    this.#onChipReset = options.onChipReset;
  }

  /** Send an event to the session's owner. */
  emit(event: LoaderEvent): void {
    this.#emit(event);
  }

  /** Send a log line to the session's owner. */
  log(level: "info" | "warn" | "debug", message: string): void {
    this.#emit({ type: "log", level, message });
  }

  #traceIn(bytes: Uint8Array): void {
    if (this.#trace) this.#emit({ type: "trace", direction: "in", bytes });
  }

  /** Drop everything received so far, on the line and decoded. */
  async discardInput(): Promise<void> {
    await this.transport.flushInput();
    this.#decoder.reset();
    this.#frames = [];
  }

  /** Gather what the chip prints (a boot banner) until `ms` of silence; frames are kept. */
  async collectNoise(ms: number): Promise<string> {
    for (;;) {
      const chunk = await this.transport.read(ms);
      if (!chunk) break;
      this.#traceIn(chunk);
      this.#frames.push(...this.#decoder.push(chunk));
    }
    return this.takeNoise();
  }

  /** The text received outside frames since the last call. */
  takeNoise(): string {
    return new TextDecoder().decode(this.#decoder.takeNoise());
  }

  /**
   * The next frame, or `null` once `deadline` (a `Date.now()` time) passes.
   * With {@link watchForReset}, a ROM boot banner fails at once, and a burst
   * of stray bytes with no frame shortens the wait (see {@link suspectReset}).
   */
  async #nextFrame(deadline: number): Promise<Uint8Array | null> {
    this.#suspectReset = false;
    let noiseBytes = 0;
    while (this.#frames.length === 0) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) return null;
      const chunk = await this.transport.read(remaining);
      if (!chunk) return null;
      this.#traceIn(chunk);
      this.#frames.push(...this.#decoder.push(chunk));
      if (this.watchForReset) {
        noiseBytes += this.#checkForReset();
        // A burst of stray bytes with no answer soon after is what a chip
        // rebooting at another baud looks like: stop waiting for the full timeout.
        if (noiseBytes >= SUSPECT_RESET_NOISE_BYTES && this.#frames.length === 0) {
          const soon = Date.now() + SUSPECT_RESET_GRACE_MS;
          if (soon < deadline) {
            deadline = soon;
            this.#suspectReset = true;
          }
        }
      }
    }
    this.#suspectReset = false;
    return this.#frames.shift()!;
  }

  /**
   * Once connected, text outside frames means the chip printed something: a
   * ROM boot banner (`rst:0x…`) means it reset (brown-out, unplugged power,
   * a watchdog). Fail at once instead of waiting out a timeout. Returns the
   * stray bytes seen.
   */
  #checkForReset(): number {
    const noise = this.#decoder.takeNoise();
    if (noise.length === 0) return 0;
    this.#noiseTail = (this.#noiseTail + new TextDecoder().decode(noise)).slice(-NOISE_TAIL_CHARS);
    const m = /rst:(0x[0-9a-f]+)(?: \(([A-Z_]+)\))?/i.exec(this.#noiseTail);
    if (m) {
      this.#noiseTail = "";
      this.#frames = [];
      this.#onChipReset();
      this.requestResync("the chip's reset");
      throw new EsplineError(
        "E_CHIP_RESET",
        `the chip reset unexpectedly (rst:${m[1]}${
          m[2] ? ` ${m[2]}` : ""
        }): check the power supply (brown-out?) and cable; reconnect to continue`,
        { details: { reason: m[2] ?? m[1] } },
      );
    }
    return noise.length;
  }

  /** Read one raw SLIP frame (used by streaming reads). `null` on timeout. */
  readFrame(timeoutMs: number): Promise<Uint8Array | null> {
    return this.#nextFrame(Date.now() + timeoutMs);
  }

  /**
   * Wait until `classify` takes a frame, up to `timeoutMs`: the one loop
   * every wait for an answer, a greeting or a stream's header goes through.
   * Resolves `null` on timeout; whatever `classify` throws ends the wait.
   */
  async awaitFrame<T>(
    timeoutMs: number,
    classify: (frame: Uint8Array) => FrameVerdict<T>,
  ): Promise<T | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const frame = await this.#nextFrame(deadline);
      if (!frame) return null;
      const verdict = classify(frame);
      if ("take" in verdict) return verdict.take;
      if ("stray" in verdict) this.requestResync(verdict.stray);
    }
  }

  /**
   * Send raw bytes wrapped in one SLIP frame (used by streaming reads to
   * acknowledge). A pending resynchronisation ({@link requestResync}) runs
   * first, so nothing left over from an earlier exchange is read as an answer
   * to this one.
   */
  async writeFrame(payload: Uint8Array): Promise<void> {
    if (this.#resyncReason !== null) await this.#resync();
    const framed = slipEncode(payload);
    if (this.#trace) this.#emit({ type: "trace", direction: "out", bytes: framed });
    await this.transport.write(framed);
  }

  /**
   * Ask for the input to be drained before the next frame is sent: after an
   * error answer, a timeout, an unexpected or malformed frame. The genuine
   * ROMs make this necessary: the ESP32 ROM answers an unsupported command
   * with as many copies of its error frame as it sent answers to the command
   * before (eight after SYNC), an answer that missed its timeout arrives later,
   * and a baud change leaves junk on the line.
   */
  requestResync(reason: string): void {
    this.#resyncReason ??= reason;
  }

  /**
   * Drain the input until the line has been quiet for {@link RESYNC_QUIET_MS}
   * (at most about a second), then start the SLIP decoder afresh. A ROM
   * banner among the drained bytes still reports the chip's reset.
   */
  async #resync(): Promise<void> {
    const reason = this.#resyncReason;
    this.#resyncReason = null;
    let dropped = this.#frames.length;
    this.#frames = [];
    const end = Date.now() + RESYNC_MAX_MS;
    let bytes = 0;
    for (;;) {
      const remaining = end - Date.now();
      if (remaining <= 0) break;
      const chunk = await this.transport.read(Math.min(RESYNC_QUIET_MS, remaining));
      if (!chunk) break;
      this.#traceIn(chunk);
      bytes += chunk.length;
      dropped += this.#decoder.push(chunk).length;
      if (this.watchForReset) this.#checkForReset();
    }
    this.#decoder.reset();
    if (dropped || bytes) {
      this.log(
        "debug",
        `resynchronised after ${reason}: dropped ${dropped} frame(s), ${bytes} byte(s)`,
      );
    }
  }

  /** Run `fn` with the exchange to itself (one command exchange at a time). */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(fn, fn);
    this.#lock = run.catch(() => {});
    return run;
  }

  /**
   * Send a command and wait for the response to it; the status bytes are
   * left to the caller. Call inside {@link exclusive}.
   *
   * Frames that are not its answer are dropped and the line drained after;
   * the ROM's answer to a command it does not know (under the opcode it
   * answered before) fails with {@link LoaderStatusError}; no answer fails
   * with {@link TimeoutError}, or `E_CHIP_RESET` when stray bytes say the
   * chip rebooted.
   */
  async roundTrip(
    op: number,
    data: Uint8Array,
    options: CommandOptions = {},
  ): Promise<Response> {
    if (this.#closed) {
      throw new EsplineError("E_SESSION_CLOSED", "the session is closed; connect again");
    }
    const what = options.what ?? opName(op);
    await this.writeFrame(encodeRequest(op, data, options.checksum ?? 0));
    const timeoutMs = options.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    const response = await this.awaitFrame(timeoutMs, (frame): FrameVerdict<Response> => {
      let r: Response;
      try {
        r = decodeResponse(frame);
      } catch {
        return { stray: "a malformed frame" }; // stale data or noise inside delimiters
      }
      if (r.op === op) return { take: r };
      if (isUnsupportedAnswer(r)) {
        this.requestResync(`the unsupported-command answer to ${opName(op)}`);
        throw new LoaderStatusError(op, ROM_INVALID_MESSAGE, what);
      }
      // An answer to something else (a late or repeated answer): skip it, and
      // drain whatever else of it is still coming before the next command.
      return { stray: `an answer to ${opName(r.op)} while waiting for ${opName(op)}` };
    });
    if (response) return response;
    // Its answer may still come: it must not be taken for the next one's.
    this.requestResync(`no answer to ${opName(op)}`);
    if (this.#suspectReset) {
      this.#onChipReset();
      throw new EsplineError(
        "E_CHIP_RESET",
        `no answer to ${what} (${
          opName(op)
        }) and stray bytes on the line: the chip probably reset ` +
          "(brown-out, power or cable); reconnect to continue",
        { details: { op } },
      );
    }
    throw new TimeoutError(`no answer to ${what} (${opName(op)}) within ${timeoutMs} ms`, {
      details: { op },
    });
  }

  /**
   * The payload of `response` once its status bytes say it worked, after
   * `payloadLength` bytes of payload; a failure status throws
   * {@link LoaderStatusError} and drains the line before the next command.
   */
  checked(response: Response, payloadLength: number, what: string): Uint8Array {
    try {
      return checkStatus(response.op, response.data, payloadLength, what);
    } catch (e) {
      this.requestResync(`an error answer to ${opName(response.op)}`);
      throw e;
    }
  }

  /**
   * Send a command and wait for its answer; check the status bytes.
   *
   * Throws {@link LoaderStatusError} when the chip reports a failure and
   * {@link TimeoutError} when it does not answer in time.
   */
  command(
    op: number,
    data: Uint8Array = new Uint8Array(0),
    options: CommandOptions = {},
  ): Promise<CommandResult> {
    return this.exclusive(async () => {
      const response = await this.roundTrip(op, data, options);
      const payload = this.checked(
        response,
        options.payloadLength ?? 0,
        options.what ?? opName(op),
      );
      return { value: response.value, payload };
    });
  }

  /**
   * {@link command} that resends on a corrupted exchange (bad checksum
   * reported by the chip, a garbled or missing answer), up to `attempts`
   * times. Only for commands that are safe to repeat (data blocks the chip
   * accepts again with the same sequence number, reads).
   */
  async commandWithRetry(
    op: number,
    data: Uint8Array,
    options: RetryOptions = {},
  ): Promise<CommandResult> {
    const attempts = options.attempts ?? DEFAULT_COMMAND_ATTEMPTS;
    const statuses = options.retryStatuses ?? BAD_CHECKSUM_STATUSES;
    for (let attempt = 1;; attempt++) {
      try {
        return await this.command(op, data, options);
      } catch (e) {
        const retryable = e instanceof TimeoutError ||
          (e instanceof LoaderStatusError && statuses.includes(e.status));
        if (!retryable || attempt >= attempts) throw e;
        this.log("debug", `${options.what ?? opName(op)}: ${(e as Error).message}; retrying`);
      }
    }
  }

  /** Refuse further commands and release the transport. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.transport.close();
  }
}
