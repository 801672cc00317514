/**
 * Getting a chip's loader to answer, and telling which chip it is: reset
 * into download mode and SYNC until it answers (saying, when it does not,
 * what the boot banner showed), then detect the family from
 * GET_SECURITY_INFO's chip id or the chip-detect magic value, each read until
 * two readings agree.
 *
 * Facts used here come from esptool's loader.py (connect, sync,
 * detect_chip) and the serial-protocol document; the code is our own.
 *
 * @module
 */

import { EsplineError, throwIfAborted, TimeoutError, UsageError } from "../errors.ts";
import { delay } from "../transport/transport.ts";
import {
  decodeResponse,
  MalformedPacketError,
  Op,
  readU32le,
  SYNC_PAYLOAD,
} from "../protocol/packet.ts";
import { LoaderStatusError } from "../protocol/status.ts";
import type { ChipFamily } from "../chips/types.ts";
import {
  CHIP_DETECT_MAGIC_REG_ADDR,
  chipByImageId,
  chipByKey,
  chipByMagic,
} from "../chips/index.ts";
import { readConfirmed } from "./identity.ts";
import type { Exchange, LoaderEvent } from "./exchange.ts";
import type { ResetStrategy } from "./reset.ts";
import type { ConnectOptions } from "./connect_options.ts";

/** Timeout for one SYNC attempt (esptool SYNC_TIMEOUT, 0.1 s). */
export const SYNC_TIMEOUT_MS = 100;
/** Answers to one SYNC beyond the first: the ROM and both stub families send eight in all (esptool loader.py sync). */
const SYNC_EXTRA_ANSWERS = 7;
/** Default number of connect attempts (esptool DEFAULT_CONNECT_ATTEMPTS). */
export const DEFAULT_CONNECT_ATTEMPTS = 7;
/** SYNCs sent after one reset before the next reset is tried (esptool _connect_attempt). */
const SYNCS_PER_RESET = 5;
/** Pause between two SYNCs after one went unanswered, ms (esptool _connect_attempt). */
const SYNC_RETRY_PAUSE_MS = 50;
/** How long the boot banner after a reset is gathered, ms of silence. */
const BOOT_BANNER_QUIET_MS = 30;
/** GET_SECURITY_INFO answers at least this long carry the chip id and API version (ESP32-S3 on). */
const SECURITY_INFO_LONG_ANSWER = 22;
/** Payload of the long GET_SECURITY_INFO answer: flags, crypt count, key purposes, chip id, API version. */
const SECURITY_INFO_LONG_PAYLOAD = 20;
/** Payload of the short one (ESP32-S2): flags, crypt count, key purposes. */
const SECURITY_INFO_SHORT_PAYLOAD = 12;
/** Shortest answer that carries a payload before its status (12 bytes plus 2 status bytes). */
const SECURITY_INFO_MIN_ANSWER = SECURITY_INFO_SHORT_PAYLOAD + 2;
/** Flag bit of secure download mode in GET_SECURITY_INFO (esptool get_security_info). */
const SECURE_DOWNLOAD_FLAG = 1 << 2;

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

/**
 * SYNC once (esptool loader.py sync): one command, then drain the loader's
 * seven extra answers. Resolves whether the flasher stub answered (the ROM
 * answers with a non-zero value, the stub with 0).
 */
export async function syncOnce(exchange: Exchange): Promise<boolean> {
  const { value } = await exchange.command(Op.SYNC, SYNC_PAYLOAD, {
    timeoutMs: SYNC_TIMEOUT_MS,
    what: "sync",
  });
  let stub = value === 0;
  // Both answer eight times (serial-protocol.rst); the command took the first.
  let extra = 0;
  for (; extra < SYNC_EXTRA_ANSWERS; extra++) {
    const frame = await exchange.readFrame(SYNC_TIMEOUT_MS);
    if (!frame) break;
    try {
      const r = decodeResponse(frame);
      if (r.op === Op.SYNC) stub &&= r.value === 0;
      else exchange.requestResync("a stray frame among the SYNC answers");
    } catch {
      exchange.requestResync("a malformed frame among the SYNC answers");
    }
  }
  // Missing answers may still be on their way: they must not be read as the
  // answers to the next command.
  if (extra < SYNC_EXTRA_ANSWERS) {
    exchange.requestResync("fewer SYNC answers than the loader sends");
  }
  return stub;
}

