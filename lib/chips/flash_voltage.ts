/**
 * Where the SPI flash supply voltage comes from (ESP32, S2, S3): an RTC
 * register override, the VDD_SPI eFuses or a strapping pin, in esptool's
 * order (`flash-id` prints it last).
 *
 * @module
 */

import type { FlashVoltage, ReadReg } from "./types.ts";

/** Registers and bits that decide the flash supply voltage (esptool targets/esp32.py get_flash_voltage). */
export interface FlashVoltageRegisters {
  /** RTC_CNTL_SDIO_CONF_REG and its FORCE, DREFH (1.9 V) and XPD bits, on chips that have it (ESP32). */
  rtc?: { reg: number; force: number; drefh: number; xpd: number };
  /** The eFuse word with VDD_SPI_FORCE, VDD_SPI_XPD and VDD_SPI_TIEH. */
  efuse: { reg: number; force: number; xpd: number; tieh: number };
  /** GPIO_STRAP_REG and the VDD_SPI strapping bit (set: 1.8 V). */
  strap: { reg: number; mask: number };
}

/**
 * Where the flash supply voltage comes from, decided in esptool's order: an
 * RTC override, else the VDD_SPI eFuses when forced, else the strapping pin.
 *
 * @example
 * ```ts
 * import { readFlashVoltage } from "./flash_voltage.ts";
 * const regs = { efuse: { reg: 0x10, force: 1 << 16, xpd: 1 << 14, tieh: 1 << 15 }, strap: { reg: 0x20, mask: 1 << 5 } };
 * await readFlashVoltage(() => Promise.resolve(0), regs); // { voltage: "3.3V", source: "a strapping pin" }
 * ```
 */
export async function readFlashVoltage(
  readReg: ReadReg,
  regs: FlashVoltageRegisters,
): Promise<FlashVoltage> {
  if (regs.rtc) {
    const rtc = (await readReg(regs.rtc.reg)) >>> 0;
    if (rtc & regs.rtc.force) {
      const voltage = rtc & regs.rtc.drefh ? "1.9V" : rtc & regs.rtc.xpd ? "1.8V" : "OFF";
      return { voltage, source: "RTC_CNTL" };
    }
  }
  const efuse = (await readReg(regs.efuse.reg)) >>> 0;
  if (efuse & regs.efuse.force) {
    const voltage = !(efuse & regs.efuse.xpd) ? "OFF" : efuse & regs.efuse.tieh ? "3.3V" : "1.8V";
    return { voltage, source: "eFuse" };
  }
  const strap = (await readReg(regs.strap.reg)) >>> 0;
  return { voltage: strap & regs.strap.mask ? "1.8V" : "3.3V", source: "a strapping pin" };
}
