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
import { openSerialPort } from "./serial_posix.ts";
import { listSerialDevices } from "./ports.ts";

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
  if (port === "auto") {
    return listSerialDevices().then((found) => {
      if (found.length === 1) return openTransport(found[0], options);
      throw new UsageError(
        found.length === 0
          ? "no serial port found: plug the board in, or give --port (a path, socket://HOST:PORT or sim://CHIP)"
          : `several serial ports found (${found.join(", ")}): choose one with --port`,
        { code: found.length === 0 ? "E_NO_PORT" : "E_SEVERAL_PORTS" },
      );
    });
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(port)) {
    return Promise.reject(
      new UsageError(
        `unknown port type "${port}": use a device path, socket://HOST:PORT or sim://CHIP`,
        {
          code: "E_PORT_UNSUPPORTED",
        },
      ),
    );
  }
  if (Deno.build.os === "windows") {
    return Promise.reject(
      new UsageError(`serial ports on Windows are not supported by this build yet (${port})`, {
        code: "E_PORT_UNSUPPORTED",
      }),
    );
  }
  try {
    return Promise.resolve(openSerialPort(port, { baud: options.baud }));
  } catch (e) {
    return Promise.reject(e);
  }
}
