/**
 * The CLI: gathers the command lists, parses arguments, runs the command
 * and turns errors into messages and exit codes.
 *
 * Exit codes: 0 ok, 1 the operation failed, 2 usage mistake, 130 Ctrl-C.
 *
 * @module
 */

import { AbortedError, EsplineError, UsageError } from "../errors.ts";
import { expandArgFiles, lookupCommand, parseCommandLine, parseIntArg } from "./args.ts";
import type { CommandContext, CommandSpec, GlobalOptions, OptionSpec, Output } from "./command.ts";
import { HumanOutput, JsonOutput, type OutputSinks, processSinks } from "./output.ts";
import {
  AFTER_CHOICES,
  BEFORE_CHOICES,
  normalizeConnectOptions,
  parseAfter,
  parseBefore,
  parseChip,
} from "../loader/connect_options.ts";
import { readResetConfig, type ResetConfig } from "../loader/reset.ts";
import { DEVICE_COMMANDS, VERSION } from "./cmd_device.ts";
import { FLASH_COMMANDS } from "./cmd_flash.ts";
import { JOURNAL_COMMANDS } from "./cmd_journal.ts";
import { MONITOR_COMMANDS } from "./cmd_monitor.ts";
import { IMAGE_COMMANDS } from "./cmd_image.ts";
import { PORT_COMMANDS } from "./cmd_ports.ts";
import { NVS_COMMANDS } from "./cmd_nvs.ts";

/** Options every command accepts (esptool's global options). */
export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  port: {
    type: "string",
    short: "p",
    valueName: "PORT",
    help:
      "serial port, socket://host:port, rfc2217://host:port, sim://CHIP, or auto (default; env ESPTOOL_PORT)",
  },
  chip: {
    type: "string",
    short: "c",
    valueName: "CHIP",
    help: "expected chip (default auto-detect)",
  },
  baud: {
    type: "string",
    short: "b",
    valueName: "BAUD",
    help: "baud rate to work at (default 115200; env ESPTOOL_BAUD)",
  },
  before: { type: "string", choices: [...BEFORE_CHOICES], help: "how to enter download mode" },
  after: {
    type: "string",
    choices: [...AFTER_CHOICES],
    help: "what to do with the chip afterwards",
  },
  "connect-attempts": {
    type: "string",
    valueName: "N",
    help: "connection attempts, 0 = forever (default 7)",
  },
  "no-stub": { type: "boolean", help: "use the ROM loader only, without the flasher stub" },
  "stub-dir": {
    type: "string",
    valueName: "DIR",
    help:
      "flasher stubs from DIR (esptool 5's esptool/targets/stub_flasher/2) or auto (an installed esptool 5); default esptool-js's (env ESPLINE_STUB_DIR)",
  },
  "port-filter": {
    type: "string",
    valueName: "FILTER",
    help: "narrow --port auto: vid=303a,pid=1001,serial=…",
  },
  json: { type: "boolean", help: "print machine-readable NDJSON" },
  trace: { type: "boolean", short: "t", help: "print the protocol traffic" },
  help: { type: "boolean", short: "h", help: "show help" },
};

/** Every command the CLI knows, in help order. */
export const COMMANDS: readonly CommandSpec[] = [
  ...DEVICE_COMMANDS,
  ...FLASH_COMMANDS,
  ...MONITOR_COMMANDS,
  ...IMAGE_COMMANDS,
  ...NVS_COMMANDS,
  ...PORT_COMMANDS,
  ...JOURNAL_COMMANDS,
  // `help` itself; declared below (it lists the others).
];

