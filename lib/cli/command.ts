/**
 * The shape of one CLI command. Each area of the CLI (device commands, image
 * tools, ports …) exports a list of {@link CommandSpec}s; `main.ts` gathers
 * them, parses arguments (accepting `--flash-mode` and `--flash_mode` alike)
 * and renders output.
 *
 * @module
 */

import type { UsageError } from "../errors.ts";

/** One option of a command. Names are written in hyphen form; underscore spellings are accepted too. */
export interface OptionSpec {
  /** `string` takes a value, `boolean` is a flag. */
  type: "string" | "boolean";
  /** One-letter alias, e.g. `z` for `--compress`. */
  short?: string;
  /** May be given several times (values collected in an array). */
  multiple?: boolean;
  /** Allowed values (hyphen form; underscore spellings of them are accepted). */
  choices?: string[];
  /** Placeholder for the value in help text (`MODE`). */
  valueName?: string;
  /** One-line description for help. */
  help: string;
}

/** Parsed values of a command's own options, keyed by hyphen-form name. */
export type OptionValues = Record<string, string | boolean | string[] | undefined>;

/** Output sink chosen by the CLI: human text on a terminal, plain lines when piped, NDJSON with `--json`. */
export interface Output {
  /** True when `--json` was given. */
  readonly json: boolean;
  /** A line for people (printed to stdout in human mode, dropped in JSON mode). */
  info(text: string): void;
  /** A warning (stderr in human mode; a `{"event":"warning"}` line in JSON mode). */
  warn(text: string): void;
  /** The command's result: one JSON object line in JSON mode, `human` text otherwise. */
  result(data: Record<string, unknown>, human?: string): void;
  /** A progress or log event (NDJSON in JSON mode, a progress bar or plain line otherwise). */
  event(event: { type: string } & Record<string, unknown>): void;
}

/** Global options every command sees (esptool's `--port`, `--chip`, `--baud`, …). */
export interface GlobalOptions {
  /** Port path or URL (`/dev/ttyUSB0`, `sim://esp32`, `socket://host:port`, `rfc2217://…`, `auto`). */
  port: string;
  /** Chip key (`esp32s3`) or `auto`. */
  chip: string;
  /** Baud rate to work at after connecting. */
  baud: number;
  /** Reset strategy before connecting (`default-reset`, `usb-reset`, `no-reset`, `no-reset-no-sync`). */
  before: string;
  /** What to do after the command (`hard-reset`, `soft-reset`, `no-reset`, `no-reset-stub`, `watchdog-reset`). */
  after: string;
  /** How many times to try connecting (0 = keep trying). */
  connectAttempts: number;
  /** Use the flasher stub (default true; `--no-stub` turns it off). */
  stub: boolean;
  /** Folder of esptool-format stub JSON files, or `auto` (`--stub-dir`, env ESPLINE_STUB_DIR). */
  stubDir?: string;
  /** Machine-readable output. */
  json: boolean;
  /** Narrow `--port auto` to matching ports (`vid=303a,pid=1001,serial=…`). */
  portFilter?: string;
  /** Print protocol traffic. */
  trace: boolean;
}

/** What a command's `run` receives. */
export interface CommandContext {
  /** The command's own options. */
  options: OptionValues;
  /** Positional arguments after the command name. */
  positionals: string[];
  /** Global options. */
  global: GlobalOptions;
  /** Where to write results. */
  out: Output;
  /** AbortSignal that fires on Ctrl-C. */
  signal: AbortSignal;
  /** Build a usage error for this command (its message is shown with the command's usage line). */
  usage(message: string): UsageError;
}

/** One CLI command. */
export interface CommandSpec {
  /** Name in hyphen form (`image-info`); the underscore form is accepted too. */
  name: string;
  /** Other names (esptool's older names). */
  aliases?: string[];
  /** One-line summary for `--help`. */
  summary: string;
  /** Usage line after the program name, e.g. `image-info [--chip CHIP] FILE`. */
  usage: string;
  /** The command's own options. */
  options: Record<string, OptionSpec>;
  /** Number of positionals accepted: `[min, max]` (max `Infinity` for many). */
  positionals: [number, number];
  /** Run it. Throw an {@link EsplineError} subclass on failure; the CLI prints it. */
  run(ctx: CommandContext): Promise<void>;
}
