/**
 * One session with a chip's serial bootloader: reset into download mode,
 * SYNC, detect the chip, send commands and read their answers, upload the
 * flasher stub, change the baud rate.
 *
 * Facts used here come from esptool's loader.py and the serial-protocol
 * document; the code is our own.
 *
 * @module
 */

import { EsplineError, throwIfAborted, TimeoutError, UsageError } from "../errors.ts";
import type { Transport } from "../transport/transport.ts";
import { delay } from "../transport/transport.ts";
import { SlipDecoder, slipEncode } from "../protocol/slip.ts";
import {
  checksum,
  concatBytes,
  decodeResponse,
  encodeRequest,
  MalformedPacketError,
  Op,
  opName,
  readU32le,
  SYNC_PAYLOAD,
  u32le,
} from "../protocol/packet.ts";
import {
  BAD_CHECKSUM_STATUSES,
  checkStatus,
  LoaderStatusError,
  SPOILED_BLOCK_STATUSES,
} from "../protocol/status.ts";
import { type LoaderCapabilities, loaderCapabilities } from "./capabilities.ts";
import type { ChipFamily } from "../chips/types.ts";
import {
  CHIP_DETECT_MAGIC_REG_ADDR,
  chipByImageId,
  chipByKey,
  chipByMagic,
} from "../chips/index.ts";
import { loadStubImage, type StubImage } from "./stub.ts";
import { confirmedReader, readConfirmed, readRevisionConfirmed } from "./identity.ts";
import type { ResetStrategy } from "./reset.ts";
import type { ConnectOptions } from "./connect_options.ts";

/** Default answer timeout for ordinary commands (esptool DEFAULT_TIMEOUT, 3 s). */
export const DEFAULT_COMMAND_TIMEOUT_MS = 3000;
/** Timeout for one SYNC attempt (esptool SYNC_TIMEOUT, 0.1 s). */
export const SYNC_TIMEOUT_MS = 100;
/** Answers to one SYNC beyond the first: the ROM and both stub families send eight in all (esptool loader.py sync). */
const SYNC_EXTRA_ANSWERS = 7;
/** Baud rate the ROM starts at (esptool ESP_ROM_BAUD). */
export const ROM_BAUD = 115200;
/** Largest MEM_DATA block (esptool ESP_RAM_BLOCK). */
export const RAM_BLOCK_SIZE = 0x1800;
/** Stray bytes (outside frames) after which a missing answer is blamed on a chip reset. */
const SUSPECT_RESET_NOISE_BYTES = 24;
/** How long to keep waiting for an answer once stray bytes suggest a reset, ms. */
const SUSPECT_RESET_GRACE_MS = 500;
/** Default number of connect attempts (esptool DEFAULT_CONNECT_ATTEMPTS). */
export const DEFAULT_CONNECT_ATTEMPTS = 7;
/**
 * Silence that ends a resynchronising drain, ms. Longer than a USB bridge's
 * latency timer (16 ms on FTDI, the longest of the common ones) plus the
 * eight repeated 14-byte error frames of the ESP32 ROM at 115200 (about 10 ms).
 */
export const RESYNC_QUIET_MS = 50;
/** Longest a resynchronising drain reads a chip that keeps talking, ms. */
const RESYNC_MAX_MS = 1000;

export type { ResetStrategy };

/** Something that happened during a session, for the caller's log or progress display. */
export type LoaderEvent =
  | { type: "connecting"; attempt: number; strategy: string }
  | { type: "connected"; chip: string; stub: boolean }
  | { type: "log"; level: "info" | "warn" | "debug"; message: string }
  | { type: "trace"; direction: "out" | "in"; bytes: Uint8Array };

/** GET_SECURITY_INFO answer (esptool loader.py get_security_info). */
export interface SecurityInfo {
  /** Raw flags word. */
  flags: number;
  /** Flash encryption counter. */
  flashCryptCount: number;
  /** Purposes of the seven key blocks. */
  keyPurposes: number[];
  /** Chip id (S3 and later), `null` on the ESP32-S2 short form. */
  chipId: number | null;
  /** ECO / API version (S3 and later). */
  apiVersion: number | null;
  /** Secure download mode is on (flag bit 2). */
  secureDownload: boolean;
}

