/**
 * Argument parsing for the esptool-compatible CLI.
 *
 * esptool users type `write_flash --flash_mode dio`, `write-flash --flash-mode
 * dio`, `-fm dio`, `--before default_reset`: all of them are accepted.
 * Global options may stand before or after the command. Mistakes become
 * {@link UsageError}s that say what to type instead.
 *
 * Built on node:util parseArgs; the normalisation around it is ours.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { UsageError } from "../errors.ts";
import type { CommandSpec, OptionSpec, OptionValues } from "./command.ts";

export { parseIntArg } from "../device/numbers.ts";

/** esptool's old two-letter short options (`-fm dio`), mapped to long names. */
const MULTI_LETTER_SHORTS: Record<string, string> = {
  "-fm": "--flash-mode",
  "-ff": "--flash-freq",
  "-fs": "--flash-size",
};

/** Normalise one option token: `--flash_mode=dio` → `--flash-mode=dio`. */
export function normalizeOptionToken(token: string): string {
  if (MULTI_LETTER_SHORTS[token]) return MULTI_LETTER_SHORTS[token];
  if (!token.startsWith("--") || token === "--") return token;
  const eq = token.indexOf("=");
  const name = eq < 0 ? token : token.slice(0, eq);
  const rest = eq < 0 ? "" : token.slice(eq);
  return name.toLowerCase().replaceAll("_", "-") + rest;
}

/** Normalise a choice value: `default_reset` → `default-reset`. */
export function normalizeChoice(value: string): string {
  return value.trim().toLowerCase().replaceAll("_", "-");
}

/** Result of {@link parseCommandLine}. */
export interface ParsedCommandLine {
  /** The command, or null when none was given. */
  command: CommandSpec | null;
  /** Global option values. */
  global: OptionValues;
  /** The command's own option values. */
  options: OptionValues;
  /** Positionals after the command name. */
  positionals: string[];
}

function levenshtein(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(
        d[i - 1][j] + 1,
        d[i][j - 1] + 1,
        d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
  }
  return d[a.length][b.length];
}

/** The closest of `candidates` to `word`, if it is close enough to be a likely typo. */
export function suggest(word: string, candidates: string[]): string | null {
  let best: string | null = null;
  let bestScore = Infinity;
  for (const c of candidates) {
    const score = levenshtein(word, c);
    if (score < bestScore) {
      bestScore = score;
      best = c;
    }
  }
  return best !== null && bestScore <= Math.max(2, Math.floor(word.length / 3)) ? best : null;
}

/**
 * The command called `name` (either spelling, or an alias).
 *
 * @throws {UsageError} `E_UNKNOWN_COMMAND`, suggesting the closest name.
 */
export function lookupCommand(
  name: string,
  commands: readonly CommandSpec[],
  programName = "espline",
): CommandSpec {
  const n = name.toLowerCase().replaceAll("_", "-");
  const found = commands.find((c) =>
    c.name === n || (c.aliases ?? []).some((a) => a.replaceAll("_", "-") === n)
  );
  if (found) return found;
  const names = commands.flatMap((c) => [c.name, ...(c.aliases ?? [])]);
  const guess = suggest(n, names);
  throw new UsageError(
    `unknown command "${name}"${
      guess ? `: did you mean ${guess}?` : ""
    } (\`${programName} help\` lists the commands)`,
    { code: "E_UNKNOWN_COMMAND" },
  );
}

function toParseArgsOptions(specs: Record<string, OptionSpec>) {
  const out: Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean }> =
    {};
  for (const [name, spec] of Object.entries(specs)) {
    out[name] = { type: spec.type };
    if (spec.short) out[name].short = spec.short;
    if (spec.multiple) out[name].multiple = true;
  }
  return out;
}

/** Options for {@link parseCommandLine}. */
export interface ParseCommandLineOptions {
  /** The commands to choose from. */
  commands: CommandSpec[];
  /** Options every command accepts (a `help` flag among them skips the argument counts). */
  globals: Record<string, OptionSpec>;
  /** What the person types to run the CLI, for usage lines. Default `espline`. */
  programName?: string;
}

