/**
 * The scripting API's device: one connected board with every operation a
 * production script needs, as methods. Built on the loader session and the
 * flash operations; owns its port and releases it on every path
 * (`await using`).
 *
 * @module
 */

import { EsplineError, TransportError } from "../errors.ts";
import {
  closeSession,
  openSession,
  type OpenSessionOptions,
  setupSession,
} from "../loader/open_session.ts";
import { type LoaderEvent, LoaderSession, ROM_BAUD } from "../loader/session.ts";
import { type ChipInfo, readChipInfo } from "../loader/info.ts";
import { hardReset } from "../loader/reset.ts";
import { detectFlashSize, flashMd5, type FlashProgress } from "../flash/common.ts";
import {
  type FlashRegion,
  verifyFlash,
  type VerifyReport,
  writeFlash,
  type WriteFlashOptions,
  type WriteReport,
} from "../flash/write.ts";
import { readFlash, type ReadFlashOptions } from "../flash/read.ts";
import { eraseFlash, eraseRegion } from "../flash/erase.ts";
import type { Transport } from "../transport/transport.ts";
import { type Monitor, type MonitorOptions, openMonitor } from "../monitor/monitor.ts";

/** Everything a device reports or logs, for the caller's display or journal. */
export type DeviceEvent = (LoaderEvent | FlashProgress) & { port?: string };

/** Options for {@link connect}. */
export interface ConnectOptions extends OpenSessionOptions {
  /** Port path or URL (`/dev/ttyUSB0`, `sim://esp32`, `socket://…`, `auto`). */
  port?: string;
  /** Event sink for logs and progress of everything this device does. */
  onEvent?: (event: DeviceEvent) => void;
}

/** Chip facts plus flash size. */
export interface DeviceInfo extends ChipInfo {
  /** Flash size in bytes (from the flash chip's JEDEC id). */
  flashSize: number;
  /** Port the device is on. */
  port: string;
}

