/**
 * What the virtual application does with `{nvs:NAMESPACE/KEY}` in a line it
 * prints: what an ESP-IDF app reading its factory data would do. At the first
 * such line it calls `nvs_flash_init()` (the data/nvs partition labelled
 * `nvs` in the flashed partition table, read by nvs_reader.ts), then per
 * value `nvs_open(NAMESPACE, NVS_READONLY)` and the getter (`nvs_get_str`
 * unless the placeholder names a type: `{nvs:factory/hw_rev:u8}`). A call
 * that fails is logged as such an app logs it,
 * `E (312) app: nvs_get_str(serial_no) failed: ESP_ERR_NVS_NOT_FOUND`, and
 * the line is not printed: never a made-up value.
 *
 * @module
 */

import { NVS_GET_TYPES, NVS_NAME_MAX, type NvsErrorName, type NvsGetType } from "./nvs_reader.ts";
import { initNvs, type NvsStorage, PARTITION_FLAG_READONLY } from "./nvs_reader.ts";
import { PART, type PartitionEntry } from "./image_format.ts";
import { simUsage } from "./sim_error.ts";

/** The partition `nvs_flash_init()` opens (ESP-IDF NVS_DEFAULT_PART_NAME). */
export const NVS_DEFAULT_PARTITION = "nvs";
/** The log tag of the virtual app's own lines. */
export const APP_LOG_TAG = "app";

/** `{nvs:…}` in an app line: the text between the colon and the closing brace. */
export const NVS_PLACEHOLDER: RegExp = /\{nvs:([^{}]*)\}/g;

/** One value an app line asks for. */
export interface NvsRef {
  /** Namespace. */
  namespace: string;
  /** Key. */
  key: string;
  /** The getter: `str` unless the placeholder names another type. */
  type: NvsGetType;
}

/**
 * Read the inside of a `{nvs:…}` placeholder (`factory/serial_no`,
 * `factory/hw_rev:u8`); a string saying what is wrong when it cannot be one.
 */
export function parseNvsRef(inner: string): NvsRef | string {
  const slash = inner.indexOf("/");
  if (slash < 0) return `{nvs:${inner}} names no namespace: write {nvs:NAMESPACE/KEY}`;
  const namespace = inner.slice(0, slash);
  let key = inner.slice(slash + 1);
  let type: NvsGetType = "str";
  const typed = /^(.*):([a-z0-9]+)$/.exec(key);
  if (typed && (NVS_GET_TYPES as readonly string[]).includes(typed[2])) {
    key = typed[1];
    type = typed[2] as NvsGetType;
  }
  for (const [what, name] of [["namespace", namespace], ["key", key]]) {
    if (name.length === 0 || name.length > NVS_NAME_MAX) {
      return `{nvs:${inner}}: the ${what} "${name}" must be 1 to ${NVS_NAME_MAX} characters, ` +
        "as NVS names are";
    }
  }
  return { namespace, key, type };
}

/**
 * Check the `{nvs:…}` placeholders of an app line (for the sim URL's `app=`).
 *
 * @throws {SimError} `E_USAGE` naming the placeholder and how to write it.
 */
export function checkAppLine(line: string): void {
  for (const m of line.matchAll(NVS_PLACEHOLDER)) {
    const ref = parseNvsRef(m[1]);
    if (typeof ref === "string") {
      throw simUsage(
        `sim:// parameter app=${line}: ${ref} (a type may follow the key: ` +
          `{nvs:factory/hw_rev:u8}; one of ${NVS_GET_TYPES.join(", ")})`,
      );
    }
  }
}

/** What reading one value gave: its text, or the lines the app logs instead (messages, without the log prefix). */
export type NvsRead = { ok: true; text: string } | { ok: false; errors: string[] };

/**
 * The virtual app's NVS: one `nvs_flash_init()` per boot (at the first value
 * asked for), then `nvs_open` and a getter per value.
 *
 * @example
 * ```ts
 * import { AppNvs } from "./app_nvs.ts";
 * const nvs = new AppNvs(new Uint8Array(0x400000).fill(0xff), []);
 * console.log(nvs.read({ namespace: "factory", key: "serial_no", type: "str" }));
 * // { ok: false, errors: ["nvs_flash_init failed: ESP_ERR_NOT_FOUND", …] }
 * ```
 */
export class AppNvs {
  #flash: Uint8Array;
  #table: readonly PartitionEntry[];
  #init: { ok: true; nvs: NvsStorage } | { ok: false; error: NvsErrorName } | null = null;

  /** The flash and its partition table (the table the bootloader read). */
  constructor(flash: Uint8Array, table: readonly PartitionEntry[]) {
    this.#flash = flash;
    this.#table = table;
  }

  /** Read one value as the app would, and what it prints for it. */
  read(ref: NvsRef): NvsRead {
    const errors: string[] = [];
    if (this.#init === null) {
      this.#init = this.#initialize();
      if (!this.#init.ok) errors.push(`nvs_flash_init failed: ${this.#init.error}`);
    }
    if (!this.#init.ok) {
      errors.push(`nvs_open(${ref.namespace}) failed: ESP_ERR_NVS_NOT_INITIALIZED`);
      return { ok: false, errors };
    }
    const nvs = this.#init.nvs;
    const ns = nvs.namespaceIndex(ref.namespace);
    if (ns === null) {
      return { ok: false, errors: [`nvs_open(${ref.namespace}) failed: ESP_ERR_NVS_NOT_FOUND`] };
    }
    const got = nvs.get(ns, ref.key, ref.type);
    if (!got.ok) {
      return { ok: false, errors: [`nvs_get_${ref.type}(${ref.key}) failed: ${got.error}`] };
    }
    const v = got.value;
    if (!(v instanceof Uint8Array)) return { ok: true, text: String(v) };
    if (ref.type === "str") {
      // printf("%s"): the text up to its first NUL.
      const nul = v.indexOf(0);
      const text = v.subarray(0, nul >= 0 ? nul : v.length);
      return { ok: true, text: new TextDecoder("utf-8", { ignoreBOM: true }).decode(text) };
    }
    // A blob as hex, as an app would dump it.
    return { ok: true, text: Array.from(v, (b) => b.toString(16).padStart(2, "0")).join("") };
  }

  /** nvs_flash_init(): the partition labelled "nvs", data/nvs, inside the flash. */
  #initialize(): { ok: true; nvs: NvsStorage } | { ok: false; error: NvsErrorName } {
    const part = this.#table.find((p) =>
      p.type === PART.DATA && p.subtype === PART.DATA_NVS && p.label === NVS_DEFAULT_PARTITION
    );
    // A partition past the end of the flash is not registered at start-up.
    if (!part || part.offset + part.size > this.#flash.length) {
      return { ok: false, error: "ESP_ERR_NOT_FOUND" };
    }
    return initNvs(this.#flash.subarray(part.offset, part.offset + part.size), {
      readOnly: (part.flags & PARTITION_FLAG_READONLY) !== 0,
    });
  }
}
