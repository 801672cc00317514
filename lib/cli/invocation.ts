/**
 * How the person started the CLI: the folder their relative paths mean and
 * what they type to run it again (for messages that say what to do next).
 *
 * - The installed command (`deno task install`) runs cli.ts with a leading
 *   `--installed-as NAME` baked into its launcher: messages say `NAME`.
 * - `deno task cli` sets `ESPLINE_TASK=cli`; Deno runs tasks in the
 *   project folder and passes the folder the person was in as `INIT_CWD`,
 *   so paths resolve against `INIT_CWD` and messages say `deno task cli`
 *   (with `--config` when that folder is outside the project).
 * - Run directly (`deno run -A cli.ts`): the working folder as it is.
 *
 * @module
 */

import { INSTALLED_AS_FLAG } from "../program_name.ts";

/** The value of `ESPLINE_TASK` that the `cli` task in deno.json sets. */
export const CLI_TASK_MARK = "cli";

/** What {@link detectInvocation} looks at. */
export interface InvocationFacts {
  /** The process's arguments. */
  args: string[];
  /** Reads an environment variable (undefined when unset or not allowed). */
  env: (name: string) => string | undefined;
  /** The process's working folder. */
  cwd: string;
  /** The project folder (where deno.json and cli.ts are). */
  projectDir: string;
}

/** What {@link detectInvocation} decides. */
export interface Invocation {
  /** The command to name in messages (`espline`, `deno task cli` …), or null for the default. */
  programName: string | null;
  /** The folder relative paths are resolved against. */
  cwd: string;
  /** The arguments meant for the CLI (the launcher's marker removed). */
  args: string[];
}

function inside(dir: string, parent: string): boolean {
  const p = parent.replace(/\/+$/, "");
  return dir === p || dir.startsWith(`${p}/`);
}

/**
 * Decide how the CLI was started (see the module notes).
 *
 * @example
 * ```ts
 * import { detectInvocation } from "./invocation.ts";
 * const inv = detectInvocation({
 *   args: ["write-flash", "0x10000", "app.bin"],
 *   env: (n) => ({ ESPLINE_TASK: "cli", INIT_CWD: "/home/me/fw" } as Record<string, string>)[n],
 *   cwd: "/home/me/espline",
 *   projectDir: "/home/me/espline",
 * });
 * console.log(inv.cwd, inv.programName); // /home/me/fw deno task --config /home/me/espline/deno.json cli
 * ```
 */
export function detectInvocation(facts: InvocationFacts): Invocation {
  const { args, env, cwd, projectDir } = facts;
  if (args[0] === INSTALLED_AS_FLAG && args.length >= 2) {
    return { programName: args[1], cwd, args: args.slice(2) };
  }
  if (env("ESPLINE_TASK") === CLI_TASK_MARK) {
    const from = env("INIT_CWD") || cwd;
    return {
      programName: inside(from, projectDir)
        ? "deno task cli"
        : `deno task --config ${projectDir.replace(/\/+$/, "")}/deno.json cli`,
      cwd: from,
      args,
    };
  }
  // Run directly: from the project folder the short form is what was typed; elsewhere the
  // default (the installed command when there is one, else the full `deno run` line).
  const atRoot = cwd.replace(/\/+$/, "") === projectDir.replace(/\/+$/, "");
  return { programName: atRoot ? "deno run -A cli.ts" : null, cwd, args };
}
