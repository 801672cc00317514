/**
 * A strict fake register map for tests of the chip readers: reading an
 * address that is not in the map fails, so a reader that looks in the wrong
 * place is caught rather than handed a zero.
 *
 * @module
 */

import type { ReadReg } from "../../lib/chips/types.ts";

/**
 * Build a {@link ReadReg} over `words` (address → 32-bit value). Every address
 * read is recorded in `reads`.
 *
 * @example
 * ```ts
 * import { fakeRegs } from "./fake_regs.ts";
 * const { readReg } = fakeRegs(new Map([[0x40001000, 0x00f01d83]]));
 * await readReg(0x40001000); // 0x00f01d83
 * ```
 */
export function fakeRegs(words: Map<number, number>): { readReg: ReadReg; reads: number[] } {
  const reads: number[] = [];
  const readReg: ReadReg = (address) => {
    reads.push(address);
    const value = words.get(address);
    if (value === undefined) {
      return Promise.reject(
        new RangeError(`test read unmapped register 0x${address.toString(16).padStart(8, "0")}`),
      );
    }
    return Promise.resolve(value >>> 0);
  };
  return { readReg, reads };
}
