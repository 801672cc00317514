/**
 * Status bytes at the end of every response, and the loader's error codes
 * turned into typed errors with readable text.
 *
 * Layout (esptool loader.py check_command): after the expected response data
 * come two status bytes. The ROM answers `[1, reason]` on failure (most ROMs
 * append two more reserved bytes); the flasher stub answers `[code, 0]`.
 * Both read as one big-endian 16-bit number, e.g. 0x0107 or 0xC100.
 *
 * @module
 */

import { EsplineError } from "../errors.ts";
import { opName } from "./packet.ts";

/** What each status code means, and what to do about it. (esptool util.py FatalError.WithResult.) */
export const LOADER_ERRORS: Readonly<Record<number, { name: string; text: string; hint: string }>> =
  {
    0x0100: { name: "E_ROM_UNDEFINED", text: "undefined error", hint: "retry the operation" },
    0x0101: {
      name: "E_ROM_INVALID_PARAM",
      text: "the input parameter is invalid",
      hint: "check address and size arguments",
    },
    0x0102: {
      name: "E_ROM_NO_MEMORY",
      text: "the chip failed to allocate memory",
      hint: "reset the board and retry",
    },
    0x0103: {
      name: "E_ROM_SEND_FAILED",
      text: "the chip failed to send a message",
      hint: "retry, or use a lower baud rate",
    },
    0x0104: {
      name: "E_ROM_RECV_FAILED",
      text: "the chip failed to receive a message",
      hint: "retry, or use a lower baud rate",
    },
    0x0105: {
      name: "E_ROM_INVALID_MESSAGE",
      text: "the chip rejected the message as invalid (unsupported command or bad length)",
      hint: "this chip's ROM may not support the command; try without --no-stub",
    },
    0x0106: {
      name: "E_ROM_FAILED",
      text: "the message was understood but the operation failed",
      hint: "check the arguments; for flash operations, check the flash is attached",
    },
    0x0107: {
      name: "E_ROM_BAD_CHECKSUM",
      text: "checksum error: the data arrived corrupted",
      hint: "check the cable, or use a lower baud rate",
    },
    0x0108: {
      name: "E_ROM_FLASH_WRITE",
      text: "flash write error: data read back differs from data written",
      hint: "the flash may be write-protected or failing; try erase-flash",
    },
    0x0109: {
      name: "E_ROM_FLASH_READ",
      text: "flash read error",
      hint: "check flash pins and mode (--flash-mode dio)",
    },
    0x010a: {
      name: "E_ROM_FLASH_READ_LEN",
      text: "flash read length error",
      hint: "request a smaller read",
    },
    0x010b: {
      name: "E_ROM_DEFLATE",
      text: "deflate (decompression) failed",
      hint: "retry without -z (use -u)",
    },
    0x010c: {
      name: "E_ROM_DEFLATE_ADLER",
      text: "deflate Adler-32 check failed",
      hint: "retry; the data was corrupted in transit",
    },
    0x010d: {
      name: "E_ROM_DEFLATE_PARAM",
      text: "deflate parameter error",
      hint: "retry without -z (use -u)",
    },
    0x010e: {
      name: "E_ROM_RAM_SIZE",
      text: "invalid RAM binary size",
      hint: "the image does not fit the chip's RAM",
    },
    0x010f: {
      name: "E_ROM_RAM_ADDRESS",
      text: "invalid RAM binary address",
      hint: "the image is not built for RAM loading on this chip",
    },
    0x0164: { name: "E_ROM_PARAM", text: "invalid parameter", hint: "check the arguments" },
    0x0165: { name: "E_ROM_FORMAT", text: "invalid format", hint: "check the arguments" },
    0x0166: {
      name: "E_ROM_DESC_TOO_LONG",
      text: "description too long",
      hint: "check the arguments",
    },
    0x0167: {
      name: "E_ROM_BAD_ENCODING",
      text: "bad encoding description",
      hint: "check the arguments",
    },
    0x0169: {
      name: "E_ROM_NO_STORAGE",
      text: "insufficient storage",
      hint: "use a smaller region",
    },
    0xc000: {
      name: "E_STUB_BAD_DATA_LEN",
      text: "bad data length",
      hint: "retry; the data was corrupted in transit",
    },
    0xc100: {
      name: "E_STUB_BAD_CHECKSUM",
      text: "bad data checksum",
      hint: "check the cable, or use a lower baud rate",
    },
    0xc200: {
      name: "E_STUB_BAD_BLOCKSIZE",
      text: "bad block size",
      hint: "retry with default settings",
    },
    0xc300: {
      name: "E_STUB_INVALID_COMMAND",
      text: "invalid command",
      hint: "the flasher stub does not know this command",
    },
    0xc400: {
      name: "E_STUB_SPI_FAILED",
      text: "SPI flash operation failed",
      hint: "check the flash chip; try --flash-mode dio",
    },
    0xc500: {
      name: "E_STUB_SPI_UNLOCK",
      text: "failed to unlock the SPI flash",
      hint: "the flash may be write-protected",
    },
    0xc600: {
      name: "E_STUB_NOT_IN_FLASH_MODE",
      text: "not in flash mode",
      hint: "a FLASH_BEGIN is missing; retry the write",
    },
    0xc700: {
      name: "E_STUB_INFLATE",
      text: "inflate (decompression) error",
      hint: "retry without -z (use -u)",
    },
    0xc800: {
      name: "E_STUB_NOT_ENOUGH_DATA",
      text: "not enough data",
      hint: "the transfer ended early; retry",
    },
    0xc900: {
      name: "E_STUB_TOO_MUCH_DATA",
      text: "too much data",
      hint: "the transfer overran the announced size; retry",
    },
    0xff00: {
      name: "E_STUB_NOT_IMPLEMENTED",
      text: "command not implemented",
      hint: "the flasher stub does not support this; try --no-stub",
    },
  };

