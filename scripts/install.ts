/**
 * Install the `espline` command from this checkout (no download: Deno
 * installs a small launcher that runs this folder's cli.ts with its
 * deno.json), then run it once from another folder to prove it works.
 *
 *     deno task install                 # into Deno's bin folder (~/.deno/bin)
 *     deno task install --root ~/.local # into ~/.local/bin
 *
 * Run it again after pulling changes that touch deno.json. Remove it with
 * `deno uninstall -g espline`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { UsageError } from "../lib/errors.ts";
import { INSTALLED_AS_FLAG } from "../lib/program_name.ts";
import { parseOrUsage, runMain } from "./script_main.ts";

const HELP = `Install the espline command from this checkout.

usage: deno task install [--name NAME] [--root DIR]

  --name NAME   command name (default espline)
  --root DIR    install into DIR/bin (default: $DENO_INSTALL_ROOT/bin, else ~/.deno/bin)
  -h, --help    this help

examples:
  deno task install
  deno task install --root ~/.local        # ~/.local/bin is often on the PATH already

Afterwards \`espline --help\` works from any folder (put the bin folder on your PATH
if the install says so). Remove it with \`deno uninstall -g espline\`.
`;

/** This checkout's folder. */
const ROOT = fileURLToPath(new URL("../", import.meta.url));

/** The bin folder `deno install -g` writes to, as Deno chooses it. */
function binDir(root: string | undefined): string {
  const base = root ?? Deno.env.get("DENO_INSTALL_ROOT") ??
    `${Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE") ?? "~"}/.deno`;
  return `${base.replace(/\/+$/, "")}/bin`;
}

async function main(args: string[]): Promise<number> {
  const { values } = parseOrUsage(() =>
    parseArgs({
      args,
      options: {
        name: { type: "string", default: "espline" },
        root: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    })
  );
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const name = values.name;
  if (!/^[A-Za-z0-9._-]+$/.test(name)) {
    throw new UsageError(`--name ${name}: use letters, digits, dots, dashes or underscores`);
  }
  const installArgs = [
    "install",
    "--global",
    "--allow-all",
    "--force",
    "--name",
    name,
    "--config",
    `${ROOT}deno.json`,
    ...(values.root ? ["--root", values.root] : []),
    `${ROOT}cli.ts`,
    "--",
    INSTALLED_AS_FLAG,
    name,
  ];
  console.log(`deno ${installArgs.join(" ")}`);
  const installed = await new Deno.Command(Deno.execPath(), {
    args: installArgs,
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!installed.success) {
    console.error(`error: deno install failed (exit ${installed.code}); nothing else was changed`);
    return 1;
  }
  const dir = binDir(values.root);
  const launcher = `${dir}/${Deno.build.os === "windows" ? `${name}.cmd` : name}`;
  // Prove it: run the installed command from a folder outside the checkout.
  const elsewhere = await Deno.makeTempDir({ prefix: "espline-install-check-" });
  try {
    const check = await new Deno.Command(launcher, {
      args: ["version"],
      cwd: elsewhere,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const said = new TextDecoder().decode(check.stdout).trim();
    if (!check.success) {
      console.error(
        `error: ${launcher} was installed but does not run: ${
          new TextDecoder().decode(check.stderr).trim()
        }`,
      );
      return 1;
    }
    console.log(`\n${launcher}: ${said}`);
  } finally {
    await Deno.remove(elsewhere, { recursive: true }).catch(() => {});
  }
  const onPath = (Deno.env.get("PATH") ?? "").split(Deno.build.os === "windows" ? ";" : ":")
    .some((p) => p.replace(/\/+$/, "") === dir);
  if (onPath) {
    console.log(`Installed: \`${name} --help\` works from any folder.`);
  } else {
    console.log(
      `Installed, but ${dir} is not on your PATH: add it (e.g. in ~/.profile)\n` +
        `  export PATH="${dir}:$PATH"\n` +
        `then \`${name} --help\` works from any folder.`,
    );
  }
  return 0;
}

if (import.meta.main) await runMain(main);