/** Turn parsed global option values into checked connection options (the one place the CLI does it). */
function globalOptions(values: Record<string, unknown>, resetConfig: ResetConfig): GlobalOptions {
  const env = (name: string) => {
    try {
      return Deno.env.get(name);
    } catch {
      return undefined;
    }
  };
  const baudText = (values.baud as string | undefined) ?? env("ESPTOOL_BAUD") ?? "115200";
  const baud = parseIntArg(baudText);
  if (baud === null || baud < 300 || baud > 20_000_000) {
    throw new UsageError(`invalid --baud "${baudText}": give a number such as 115200 or 921600`);
  }
  const attemptsText = (values["connect-attempts"] as string | undefined) ?? "7";
  const attempts = parseIntArg(attemptsText);
  if (attempts === null) {
    throw new UsageError(
      `invalid --connect-attempts "${attemptsText}": give a whole number (0 = forever)`,
    );
  }
  const connect = normalizeConnectOptions({
    port: (values.port as string | undefined) ?? env("ESPTOOL_PORT") ?? "auto",
    chip: parseChip((values.chip as string | undefined) ?? "auto"),
    baud,
    before: parseBefore((values.before as string | undefined) ?? "default-reset"),
    after: parseAfter((values.after as string | undefined) ?? "hard-reset"),
    connectAttempts: attempts,
    stub: !values["no-stub"],
    stubDir: (values["stub-dir"] as string | undefined) ?? env("ESPLINE_STUB_DIR"),
    portFilter: values["port-filter"] as string | undefined,
    trace: Boolean(values.trace),
    resetConfig,
  });
  return { ...connect, json: Boolean(values.json) };
}

/** esptool-style usage and examples of the whole CLI (shown by `--help` and `help`). */
const GENERAL_EXAMPLES = [
  "list-ports",
  "-p /dev/ttyUSB0 chip-id",
  "-p /dev/ttyUSB0 -b 921600 write-flash 0x0 bootloader.bin 0x8000 partitions.bin 0x10000 app.bin",
  '-p "sim://esp32c3?mac=02:aa:bb:cc:dd:01" read-mac   # a virtual chip, no board needed',
];

function formatOption(name: string, spec: OptionSpec): string {
  const flag = `${spec.short ? `-${spec.short}, ` : "    "}--${name}${
    spec.type === "string" ? ` ${spec.valueName ?? "VALUE"}` : ""
  }`;
  const choices = spec.choices ? ` (${spec.choices.join(", ")})` : "";
  return `  ${flag.padEnd(34)} ${spec.help}${choices}`;
}

/**
 * The help text of one command (usage, summary, options, examples, global
 * options), or of the whole CLI when `command` is null.
 *
 * @example
 * ```ts
 * import { COMMANDS, helpText } from "./main.ts";
 * console.log(helpText(COMMANDS[0], "espline"));
 * ```
 */
export function helpText(command: CommandSpec | null, programName: string): string {
  const lines: string[] = [];
  const example = (e: string) => `  ${programName} ${e}`;
  if (command) {
    lines.push(`usage: ${programName} ${command.usage}`, "", command.summary, "");
    if (command.aliases?.length) {
      lines.push(`also spelled: ${command.aliases.join(", ")}`, "");
    }
    if (Object.keys(command.options).length) {
      lines.push("options:");
      for (const [n, s] of Object.entries(command.options)) lines.push(formatOption(n, s));
      lines.push("");
    }
    if (command.examples?.length) {
      lines.push("examples:", ...command.examples.map(example), "");
    }
  } else {
    lines.push(
      `espline ${VERSION}: flash and provision Espressif chips (esptool-compatible commands)`,
      "",
      `usage: ${programName} [global options] COMMAND [options] [arguments]`,
      "",
      "commands (hyphen or underscore spelling):",
    );
    for (const c of COMMANDS) lines.push(`  ${c.name.padEnd(18)} ${c.summary}`);
    lines.push(
      "",
      `\`${programName} help COMMAND\` (or COMMAND --help) shows a command's options and examples.`,
      "",
      "examples:",
      ...GENERAL_EXAMPLES.map(example),
      "",
    );
  }
  lines.push("global options (before or after the command):");
  for (const [n, s] of Object.entries(GLOBAL_OPTIONS)) lines.push(formatOption(n, s));
  return lines.join("\n");
}