/**
 * A connected board.
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
  #session: LoaderSession | null;
  #options: ConnectOptions;
  #info: DeviceInfo | null = null;
  #closed = false;

  /** Use {@link connect}. */
  constructor(port: string, session: LoaderSession, options: ConnectOptions) {
    this.port = port;
    this.#session = session;
    this.#options = options;
  }

  /** The loader session (for operations not wrapped here). Throws after `monitor()` until `reset("download")`. */
  get session(): LoaderSession {
    if (this.#closed) {
      throw new EsplineError("E_DEVICE_CLOSED", `the device on ${this.port} is closed`);
    }
    if (!this.#session) {
      throw new EsplineError(
        "E_NOT_IN_LOADER",
        `the device on ${this.port} is running its application; call reset("download") before loader operations`,
      );
    }
    return this.#session;
  }

  /** The byte pipe. */
  get transport(): Transport {
    return this.session.transport;
  }

  #emit = (event: LoaderEvent | FlashProgress) => {
    this.#options.onEvent?.({ ...event, port: this.port });
  };

  /** Chip type, revision, features, crystal, MAC and flash size (read once, then cached). */
  async info(): Promise<DeviceInfo> {
    if (this.#info) return this.#info;
    const chip = await readChipInfo(this.session);
    const flashSize = await detectFlashSize(this.session);
    this.#info = { ...chip, flashSize, port: this.port };
    return this.#info;
  }

  /** Base MAC address, `aa:bb:cc:dd:ee:ff`. */
  async readMac(): Promise<string> {
    return (await this.info()).mac;
  }

  /** Erase the whole flash (stub). */
  async eraseFlash(options: { signal?: AbortSignal } = {}): Promise<void> {
    await eraseFlash(this.session, options);
  }

  /** Erase a 4 KiB-aligned region. */
  async eraseRegion(
    region: { address: number; size: number },
    options: { signal?: AbortSignal } = {},
  ): Promise<void> {
    await eraseRegion(this.session, region, options);
  }

  /** Write regions (skip unchanged, chunk diff, verify by default). Progress goes to the device's event sink. */
  async writeFlash(regions: FlashRegion[], options: WriteFlashOptions = {}): Promise<WriteReport> {
    return await writeFlash(this.session, regions, {
      ...options,
      onProgress: (p) => {
        options.onProgress?.(p);
        this.#emit(p);
      },
    });
  }

  /** Compare regions with flash by MD5. */
  async verifyFlash(
    regions: FlashRegion[],
    options: { signal?: AbortSignal } = {},
  ): Promise<VerifyReport> {
    return await verifyFlash(this.session, regions, options);
  }

  /** Read flash. */
  async readFlash(
    region: { address: number; size: number },
    options: ReadFlashOptions = {},
  ): Promise<Uint8Array> {
    return await readFlash(this.session, region, {
      ...options,
      onProgress: (p) => {
        options.onProgress?.(p);
        this.#emit(p);
      },
    });
  }

  /** MD5 (hex) of a flash region, computed by the chip. */
  async flashMd5(region: { address: number; size: number }): Promise<string> {
    return await flashMd5(this.session, region.address, region.size);
  }

  /**
   * Reset the board. `app` (default) boots the application: loader
   * operations are unavailable until `reset("download")`, which resets into
   * the ROM loader again, reconnects and restarts the stub.
   */
  async reset(mode: "app" | "download" = "app"): Promise<void> {
    const transport = this.#session?.transport ?? this.#detachedTransport;
    if (!transport) {
      throw new EsplineError("E_DEVICE_CLOSED", `the device on ${this.port} is closed`);
    }
    if (mode === "app") {
      await hardReset(transport);
      this.#detachedTransport = transport;
      this.#session = null;
      return;
    }
    // A reset into download mode whatever --before said at first: the chip is running its app.
    const session = await setupSession(transport, {
      ...this.#options,
      before: "default-reset",
      onEvent: this.#emit,
    });
    this.#session = session;
    this.#detachedTransport = null;
  }
  #detachedTransport: Transport | null = null;

  /**
   * Get back into the loader after trouble: reset into download mode on the
   * same port (at `baud` if given); if the port itself is gone, open it again.
   * Used by automatic recovery.
   */
  async reconnect(options: { baud?: number; signal?: AbortSignal } = {}): Promise<void> {
    if (this.#closed) {
      throw new EsplineError("E_DEVICE_CLOSED", `the device on ${this.port} is closed`);
    }
    if (options.baud) this.#options = { ...this.#options, baud: options.baud };
    this.#info = null;
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
    this.#session = await openSession(this.port, {
      ...this.#options,
      onEvent: this.#emit,
      signal: options.signal,
    });
    this.#detachedTransport = null;
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
    const transport = this.#session?.transport ?? this.#detachedTransport;
    if (!transport) {
      throw new EsplineError("E_DEVICE_CLOSED", `the device on ${this.port} is closed`);
    }
    await this.reset("app");
    return await openMonitor(transport, { ...options, reset: false });
  }

  /**
   * Leave the chip as asked (`hard-reset` by default, which boots the
   * application) and release the port. Idempotent.
   */
  async close(after = "hard-reset"): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#session) await closeSession(this.#session, after);
    else if (this.#detachedTransport) await this.#detachedTransport.close();
  }

  /** `await using` support: closes with a hard reset. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Connect to a board: open the port, reset into download mode, detect the
 * chip, start the flasher stub, switch to the working baud rate.
 *
 * @example
 * ```ts
 * import { connect } from "./device.ts";
 * await using dev = await connect({ port: "sim://esp32c3", baud: 921600 });
 * const info = await dev.info();
 * console.log(info.description, info.mac, info.flashSize);
 * ```
 */
export async function connect(
  port: string | ConnectOptions,
  options: ConnectOptions = {},
): Promise<Device> {
  const opts: ConnectOptions = typeof port === "string"
    ? { ...options, port }
    : { ...port, ...options };
  const path = opts.port ?? "auto";
  let device: Device | null = null;
  const session = await openSession(path, {
    ...opts,
    onEvent: (e) => opts.onEvent?.({ ...e, port: device?.port ?? path }),
  });
  device = new Device(session.transport.path, session, opts);
  return device;
}
