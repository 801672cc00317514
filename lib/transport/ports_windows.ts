/**
 * Finding COM ports on Windows through the Win32 API, without PowerShell
 * (which may be missing, slow to start or disabled by policy on a factory PC):
 *
 * - SetupAPI (setupapi.dll) lists the present devices of the "Ports" and
 *   "Modem" setup classes (the two classes pyserial also asks; not every
 *   driver registers GUID_DEVINTERFACE_COMPORT). For each: the port name
 *   (`PortName` in the device's hardware key), the device instance id
 *   (`USB\VID_303A&PID_1001\<serial>` → USB ids and serial number; a USB
 *   composite interface `…&MI_00\…` or an FTDI bus port takes the serial
 *   number from its parent's instance id), the string the USB device reports
 *   as its product, the driver's description and manufacturer.
 * - The registry's `HARDWARE\DEVICEMAP\SERIALCOMM` (advapi32.dll), where
 *   every serial driver enters its ports, adds the ports SetupAPI did not
 *   list, and is all there is when SetupAPI fails: names only, no USB facts.
 *
 * Both DLLs are opened on first use only, so Linux and macOS never load them.
 * Nothing here relies on GetLastError: enumeration ends when a call fails,
 * and a too-small buffer is recognised by the required size the call returns.
 * The symbol tables are injectable; the tests drive the exact call sequence
 * and buffers through fakes, since no Windows machine is at hand.
 *
 * Facts: the Win32 API reference for each call; setupapi.h (DIGCF_*, SPDRP_*,
 * DICS_*, DIREG_*, SP_DEVINFO_DATA), devguid.h (class GUIDs), devpkey.h and
 * devpropdef.h (DEVPKEY_*, DEVPROPKEY, DEVPROP_TYPE_STRING), winreg.h and
 * winnt.h (HKEY_LOCAL_MACHINE, KEY_QUERY_VALUE, REG_SZ), winerror.h, and
 * "Device Identification Strings" for the form of instance ids. Written by
 * hand: no reachable library lists COM ports for Deno.
 *
 * @module
 */

import type { PortInfo } from "./transport.ts";
import { guidBytes, isInvalidHandle, readUtf16z, utf16z } from "./win32.ts";

/** SetupDiGetClassDevsW flag: only devices present now (setupapi.h). */
export const DIGCF_PRESENT = 0x2;
/** Device setup class of serial and parallel ports (devguid.h GUID_DEVCLASS_PORTS). */
export const GUID_DEVCLASS_PORTS = "4D36E978-E325-11CE-BFC1-08002BE10318";
/** Device setup class of modems, where some CDC-ACM devices land (devguid.h GUID_DEVCLASS_MODEM). */
export const GUID_DEVCLASS_MODEM = "4D36E96D-E325-11CE-BFC1-08002BE10318";
/**
 * sizeof(SP_DEVINFO_DATA) on 64-bit Windows (setupapi.h): DWORD cbSize at 0,
 * GUID ClassGuid at 4, DWORD DevInst at 20, ULONG_PTR Reserved at 24 (8-byte
 * aligned). Deno runs on x64 and arm64 Windows only, both 64-bit.
 */
export const SP_DEVINFO_DATA_SIZE = 32;
/** SetupDiOpenDevRegKey scope: the key not tied to a hardware profile (setupapi.h). */
export const DICS_FLAG_GLOBAL = 0x1;
/** SetupDiOpenDevRegKey key type: the device's hardware key, where PortName lives (setupapi.h). */
export const DIREG_DEV = 0x1;
/** The access right reading values needs, and all this file asks for (winnt.h). */
export const KEY_QUERY_VALUE = 0x1;
/** SetupDiGetDeviceRegistryPropertyW properties (setupapi.h). */
export const SPDRP_DEVICEDESC = 0x0;
/** Manufacturer named by the driver package. */
export const SPDRP_MFG = 0xb;
/** Device Manager's name for the device, `… (COM3)`. */
export const SPDRP_FRIENDLYNAME = 0xc;
/** sizeof(DEVPROPKEY): GUID fmtid then DEVPROPID pid (devpropdef.h). */
export const DEVPROPKEY_SIZE = 20;
/** The product string the USB device itself reports (devpkey.h DEVPKEY_Device_BusReportedDeviceDesc). */
export const DEVPKEY_BUS_REPORTED_DEVICE_DESC = {
  fmtid: "540B947E-8B40-45BC-A8A2-6A0B894CBDA2",
  pid: 4,
} as const;
/** The parent device's instance id (devpkey.h DEVPKEY_Device_Parent). */
export const DEVPKEY_PARENT = { fmtid: "4340A6C5-93FA-4706-972C-7B648008A5A7", pid: 8 } as const;
/** DEVPROPTYPE of a NUL-terminated UTF-16 string (devpropdef.h). */
export const DEVPROP_TYPE_STRING = 0x12;
/** Registry value types (winnt.h). */
export const REG_SZ = 1;
/** A string with %VARIABLES% in it; read as text here. */
export const REG_EXPAND_SZ = 2;
/**
 * HKEY_LOCAL_MACHINE, `(HKEY)(ULONG_PTR)((LONG)0x80000002)` (winreg.h): the
 * LONG cast sign-extends it to 64 bits.
 */
