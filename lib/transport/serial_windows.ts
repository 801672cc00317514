/**
 * Serial ports on Windows through Deno FFI to kernel32: CreateFileW on
 * `\\.\COMn`, a DCB through GetCommState/SetCommState (8N1, binary, no flow
 * control), COMMTIMEOUTS for reads that return on the first byte or after a
 * timeout, EscapeCommFunction for DTR/RTS, PurgeComm, CloseHandle.
 *
 * Talking to an open COM port on Windows is all in this one file (finding
 * ports is ports_windows.ts), so a Windows user's report maps to one place.
 * Details worth knowing:
 * - SetCommState also sets DTR and RTS (fDtrControl/fRtsControl), so the DCB
 *   carries the lines' current states: a baud change must not pulse EN.
 * - After every RTS change DTR is written again with its current state: the
 *   usbser.sys driver (Espressif USB-Serial/JTAG, CDC-ACM bridges) only sends
 *   SET_CONTROL_LINE_STATE on a DTR change (esptool reset.py _setRTS).
 * - ReadFile/WriteFile run on Deno's FFI worker thread (`nonblocking`), so
 *   GetLastError there would read the main thread's value. After such a
 *   failure the port is probed with ClearCommError on the main thread and
 *   that error is reported.
 * - The handle is opened without FILE_FLAG_OVERLAPPED: Windows serialises
 *   I/O on it, so a write waits for a pending read's timeout at most.
 * - Some drivers (Bluetooth, virtual COM ports) have no modem lines and fail
 *   EscapeCommFunction with error 50 or 1: that is `E_NO_MODEM_LINES`, the
 *   port still opens, and resets are skipped.
 * It cannot run on the Linux machines this project is
 * built on: the struct layouts and the call sequence are unit-tested against
 * a fake kernel32 (the symbol table is injectable). Layout facts: winbase.h
 * (DCB, COMMTIMEOUTS), the Win32 API reference for the calls and error codes.
 *
 * @module
 */

import { TransportError } from "../errors.ts";
import { programName } from "../program_name.ts";
import type { PortInfo, SerialSignals, Transport } from "./transport.ts";
import { isInvalidHandle, utf16z } from "./win32.ts";

/** Access and creation flags (winnt.h, fileapi.h). */
const GENERIC_READ = 0x80000000;
const GENERIC_WRITE = 0x40000000;
const OPEN_EXISTING = 3;
const FILE_ATTRIBUTE_NORMAL = 0x80;
/** EscapeCommFunction codes (winbase.h). */
export const SETRTS = 3;
/** Clear RTS. */
export const CLRRTS = 4;
/** Set DTR. */
export const SETDTR = 5;
/** Clear DTR. */
export const CLRDTR = 6;
/** PurgeComm flags (winbase.h). */
const PURGE_RXABORT = 0x0002;
const PURGE_RXCLEAR = 0x0008;
/** GetLastError values (winerror.h). */
const ERROR_INVALID_FUNCTION = 1;
const ERROR_FILE_NOT_FOUND = 2;
const ERROR_PATH_NOT_FOUND = 3;
const ERROR_ACCESS_DENIED = 5;
const ERROR_NOT_READY = 21;
const ERROR_BAD_COMMAND = 22;
const ERROR_GEN_FAILURE = 31;
const ERROR_NOT_SUPPORTED = 50;
const ERROR_DEV_NOT_EXIST = 55;
const ERROR_INVALID_PARAMETER = 87;
const ERROR_NO_SUCH_DEVICE = 433;
const ERROR_OPERATION_ABORTED = 995;
const ERROR_IO_DEVICE = 1117;
const ERROR_DEVICE_NOT_CONNECTED = 1167;
const ERROR_DEVICE_REMOVED = 1617;
/**
 * Errors that mean the device is gone. Unplugged USB bridges answer with
 * 22, 31, 995, 1167 or 5 depending on the driver; a vanished virtual port
 * with 21 (device not ready); the others are winerror.h's own words for a
 * device that is no longer there (55, 433, 1617) or no longer answers (1117).
 */
const GONE_ERRORS = [
  ERROR_NOT_READY,
  ERROR_BAD_COMMAND,
  ERROR_GEN_FAILURE,
  ERROR_DEV_NOT_EXIST,
  ERROR_NO_SUCH_DEVICE,
  ERROR_OPERATION_ABORTED,
  ERROR_IO_DEVICE,
  ERROR_DEVICE_NOT_CONNECTED,
  ERROR_DEVICE_REMOVED,
  ERROR_ACCESS_DENIED,
];
/**
 * What EscapeCommFunction answers on a port without modem lines (some
 * Bluetooth and virtual COM drivers): the request is not supported (50) or
 * not a function the driver has (1). pyserial ignores EscapeCommFunction's
 * result altogether; here it becomes E_NO_MODEM_LINES, which resets treat
 * as "cannot reset", as the POSIX backend does for ENOTTY.
 */
