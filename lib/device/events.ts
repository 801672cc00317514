/**
 * What a device tells its owner while it works: the loader's connect
 * attempts and log lines, progress of flash operations, notices from the
 * write job (settings applied, partitions found, pre-flight warnings) and
 * recoveries after faults. One sink per device, so ten boards in one
 * process each have their own.
 *
 * @module
 */

import type { LoaderEvent } from "../loader/session.ts";
import type { FlashProgress } from "../flash/common.ts";

/** Something the person should know about a write: a setting applied, a partition found, a warning. */
export interface NoticeEvent {
  /** Always `notice`. */
  type: "notice";
  /** `info` for facts, `warn` for things that may be wrong (pre-flight warnings, forced writes). */
  level: "info" | "warn";
  /** Stable code for warnings from pre-flight checks (`E_IMAGE_MAX_REV` …). */
  code?: string;
  /** The text. */
  message: string;
}

/** A write failed on a link fault and is being resumed (see `FlashOptions.resume`). */
export interface RecoveryEvent {
  /** Always `recovery`. */
  type: "recovery";
  /** Attempt number that failed (1-based). */
  attempt: number;
  /** The error that triggered the recovery. */
  error: { code: string; message: string };
  /** Baud rate of the next attempt. */
  baud: number;
}

/** A write job finished: whether every region was verified, and how much it sent. */
export interface FlashedEvent {
  /** Always `flashed`. */
  type: "flashed";
  /** Every region's MD5 matched after writing (or it was already on the chip). */
  verified: boolean;
  /** Why not, when not verified. */
  reason?: string;
  /** Uncompressed bytes written. */
  bytesWritten: number;
  /** Payload bytes sent over the wire. */
  bytesOnWire: number;
  /** Regions skipped as unchanged. */
  skipped: number;
  /** Wall time in seconds. */
  seconds: number;
}

/** Everything a device reports, with the port it is on. */
export type DeviceEvent =
  & (LoaderEvent | FlashProgress | NoticeEvent | RecoveryEvent | FlashedEvent)
  & { port?: string };
