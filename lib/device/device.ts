/**
 * The scripting API's device: one connected board with every operation a
 * production script needs, as methods — `info`, `flash` (the whole write
 * job), `verify`, `read`, `erase`, `reset`, `monitor`. Built on the loader
 * session and the flash operations; owns its port and releases it on every
 * path (`await using`).
 *
 * @module
 */

import { EsplineError, TransportError, UsageError } from "../errors.ts";
import {
  closeSession,
  openSession,
  type OpenSessionOptions,
  setupSession,
} from "../loader/open_session.ts";
import { type LoaderSession, ROM_BAUD } from "../loader/session.ts";
import {
  type After,
  type ConnectOptions,
  normalizeConnectOptions,
  type NormalizedConnectOptions,
} from "../loader/connect_options.ts";
import { type ChipInfo, type FlashInfo, readChipInfo, readFlashInfo } from "../loader/info.ts";
import {
  BoardChangedError,
  type BoardIdentity,
  confirmedReader,
  readIdentity,
  sameBoard,
} from "../loader/identity.ts";
import { formatMac } from "../chips/index.ts";
import type { FlashVoltage } from "../chips/types.ts";
import { hardReset, isNoModemLines } from "../loader/reset.ts";
import { LoaderStatusError } from "../protocol/status.ts";
import type { Transport } from "../transport/transport.ts";
import { type Monitor, type MonitorOptions, openMonitor } from "../monitor/monitor.ts";
import type { DeviceEvent } from "./events.ts";
import { type FirmwareSource, loadFirmware } from "./firmware.ts";
import {
  flashFirmware,
  type FlashOptions,
  type FlashReport,
  type JobHost,
  verifyFirmware,
  type VerifyOptions,
  type VerifyReport,
} from "./flash_job.ts";
import {
  eraseArea,
  type EraseOptions,
  type EraseReport,
  type FlashArea,
  readArea,
  readChipPartitionTable,
  type ReadOptions,
} from "./flash_ops.ts";
import type { Partition } from "../image/partition.ts";
import type { NvsData } from "../image/nvs_gen.ts";
import type { NvsRow } from "../image/nvs_csv.ts";
import {
  nvsKeyNames,
  nvsPartition,
  type NvsWriteReport,
  sha256Hex,
  type WriteNvsOptions,
} from "./nvs_write.ts";
import { buildNvs } from "../image/nvs_gen.ts";

/**
 * Options for {@link connect}: how to connect ({@link ConnectOptions}), plus
 * where the device's events go and a signal that cancels connecting.
 */
export interface DeviceOptions extends ConnectOptions {
  /** Every log line, connect attempt, progress step, notice and recovery of this device. Default none. */
  onEvent?: (event: DeviceEvent) => void;
  /** Cancels connecting (operations take their own signal). */
  signal?: AbortSignal;
}

/** Chip facts plus the flash chip's. */
export interface DeviceInfo extends ChipInfo {
  /**
   * The chip ID esptool's `chip-id` prints: on the ESP8266 the SDK's
   * `system_get_chip_id()` (from its OTP MAC words); null on chips that have
   * none, where esptool prints the MAC instead. (`chipId` is the chip-type
   * id GET_SECURITY_INFO reports, a different number.)
   */
  otpChipId: number | null;
  /**
   * The MAC as an EUI-64 (`aa:bb:cc:ff:fe:dd:ee:ff`) on chips with an
   * 802.15.4 radio (ESP32-C6, H2, C5), which esptool's `read-mac` prints
   * first; null elsewhere.
   */
  eui64: string | null;
  /** The two MAC_EXT bytes that make the EUI-64 (`ff:fe`), or null (see {@link DeviceInfo.eui64}). */
  macExt: string | null;
  /**
   * The flash chip's JEDEC id and size; null when not asked for (`flash:
   * false`) or when the loader would not tell (secure download mode).
   */
  flash: FlashInfo | null;
  /** Flash size in bytes from the JEDEC id, or null when unknown. */
  flashSize: number | null;
  /**
   * Where the flash supply voltage comes from (ESP32, S2, S3: what esptool's
   * `flash-id` prints last); null on other chips or when not asked for.
   */
  flashVoltage: FlashVoltage | null;
  /** The flash interface the eFuses select (ESP32-S2, S3), or null. */
  flashType: "quad" | "octal" | null;
  /** Port the device is on. */
  port: string;
}

