/**
 * Run a Deno program of this project in a child process, as a person would
 * (`deno run -A FILE ARGS`), with the project's config, and collect what it
 * printed.
 *
 * @module
 */

const CONFIG = new URL("../../deno.json", import.meta.url).pathname;

/** What {@link runDeno} returns. */
export interface RunResult {
  /** Exit code. */
  code: number;
  /** Standard output then standard error. */
  out: string;
}

/** Run `file` (a path from the project root, e.g. `scripts/provision.ts`) with `args`, from `cwd`. */
export async function runDeno(
  file: string,
  args: string[],
  options: { cwd?: string } = {},
): Promise<RunResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--config",
      CONFIG,
      new URL(`../../${file}`, import.meta.url).pathname,
      ...args,
    ],
    cwd: options.cwd,
    stdout: "piped",
    stderr: "piped",
    env: { RUST_BACKTRACE: "0", NO_COLOR: "1" },
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { code: out.code, out: text };
}
