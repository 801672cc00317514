/**
 * Open a port by name. This first version knows `sim://` (the virtual chip);
 * serial devices, `socket://` and `rfc2217://` are added by the transport
 * layer's serial work.
 *
 * @module
 */

import type { Transport } from "./transport.ts";
import { openSimPort, simOptionsFromUrl } from "../sim/sim_port.ts";
import { UsageError } from "../errors.ts";

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
  return Promise.reject(
    new UsageError(`cannot open "${port}": this build knows only sim:// ports`, {
      code: "E_PORT_UNSUPPORTED",
    }),
  );
}
