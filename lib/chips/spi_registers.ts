/**
 * The SPI flash controller register layout shared by the ESP32-S2 and every
 * later chip, for running raw SPI flash commands (RDID) through
 * READ_REG/WRITE_REG. The ESP8266 and ESP32 list their own offsets.
 *
 * @module
 */

import type { SpiRegisters } from "./types.ts";

/**
 * The SPI flash controller register offsets shared by the ESP32-S2 and every
 * later chip (esptool targets/esp32s2.py and esp32c3.py SPI_USR_OFFS,
 * SPI_USR1_OFFS, SPI_USR2_OFFS, SPI_MOSI_DLEN_OFFS, SPI_MISO_DLEN_OFFS,
 * SPI_W0_OFFS; SPI_CMD_REG at the base).
 */
export const SPI_MEM_OFFSETS = {
  cmd: 0x00,
  usr: 0x18,
  usr1: 0x1c,
  usr2: 0x20,
  mosiDlen: 0x24,
  misoDlen: 0x28,
  w0: 0x58,
};

/** SPI registers at `base` with the {@link SPI_MEM_OFFSETS} layout. */
export function spiMemRegisters(base: number): SpiRegisters {
  const o = SPI_MEM_OFFSETS;
  return {
    cmd: base + o.cmd,
    usr: base + o.usr,
    usr1: base + o.usr1,
    usr2: base + o.usr2,
    w0: base + o.w0,
    mosiDlen: base + o.mosiDlen,
    misoDlen: base + o.misoDlen,
  };
}
