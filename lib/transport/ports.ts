/**
 * Finding serial ports: device nodes with their USB facts (vendor and
 * product ids, serial number, manufacturer, product) and a one-line
 * description, Espressif's own USB-Serial/JTAG and the usual dev-board
 * bridges first.
 *
 * - Linux: read from sysfs (`/sys/class/tty/NAME/device`, walking up to the
 *   USB device directory that holds `idVendor`). Tested against fixture trees.
 * - macOS: parse `ioreg -r -c IOUSBHostDevice -l` (the parser is tested
 *   against sample text; the command itself is untested here).
 * - Windows: SetupAPI and the registry through FFI (ports_windows.ts; tested
 *   against fakes of the DLLs, never on a real Windows machine here).
 *
 * Written by hand: no reachable library lists serial ports for Deno.
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import type { PortInfo } from "./transport.ts";
import { listWindowsPorts, type WindowsPortsOptions } from "./ports_windows.ts";

/** A serial port and what is known about the device behind it. */
export interface PortDescription extends PortInfo {
  /** One line for people: the USB product string, the bridge name, or the kind of port. */
  description: string;
  /** What kind of bridge this is, when known (`Espressif USB-Serial/JTAG`, `CP210x` …). */
  bridge?: string;
}

/**
 * USB ids of bridges found on Espressif boards, in the order ports are
 * listed (esptool loader.py USB_JTAG_SERIAL_PID; vendor ids from the USB-IF
 * list: Espressif 303a, Silicon Labs 10c4, WCH 1a86, FTDI 0403).
 */
export const KNOWN_BRIDGES: readonly { vid: number; pid?: number; name: string }[] = [
  { vid: 0x303a, pid: 0x1001, name: "Espressif USB-Serial/JTAG" },
  { vid: 0x10c4, pid: 0xea60, name: "CP210x" },
  { vid: 0x1a86, pid: 0x7523, name: "CH340" },
  { vid: 0x1a86, pid: 0x55d3, name: "CH343" },
  { vid: 0x0403, pid: 0x6001, name: "FTDI FT232R" },
  { vid: 0x0403, pid: 0x6010, name: "FTDI FT2232" },
  { vid: 0x0403, pid: 0x6014, name: "FTDI FT232H" },
  { vid: 0x0403, pid: 0x6015, name: "FTDI FT231X" },
  { vid: 0x303a, name: "Espressif USB" }, // other Espressif USB (OTG CDC on S2/S3)
];

function knownBridge(vid?: number, pid?: number) {
  return KNOWN_BRIDGES.find((b) => b.vid === vid && (b.pid === undefined || b.pid === pid));
}

function bridgeRank(p: PortDescription): number {
  const known = knownBridge(p.vid, p.pid);
  if (known) return KNOWN_BRIDGES.indexOf(known);
  return p.vid !== undefined ? KNOWN_BRIDGES.length : KNOWN_BRIDGES.length + 1;
}

/** Fill `bridge` and `description` (unless given) from the USB facts and sort, known bridges first. */
function finish(
  ports: (Omit<PortDescription, "description"> & { description?: string })[],
  fallback: string,
): PortDescription[] {
  const out = ports.map((p): PortDescription => {
    const bridge = knownBridge(p.vid, p.pid)?.name;
    return {
      ...p,
      ...(bridge ? { bridge } : {}),
      description: p.product ?? p.description ?? bridge ??
        (p.vid !== undefined ? "USB serial device" : fallback),
    };
  });
  // Numbers inside names compare as numbers: COM3 before COM10, ttyUSB2 before ttyUSB10.
  return out.sort((a, b) =>
    bridgeRank(a) - bridgeRank(b) || a.path.localeCompare(b.path, undefined, { numeric: true })
  );
}

function hex4(n: number | undefined): string {
  return n === undefined ? "????" : n.toString(16).padStart(4, "0");
}

/** `303a:1001` style, or an empty string for ports without USB ids. */
export function formatUsbId(p: PortInfo): string {
  return p.vid === undefined ? "" : `${hex4(p.vid)}:${hex4(p.pid)}`;
}

