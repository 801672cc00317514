/**
 * The command-line edge every script shares: option-parsing mistakes become
 * one-line usage errors, and a script's errors become exit codes (2 for a
 * usage mistake, 1 for a failure) with the message on stderr instead of a
 * stack trace.
 *
 * @module
 */

import { EsplineError, UsageError } from "../lib/errors.ts";

/**
 * Run `parse` (a `parseArgs` call); an unknown option or a missing value is
 * a {@link UsageError} pointing at `--help`.
 *
 * @example
 * ```ts
 * import { parseArgs } from "node:util";
 * import { parseOrUsage } from "./script_main.ts";
 * const { values } = parseOrUsage(() => parseArgs({ args: ["--port", "x"], options: { port: { type: "string" } } }));
 * ```
 */
export function parseOrUsage<T>(parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    throw new UsageError(`${(e as Error).message} (see --help)`);
  }
}

/**
 * Run a script's `main` with the process's arguments and set the exit code
 * from what it returns or throws.
 *
 * @example
 * ```ts
 * import { runMain } from "./script_main.ts";
 * if (import.meta.main) await runMain(async (args) => args.length);
 * ```
 */
export async function runMain(main: (args: string[]) => Promise<number>): Promise<void> {
  try {
    Deno.exitCode = await main(Deno.args);
  } catch (e) {
    if (!(e instanceof EsplineError)) throw e;
    console.error(`error: ${e.message}`);
    Deno.exitCode = e instanceof UsageError ? 2 : 1;
  }
}
