/**
 * eFuse readers the chip files share: bit fields inside eFuse words, the MAC
 * word layout used from the ESP32-S2 on, the ESP32's MAC CRC-8 and the
 * MAC_EXT bytes of chips with an 802.15.4 radio.
 *
 * Everything reads through a {@link ReadReg}, so the same code runs against a
 * fake register map in tests and against a chip through READ_REG.
 *
 * @module
 */

import type { ReadReg } from "./types.ts";

/** A bit field inside one 32-bit register: `width` bits starting at bit `shift`. */
export interface BitField {
  /** Address of the 32-bit word holding the field. */
  address: number;
  /** Position of the field's lowest bit (0 = least significant). */
  shift: number;
  /** Number of bits in the field (1..32). */
  width: number;
}

/**
 * Take a field's bits out of a word already read.
 *
 * @example
 * ```ts
 * import { extractBits } from "./efuse.ts";
 * extractBits(0x00300000, { shift: 20, width: 2 }); // 3
 * ```
 */
export function extractBits(word: number, field: Pick<BitField, "shift" | "width">): number {
  const shifted = (word >>> 0) >>> field.shift;
  return field.width >= 32 ? shifted : shifted & ((2 ** field.width) - 1);
}

/**
 * Read the word holding `field` and return the field's value.
 *
 * @example
 * ```ts
 * import { readBitField } from "./efuse.ts";
 * const regs = new Map([[0x1000, 0x00000a00]]);
 * await readBitField((a) => Promise.resolve(regs.get(a) ?? 0), {
 *   address: 0x1000,
 *   shift: 9,
 *   width: 3,
 * }); // 5
 * ```
 */
export async function readBitField(readReg: ReadReg, field: BitField): Promise<number> {
  return extractBits(await readReg(field.address), field);
}

/**
 * Read the base MAC as the ESP32-S2 and later chips store it: the word at
 * `address` holds MAC bytes 2..5 (byte 2 in bits 31..24), the next word holds
 * bytes 0..1 in its low 16 bits (byte 0 in bits 15..8).
 * (esptool targets/esp32s3.py read_mac: `struct.pack(">II", mac1, mac0)[2:]`.)
 *
 * @example
 * ```ts
 * import { readSplitMac } from "./efuse.ts";
 * const regs = new Map([[0x100, 0x33445566], [0x104, 0x00001122]]);
 * await readSplitMac((a) => Promise.resolve(regs.get(a) ?? 0), 0x100);
 * // Uint8Array [0x11, 0x22, 0x33, 0x44, 0x55, 0x66]
 * ```
 */
export async function readSplitMac(readReg: ReadReg, address: number): Promise<Uint8Array> {
  const low = (await readReg(address)) >>> 0;
  const high = (await readReg(address + 4)) >>> 0;
  return Uint8Array.of(
    (high >>> 8) & 0xff,
    high & 0xff,
    (low >>> 24) & 0xff,
    (low >>> 16) & 0xff,
    (low >>> 8) & 0xff,
    low & 0xff,
  );
}

/** Polynomial of the ESP32 MAC CRC-8, reflected (ESP-IDF esp_rom_efuse.c esp_crc8; espefuse EfuseMacField.calc_crc). */
const MAC_CRC8_POLY_REFLECTED = 0x8c;

/**
 * CRC-8 of a MAC as the ESP32 stores it in eFuse BLOCK0: reflected
 * polynomial 0x8C, initial value 0, over the six bytes in printed order
 * (ESP-IDF esp_efuse_mac_get_default feeds mac[0] = the high byte of
 * MAC_FACTORY first; espefuse computes it over the MAC as it prints it).
 *
 * @example
 * ```ts
 * import { macCrc8 } from "./efuse.ts";
 * macCrc8(Uint8Array.of(0, 0, 0, 0, 0, 0)); // 0
 * ```
 */
export function macCrc8(mac: Uint8Array): number {
  let crc = 0;
  for (const byte of mac) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) {
      crc = crc & 1 ? (crc >>> 1) ^ MAC_CRC8_POLY_REFLECTED : crc >>> 1;
    }
  }
  return crc;
}

/**
 * The two MAC_EXT bytes stored above the base MAC in the second MAC word
 * (bits 16..31, most significant first: esptool targets/esp32c6.py read_mac,
 * `struct.pack(">H", (mac1 >> 16) & 0xFFFF)`).
 *
 * @example
 * ```ts
 * import { readMacExt } from "./efuse.ts";
 * await readMacExt(() => Promise.resolve(0xfffe1122), 0x104); // Uint8Array [0xff, 0xfe]
 * ```
 */
export async function readMacExt(readReg: ReadReg, highWordAddress: number): Promise<Uint8Array> {
  const high = (await readReg(highWordAddress)) >>> 0;
  return Uint8Array.of((high >>> 24) & 0xff, (high >>> 16) & 0xff);
}