/**
 * Options for {@link LoaderSession.connect}: the connection settings it uses
 * (`chip`, `before`, `connectAttempts`, `trace`; `before` decides only
 * whether to SYNC here, the reset itself is `resetStrategies`), plus the
 * strategies, the event sink and the abort signal.
 */
export interface LoaderConnectOptions
  extends Pick<ConnectOptions, "chip" | "before" | "connectAttempts" | "trace"> {
  /** Reset strategies to alternate between attempts. Default: none (the chip must already be in download mode). */
  resetStrategies?: ResetStrategy[];
  /** Receives events (log lines, connect attempts, protocol trace). */
  onEvent?: (event: LoaderEvent) => void;
  /** Cancels the connect loop. */
  signal?: AbortSignal;
}

/** Options for one {@link LoaderSession.command}. */
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

/** The answer to a command: its value word and the payload before the status bytes. */
export interface CommandResult {
  /** The response's 32-bit value field. */
  value: number;
  /** Payload (length = `payloadLength`). */
  payload: Uint8Array;
}

/**
 * A connected bootloader session.
 *
 * @example
 * ```ts
 * import { LoaderSession } from "./session.ts";
 * import { openTransport } from "../transport/open.ts";
 * const t = await openTransport("sim://esp32?mac=02:aa:bb:cc:dd:01");
 * const s = await LoaderSession.connect(t);
 * console.log(s.chip.name);
 * await s.close();
 * ```
 */
export class LoaderSession {
  /** The byte pipe. */
  readonly transport: Transport;
  #chip: ChipFamily | null;
  #stub = false;
  #capabilities: LoaderCapabilities | null = null;
  /** Secure download mode is on (many commands are refused). */
  secureDownload = false;
  /** Security info when the ROM provides it. */
  securityInfo: SecurityInfo | null = null;
  /** Flash size in bytes once detected or set. */
  flashSize: number | null = null;
  /** Whether SPI_ATTACH has been sent in this session. */
  spiAttached = false;
  /**
   * Crystal frequency in MHz, estimated at connect time while the ROM's UART
   * setup is in force (esptool prints it before it uploads the stub); `null`
   * until then. The stub and baud changes alter the UART divider the estimate
   * is read from, so read it here rather than later.
   */
  crystalMhz: number | null = null;

  #decoder = new SlipDecoder();
  #frames: Uint8Array[] = [];
  #onEvent: (event: LoaderEvent) => void;
  #trace: boolean;
  #lock: Promise<unknown> = Promise.resolve();
  #closed = false;
  #stubDetectedAtSync = false;

  private constructor(transport: Transport, options: LoaderConnectOptions) {
    this.transport = transport;
    this.#chip = null;
    this.#onEvent = options.onEvent ?? (() => {});
    this.#trace = options.trace ?? false;
  }

  /**
   * Reset the chip into download mode, SYNC with it and detect which chip it is.
   *
   * Fails with `E_CONNECT_FAILED` after the attempts budget, saying what to check.
   */
  static async connect(
    transport: Transport,
    options: LoaderConnectOptions = {},
  ): Promise<LoaderSession> {
    const wanted = options.chip && options.chip !== "auto" ? chipByKey(options.chip) : null;
    const session = new LoaderSession(transport, options);
    await session.#connectLoop(options);
    await session.#detect(wanted);
    if (!session.isStub) {
      session.crystalMhz = await session.chip.readCrystalMhz(
        confirmedReader(session, "crystal"),
        transport.baud,
      );
    }
    session.#decoder.takeNoise();
    session.#watchForReset = true;
    session.#emit({ type: "connected", chip: session.chip.name, stub: session.isStub });
    return session;
  }