function readText(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Options for {@link listPorts}. */
export interface ListPortsOptions {
  /** Root of sysfs (tests point this at a fixture tree); setting it forces the Linux method. Default `/sys`. */
  sysfsRoot?: string;
  /** Where device nodes live (Linux). Default `/dev`. */
  devRoot?: string;
  /** Operating system to list for. Default `Deno.build.os`. */
  os?: string;
  /** The Windows DLL calls (tests pass fakes). Default: setupapi.dll and advapi32.dll through FFI, on Windows only. */
  windowsApi?: WindowsPortsOptions;
}

/**
 * List serial ports, known Espressif bridges first, then other USB serial
 * devices, then on-board UARTs (Linux `ttyAMA0` and the like).
 *
 * @example
 * ```ts
 * import { listPorts } from "./ports.ts";
 * for (const p of await listPorts()) console.log(p.path, p.description);
 * ```
 */
export async function listPorts(options: ListPortsOptions = {}): Promise<PortDescription[]> {
  const os = options.sysfsRoot ? "linux" : options.os ?? Deno.build.os;
  if (os === "darwin") {
    return parseIoreg(await runText("ioreg", ["-r", "-c", "IOUSBHostDevice", "-l"]));
  }
  if (os === "windows") return finish(listWindowsPorts(options.windowsApi), "serial port");
  return listLinuxPorts(options.sysfsRoot ?? "/sys", options.devRoot ?? "/dev");
}

/** Run a listing command; a missing or failing command lists nothing rather than failing. */
async function runText(cmd: string, args: string[]): Promise<string> {
  try {
    const r = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "null" }).output();
    return r.success ? new TextDecoder().decode(r.stdout) : "";
  } catch {
    return "";
  }
}

function listLinuxPorts(sys: string, dev: string): PortDescription[] {
  const found: Omit<PortDescription, "description">[] = [];
  let entries: Deno.DirEntry[] = [];
  try {
    entries = [...Deno.readDirSync(`${sys}/class/tty`)];
  } catch {
    return []; // no sysfs (a container without /sys): nothing to list
  }
  const descriptions = new Map<string, string>();
  for (const e of entries) {
    let dir: string;
    try {
      dir = Deno.realPathSync(`${sys}/class/tty/${e.name}/device`);
    } catch {
      continue; // virtual terminals and ptys have no device
    }
    // Since Linux 6.5 a "serial-base" port and controller sit between the tty
    // and the UART device: look past them for the UART's own subsystem.
    let subsystem: string | undefined;
    for (let d = dir, i = 0; i < 4 && d.length > sys.length; i++) {
      try {
        const s = Deno.realPathSync(`${d}/subsystem`);
        subsystem = s.slice(s.lastIndexOf("/") + 1);
      } catch {
        subsystem = undefined;
      }
      if (subsystem !== "serial-base") break;
      d = d.slice(0, d.lastIndexOf("/"));
    }
    // Walk up from the interface (ttyACM) or the usb-serial port (ttyUSB) to the USB device.
    let usb = false;
    for (let d = dir, i = 0; i < 5 && d.length > sys.length; i++) {
      const vid = readText(`${d}/idVendor`);
      if (vid) {
        found.push(dropUndefined({
          path: `${dev}/${e.name}`,
          vid: parseInt(vid, 16),
          pid: parseInt(readText(`${d}/idProduct`) ?? "0", 16),
          serialNumber: readText(`${d}/serial`),
          manufacturer: readText(`${d}/manufacturer`),
          product: readText(`${d}/product`),
        }));
        usb = true;
        break;
      }
      d = d.slice(0, d.lastIndexOf("/"));
    }
    // Legacy 8250 placeholders (ttyS0…31) hang off "platform"; real on-board UARTs
    // (ttyAMA0 on a Raspberry Pi, PCI/PNP serial cards) are worth listing.
    if (!usb && subsystem !== undefined && subsystem !== "platform") {
      found.push({ path: `${dev}/${e.name}` });
      descriptions.set(`${dev}/${e.name}`, `serial port (${subsystem})`);
    }
  }
  return finish(found, "serial port").map((p) =>
    descriptions.has(p.path) ? { ...p, description: descriptions.get(p.path)! } : p
  );
}

/**
 * Parse the output of `ioreg -r -c IOUSBHostDevice -l` (macOS) into ports:
 * each `IOCalloutDevice` (`/dev/cu.…`) below a USB device node takes that
 * device's `idVendor`, `idProduct`, `USB Serial Number`, `USB Vendor Name`
 * and `USB Product Name`. Untested on a real Mac.
 *
 * @example
 * ```ts
 * import { parseIoreg } from "./ports.ts";
 * console.log(parseIoreg("")); // []
 * ```
 */
