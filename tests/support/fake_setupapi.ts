/**
 * setupapi.dll and advapi32.dll faked over a small device database, for
 * testing the Windows port listing (lib/transport/ports_windows.ts) on
 * machines without Windows. The fake behaves as the Win32 API reference says
 * (sizes in characters or bytes as each call documents, RequiredSize on a
 * short buffer, ERROR_NO_MORE_ITEMS at the end, registry strings that need
 * not end in a NUL). Every breach of a call's contract by the caller (a wrong
 * cbSize, a size larger than the buffer passed, an unterminated input string,
 * an unknown handle) is recorded in `problems`, and handles left open are
 * reported by `leaks()`, so a test asserts both are empty.
 *
 * It reads the structures on its own (GUID text, SP_DEVINFO_DATA fields)
 * rather than through lib/transport/win32.ts, so a layout mistake there shows.
 *
 * @module
 */

import type { Advapi32, SetupApi } from "../../lib/transport/ports_windows.ts";

/** A device as SetupAPI and the registry would show it. */
export interface FakeDevice {
  /** Its setup class GUID, as text. */
  classGuid: string;
  /** Device instance id. */
  instanceId: string;
  /** The parent's instance id (DEVPKEY_Device_Parent). */
  parentId?: string;
  /** PortName in the hardware key; absent: the key has no such value. */
  portName?: string;
  /** Store PortName without its terminating NUL (the registry allows it). */
  portNameUnterminated?: boolean;
  /** No hardware key at all: SetupDiOpenDevRegKey fails. */
  noHardwareKey?: boolean;
  /** SPDRP_FRIENDLYNAME. */
  friendlyName?: string;
  /** SPDRP_DEVICEDESC. */
  deviceDesc?: string;
  /** SPDRP_MFG. */
  mfg?: string;
  /** DEVPKEY_Device_BusReportedDeviceDesc. */
  busReportedDesc?: string;
}

/** Options for {@link fakeWindowsDevices}. */
export interface FakeWindowsOptions {
  /** HKLM\HARDWARE\DEVICEMAP\SERIALCOMM as [value name, port name]; null: the key is absent. */
  serialComm?: [string, string][] | null;
  /** SetupDiGetClassDevsW fails (INVALID_HANDLE_VALUE) for every class. */
  setupApiFails?: boolean;
}

/** What a fake records. */
export interface FakeWindows {
  /** The setupapi.dll calls. */
  setupapi: SetupApi;
  /** The advapi32.dll calls. */
  advapi32: Advapi32;
  /** Each call with its arguments, as text. */
  calls: string[];
  /** Contract breaches by the caller; empty when the code under test behaves. */
  problems: string[];
  /** Handles still open (device info sets, registry keys). */
  leaks(): string[];
  /** What GetLastError would return after the last failed SetupAPI call. */
  lastError(): number;
}

const INVALID_HANDLE_VALUE = 0xffffffffffffffffn;
const HKLM = 0xffffffff80000002n;
const ERROR_INVALID_DATA = 13;
const ERROR_INSUFFICIENT_BUFFER = 122;
const ERROR_MORE_DATA = 234;
const ERROR_NO_MORE_ITEMS = 259;
const ERROR_NOT_FOUND = 1168;
const ERROR_INVALID_USER_BUFFER = 1784;
const ERROR_FILE_NOT_FOUND = 2;
const REG_SZ = 1;
const DEVPROP_TYPE_STRING = 0x12;
const SP_DEVINFO_DATA_BYTES = 32;

/** GUID bytes (little-endian Data1-3, Data4 as stored) → `XXXXXXXX-XXXX-…` upper-case text. */
export function guidText(b: Uint8Array): string {
  const v = new DataView(b.buffer, b.byteOffset, 16);
  const h = (n: number, w: number) => n.toString(16).toUpperCase().padStart(w, "0");
  const bytes = [...b.subarray(8, 16)].map((x) => h(x, 2)).join("");
  return `${h(v.getUint32(0, true), 8)}-${h(v.getUint16(4, true), 4)}-${
    h(v.getUint16(6, true), 4)
  }-${bytes.slice(0, 4)}-${bytes.slice(4)}`;
}