  /** The detected chip family. */
  get chip(): ChipFamily {
    if (!this.#chip) throw new EsplineError("E_NOT_DETECTED", "the chip has not been detected yet");
    return this.#chip;
  }

  /** True once the flasher stub runs (or was found running); false again after a chip reset. */
  get isStub(): boolean {
    return this.#stub;
  }

  /**
   * What the loader answering now can do (the chip's ROM loader or the
   * flasher stub): what the flash operations ask instead of the chip's name.
   */
  get loader(): LoaderCapabilities {
    this.#capabilities ??= loaderCapabilities(this.chip, this.#stub);
    return this.#capabilities;
  }

  /** Record which loader answers now. */
  #setStub(stub: boolean): void {
    if (stub === this.#stub) return;
    this.#stub = stub;
    this.#capabilities = null;
  }

  /** Send an event to the caller. */
  #emit(event: LoaderEvent): void {
    try {
      this.#onEvent(event);
    } catch {
      // A caller's logging failure must not break the session.
    }
  }

  /** Log helper. */
  log(level: "info" | "warn" | "debug", message: string): void {
    this.#emit({ type: "log", level, message });
  }

  async #connectLoop(options: LoaderConnectOptions): Promise<void> {
    const before = options.before ?? "default-reset";
    if (before === "no-reset-no-sync") return;
    const strategies = options.resetStrategies?.length ? options.resetStrategies : null;
    const attempts = options.connectAttempts ?? DEFAULT_CONNECT_ATTEMPTS;
    let lastProblem = "no answer to SYNC";
    for (let attempt = 0; attempts === 0 || attempt < attempts; attempt++) {
      throwIfAborted(options.signal);
      const strategy = strategies ? strategies[attempt % strategies.length] : null;
      this.#emit({ type: "connecting", attempt: attempt + 1, strategy: strategy?.name ?? "none" });
      let bootLog = "";
      if (strategy && before !== "no-reset") {
        await this.transport.flushInput();
        this.#decoder.reset();
        this.#frames = [];
        try {
          await strategy.run(this.transport);
        } catch (e) {
          if (e instanceof EsplineError && e.code === "E_NO_MODEM_LINES") {
            this.log("debug", `${strategy.name} reset skipped: ${e.message}`);
          } else throw e;
        }
        bootLog = await this.#collectNoise(30);
      }
      for (let i = 0; i < 5; i++) {
        throwIfAborted(options.signal);
        try {
          await this.transport.flushInput();
          this.#decoder.reset();
          this.#frames = [];
          await this.sync();
          return;
        } catch (e) {
          if (e instanceof TimeoutError || e instanceof MalformedPacketError) {
            await delay(50);
            continue;
          }
          throw e;
        }
      }
      bootLog += new TextDecoder().decode(this.#decoder.takeNoise());
      const boot = /boot:(0x[0-9a-fA-F]+)([\s\S]*waiting for download)?/.exec(bootLog);
      if (boot) {
        lastProblem = boot[2]
          ? "download mode detected, but no answer to SYNC: the serial TX line from the host may be broken"
          : `the chip booted in the wrong mode (boot:${
            boot[1]
          }); it must be in download mode: hold BOOT (IO0) low while resetting, or check the auto-reset circuit`;
      }
    }
    throw new TimeoutError(
      `could not connect to the chip on ${this.transport.path} after ${attempts} attempts: ${lastProblem}. ` +
        "Check that the board is powered, the port is the right one, and the chip is in download mode " +
        "(hold BOOT, tap RESET); try --before no-reset after entering download mode by hand.",
      { code: "E_CONNECT_FAILED", details: { port: this.transport.path, attempts } },
    );
  }

  /** Gather text the chip prints (boot banner) for up to `ms` of silence. */
  async #collectNoise(ms: number): Promise<string> {
    for (;;) {
      const chunk = await this.transport.read(ms);
      if (!chunk) break;
      this.#traceIn(chunk);
      this.#frames.push(...this.#decoder.push(chunk));
    }
    return new TextDecoder().decode(this.#decoder.takeNoise());
  }