/**
 * Parse `argv` into a command, its options and the global options. With
 * `--help`/`-h` the command's argument count is not checked (help is
 * shown instead).
 *
 * @throws {UsageError} for unknown commands or options, missing values and bad choices.
 * @example
 * ```ts
 * import { parseCommandLine } from "./args.ts";
 * const p = parseCommandLine(["--port", "sim://esp32"], { commands: [], globals: { port: { type: "string", help: "" } } });
 * console.log(p.global.port);
 * ```
 */
export function parseCommandLine(
  argv: string[],
  settings: ParseCommandLineOptions,
): ParsedCommandLine {
  const { commands, globals: globalSpecs } = settings;
  const prog = settings.programName ?? "espline";
  const tokens = argv.map(normalizeOptionToken);
  const valueTaking = new Set<string>();
  for (const [name, spec] of Object.entries(globalSpecs)) {
    if (spec.type === "string") {
      valueTaking.add(`--${name}`);
      if (spec.short) valueTaking.add(`-${spec.short}`);
    }
  }
  // Find the command: the first bare word that is not the value of a global option.
  let commandIndex = -1;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t === "--") break;
    if (t.startsWith("-") && t.length > 1) {
      if (valueTaking.has(t)) i++;
      continue;
    }
    commandIndex = i;
    break;
  }
  let command: CommandSpec | null = null;
  if (commandIndex >= 0) {
    command = lookupCommand(tokens[commandIndex], commands, prog);
    tokens.splice(commandIndex, 1);
  }
  const ownSpecs = command?.options ?? {};
  for (const name of Object.keys(ownSpecs)) {
    if (globalSpecs[name]) throw new Error(`internal: option --${name} is both global and local`);
  }
  const allSpecs = { ...globalSpecs, ...ownSpecs };
  let parsed;
  try {
    parsed = parseArgs({
      args: tokens,
      options: toParseArgsOptions(allSpecs),
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    throw translateParseError(e, allSpecs, command, prog);
  }
  const global: OptionValues = {};
  const options: OptionValues = {};
  for (const [name, value] of Object.entries(parsed.values)) {
    const spec = allSpecs[name];
    let v = value as string | boolean | string[] | undefined;
    if (spec?.choices && v !== undefined) v = checkChoice(name, v, spec.choices);
    if (globalSpecs[name]) global[name] = v;
    else options[name] = v;
  }
  const positionals = parsed.positionals;
  if (command && !global.help) {
    const [min, max] = command.positionals;
    if (positionals.length < min) {
      throw new UsageError(
        `${command.name} needs ${min === max ? min : `at least ${min}`} argument${
          min === 1 ? "" : "s"
        }: usage: ${prog} ${command.usage}`,
        { code: "E_MISSING_ARGUMENT" },
      );
    }
    if (positionals.length > max) {
      throw new UsageError(
        `${command.name} takes at most ${max} argument${
          max === 1 ? "" : "s"
        } but got ${positionals.length} ` +
          `(unexpected "${positionals[max]}"): usage: ${prog} ${command.usage}`,
        { code: "E_EXTRA_ARGUMENT" },
      );
    }
  }
  return { command, global, options, positionals };
}

/** Bytes in a size written `4MB`, `512kb`, `2M` …, or null when it is not one. */
function sizeBytes(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*([km])b?$/i.exec(text.trim());
  if (!m) return null;
  return Number(m[1]) * (m[2].toLowerCase() === "m" ? 1 << 20 : 1 << 10);
}

/**
 * For a size that is not among the choices (`3MB`), the valid sizes either
 * side of it, written as sizes are (`2MB or 4MB`); null when `value` is no
 * size or the choices hold none.
 *
 * @example
 * ```ts
 * import { nearestSizes } from "./args.ts";
 * nearestSizes("3MB", ["detect", "1mb", "2mb", "4mb"]); // "2MB or 4MB"
 * ```
 */
export function nearestSizes(value: string, choices: string[]): string | null {
  const want = sizeBytes(value);
  if (want === null) return null;
  const sizes = choices.map((c) => ({ c, n: sizeBytes(c) }))
    .filter((x): x is { c: string; n: number } => x.n !== null)
    .sort((a, b) => a.n - b.n);
  if (!sizes.length) return null;
  const show = (c: string) => c.toUpperCase();
  const below = sizes.filter((s) => s.n < want).pop();
  const above = sizes.find((s) => s.n > want);
  return [below, above].filter((s) => s !== undefined).map((s) => show(s!.c)).join(" or ");
}

function checkChoice(name: string, value: string | boolean | string[], choices: string[]) {
  const one = (v: string) => {
    const n = normalizeChoice(v);
    if (!choices.includes(n)) {
      const guess = nearestSizes(v, choices) ?? suggest(n, choices);
      throw new UsageError(
        `invalid value "${v}" for --${name}: choose one of ${choices.join(", ")}${
          guess ? ` (did you mean ${guess}?)` : ""
        }`,
        { code: "E_BAD_CHOICE" },
      );
    }
    return n;
  };
  if (typeof value === "string") return one(value);
  if (Array.isArray(value)) return value.map(one);
  return value;
}

function translateParseError(
  e: unknown,
  specs: Record<string, OptionSpec>,
  command: CommandSpec | null,
  prog: string,
): UsageError {
  const msg = e instanceof Error ? e.message : String(e);
  const code = (e as { code?: string }).code ?? "";
  const where = command ? ` for ${command.name}` : "";
  const unknown = /Unknown option '([^']+)'/.exec(msg);
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && unknown) {
    const opt = unknown[1];
    const guess = closestOption(opt, specs);
    const more = command ? `${prog} help ${command.name}` : `${prog} --help`;
    return new UsageError(
      `unknown option ${opt}${where}${guess ? `: did you mean ${guess}?` : ""} ` +
        `(\`${more}\` lists the options)`,
      { code: "E_UNKNOWN_OPTION" },
    );
  }
  const missing = /Option '(?:-\w, )?(--[^ ]+) <value>' argument missing/.exec(msg);
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" && missing) {
    return new UsageError(`option ${missing[1]} needs a value${where}`, {
      code: "E_MISSING_VALUE",
    });
  }
  return new UsageError(`${msg}${where}`, { code: "E_BAD_ARGUMENTS" });
}

