/**
 * What a person types to run espline's command line, for messages that tell
 * them what to do next ("`espline list-ports` shows what is there").
 *
 * The entry point decides it once ({@link setProgramName}): `cli.ts` says
 * `espline` when it runs as the installed command (`deno task install`),
 * `deno task cli` when a Deno task runs it, and `deno run -A …/cli.ts`
 * otherwise. A script built on the API that never sets it gets `espline`
 * when an `espline` command is on the PATH, else the `deno run` line for
 * this checkout's cli.ts.
 *
 * @module
 */

/**
 * The first argument the installed launcher passes, then the command's name
 * (`deno task install` bakes `--installed-as espline` into it), so the CLI
 * knows it runs as the installed command.
 */
export const INSTALLED_AS_FLAG = "--installed-as";

let chosen: string | null = null;
let fallback: string | null = null;

/** Whether an executable named `name` is in one of the PATH's folders. */
function onPath(name: string): boolean {
  let path: string | undefined;
  try {
    path = Deno.env.get("PATH");
  } catch {
    return false; // no --allow-env: do not guess
  }
  const windows = Deno.build.os === "windows";
  for (const dir of (path ?? "").split(windows ? ";" : ":")) {
    if (!dir) continue;
    for (const file of windows ? [`${name}.cmd`, `${name}.exe`, name] : [name]) {
      try {
        if (Deno.statSync(`${dir}/${file}`).isFile) return true;
      } catch {
        // not here
      }
    }
  }
  return false;
}

/** `deno run -A` and this checkout's cli.ts (a path when it is a local file). */
export function denoRunCommand(): string {
  const cli = new URL("../cli.ts", import.meta.url);
  return `deno run -A ${cli.protocol === "file:" ? cli.pathname : cli.href}`;
}

/**
 * The command a person types to run espline's CLI, without arguments:
 * `espline`, `deno task cli`, or `deno run -A /path/to/cli.ts`.
 *
 * @example
 * ```ts
 * import { programName } from "./program_name.ts";
 * console.log(`run \`${programName()} list-ports\` to see the ports`);
 * ```
 */
export function programName(): string {
  if (chosen !== null) return chosen;
  return fallback ??= onPath("espline") ? "espline" : denoRunCommand();
}

/**
 * Set the name messages use (the CLI's entry point does, once, at start);
 * `null` goes back to the default.
 *
 * @example
 * ```ts
 * import { programName, setProgramName } from "./program_name.ts";
 * setProgramName("deno task cli");
 * console.log(programName()); // "deno task cli"
 * ```
 */
export function setProgramName(name: string | null): void {
  chosen = name;
}