/** The chip answered a command with a failure status. */
export class LoaderStatusError extends EsplineError {
  /** The 16-bit status, e.g. 0x0107. */
  readonly status: number;
  /** Opcode of the failed command. */
  readonly op: number;

  /** Create the error from a failed command's status. */
  constructor(op: number, status: number, what: string) {
    const known = LOADER_ERRORS[status];
    const hex = `0x${status.toString(16).padStart(4, "0")}`;
    const text = known
      ? `${what} failed: ${known.text} (${hex}); ${known.hint}`
      : `${what} failed with unknown status ${hex} (${opName(op)})`;
    super(known?.name ?? "E_LOADER_STATUS", text, { details: { op, status } });
    this.status = status;
    this.op = op;
  }
}

/** The command is unknown to this ROM (status 0x0105 from the ROM's "invalid message"). */
export function isUnsupported(e: unknown): boolean {
  return e instanceof LoaderStatusError &&
    (e.status === 0x0105 || e.status === 0xc300 || e.status === 0xff00);
}

/**
 * Check the status bytes of a response and return the response payload.
 *
 * @param data response data (payload + status)
 * @param payloadLength bytes of payload expected before the status
 */
export function checkStatus(
  op: number,
  data: Uint8Array,
  payloadLength: number,
  what: string,
): Uint8Array {
  if (data.length < payloadLength + 2) {
    // Short answer: the first two bytes are the status (an error reply carries no payload).
    if (data.length >= 2 && data[0] !== 0) {
      throw new LoaderStatusError(op, (data[0] << 8) | data[1], what);
    }
    throw new EsplineError(
      "E_SHORT_RESPONSE",
      `${what}: response too short (${data.length} bytes, expected ${
        payloadLength + 2
      }); the chip may be running different firmware`,
      { details: { op } },
    );
  }
  const s0 = data[payloadLength];
  const s1 = data[payloadLength + 1];
  if (s0 !== 0) throw new LoaderStatusError(op, (s0 << 8) | s1, what);
  return data.subarray(0, payloadLength);
}

/** A bad data checksum: the ROM's 0x0107, the stub's 0xC100 (esptool util.py). */
export const BAD_CHECKSUM_STATUSES: readonly number[] = [0x0107, 0xc100];
/**
 * Answers that mean a data block was spoiled on the wire and not used, so the
 * same block can be sent again: a bad checksum, and a frame whose length came
 * out wrong because bytes were lost (ROM 0x0105 "invalid message", stub
 * 0xC000 "bad data length"; seen from the emulated ROMs on a loaded host).
 * esptool retries a block on any failure.
 */
export const SPOILED_BLOCK_STATUSES: readonly number[] = [...BAD_CHECKSUM_STATUSES, 0x0105, 0xc000];

/** Reason byte of the ROM's "invalid message" status (esptool ROM_INVALID_RECV_MSG). */
const ROM_INVALID_REASON = 0x05;
/** The full status of an unsupported command, as {@link LoaderStatusError} reads it. */
export const ROM_INVALID_MESSAGE = 0x0100 | ROM_INVALID_REASON;

/**
 * The ROM's answer to a command it does not know (failure flag, reason 0x05),
 * which it sends under whatever opcode it answered before.
 *
 * @example
 * ```ts
 * import { isUnsupportedAnswer } from "./status.ts";
 * console.log(isUnsupportedAnswer({ data: Uint8Array.of(1, 5, 0, 0) })); // true
 * ```
 */
export function isUnsupportedAnswer(response: { data: Uint8Array }): boolean {
  const d = response.data;
  return d.length >= 2 && d[0] !== 0 && d[1] === ROM_INVALID_REASON;
}
