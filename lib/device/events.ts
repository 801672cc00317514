/**
 * What a device tells its owner while it works: the loader's connect
 * attempts and log lines, progress of flash operations, notices from the
 * write job (settings applied, partitions found, pre-flight warnings) and
 * recoveries after faults. One sink per device, so ten boards in one
 * process each have their own.
 *
 * @module
 */

import type { LoaderEvent } from "../loader/exchange.ts";
import type { FlashProgress } from "../flash/progress.ts";
import type { RegionReport } from "../flash/write.ts";

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

/**
 * After a write that needed a recovery (or sent a command whose over-reach
 * no region's MD5 would show): the flash outside the written regions was
 * compared with how it was before the write (MD5s computed by the chip).
 * When it changed (`ok` false) the write fails with `E_COLLATERAL_DAMAGE`
 * naming the `changed` ranges.
 */
export interface CollateralCheckEvent {
  /** Always `collateral-check`. */
  type: "collateral-check";
  /** Everything outside the regions is as it was before the write. */
  ok: boolean;
  /** The ranges compared: the flash outside the regions' sectors, to its end. */
  ranges: { address: number; size: number }[];
  /** The ranges that changed (empty when `ok`). */
  changed: { address: number; size: number }[];
  /** Recoveries the write needed. */
  recoveries: number;
  /** Why it was compared (`after a write that needed 2 recoveries` …). */
  because: string;
  /** Seconds the comparison took. */
  seconds: number;
}

/** A write job starts on one of its regions (files), in address order. */
export interface RegionStartEvent {
  /** Always `region-start`. */
  type: "region-start";
  /** The region's name (its file name, or its address). */
  name: string;
  /** Flash address. */
  address: number;
  /** Bytes in the region. */
  size: number;
  /** Position among the job's regions (0-based). */
  index: number;
  /** Regions in the job. */
  count: number;
}

/**
 * A region of a write job is done, as it completes: what was written and
 * sent, how long it took, whether the chip's MD5 matched (esptool prints
 * the same facts per file: "Wrote …", "Hash of data verified.").
 */
export interface RegionDoneEvent extends RegionReport {
  /** Always `region-done`. */
  type: "region-done";
  /** The data went deflate-compressed (the wire count is then the compressed size). */
  compressed: boolean;
  /** Position among the job's regions (0-based). */
  index: number;
  /** Regions in the job. */
  count: number;
}

/** Everything a device reports, with the port it is on. */
export type DeviceEvent =
  & (
    | LoaderEvent
    | FlashProgress
    | NoticeEvent
    | RecoveryEvent
    | CollateralCheckEvent
    | FlashedEvent
    | RegionStartEvent
    | RegionDoneEvent
  )
  & { port?: string };
