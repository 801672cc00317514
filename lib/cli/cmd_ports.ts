/**
 * `list-ports`: the serial ports on this machine with their USB facts.
 *
 * @module
 */

import type { CommandSpec } from "./command.ts";
import { listPorts, matchesFilter, parsePortFilter } from "../transport/ports.ts";

/** The list-ports command. */
export const PORT_COMMANDS: CommandSpec[] = [{
  name: "list-ports",
  aliases: ["list_ports"],
  summary: "list serial ports with USB vendor/product ids (Espressif bridges first)",
  usage: "list-ports [--port-filter vid=303a,pid=1001,serial=…]",
  options: {},
  positionals: [0, 0],
  async run(ctx) {
    const filter = ctx.global.portFilter ? parsePortFilter(ctx.global.portFilter) : {};
    const ports = (await listPorts()).filter((p) => matchesFilter(p, filter));
    const hex = (n?: number) => n === undefined ? "    " : n.toString(16).padStart(4, "0");
    const human = ports.length === 0
      ? "no serial ports found: plug a board in (and check `dmesg` for a driver) or use --port socket://… / sim://…"
      : [
        "Port                 VID:PID    Serial            Description",
        ...ports.map((p) =>
          `${p.path.padEnd(20)} ${hex(p.vid)}:${hex(p.pid)}  ${
            (p.serialNumber ?? "").padEnd(16)
          }  ${[p.bridge, p.manufacturer, p.product].filter(Boolean).join(" — ")}`
        ),
      ].join("\n");
    ctx.out.result({ ports }, human);
  },
}];