const NO_MODEM_LINE_ERRORS = [ERROR_NOT_SUPPORTED, ERROR_INVALID_FUNCTION];
/** COMMTIMEOUTS "return at once with what is there, or wait up to the constant" (MAXDWORD rule). */
const MAXDWORD = 0xffffffff;
/** WriteTotalTimeoutConstant: a write that moves nothing for this long has stalled. */
const WRITE_TIMEOUT_MS = 10_000;

/** Size of struct DCB (winbase.h). */
export const DCB_SIZE = 28;
/** Size of struct COMMTIMEOUTS (winbase.h). */
export const COMMTIMEOUTS_SIZE = 20;

/** The kernel32 calls this file uses (injectable for tests). */
export interface Kernel32 {
  /** CreateFileW(name, access, share, security, creation, flags, template) → HANDLE. */
  CreateFileW(
    name: Uint8Array,
    access: number,
    share: number,
    security: null,
    creation: number,
    flags: number,
    template: null,
  ): Deno.PointerValue;
  /** GetCommState(handle, DCB*). */
  GetCommState(handle: Deno.PointerValue, dcb: Uint8Array): number;
  /** SetCommState(handle, DCB*). */
  SetCommState(handle: Deno.PointerValue, dcb: Uint8Array): number;
  /** SetCommTimeouts(handle, COMMTIMEOUTS*). */
  SetCommTimeouts(handle: Deno.PointerValue, timeouts: Uint8Array): number;
  /** ReadFile(handle, buffer, size, read*, overlapped) — blocking, run off the main thread. */
  ReadFile(
    handle: Deno.PointerValue,
    buf: Uint8Array,
    size: number,
    read: Uint8Array,
    overlapped: null,
  ): Promise<number>;
  /** WriteFile(handle, buffer, size, written*, overlapped). */
  WriteFile(
    handle: Deno.PointerValue,
    buf: Uint8Array,
    size: number,
    written: Uint8Array,
    overlapped: null,
  ): Promise<number>;
  /** EscapeCommFunction(handle, code). */
  EscapeCommFunction(handle: Deno.PointerValue, code: number): number;
  /** PurgeComm(handle, flags). */
  PurgeComm(handle: Deno.PointerValue, flags: number): number;
  /** ClearCommError(handle, errors*, stat*): a cheap probe of whether the port is still there. */
  ClearCommError(handle: Deno.PointerValue, errors: Uint8Array, stat: null): number;
  /** CloseHandle(handle). */
  CloseHandle(handle: Deno.PointerValue): number;
  /** GetLastError(). */
  GetLastError(): number;
}

let real: Kernel32 | null = null;

/** The real kernel32 through Deno FFI (Windows only). */
export function loadKernel32(): Kernel32 {
  if (real) return real;
  const lib = Deno.dlopen("kernel32.dll", {
    CreateFileW: {
      parameters: ["buffer", "u32", "u32", "pointer", "u32", "u32", "pointer"],
      result: "pointer",
    },
    GetCommState: { parameters: ["pointer", "buffer"], result: "i32" },
    SetCommState: { parameters: ["pointer", "buffer"], result: "i32" },
    SetCommTimeouts: { parameters: ["pointer", "buffer"], result: "i32" },
    ReadFile: {
      parameters: ["pointer", "buffer", "u32", "buffer", "pointer"],
      result: "i32",
      nonblocking: true,
    },
    WriteFile: {
      parameters: ["pointer", "buffer", "u32", "buffer", "pointer"],
      result: "i32",
      nonblocking: true,
    },
    EscapeCommFunction: { parameters: ["pointer", "u32"], result: "i32" },
    PurgeComm: { parameters: ["pointer", "u32"], result: "i32" },
    ClearCommError: { parameters: ["pointer", "buffer", "pointer"], result: "i32" },
    CloseHandle: { parameters: ["pointer"], result: "i32" },
    GetLastError: { parameters: [], result: "u32" },
  });
  real = lib.symbols as unknown as Kernel32;
  return real;
}