export const HKEY_LOCAL_MACHINE = 0xffffffff80000002n;
/** Where serial drivers enter their ports: value name = device, data = port name. */
export const SERIALCOMM_KEY = "HARDWARE\\DEVICEMAP\\SERIALCOMM";
/** Registry status codes (winerror.h). */
const ERROR_SUCCESS = 0;
const ERROR_MORE_DATA = 234;
/** Longest registry value name, in characters without the NUL ("Registry Element Size Limits"). */
export const MAX_VALUE_NAME_CHARS = 16383;
/** Bytes first offered for a property or value; the call says how much more it needs. */
const FIRST_BUFFER_BYTES = 512;
/** No string property of a port comes near this; a larger "required size" is not believed. */
const MAX_BUFFER_BYTES = 65536;
/** A guard against an enumeration that never ends: no PC has this many ports. */
const MAX_DEVICES_PER_CLASS = 4096;

/** The setupapi.dll calls this file uses (injectable for tests). */
export interface SetupApi {
  /** SetupDiGetClassDevsW(ClassGuid*, Enumerator, hwndParent, Flags) → HDEVINFO. */
  SetupDiGetClassDevsW(
    classGuid: Uint8Array,
    enumerator: null,
    hwndParent: null,
    flags: number,
  ): Deno.PointerValue;
  /** SetupDiEnumDeviceInfo(set, MemberIndex, SP_DEVINFO_DATA*) → BOOL. */
  SetupDiEnumDeviceInfo(set: Deno.PointerValue, index: number, data: Uint8Array): number;
  /** SetupDiGetDeviceInstanceIdW(set, data, buffer, size in chars, RequiredSize* in chars) → BOOL. */
  SetupDiGetDeviceInstanceIdW(
    set: Deno.PointerValue,
    data: Uint8Array,
    buf: Uint8Array,
    sizeChars: number,
    requiredChars: Uint8Array,
  ): number;
  /** SetupDiGetDeviceRegistryPropertyW(set, data, Property, RegDataType*, buffer, size in bytes, RequiredSize*) → BOOL. */
  SetupDiGetDeviceRegistryPropertyW(
    set: Deno.PointerValue,
    data: Uint8Array,
    property: number,
    regType: Uint8Array,
    buf: Uint8Array,
    sizeBytes: number,
    requiredBytes: Uint8Array,
  ): number;
  /** SetupDiGetDevicePropertyW(set, data, DEVPROPKEY*, DEVPROPTYPE*, buffer, size in bytes, RequiredSize*, Flags) → BOOL. */
  SetupDiGetDevicePropertyW(
    set: Deno.PointerValue,
    data: Uint8Array,
    key: Uint8Array,
    propType: Uint8Array,
    buf: Uint8Array,
    sizeBytes: number,
    requiredBytes: Uint8Array,
    flags: number,
  ): number;
  /** SetupDiOpenDevRegKey(set, data, Scope, HwProfile, KeyType, samDesired) → HKEY. */
  SetupDiOpenDevRegKey(
    set: Deno.PointerValue,
    data: Uint8Array,
    scope: number,
    hwProfile: number,
    keyType: number,
    samDesired: number,
  ): Deno.PointerValue;
  /** SetupDiDestroyDeviceInfoList(set) → BOOL. */
  SetupDiDestroyDeviceInfoList(set: Deno.PointerValue): number;
}

