/**
 * espline's command line: esptool-compatible commands for one-off work.
 *
 *     deno task cli --port /dev/ttyUSB0 write-flash -z 0x1000 boot.bin 0x10000 app.bin
 *     espline --port /dev/ttyUSB0 chip-id      # after `deno task install`
 *
 * Relative paths mean the folder the command was typed in, also under
 * `deno task cli` (which Deno runs in the project folder).
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { runCli } from "./lib/cli/main.ts";
import { detectInvocation } from "./lib/cli/invocation.ts";
import { programName, setProgramName } from "./lib/program_name.ts";

if (import.meta.main) {
  const invocation = detectInvocation({
    args: Deno.args,
    env: (name) => Deno.env.get(name),
    cwd: Deno.cwd(),
    projectDir: fileURLToPath(new URL(".", import.meta.url)),
  });
  if (invocation.cwd !== Deno.cwd()) {
    try {
      Deno.chdir(invocation.cwd);
    } catch (e) {
      console.error(`error: cannot work in ${invocation.cwd}: ${(e as Error).message}`);
      Deno.exit(2);
    }
  }
  setProgramName(invocation.programName);
  const controller = new AbortController();
  let interrupts = 0;
  const onInterrupt = () => {
    interrupts++;
    if (interrupts > 1) Deno.exit(130);
    controller.abort();
  };
  Deno.addSignalListener("SIGINT", onInterrupt);
  const code = await runCli(invocation.args, {
    signal: controller.signal,
    programName: programName(),
  });
  Deno.removeSignalListener("SIGINT", onInterrupt);
  Deno.exit(code);
}
