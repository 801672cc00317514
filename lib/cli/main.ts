/**
 * The CLI: gathers the command lists, parses arguments, runs the command
 * and turns errors into messages and exit codes.
 *
 * Exit codes: 0 ok, 1 the operation failed, 2 usage mistake, 130 Ctrl-C.
 *
 * @module
 */

import { AbortedError, EsplineError, UsageError } from "../errors.ts";
import { expandArgFiles, parseCommandLine, parseIntArg } from "./args.ts";
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

function helpText(command: CommandSpec | null): string {
  const lines: string[] = [];
  const fmt = (name: string, spec: OptionSpec) => {
    const flag = `${spec.short ? `-${spec.short}, ` : "    "}--${name}${
      spec.type === "string" ? ` ${spec.valueName ?? "VALUE"}` : ""
    }`;
    const choices = spec.choices ? ` (${spec.choices.join(", ")})` : "";
    return `  ${flag.padEnd(34)} ${spec.help}${choices}`;
  };
  if (command) {
    lines.push(`usage: espline ${command.usage}`, "", command.summary, "");
    if (Object.keys(command.options).length) {
      lines.push("options:");
      for (const [n, s] of Object.entries(command.options)) lines.push(fmt(n, s));
      lines.push("");
    }
  } else {
    lines.push(
      `espline ${VERSION}: flash and provision Espressif chips (esptool-compatible commands)`,
      "",
      "usage: espline [global options] COMMAND [options] [arguments]",
      "",
      "commands (hyphen or underscore spelling):",
    );
    for (const c of COMMANDS) lines.push(`  ${c.name.padEnd(18)} ${c.summary}`);
    lines.push("");
  }
  lines.push("global options:");
  for (const [n, s] of Object.entries(GLOBAL_OPTIONS)) lines.push(fmt(n, s));
  return lines.join("\n");
}

/** Options for {@link runCli}. */
export interface RunCliOptions {
  /** Output sinks; default the process's stdout/stderr. */
  sinks?: OutputSinks;
  /** Cancellation (Ctrl-C); default none. */
  signal?: AbortSignal;
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
  const wantsJson = argv.includes("--json");
  let out: Output = wantsJson ? new JsonOutput(sinks) : new HumanOutput(sinks);
  try {
    const parsed = parseCommandLine(expandArgFiles(argv), [...COMMANDS], GLOBAL_OPTIONS);
    if (parsed.global.help || !parsed.command) {
      if (!parsed.command && !parsed.global.help) {
        sinks.stderr(helpText(null) + "\n");
        return 2;
      }
      sinks.stdout(helpText(parsed.command) + "\n");
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
        new UsageError(`${command.name}: ${message} (usage: espline ${command.usage})`),
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
