/**
 * Open a port by name: `sim://CHIP?…` (the virtual chip), `socket://host:port`
 * (raw TCP), or a serial device path (Linux/macOS through FFI to libc).
 *
 * @module
 */

import type { Transport } from "./transport.ts";
import { openSimPort, simOptionsFromUrl } from "../sim/sim_port.ts";
import { UsageError } from "../errors.ts";
import { openSocket } from "./socket.ts";
import { openRfc2217 } from "./rfc2217.ts";
import { openWindowsSerialPort } from "./serial_windows.ts";
import { openSerialPort } from "./serial_posix.ts";
import { listPorts, matchesFilter, parsePortFilter, type PortDescription } from "./ports.ts";

/** Options for {@link openTransport}. */
export interface OpenTransportOptions {
  /** Initial baud rate. Default 115200. */
  baud?: number;
  /** Narrow `auto` discovery (`vid=303a,pid=1001`). */
  portFilter?: string;
}

/**
 * Open `port` and return its transport.
 *
 * @example
 * ```ts
 * import { openTransport } from "./open.ts";
 * const t = await openTransport("sim://esp32");
 * await t.close();
 * ```
 */
export function openTransport(
  port: string,
  options: OpenTransportOptions = {},
): Promise<Transport> {
  if (port.startsWith("sim://")) {
    const t = openSimPort(simOptionsFromUrl(port), port);
    if (options.baud && options.baud !== t.baud) return t.setBaud(options.baud).then(() => t);
    return Promise.resolve(t);
  }
  if (port.startsWith("socket://")) return openSocket(port, { baud: options.baud });
  if (port.startsWith("rfc2217://")) return openRfc2217(port, { baud: options.baud });
  if (port === "auto") {
    return listPorts().then((all) => {
      const filter = options.portFilter ? parsePortFilter(options.portFilter) : {};
      const found = all.filter((p) => matchesFilter(p, filter));
      const describe = (p: PortDescription) =>
        `${p.path}${
          p.vid !== undefined
            ? ` (${p.vid.toString(16).padStart(4, "0")}:${p.pid?.toString(16).padStart(4, "0")}${
              p.bridge ? ` ${p.bridge}` : ""
            })`
            : ""
        }`;
      if (found.length === 1) {
        const p = found[0];
        return openSerialPort(p.path, {
          baud: options.baud,
          info: {
            vid: p.vid,
            pid: p.pid,
            serialNumber: p.serialNumber,
            manufacturer: p.manufacturer,
            product: p.product,
          },
        });
      }
      throw new UsageError(
        found.length === 0
          ? `no serial port found${
            options.portFilter ? ` matching --port-filter ${options.portFilter}` : ""
          }: ` +
            "plug the board in, or give --port (a path, socket://HOST:PORT or sim://CHIP)"
          : `several serial ports found: ${
            found.map(describe).join(", ")
          }; choose one with --port or narrow with --port-filter`,
        { code: found.length === 0 ? "E_NO_PORT" : "E_SEVERAL_PORTS" },
      );
    });
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(port)) {
    return Promise.reject(
      new UsageError(
        `unknown port type "${port}": use a device path, socket://HOST:PORT, rfc2217://HOST:PORT or sim://CHIP`,
        {
          code: "E_PORT_UNSUPPORTED",
        },
      ),
    );
  }
  if (Deno.build.os === "windows") return openWindowsSerialPort(port, { baud: options.baud });
  if (/^(\\\\\.\\)?COM\d+$/i.test(port)) {
    return Promise.reject(
      new UsageError(
        `${port} is a Windows port name; on ${Deno.build.os} use a device path such as /dev/ttyUSB0`,
        {
          code: "E_PORT_NOT_FOUND",
        },
      ),
    );
  }
  try {
    return Promise.resolve(openSerialPort(port, { baud: options.baud }));
  } catch (e) {
    return Promise.reject(e);
  }
}