/** The advapi32.dll registry calls this file uses (injectable for tests); each returns an LSTATUS. */
export interface Advapi32 {
  /** RegOpenKeyExW(hKey, lpSubKey, ulOptions, samDesired, PHKEY). */
  RegOpenKeyExW(
    key: Deno.PointerValue,
    subKey: Uint8Array,
    options: number,
    samDesired: number,
    result: Uint8Array,
  ): number;
  /** RegQueryValueExW(hKey, lpValueName, lpReserved, lpType*, lpData, lpcbData* in/out bytes). */
  RegQueryValueExW(
    key: Deno.PointerValue,
    name: Uint8Array,
    reserved: null,
    type: Uint8Array,
    data: Uint8Array,
    cbData: Uint8Array,
  ): number;
  /** RegEnumValueW(hKey, dwIndex, lpValueName, lpcchValueName* in/out chars, lpReserved, lpType*, lpData, lpcbData*). */
  RegEnumValueW(
    key: Deno.PointerValue,
    index: number,
    name: Uint8Array,
    cchName: Uint8Array,
    reserved: null,
    type: Uint8Array,
    data: Uint8Array,
    cbData: Uint8Array,
  ): number;
  /** RegCloseKey(hKey). */
  RegCloseKey(key: Deno.PointerValue): number;
}

let realSetupApi: SetupApi | null = null;
let realAdvapi32: Advapi32 | null = null;

/** The real setupapi.dll through Deno FFI (Windows only; opened on first call). */
export function loadSetupApi(): SetupApi {
  if (realSetupApi) return realSetupApi;
  const lib = Deno.dlopen("setupapi.dll", {
    SetupDiGetClassDevsW: {
      parameters: ["buffer", "pointer", "pointer", "u32"],
      result: "pointer",
    },
    SetupDiEnumDeviceInfo: { parameters: ["pointer", "u32", "buffer"], result: "i32" },
    SetupDiGetDeviceInstanceIdW: {
      parameters: ["pointer", "buffer", "buffer", "u32", "buffer"],
      result: "i32",
    },
    SetupDiGetDeviceRegistryPropertyW: {
      parameters: ["pointer", "buffer", "u32", "buffer", "buffer", "u32", "buffer"],
      result: "i32",
    },
    SetupDiGetDevicePropertyW: {
      parameters: ["pointer", "buffer", "buffer", "buffer", "buffer", "u32", "buffer", "u32"],
      result: "i32",
    },
    SetupDiOpenDevRegKey: {
      parameters: ["pointer", "buffer", "u32", "u32", "u32", "u32"],
      result: "pointer",
    },
    SetupDiDestroyDeviceInfoList: { parameters: ["pointer"], result: "i32" },
  });
  realSetupApi = lib.symbols as unknown as SetupApi;
  return realSetupApi;
}

/** The real advapi32.dll registry calls through Deno FFI (Windows only; opened on first call). */
export function loadAdvapi32(): Advapi32 {
  if (realAdvapi32) return realAdvapi32;
  const lib = Deno.dlopen("advapi32.dll", {
    RegOpenKeyExW: { parameters: ["pointer", "buffer", "u32", "u32", "buffer"], result: "i32" },
    RegQueryValueExW: {
      parameters: ["pointer", "buffer", "pointer", "buffer", "buffer", "buffer"],
      result: "i32",
    },
    RegEnumValueW: {
      parameters: ["pointer", "u32", "buffer", "buffer", "pointer", "buffer", "buffer", "buffer"],
      result: "i32",
    },
    RegCloseKey: { parameters: ["pointer"], result: "i32" },
  });
  realAdvapi32 = lib.symbols as unknown as Advapi32;
  return realAdvapi32;
}

/** What a device instance id says about the device. */
export interface InstanceIdFacts {
  /** USB vendor id (`VID_303A`). */
  vid?: number;
  /** USB product id (`PID_1001`). */
  pid?: number;
  /** The USB serial number: the instance part of a USB device that reports one. */
  serialNumber?: string;
  /** FTDI's bus: the serial number with the channel letter after it (`A50285BIA`). */
  channelSerial?: string;
  /** An interface of a USB composite device (`&MI_nn`): its serial number is on the parent. */
  composite?: boolean;
}

