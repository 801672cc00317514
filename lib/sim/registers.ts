/**
 * The chip's memory-mapped words as READ_REG / WRITE_REG see them: the
 * detection magic in ROM, eFuse identity words, the UART clock divider and
 * console number, and the SPI flash controller, whose "user" command runs
 * raw flash commands (JEDEC id, status registers, SFDP, READ) the way
 * esptool's `run_spiflash_command` drives it.
 *
 * @module
 */

import { CHIP_DETECT_MAGIC_REG_ADDR, type ChipFacts, type SimRevision } from "./chip_facts.ts";
import type { NorFlash } from "./nor_flash.ts";
import { putU32 } from "./protocol.ts";

/** SPI_USR bit in SPI_CMD_REG (esptool loader.py run_spiflash_command). */
const SPI_CMD_USR = 1 << 18;
/** SPI_USR_REG phase enables (esptool loader.py run_spiflash_command). */
const SPI_USR_COMMAND = 1 << 31;
const SPI_USR_ADDR = 1 << 30;
const SPI_USR_MISO = 1 << 28;
const SPI_USR_MOSI = 1 << 27;

/** SPI NOR commands the model answers (JEDEC JESD216 / common datasheets). */
const FLASH_CMD = {
  RDID: 0x9f,
  RDSR: 0x05,
  RDSR2: 0x35,
  RDSR3: 0x15,
  WREN: 0x06,
  WRDI: 0x04,
  VOLATILE_SR_WREN: 0x50,
  WRSR: 0x01,
  WRSR2: 0x31,
  WRSR3: 0x11,
  RDSFDP: 0x5a,
  READ: 0x03,
} as const;

/** UART_CLKDIV_REG fields: integer divider (bits 0..19), sixteenths (bits 20..23) (ESP32/ESP32-C3 TRM). */
const CLKDIV_INT_MASK = 0xfffff;
const CLKDIV_FRAG_SHIFT = 20;

/**
 * UART_CLKDIV for `clockHz` / `baud` as the ROM programs it: the divider in
 * sixteenths, truncated (genuine ESP32-C3 ROM at 115200 from 40 MHz: 0x30015B).
 */
export function uartClkdiv(clockHz: number, baud: number): number {
  const div16 = Math.floor((clockHz * 16) / Math.max(1, baud));
  return ((div16 >> 4) & CLKDIV_INT_MASK | ((div16 & 0xf) << CLKDIV_FRAG_SHIFT)) >>> 0;
}

/** What the register file reads from the chip around it. */
export interface RegisterContext {
  readonly facts: ChipFacts;
  readonly nor: NorFlash;
  readonly revision: SimRevision;
  readonly crystalMhz: number;
  /** Console in use: a USB-UART bridge or the USB-Serial/JTAG controller. */
  readonly usb: "uart" | "usb-jtag";
  /** The chip UART's current speed (the clock divider register follows it). */
  uartBaud(): number;
}

/** Registers and the SPI flash controller of one chip. */
export class Registers {
  readonly #ctx: RegisterContext;
  readonly #identity: Map<number, number>;
  #regs = new Map<number, number>();
  #sr = [0x00, 0x00, 0x00];
  #sfdpWriteEnable = false;

  /** Create the register file; `identity` holds eFuse and other read-only words. */
  constructor(ctx: RegisterContext, identity: Map<number, number>) {
    this.#ctx = ctx;
    this.#identity = identity;
  }

