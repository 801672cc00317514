/**
 * espline's command line: esptool-compatible commands for one-off work.
 *
 *     deno run -A cli.ts --port /dev/ttyUSB0 write-flash -z 0x1000 boot.bin 0x10000 app.bin
 *
 * @module
 */

import { runCli } from "./lib/cli/main.ts";

if (import.meta.main) {
  const controller = new AbortController();
  let interrupts = 0;
  const onInterrupt = () => {
    interrupts++;
    if (interrupts > 1) Deno.exit(130);
    controller.abort();
  };
  Deno.addSignalListener("SIGINT", onInterrupt);
  const code = await runCli(Deno.args, { signal: controller.signal });
  Deno.removeSignalListener("SIGINT", onInterrupt);
  Deno.exit(code);
}
