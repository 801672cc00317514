/**
 * The serial download protocol as the device sees it: opcodes, error codes,
 * fixed payloads and sizes, and the shape of the answers the ROM loader and
 * the flasher stub send (value word, optional data, status bytes).
 *
 * Sources (facts only): esptool `loader.py` (ESP_* opcodes, checksum magic),
 * `docs/en/advanced-topics/serial-protocol.rst` (packet layout, status bytes,
 * ROM error codes), the flasher stub's `stub_flasher.h` (stub error codes,
 * block size).
 *
 * @module
 */

/** Request opcodes. */
export const OP = {
  FLASH_BEGIN: 0x02,
  FLASH_DATA: 0x03,
  FLASH_END: 0x04,
  MEM_BEGIN: 0x05,
  MEM_END: 0x06,
  MEM_DATA: 0x07,
  SYNC: 0x08,
  WRITE_REG: 0x09,
  READ_REG: 0x0a,
  SPI_SET_PARAMS: 0x0b,
  SPI_ATTACH: 0x0d,
  READ_FLASH_SLOW: 0x0e,
  CHANGE_BAUDRATE: 0x0f,
  FLASH_DEFL_BEGIN: 0x10,
  FLASH_DEFL_DATA: 0x11,
  FLASH_DEFL_END: 0x12,
  SPI_FLASH_MD5: 0x13,
  GET_SECURITY_INFO: 0x14,
  ERASE_FLASH: 0xd0,
  ERASE_REGION: 0xd1,
  READ_FLASH: 0xd2,
  RUN_USER_CODE: 0xd3,
  FLASH_ENCRYPT_DATA: 0xd4,
} as const;

/** ROM loader error codes (serial-protocol.rst "ROM Loader Errors"). */
export const ROM_ERR = {
  INVALID_MESSAGE: 0x05,
  FAILED_TO_ACT: 0x06,
  INVALID_CRC: 0x07,
  FLASH_WRITE: 0x08,
  FLASH_READ: 0x09,
  READ_LENGTH: 0x0a,
  DEFLATE: 0x0b,
  DEFLATE_ADLER: 0x0c,
} as const;

/** Flasher stub error codes (esptool v4 flasher_stub/include/stub_flasher.h). */
export const STUB_ERR = {
  BAD_DATA_LEN: 0xc0,
  BAD_DATA_CHECKSUM: 0xc1,
  BAD_BLOCKSIZE: 0xc2,
  INVALID_COMMAND: 0xc3,
  FAILED_SPI_OP: 0xc4,
  FAILED_SPI_UNLOCK: 0xc5,
  NOT_IN_FLASH_MODE: 0xc6,
  INFLATE_ERROR: 0xc7,
  NOT_ENOUGH_DATA: 0xc8,
  TOO_MUCH_DATA: 0xc9,
  CMD_NOT_IMPLEMENTED: 0xff,
} as const;

/** SYNC payload: 07 07 12 20 then 32 × 0x55 (serial-protocol.rst). */
export const SYNC_PAYLOAD: Uint8Array = Uint8Array.from([
  0x07,
  0x07,
  0x12,
  0x20,
  ...new Array<number>(32).fill(0x55),
]);
/** Responses the ROM and stub send per SYNC request (esptool reads 1 + 7). */
export const SYNC_RESPONSES = 8;
/** Value word of a ROM SYNC response: the first payload bytes, little-endian. */
export const ROM_SYNC_VALUE = 0x20120707;
/** Initial value of the data checksum (esptool loader.py ESP_CHECKSUM_MAGIC). */
export const CHECKSUM_MAGIC = 0xef;
/** Largest data block the stub accepts (stub_flasher.h MAX_WRITE_BLOCK). */
export const STUB_MAX_WRITE_BLOCK = 0x4000;
/** Largest READ_FLASH_SLOW block (esptool targets/esp32.py read_flash_slow BLOCK_LEN). */
export const ROM_READ_SLOW_MAX = 64;
/** Greeting the stub sends once running (serial-protocol.rst). */
export const STUB_GREETING: Uint8Array = new TextEncoder().encode("OHAI");
/** Baud the ROM (and apps) start at. */
export const ROM_DEFAULT_BAUD = 115200;
/** ESP8266 ROM baud with a 26 MHz crystal (prints its banner at this rate). */
export const ESP8266_ROM_BAUD_26MHZ = 74880;
/** Security-info flag bit for secure download mode (esptool loader.py SECURITY_INFO_FLAG_MAP). */
export const SECURITY_FLAG_SECURE_DOWNLOAD = 1 << 2;
/** Commands the ROM still accepts in secure download mode. */
export const SECURE_DOWNLOAD_OPS: ReadonlySet<number> = new Set<number>([
  OP.FLASH_BEGIN,
  OP.FLASH_DATA,
  OP.FLASH_END,
  OP.SYNC,
  OP.SPI_SET_PARAMS,
  OP.SPI_ATTACH,
  OP.CHANGE_BAUDRATE,
  OP.FLASH_DEFL_BEGIN,
  OP.FLASH_DEFL_DATA,
  OP.FLASH_DEFL_END,
  OP.GET_SECURITY_INFO,
]);

/** What GET_SECURITY_INFO reports about a chip (ROM and stub alike). */
export interface SecurityInfoFacts {
  /** "short": 12 bytes (ESP32-S2); "full": 20 bytes with chip id and API version. */
  securityInfo: "none" | "short" | "full";
  /** Chip id in the full answer. */
  chipId?: number;
  /** API version word in the full answer. */
  securityApiVersion: number;
  /** Key purpose bytes (7). */
  securityKeyPurposes?: readonly number[];
}

/**
 * The GET_SECURITY_INFO payload (esptool loader.py get_security_info: flags,
 * flash_crypt_cnt, 7 key purposes, then chip id and API version).
 */
