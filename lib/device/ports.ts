/**
 * The serial ports a script can connect to, with their USB facts (vendor
 * and product ids, serial number, the bridge chip), known Espressif bridges
 * first; narrowed by the same `vid=…,pid=…,serial=…,name=…` filter the CLI's
 * `--port-filter` takes.
 *
 * @module
 */

import {
  listPorts as listSystemPorts,
  matchesFilter,
  parsePortFilter,
  type PortDescription,
  type PortFilter,
} from "../transport/ports.ts";

/** Options for {@link listPorts}. */
export interface ListPortsOptions {
  /** Only ports matching `vid=303a,pid=1001,serial=…,name=…` (ids in hex), or a parsed filter. Default all. */
  filter?: string | PortFilter;
  /** Only USB ports (on-board UARTs left out). Default false. */
  usbOnly?: boolean;
}

/**
 * The serial ports on this machine with their USB facts.
 *
 * @throws {UsageError} when the filter text does not parse.
 * @example
 * ```ts
 * import { listPorts } from "./ports.ts";
 * for (const p of await listPorts({ filter: "vid=303a" })) {
 *   console.log(p.path, p.serialNumber ?? "-", p.description);
 * }
 * ```
 */
export async function listPorts(options: ListPortsOptions = {}): Promise<PortDescription[]> {
  const filter = typeof options.filter === "string"
    ? parsePortFilter(options.filter)
    : options.filter ?? {};
  return (await listSystemPorts()).filter((p) =>
    matchesFilter(p, filter) && (!options.usbOnly || p.vid !== undefined)
  );
}
