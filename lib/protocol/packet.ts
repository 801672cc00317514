/**
 * Request and response packets of the Espressif serial bootloader protocol
 * (esptool docs, "Serial Protocol"): requests are
 * `00 op len16 checksum32 data…`, responses `01 op len16 value32 data…`,
 * all little-endian, each carried in one SLIP frame.
 *
 * @module
 */

import { EsplineError } from "../errors.ts";

/** Command opcodes (esptool loader.py ESP_CMDS; serial-protocol.rst). */
export const Op = {
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

/** Name of an opcode for messages (`READ_REG`), or its hex value. */
export function opName(op: number): string {
  for (const [name, value] of Object.entries(Op)) if (value === op) return name;
  return `0x${op.toString(16).padStart(2, "0")}`;
}

/** Seed of the data checksum (esptool loader.py ESP_CHECKSUM_MAGIC). */
export const CHECKSUM_SEED = 0xef;

/** The XOR checksum the ROM computes over FLASH_DATA / MEM_DATA payloads. */
export function checksum(data: Uint8Array, seed = CHECKSUM_SEED): number {
  let state = seed;
  for (const b of data) state ^= b;
  return state;
}

/** SYNC payload: 07 07 12 20 followed by 32 × 0x55 (serial-protocol.rst). */
export const SYNC_PAYLOAD: Uint8Array = Uint8Array.from([
  0x07,
  0x07,
  0x12,
  0x20,
  ...new Array(32).fill(0x55),
]);

/** Build a request packet (unframed). */
export function encodeRequest(
  op: number,
  data: Uint8Array = new Uint8Array(0),
  chk = 0,
): Uint8Array {
  const out = new Uint8Array(8 + data.length);
  const view = new DataView(out.buffer);
  view.setUint8(0, 0x00);
  view.setUint8(1, op);
  view.setUint16(2, data.length, true);
  view.setUint32(4, chk >>> 0, true);
  out.set(data, 8);
  return out;
}

/** A decoded response packet. */
export interface Response {
  /** Opcode this answers. */
  op: number;
  /** The 32-bit value field (READ_REG result, SYNC marker …). */
  value: number;
  /** Data after the header: response payload followed by status bytes. */
  data: Uint8Array;
}

/** A frame that is not a well-formed response (noise, a request echo, truncated). */
export class MalformedPacketError extends EsplineError {
  /** Create the error. */
  constructor(message: string) {
    super("E_MALFORMED_PACKET", message);
  }
}

/** Decode a response frame; throws {@link MalformedPacketError} for anything else. */
export function decodeResponse(frame: Uint8Array): Response {
  if (frame.length < 8) {
    throw new MalformedPacketError(`response frame too short (${frame.length} bytes, need 8)`);
  }
  if (frame[0] !== 0x01) {
    throw new MalformedPacketError(
      `frame is not a response (direction byte 0x${frame[0].toString(16)})`,
    );
  }
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const size = view.getUint16(2, true);
  const data = frame.subarray(8);
  if (data.length < size) {
    throw new MalformedPacketError(
      `response claims ${size} data bytes but carries ${data.length}`,
    );
  }
  return { op: frame[1], value: view.getUint32(4, true), data: data.subarray(0, size) };
}

/** Little-endian packing of 32-bit words, the shape of most command arguments. */
export function u32le(...words: number[]): Uint8Array {
  const out = new Uint8Array(words.length * 4);
  const view = new DataView(out.buffer);
  words.forEach((w, i) => view.setUint32(i * 4, w >>> 0, true));
  return out;
}

/** Read a little-endian 32-bit word. */
export function readU32le(bytes: Uint8Array, offset = 0): number {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(offset, true);
}

/** Concatenate byte arrays. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
