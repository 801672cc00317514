/**
 * Open a port by name: `sim://CHIP?…` (the virtual chip), `socket://host:port`
 * (raw TCP), `rfc2217://host:port` (Telnet COM-PORT-OPTION), `auto` (the one
 * USB serial port found, narrowed by a filter), or a serial device (`COMn`
 * through kernel32 on Windows, a path through libc on Linux/macOS).
 *
 * @module
 */

import type { PortInfo, Transport } from "./transport.ts";
import { TransportError, UsageError } from "../errors.ts";
import { openSocket } from "./socket.ts";
import { openRfc2217 } from "./rfc2217.ts";
import { openWindowsSerialPort } from "./serial_windows.ts";
import { openSerialPort } from "./serial_posix.ts";
import { lookupPortInfo, selectAutoPort } from "./ports.ts";

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
  if (port.startsWith("sim://")) return openSim(port, options.baud);
  if (port.startsWith("socket://")) return openSocket(port, { baud: options.baud });
  if (port.startsWith("rfc2217://")) return openRfc2217(port, { baud: options.baud });
  if (port === "auto") {
    return selectAutoPort({ portFilter: options.portFilter }).then((p) =>
      openSerialDevice(p.path, options.baud, {
        vid: p.vid,
        pid: p.pid,
        serialNumber: p.serialNumber,
        manufacturer: p.manufacturer,
        product: p.product,
      })
    );
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
  if (Deno.build.os === "windows") {
    return lookupPortInfo(port).then((info) => openSerialDevice(port, options.baud, info));
  }
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
  return lookupPortInfo(port).then((info) => openSerialDevice(port, options.baud, info));
}

/**
 * A virtual chip (lib/sim), loaded only when a sim:// port is opened so that
 * runs on real ports never load it. lib/sim imports nothing from the client:
 * its errors (`SimError`, with codes spelt as ours) become ours here.
 */
async function openSim(url: string, baud: number | undefined): Promise<Transport> {
  const { openSimPort, simOptionsFromUrl } = await import("../sim/sim_port.ts");
  const { SimError } = await import("../sim/sim_error.ts");
  const toClient = (e: unknown): unknown => {
    if (!(e instanceof SimError)) return e;
    if (e.code === "E_PORT_GONE" || e.code === "E_PORT_CLOSED") {
      return new TransportError(e.code, e.message, { cause: e });
    }
    return new UsageError(e.message, { code: e.code, cause: e });
  };
  let t;
  try {
    t = openSimPort(simOptionsFromUrl(url), { path: url, mapError: (e) => toClient(e) as Error });
  } catch (e) {
    throw toClient(e);
  }
  if (baud && baud !== t.baud) await t.setBaud(baud);
  return t;
}

/** A serial device by name through this system's backend (kernel32 on Windows, libc elsewhere). */
function openSerialDevice(
  path: string,
  baud: number | undefined,
  info: Omit<PortInfo, "path">,
): Promise<Transport> {
  if (Deno.build.os === "windows") return openWindowsSerialPort(path, { baud, info });
  try {
    return Promise.resolve(openSerialPort(path, { baud, info }));
  } catch (e) {
    return Promise.reject(e);
  }
}