/**
 * Reset the chip into download mode (alternating the strategies) and SYNC
 * until it answers, as `before` allows. Resolves whether the flasher stub
 * answered the SYNC (false when `before` is `no-reset-no-sync`).
 *
 * @throws {TimeoutError} `E_CONNECT_FAILED` after the attempts, saying what the boot banner showed.
 */
export async function connectLoop(
  exchange: Exchange,
  options: LoaderConnectOptions = {},
): Promise<boolean> {
  const before = options.before ?? "default-reset";
  if (before === "no-reset-no-sync") return false;
  const strategies = options.resetStrategies?.length ? options.resetStrategies : null;
  const attempts = options.connectAttempts ?? DEFAULT_CONNECT_ATTEMPTS;
  const transport = exchange.transport;
  let lastProblem = "no answer to SYNC";
  for (let attempt = 0; attempts === 0 || attempt < attempts; attempt++) {
    throwIfAborted(options.signal);
    const strategy = strategies ? strategies[attempt % strategies.length] : null;
    exchange.emit({ type: "connecting", attempt: attempt + 1, strategy: strategy?.name ?? "none" });
    let bootLog = "";
    if (strategy && before !== "no-reset") {
      await exchange.discardInput();
      try {
        await strategy.run(transport);
      } catch (e) {
        if (e instanceof EsplineError && e.code === "E_NO_MODEM_LINES") {
          exchange.log("debug", `${strategy.name} reset skipped: ${e.message}`);
        } else throw e;
      }
      bootLog = await exchange.collectNoise(BOOT_BANNER_QUIET_MS);
    }
    for (let i = 0; i < SYNCS_PER_RESET; i++) {
      throwIfAborted(options.signal);
      try {
        await exchange.discardInput();
        return await syncOnce(exchange);
      } catch (e) {
        if (e instanceof TimeoutError || e instanceof MalformedPacketError) {
          await delay(SYNC_RETRY_PAUSE_MS);
          continue;
        }
        throw e;
      }
    }
    bootLog += exchange.takeNoise();
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
    `could not connect to the chip on ${transport.path} after ${attempts} attempts: ${lastProblem}. ` +
      "Check that the board is powered, the port is the right one, and the chip is in download mode " +
      "(hold BOOT, tap RESET); try --before no-reset after entering download mode by hand.",
    { code: "E_CONNECT_FAILED", details: { port: transport.path, attempts } },
  );
}

/**
 * GET_SECURITY_INFO (ESP32-S2 and later ROMs, and the stubs). The answer's
 * length tells the long form (ESP32-S3 on: chip id, API version) from the
 * ESP32-S2's short one.
 *
 * @throws {LoaderStatusError} where the loader does not know the command (ESP8266, ESP32).
 */
export async function readSecurityInfo(exchange: Exchange): Promise<SecurityInfo> {
  const what = "get security info";
  const payload = await exchange.exclusive(async () => {
    const r = await exchange.roundTrip(Op.GET_SECURITY_INFO, new Uint8Array(0), { what });
    const length = r.data.length >= SECURITY_INFO_LONG_ANSWER
      ? SECURITY_INFO_LONG_PAYLOAD
      : SECURITY_INFO_SHORT_PAYLOAD;
    return exchange.checked(r, r.data.length >= SECURITY_INFO_MIN_ANSWER ? length : 0, what);
  });
  if (payload.length < SECURITY_INFO_SHORT_PAYLOAD) {
    throw new EsplineError("E_SHORT_RESPONSE", "GET_SECURITY_INFO answer too short");
  }
  const long = payload.length >= SECURITY_INFO_LONG_PAYLOAD;
  const flags = readU32le(payload, 0);
  return {
    flags,
    flashCryptCount: payload[4],
    keyPurposes: Array.from(payload.subarray(5, 12)),
    chipId: long ? readU32le(payload, 12) : null,
    apiVersion: long ? readU32le(payload, 16) : null,
    secureDownload: (flags & SECURE_DOWNLOAD_FLAG) !== 0,
  };
}