/**
 * Read a device instance id (`<enumerator>\<device id>\<instance>`):
 * `VID_xxxx&PID_xxxx` (or `VID_xxxx+PID_xxxx` on FTDI's bus) after the
 * enumerator gives the USB ids. A USB device's instance part is its serial
 * number when it reports one; when it does not, or for an interface of a
 * composite device (`&MI_00`), Windows makes one up, and such generated ids
 * always contain `&`. FTDI's bus driver puts the serial number, followed by
 * the channel letter, after the product id (`+A50285BIA`).
 *
 * @example
 * ```ts
 * import { parseInstanceId } from "./ports_windows.ts";
 * parseInstanceId("USB\\VID_10C4&PID_EA60\\0001"); // { vid: 0x10c4, pid: 0xea60, serialNumber: "0001" }
 * ```
 */
export function parseInstanceId(id: string): InstanceIdFacts {
  const m = /^([^\\]+)\\VID_([0-9A-F]{4})([&+])PID_([0-9A-F]{4})([^\\]*)\\(.*)$/i.exec(id);
  if (!m) return {};
  const [, enumerator, vid, , pid, rest, instance] = m;
  const facts: InstanceIdFacts = { vid: parseInt(vid, 16), pid: parseInt(pid, 16) };
  if (/&MI_[0-9A-F]{2}/i.test(rest)) facts.composite = true;
  else if (enumerator.toUpperCase() === "USB" && instance && !instance.includes("&")) {
    facts.serialNumber = instance;
  } else if (enumerator.toUpperCase() === "FTDIBUS" && rest.startsWith("+") && rest.length > 1) {
    facts.channelSerial = rest.slice(1);
  }
  return facts;
}

/** A COM port as Windows lists it, before ports.ts sorts and describes it. */
export interface WindowsPortFacts extends PortInfo {
  /** A description of its own, for ports without a product string (registry-only ports). */
  description?: string;
}

/** Options for {@link listWindowsPorts}. */
export interface WindowsPortsOptions {
  /** The SetupAPI calls. Default: setupapi.dll through Deno FFI. */
  setupapi?: SetupApi;
  /** The registry calls. Default: advapi32.dll through Deno FFI. */
  advapi32?: Advapi32;
}

/**
 * The COM ports on this Windows machine, in the order Windows lists them:
 * SetupAPI's, then the ones only the registry's SERIALCOMM map names. A
 * source that cannot be used (DLL missing, call failing) adds nothing; when
 * neither can, the list is empty.
 *
 * @example
 * ```ts
 * import { listWindowsPorts } from "./ports_windows.ts";
 * if (Deno.build.os === "windows") console.log(listWindowsPorts());
 * ```
 */
export function listWindowsPorts(options: WindowsPortsOptions = {}): WindowsPortFacts[] {
  let advapi32: Advapi32 | null = null;
  try {
    advapi32 = options.advapi32 ?? loadAdvapi32();
  } catch {
    // no advapi32 (not Windows): neither source can read the registry
  }
  let fromSetupApi: WindowsPortFacts[] | null = null;
  if (advapi32) {
    try {
      fromSetupApi = listFromSetupApi(options.setupapi ?? loadSetupApi(), advapi32);
    } catch {
      fromSetupApi = null; // setupapi.dll missing or unusable: the registry still names the ports
    }
  }
  let fromRegistry: WindowsPortFacts[] = [];
  try {
    fromRegistry = advapi32 ? listFromSerialComm(advapi32) : [];
  } catch {
    // an unusable registry call: SetupAPI's list is what there is
  }
  const out = [...(fromSetupApi ?? [])];
  const seen = new Set(out.map((p) => p.path.toUpperCase()));
  for (const p of fromRegistry) {
    if (seen.has(p.path.toUpperCase())) continue;
    seen.add(p.path.toUpperCase());
    out.push(p);
  }
  return out;
}

/** The ports SetupAPI knows, or null when it could list neither class. */
function listFromSetupApi(api: SetupApi, reg: Advapi32): WindowsPortFacts[] | null {
  const out: WindowsPortFacts[] = [];
  let listed = 0;
  for (const guid of [GUID_DEVCLASS_PORTS, GUID_DEVCLASS_MODEM]) {
    const set = api.SetupDiGetClassDevsW(guidBytes(guid), null, null, DIGCF_PRESENT);
    if (isInvalidHandle(set)) continue;
    listed++;
    try {
      for (let i = 0; i < MAX_DEVICES_PER_CLASS; i++) {
        const data = new Uint8Array(SP_DEVINFO_DATA_SIZE);
        new DataView(data.buffer).setUint32(0, SP_DEVINFO_DATA_SIZE, true); // cbSize
        if (!api.SetupDiEnumDeviceInfo(set, i, data)) break; // ERROR_NO_MORE_ITEMS, or broken
        const port = describeDevice(api, reg, set, data);
        if (port) out.push(port);
      }
    } finally {
      api.SetupDiDestroyDeviceInfoList(set);
    }
  }
  return listed ? out : null;
}

