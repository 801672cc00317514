/**
 * `list-ports`: the serial ports on this machine with their USB facts, known
 * Espressif bridges first.
 *
 * @module
 */

import type { CommandSpec } from "./command.ts";
import { formatUsbId, noBoardHint, type PortDescription } from "../transport/ports.ts";
import { listPorts } from "../device/ports.ts";

/**
 * What `list-ports` prints when there is nothing to list, with where to look
 * on `os` (default this one).
 *
 * @example
 * ```ts
 * import { noPortsMessage } from "./cmd_ports.ts";
 * console.log(noPortsMessage("darwin"));
 * ```
 */
export function noPortsMessage(os: typeof Deno.build.os = Deno.build.os): string {
  return `no serial ports found: plug a board in (${noBoardHint(os)}), ` +
    "or use --port socket://HOST:PORT, rfc2217://HOST:PORT or sim://CHIP";
}

/**
 * The human table for `list-ports`: port, USB id, serial number, description.
 *
 * @example
 * ```ts
 * import { formatPortTable } from "./cmd_ports.ts";
 * console.log(formatPortTable([{ path: "/dev/ttyACM0", vid: 0x303a, pid: 0x1001, description: "USB JTAG/serial debug unit" }]));
 * ```
 */
export function formatPortTable(ports: readonly PortDescription[]): string {
  if (ports.length === 0) return noPortsMessage();
  const rows = [
    ["Port", "VID:PID", "Serial", "Description"],
    ...ports.map((p) => [
      p.path,
      formatUsbId(p) || "-",
      p.serialNumber ?? "-",
      [
        p.description,
        p.bridge && p.bridge !== p.description ? `[${p.bridge}]` : "",
        p.manufacturer && !p.description.includes(p.manufacturer) ? `(${p.manufacturer})` : "",
      ].filter(Boolean).join(" "),
    ]),
  ];
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i < 3 ? c.padEnd(widths[i]) : c)).join("  ").trimEnd())
    .join("\n");
}

/** The list-ports command. */
export const PORT_COMMANDS: CommandSpec[] = [{
  name: "list-ports",
  aliases: ["list_ports"],
  summary: "list serial ports with USB vendor/product ids (Espressif bridges first)",
  usage: "list-ports [--port-filter vid=303a,pid=1001,serial=…]",
  examples: ["list-ports", "list-ports --port-filter vid=303a --json"],
  options: {},
  hostOnly: true,
  positionals: [0, 0],
  async run(ctx) {
    const ports = await listPorts({ filter: ctx.global.portFilter });
    ctx.out.result({ ports }, formatPortTable(ports));
  },
}];
