/**
 * ESP-IDF partition tables: the binary format (32-byte entries and an MD5
 * entry) and the CSV format, both ways.
 *
 * Facts: ESP-IDF components/partition_table/gen_esp32part.py and
 * esp_partition.h (magic 0x50AA, MD5 entry 0xEBEB, type/subtype names).
 *
 * @module
 */

import { createHash } from "node:crypto";
import { EsplineError, UsageError } from "../errors.ts";

/** Flash offset of the partition table (ESP-IDF default CONFIG_PARTITION_TABLE_OFFSET). */
export const PARTITION_TABLE_OFFSET = 0x8000;
/** Largest table (gen_esp32part MAX_PARTITION_LENGTH). */
export const PARTITION_TABLE_MAX = 0xc00;
const ENTRY_MAGIC = [0xaa, 0x50];
const MD5_MAGIC = [0xeb, 0xeb];

const TYPES: Record<string, number> = { app: 0x00, data: 0x01 };
const SUBTYPES: Record<string, Record<string, number>> = {
  app: {
    factory: 0x00,
    test: 0x20,
    ...Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`ota_${i}`, 0x10 + i])),
  },
  data: {
    ota: 0x00,
    phy: 0x01,
    nvs: 0x02,
    coredump: 0x03,
    nvs_keys: 0x04,
    efuse: 0x05,
    undefined: 0x06,
    esphttpd: 0x80,
    fat: 0x81,
    spiffs: 0x82,
    littlefs: 0x83,
  },
};
const FLAGS: Record<string, number> = { encrypted: 1 << 0, readonly: 1 << 1 };

/** One partition. */
export interface Partition {
  /** Label (up to 16 bytes). */
  name: string;
  /** Type number (0 app, 1 data, or custom 0x40–0xFE). */
  type: number;
  /** Subtype number. */
  subtype: number;
  /** Flash offset. */
  offset: number;
  /** Size in bytes. */
  size: number;
  /** Flag bits (1 encrypted, 2 readonly). */
  flags: number;
}

/** Problem in a partition table. */
export class PartitionTableError extends EsplineError {
  /** Create the error. */
  constructor(message: string) {
    super("E_BAD_PARTITION_TABLE", message);
  }
}

/** Type name (`app`, `data`) or hex. */
export function typeName(type: number): string {
  return Object.entries(TYPES).find(([, v]) => v === type)?.[0] ?? `0x${type.toString(16)}`;
}

/** Subtype name for a type, or hex. */
export function subtypeName(type: number, subtype: number): string {
  const names = SUBTYPES[typeName(type)] ?? {};
  return Object.entries(names).find(([, v]) => v === subtype)?.[0] ?? `0x${subtype.toString(16)}`;
}

/**
 * Parse a binary table (the 0xC00 bytes at 0x8000). Checks the MD5 entry when present.
 *
 * @example
 * ```ts
 * import { parsePartitionTable } from "./partition.ts";
 * const table = parsePartitionTable(await Deno.readFile("partition-table.bin"));
 * console.log(table.map((p) => p.name));
 * ```
 */
export function parsePartitionTable(data: Uint8Array): Partition[] {
  const out: Partition[] = [];
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let off = 0; off + 32 <= Math.min(data.length, PARTITION_TABLE_MAX); off += 32) {
    const e = data.subarray(off, off + 32);
    if (e.every((b) => b === 0xff)) return out;
    if (e[0] === MD5_MAGIC[0] && e[1] === MD5_MAGIC[1]) {
      const want = createHash("md5").update(data.subarray(0, off)).digest();
      if (!want.every((b, i) => b === e[16 + i])) {
        throw new PartitionTableError(
          "partition table MD5 does not match its entries: the table is damaged",
        );
      }
      continue;
    }
    if (e[0] !== ENTRY_MAGIC[0] || e[1] !== ENTRY_MAGIC[1]) {
      throw new PartitionTableError(
        `no partition entry at table offset 0x${off.toString(16)} (magic ${e[0].toString(16)} ${
          e[1].toString(16)
        }): ` +
          "this is not a partition table, or it is damaged",
      );
    }
    out.push({
      type: e[2],
      subtype: e[3],
      offset: view.getUint32(off + 4, true),
      size: view.getUint32(off + 8, true),
      name: new TextDecoder().decode(e.subarray(12, 28)).replace(/\0.*$/s, ""),
      flags: view.getUint32(off + 28, true),
    });
  }
  if (out.length === 0) throw new PartitionTableError("empty partition table");
  return out;
}

/** Build the binary table (entries, MD5 entry, 0xFF padding to 0xC00), as gen_esp32part does. */
export function partitionTableToBinary(table: Partition[]): Uint8Array {
  const out = new Uint8Array(PARTITION_TABLE_MAX).fill(0xff);
  const view = new DataView(out.buffer);
  if ((table.length + 1) * 32 > PARTITION_TABLE_MAX) {
    throw new PartitionTableError("too many partitions");
  }
  table.forEach((p, i) => {
    const off = i * 32;
    out.set(ENTRY_MAGIC, off);
    out[off + 2] = p.type;
    out[off + 3] = p.subtype;
    view.setUint32(off + 4, p.offset, true);
    view.setUint32(off + 8, p.size, true);
    const name = new TextEncoder().encode(p.name);
    if (name.length > 16) {
      throw new PartitionTableError(`partition name "${p.name}" is longer than 16 bytes`);
    }
    out.fill(0, off + 12, off + 28);
    out.set(name, off + 12);
    view.setUint32(off + 28, p.flags, true);
  });
  const md5Off = table.length * 32;
  out.set(MD5_MAGIC, md5Off);
  out.fill(0xff, md5Off + 2, md5Off + 16);
  out.set(createHash("md5").update(out.subarray(0, md5Off)).digest(), md5Off + 16);
  return out;
}