export function parseIoreg(text: string): PortDescription[] {
  interface Node {
    column: number;
    usbDevice: boolean;
    props: Map<string, string>;
    parent: Node | null;
  }
  const found: Omit<PortDescription, "description">[] = [];
  let last = null as Node | null;
  const unquote = (v: string) => v.trim().replace(/^"(.*)"$/, "$1");
  for (const line of text.split(/\r?\n/)) {
    const node = /^([\s|]*)\+-o\s+(.*)$/.exec(line);
    if (node) {
      const column = node[1].length;
      let parent: Node | null = last;
      while (parent && parent.column >= column) parent = parent.parent;
      last = {
        column,
        usbDevice: /<class IOUSB(Host)?Device\b/.test(node[2]),
        props: new Map(),
        parent,
      };
      continue;
    }
    const prop = /^[\s|]*"([^"]+)"\s*=\s*(.*)$/.exec(line);
    if (!prop || !last) continue;
    last.props.set(prop[1], unquote(prop[2]));
    if (prop[1] === "IOCalloutDevice") {
      let dev: Node | null = last;
      while (dev && !dev.usbDevice) dev = dev.parent;
      const p = dev?.props;
      const num = (k: string) => {
        const v = p?.get(k);
        if (v === undefined) return undefined;
        const n = /^0x/i.test(v) ? parseInt(v, 16) : parseInt(v, 10);
        return Number.isFinite(n) ? n : undefined;
      };
      found.push({
        path: unquote(prop[2]),
        vid: num("idVendor"),
        pid: num("idProduct"),
        serialNumber: p?.get("USB Serial Number") ?? p?.get("kUSBSerialNumberString"),
        manufacturer: p?.get("USB Vendor Name") ?? p?.get("kUSBVendorString"),
        product: p?.get("USB Product Name") ?? p?.get("kUSBProductString"),
      });
    }
  }
  return finish(found.map(dropUndefined), "serial port");
}

function dropUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** A `--port-filter`: `vid=303a,pid=1001,serial=ABC,name=ttyACM` (hex ids). */
export interface PortFilter {
  /** USB vendor id. */
  vid?: number;
  /** USB product id. */
  pid?: number;
  /** Serial number (exact). */
  serial?: string;
  /** Text the path must contain. */
  name?: string;
}

/**
 * Parse `vid=303a,pid=1001,serial=…,name=…` (ids in hex, `0x` optional).
 *
 * @throws {UsageError} naming the bad part.
 * @example
 * ```ts
 * import { parsePortFilter } from "./ports.ts";
 * parsePortFilter("vid=303a,pid=1001"); // { vid: 0x303a, pid: 0x1001 }
 * ```
 */
export function parsePortFilter(text: string): PortFilter {
  const f: PortFilter = {};
  const parts = text.split(",").map((s) => s.trim()).filter(Boolean);
  if (parts.length === 0) {
    throw new UsageError("--port-filter is empty: write it as vid=303a,pid=1001,serial=…");
  }
  for (const part of parts) {
    const eq = part.indexOf("=");
    const k = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    const v = eq < 0 ? "" : part.slice(eq + 1).trim();
    if (!v) throw new UsageError(`--port-filter: "${part}" needs a value, e.g. vid=303a`);
    if (k === "vid" || k === "pid") {
      if (!/^(0x)?[0-9a-f]{1,4}$/i.test(v)) {
        throw new UsageError(`--port-filter: ${k} "${v}" is not a hex USB id (e.g. ${k}=303a)`);
      }
      f[k] = parseInt(v.replace(/^0x/i, ""), 16);
    } else if (k === "serial") f.serial = v;
    else if (k === "name") f.name = v;
    else throw new UsageError(`--port-filter: unknown key "${k}" (use vid, pid, serial, name)`);
  }
  return f;
}

/** Whether a port matches a filter (every given key must match). */
export function matchesFilter(p: PortInfo, f: PortFilter): boolean {
  return (f.vid === undefined || p.vid === f.vid) && (f.pid === undefined || p.pid === f.pid) &&
    (f.serial === undefined || p.serialNumber === f.serial) &&
    (f.name === undefined || p.path.includes(f.name));
}

/**
 * The serial ports to watch for hot-plug, cheap enough to poll: USB serial
 * device nodes under /dev on Linux and macOS (ttyUSB*, ttyACM*, cu.usb*);
 * every COM port on Windows (SetupAPI, then the registry's SERIALCOMM map).
 *
 * @example
 * ```ts
 * import { listPortPaths } from "./ports.ts";
 * console.log(await listPortPaths());
 * ```
 */
export async function listPortPaths(options: ListPortsOptions = {}): Promise<string[]> {
  if ((options.os ?? Deno.build.os) === "windows") {
    return (await listPorts({ ...options, os: "windows" })).map((p) => p.path);
  }
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir("/dev")) {
      if (/^(ttyUSB|ttyACM)\d+$|^cu\.(usb|wchusb|SLAB)/.test(e.name)) out.push(`/dev/${e.name}`);
    }
  } catch {
    // no /dev: nothing to list this way
  }
  return out.sort();
}

