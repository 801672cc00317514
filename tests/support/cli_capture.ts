/**
 * Run espline's CLI in this process with its output captured (not a
 * terminal), for tests of messages and exit codes.
 *
 * @module
 */

import { runCli } from "../../lib/cli/main.ts";
import type { CliRun } from "./rom_cli.ts";

/** Run `args` through the CLI; `signal` stands in for Ctrl-C. */
export async function cliCapture(
  args: string[],
  options: { signal?: AbortSignal; onStdout?: (text: string) => void } = {},
): Promise<CliRun> {
  let out = "";
  let err = "";
  const code = await runCli(args, {
    signal: options.signal,
    sinks: {
      stdout: (t) => {
        out += t;
        options.onStdout?.(t);
      },
      stderr: (t) => (err += t),
      isTerminal: false,
    },
  });
  return { code, out, err };
}