let sessionGetter: (device: Device) => LoaderSession;
let createDevice: (
  session: LoaderSession,
  identity: BoardIdentity,
  options: NormalizedConnectOptions & { onEvent?: (event: DeviceEvent) => void },
) => Device;

/**
 * The loader session under a device, for low-level operations of your own
 * (the free functions over a session in `low_level.ts`). Throws when the
 * device is closed or runs its application (until `reset("download")`).
 *
 * @example
 * ```ts
 * import { connect, sessionOf } from "./device.ts";
 * await using dev = await connect("sim://esp32c3");
 * console.log(sessionOf(dev).loader.kind);
 * ```
 */
export function sessionOf(device: Device): LoaderSession {
  return sessionGetter(device);
}

/** Options for {@link Device.info}. */
export interface InfoOptions {
  /** Also read the flash chip's JEDEC id and size. Default true. */
  flash?: boolean;
}

/**
 * A connected board. Get one with {@link connect}.
 *
 * @example
 * ```ts
 * import { connect } from "./device.ts";
 * await using dev = await connect("sim://esp32s3?mac=02:aa:bb:cc:dd:01");
 * console.log(await dev.readMac());
 * ```
 */
export class Device {
  /** Port path or URL. */
  readonly port: string;
  /**
   * Options every {@link Device.flash} starts from; a call's own options win.
   * `runStation` sets `{ resume: true }` for its jobs. Default none.
   */
  flashDefaults: FlashOptions = {};
  #session: LoaderSession | null;
  #detachedTransport: Transport | null = null;
  #options: NormalizedConnectOptions;
  #onEvent: (event: DeviceEvent) => void;
  #chipInfo: ChipInfo | null = null;
  #idFacts: Pick<DeviceInfo, "otpChipId" | "eui64" | "macExt"> | null = null;
  #flashInfo: FlashInfo | null | undefined = undefined;
  #flashFacts: Pick<DeviceInfo, "flashVoltage" | "flashType"> | null = null;
  #closed = false;
  /** The board this device was connected to (chip and MAC, confirmed). */
  #identity: BoardIdentity;
  /** Set once another board answered after a reconnect: every loader operation fails with it. */
  #changed: BoardChangedError | null = null;

  /** Use {@link connect}. */
  private constructor(
    session: LoaderSession,
    identity: BoardIdentity,
    options: NormalizedConnectOptions & { onEvent?: (event: DeviceEvent) => void },
  ) {
    this.port = session.transport.path;
    this.#session = session;
    this.#identity = identity;
    const { onEvent, ...settings } = options;
    this.#options = settings;
    this.#onEvent = onEvent ?? (() => {});
  }

  /** The loader session; throws when closed, while the application runs, or after the board changed. */
  #requireSession(): LoaderSession {
    if (this.#closed) {
      throw new EsplineError("E_DEVICE_CLOSED", `the device on ${this.port} is closed`);
    }
    if (this.#changed) throw this.#changed;
    if (!this.#session) {
      throw new EsplineError(
        "E_NOT_IN_LOADER",
        `the device on ${this.port} is running its application; call reset("download") before loader operations`,
      );
    }
    return this.#session;
  }

  static {
    sessionGetter = (device) => device.#requireSession();
    createDevice = (session, identity, options) => new Device(session, identity, options);
  }