export function securityInfoPayload(facts: SecurityInfoFacts, secureDownload: boolean): Uint8Array {
  const full = facts.securityInfo === "full";
  const out = new Uint8Array(full ? 20 : 12);
  putU32(out, 0, secureDownload ? SECURITY_FLAG_SECURE_DOWNLOAD : 0);
  // out[4] flash_crypt_cnt = 0; out[5..11] key purposes (all USER/EMPTY but the ROM's own)
  out.set(facts.securityKeyPurposes ?? [], 5);
  if (full) {
    putU32(out, 12, facts.chipId ?? 0);
    putU32(out, 16, facts.securityApiVersion);
  }
  return out;
}

/** Little-endian 32-bit word at `off`. */
export function u32(b: Uint8Array, off: number): number {
  return (b[off] | (b[off + 1] << 8) | (b[off + 2] << 16) | (b[off + 3] << 24)) >>> 0;
}

/** Store `v` as a little-endian 32-bit word at `off`. */
export function putU32(b: Uint8Array, off: number, v: number): void {
  b[off] = v & 0xff;
  b[off + 1] = (v >>> 8) & 0xff;
  b[off + 2] = (v >>> 16) & 0xff;
  b[off + 3] = (v >>> 24) & 0xff;
}

/** The protocol's data checksum: XOR of the bytes, seeded with {@link CHECKSUM_MAGIC}. */
export function xorChecksum(data: Uint8Array): number {
  let c = CHECKSUM_MAGIC;
  for (const b of data) c ^= b;
  return c;
}

/** Byte-wise equality. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A request as it arrives: the 8-byte header decoded, data after it. */
export interface Request {
  /** Command opcode. */
  op: number;
  /** The header's length field. */
  size: number;
  /** The header's checksum word (only data commands use it). */
  checksum: number;
  /** Bytes after the header. */
  data: Uint8Array;
}

/** Decode a request frame; null when it is not one (too short, or direction byte not 0). */
export function parseRequest(frame: Uint8Array): Request | null {
  if (frame.length < 8 || frame[0] !== 0x00) return null;
  return {
    op: frame[1],
    size: frame[2] | (frame[3] << 8),
    checksum: u32(frame, 4),
    data: frame.subarray(8),
  };
}

/** How the running loader spells its status bytes. */
export type StatusStyle =
  /** ROM: `status, error` (+ 2 reserved bytes on ESP32 and later). */
  | { kind: "rom"; statusBytes: 2 | 4 }
  /** Flasher stub: `error, 0`. */
  | { kind: "stub" };

/**
 * Encode a response: direction 1, opcode, size, value word, data, status
 * bytes. `error` 0 is success.
 */
export function encodeResponse(
  style: StatusStyle,
  op: number,
  value: number,
  data: Uint8Array,
  error: number,
): Uint8Array {
  const statusLen = style.kind === "stub" ? 2 : style.statusBytes;
  const body = new Uint8Array(8 + data.length + statusLen);
  body[0] = 0x01;
  body[1] = op;
  const size = data.length + statusLen;
  body[2] = size & 0xff;
  body[3] = size >> 8;
  putU32(body, 4, value);
  body.set(data, 8);
  const s = 8 + data.length;
  if (style.kind === "stub") {
    body[s] = error;
    body[s + 1] = 0;
  } else {
    body[s] = error ? 1 : 0;
    body[s + 1] = error;
  }
  return body;
}

/** Modelled time a handled command costs (applied only with flash timing on). */
export interface HandleResult {
  /** Modelled ms before the response goes out. */
  before: number;
  /** Modelled ms the chip stays busy after responding. */
  after: number;
}

/** A command that costs no modelled time. */
export const NO_DELAY: HandleResult = { before: 0, after: 0 };

/**
 * Writes answers in the running loader's own dialect (ROM or stub) and hands
 * them to `send`.
 */
export class Responder {
  readonly #send: (payload: Uint8Array) => void;
  readonly #style: () => StatusStyle;

  /** Create a responder; `style` is read per answer (the loader changes when a stub starts). */
  constructor(style: () => StatusStyle, send: (payload: Uint8Array) => void) {
    this.#style = style;
    this.#send = send;
  }

  /** True when the flasher stub is answering. */
  get stub(): boolean {
    return this.#style().kind === "stub";
  }

  /** Success with optional data before the status bytes. */
  reply(op: number, value: number, data: Uint8Array = new Uint8Array(0)): void {
    this.#send(encodeResponse(this.#style(), op, value, data, 0));
  }

  /** Failure with an error code (ROM: status 1 + code; stub: code + 0). */
  fail(op: number, code: number): HandleResult {
    this.#send(encodeResponse(this.#style(), op, 0, new Uint8Array(0), code));
    return NO_DELAY;
  }

  /** Failure for a malformed request ("len") or one it cannot carry out ("act"), in the loader's own code. */
  failed(op: number, why: "len" | "act"): HandleResult {
    const stub = this.stub;
    if (why === "len") return this.fail(op, stub ? STUB_ERR.BAD_DATA_LEN : ROM_ERR.INVALID_MESSAGE);
    return this.fail(op, stub ? STUB_ERR.FAILED_SPI_OP : ROM_ERR.FAILED_TO_ACT);
  }

  /**
   * The ROM's answer to an opcode it does not implement (or refuses in secure
   * download mode): "invalid message" with a zero command byte, which esptool
   * and esptool-js turn into their "unsupported command" errors.
   */
  unsupported(): HandleResult {
    this.#send(encodeResponse(this.#style(), 0x00, 0, new Uint8Array(0), ROM_ERR.INVALID_MESSAGE));
    return NO_DELAY;
  }
}
