/**
 * The command-line edge every script shares: option-parsing mistakes become
 * one-line usage errors, and a script's errors become exit codes (2 for a
 * usage mistake, 1 for a failure) with the message on stderr instead of a
 * stack trace.
 *
 * @module
 */

import { EsplineError, UsageError } from "../lib/errors.ts";
import { type Journal, openJournal } from "../lib/station/journal.ts";

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

/**
 * A duration option in seconds (`--journal-timeout 5`), or undefined when
 * not given.
 *
 * @example
 * ```ts
 * import { parseSeconds } from "./script_main.ts";
 * console.log(parseSeconds("--journal-timeout", "2.5")); // 2.5
 * ```
 * @throws {UsageError} for anything but a positive number.
 */
export function parseSeconds(option: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n <= 0) {
    throw new UsageError(`${option} takes seconds, not "${value}"`);
  }
  return n;
}

/**
 * Open a station's journal (a file, or `postgres://…`), waiting at most
 * `timeoutSeconds` for it (default: the journal's own waits). Failing, the
 * typed error says the station did not start and no board was touched.
 *
 * @example
 * ```ts
 * import { openStationJournal } from "./script_main.ts";
 * await using journal = await openStationJournal(":memory:", 5);
 * ```
 */
export async function openStationJournal(
  target: string,
  timeoutSeconds?: number,
): Promise<Journal> {
  const ms = timeoutSeconds === undefined ? undefined : timeoutSeconds * 1000;
  try {
    return await openJournal(target, ms === undefined ? {} : { connectTimeoutMs: ms, retryMs: ms });
  } catch (e) {
    if (!(e instanceof EsplineError)) throw e;
    throw new EsplineError(
      e.code,
      `${e.message} (the station did not start: no board was touched)`,
      { cause: e, details: e.details },
    );
  }
}

if (import.meta.main) {
  console.log(`scripts/script_main.ts is a module, not a program: the entry-point helper of the
scripts in this folder (see deno run -A scripts/provision.ts --help).`);
}