  /** The working baud rate right now (it drops after a resumed write steps down). */
  get baud(): number {
    return (this.#session?.transport ?? this.#detachedTransport)?.baud ?? this.#options.baud;
  }

  #emit = (event: DeviceEvent): void => {
    try {
      this.#onEvent({ ...event, port: this.port });
    } catch {
      // A caller's display failing must not break the device.
    }
  };

  #host(): JobHost {
    const session = () => this.#requireSession();
    return {
      get session() {
        return session();
      },
      emit: this.#emit,
      reconnect: (o) => this.reconnect(o),
    };
  }

  /**
   * Chip type, revision, features, crystal, MAC, and the flash chip's id and
   * size (read once, then cached). `flash: false` skips the flash chip (no
   * SPI commands: what `read-mac` needs). Every value is read until two
   * reads agree, and an ESP32's MAC is checked against its eFuse CRC.
   *
   * @throws {IdentityUnstableError} (`E_IDENTITY_UNSTABLE`) when a value never reads the same twice.
   * @throws {MacCrcError} (`E_MAC_CRC`) when the eFuse MAC is damaged.
   *
   * @example
   * ```ts
   * import { connect } from "./device.ts";
   * await using dev = await connect("sim://esp32c3");
   * const info = await dev.info();
   * console.log(info.description, info.mac, info.flashSize);
   * ```
   */
  async info(options: InfoOptions = {}): Promise<DeviceInfo> {
    this.#chipInfo ??= await readChipInfo(this.#requireSession(), { identity: this.#identity });
    this.#idFacts ??= await this.#readIdFacts(this.#chipInfo.mac);
    const withFlash = options.flash ?? true;
    if (withFlash && this.#flashInfo === undefined) {
      const session = this.#requireSession();
      // Secure download mode refuses the flash commands; the chip facts still stand.
      this.#flashInfo = session.secureDownload ? null : await readFlashInfo(session);
    }
    if (withFlash) this.#flashFacts ??= await this.#readFlashFacts();
    const flash = this.#flashInfo ?? null;
    return {
      ...this.#chipInfo,
      ...this.#idFacts,
      flash,
      flashSize: flash?.size ?? null,
      flashVoltage: this.#flashFacts?.flashVoltage ?? null,
      flashType: this.#flashFacts?.flashType ?? null,
      port: this.port,
    };
  }

  /** A register read the loader may refuse (secure download mode): null then. */
  async #optional<T>(read: (() => Promise<T>) | undefined): Promise<T | null> {
    if (!read) return null;
    try {
      return await read();
    } catch (e) {
      if (e instanceof LoaderStatusError) return null;
      throw e;
    }
  }

  async #readIdFacts(mac: string): Promise<Pick<DeviceInfo, "otpChipId" | "eui64" | "macExt">> {
    const session = this.#requireSession();
    const chip = session.chip;
    // Identity too (the EUI-64 a line may key on): from confirmed register words.
    const rd = confirmedReader(session, "chip id and MAC_EXT");
    const otpChipId = await this.#optional(chip.readChipId && (() => chip.readChipId!(rd)));
    const ext = await this.#optional(chip.readMacExt && (() => chip.readMacExt!(rd)));
    if (!ext) return { otpChipId, eui64: null, macExt: null };
    const macExt = formatMac(ext);
    const octets = mac.split(":");
    return {
      otpChipId,
      eui64: [...octets.slice(0, 3), macExt, ...octets.slice(3)].join(":"),
      macExt,
    };
  }

  async #readFlashFacts(): Promise<Pick<DeviceInfo, "flashVoltage" | "flashType">> {
    const session = this.#requireSession();
    const chip = session.chip;
    const rd = confirmedReader(session, "flash voltage and type");
    return {
      flashVoltage: await this.#optional(
        chip.readFlashVoltage && (() => chip.readFlashVoltage!(rd)),
      ),
      flashType: await this.#optional(chip.readFlashType && (() => chip.readFlashType!(rd))),
    };
  }

  /** Base MAC address, `aa:bb:cc:dd:ee:ff`. */
  async readMac(): Promise<string> {
    return (await this.info({ flash: false })).mac;
  }

  /**
   * Write a firmware set: the whole write job (flash settings from the
   * options or the build's manifest, bootloader header patched, partition
   * names resolved, pre-flight checks that refuse a wrong image with a
   * {@link PreflightError} before anything is written, unchanged regions
   * skipped, changed chunks rewritten, every region verified; with `resume`,
   * carrying on after link faults). Progress, notices and recoveries go to
   * the device's event sink.
   *
   * `input` is a {@link Firmware} from `loadFirmware` (read once, written to
   * many boards) or anything `loadFirmware` takes: address/file pairs,
   * `{ address, data }`, `{ partition, path }`, a manifest path.
   *
   * @example
   * ```ts
   * import { connect } from "./device.ts";
   * await using dev = await connect("sim://esp32c3");
   * const report = await dev.flash([[0x10000, "build/app.bin"]], { flashMode: "dio" });
   * console.log(report.bytesWritten, report.verified);
   * ```
   */
  async flash(input: FirmwareSource, options: FlashOptions = {}): Promise<FlashReport> {
    const firmware = await loadFirmware(input);
    const given = Object.entries(options).filter(([, v]) => v !== undefined);
    return await flashFirmware(this.#host(), firmware, {
      ...this.flashDefaults,
      ...Object.fromEntries(given),
    });
  }

  /**
   * Compare a firmware set with the flash by MD5, without writing (the
   * header patched with the same settings a write would use). Does not
   * throw on a mismatch: the report says.
   *
   * @example
   * ```ts
   * import { connect } from "./device.ts";
   * await using dev = await connect("sim://esp32c3");
   * const report = await dev.verify([[0x10000, "build/app.bin"]], { diff: true });
   * console.log(report.ok);
   * ```
   */
  async verify(input: FirmwareSource, options: VerifyOptions = {}): Promise<VerifyReport> {
    const firmware = await loadFirmware(input);
    return await verifyFirmware(this.#host(), firmware, options);
  }

  /**
   * Read flash: `{ address, size }` (`size: "all"` reads to the end of the
   * flash) or `{ partition: "nvs" }`.
   *
   * @throws {UsageError} (`E_PAST_END`) when the area runs past the end of the flash.
   * @example
   * ```ts
   * import { connect } from "./device.ts";
   * await using dev = await connect("sim://esp32c3");
   * const nvs = await dev.read({ address: 0x9000, size: 0x6000 });
   * ```
   */
  async read(area: FlashArea, options: ReadOptions = {}): Promise<Uint8Array> {
    return await readArea(this.#host(), area, options);
  }

  /**
   * Erase `"all"` of the flash, `{ address, size }` (4 KiB-aligned; `size:
   * "all"` to the end) or `{ partition: "nvs" }`.
   *
   * @example
   * ```ts
   * import { connect } from "./device.ts";
   * await using dev = await connect("sim://esp32c3");
   * await dev.erase({ partition: "nvs" });
   * ```
   */
  async erase(area: FlashArea | "all", options: EraseOptions = {}): Promise<EraseReport> {
    return await eraseArea(this.#host(), area, options);
  }

  /**
   * The partition table on the chip (at 0x8000), empty when the flash holds
   * none.
   *
   * @example
   * ```ts
   * import { connect } from "./device.ts";
   * await using dev = await connect("sim://esp32c3");
   * for (const p of await dev.partitions()) console.log(p.name, p.offset, p.size);
   * ```
   */
  async partitions(options: ReadOptions = {}): Promise<Partition[]> {
    return await readChipPartitionTable(this.#requireSession(), options);
  }

  /**
   * Build an NVS partition image from `input` (typed data, or generator
   * rows from `parseNvsCsv`/an NVS template) for the size of the partition
   * named `nvs` (or `options.partition`) in the chip's table, and write and
   * verify it. The partition must be a data/nvs partition; a value that does
   * not fit its type fails before anything is written.
   *
   * @example
   * ```ts
   * import { connect } from "./device.ts";
   * await using dev = await connect("sim://esp32c3");
   * const report = await dev.writeNvs({ factory: { serial_no: "SN-000123" } });
   * console.log(report.partition, report.sha256, report.keys);
   * ```
   * @throws {UsageError} `E_NO_PARTITION`, `E_NOT_NVS_PARTITION`, and the
   *   `NvsInputError`s of `buildNvs`, all before anything is written.
   */
  async writeNvs(
    input: NvsData | readonly NvsRow[],
    options: WriteNvsOptions = {},
  ): Promise<NvsWriteReport> {
    const t0 = performance.now();
    const name = options.partition ?? "nvs";
    const p = nvsPartition(await this.partitions({ signal: options.signal }), name);
    // Built in full before anything is sent: a value that does not fit fails here.
    const image = buildNvs(input, { size: p.size, version: options.version });
    const region = { address: p.offset, data: image, name: `${name} (NVS image)` };
    const written = await this.flash([region], { signal: options.signal });
    return {
      partition: name,
      address: p.offset,
      size: p.size,
      sha256: await sha256Hex(image),
      keys: nvsKeyNames(input),
      bytesWritten: written.bytesWritten,
      verified: written.verified,
      seconds: (performance.now() - t0) / 1000,
    };
  }

  /**
   * Reset the board. `app` (default) boots the application: loader
   * operations are unavailable until `reset("download")`, which resets into
   * the ROM loader again, reconnects, restarts the stub and checks that the
   * same board answered (chip and MAC).
   *
   * @throws {BoardChangedError} (`E_BOARD_CHANGED`) when another board answers on the port.
   */
  async reset(mode: "app" | "download" = "app"): Promise<void> {
    if (mode !== "app" && mode !== "download") {
      throw new UsageError(`reset mode "${mode}": use "app" or "download"`, {
        code: "E_BAD_CHOICE",
      });
    }
    const transport = this.#session?.transport ?? this.#detachedTransport;
    if (!transport || this.#closed) {
      throw new EsplineError("E_DEVICE_CLOSED", `the device on ${this.port} is closed`);
    }
    if (mode === "app") {
      await hardReset(transport, { config: this.#options.resetConfig });
      this.#detachedTransport = transport;
      this.#session = null;
      return;
    }
    // A reset into download mode whatever `before` said at first: the chip is running its app.
    const session = await setupSession(
      transport,
      this.#sessionOptions({ before: "default-reset" }),
    );
    this.#session = session;
    this.#detachedTransport = null;
    await this.#confirmSameBoard(session);
  }

  /**
   * After a new session on this port: the chip and MAC must be the ones the
   * device was connected to. Otherwise the device refuses every loader
   * operation from now on (closing still works).
   */
  async #confirmSameBoard(session: LoaderSession): Promise<void> {
    this.#chipInfo = null;
    this.#idFacts = null;
    this.#flashInfo = undefined;
    this.#flashFacts = null;
    const found = await readIdentity(session);
    if (sameBoard(this.#identity, found)) return;
    this.#changed = new BoardChangedError(this.port, this.#identity, found);
    throw this.#changed;
  }

  #sessionOptions(extra: Partial<OpenSessionOptions> = {}): OpenSessionOptions {
    return { ...this.#options, onEvent: this.#emit, ...extra };
  }

  /**
   * Get back into the loader after trouble: reset into download mode on the
   * same port (at `baud` if given); if the port itself is gone, open it
   * again. Resumed writes use it. The board that answers must be the one
   * the device was connected to (chip and MAC).
   *
   * @throws {BoardChangedError} (`E_BOARD_CHANGED`) when another board answers on the port.
   */
  async reconnect(options: { baud?: number; signal?: AbortSignal } = {}): Promise<void> {
    if (this.#closed) {
      throw new EsplineError("E_DEVICE_CLOSED", `the device on ${this.port} is closed`);
    }
    if (options.baud) this.#options = { ...this.#options, baud: options.baud };
    this.#chipInfo = null;
    this.#flashInfo = undefined;
    const transport = this.#session?.transport ?? this.#detachedTransport;
    if (transport) {
      try {
        // Back to the ROM's baud first: after a reset the chip listens at 115200.
        await transport.setBaud(ROM_BAUD);
        this.#session = null;
        this.#detachedTransport = transport;
        await this.reset("download");
        return;
      } catch (e) {
        if (!(e instanceof TransportError)) throw e;
        await transport.close().catch(() => {});
      }
    }
    this.#session = await openSession(this.port, this.#sessionOptions({ signal: options.signal }));
    this.#detachedTransport = null;
    await this.#confirmSameBoard(this.#session);
  }

  /**
   * Reset into the application and follow its output. Loader operations
   * need `reset("download")` afterwards.
   *
   * @example
   * ```ts
   * import { connect } from "./device.ts";
   * await using dev = await connect("sim://esp32");
   * await using mon = await dev.monitor();
   * await mon.expect(/Hello/, { timeoutMs: 3000 });
   * ```
   */
  async monitor(options: Omit<MonitorOptions, "reset"> = {}): Promise<Monitor> {
    await this.reset("app");
    return await openMonitor(this.#detachedTransport!, { ...options, reset: false });
  }

  /**
   * Leave the chip as asked (`after`, default the connect options' `after`,
   * which defaults to `hard-reset`: the application boots) and release the
   * port. Idempotent. A port without modem lines (raw TCP, a pty, a bridge
   * without DTR/RTS) cannot hard-reset the board: a warning notice (code
   * `E_RESET_SKIPPED`) says so and why, and the chip stays in its loader.
   */
  async close(after: After = this.#options.after): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#session) {
      await closeSession(this.#session, {
        after,
        resetConfig: this.#options.resetConfig,
        onResetSkipped: (reason) => {
          if (!isNoModemLines(reason)) return; // the port failed: nothing the person can act on
          this.#emit({
            type: "notice",
            level: "warn",
            code: "E_RESET_SKIPPED",
            message:
              `Hard reset skipped: ${reason.message}; the chip stays in its loader until it ` +
              "is reset by hand (EN/RST button or power)",
          });
        },
      });
    } else if (this.#detachedTransport) await this.#detachedTransport.close();
  }

  /** `await using` support: closes as {@link Device.close} does. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Connect to a board: open the port, reset into download mode, detect the
 * chip, start the flasher stub, switch to the working baud rate, and read
 * who the board is (chip and MAC, each confirmed by two agreeing reads),
 * which every later reconnect is checked against. Options are checked
 * first: a value a script got wrong is a {@link UsageError} naming it,
 * before the port is opened.
 *
 * @example
 * ```ts
 * import { connect } from "./device.ts";
 * await using dev = await connect("sim://esp32c3", { baud: 921600 });
 * const info = await dev.info();
 * console.log(info.description, info.mac, info.flashSize);
 * ```
 */
export async function connect(
  port: string | DeviceOptions,
  options: DeviceOptions = {},
): Promise<Device> {
  const given: DeviceOptions = typeof port === "string"
    ? { ...options, port }
    : { ...port, ...options };
  const { onEvent, signal, ...settings } = given;
  const normalized = normalizeConnectOptions(settings);
  let device: Device | null = null;
  const session = await openSession(normalized.port, {
    ...normalized,
    signal,
    onEvent: (e) => {
      try {
        onEvent?.({ ...e, port: device?.port ?? normalized.port });
      } catch {
        // A caller's display failing must not break connecting.
      }
    },
  });
  let identity: BoardIdentity;
  try {
    // Who the board is, confirmed, before anything else: every reconnect is checked against it.
    identity = await readIdentity(session);
  } catch (e) {
    await session.close();
    throw e;
  }
  device = createDevice(session, identity, { ...normalized, onEvent });
  return device;
}