  #traceIn(bytes: Uint8Array): void {
    if (this.#trace) this.#emit({ type: "trace", direction: "in", bytes });
  }

  /** SYNC once (esptool loader.py sync): one command, then drain the ROM's extra answers. */
  async sync(): Promise<void> {
    const { value } = await this.command(Op.SYNC, SYNC_PAYLOAD, {
      timeoutMs: SYNC_TIMEOUT_MS,
      what: "sync",
    });
    // ROM bootloaders answer SYNC with a non-zero value; the stub answers 0.
    let stub = value === 0;
    // Both answer eight times (serial-protocol.rst); the command took the first.
    let extra = 0;
    for (; extra < SYNC_EXTRA_ANSWERS; extra++) {
      const frame = await this.#readFrame(Date.now() + SYNC_TIMEOUT_MS);
      if (!frame) break;
      try {
        const r = decodeResponse(frame);
        if (r.op === Op.SYNC) stub &&= r.value === 0;
        else this.requestResync("a stray frame among the SYNC answers");
      } catch {
        this.requestResync("a malformed frame among the SYNC answers");
      }
    }
    // Missing answers may still be on their way: they must not be read as the
    // answers to the next command.
    if (extra < SYNC_EXTRA_ANSWERS) this.requestResync("fewer SYNC answers than the loader sends");
    this.#stubDetectedAtSync = stub;
  }

