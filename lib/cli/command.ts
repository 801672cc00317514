/**
 * The shape of one CLI command. Each area of the CLI (device commands, image
 * tools, ports …) exports a list of {@link CommandSpec}s; `main.ts` gathers
 * them, parses arguments (accepting `--flash-mode` and `--flash_mode` alike)
 * and renders output.
 *
 * @module
 */

import type { UsageError } from "../errors.ts";
import type { NormalizedConnectOptions } from "../loader/connect_options.ts";

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

/**
 * Global options every command sees: esptool's `--port`, `--chip`, `--baud`,
 * `--before`, `--after` … as one checked {@link NormalizedConnectOptions}
 * (the reset settings from esptool.cfg included, read once by `runCli`),
 * plus `--json`.
 */
export interface GlobalOptions extends NormalizedConnectOptions {
  /** Machine-readable output. */
  json: boolean;
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
  /** What the person types to run the CLI (`espline`, `deno task cli` …), for messages. */
  programName: string;
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
  /**
   * Example command lines after the program name, shown by `--help` (one
   * per line; a `#` starts a comment), e.g. `-p /dev/ttyUSB0 chip-id`.
   */
  examples?: string[];
  /** The command's own options. */
  options: Record<string, OptionSpec>;
  /** Runs without a board (image tools, port listing): esptool.cfg is not read for it. Default false. */
  hostOnly?: boolean;
  /** Number of positionals accepted: `[min, max]` (max `Infinity` for many). */
  positionals: [number, number];
  /** Run it. Throw an {@link EsplineError} subclass on failure; the CLI prints it. */
  run(ctx: CommandContext): Promise<void>;
}
