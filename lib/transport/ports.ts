/**
 * Finding serial ports: device nodes with their USB facts (vendor and
 * product ids, serial number, manufacturer, product), read from Linux sysfs.
 * Espressif's own USB-Serial/JTAG and the usual bridges on dev boards are
 * listed first. Other systems get device names without USB facts.
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import type { PortInfo } from "./transport.ts";

/** A serial port and what is known about the USB device behind it. */
export interface PortDescription extends PortInfo {
  /** What kind of bridge this is, when known (`Espressif USB-Serial/JTAG`, `CP210x` …). */
  bridge?: string;
}

/** USB ids of bridges found on Espressif boards, in preference order (esptool, vendor docs). */
export const KNOWN_BRIDGES: readonly { vid: number; pid?: number; name: string }[] = [
  { vid: 0x303a, pid: 0x1001, name: "Espressif USB-Serial/JTAG" },
  { vid: 0x303a, name: "Espressif USB" },
  { vid: 0x10c4, pid: 0xea60, name: "CP210x" },
  { vid: 0x1a86, pid: 0x55d3, name: "CH343" },
  { vid: 0x1a86, pid: 0x7523, name: "CH340" },
  { vid: 0x0403, pid: 0x6001, name: "FTDI FT232R" },
  { vid: 0x0403, pid: 0x6010, name: "FTDI FT2232" },
  { vid: 0x0403, pid: 0x6014, name: "FTDI FT232H" },
  { vid: 0x0403, pid: 0x6015, name: "FTDI FT231X" },
];

function bridgeRank(p: PortDescription): number {
  const i = KNOWN_BRIDGES.findIndex((b) =>
    b.vid === p.vid && (b.pid === undefined || b.pid === p.pid)
  );
  return i < 0 ? KNOWN_BRIDGES.length : i;
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
  /** Root of sysfs (tests point this at a fixture tree). Default `/sys`. */
  sysfsRoot?: string;
  /** Where device nodes live. Default `/dev`. */
  devRoot?: string;
}

/**
 * List USB serial ports, known Espressif bridges first.
 *
 * @example
 * ```ts
 * import { listPorts } from "./ports.ts";
 * for (const p of await listPorts()) console.log(p.path, p.bridge ?? "");
 * ```
 */
export function listPorts(options: ListPortsOptions = {}): Promise<PortDescription[]> {
  const sys = options.sysfsRoot ?? "/sys";
  const dev = options.devRoot ?? "/dev";
  const out: PortDescription[] = [];
  let entries: Deno.DirEntry[] = [];
  try {
    entries = [...Deno.readDirSync(`${sys}/class/tty`)];
  } catch {
    // No sysfs (macOS, Windows): device names only.
    return listSerialDevices().then((paths) => paths.map((path) => ({ path })));
  }
  for (const e of entries) {
    let dir: string;
    try {
      dir = Deno.realPathSync(`${sys}/class/tty/${e.name}/device`);
    } catch {
      continue; // virtual terminals and ptys have no device
    }
    // Walk up from the interface to the USB device that carries idVendor.
    for (let i = 0; i < 5 && dir.length > 1; i++) {
      const vid = readText(`${dir}/idVendor`);
      if (vid) {
        const p: PortDescription = {
          path: `${dev}/${e.name}`,
          vid: parseInt(vid, 16),
          pid: parseInt(readText(`${dir}/idProduct`) ?? "0", 16),
          serialNumber: readText(`${dir}/serial`),
          manufacturer: readText(`${dir}/manufacturer`),
          product: readText(`${dir}/product`),
        };
        const known = KNOWN_BRIDGES.find((b) =>
          b.vid === p.vid && (b.pid === undefined || b.pid === p.pid)
        );
        if (known) p.bridge = known.name;
        out.push(p);
        break;
      }
      dir = dir.slice(0, dir.lastIndexOf("/"));
    }
  }
  out.sort((a, b) => bridgeRank(a) - bridgeRank(b) || a.path.localeCompare(b.path));
  return Promise.resolve(out);
}

/** A `--port-filter`: `vid=303a,pid=1001,serial=ABC` (hex ids). */
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

/** Parse `vid=303a,pid=1001,serial=…,name=…`. */
export function parsePortFilter(text: string): PortFilter {
  const f: PortFilter = {};
  for (const part of text.split(",").map((s) => s.trim()).filter(Boolean)) {
    const [k, v] = part.split("=").map((s) => s.trim());
    if (!v) throw new UsageError(`--port-filter: "${part}" needs a value, e.g. vid=303a`);
    if (k === "vid" || k === "pid") {
      const n = parseInt(v.replace(/^0x/i, ""), 16);
      if (!/^(0x)?[0-9a-f]{1,4}$/i.test(v)) {
        throw new UsageError(`--port-filter: ${k} "${v}" is not a hex USB id`);
      }
      f[k] = n;
    } else if (k === "serial") f.serial = v;
    else if (k === "name") f.name = v;
    else throw new UsageError(`--port-filter: unknown key "${k}" (use vid, pid, serial, name)`);
  }
  return f;
}

/** Whether a port matches a filter. */
export function matchesFilter(p: PortDescription, f: PortFilter): boolean {
  return (f.vid === undefined || p.vid === f.vid) && (f.pid === undefined || p.pid === f.pid) &&
    (f.serial === undefined || p.serialNumber === f.serial) &&
    (f.name === undefined || p.path.includes(f.name));
}

/**
 * USB serial device nodes under /dev (Linux ttyUSB/ttyACM, macOS cu.usb*).
 *
 * @example
 * ```ts
 * import { listSerialDevices } from "./ports.ts";
 * console.log(await listSerialDevices());
 * ```
 */
export async function listSerialDevices(): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir("/dev")) {
      if (/^(ttyUSB|ttyACM)\d+$|^cu\.(usb|wchusb|SLAB)/.test(e.name)) out.push(`/dev/${e.name}`);
    }
  } catch {
    // no /dev (Windows): nothing to list this way
  }
  return out.sort();
}
