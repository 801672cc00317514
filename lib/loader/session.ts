/**
 * One session with a chip's serial bootloader: what is known about the chip
 * and the loader answering it, and the operations on it. The work is done in
 * the modules beside this one, along the session's seams:
 *
 * - `exchange.ts`: SLIP frames, one command at a time, the one frame-wait
 *   loop, resynchronising, a chip reset noticed;
 * - `connect.ts`: reset and SYNC until the loader answers, chip detection;
 * - `stub_upload.ts`: the flasher stub into RAM and running;
 * - `baud.ts`: the baud rate change;
 * - `spi_flash.ts`: attaching the flash, its parameters, raw SPI commands;
 * - `capabilities.ts`: what the loader running now can do.
 *
 * @module
 */

import { EsplineError } from "../errors.ts";
import type { Transport } from "../transport/transport.ts";
import { Op, u32le } from "../protocol/packet.ts";
import type { ChipFamily } from "../chips/types.ts";
import { chipByKey } from "../chips/index.ts";
import { confirmedReader } from "./identity.ts";
import { type LoaderCapabilities, loaderCapabilities } from "./capabilities.ts";
import {
  type CommandOptions,
  type CommandResult,
  Exchange,
  type FrameVerdict,
  type LoaderEvent,
  type RetryOptions,
} from "./exchange.ts";
import {
  connectLoop,
  detectChip,
  type LoaderConnectOptions,
  readSecurityInfo,
  type SecurityInfo,
  syncOnce,
} from "./connect.ts";
import { uploadStub, type UploadStubOptions } from "./stub_upload.ts";
import { changeBaud, ROM_BAUD } from "./baud.ts";
import { attachFlash, readFlashId, runSpiFlashCommand, sendFlashParams } from "./spi_flash.ts";
import type { ResetStrategy } from "./reset.ts";