/** A NUL-terminated UTF-16LE input string, or null (with a problem noted) when it has no NUL. */
function inputString(buf: Uint8Array, what: string, problems: string[]): string | null {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let s = "";
  for (let i = 0; i + 1 < buf.length; i += 2) {
    const c = v.getUint16(i, true);
    if (c === 0) return s;
    s += String.fromCharCode(c);
  }
  problems.push(`${what}: string without a terminating NUL`);
  return null;
}

function utf16(text: string, nul = true): Uint8Array {
  const out = new Uint8Array((text.length + (nul ? 1 : 0)) * 2);
  const v = new DataView(out.buffer);
  for (let i = 0; i < text.length; i++) v.setUint16(i * 2, text.charCodeAt(i), true);
  return out;
}

const u32 = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true);
const setU32 = (b: Uint8Array, n: number) =>
  new DataView(b.buffer, b.byteOffset, 4).setUint32(0, n, true);

/**
 * setupapi.dll and advapi32.dll over `devices`.
 *
 * @example
 * ```ts
 * import { fakeWindowsDevices } from "./fake_win32.ts";
 * const win = fakeWindowsDevices([], { serialComm: [["\\Device\\Serial0", "COM1"]] });
 * ```
 */
export function fakeWindowsDevices(
  devices: FakeDevice[],
  options: FakeWindowsOptions = {},
): FakeWindows {
  const calls: string[] = [];
  const problems: string[] = [];
  let lastError = 0;
  let nextHandle = 0x1000n;
  const sets = new Map<bigint, { devices: FakeDevice[]; open: boolean }>();
  const keys = new Map<
    bigint,
    { values: Map<string, Uint8Array> | [string, string][]; open: boolean }
  >();
  const serialComm = options.serialComm === undefined ? [] : options.serialComm;

  const handle = (p: Deno.PointerValue) => (p === null ? 0n : Deno.UnsafePointer.value(p));
  const newHandle = () => Deno.UnsafePointer.create(nextHandle += 0x10n);
  const setOf = (p: Deno.PointerValue, what: string) => {
    const s = sets.get(handle(p));
    if (!s?.open) problems.push(`${what}: unknown or destroyed device info set`);
    return s?.open ? s : null;
  };
  /** The device an SP_DEVINFO_DATA (as SetupDiEnumDeviceInfo filled it) stands for. */
  const deviceOf = (p: Deno.PointerValue, data: Uint8Array, what: string) => {
    const s = setOf(p, what);
    if (data.length !== SP_DEVINFO_DATA_BYTES || u32(data) !== SP_DEVINFO_DATA_BYTES) {
      problems.push(`${what}: SP_DEVINFO_DATA of ${data.length} bytes, cbSize ${u32(data)}`);
      lastError = 87; // ERROR_INVALID_PARAMETER
      return null;
    }
    const v = new DataView(data.buffer, data.byteOffset, SP_DEVINFO_DATA_BYTES);
    const index = Number(v.getBigUint64(24, true)) - 1; // Reserved: where this fake keeps its index
    const dev = s?.devices[index];
    if (
      !dev || v.getUint32(20, true) !== 0x100 + index ||
      guidText(data.subarray(4, 20)) !== dev.classGuid.toUpperCase()
    ) {
      problems.push(`${what}: SP_DEVINFO_DATA not as SetupDiEnumDeviceInfo filled it`);
      return null;
    }
    return dev;
  };
  /** Copy `bytes` out the way SetupAPI does: fail with the required size when it does not fit. */
  const give = (
    bytes: Uint8Array,
    buf: Uint8Array,
    size: number,
    required: Uint8Array,
    unit: number,
    what: string,
  ) => {
    if (size * unit > buf.length) {
      problems.push(`${what}: size ${size} larger than the ${buf.length}-byte buffer`);
    }
    setU32(required, bytes.length / unit);
    if (bytes.length > size * unit) {
      lastError = ERROR_INSUFFICIENT_BUFFER;
      return 0;
    }
    buf.set(bytes);
    return 1;
  };

  const setupapi: SetupApi = {
    SetupDiGetClassDevsW(guid, enumerator, hwnd, flags) {
      const g = guid.length === 16 ? guidText(guid) : `(${guid.length} bytes)`;
      calls.push(`SetupDiGetClassDevsW({${g}}, 0x${flags.toString(16)})`);
      if (enumerator !== null || hwnd !== null) {
        problems.push("SetupDiGetClassDevsW: enumerator/hwnd given");
      }
      if (options.setupApiFails) {
        lastError = 5;
        return Deno.UnsafePointer.create(INVALID_HANDLE_VALUE);
      }
      const h = newHandle();
      sets.set(handle(h), {
        devices: devices.filter((d) => d.classGuid.toUpperCase() === g),
        open: true,
      });
      return h;
    },
    SetupDiEnumDeviceInfo(set, index, data) {
      calls.push(`SetupDiEnumDeviceInfo(${index}, cbSize ${u32(data)} in ${data.length} bytes)`);
      const s = setOf(set, "SetupDiEnumDeviceInfo");
      if (data.length !== SP_DEVINFO_DATA_BYTES || u32(data) !== SP_DEVINFO_DATA_BYTES) {
        problems.push(`SetupDiEnumDeviceInfo: cbSize ${u32(data)} in a ${data.length}-byte buffer`);
        lastError = ERROR_INVALID_USER_BUFFER;
        return 0;
      }
      if (!s || index >= s.devices.length) {
        lastError = ERROR_NO_MORE_ITEMS;
        return 0;
      }
      const dev = s.devices[index];
      const v = new DataView(data.buffer, data.byteOffset, SP_DEVINFO_DATA_BYTES);
      const g = /^(\w{8})-(\w{4})-(\w{4})-(\w{4})-(\w{12})$/.exec(dev.classGuid)!;
      v.setUint32(4, parseInt(g[1], 16), true);
      v.setUint16(8, parseInt(g[2], 16), true);
      v.setUint16(10, parseInt(g[3], 16), true);
      for (let i = 0; i < 8; i++) {
        data[12 + i] = parseInt((g[4] + g[5]).slice(i * 2, i * 2 + 2), 16);
      }
      v.setUint32(20, 0x100 + index, true); // DevInst
      v.setBigUint64(24, BigInt(index + 1), true); // Reserved
      return 1;
    },
    SetupDiGetDeviceInstanceIdW(set, data, buf, sizeChars, required) {
      calls.push(`SetupDiGetDeviceInstanceIdW(${sizeChars} chars in ${buf.length} bytes)`);
      const dev = deviceOf(set, data, "SetupDiGetDeviceInstanceIdW");
      if (!dev) return 0;
      return give(
        utf16(dev.instanceId),
        buf,
        sizeChars,
        required,
        2,
        "SetupDiGetDeviceInstanceIdW",
      );
    },
    SetupDiGetDeviceRegistryPropertyW(set, data, property, regType, buf, size, required) {
      calls.push(
        `SetupDiGetDeviceRegistryPropertyW(0x${
          property.toString(16)
        }, ${size} bytes in ${buf.length})`,
      );
      const dev = deviceOf(set, data, "SetupDiGetDeviceRegistryPropertyW");
      if (!dev) return 0;
      const value = { 0x0: dev.deviceDesc, 0xb: dev.mfg, 0xc: dev.friendlyName }[property];
      if (value === undefined) {
        lastError = ERROR_INVALID_DATA; // the documented answer for a property the device lacks
        return 0;
      }
      setU32(regType, REG_SZ);
      return give(utf16(value), buf, size, required, 1, "SetupDiGetDeviceRegistryPropertyW");
    },
    SetupDiGetDevicePropertyW(set, data, key, propType, buf, size, required, flags) {
      const name = key.length === 20
        ? `{${guidText(key)}} ${u32(key.subarray(16))}`
        : `(${key.length}-byte key)`;
      calls.push(`SetupDiGetDevicePropertyW(${name}, ${size} bytes in ${buf.length})`);
      if (flags !== 0) problems.push("SetupDiGetDevicePropertyW: Flags must be zero");
      const dev = deviceOf(set, data, "SetupDiGetDevicePropertyW");
      if (!dev) return 0;
      const value = {
        "{540B947E-8B40-45BC-A8A2-6A0B894CBDA2} 4": dev.busReportedDesc,
        "{4340A6C5-93FA-4706-972C-7B648008A5A7} 8": dev.parentId,
      }[name];
      if (value === undefined) {
        setU32(propType, 0); // DEVPROP_TYPE_EMPTY
        lastError = ERROR_NOT_FOUND;
        return 0;
      }
      setU32(propType, DEVPROP_TYPE_STRING);
      return give(utf16(value), buf, size, required, 1, "SetupDiGetDevicePropertyW");
    },
    SetupDiOpenDevRegKey(set, data, scope, hwProfile, keyType, sam) {
      calls.push(
        `SetupDiOpenDevRegKey(scope ${scope}, profile ${hwProfile}, type ${keyType}, sam 0x${
          sam.toString(16)
        })`,
      );
      const dev = deviceOf(set, data, "SetupDiOpenDevRegKey");
      if (!dev || dev.noHardwareKey) return Deno.UnsafePointer.create(INVALID_HANDLE_VALUE);
      if (!(sam & 0x1)) problems.push("SetupDiOpenDevRegKey: no KEY_QUERY_VALUE access");
      const values = new Map<string, Uint8Array>();
      if (dev.portName !== undefined) {
        values.set("portname", utf16(dev.portName, !dev.portNameUnterminated));
      }
      const h = newHandle();
      keys.set(handle(h), { values, open: true });
      return h;
    },
    SetupDiDestroyDeviceInfoList(set) {
      calls.push("SetupDiDestroyDeviceInfoList");
      const s = setOf(set, "SetupDiDestroyDeviceInfoList");
      if (s) s.open = false;
      return s ? 1 : 0;
    },
  };

  const keyOf = (p: Deno.PointerValue, what: string) => {
    const k = keys.get(handle(p));
    if (!k?.open) problems.push(`${what}: unknown or closed key`);
    return k?.open ? k : null;
  };

  const advapi32: Advapi32 = {
    RegOpenKeyExW(key, subKey, opts, sam, result) {
      const name = inputString(subKey, "RegOpenKeyExW", problems);
      calls.push(
        `RegOpenKeyExW(0x${handle(key).toString(16)}, ${name}, ${opts}, 0x${sam.toString(16)})`,
      );
      if (result.length !== 8) problems.push(`RegOpenKeyExW: PHKEY of ${result.length} bytes`);
      if (!(sam & 0x1)) problems.push("RegOpenKeyExW: no KEY_QUERY_VALUE access");
      if (
        handle(key) !== HKLM || name?.toUpperCase() !== "HARDWARE\\DEVICEMAP\\SERIALCOMM" ||
        !serialComm
      ) {
        return ERROR_FILE_NOT_FOUND;
      }
      const h = newHandle();
      keys.set(handle(h), { values: serialComm, open: true });
      new DataView(result.buffer, result.byteOffset, 8).setBigUint64(0, handle(h), true);
      return 0;
    },
    RegQueryValueExW(key, name, reserved, type, data, cb) {
      const n = inputString(name, "RegQueryValueExW", problems);
      calls.push(`RegQueryValueExW(${n}, ${u32(cb)} bytes in ${data.length})`);
      if (reserved !== null) problems.push("RegQueryValueExW: lpReserved must be NULL");
      if (u32(cb) > data.length) {
        problems.push(`RegQueryValueExW: lpcbData ${u32(cb)} > buffer ${data.length}`);
      }
      const k = keyOf(key, "RegQueryValueExW");
      const value = k && !Array.isArray(k.values)
        ? k.values.get((n ?? "").toLowerCase())
        : undefined;
      if (!value) return ERROR_FILE_NOT_FOUND;
      const room = u32(cb);
      setU32(cb, value.length);
      if (value.length > room) return ERROR_MORE_DATA;
      setU32(type, REG_SZ);
      data.set(value);
      return 0;
    },
    RegEnumValueW(key, index, name, cchName, reserved, type, data, cb) {
      calls.push(
        `RegEnumValueW(${index}, ${u32(cchName)} chars in ${name.length} bytes, ${
          u32(cb)
        } bytes in ${data.length})`,
      );
      if (reserved !== null) problems.push("RegEnumValueW: lpReserved must be NULL");
      if (u32(cchName) * 2 > name.length) {
        problems.push("RegEnumValueW: lpcchValueName larger than the buffer");
      }
      if (u32(cb) > data.length) problems.push("RegEnumValueW: lpcbData larger than the buffer");
      const k = keyOf(key, "RegEnumValueW");
      const entries = k && Array.isArray(k.values) ? k.values : [];
      if (index >= entries.length) return ERROR_NO_MORE_ITEMS;
      const [valueName, port] = entries[index];
      const nameBytes = utf16(valueName);
      const dataBytes = utf16(port);
      if (nameBytes.length > u32(cchName) * 2) return ERROR_MORE_DATA;
      const room = u32(cb);
      setU32(cb, dataBytes.length);
      if (dataBytes.length > room) return ERROR_MORE_DATA;
      name.set(nameBytes);
      setU32(cchName, valueName.length); // without the NUL
      setU32(type, REG_SZ);
      data.set(dataBytes);
      return 0;
    },
    RegCloseKey(key) {
      calls.push("RegCloseKey");
      const k = keyOf(key, "RegCloseKey");
      if (k) k.open = false;
      return k ? 0 : 6;
    },
  };

  return {
    setupapi,
    advapi32,
    calls,
    problems,
    lastError: () => lastError,
    leaks: () => [
      ...[...sets.values()].filter((s) => s.open).map(() => "device info set"),
      ...[...keys.values()].filter((k) => k.open).map(() => "registry key"),
    ],
  };
}

