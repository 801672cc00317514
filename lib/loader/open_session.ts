/**
 * From a port name to a ready session in one call: open the transport,
 * reset into download mode, SYNC, detect the chip, start the flasher stub,
 * switch to the working baud rate. And the matching goodbye: leave the chip
 * as the person asked (`--after`).
 *
 * @module
 */

import { EsplineError, UsageError } from "../errors.ts";
import { openTransport } from "../transport/open.ts";
import type { Transport } from "../transport/transport.ts";
import { connectStrategies, hardReset, type ResetConfig } from "./reset.ts";
import { type LoaderConnectOptions, type LoaderEvent, LoaderSession, ROM_BAUD } from "./session.ts";
import { type After, AFTER_CHOICES, type ConnectOptions } from "./connect_options.ts";
import { Op, u32le } from "../protocol/packet.ts";

/** Options for {@link openSession} and {@link setupSession}: how to connect, plus the session's event sink. */
export interface OpenSessionOptions extends ConnectOptions {
  /** Event sink (log, connecting, trace). Default none. */
  onEvent?: (event: LoaderEvent) => void;
  /** Cancels connecting. */
  signal?: AbortSignal;
}

/** `ESPLINE_STUB_DIR`, where the environment may be read. */
function envStubDir(): string | undefined {
  try {
    return Deno.env.get("ESPLINE_STUB_DIR") || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Open `port`, connect and prepare a session for work.
 *
 * @example
 * ```ts
 * import { openSession, closeSession } from "./open_session.ts";
 * const s = await openSession("sim://esp32c3", { baud: 921600 });
 * console.log(s.chip.name, s.loader.kind);
 * await closeSession(s, { after: "no-reset" });
 * ```
 */
export async function openSession(
  port: string,
  options: OpenSessionOptions = {},
): Promise<LoaderSession> {
  const transport = await openTransport(port, { baud: ROM_BAUD, portFilter: options.portFilter });
  try {
    return await setupSession(transport, options);
  } catch (e) {
    await transport.close();
    throw e;
  }
}

/**
 * On an open transport: reset into download mode, SYNC, detect, start the
 * stub and switch baud, retrying once from a fresh reset when line noise
 * spoils the stub upload or the baud switch. The transport stays open on
 * failure (the caller owns it).
 */
export async function setupSession(
  transport: Transport,
  options: OpenSessionOptions = {},
): Promise<LoaderSession> {
  const before = options.before ?? "default-reset";
  const connectOptions: LoaderConnectOptions = {
    chip: options.chip,
    before,
    connectAttempts: options.connectAttempts,
    onEvent: options.onEvent,
    trace: options.trace,
    signal: options.signal,
    resetStrategies: connectStrategies(before, transport.info, {
      config: options.resetConfig ?? {},
    }),
  };
  const setupAttempts = connectOptions.resetStrategies?.length ? 2 : 1;
  for (let attempt = 1;; attempt++) {
    try {
      const session = await LoaderSession.connect(transport, connectOptions);
      if (options.stub ?? true) {
        if (session.secureDownload) {
          session.log(
            "warn",
            "secure download mode is on: the flasher stub cannot run; using the ROM loader",
          );
        } else {
          await session.runStub({
            signal: options.signal,
            stubDir: options.stubDir ?? envStubDir(),
          });
        }
      }
      if (options.baud && options.baud !== transport.baud) await session.changeBaud(options.baud);
      return session;
    } catch (e) {
      const retry = attempt < setupAttempts && e instanceof EsplineError &&
        ["E_STUB_FAILED", "E_TIMEOUT", "E_BAUD_FAILED", "E_ROM_BAD_CHECKSUM"].includes(e.code);
      if (!retry) throw e;
      options.onEvent?.({
        type: "log",
        level: "warn",
        message: `setup failed (${e.message}); resetting and retrying`,
      });
      await transport.setBaud(ROM_BAUD).catch(() => {});
    }
  }
}

/** Options for {@link closeSession}. */
export interface CloseSessionOptions {
  /** What to leave the chip doing. Default `hard-reset`. */
  after?: After;
  /** Reset settings (`custom_hard_reset_sequence`). Default none. */
  resetConfig?: ResetConfig;
  /**
   * Called when `hard-reset` could not be done, with why (see
   * `HardResetOptions.onSkipped`). Default none.
   */
  onResetSkipped?: (reason: unknown) => void;
}

/**
 * Leave the chip as asked and release the port.
 *
 * - `hard-reset` (default): pulse EN through RTS so the application boots.
 * - `soft-reset`: restart into the application by loader command.
 * - `no-reset`: leave the chip in the loader.
 * - `no-reset-stub`: leave the stub running, so the next connect skips the upload.
 * - `watchdog-reset`: reset through the RTC watchdog (chips on their own USB).
 */
export async function closeSession(
  session: LoaderSession,
  options: CloseSessionOptions = {},
): Promise<void> {
  const after = options.after ?? "hard-reset";
  try {
    switch (after) {
      case "hard-reset":
        await hardReset(session.transport, {
          config: options.resetConfig ?? {},
          onSkipped: options.onResetSkipped,
        });
        break;
      case "soft-reset":
        await softReset(session);
        break;
      case "no-reset":
      case "no-reset-stub":
        break;
      case "watchdog-reset":
        await watchdogReset(session, options.resetConfig);
        break;
      default:
        throw new UsageError(
          `unknown after "${after}": use one of ${AFTER_CHOICES.join(", ")}`,
          { code: "E_BAD_CHOICE" },
        );
    }
  } finally {
    await session.close();
  }
}

/** RTC watchdog unlock key (esptool RTC_CNTL_WDT_WKEY). */
const WDT_WKEY = 0x50d83aa1;
/** WDT stage timeout written to CONFIG1 (esptool watchdog_reset). */
const WDT_TIMEOUT = 2000;
/** CONFIG0: enable, stage 0 action = system reset, flash boot mode, … (esptool watchdog_reset). */
const WDT_CONFIG0 = ((1 << 31) | (5 << 28) | (1 << 8) | 2) >>> 0;

/**
 * Reset through the RTC watchdog (esptool watchdog_reset): the way to leave
 * download mode on chips flashed over their native USB, where RTS cannot
 * reach EN. Chips without it fall back to a hard reset, as esptool does.
 */
export async function watchdogReset(
  session: LoaderSession,
  resetConfig: ResetConfig = {},
): Promise<void> {
  const wdt = session.chip.rtcWatchdog;
  if (!wdt) {
    session.log(
      "warn",
      `watchdog reset is not supported on ${session.chip.name}; using a hard reset instead`,
    );
    await hardReset(session.transport, { config: resetConfig });
    return;
  }
  await session.writeReg(wdt.protect, WDT_WKEY); // unlock
  await session.writeReg(wdt.config1, WDT_TIMEOUT);
  await session.writeReg(wdt.config0, WDT_CONFIG0); // enable: the chip resets when it fires
  await session.writeReg(wdt.protect, 0); // lock
}

/** Restart into the application by command (esptool soft_reset). */
async function softReset(session: LoaderSession): Promise<void> {
  const loader = session.loader;
  if (loader.softReset === "flash-end") {
    // ROM: a zero-length FLASH_BEGIN then FLASH_END with "run user code" (reboot = 0 means run).
    await session.command(Op.FLASH_BEGIN, u32le(0, 0, loader.flashWriteSize, 0), {
      what: "soft reset",
    });
    await session.command(Op.FLASH_END, u32le(0), { what: "soft reset" });
  } else if (loader.softReset === "run-user-code") {
    await session.writeFrame(new Uint8Array([0x00, Op.RUN_USER_CODE, 0, 0, 0, 0, 0, 0]));
  } else {
    throw new EsplineError(
      "E_UNSUPPORTED",
      "soft reset with the flasher stub works only on ESP8266 (as in esptool); use --after hard-reset",
    );
  }
}
