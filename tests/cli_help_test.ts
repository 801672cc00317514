/**
 * The first hour with the CLI: every command and entry point answers
 * `--help`, `help COMMAND` works as esptool users expect, mistakes are one
 * line naming what to type, relative paths mean the folder the person ran
 * the command from, and messages name the command they actually type.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { COMMANDS, runCli } from "../lib/cli/main.ts";
import { detectInvocation } from "../lib/cli/invocation.ts";
import { programName, setProgramName } from "../lib/program_name.ts";
import { runDeno } from "./support/run_deno.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

async function cli(args: string[], programName = "espline") {
  let out = "";
  let err = "";
  const code = await runCli(args, {
    sinks: { stdout: (t) => (out += t), stderr: (t) => (err += t), isTerminal: false },
    programName,
  });
  return { code, out, err };
}

Deno.test("every command answers --help and -h: usage, summary and examples, exit 0, no argument errors", async () => {
  for (const command of COMMANDS) {
    for (const flag of ["--help", "-h"]) {
      const r = await cli([command.name, flag], "deno task cli");
      assert.equal(r.code, 0, `${command.name} ${flag}: ${r.err}`);
      assert.equal(r.err, "");
      const lines = r.out.split("\n");
      assert.equal(lines[0], `usage: deno task cli ${command.usage}`);
      assert.equal(lines[2], command.summary);
      assert.ok(command.examples?.length, `${command.name} has no examples`);
      const at = lines.indexOf("examples:");
      assert.ok(at > 0, `${command.name} --help shows examples`);
      assert.match(lines[at + 1], new RegExp(`^ {2}deno task cli .*${command.name.split("-")[0]}`));
    }
  }
  // The underscore spelling asks for the same help.
  const r = await cli(["merge_bin", "--help"]);
  assert.equal(r.code, 0);
  assert.match(r.out, /^usage: espline merge-bin /);
});

Deno.test("`help` and `help COMMAND` work; a misspelt one suggests the right name", async () => {
  const all = await cli(["help"]);
  assert.equal(all.code, 0);
  for (const c of COMMANDS) assert.match(all.out, new RegExp(`^ {2}${c.name} +\\S`, "m"));
  assert.match(all.out, /`espline help COMMAND` \(or COMMAND --help\)/);
  const one = await cli(["help", "read_flash"]);
  assert.equal(one.code, 0);
  assert.match(one.out, /^usage: espline read-flash ADDRESS SIZE FILE$/m);
  assert.match(one.out, /^ {2}espline -p \/dev\/ttyUSB0 read-flash 0 ALL backup\.bin/m);
  const typo = await cli(["help", "erase-flsh"]);
  assert.equal(typo.code, 2);
  assert.equal(
    typo.err.trim(),
    'error: unknown command "erase-flsh": did you mean erase-flash? (`espline help` lists the commands)',
  );
});

Deno.test("mistakes are one line that names the program the person typed", async () => {
  const missing = await cli(["merge-bin", "-o", "x.bin"], "deno task cli");
  assert.equal(missing.code, 2);
  assert.equal(missing.err.trim().split("\n").length, 1);
  assert.match(
    missing.err,
    /merge-bin needs at least 2 arguments: usage: deno task cli merge-bin /,
  );
  const option = await cli(["-p", "sim://esp32", "read-mac", "--baut", "9600"], "espline");
  assert.equal(option.code, 2);
  assert.equal(
    option.err.trim(),
    "error: unknown option --baut for read-mac: did you mean --baud? (`espline help read-mac` lists the options)",
  );
});

Deno.test("where the person ran the command: INIT_CWD under `deno task cli`, the installed name, the plain cwd", () => {
  const env = (vars: Record<string, string>) => (n: string) => vars[n];
  const project = "/home/ana/espline";
  const task = detectInvocation({
    args: ["write-flash", "0x10000", "payload.bin"],
    env: env({ ESPLINE_TASK: "cli", INIT_CWD: "/home/ana/fw" }),
    cwd: project,
    projectDir: project,
  });
  assert.deepEqual(task, {
    programName: "deno task --config /home/ana/espline/deno.json cli",
    cwd: "/home/ana/fw",
    args: ["write-flash", "0x10000", "payload.bin"],
  });
  const inside = detectInvocation({
    args: ["read-flash", "0", "16", "out.bin"],
    env: env({ ESPLINE_TASK: "cli", INIT_CWD: `${project}/lib` }),
    cwd: project,
    projectDir: project,
  });
  assert.equal(inside.cwd, `${project}/lib`);
  assert.equal(inside.programName, "deno task cli");
  const installed = detectInvocation({
    args: ["--installed-as", "espline", "chip-id"],
    // A stale INIT_CWD from some outer task does not move the installed command.
    env: env({ INIT_CWD: "/somewhere/else" }),
    cwd: "/home/ana/fw",
    projectDir: project,
  });
  assert.deepEqual(installed, { programName: "espline", cwd: "/home/ana/fw", args: ["chip-id"] });
  const direct = detectInvocation({
    args: ["version"],
    env: env({ INIT_CWD: "/somewhere/else" }),
    cwd: "/home/ana/fw",
    projectDir: project,
  });
  assert.deepEqual(direct, { programName: null, cwd: "/home/ana/fw", args: ["version"] });
  assert.equal(
    detectInvocation({ args: [], env: env({}), cwd: project, projectDir: project }).programName,
    "deno run -A cli.ts",
  );
});

Deno.test("the program name the entry point sets is what library messages use", () => {
  try {
    setProgramName("deno task cli");
    assert.equal(programName(), "deno task cli");
    setProgramName(null);
    assert.match(programName(), /^(espline|deno run -A \S+\/cli\.ts)$/);
  } finally {
    setProgramName(null);
  }
});

Deno.test("`deno task cli` from a firmware folder reads and writes files there", async () => {
  const dir = await Deno.makeTempDir({ prefix: "espline-help-test-" });
  try {
    await Deno.writeFile(`${dir}/payload.bin`, new Uint8Array(3000).map((_, i) => i * 13));
    // As from a person's shell: Deno keeps an INIT_CWD it inherits (from `deno task test`, say),
    // so the child gets a clean environment and Deno sets INIT_CWD to this folder itself.
    const env: Record<string, string> = { NO_COLOR: "1" };
    for (const name of ["PATH", "HOME", "DENO_DIR", "XDG_CACHE_HOME", "TMPDIR"]) {
      const value = Deno.env.get(name);
      if (value !== undefined) env[name] = value;
    }
    const run = (args: string[]) =>
      new Deno.Command(Deno.execPath(), {
        args: ["task", "--config", `${ROOT}deno.json`, "cli", ...args],
        cwd: dir,
        clearEnv: true,
        env,
        stdout: "piped",
        stderr: "piped",
      }).output();
    const port = `sim://esp32c3?flash=sim.bin&mac=02:00:00:00:00:31`;
    const w = await run(["-p", port, "write-flash", "0x10000", "payload.bin"]);
    const wOut = new TextDecoder().decode(w.stdout) + new TextDecoder().decode(w.stderr);
    assert.equal(w.code, 0, wOut);
    const r = await run(["-p", port, "read-flash", "0x10000", "3000", "back.bin"]);
    assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
    assert.deepEqual(
      await Deno.readFile(`${dir}/back.bin`),
      await Deno.readFile(`${dir}/payload.bin`),
    );
    assert.ok((await Deno.stat(`${dir}/sim.bin`)).isFile, "the sim:// flash file is there too");
    const missing = await run(["-p", port, "write-flash", "0x10000", "nothere.bin"]);
    const text = new TextDecoder().decode(missing.stderr);
    assert.equal(missing.code, 2);
    assert.match(text, /file not found: nothere\.bin/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("entry points answer --help: the demo, the install step, the examples, the dashboard demo", async () => {
  for (
    const [file, want] of [
      ["scripts/demo.ts", /^usage: deno task demo/m],
      ["scripts/install.ts", /^usage: deno task install/m],
      ["examples/station.ts", /^usage: deno run -A examples\/station\.ts/m],
      ["examples/line.ts", /^usage: deno run -A examples\/line\.ts/m],
      ["scripts/demo_line.ts", /^usage: deno run -A scripts\/demo_line/m],
    ] as const
  ) {
    const r = await runDeno(file, ["--help"]);
    assert.equal(r.code, 0, `${file}: ${r.out}`);
    assert.match(r.out, want, file);
  }
});

Deno.test("`deno task install` gives a working `espline` command that runs from any folder", async () => {
  const root = await Deno.makeTempDir({ prefix: "espline-install-test-" });
  try {
    const install = await runDeno("scripts/install.ts", ["--root", root]);
    assert.equal(install.code, 0, install.out);
    assert.match(install.out, /: espline \d+\.\d+\.\d+ \(Deno /, "it ran the installed command");
    assert.match(install.out, /is not on your PATH: add it/);
    const launcher = `${root}/bin/espline`;
    const run = async (args: string[]) => {
      const o = await new Deno.Command(launcher, {
        args,
        cwd: root,
        env: { NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      return {
        code: o.code,
        out: new TextDecoder().decode(o.stdout),
        err: new TextDecoder().decode(o.stderr),
      };
    };
    const help = await run(["--help"]);
    assert.equal(help.code, 0, help.err);
    assert.match(help.out, /^usage: espline \[global options\] COMMAND/m);
    // The import map (npm packages) works: a write compresses with fflate.
    await Deno.writeFile(`${root}/app.bin`, new Uint8Array(20000).fill(7));
    const w = await run(["-p", "sim://esp32c3?flash=f.bin", "write-flash", "0x10000", "app.bin"]);
    assert.equal(w.code, 0, w.err);
    assert.match(w.out, /^Hash of data verified\.$/m);
    const nope = await run(["-p", "/dev/ttyESPLINE-none", "read-mac"]);
    assert.match(nope.err, /`espline list-ports` shows what is there/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
