/**
 * The crystal frequency estimated from the UART clock divider, as esptool's
 * get_crystal_freq does on the chips that have no crystal register (ESP8266,
 * ESP32, C2, C5): the chip's UART runs at the host's baud, so the divider
 * times the baud is its bus clock.
 *
 * @module
 */

import type { ReadReg } from "./types.ts";

/** Mask of the divider field in UART_CLKDIV_REG (esptool loader.py UART_CLKDIV_MASK). */
export const UART_CLKDIV_MASK = 0xfffff;

/** Above this estimate (MHz) the crystal is taken as 48 MHz (esptool loader.py get_crystal_freq). */
const XTAL_48_THRESHOLD_MHZ = 45;
/** Above this estimate (MHz) the crystal is taken as 40 MHz, else 26 MHz (esptool loader.py get_crystal_freq). */
const XTAL_40_THRESHOLD_MHZ = 33;

/**
 * Round an estimated crystal frequency to the nearest supported one: 48, 40
 * or 26 MHz, with esptool's thresholds (above 45 → 48, above 33 → 40).
 *
 * @example
 * ```ts
 * import { normalizeCrystalMhz } from "./crystal.ts";
 * normalizeCrystalMhz(39.9); // 40
 * ```
 */
export function normalizeCrystalMhz(estimateMhz: number): number {
  if (estimateMhz > XTAL_48_THRESHOLD_MHZ) return 48;
  if (estimateMhz > XTAL_40_THRESHOLD_MHZ) return 40;
  return 26;
}

/** Where a chip keeps its UART divider and how it relates to the crystal. */
export interface UartCrystalOptions {
  /** Address of UART_CLKDIV_REG for the UART in use. */
  clkdivReg: number;
  /** Bus clock / crystal ratio: 2 on ESP8266, 1 elsewhere (esptool XTAL_CLK_DIVIDER). */
  xtalClkDivider: number;
  /** Line speed the host and chip are talking at, in baud. */
  baud: number;
}

/**
 * Estimate the crystal from the UART divider: the chip's UART runs at our baud,
 * so `divider × baud` is its bus clock. Returns 26, 40 or 48 (MHz).
 *
 * @example
 * ```ts
 * import { readUartCrystalMhz } from "./crystal.ts";
 * // 40 MHz / 115200 baud ≈ divider 347
 * await readUartCrystalMhz(() => Promise.resolve(347), {
 *   clkdivReg: 0x3ff40014,
 *   xtalClkDivider: 1,
 *   baud: 115200,
 * }); // 40
 * ```
 */
export async function readUartCrystalMhz(
  readReg: ReadReg,
  options: UartCrystalOptions,
): Promise<number> {
  const divider = ((await readReg(options.clkdivReg)) >>> 0) & UART_CLKDIV_MASK;
  const estimate = (options.baud * divider) / 1e6 / options.xtalClkDivider;
  return normalizeCrystalMhz(estimate);
}