export { ROM_BAUD };
export type {
  CommandOptions,
  CommandResult,
  FrameVerdict,
  LoaderConnectOptions,
  LoaderEvent,
  ResetStrategy,
  RetryOptions,
  SecurityInfo,
};

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

  #exchange: Exchange;
  #chip: ChipFamily | null = null;
  #stub = false;
  #capabilities: LoaderCapabilities | null = null;
  #onEvent: (event: LoaderEvent) => void;

  private constructor(transport: Transport, options: LoaderConnectOptions) {
    this.transport = transport;
    this.#onEvent = options.onEvent ?? (() => {});
    this.#exchange = new Exchange(transport, {
      emit: (event) => this.#emit(event),
      trace: options.trace,
      onChipReset: () => {
        // Whatever ran on the chip is gone: it is back in its ROM, flash detached.
        this.#setStub(false);
        this.spiAttached = false;
      },
    });
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
    const exchange = session.#exchange;
    const stubAnswered = await connectLoop(exchange, options);
    const detected = await detectChip(exchange, { wanted, readReg: session.readRegFn });
    session.#chip = detected.chip;
    session.securityInfo = detected.securityInfo;
    session.secureDownload = detected.securityInfo?.secureDownload ?? false;
    if (stubAnswered) {
      session.#setStub(true);
      session.log("info", "Stub flasher is already running. No upload is necessary.");
    } else {
      session.crystalMhz = await session.chip.readCrystalMhz(
        confirmedReader(session, "crystal"),
        transport.baud,
      );
    }
    exchange.takeNoise();
    exchange.watchForReset = true;
    session.#emit({ type: "connected", chip: session.chip.name, stub: session.#stub });
    return session;
  }

  /** The detected chip family. */
  get chip(): ChipFamily {
    if (!this.#chip) throw new EsplineError("E_NOT_DETECTED", "the chip has not been detected yet");
    return this.#chip;
  }

  /**
   * What the loader answering now can do (the chip's ROM loader or the
   * flasher stub): what the flash operations ask instead of the chip's name.
   * `loader.kind` says which one runs (`"stub"` once the flasher stub runs or
   * was found running; `"rom"` again after a chip reset).
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

  /** SYNC once (esptool loader.py sync): one command, then drain the loader's extra answers. */
  async sync(): Promise<void> {
    await syncOnce(this.#exchange);
  }

  /** Read one raw SLIP frame (used by streaming reads). `null` on timeout. */
  readFrame(timeoutMs: number): Promise<Uint8Array | null> {
    return this.#exchange.readFrame(timeoutMs);
  }

  /**
   * Wait up to `timeoutMs` until `classify` takes a frame (see
   * {@link FrameVerdict}): for answers that are not plain command answers
   * (a stub's greeting, a stream's header). `null` on timeout.
   */
  awaitFrame<T>(
    timeoutMs: number,
    classify: (frame: Uint8Array) => FrameVerdict<T>,
  ): Promise<T | null> {
    return this.#exchange.awaitFrame(timeoutMs, classify);
  }

  /**
   * Send raw bytes wrapped in one SLIP frame (used by streaming reads to
   * acknowledge). A pending resynchronisation ({@link requestResync}) runs
   * first, so nothing left over from an earlier exchange is read as an answer
   * to this one.
   */
  writeFrame(payload: Uint8Array): Promise<void> {
    return this.#exchange.writeFrame(payload);
  }

  /**
   * Ask for the input to be drained before the next frame is sent: after an
   * error answer, a timeout, an unexpected or malformed frame (see
   * `Exchange.requestResync`).
   */
  requestResync(reason: string): void {
    this.#exchange.requestResync(reason);
  }

  /** Run `fn` with the session to itself (one command exchange at a time). */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.#exchange.exclusive(fn);
  }

  /**
   * Send a command and wait for its answer; check the status bytes.
   *
   * Throws `LoaderStatusError` when the chip reports a failure and
   * `TimeoutError` when it does not answer in time.
   */
  command(
    op: number,
    data: Uint8Array = new Uint8Array(0),
    options: CommandOptions = {},
  ): Promise<CommandResult> {
    return this.#exchange.command(op, data, options);
  }

  /**
   * {@link command} that resends on a corrupted exchange (bad checksum
   * reported by the chip, a garbled or missing answer), up to `attempts`
   * times. Only for commands that are safe to repeat (data blocks the chip
   * accepts again with the same sequence number, reads).
   */
  commandWithRetry(
    op: number,
    data: Uint8Array,
    options: RetryOptions = {},
  ): Promise<CommandResult> {
    return this.#exchange.commandWithRetry(op, data, options);
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

  /** A reader for chip-facts functions. */
  readonly readRegFn = (address: number): Promise<number> => this.readReg(address);

  /** GET_SECURITY_INFO (ESP32-S2 and later ROMs). */
  getSecurityInfo(): Promise<SecurityInfo> {
    return readSecurityInfo(this.#exchange);
  }

  /**
   * Upload and start the flasher stub (MEM_BEGIN / MEM_DATA / MEM_END), then
   * wait for its `OHAI` greeting. No-op when the stub already runs.
   */
  async runStub(options: UploadStubOptions = {}): Promise<void> {
    if (this.#stub) return;
    await uploadStub(this, options);
    this.#setStub(true);
    this.spiAttached = false;
  }

  /**
   * Switch the line to `baud` (CHANGE_BAUDRATE). If the chip refuses, the
   * session stays at the old speed and a warning is logged; returns the baud
   * in use afterwards.
   */
  changeBaud(baud: number): Promise<number> {
    return changeBaud(this, baud);
  }

  /** Attach the SPI flash, once per session (the ROM needs it before flash commands). */
  async spiAttach(): Promise<void> {
    if (this.spiAttached) return;
    await attachFlash(this);
    this.spiAttached = true;
  }

  /** SPI_SET_PARAMS: tell the loader the flash geometry (esptool flash_set_parameters). */
  async setFlashParams(size: number): Promise<void> {
    this.flashSize = size;
    await sendFlashParams(this, size);
  }

  /**
   * Run a raw SPI flash command through the SPI controller registers
   * (esptool loader.py run_spiflash_command) and return up to 32 bits read back.
   */
  runSpiFlashCommand(command: number, readBits: number): Promise<number> {
    return runSpiFlashCommand(this, command, { readBits });
  }

  /** JEDEC id of the flash chip (RDID, 0x9F): `manufacturer | device << 8`. */
  flashId(): Promise<number> {
    return readFlashId(this);
  }

  /** Release the transport. Idempotent. */
  async close(): Promise<void> {
    await this.#exchange.close();
  }

  /** `await using` support. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