/** DCB bit-field positions in the DWORD at offset 8 (winbase.h, in declaration order). */
export const DCB_BITS = {
  fBinary: 0,
  fParity: 1,
  fOutxCtsFlow: 2,
  fOutxDsrFlow: 3,
  /** Two bits: DTR_CONTROL_DISABLE 0, ENABLE 1, HANDSHAKE 2. */
  fDtrControl: 4,
  fDsrSensitivity: 6,
  fTXContinueOnXoff: 7,
  fOutX: 8,
  fInX: 9,
  fErrorChar: 10,
  fNull: 11,
  /** Two bits: RTS_CONTROL_DISABLE 0, ENABLE 1, HANDSHAKE 2, TOGGLE 3. */
  fRtsControl: 12,
  fAbortOnError: 14,
} as const;
/** DTR_CONTROL_ENABLE / RTS_CONTROL_ENABLE: the line is on while the port is configured (winbase.h). */
const CONTROL_ENABLE = 1;
/** Byte offsets of the DCB fields after the bit fields (winbase.h). */
export const DCB_OFFSETS = {
  DCBlength: 0,
  BaudRate: 4,
  bitFields: 8,
  XonLim: 14,
  XoffLim: 16,
  ByteSize: 18,
  Parity: 19,
  StopBits: 20,
} as const;

/** Line states the DCB should leave DTR and RTS in. */
export interface DcbLines {
  /** DTR asserted. Default false. */
  dtr?: boolean;
  /** RTS asserted. Default false. */
  rts?: boolean;
}

/**
 * Fill a DCB for raw 8N1 at `baud`: binary mode, no parity, no hardware or
 * software flow control, DTR and RTS left as `lines` says (ENABLE when
 * asserted, DISABLE when not; EscapeCommFunction changes them later).
 * Other fields keep what GetCommState returned.
 *
 * @example
 * ```ts
 * import { DCB_SIZE, encodeDcb } from "./serial_windows.ts";
 * const dcb = encodeDcb(new Uint8Array(DCB_SIZE), 115200, { dtr: false, rts: false });
 * ```
 */
export function encodeDcb(dcb: Uint8Array, baud: number, lines: DcbLines = {}): Uint8Array {
  const v = new DataView(dcb.buffer, dcb.byteOffset, DCB_SIZE);
  v.setUint32(DCB_OFFSETS.DCBlength, DCB_SIZE, true);
  v.setUint32(DCB_OFFSETS.BaudRate, baud, true);
  // Every flag off (no parity check, no CTS/DSR/XON flow control, no abort on
  // error) except binary mode, plus the two line-control fields.
  const bits = (1 << DCB_BITS.fBinary) |
    ((lines.dtr ? CONTROL_ENABLE : 0) << DCB_BITS.fDtrControl) |
    ((lines.rts ? CONTROL_ENABLE : 0) << DCB_BITS.fRtsControl);
  v.setUint32(DCB_OFFSETS.bitFields, bits >>> 0, true);
  dcb[DCB_OFFSETS.ByteSize] = 8;
  dcb[DCB_OFFSETS.Parity] = 0; // NOPARITY
  dcb[DCB_OFFSETS.StopBits] = 0; // ONESTOPBIT
  return dcb;
}

/** COMMTIMEOUTS for "return the bytes that are there, else wait up to `ms` for the first one". */
export function encodeTimeouts(ms: number): Uint8Array {
  const t = new Uint8Array(COMMTIMEOUTS_SIZE);
  const v = new DataView(t.buffer);
  v.setUint32(0, MAXDWORD, true); // ReadIntervalTimeout
  v.setUint32(4, MAXDWORD, true); // ReadTotalTimeoutMultiplier
  v.setUint32(8, Math.max(1, Math.min(ms, MAXDWORD - 1)), true); // ReadTotalTimeoutConstant
  v.setUint32(12, 0, true); // WriteTotalTimeoutMultiplier
  v.setUint32(16, WRITE_TIMEOUT_MS, true); // WriteTotalTimeoutConstant
  return t;
}

/** `COM3` or `\\.\COM3` → the UTF-16 NUL-terminated device name CreateFileW wants. */
export function deviceName(port: string): Uint8Array {
  return utf16z(port.startsWith("\\\\.\\") ? port : `\\\\.\\${port}`);
}

/** Options for {@link openWindowsSerialPort}. */
export interface WindowsSerialOptions {
  /** Initial baud rate. Default 115200. */
  baud?: number;
  /** The kernel32 symbols (tests pass a fake). Default: the real kernel32.dll through Deno FFI. */
  kernel32?: Kernel32;
  /** USB facts from port discovery, reported in `info`. Default none. */
  info?: Omit<PortInfo, "path">;
}

