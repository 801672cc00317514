/**
 * Serve a virtual chip over TCP for esptool's `socket://` ports:
 *
 *     deno run -A lib/sim/serve_cli.ts esp32s3 --port 5555 --mac 02:aa:bb:cc:dd:01
 *     deno run -A lib/sim/serve_cli.ts "sim://esp32?size=8MB&timing=1" --port 5555
 *
 * Options: --port N (default 5555), --host H (default 127.0.0.1), and any
 * sim:// parameter as --name value (e.g. --mac, --size 8MB, --rev v3.0,
 * --flash /tmp/f.bin, --usb usb-jtag, --seed 7 --corrupt 0.01). `anystub`
 * defaults to 1 here so esptool's own stub flasher is accepted.
 *
 * @module
 */

import { simOptionsFromUrl } from "./sim_port.ts";
import { serveSimTcp } from "./tcp_server.ts";

if (import.meta.main) {
  const args = [...Deno.args];
  const target = args.shift();
  if (!target) {
    console.error("usage: serve_cli.ts <chip|sim-url> [--port N] [--host H] [--<param> value]…");
    Deno.exit(2);
  }
  let port = 5555;
  let hostname = "127.0.0.1";
  const url = new URL(target.startsWith("sim://") ? target : `sim://${target}`);
  const params = url.searchParams;
  while (args.length) {
    const flag = args.shift()!;
    const value = args.shift() ?? "";
    if (!flag.startsWith("--")) {
      console.error(`unexpected argument ${flag}`);
      Deno.exit(2);
    }
    const name = flag.slice(2);
    if (name === "port") port = Number(value);
    else if (name === "host") hostname = value;
    else params.set(name, value);
  }
  const options = simOptionsFromUrl(`sim://${url.host}?${params}`);
  const server = serveSimTcp(options, { hostname, port });
  console.log(
    `serving ${server.chip.facts.name} (MAC ${server.chip.mac}) on socket://${hostname}:${server.port}`,
  );
  const stop = async () => {
    await server.close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
}