/**
 * The option closest to a mistyped one, as it would be typed (`--flash-mode`,
 * `-z`), or null when none is close. A short option is matched against the
 * short letters first, then the long names.
 */
export function closestOption(typed: string, specs: Record<string, OptionSpec>): string | null {
  const bare = typed.replace(/^-+/, "").split("=")[0].toLowerCase();
  if (!typed.startsWith("--") && bare.length === 1) {
    const short = Object.entries(specs).find(([, s]) => s.short?.toLowerCase() === bare);
    if (short) return `-${short[1].short}`;
  }
  const guess = suggest(bare, Object.keys(specs));
  return guess ? `--${guess}` : null;
}

/** Split an argument file's text into words (whitespace-separated; single and double quotes group). */
function splitWords(text: string): string[] {
  const words: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  for (const line of text.split(/\r?\n/)) {
    if (line.trim().startsWith("#")) continue;
    for (const m of line.matchAll(re)) words.push(m[1] ?? m[2] ?? m[3]);
  }
  return words;
}

/**
 * Expand esptool-style argument files: a token `@name` is replaced by the
 * words in file `name` (nested files allowed, to a depth of 8).
 *
 * @throws {UsageError} when an argument file is missing.
 */
export function expandArgFiles(argv: string[], depth = 0): string[] {
  const out: string[] = [];
  for (const token of argv) {
    if (!token.startsWith("@") || token.length === 1) {
      out.push(token);
      continue;
    }
    if (depth > 8) throw new UsageError(`argument files nest too deeply at ${token}`);
    const path = token.slice(1);
    let text: string;
    try {
      text = Deno.readTextFileSync(path);
    } catch {
      throw new UsageError(`argument file not found: ${path} (from ${token})`, {
        code: "E_FILE_NOT_FOUND",
      });
    }
    out.push(...expandArgFiles(splitWords(text), depth + 1));
  }
  return out;
}
