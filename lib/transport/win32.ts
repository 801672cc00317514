/**
 * Small helpers shared by the Windows code (serial_windows.ts,
 * ports_windows.ts): UTF-16 strings as Win32 wants them, GUIDs in their
 * in-memory layout, handle checks. Pure functions: nothing here loads a DLL,
 * so they are tested on any system.
 *
 * @module
 */

/**
 * `text` as the NUL-terminated UTF-16LE string a `PCWSTR` parameter wants.
 *
 * @example
 * ```ts
 * import { utf16z } from "./win32.ts";
 * utf16z("COM3").length; // 10 bytes: four characters and the NUL
 * ```
 */
export function utf16z(text: string): Uint8Array {
  const out = new Uint8Array((text.length + 1) * 2);
  const v = new DataView(out.buffer);
  for (let i = 0; i < text.length; i++) v.setUint16(i * 2, text.charCodeAt(i), true);
  return out;
}

/**
 * The UTF-16LE string in the first `byteLength` bytes of `buf`, up to its
 * first NUL. Registry strings need not end in a NUL (RegQueryValueExW
 * remarks), so the length given by the call bounds the read either way.
 *
 * @example
 * ```ts
 * import { readUtf16z, utf16z } from "./win32.ts";
 * readUtf16z(utf16z("COM3"), 10); // "COM3"
 * ```
 */
export function readUtf16z(buf: Uint8Array, byteLength: number = buf.length): string {
  const n = Math.min(Math.max(0, byteLength), buf.length) & ~1;
  const text = new TextDecoder("utf-16le").decode(buf.subarray(0, n));
  const nul = text.indexOf("\0");
  return nul < 0 ? text : text.slice(0, nul);
}

/** Size of a GUID in memory (guiddef.h: Data1 DWORD, Data2 WORD, Data3 WORD, Data4 BYTE[8]). */
export const GUID_SIZE = 16;

/**
 * A GUID written as text (`4D36E978-E325-11CE-BFC1-08002BE10318`, braces
 * optional) in its in-memory layout (guiddef.h): Data1, Data2 and Data3
 * little-endian, Data4 as the eight bytes in the order written.
 *
 * @example
 * ```ts
 * import { guidBytes } from "./win32.ts";
 * guidBytes("{4D36E978-E325-11CE-BFC1-08002BE10318}")[0]; // 0x78
 * ```
 */
export function guidBytes(text: string): Uint8Array {
  const m = /^\{?([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})\}?$/i
    .exec(text);
  if (!m) throw new RangeError(`"${text}" is not a GUID (8-4-4-4-12 hex digits)`);
  const out = new Uint8Array(GUID_SIZE);
  const v = new DataView(out.buffer);
  v.setUint32(0, parseInt(m[1], 16), true);
  v.setUint16(4, parseInt(m[2], 16), true);
  v.setUint16(6, parseInt(m[3], 16), true);
  const tail = m[4] + m[5];
  for (let i = 0; i < 8; i++) out[8 + i] = parseInt(tail.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** INVALID_HANDLE_VALUE, `(HANDLE)(LONG_PTR)-1`, as a 64-bit pointer value (handleapi.h). */
const INVALID_HANDLE_VALUE = 0xffffffffffffffffn;

/**
 * Whether a returned handle is NULL or INVALID_HANDLE_VALUE: CreateFileW,
 * SetupDiGetClassDevsW and SetupDiOpenDevRegKey report failure with the
 * latter.
 *
 * @example
 * ```ts
 * import { isInvalidHandle } from "./win32.ts";
 * isInvalidHandle(null); // true
 * ```
 */
export function isInvalidHandle(h: Deno.PointerValue): boolean {
  if (h === null) return true;
  const v = Deno.UnsafePointer.value(h);
  return v === 0n || v === INVALID_HANDLE_VALUE || v === -1n;
}
