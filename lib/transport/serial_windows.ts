/**
 * Serial ports on Windows through Deno FFI to kernel32: CreateFileW on
 * `\\.\COMn`, a DCB through GetCommState/SetCommState (8N1, binary, no flow
 * control), COMMTIMEOUTS for reads that return on the first byte or after a
 * timeout, EscapeCommFunction for DTR/RTS, PurgeComm, CloseHandle.
 *
 * Everything Windows-specific is in this one file, so a Windows user's report
 * maps to one place. It cannot run on the Linux machines this project is
 * built on: the struct layouts and the call sequence are unit-tested against
 * a fake kernel32 (the symbol table is injectable). Layout facts: winbase.h
 * (DCB, COMMTIMEOUTS), the Win32 API reference for the calls and error codes.
 *
 * @module
 */

import { TransportError } from "../errors.ts";
import type { PortInfo, SerialSignals, Transport } from "./transport.ts";

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
const ERROR_FILE_NOT_FOUND = 2;
const ERROR_PATH_NOT_FOUND = 3;
const ERROR_ACCESS_DENIED = 5;
const ERROR_INVALID_PARAMETER = 87;
const ERROR_OPERATION_ABORTED = 995;
const ERROR_DEVICE_NOT_CONNECTED = 1167;
const ERROR_GEN_FAILURE = 31;
const ERROR_BAD_COMMAND = 22;
/** COMMTIMEOUTS "return at once with what is there, or wait up to the constant" (MAXDWORD rule). */
const MAXDWORD = 0xffffffff;

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
    CloseHandle: { parameters: ["pointer"], result: "i32" },
    GetLastError: { parameters: [], result: "u32" },
  });
  real = lib.symbols as unknown as Kernel32;
  return real;
}

/**
 * Fill a DCB for raw 8N1 at `baud`: binary mode, no parity, DTR and RTS
 * controlled by EscapeCommFunction (DTR_CONTROL_DISABLE, RTS_CONTROL_DISABLE),
 * no hardware or software flow control.
 */
export function encodeDcb(dcb: Uint8Array, baud: number): Uint8Array {
  const v = new DataView(dcb.buffer, dcb.byteOffset, DCB_SIZE);
  v.setUint32(0, DCB_SIZE, true); // DCBlength
  v.setUint32(4, baud, true); // BaudRate
  // Bit fields at offset 8: fBinary (bit 0) on; fParity, fOutxCtsFlow, fOutxDsrFlow off;
  // fDtrControl (bits 4-5) and fRtsControl (bits 12-13) = 0 (disable: we drive them);
  // fOutX/fInX (bits 8-9) off; fAbortOnError (bit 14) off.
  v.setUint32(8, 0x1, true);
  dcb[18] = 8; // ByteSize
  dcb[19] = 0; // Parity: NOPARITY
  dcb[20] = 0; // StopBits: ONESTOPBIT
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
  v.setUint32(16, 10_000, true); // WriteTotalTimeoutConstant
  return t;
}

/** `COM3` or `\\.\COM3` → the UTF-16 NUL-terminated device name CreateFileW wants. */
export function deviceName(port: string): Uint8Array {
  const name = port.startsWith("\\\\.\\") ? port : `\\\\.\\${port}`;
  const out = new Uint8Array((name.length + 1) * 2);
  for (let i = 0; i < name.length; i++) {
    new DataView(out.buffer).setUint16(i * 2, name.charCodeAt(i), true);
  }
  return out;
}

function isInvalid(h: Deno.PointerValue): boolean {
  if (h === null) return true;
  const v = Deno.UnsafePointer.value(h);
  return v === 0n || v === 0xffffffffffffffffn || v === -1n;
}

/** A Windows COM port. */
export class WindowsSerialPort implements Transport {
  /** The name given (`COM3`). */
  readonly path: string;
  /** Identity. */
  readonly info: PortInfo;
  #k: Kernel32;
  #h: Deno.PointerValue;
  #baud: number;
  #timeout = -1;
  #closed = false;

  /** Use {@link openWindowsSerialPort}. */
  constructor(k: Kernel32, handle: Deno.PointerValue, path: string, baud: number) {
    this.#k = k;
    this.#h = handle;
    this.path = path;
    this.info = { path };
    this.#baud = baud;
  }

  /** Current baud rate. */
  get baud(): number {
    return this.#baud;
  }

