/**
 * Writing an NVS partition image to a board (`Device.writeNvs`): the
 * partition found by name in the table on the chip and checked to be an NVS
 * partition (so a wrong name cannot overwrite an application), the image
 * built for that partition's size, written and verified like any firmware
 * region. The pieces here are pure.
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import { type NvsData, nvsRowsFromData } from "../image/nvs_gen.ts";
import type { NvsRow } from "../image/nvs_csv.ts";
import { findPartition, type Partition, subtypeName, typeName } from "../image/partition.ts";

/** Partition type `data` (esp_partition.h `ESP_PARTITION_TYPE_DATA`). */
const PARTITION_TYPE_DATA = 0x01;
/** Data subtype `nvs` (esp_partition.h `ESP_PARTITION_SUBTYPE_DATA_NVS`). */
const PARTITION_SUBTYPE_NVS = 0x02;

/** Options for `Device.writeNvs`. */
export interface WriteNvsOptions {
  /** Partition to write, by name in the chip's partition table. Default `nvs`. */
  partition?: string;
  /** NVS format version (2 splits blobs across pages). Default 2. */
  version?: 1 | 2;
  /** Cancels between steps. */
  signal?: AbortSignal;
}

/** What `Device.writeNvs` wrote. */
export interface NvsWriteReport {
  /** Partition name. */
  partition: string;
  /** Its flash address. */
  address: number;
  /** Its size, and the image's, in bytes. */
  size: number;
  /** SHA-256 of the image (hex). */
  sha256: string;
  /** `namespace/key` of every key written, in writing order. */
  keys: string[];
  /** Bytes written (0 when the partition already held the image). */
  bytesWritten: number;
  /** The chip's MD5 of the partition matched the image. */
  verified: boolean;
  /** Wall time in seconds. */
  seconds: number;
}

/** `namespace/key` of every key the rows write, in order, once each. */
export function nvsKeyNames(input: NvsData | readonly NvsRow[]): string[] {
  const rows = Array.isArray(input)
    ? input as readonly NvsRow[]
    : nvsRowsFromData(input as NvsData);
  const out: string[] = [];
  let namespace = "";
  for (const row of rows) {
    if (row.type === "namespace") namespace = row.key;
    else if (!out.includes(`${namespace}/${row.key}`)) out.push(`${namespace}/${row.key}`);
  }
  return out;
}

/**
 * The NVS partition named `name` in `table`.
 *
 * @throws {UsageError} `E_NO_PARTITION` when the chip has no table or no such
 *   partition, `E_NOT_NVS_PARTITION` when it is not a data/nvs partition.
 */
export function nvsPartition(table: Partition[], name: string): Partition {
  if (table.length === 0) {
    throw new UsageError(
      `the chip has no partition table at 0x8000, so there is no "${name}" partition to write: ` +
        "flash the firmware (with its partition table) first; nothing was written",
      { code: "E_NO_PARTITION" },
    );
  }
  const p = findPartition(table, name);
  if (p.type !== PARTITION_TYPE_DATA || p.subtype !== PARTITION_SUBTYPE_NVS) {
    throw new UsageError(
      `partition "${name}" is ${typeName(p.type)}/${subtypeName(p.type, p.subtype)}, not an NVS ` +
        "partition (data/nvs): an NVS image there would destroy it; check the partition name " +
        "(nothing was written)",
      { code: "E_NOT_NVS_PARTITION", details: { partition: name } },
    );
  }
  return p;
}

/** Hex SHA-256 of bytes. */
export async function sha256Hex(data: Uint8Array): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>),
  );
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}