  /** A reset: writable registers and the flash status registers back to 0. */
  reset(): void {
    this.#regs.clear();
    for (const [addr, value] of this.#ctx.facts.bootRegs ?? []) this.#regs.set(addr, value);
    this.#sr = [0, 0, 0];
  }

  /** The word READ_REG returns for `addr` (0 for anything unmapped). */
  read(addr: number): number {
    const f = this.#ctx.facts;
    if (addr === CHIP_DETECT_MAGIC_REG_ADDR) return f.magic;
    if (addr === f.uartClkdivReg) {
      return uartClkdiv(f.xtalClkDivider * this.#ctx.crystalMhz * 1e6, this.#ctx.uartBaud());
    }
    const uartNoReg = f.uartNoRegForRevision?.(this.#ctx.revision) ?? f.uartNoReg;
    if (addr === uartNoReg) {
      return this.#ctx.usb === "usb-jtag" ? (f.uartNoUsbJtag ?? 0) : 0;
    }
    const id = this.#identity.get(addr);
    if (id !== undefined) return id;
    return this.#regs.get(addr) ?? 0;
  }

  /** WRITE_REG of one word (ROM and eFuse words ignore writes). */
  write(addr: number, value: number): void {
    const f = this.#ctx.facts;
    if (addr === CHIP_DETECT_MAGIC_REG_ADDR || this.#identity.has(addr)) return;
    this.#regs.set(addr, value);
    if (addr === f.spi.base && (value & SPI_CMD_USR) !== 0) this.#runSpiUserCommand();
  }

  /** Bytes stored by MEM_DATA (kept as words, so READ_REG sees them). */
  writeBytes(addr: number, bytes: Uint8Array): void {
    for (let i = 0; i < bytes.length; i++) {
      const a = addr + i;
      const word = a & ~3;
      const shift = (a & 3) * 8;
      const old = this.#regs.get(word >>> 0) ?? 0;
      this.#regs.set(word >>> 0, ((old & ~(0xff << shift)) | (bytes[i] << shift)) >>> 0);
    }
  }

  /** Execute the SPI controller's "user" command as esptool's run_spiflash_command sets it up. */
  #runSpiUserCommand(): void {
    const s = this.#ctx.facts.spi;
    const reg = (off: number) => this.#regs.get(s.base + off) ?? 0;
    const usr = reg(s.usr);
    const usr1 = reg(s.usr1);
    const usr2 = reg(s.usr2);
    const command = usr2 & 0xff;
    let misoBits = 0;
    let mosiBits = 0;
    if (s.misoDlen !== undefined && s.mosiDlen !== undefined) {
      if (usr & SPI_USR_MISO) misoBits = (reg(s.misoDlen) & 0x3ffff) + 1;
      if (usr & SPI_USR_MOSI) mosiBits = (reg(s.mosiDlen) & 0x3ffff) + 1;
    } else {
      if (usr & SPI_USR_MISO) misoBits = ((usr1 >>> 8) & 0x1ff) + 1;
      if (usr & SPI_USR_MOSI) mosiBits = ((usr1 >>> 17) & 0x1ff) + 1;
    }
    let addr = reg(4);
    if (usr & SPI_USR_ADDR) {
      const addrBits = ((usr1 >>> 26) & 0x3f) + 1;
      // ESP8266/ESP32 send from the MSB of the 32-bit register (esptool SPI_ADDR_REG_MSB).
      if (this.#ctx.facts.spiAddrFromMsb) {
        addr = addrBits >= 32 ? addr : addr >>> (32 - addrBits);
      }
    }
    const mosi: number[] = [];
    for (let i = 0; i < Math.ceil(mosiBits / 8); i++) {
      mosi.push((reg(s.w0 + (i & ~3)) >>> ((i & 3) * 8)) & 0xff);
    }
    const miso = (usr & SPI_USR_COMMAND) ? this.#flashCommand(command, mosi, addr) : [];
    const nBytes = Math.ceil(misoBits / 8);
    for (let w = 0; w < Math.ceil(nBytes / 4); w++) {
      let word = 0;
      for (let k = 0; k < 4; k++) {
        const i = w * 4 + k;
        const b = i < nBytes ? (miso[i] ?? 0xff) : 0;
        word |= b << (8 * k);
      }
      this.#regs.set(s.base + s.w0 + 4 * w, word >>> 0);
    }
    this.#regs.set(s.base, reg(0) & ~SPI_CMD_USR); // command done
  }

  /** A SPI NOR flash's answer to a raw command (JEDEC RDID, status registers, SFDP, READ). */
  #flashCommand(cmd: number, mosi: number[], addr: number): number[] {
    const nor = this.#ctx.nor;
    const sizeLog2 = Math.log2(nor.size);
    switch (cmd) {
      case FLASH_CMD.RDID: // manufacturer, memory type, capacity (log2 of bytes)
        return [this.#ctx.facts.flashVendor, 0x40, sizeLog2];
      case FLASH_CMD.RDSR:
        return [this.#sr[0], this.#sr[0], this.#sr[0], this.#sr[0]];
      case FLASH_CMD.RDSR2:
        return [this.#sr[1]];
      case FLASH_CMD.RDSR3:
        return [this.#sr[2]];
      case FLASH_CMD.WREN:
        this.#sr[0] |= 0x02;
        return [];
      case FLASH_CMD.WRDI:
        this.#sr[0] &= ~0x02;
        this.#sfdpWriteEnable = false;
        return [];
      case FLASH_CMD.VOLATILE_SR_WREN:
        this.#sfdpWriteEnable = true;
        return [];
      case FLASH_CMD.WRSR: // 1 or 2 bytes
      case FLASH_CMD.WRSR2:
      case FLASH_CMD.WRSR3: {
        if ((this.#sr[0] & 0x02) === 0 && !this.#sfdpWriteEnable) return [];
        const idx = cmd === FLASH_CMD.WRSR ? 0 : cmd === FLASH_CMD.WRSR2 ? 1 : 2;
        if (mosi.length > 0) this.#sr[idx] = mosi[0] & (idx === 0 ? 0xfc : 0xff);
        if (cmd === FLASH_CMD.WRSR && mosi.length > 1) this.#sr[1] = mosi[1];
        this.#sr[0] &= ~0x02;
        this.#sfdpWriteEnable = false;
        return [];
      }
      case FLASH_CMD.RDSFDP:
        return Array.from(this.#sfdp(addr & 0xffffff, 4));
      case FLASH_CMD.READ:
        return Array.from(nor.read(addr & 0xffffff, 4));
      default:
        return [0xff, 0xff, 0xff, 0xff];
    }
  }

  /** A minimal SFDP table: signature, one parameter header, JEDEC basic table density. */
  #sfdp(addr: number, len: number): Uint8Array {
    const t = new Uint8Array(0x100).fill(0xff);
    t.set([0x53, 0x46, 0x44, 0x50, 0x06, 0x01, 0x00, 0xff], 0); // "SFDP", v1.6, 1 header
    t.set([0x00, 0x06, 0x01, 0x10, 0x30, 0x00, 0x00, 0xff], 8); // basic table at 0x30, 16 dwords
    t.set([0xe5, 0x20, 0xf1, 0xff], 0x30);
    putU32(t, 0x34, this.#ctx.nor.size * 8 - 1); // density in bits - 1
    const out = new Uint8Array(len).fill(0xff);
    for (let i = 0; i < len; i++) if (addr + i < t.length) out[i] = t[addr + i];
    return out;
  }
}