/** One device of the set: its COM port and facts, or null when it has no COM port name. */
function describeDevice(
  api: SetupApi,
  reg: Advapi32,
  set: Deno.PointerValue,
  data: Uint8Array,
): WindowsPortFacts | null {
  const key = api.SetupDiOpenDevRegKey(set, data, DICS_FLAG_GLOBAL, 0, DIREG_DEV, KEY_QUERY_VALUE);
  if (isInvalidHandle(key)) return null;
  let name: string | undefined;
  try {
    name = queryString(reg, key, "PortName")?.trim();
  } finally {
    reg.RegCloseKey(key);
  }
  // The Ports class holds printer ports too (LPT1), and modems without a port name.
  if (!name || /^LPT\d*$/i.test(name)) return null;
  const own = parseInstanceId(instanceId(api, set, data) ?? "");
  const parentId = deviceProperty(api, set, data, DEVPKEY_PARENT);
  const parent = parentId ? parseInstanceId(parentId) : {};
  // An interface of a composite device, or a port on FTDI's bus, is a child of
  // the USB device itself, whose instance id is the serial number it reports.
  const sameDevice = own.vid === undefined || (parent.vid === own.vid && parent.pid === own.pid);
  const friendly = registryProperty(api, set, data, SPDRP_FRIENDLYNAME)
    ?.replace(/\s*\((COM\d+|LPT\d+)\)\s*$/i, "");
  return dropUndefined({
    path: name,
    vid: own.vid ?? (sameDevice ? parent.vid : undefined),
    pid: own.pid ?? (sameDevice ? parent.pid : undefined),
    serialNumber: own.serialNumber ?? (sameDevice ? parent.serialNumber : undefined) ??
      own.channelSerial,
    manufacturer: registryProperty(api, set, data, SPDRP_MFG),
    product: deviceProperty(api, set, data, DEVPKEY_BUS_REPORTED_DEVICE_DESC) ??
      registryProperty(api, set, data, SPDRP_DEVICEDESC) ?? (friendly || undefined),
  });
}

/** Call `fill` with a buffer; once more with the size it asks for when that was too small. */
function withBuffer(
  unit: 1 | 2,
  fill: (buf: Uint8Array, size: number, required: Uint8Array) => boolean,
): { buf: Uint8Array; required: number } | null {
  let bytes = FIRST_BUFFER_BYTES;
  for (let attempt = 0; attempt < 2; attempt++) {
    const buf = new Uint8Array(bytes);
    const required = new Uint8Array(4);
    const ok = fill(buf, bytes / unit, required);
    const need = new DataView(required.buffer).getUint32(0, true) * unit;
    if (ok) return { buf, required: need || bytes }; // the string's NUL ends it either way
    // Failing with a required size larger than the buffer is ERROR_INSUFFICIENT_BUFFER;
    // any other failure (ERROR_INVALID_DATA: no such property) is final.
    if (need <= bytes || need > MAX_BUFFER_BYTES) return null;
    bytes = need + (need % 2);
  }
  return null;
}

function instanceId(api: SetupApi, set: Deno.PointerValue, data: Uint8Array): string | undefined {
  const r = withBuffer(2, (buf, chars, required) =>
    // The longest id (cfgmgr32.h MAX_DEVICE_ID_LEN, 200 characters) and its NUL fit the first buffer.
    api.SetupDiGetDeviceInstanceIdW(set, data, buf, chars, required) !== 0);
  return r ? readUtf16z(r.buf) || undefined : undefined;
}

function registryProperty(
  api: SetupApi,
  set: Deno.PointerValue,
  data: Uint8Array,
  property: number,
): string | undefined {
  const type = new Uint8Array(4);
  const r = withBuffer(
    1,
    (buf, size, required) =>
      api.SetupDiGetDeviceRegistryPropertyW(set, data, property, type, buf, size, required) !== 0,
  );
  const t = new DataView(type.buffer).getUint32(0, true);
  if (!r || (t !== REG_SZ && t !== REG_EXPAND_SZ)) return undefined;
  return readUtf16z(r.buf, r.required).trim() || undefined;
}