  #gone(what: string): TransportError {
    const e = this.#k.GetLastError();
    if (
      [
        ERROR_OPERATION_ABORTED,
        ERROR_DEVICE_NOT_CONNECTED,
        ERROR_GEN_FAILURE,
        ERROR_BAD_COMMAND,
        ERROR_ACCESS_DENIED,
      ].includes(e)
    ) {
      return new TransportError(
        "E_PORT_GONE",
        `port ${this.path} went away during ${what} (Windows error ${e}): plug the board back in`,
      );
    }
    return new TransportError("E_PORT_IO", `${what} on ${this.path} failed (Windows error ${e})`);
  }

  /** Read; resolves on the first bytes or null after `timeoutMs`. */
  async read(timeoutMs: number): Promise<Uint8Array | null> {
    if (this.#closed) throw new TransportError("E_PORT_CLOSED", `port ${this.path} is closed`);
    const ms = Math.max(1, Math.round(timeoutMs));
    if (ms !== this.#timeout) {
      if (!this.#k.SetCommTimeouts(this.#h, encodeTimeouts(ms))) {
        throw this.#gone("setting read timeouts");
      }
      this.#timeout = ms;
    }
    const buf = new Uint8Array(4096);
    const got = new Uint8Array(4);
    if (!(await this.#k.ReadFile(this.#h, buf, buf.length, got, null))) throw this.#gone("read");
    const n = new DataView(got.buffer).getUint32(0, true);
    return n ? buf.subarray(0, n) : null;
  }

  /** Write all bytes. */
  async write(data: Uint8Array): Promise<void> {
    let off = 0;
    while (off < data.length) {
      const done = new Uint8Array(4);
      const chunk = data.slice(off);
      if (!(await this.#k.WriteFile(this.#h, chunk, chunk.length, done, null))) {
        throw this.#gone("write");
      }
      const n = new DataView(done.buffer).getUint32(0, true);
      if (n === 0) throw new TransportError("E_WRITE_TIMEOUT", `writing to ${this.path} stalled`);
      off += n;
    }
  }

  /** Change the baud rate (SetCommState). */
  setBaud(baud: number): Promise<void> {
    const dcb = new Uint8Array(DCB_SIZE);
    if (
      !this.#k.GetCommState(this.#h, dcb) || !this.#k.SetCommState(this.#h, encodeDcb(dcb, baud))
    ) {
      const e = this.#k.GetLastError();
      return Promise.reject(
        new TransportError(
          e === ERROR_INVALID_PARAMETER ? "E_BAUD_UNSUPPORTED" : "E_PORT_IO",
          `${this.path} does not accept ${baud} baud (Windows error ${e})`,
        ),
      );
    }
    this.#baud = baud;
    return Promise.resolve();
  }

  /** DTR / RTS through EscapeCommFunction. */
  setSignals(signals: SerialSignals): Promise<void> {
    if (
      signals.dtr !== undefined &&
      !this.#k.EscapeCommFunction(this.#h, signals.dtr ? SETDTR : CLRDTR)
    ) {
      return Promise.reject(this.#gone("setting DTR"));
    }
    if (
      signals.rts !== undefined &&
      !this.#k.EscapeCommFunction(this.#h, signals.rts ? SETRTS : CLRRTS)
    ) {
      return Promise.reject(this.#gone("setting RTS"));
    }
    return Promise.resolve();
  }

  /** Drop received bytes. */
  flushInput(): Promise<void> {
    this.#k.PurgeComm(this.#h, PURGE_RXABORT | PURGE_RXCLEAR);
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
 * Open `COMn` (or `\\.\COMn`) raw 8N1 at `baud`.
 *
 * @example
 * ```ts
 * import { openWindowsSerialPort } from "./serial_windows.ts";
 * const port = await openWindowsSerialPort("COM3", { baud: 115200 });
 * await port.close();
 * ```
 */
export async function openWindowsSerialPort(
  port: string,
  options: { baud?: number; kernel32?: Kernel32 } = {},
): Promise<WindowsSerialPort> {
  const k = options.kernel32 ?? loadKernel32();
  const h = k.CreateFileW(
    deviceName(port),
    (GENERIC_READ | GENERIC_WRITE) >>> 0,
    0,
    null,
    OPEN_EXISTING,
    FILE_ATTRIBUTE_NORMAL,
    null,
  );
  if (isInvalid(h)) {
    const e = k.GetLastError();
    if (e === ERROR_FILE_NOT_FOUND || e === ERROR_PATH_NOT_FOUND) {
      throw new TransportError(
        "E_PORT_NOT_FOUND",
        `no such port ${port}: is the board plugged in? \`espline list-ports\` shows what is there`,
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
  const t = new WindowsSerialPort(k, h, port, options.baud ?? 115200);
  try {
    await t.setBaud(options.baud ?? 115200);
    await t.setSignals({ dtr: false, rts: false });
    await t.flushInput();
    return t;
  } catch (e) {
    await t.close();
    throw e;
  }
}