/** devguid.h GUID_DEVCLASS_PORTS. */
export const PORTS_CLASS = "4D36E978-E325-11CE-BFC1-08002BE10318";
/** devguid.h GUID_DEVCLASS_MODEM. */
export const MODEM_CLASS = "4D36E96D-E325-11CE-BFC1-08002BE10318";

/**
 * A factory PC as SetupAPI shows it, modelled on what Device Manager shows
 * for these drivers (instance ids in the forms "Device Identification
 * Strings" describes; the serial numbers and generated parts are made up):
 * Espressif's USB-Serial/JTAG (a composite device: the COM port is interface
 * 0, the serial number is on the parent), a CP2102N and a CH343 (single
 * devices: the serial number is their own instance id), an FT232R on FTDI's
 * bus driver (serial number plus channel letter in the bus id, the plain
 * serial number on the parent), a Bluetooth SPP link (no USB ids; its
 * `VID&…` form is not USB's), the motherboard's COM1, a printer port in the
 * same class, and a cellular modem in the Modem class with a long reported
 * name (longer than a first 512-byte buffer).
 */
export const SAMPLE_DEVICES: FakeDevice[] = [
  {
    classGuid: PORTS_CLASS,
    instanceId: "ACPI\\PNP0501\\0",
    parentId: "ACPI\\PNP0A08\\0",
    portName: "COM1",
    friendlyName: "Communications Port (COM1)",
    deviceDesc: "Communications Port",
    mfg: "(Standard port types)",
  },
  {
    classGuid: PORTS_CLASS,
    instanceId: "USB\\VID_303A&PID_1001&MI_00\\7&2A3B4C5D&0&0000",
    parentId: "USB\\VID_303A&PID_1001\\F4:12:FA:00:00:01",
    portName: "COM10",
    friendlyName: "USB Serial Device (COM10)",
    deviceDesc: "USB Serial Device",
    mfg: "Microsoft",
    busReportedDesc: "USB JTAG/serial debug unit",
  },
  {
    classGuid: PORTS_CLASS,
    instanceId: "ACPI\\PNP0401\\0",
    portName: "LPT1",
    friendlyName: "Printer Port (LPT1)",
    deviceDesc: "Printer Port",
    mfg: "(Standard port types)",
  },
  {
    classGuid: PORTS_CLASS,
    instanceId: "USB\\VID_10C4&PID_EA60\\9C3A7E5F21D4EB11A3F2A6C1E0B47D21",
    parentId: "USB\\ROOT_HUB30\\4&1F2E3D4C&0&0",
    portName: "COM3",
    portNameUnterminated: true,
    friendlyName: "Silicon Labs CP210x USB to UART Bridge (COM3)",
    deviceDesc: "Silicon Labs CP210x USB to UART Bridge",
    mfg: "Silicon Labs",
    busReportedDesc: "CP2102N USB to UART Bridge Controller",
  },
  {
    classGuid: PORTS_CLASS,
    instanceId:
      "BTHENUM\\{00001101-0000-1000-8000-00805F9B34FB}_VID&000105D6_PID&000A\\8&2E2D6C9&0&001122334455_C00000000",
    parentId: "BTHENUM\\DEV_001122334455\\7&1C2B3A4D&0&BLUETOOTHDEVICE_001122334455",
    portName: "COM5",
    friendlyName: "Standard Serial over Bluetooth link (COM5)",
    deviceDesc: "Standard Serial over Bluetooth link",
    mfg: "Microsoft",
  },
  {
    classGuid: PORTS_CLASS,
    instanceId: "FTDIBUS\\VID_0403+PID_6001+A50285BIA\\0000",
    parentId: "USB\\VID_0403&PID_6001\\A50285BI",
    portName: "COM4",
    friendlyName: "USB Serial Port (COM4)",
    deviceDesc: "USB Serial Port",
    mfg: "FTDI",
  },
  {
    classGuid: PORTS_CLASS,
    instanceId: "USB\\VID_1A86&PID_55D3\\5434012345",
    parentId: "USB\\VID_05E3&PID_0610\\5&3A2B1C0D&0&2",
    portName: "COM7",
    friendlyName: "USB-Enhanced-SERIAL CH343 (COM7)",
    deviceDesc: "USB-Enhanced-SERIAL CH343",
    mfg: "wch.cn",
    busReportedDesc: "USB Single Serial",
  },
  {
    classGuid: MODEM_CLASS,
    instanceId: "USB\\VID_2C7C&PID_0125&MI_03\\6&1B2C3D4E&0&0003",
    parentId: "USB\\VID_2C7C&PID_0125\\6&2F3E4D5C&0&4",
    portName: "COM15",
    friendlyName: "Quectel USB Modem (COM15)",
    deviceDesc: "Quectel USB Modem",
    mfg: "Quectel",
    busReportedDesc: `LTE Module ${"(modem interface, AT commands) ".repeat(10).trim()}`,
  },
];

/**
 * HARDWARE\DEVICEMAP\SERIALCOMM for {@link SAMPLE_DEVICES}, plus a virtual
 * null-modem port that no PnP class lists. The value names follow the style
 * of each driver's device objects (Serial0, USBSER000, Silabser0, VCP0,
 * BthModem0); the CH343, modem and com0com ones are made up.
 */
export const SAMPLE_SERIALCOMM: [string, string][] = [
  ["\\Device\\Serial0", "COM1"],
  ["\\Device\\USBSER000", "COM10"],
  ["\\Device\\Silabser0", "COM3"],
  ["\\Device\\BthModem0", "COM5"],
  ["\\Device\\VCP0", "COM4"],
  ["\\Device\\CH343SER0", "COM7"],
  ["\\Device\\com0com10", "CNCA0"],
  ["\\Device\\QCUSB_COM15_3", "COM15"],
];