  async #detect(wanted: ChipFamily | null): Promise<void> {
    let chipId: number | null = null;
    const port = this.transport.path;
    let first: SecurityInfo | null = null;
    try {
      first = await this.getSecurityInfo();
    } catch (e) {
      if (!(e instanceof LoaderStatusError || e instanceof TimeoutError)) throw e;
      this.log("debug", `GET_SECURITY_INFO not available (${(e as Error).message})`);
    }
    if (first) {
      // Its answer has no checksum: a flipped bit can name another chip. Read it until two agree.
      this.securityInfo = await readConfirmed("chip id", () => this.getSecurityInfo(), {
        port,
        initial: { value: first },
      });
      chipId = this.securityInfo.chipId;
      this.secureDownload = this.securityInfo.secureDownload;
    }
    let detected: ChipFamily | null = null;
    if (chipId !== null) {
      detected = chipByImageId(chipId);
      if (!detected) {
        throw new EsplineError(
          "E_UNKNOWN_CHIP",
          `the chip reports id ${chipId}, which espline does not know; update espline or pass --chip`,
          { details: { chipId } },
        );
      }
    } else if (this.secureDownload) {
      // ESP32-S2 in secure download mode: no chip id and READ_REG refused.
      detected = chipByKey("esp32s2");
    } else {
      const magic = await readConfirmed(
        "chip detect value",
        () => this.readReg(CHIP_DETECT_MAGIC_REG_ADDR),
        { port, show: (v) => `0x${v.toString(16).padStart(8, "0")}` },
      );
      detected = chipByMagic(magic);
      if (!detected) {
        throw new EsplineError(
          "E_UNKNOWN_CHIP",
          `unrecognised chip (magic value 0x${
            magic.toString(16).padStart(8, "0")
          } at 0x40001000); ` +
            "update espline, or check the port is an Espressif chip",
          { details: { magic } },
        );
      }
    }
    if (wanted && wanted.key !== detected.key) {
      throw new UsageError(
        `this chip is ${detected.name}, not ${wanted.name}: wrong --chip argument?`,
        {
          code: "E_WRONG_CHIP",
          details: { detected: detected.key, wanted: wanted.key },
        },
      );
    }
    this.#chip = detected;
    if (this.#stubDetectedAtSync) {
      this.#setStub(true);
      this.log("info", "flasher stub is already running; no upload needed");
    }
  }

  async #readFrame(deadline: number): Promise<Uint8Array | null> {
    this.#suspectReset = false;
    let noiseBytes = 0;
    while (this.#frames.length === 0) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) return null;
      const chunk = await this.transport.read(remaining);
      if (!chunk) return null;
      this.#traceIn(chunk);
      this.#frames.push(...this.#decoder.push(chunk));
      if (this.#watchForReset) {
        noiseBytes += this.#checkForReset();
        // Once connected the loader sends nothing outside frames. A burst of stray
        // bytes with no answer soon after is what a chip rebooting at another baud
        // looks like: stop waiting for the full timeout.
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
  #suspectReset = false;

  /**
   * Once connected, text outside frames means the chip printed something: a
   * ROM boot banner (`rst:0x…`) means it reset (brown-out, unplugged power,
   * a watchdog). Fail at once instead of waiting out a timeout.
   */
  #checkForReset(): number {
    const noise = this.#decoder.takeNoise();
    if (noise.length === 0) return 0;
    this.#noiseTail = (this.#noiseTail + new TextDecoder().decode(noise)).slice(-512);
    const m = /rst:(0x[0-9a-f]+)(?: \(([A-Z_]+)\))?/i.exec(this.#noiseTail);
    if (m) {
      this.#noiseTail = "";
      this.#frames = [];
      this.#setStub(false);
      this.spiAttached = false;
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
  #noiseTail = "";
  #watchForReset = false;

  /** Read one raw SLIP frame (used by streaming reads). `null` on timeout. */
  readFrame(timeoutMs: number): Promise<Uint8Array | null> {
    return this.#readFrame(Date.now() + timeoutMs);
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
  #resyncReason: string | null = null;

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
      if (this.#watchForReset) this.#checkForReset();
    }
    this.#decoder.reset();
    if (dropped || bytes) {
      this.log(
        "debug",
        `resynchronised after ${reason}: dropped ${dropped} frame(s), ${bytes} byte(s)`,
      );
    }
  }

  /** Run `fn` with the session to itself (one command exchange at a time). */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(fn, fn);
    this.#lock = run.catch(() => {});
    return run;
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
    return this.exclusive(() => this.#command(op, data, options));
  }

  async #command(op: number, data: Uint8Array, options: CommandOptions): Promise<CommandResult> {
    if (this.#closed) {
      throw new EsplineError("E_SESSION_CLOSED", "the session is closed; connect again");
    }
    const what = options.what ?? opName(op);
    await this.writeFrame(encodeRequest(op, data, options.checksum ?? 0));
    const timeoutMs = options.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const frame = await this.#readFrame(deadline);
      if (!frame) {
        // Its answer may still come: it must not be taken for the next one's.
        this.requestResync(`no answer to ${opName(op)}`);
        if (this.#suspectReset) {
          this.#setStub(false);
          this.spiAttached = false;
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
      let response;
      try {
        response = decodeResponse(frame);
      } catch {
        // Not a response: stale data or noise inside delimiters.
        this.requestResync("a malformed frame");
        continue;
      }
      if (response.op === op) {
        try {
          const payload = checkStatus(op, response.data, options.payloadLength ?? 0, what);
          return { value: response.value, payload };
        } catch (e) {
          this.requestResync(`an error answer to ${opName(op)}`);
          throw e;
        }
      }
      if (isUnsupportedAnswer(response)) {
        this.requestResync(`the unsupported-command answer to ${opName(op)}`);
        throw new LoaderStatusError(op, ROM_INVALID_MESSAGE, what);
      }
      // An answer to something else (a late or repeated answer): skip it, and
      // drain whatever else of it is still coming before the next command.
      this.requestResync(`an answer to ${opName(response.op)} while waiting for ${opName(op)}`);
    }
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
    options: CommandOptions & { attempts?: number; retryStatuses?: readonly number[] } = {},
  ): Promise<CommandResult> {
    const attempts = options.attempts ?? 3;
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

  /** READ_REG: one 32-bit word of the chip's address space. */
  async readReg(address: number): Promise<number> {
    const { value } = await this.commandWithRetry(Op.READ_REG, u32le(address), {
      what: "read register",
    });
    return value >>> 0;
  }

  /** WRITE_REG with an optional mask and delay (µs) after the write. */
  async writeReg(address: number, value: number, mask = 0xffffffff, delayUs = 0): Promise<void> {
    await this.command(Op.WRITE_REG, u32le(address, value, mask, delayUs), {
      what: "write register",
    });
  }

  /** GET_SECURITY_INFO (ESP32-S2 and later ROMs). */
  async getSecurityInfo(): Promise<SecurityInfo> {
    const { payload } = await this.exclusive(async () => {
      // The answer length tells the long (S3+) form from the short (S2) form.
      await this.writeFrame(encodeRequest(Op.GET_SECURITY_INFO));
      const deadline = Date.now() + DEFAULT_COMMAND_TIMEOUT_MS;
      for (;;) {
        const frame = await this.#readFrame(deadline);
        if (!frame) {
          this.requestResync("no answer to GET_SECURITY_INFO");
          throw new TimeoutError("no answer to GET_SECURITY_INFO");
        }
        let r;
        try {
          r = decodeResponse(frame);
        } catch {
          this.requestResync("a malformed frame");
          continue;
        }
        if (r.op !== Op.GET_SECURITY_INFO) {
          if (isUnsupportedAnswer(r)) {
            // The ESP32 ROM: several copies of an error frame under the opcode
            // it answered before (eight right after SYNC).
            this.requestResync("the unsupported-command answer to GET_SECURITY_INFO");
            throw new LoaderStatusError(
              Op.GET_SECURITY_INFO,
              ROM_INVALID_MESSAGE,
              "get security info",
            );
          }
          this.requestResync(`an answer to ${opName(r.op)} while waiting for GET_SECURITY_INFO`);
          continue;
        }
        const long = r.data.length >= 22;
        const len = long ? 20 : 12;
        try {
          return {
            payload: checkStatus(r.op, r.data, r.data.length >= 14 ? len : 0, "get security info"),
          };
        } catch (e) {
          this.requestResync("an error answer to GET_SECURITY_INFO");
          throw e;
        }
      }
    });
    if (payload.length < 12) {
      throw new EsplineError("E_SHORT_RESPONSE", "GET_SECURITY_INFO answer too short");
    }
    const flags = readU32le(payload, 0);
    return {
      flags,
      flashCryptCount: payload[4],
      keyPurposes: Array.from(payload.subarray(5, 12)),
      chipId: payload.length >= 20 ? readU32le(payload, 12) : null,
      apiVersion: payload.length >= 20 ? readU32le(payload, 16) : null,
      secureDownload: (flags & (1 << 2)) !== 0,
    };
  }

  /**
   * Upload and start the flasher stub (MEM_BEGIN / MEM_DATA / MEM_END), then
   * wait for its `OHAI` greeting. No-op when the stub already runs.
   */
  async runStub(options: { signal?: AbortSignal; stubDir?: string } = {}): Promise<void> {
    if (this.isStub) return;
    if (this.secureDownload) {
      throw new EsplineError(
        "E_SECURE_DOWNLOAD",
        "the chip is in secure download mode, which forbids running the flasher stub; use --no-stub",
      );
    }
    const rev = await readRevisionConfirmed(this);
    const stubName = this.chip.stubNameForRevision
      ? this.chip.stubNameForRevision(rev)
      : this.chip.stubName;
    if (!stubName) {
      throw new EsplineError(
        "E_NO_STUB",
        `no flasher stub is available for ${this.chip.name} v${rev.major}.${rev.minor}; use --no-stub`,
      );
    }
    const stub: StubImage = await loadStubImage(stubName, { stubDir: options.stubDir });
    this.log("info", "uploading stub flasher");
    this.log("debug", `stub from ${stub.source}`);
    for (const seg of [stub.text, stub.data]) {
      if (!seg) continue;
      throwIfAborted(options.signal);
      const blocks = Math.ceil(seg.bytes.length / RAM_BLOCK_SIZE);
      await this.command(
        Op.MEM_BEGIN,
        u32le(seg.bytes.length, blocks, RAM_BLOCK_SIZE, seg.address),
        {
          what: "enter RAM download mode",
        },
      );
      for (let seq = 0; seq < blocks; seq++) {
        const block = seg.bytes.subarray(seq * RAM_BLOCK_SIZE, (seq + 1) * RAM_BLOCK_SIZE);
        await this.commandWithRetry(
          Op.MEM_DATA,
          concatBytes(u32le(block.length, seq, 0, 0), block),
          {
            checksum: checksum(block),
            what: "write to RAM",
            retryStatuses: SPOILED_BLOCK_STATUSES,
          },
        );
      }
    }
    this.log("info", "running stub flasher");
    await this.exclusive(async () => {
      await this.writeFrame(encodeRequest(Op.MEM_END, u32le(stub.entry === 0 ? 1 : 0, stub.entry)));
      const deadline = Date.now() + DEFAULT_COMMAND_TIMEOUT_MS;
      for (;;) {
        const frame = await this.#readFrame(deadline);
        if (!frame) {
          throw new TimeoutError(
            "the flasher stub did not start (no OHAI greeting); retry, or use --no-stub",
            { code: "E_STUB_FAILED" },
          );
        }
        if (new TextDecoder().decode(frame) === "OHAI") break;
        // The MEM_END answer (the ROM may or may not send it before jumping) is
        // expected; anything else is left over and the line needs draining.
        let memEnd = false;
        try {
          memEnd = decodeResponse(frame).op === Op.MEM_END;
        } catch { /* not a response */ }
        if (!memEnd) this.requestResync("an unexpected frame before the stub's greeting");
      }
    });
    this.#setStub(true);
    this.spiAttached = false;
  }

  /**
   * Switch the line to `baud` (CHANGE_BAUDRATE). If the chip refuses, the
   * session stays at the old speed and a warning is logged; returns the baud
   * in use afterwards.
   */
  async changeBaud(baud: number): Promise<number> {
    const old = this.transport.baud;
    if (baud === old) return old;
    // The ESP32-C2 ROM assumes a 40 MHz crystal: with a 26 MHz one, ask for a
    // scaled rate so the UART ends up at the wanted one (esptool ESP32C2ROM.change_baud).
    const loader = this.loader;
    let asked = baud;
    if (loader.baudRequest) {
      const crystal = this.crystalMhz ?? await this.chip.readCrystalMhz(this.readRegFn, old);
      asked = loader.baudRequest(baud, crystal);
    }
    try {
      await this.command(
        Op.CHANGE_BAUDRATE,
        u32le(asked, loader.changeBaudSendsOldRate ? old : 0),
        {
          what: "change baud rate",
        },
      );
    } catch (e) {
      if (e instanceof LoaderStatusError || e instanceof TimeoutError) {
        this.log("warn", `could not change baud rate to ${baud} (${e.message}); staying at ${old}`);
        return old;
      }
      throw e;
    }
    await this.transport.setBaud(baud);
    // The chip may emit junk while switching (esptool waits 50 ms and flushes):
    // drain until the line is quiet before the first command at the new rate.
    this.requestResync("the baud rate change");
    try {
      await this.readReg(CHIP_DETECT_MAGIC_REG_ADDR);
    } catch (e) {
      throw new EsplineError(
        "E_BAUD_FAILED",
        `the link does not work at ${baud} baud (${(e as Error).message}); use a lower --baud`,
        { cause: e, details: { baud, old } },
      );
    }
    this.log("info", `changed baud rate to ${baud}`);
    return baud;
  }

  /** SPI_ATTACH (ROM needs it before flash commands; the stub accepts it too). */
  async spiAttach(): Promise<void> {
    if (this.spiAttached) return;
    const loader = this.loader;
    if (loader.spiAttachArg) {
      await this.commandWithRetry(Op.SPI_ATTACH, loader.spiAttachArg, { what: "attach SPI flash" });
    } else {
      // No SPI_ATTACH (ESP8266 ROM): a zero-length FLASH_BEGIN attaches the flash.
      await this.command(Op.FLASH_BEGIN, u32le(0, 0, loader.flashWriteSize, 0), {
        what: "attach SPI flash",
      });
    }
    this.spiAttached = true;
  }

  /** SPI_SET_PARAMS: tell the loader the flash geometry (esptool flash_set_parameters). */
  async setFlashParams(size: number): Promise<void> {
    this.flashSize = size;
    if (!this.loader.setFlashParams) return; // not in the ESP8266 ROM; harmless to skip
    await this.command(
      Op.SPI_SET_PARAMS,
      u32le(0, size, 64 * 1024, 4 * 1024, 256, 0xffff),
      { what: "set SPI flash parameters" },
    );
  }

  /**
   * Run a raw SPI flash command through the SPI controller registers
   * (esptool loader.py run_spiflash_command) and return up to 32 bits read back.
   */
  async runSpiFlashCommand(command: number, readBits: number): Promise<number> {
    const r = this.chip.spi;
    const USR_COMMAND = 1 << 31; // SPI_USR_COMMAND
    const USR_MISO = 1 << 28; // SPI_USR_MISO
    const CMD_USR = 1 << 18; // SPI_CMD_USR
    const USR2_COMMAND_LEN_SHIFT = 28;
    const oldUsr = await this.readReg(r.usr);
    const oldUsr2 = await this.readReg(r.usr2);
    if (r.mosiDlen !== undefined && r.misoDlen !== undefined) {
      if (readBits > 0) await this.writeReg(r.misoDlen, readBits - 1);
    } else {
      // ESP8266: data lengths live in USR1 (MISO bit length at bit 8, MOSI at bit 17).
      const misoMask = readBits === 0 ? 0 : readBits - 1;
      await this.writeReg(r.usr1, misoMask << 8);
    }
    let flags = USR_COMMAND;
    if (readBits > 0) flags |= USR_MISO;
    await this.writeReg(r.usr, flags >>> 0);
    await this.writeReg(r.usr2, ((7 << USR2_COMMAND_LEN_SHIFT) | command) >>> 0);
    await this.writeReg(r.w0, 0);
    await this.writeReg(r.cmd, CMD_USR);
    let done = false;
    for (let i = 0; i < 10; i++) {
      if ((await this.readReg(r.cmd) & CMD_USR) === 0) {
        done = true;
        break;
      }
    }
    if (!done) {
      throw new EsplineError(
        "E_SPI_TIMEOUT",
        "SPI flash command did not complete; check the flash is attached",
      );
    }
    const value = await this.readReg(r.w0);
    await this.writeReg(r.usr, oldUsr);
    await this.writeReg(r.usr2, oldUsr2);
    return value;
  }

  /** JEDEC id of the flash chip (RDID, 0x9F): `manufacturer | device << 8`. */
  async flashId(): Promise<number> {
    await this.spiAttach();
    return await this.runSpiFlashCommand(0x9f, 24) & 0xffffff;
  }

  /** A reader for chip-facts functions. */
  readonly readRegFn = (address: number): Promise<number> => this.readReg(address);

  /** Release the transport. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.transport.close();
  }

  /** `await using` support. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Reason byte of the ROM's "invalid message" status (esptool ROM_INVALID_RECV_MSG). */
const ROM_INVALID_REASON = 0x05;
/** The full status of an unsupported command, as {@link LoaderStatusError} reads it. */
const ROM_INVALID_MESSAGE = 0x0100 | ROM_INVALID_REASON;

/** The ROM's answer to a command it does not know (failure flag, reason 0x05), under any opcode. */
function isUnsupportedAnswer(r: { data: Uint8Array }): boolean {
  return r.data.length >= 2 && r.data[0] !== 0 && r.data[1] === ROM_INVALID_REASON;
}
