/**
 * Numbers as people type them for esptool: addresses and sizes in decimal,
 * `0x`/`0X` hex in either case, `0o` octal, `0b` binary, with `_` between
 * digits (Python's `int(text, 0)`, which esptool uses), and for sizes a `k`
 * or `M` suffix (`4M`, `64k`, also `4MB`). The CLI and the scripts parse
 * every number through here.
 *
 * @module
 */

import { UsageError } from "../errors.ts";

/** Python int(x, 0) literals: a base prefix and digits with single `_` between them. */
const INT_LITERAL =
  /^(?:0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+|[1-9](?:_?\d)*|0(?:_?0)*)$/;
/** Size suffixes: kibi and mebi (esptool AutoSizeType `k`/`M`; `KB`/`MB` spellings as flash sizes are written). */
const SIZE_SUFFIX = /([kKmM])[bB]?$/;

/**
 * Parse a number the way esptool does (`int(text, 0)`: `4096`, `0x1000`,
 * `0X3FF000`, `0o10`, `0b1`, `1_000`), plus a `k`/`M` size suffix (`4M`,
 * `64k`, `4MB`). Returns null when the text is not a number.
 *
 * @example
 * ```ts
 * import { parseIntArg } from "./numbers.ts";
 * parseIntArg("0X3FF000"); // 4190208
 * parseIntArg("4M"); // 4194304
 * parseIntArg("0x10zz"); // null
 * ```
 */
export function parseIntArg(text: string): number | null {
  let t = String(text).trim();
  let scale = 1;
  const suffix = SIZE_SUFFIX.exec(t);
  if (suffix) {
    scale = suffix[1].toLowerCase() === "k" ? 1024 : 1024 * 1024;
    t = t.slice(0, suffix.index);
  }
  if (!INT_LITERAL.test(t)) return null;
  const n = Number(t.replaceAll("_", "").toLowerCase()) * scale;
  return Number.isSafeInteger(n) ? n : null;
}

/**
 * Parse a flash address or size argument, or throw a usage error naming it.
 *
 * @throws {UsageError} (`E_BAD_ADDRESS`) when the text is not a non-negative number.
 * @example
 * ```ts
 * import { parseAddress } from "./numbers.ts";
 * parseAddress("0x10000"); // 65536
 * ```
 */
export function parseAddress(text: string, what = "address"): number {
  const n = parseIntArg(text);
  if (n === null || n < 0) {
    throw new UsageError(`invalid ${what} "${text}": give a number such as 0x10000 or 65536`, {
      code: "E_BAD_ADDRESS",
    });
  }
  return n;
}