/** A Windows COM port. */
export class WindowsSerialPort implements Transport {
  /** The name given (`COM3`). */
  readonly path: string;
  /** Identity and USB facts. */
  readonly info: PortInfo;
  #k: Kernel32;
  #h: Deno.PointerValue;
  #baud: number;
  #timeout = -1;
  #closed = false;
  #dtr = false;
  #rts = false;

  /** Use {@link openWindowsSerialPort}. */
  constructor(
    k: Kernel32,
    handle: Deno.PointerValue,
    path: string,
    baud: number,
    info: Omit<PortInfo, "path"> = {},
  ) {
    this.#k = k;
    this.#h = handle;
    this.path = path;
    this.info = { ...info, path };
    this.#baud = baud;
  }

  /** Current baud rate. */
  get baud(): number {
    return this.#baud;
  }

  /** Map the calling thread's last error (valid only right after a synchronous call). */
  #error(what: string, e: number): TransportError {
    if (GONE_ERRORS.includes(e)) {
      return new TransportError(
        "E_PORT_GONE",
        `port ${this.path} went away during ${what} (Windows error ${e}): plug the board back in`,
      );
    }
    return new TransportError("E_PORT_IO", `${what} on ${this.path} failed (Windows error ${e})`);
  }

  /** After a failed synchronous call. */
  #failed(what: string): TransportError {
    return this.#error(what, this.#k.GetLastError());
  }

  /** After a failed call on the FFI worker thread: probe on this thread. */
  #failedElsewhere(what: string): TransportError {
    const errors = new Uint8Array(4);
    if (!this.#k.ClearCommError(this.#h, errors, null)) return this.#failed(what);
    const flags = new DataView(errors.buffer).getUint32(0, true);
    return new TransportError(
      "E_PORT_IO",
      `${what} on ${this.path} failed (line errors 0x${
        flags.toString(16)
      }); the port is still there, retry`,
    );
  }

  #assertOpen(): void {
    if (this.#closed) throw new TransportError("E_PORT_CLOSED", `port ${this.path} is closed`);
  }

  /** Read; resolves on the first bytes or null after `timeoutMs`. */
  async read(timeoutMs: number): Promise<Uint8Array | null> {
    this.#assertOpen();
    const ms = Math.max(1, Math.round(timeoutMs));
    if (ms !== this.#timeout) {
      if (!this.#k.SetCommTimeouts(this.#h, encodeTimeouts(ms))) {
        throw this.#failed("setting read timeouts");
      }
      this.#timeout = ms;
    }
    const buf = new Uint8Array(4096);
    const got = new Uint8Array(4);
    if (!(await this.#k.ReadFile(this.#h, buf, buf.length, got, null))) {
      throw this.#failedElsewhere("read");
    }
    const n = new DataView(got.buffer).getUint32(0, true);
    return n ? buf.subarray(0, n) : null;
  }

  /** Write all bytes. */
  async write(data: Uint8Array): Promise<void> {
    this.#assertOpen();
    let off = 0;
    while (off < data.length) {
      const done = new Uint8Array(4);
      const chunk = data.slice(off);
      if (!(await this.#k.WriteFile(this.#h, chunk, chunk.length, done, null))) {
        throw this.#failedElsewhere("write");
      }
      const n = new DataView(done.buffer).getUint32(0, true);
      if (n === 0) {
        throw new TransportError(
          "E_WRITE_TIMEOUT",
          `writing to ${this.path} stalled for ${
            WRITE_TIMEOUT_MS / 1000
          } s: is the board still powered?`,
        );
      }
      off += n;
    }
  }

  /** Change the baud rate (GetCommState, then SetCommState keeping DTR/RTS as they are). */
  setBaud(baud: number): Promise<void> {
    if (this.#closed) {
      return Promise.reject(new TransportError("E_PORT_CLOSED", `port ${this.path} is closed`));
    }
    const dcb = new Uint8Array(DCB_SIZE);
    if (!this.#k.GetCommState(this.#h, dcb)) return Promise.reject(this.#failed("GetCommState"));
    if (!this.#k.SetCommState(this.#h, encodeDcb(dcb, baud, { dtr: this.#dtr, rts: this.#rts }))) {
      const e = this.#k.GetLastError();
      return Promise.reject(
        e === ERROR_INVALID_PARAMETER
          ? new TransportError(
            "E_BAUD_UNSUPPORTED",
            `${this.path} does not accept ${baud} baud (Windows error ${e}): choose another --baud`,
          )
          : this.#error(`setting ${baud} baud`, e),
      );
    }
    this.#baud = baud;
    return Promise.resolve();
  }

  /**
   * DTR / RTS through EscapeCommFunction; DTR is written again after RTS
   * (usbser.sys). A port whose driver has no modem lines rejects with
   * `E_NO_MODEM_LINES`.
   */
  setSignals(signals: SerialSignals): Promise<void> {
    if (this.#closed) {
      return Promise.reject(new TransportError("E_PORT_CLOSED", `port ${this.path} is closed`));
    }
    const escape = (code: number, what: string) => {
      if (this.#k.EscapeCommFunction(this.#h, code)) return;
      const e = this.#k.GetLastError();
      if (NO_MODEM_LINE_ERRORS.includes(e)) {
        throw new TransportError(
          "E_NO_MODEM_LINES",
          `${this.path} has no DTR/RTS lines (its driver answers Windows error ${e} to ${what}), ` +
            "so it cannot reset the board: put the board in download mode by hand " +
            "(hold BOOT, tap EN), or use a port with modem lines",
        );
      }
      throw this.#error(what, e);
    };
    try {
      if (signals.dtr !== undefined) {
        escape(signals.dtr ? SETDTR : CLRDTR, "setting DTR");
        this.#dtr = signals.dtr;
      }
      if (signals.rts !== undefined) {
        escape(signals.rts ? SETRTS : CLRRTS, "setting RTS");
        this.#rts = signals.rts;
        escape(this.#dtr ? SETDTR : CLRDTR, "setting DTR");
      }
    } catch (e) {
      return Promise.reject(e);
    }
    return Promise.resolve();
  }

  /** Drop received bytes. */
  flushInput(): Promise<void> {
    if (this.#closed) {
      return Promise.reject(new TransportError("E_PORT_CLOSED", `port ${this.path} is closed`));
    }
    if (!this.#k.PurgeComm(this.#h, PURGE_RXABORT | PURGE_RXCLEAR)) {
      return Promise.reject(this.#failed("discarding input"));
    }
    return Promise.resolve();
  }

  /** Close the handle. Idempotent. */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#k.CloseHandle(this.#h);
    }
    return Promise.resolve();
  }
}

/**
 * Open `COMn` (or `\\.\COMn`) raw 8N1 at `baud`, DTR and RTS released.
 * A port without modem lines opens too; its `setSignals` then rejects with
 * `E_NO_MODEM_LINES`.
 *
 * @throws {TransportError} `E_PORT_NOT_FOUND` (no such port), `E_PORT_BUSY`
 *   (another program holds it: Windows answers ERROR_ACCESS_DENIED), `E_PORT_OPEN`.
 * @example
 * ```ts
 * import { openWindowsSerialPort } from "./serial_windows.ts";
 * const port = await openWindowsSerialPort("COM3", { baud: 115200 });
 * await port.close();
 * ```
 */
export async function openWindowsSerialPort(
  port: string,
  options: WindowsSerialOptions = {},
): Promise<WindowsSerialPort> {
  const k = options.kernel32 ?? loadKernel32();
  const h = k.CreateFileW(
    deviceName(port),
    (GENERIC_READ | GENERIC_WRITE) >>> 0,
    0, // no sharing: a serial port has one owner
    null,
    OPEN_EXISTING,
    FILE_ATTRIBUTE_NORMAL,
    null,
  );
  if (isInvalidHandle(h)) {
    const e = k.GetLastError();
    if (e === ERROR_FILE_NOT_FOUND || e === ERROR_PATH_NOT_FOUND) {
      throw new TransportError(
        "E_PORT_NOT_FOUND",
        `no such port ${port}: is the board plugged in? \`${programName()} list-ports\` shows what is there`,
      );
    }
    if (e === ERROR_ACCESS_DENIED) {
      throw new TransportError(
        "E_PORT_BUSY",
        `port ${port} is busy: another program holds it (a serial monitor?); close it and retry`,
      );
    }
    throw new TransportError("E_PORT_OPEN", `cannot open ${port} (Windows error ${e})`);
  }
  const t = new WindowsSerialPort(k, h, port, options.baud ?? 115200, options.info);
  try {
    // SetCommState (in setBaud) already releases both lines through the DCB;
    // EscapeCommFunction then confirms it. A port without modem lines cannot,
    // and that is no reason to refuse it: data still flows.
    await t.setBaud(options.baud ?? 115200);
    await t.setSignals({ dtr: false, rts: false }).catch((e) => {
      if (!(e instanceof TransportError && e.code === "E_NO_MODEM_LINES")) throw e;
    });
    await t.flushInput();
    return t;
  } catch (e) {
    await t.close();
    throw e;
  }
}