function deviceProperty(
  api: SetupApi,
  set: Deno.PointerValue,
  data: Uint8Array,
  key: { fmtid: string; pid: number },
): string | undefined {
  const k = new Uint8Array(DEVPROPKEY_SIZE);
  k.set(guidBytes(key.fmtid));
  new DataView(k.buffer).setUint32(16, key.pid, true);
  const type = new Uint8Array(4);
  const r = withBuffer(
    1,
    (buf, size, required) =>
      api.SetupDiGetDevicePropertyW(set, data, k, type, buf, size, required, 0) !== 0,
  );
  if (!r || new DataView(type.buffer).getUint32(0, true) !== DEVPROP_TYPE_STRING) return undefined;
  return readUtf16z(r.buf, r.required).trim() || undefined;
}

/** A string value of an open key; the stored string need not end in a NUL. */
function queryString(reg: Advapi32, key: Deno.PointerValue, name: string): string | undefined {
  let bytes = FIRST_BUFFER_BYTES;
  for (let attempt = 0; attempt < 2; attempt++) {
    const type = new Uint8Array(4);
    const data = new Uint8Array(bytes);
    const cb = new Uint8Array(4);
    new DataView(cb.buffer).setUint32(0, bytes, true);
    const rc = reg.RegQueryValueExW(key, utf16z(name), null, type, data, cb);
    const got = new DataView(cb.buffer).getUint32(0, true);
    if (rc === ERROR_MORE_DATA && got > bytes && got <= MAX_BUFFER_BYTES) {
      bytes = got + (got % 2);
      continue;
    }
    const t = new DataView(type.buffer).getUint32(0, true);
    if (rc !== ERROR_SUCCESS || (t !== REG_SZ && t !== REG_EXPAND_SZ)) return undefined;
    return readUtf16z(data, got);
  }
  return undefined;
}

/**
 * HKLM\HARDWARE\DEVICEMAP\SERIALCOMM: one value per port, named after the
 * driver's device (`\Device\Silabser0`, `\Device\USBSER000`, `\Device\VCP0`,
 * `\Device\BthModem0`, `\Device\Serial0`), holding the port name. The key
 * is absent when no serial driver has a port.
 */
function listFromSerialComm(reg: Advapi32): WindowsPortFacts[] {
  const hkey = new Uint8Array(8);
  const hklm = Deno.UnsafePointer.create(HKEY_LOCAL_MACHINE);
  if (reg.RegOpenKeyExW(hklm, utf16z(SERIALCOMM_KEY), 0, KEY_QUERY_VALUE, hkey) !== 0) return [];
  const key = Deno.UnsafePointer.create(new DataView(hkey.buffer).getBigUint64(0, true));
  const out: WindowsPortFacts[] = [];
  try {
    const name = new Uint8Array((MAX_VALUE_NAME_CHARS + 1) * 2);
    let dataBytes = FIRST_BUFFER_BYTES;
    for (let index = 0, retried = false; index < MAX_DEVICES_PER_CLASS;) {
      const cchName = new Uint8Array(4);
      new DataView(cchName.buffer).setUint32(0, MAX_VALUE_NAME_CHARS + 1, true);
      const type = new Uint8Array(4);
      const data = new Uint8Array(dataBytes);
      const cb = new Uint8Array(4);
      new DataView(cb.buffer).setUint32(0, dataBytes, true);
      const rc = reg.RegEnumValueW(key, index, name, cchName, null, type, data, cb);
      const got = new DataView(cb.buffer).getUint32(0, true);
      if (rc === ERROR_MORE_DATA && !retried && got > dataBytes && got <= MAX_BUFFER_BYTES) {
        dataBytes = got + (got % 2);
        retried = true;
        continue; // the same value again, with room for its data
      }
      if (rc !== ERROR_SUCCESS && rc !== ERROR_MORE_DATA) break; // ERROR_NO_MORE_ITEMS, or broken
      index++;
      retried = false;
      const t = new DataView(type.buffer).getUint32(0, true);
      if (rc !== ERROR_SUCCESS || (t !== REG_SZ && t !== REG_EXPAND_SZ)) continue;
      const path = readUtf16z(data, got).trim();
      const device = readUtf16z(name, new DataView(cchName.buffer).getUint32(0, true) * 2);
      if (path && !/^LPT\d*$/i.test(path)) {
        out.push({ path, description: `serial port (${device})` });
      }
    }
  } finally {
    reg.RegCloseKey(key);
  }
  return out;
}

function dropUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