/** `help [COMMAND]`: what esptool users type for help. */
const HELP_COMMAND: CommandSpec = {
  name: "help",
  summary: "show the commands, or one command's options and examples",
  usage: "help [COMMAND]",
  examples: ["help", "help write-flash"],
  options: {},
  hostOnly: true,
  positionals: [0, 1],
  run(ctx) {
    const name = ctx.positionals[0];
    const command = name === undefined
      ? null
      : lookupCommand(name, [...COMMANDS, HELP_COMMAND], ctx.programName);
    ctx.out.info(helpText(command, ctx.programName));
    return Promise.resolve();
  },
};

/** Options for {@link runCli}. */
export interface RunCliOptions {
  /** Output sinks; default the process's stdout/stderr. */
  sinks?: OutputSinks;
  /** Cancellation (Ctrl-C); default none. */
  signal?: AbortSignal;
  /**
   * What the person types to run the CLI, for usage lines and hints. Default
   * `espline` (cli.ts passes what was typed: see lib/cli/invocation.ts).
   */
  programName?: string;
}

/**
 * Run the CLI with `argv` and return the exit code.
 *
 * @example
 * ```ts
 * import { runCli } from "./main.ts";
 * const code = await runCli(["--port", "sim://esp32", "read-mac"]);
 * ```
 */
export async function runCli(argv: string[], options: RunCliOptions = {}): Promise<number> {
  const sinks = options.sinks ?? processSinks();
  const prog = options.programName ?? "espline";
  const wantsJson = argv.includes("--json");
  let out: Output = wantsJson ? new JsonOutput(sinks) : new HumanOutput(sinks);
  try {
    const parsed = parseCommandLine(expandArgFiles(argv), {
      commands: [...COMMANDS, HELP_COMMAND],
      globals: GLOBAL_OPTIONS,
      programName: prog,
    });
    if (parsed.global.help || !parsed.command) {
      if (!parsed.command && !parsed.global.help) {
        sinks.stderr(helpText(null, prog) + "\n");
        return 2;
      }
      sinks.stdout(helpText(parsed.command, prog) + "\n");
      return 0;
    }
    const command = parsed.command;
    // esptool.cfg and friends: read once, here, for commands that talk to a board.
    const resetConfig = command.hostOnly ? {} : readResetConfig();
    const global = globalOptions(parsed.global, resetConfig);
    out = global.json ? new JsonOutput(sinks) : new HumanOutput(sinks);
    const ctx: CommandContext = {
      options: parsed.options,
      positionals: parsed.positionals,
      global,
      out,
      signal: options.signal ?? new AbortController().signal,
      usage: (message: string) =>
        new UsageError(`${command.name}: ${message} (usage: ${prog} ${command.usage})`),
      programName: prog,
    };
    await command.run(ctx);
    return 0;
  } catch (e) {
    return reportError(e, out, sinks);
  }
}

function reportError(e: unknown, out: Output, sinks: OutputSinks): number {
  const code = e instanceof AbortedError ? 130 : e instanceof UsageError ? 2 : 1;
  if (out.json) {
    const err = e instanceof EsplineError
      ? { code: e.code, message: e.message, details: e.details }
      : { code: "E_INTERNAL", message: String(e instanceof Error ? e.message : e) };
    sinks.stdout(JSON.stringify({ event: "error", ...err }) + "\n");
  } else if (e instanceof EsplineError) {
    sinks.stderr(
      `\n${e instanceof UsageError ? "error" : "A fatal error occurred"}: ${e.message}\n`,
    );
  } else {
    const err = e instanceof Error ? e : new Error(String(e));
    sinks.stderr(
      `\nInternal error: ${err.message}\nThis is a bug in espline; please report it with this trace:\n${
        err.stack ?? ""
      }\n`,
    );
  }
  return code;
}