function parseSize(text: string, what: string, line: number): number | null {
  const t = text.trim();
  if (t === "") return null;
  const m = /^(0x[0-9a-f]+|\d+)\s*([kKmM])?$/i.exec(t);
  if (!m) {
    throw new UsageError(`line ${line}: ${what} "${text}" is not a number (use 0x9000, 24K or 1M)`);
  }
  let n = Number(m[1]);
  if (m[2]?.toLowerCase() === "k") n *= 1024;
  if (m[2]?.toLowerCase() === "m") n *= 1024 * 1024;
  return n;
}

/**
 * Parse ESP-IDF's CSV format (`name, type, subtype, offset, size, flags`);
 * empty offsets follow the previous partition (apps aligned to 64 KiB,
 * data to 4 KiB), starting after the table.
 */
export function parsePartitionCsv(
  text: string,
  options: { tableOffset?: number } = {},
): Partition[] {
  const out: Partition[] = [];
  let next = (options.tableOffset ?? PARTITION_TABLE_OFFSET) + 0x1000;
  text.split(/\r?\n/).forEach((raw, i) => {
    const lineNo = i + 1;
    const line = raw.replace(/#.*$/, "").trim();
    if (!line) return;
    const f = line.split(",").map((s) => s.trim());
    if (f.length < 5) {
      throw new UsageError(`line ${lineNo}: expected name, type, subtype, offset, size[, flags]`);
    }
    const [name, typeText, subText, offText, sizeText, flagText = ""] = f;
    const num = (t: string) => /^(0x[0-9a-f]+|\d+)$/i.test(t) ? Number(t) : undefined;
    const type = TYPES[typeText] ?? num(typeText);
    if (type === undefined) {
      throw new UsageError(
        `line ${lineNo}: unknown type "${typeText}" (use app, data or a number)`,
      );
    }
    const subtype = SUBTYPES[typeText]?.[subText] ?? num(subText);
    if (subtype === undefined) {
      throw new UsageError(`line ${lineNo}: unknown subtype "${subText}" for type ${typeText}`);
    }
    const align = type === TYPES.app ? 0x10000 : 0x1000;
    let offset = parseSize(offText, "offset", lineNo);
    if (offset === null) offset = Math.ceil(next / align) * align;
    const size = parseSize(sizeText, "size", lineNo);
    if (!size) throw new UsageError(`line ${lineNo}: partition ${name} needs a size`);
    let flags = 0;
    for (const fl of flagText.split(":").map((s) => s.trim()).filter(Boolean)) {
      if (!(fl in FLAGS)) {
        throw new UsageError(`line ${lineNo}: unknown flag "${fl}" (use encrypted, readonly)`);
      }
      flags |= FLAGS[fl];
    }
    out.push({ name, type, subtype, offset, size, flags });
    next = offset + size;
  });
  checkPartitions(out);
  return out;
}

function checkPartitions(table: Partition[]): void {
  const sorted = [...table].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i - 1].offset + sorted[i - 1].size > sorted[i].offset) {
      throw new UsageError(`partitions ${sorted[i - 1].name} and ${sorted[i].name} overlap`);
    }
  }
  const names = new Set<string>();
  for (const p of table) {
    if (names.has(p.name)) throw new UsageError(`partition name ${p.name} is used twice`);
    names.add(p.name);
  }
}

function sizeText(n: number): string {
  if (n % 0x100000 === 0) return `${n / 0x100000}M`;
  if (n % 0x400 === 0) return `${n / 0x400}K`;
  return `0x${n.toString(16)}`;
}

/** The table in ESP-IDF's CSV format (as gen_esp32part writes it). */
export function partitionTableToCsv(table: Partition[]): string {
  const lines = ["# ESP-IDF Partition Table", "# Name, Type, SubType, Offset, Size, Flags"];
  for (const p of table) {
    const flags = Object.entries(FLAGS).filter(([, bit]) => p.flags & bit).map(([n]) => n).join(
      ":",
    );
    lines.push(
      [
        p.name,
        typeName(p.type),
        subtypeName(p.type, p.subtype),
        `0x${p.offset.toString(16)}`,
        sizeText(p.size),
        flags,
      ].join(","),
    );
  }
  return lines.join("\n") + "\n";
}

/** A human table. */
export function formatPartitionTable(table: Partition[]): string {
  const rows = table.map((p) =>
    `${p.name.padEnd(16)} ${typeName(p.type).padEnd(5)} ${
      subtypeName(p.type, p.subtype).padEnd(9)
    } ` +
    `0x${p.offset.toString(16).padStart(6, "0")}  0x${p.size.toString(16).padStart(6, "0")} (${
      sizeText(p.size)
    })`
  );
  return ["Name             Type  SubType   Offset    Size", ...rows].join("\n");
}

/** Find a partition by name; the error lists the names there are. */
export function findPartition(table: Partition[], name: string): Partition {
  const p = table.find((x) => x.name === name);
  if (!p) {
    throw new UsageError(
      table.length
        ? `no partition named "${name}": the table has ${table.map((x) => x.name).join(", ")}`
        : `no partition named "${name}": the partition table is empty (is the flash erased? ` +
          "write the partition table first, or give an address)",
      {
        code: "E_NO_PARTITION",
      },
    );
  }
  return p;
}