/** What {@link detectChip} found. */
export interface Detected {
  /** The chip family. */
  chip: ChipFamily;
  /** GET_SECURITY_INFO's answer, where the loader gives one. */
  securityInfo: SecurityInfo | null;
}

/** Options for {@link detectChip}. */
export interface DetectChipOptions {
  /** The family the person named (`--chip`): another one fails with `E_WRONG_CHIP`. Default: any. */
  wanted?: ChipFamily | null;
  /** Reads a register (READ_REG), for the chip-detect magic value. */
  readReg: (address: number) => Promise<number>;
}

/**
 * Which chip answers: the chip id of GET_SECURITY_INFO where the loader has
 * it, else the chip-detect magic value (esptool detect_chip). Either is read
 * until two readings agree (neither answer has a checksum).
 *
 * @throws {EsplineError} `E_UNKNOWN_CHIP` for an id or value espline does not know.
 * @throws {UsageError} `E_WRONG_CHIP` when it is not the family `wanted`.
 */
export async function detectChip(
  exchange: Exchange,
  options: DetectChipOptions,
): Promise<Detected> {
  const port = exchange.transport.path;
  let first: SecurityInfo | null = null;
  try {
    first = await readSecurityInfo(exchange);
  } catch (e) {
    if (!(e instanceof LoaderStatusError || e instanceof TimeoutError)) throw e;
    exchange.log("debug", `GET_SECURITY_INFO not available (${(e as Error).message})`);
  }
  let securityInfo: SecurityInfo | null = null;
  if (first) {
    // Its answer has no checksum: a flipped bit can name another chip. Read it until two agree.
    securityInfo = await readConfirmed("chip id", () => readSecurityInfo(exchange), {
      port,
      initial: { value: first },
    });
  }
  const chipId = securityInfo?.chipId ?? null;
  let detected: ChipFamily | null;
  if (chipId !== null) {
    detected = chipByImageId(chipId);
    if (!detected) {
      throw new EsplineError(
        "E_UNKNOWN_CHIP",
        `the chip reports id ${chipId}, which espline does not know; update espline or pass --chip`,
        { details: { chipId } },
      );
    }
  } else if (securityInfo?.secureDownload) {
    // ESP32-S2 in secure download mode: no chip id and READ_REG refused.
    detected = chipByKey("esp32s2");
  } else {
    const magic = await readConfirmed(
      "chip detect value",
      () => options.readReg(CHIP_DETECT_MAGIC_REG_ADDR),
      { port, show: (v) => `0x${v.toString(16).padStart(8, "0")}` },
    );
    detected = chipByMagic(magic);
    if (!detected) {
      throw new EsplineError(
        "E_UNKNOWN_CHIP",
        `unrecognised chip (magic value 0x${magic.toString(16).padStart(8, "0")} at 0x40001000); ` +
          "update espline, or check the port is an Espressif chip",
        { details: { magic } },
      );
    }
  }
  const wanted = options.wanted ?? null;
  if (wanted && wanted !== detected) {
    throw new UsageError(
      `this chip is ${detected.name}, not ${wanted.name}: wrong --chip argument?`,
      {
        code: "E_WRONG_CHIP",
        details: { detected: detected.key, wanted: wanted.key },
      },
    );
  }
  return { chip: detected, securityInfo };
}
