/**
 * A NOR SPI flash model: erase sets whole 4 KiB sectors to 0xFF, programming
 * can only clear bits (new = old AND data), and each operation has a modelled
 * duration taken from typical datasheet figures.
 *
 * @module
 */

/** Erase granularity of SPI NOR flash (esptool loader.py FLASH_SECTOR_SIZE). */
export const FLASH_SECTOR_SIZE = 0x1000;
/** 64 KiB block erase unit (SPI NOR "D8h" block erase). */
export const FLASH_BLOCK_SIZE = 0x10000;
/** Program page size (SPI NOR "02h" page program). */
export const FLASH_PAGE_SIZE = 256;

/** Typical 4 KiB sector erase time, ms (Winbond W25Q32JV datasheet tSE typ 45 ms). */
export const SECTOR_ERASE_MS = 45;
/** Typical 64 KiB block erase time, ms (W25Q32JV tBE2 typ 150 ms). */
export const BLOCK_ERASE_MS = 150;
/** Typical 256-byte page program time, ms (W25Q32JV tPP typ 0.4 ms). */
export const PAGE_PROGRAM_MS = 0.4;
/** Typical chip erase time per MiB, ms (W25Q32JV tCE typ 10 s for 4 MiB). */
export const CHIP_ERASE_MS_PER_MIB = 2500;

/** A flash array with NOR semantics and modelled operation times. */
export class NorFlash {
  /** Current contents. */
  readonly data: Uint8Array;
  /** Called with each changed range [start, end) (a flash file writes it through). */
  onChange: ((start: number, end: number) => void) | null = null;

  /** Create an erased (all 0xFF) flash of `size` bytes, or wrap `initial`. */
  constructor(size: number, initial?: Uint8Array) {
    this.data = new Uint8Array(size);
    this.data.fill(0xff);
    if (initial) this.data.set(initial.subarray(0, size));
  }

  #changed(start: number, end: number): void {
    if (this.onChange && end > start) this.onChange(start, Math.min(end, this.size));
  }

  /** Size in bytes. */
  get size(): number {
    return this.data.length;
  }

  /** Erase one 4 KiB sector by index; returns modelled ms. */
  eraseSector(sector: number): number {
    const start = sector * FLASH_SECTOR_SIZE;
    if (start >= this.size) return 0;
    this.data.fill(0xff, start, Math.min(start + FLASH_SECTOR_SIZE, this.size));
    this.#changed(start, start + FLASH_SECTOR_SIZE);
    return SECTOR_ERASE_MS;
  }

  /** Erase one 64 KiB block by sector index of its first sector; returns modelled ms. */
  eraseBlock(firstSector: number): number {
    const start = firstSector * FLASH_SECTOR_SIZE;
    if (start >= this.size) return 0;
    this.data.fill(0xff, start, Math.min(start + FLASH_BLOCK_SIZE, this.size));
    this.#changed(start, start + FLASH_BLOCK_SIZE);
    return BLOCK_ERASE_MS;
  }

  /**
   * Erase `count` sectors from `firstSector`, using 64 KiB block erases where a
   * block is aligned and wholly inside the range (as ROM and stub do); returns ms.
   */
  eraseSectors(firstSector: number, count: number): number {
    let ms = 0;
    let s = firstSector;
    const end = firstSector + count;
    const perBlock = FLASH_BLOCK_SIZE / FLASH_SECTOR_SIZE;
    while (s < end) {
      if (s % perBlock === 0 && end - s >= perBlock) {
        ms += this.eraseBlock(s);
        s += perBlock;
      } else {
        ms += this.eraseSector(s);
        s++;
      }
    }
    return ms;
  }

  /** Erase everything; returns modelled ms. */
  eraseChip(): number {
    this.data.fill(0xff);
    this.#changed(0, this.size);
    return (this.size / (1024 * 1024)) * CHIP_ERASE_MS_PER_MIB;
  }

  /**
   * Program `bytes` at `addr` with NOR semantics (bits only go 1 -> 0).
   * Bytes past the end of the array are dropped. Returns modelled ms.
   */
  program(addr: number, bytes: Uint8Array): number {
    const end = Math.min(addr + bytes.length, this.size);
    for (let i = addr; i < end; i++) this.data[i] &= bytes[i - addr];
    if (end <= addr) return 0;
    this.#changed(addr, end);
    const firstPage = Math.floor(addr / FLASH_PAGE_SIZE);
    const lastPage = Math.floor((end - 1) / FLASH_PAGE_SIZE);
    return (lastPage - firstPage + 1) * PAGE_PROGRAM_MS;
  }

  /** Copy of `len` bytes at `addr` (0xFF past the end, like an unmapped read). */
  read(addr: number, len: number): Uint8Array {
    const out = new Uint8Array(len).fill(0xff);
    if (addr < this.size) out.set(this.data.subarray(addr, Math.min(addr + len, this.size)));
    return out;
  }
}

/**
 * Sectors the ESP8266 ROM really erases for FLASH_BEGIN(size, offset): its
 * SPIEraseArea erases the head sectors up to the next 64 KiB boundary and
 * then `size` more, i.e. too much (the bug esptool's ESP8266ROM.get_erase_size
 * works around). Returns [firstSector, count].
 */
export function esp8266RomEraseSectors(offset: number, size: number): [number, number] {
  const sectorsPerBlock = FLASH_BLOCK_SIZE / FLASH_SECTOR_SIZE;
  const numSectors = Math.ceil(size / FLASH_SECTOR_SIZE);
  const startSector = Math.floor(offset / FLASH_SECTOR_SIZE);
  let head = sectorsPerBlock - (startSector % sectorsPerBlock);
  if (numSectors < head) head = numSectors;
  return [startSector, head + numSectors];
}