/** Options for {@link selectAutoPort}. */
export interface SelectAutoPortOptions extends ListPortsOptions {
  /** `--port-filter` text (`vid=303a,pid=1001`). Default: no filter. */
  portFilter?: string;
}

/**
 * `--port auto`: the one USB serial port that matches the filter (on-board
 * UARTs are never chosen automatically). No match or several
 * matches is a {@link UsageError} (`E_NO_PORT`, `E_SEVERAL_PORTS`) that lists
 * the candidates and says how to choose.
 *
 * @example
 * ```ts
 * import { selectAutoPort } from "./ports.ts";
 * try {
 *   console.log((await selectAutoPort({ portFilter: "vid=303a" })).path);
 * } catch (e) {
 *   console.log((e as Error).message);
 * }
 * ```
 */
export async function selectAutoPort(
  options: SelectAutoPortOptions = {},
): Promise<PortDescription> {
  const filter = options.portFilter ? parsePortFilter(options.portFilter) : {};
  const all = await listPorts(options);
  // Only USB ports are candidates: most PCs list an on-board COM1 that no board is wired to.
  const found = all.filter((p) => p.vid !== undefined && matchesFilter(p, filter));
  if (found.length === 1) return found[0];
  const describe = (p: PortDescription) =>
    `${p.path} (${[formatUsbId(p), p.description].filter(Boolean).join(" ")})`;
  if (found.length === 0) {
    const onboard = all.filter((p) => p.vid === undefined && matchesFilter(p, filter));
    throw new UsageError(
      `no USB serial port found${
        options.portFilter ? ` matching --port-filter ${options.portFilter}` : ""
      }: plug the board in (${noBoardHint()}), or give --port (a path, socket://HOST:PORT, rfc2217://HOST:PORT or sim://CHIP)${
        onboard.length
          ? `; on-board ports (not chosen automatically): ${onboard.map(describe).join(", ")}`
          : ""
      }`,
      { code: "E_NO_PORT" },
    );
  }
  throw new UsageError(
    `several serial ports found: ${
      found.map(describe).join(", ")
    }; choose one with --port, or narrow with --port-filter (vid=…,pid=…,serial=…)`,
    { code: "E_SEVERAL_PORTS", details: { ports: found.map((p) => p.path) } },
  );
}

/**
 * Where to look when no board shows up, for the operating system at hand:
 * the kernel log on Linux, System Information on macOS, Device Manager on
 * Windows (missing USB-serial drivers are the usual cause there and on
 * older macOS).
 *
 * @example
 * ```ts
 * import { noBoardHint } from "./ports.ts";
 * console.log(noBoardHint("windows"));
 * ```
 */
export function noBoardHint(os: typeof Deno.build.os = Deno.build.os): string {
  switch (os) {
    case "darwin":
      return "on macOS, System Information > USB shows whether the board is seen, and it appears " +
        "as /dev/cu.usbserial-* or /dev/cu.usbmodem*; CH34x and CP210x bridges may need the " +
        "vendor's driver";
    case "windows":
      return "on Windows, Device Manager > Ports (COM & LPT) shows it as COMn; a board listed under " +
        "Other devices needs its USB-serial driver (CP210x, CH340, FTDI)";
    default:
      return "on Linux, `dmesg` shows whether a driver took it, and opening it needs the dialout " +
        "(or uucp) group";
  }
}

/**
 * What discovery knows about a port given by name (`/dev/ttyACM0`, a
 * `/dev/serial/by-id/…` link, `COM5`): esptool looks the USB product id up
 * the same way to choose the USB-Serial/JTAG reset. Unknown ports give `{}`.
 *
 * @example
 * ```ts
 * import { lookupPortInfo } from "./ports.ts";
 * console.log(await lookupPortInfo("/dev/ttyACM0"));
 * ```
 */
export async function lookupPortInfo(
  path: string,
  options: ListPortsOptions = {},
): Promise<Omit<PortDescription, "path" | "description">> {
  let real = path;
  try {
    real = Deno.realPathSync(path);
  } catch {
    // not a file here (COM5, or gone): compare the name as given
  }
  try {
    // macOS lists the callout device (/dev/cu.X); people also pass the dial-in one (/dev/tty.X).
    const asked = [path, real].map((x) => x.replace(/^\/dev\/tty\./, "/dev/cu."));
    const same = (p: string) =>
      asked.includes(p) || (/^COM\d+$/i.test(p) && p.toUpperCase() === path.toUpperCase());
    const hit = (await listPorts(options)).find((p) => same(p.path));
    if (!hit) return {};
    const { path: _p, description: _d, ...facts } = hit;
    return facts;
  } catch {
    return {};
  }
}
