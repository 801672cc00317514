import assert from "node:assert/strict";
import {
  closestOption,
  expandArgFiles,
  nearestSizes,
  normalizeOptionToken,
  parseCommandLine,
  parseIntArg,
  suggest,
} from "./args.ts";
import type { CommandSpec, OptionSpec } from "./command.ts";
import { UsageError } from "../errors.ts";

const GLOBAL: Record<string, OptionSpec> = {
  port: { type: "string", short: "p", help: "" },
  help: { type: "boolean", short: "h", help: "" },
  before: { type: "string", choices: ["default-reset", "no-reset"], help: "" },
  json: { type: "boolean", help: "" },
};
const WRITE: CommandSpec = {
  name: "write-flash",
  aliases: ["write_flash"],
  summary: "",
  usage: "write-flash ADDRESS FILE …",
  options: {
    "flash-mode": { type: "string", choices: ["qio", "dio", "keep"], help: "" },
    compress: { type: "boolean", short: "z", help: "" },
    "erase-all": { type: "boolean", short: "e", help: "" },
  },
  positionals: [2, Infinity],
  run: () => Promise.resolve(),
};
const READ_MAC: CommandSpec = {
  ...WRITE,
  name: "read-mac",
  aliases: ["read_mac"],
  options: {},
  positionals: [0, 0],
};
const CMDS = [WRITE, READ_MAC];

function usageError(fn: () => unknown): UsageError {
  try {
    fn();
  } catch (e) {
    if (e instanceof UsageError) return e;
    throw e;
  }
  throw new Error("expected a UsageError");
}

Deno.test("hyphen and underscore spellings parse the same", () => {
  const a = parseCommandLine(
    ["-p", "/dev/x", "write-flash", "-z", "--flash-mode", "dio", "0x1000", "b.bin"],
    { commands: CMDS, globals: GLOBAL },
  );
  const b = parseCommandLine(
    ["--port=/dev/x", "write_flash", "-z", "--flash_mode", "DIO", "0x1000", "b.bin"],
    { commands: CMDS, globals: GLOBAL },
  );
  for (const p of [a, b]) {
    assert.equal(p.command?.name, "write-flash");
    assert.equal(p.global.port, "/dev/x");
    assert.equal(p.options["flash-mode"], "dio");
    assert.equal(p.options.compress, true);
    assert.deepEqual(p.positionals, ["0x1000", "b.bin"]);
  }
});

Deno.test("esptool's -fm short form and choice values with underscores", () => {
  const p = parseCommandLine(
    ["write_flash", "-fm", "qio", "--before", "no_reset", "0", "a"],
    { commands: CMDS, globals: GLOBAL },
  );
  assert.equal(p.options["flash-mode"], "qio");
  assert.equal(p.global.before, "no-reset");
});

Deno.test("global options after the command are accepted", () => {
  const p = parseCommandLine(["read_mac", "--port", "sim://esp32", "--json"], {
    commands: CMDS,
    globals: GLOBAL,
  });
  assert.equal(p.global.port, "sim://esp32");
  assert.equal(p.global.json, true);
});

Deno.test("unknown command suggests the close one", () => {
  assert.match(
    usageError(() => parseCommandLine(["write-flsh"], { commands: CMDS, globals: GLOBAL })).message,
    /did you mean write-flash/,
  );
});

Deno.test("unknown option: one line naming it, the closest one, and where the options are listed", () => {
  const e = usageError(() =>
    parseCommandLine(["write-flash", "--flash-mod", "dio", "0", "a"], {
      commands: CMDS,
      globals: GLOBAL,
      programName: "deno task cli",
    })
  );
  assert.equal(e.code, "E_UNKNOWN_OPTION");
  assert.equal(
    e.message,
    "unknown option --flash-mod for write-flash: did you mean --flash-mode? " +
      "(`deno task cli help write-flash` lists the options)",
  );
  assert.equal(closestOption("--erase_al", WRITE.options), "--erase-all");
  assert.equal(closestOption("-Z", WRITE.options), "-z");
  assert.equal(closestOption("--completely-different", WRITE.options), null);
  const far = usageError(() =>
    parseCommandLine(["read-mac", "--zzzzzz"], { commands: CMDS, globals: GLOBAL })
  );
  assert.equal(
    far.message,
    "unknown option --zzzzzz for read-mac (`espline help read-mac` lists the options)",
  );
});

Deno.test("--help and -h skip the argument counts (help is shown instead of an error)", () => {
  for (const flag of ["--help", "-h"]) {
    const p = parseCommandLine(["write-flash", flag], { commands: CMDS, globals: GLOBAL });
    assert.equal(p.command?.name, "write-flash");
    assert.equal(p.global.help, true);
  }
  assert.throws(
    () => parseCommandLine(["write-flash"], { commands: CMDS, globals: GLOBAL }),
    UsageError,
  );
});

Deno.test("a size that is not a valid flash size suggests the valid ones either side", () => {
  const sizes = ["detect", "keep", "256kb", "512kb", "1mb", "2mb", "2mb-c1", "4mb", "16mb"];
  assert.equal(nearestSizes("3MB", sizes), "2MB or 4MB");
  assert.equal(nearestSizes("768k", sizes), "512KB or 1MB");
  assert.equal(nearestSizes("64MB", sizes), "16MB");
  assert.equal(nearestSizes("fast", sizes), null);
  const spec: CommandSpec = {
    ...WRITE,
    options: { "flash-size": { type: "string", choices: sizes, help: "" } },
  };
  const e = usageError(() =>
    parseCommandLine(["write-flash", "--flash-size", "3MB", "0", "a"], {
      commands: [spec],
      globals: GLOBAL,
    })
  );
  assert.match(
    e.message,
    /invalid value "3MB" for --flash-size: .* \(did you mean 2MB or 4MB\?\)$/,
  );
});

Deno.test("bad choice lists the valid ones", () => {
  const e = usageError(() =>
    parseCommandLine(["write-flash", "--flash-mode", "quad", "0", "a"], {
      commands: CMDS,
      globals: GLOBAL,
    })
  );
  assert.match(e.message, /choose one of qio, dio, keep/);
});

Deno.test("missing option value and wrong positional counts are usage errors", () => {
  assert.match(
    usageError(() =>
      parseCommandLine(["write-flash", "0", "a", "--flash-mode"], {
        commands: CMDS,
        globals: GLOBAL,
      })
    )
      .message,
    /needs a value/,
  );
  assert.match(
    usageError(() =>
      parseCommandLine(["write-flash", "0x1000"], { commands: CMDS, globals: GLOBAL })
    ).message,
    /at least 2/,
  );
  assert.match(
    usageError(() => parseCommandLine(["read-mac", "extra"], { commands: CMDS, globals: GLOBAL }))
      .message,
    /unexpected "extra"/,
  );
});

Deno.test("normalizeOptionToken keeps values intact", () => {
  assert.equal(normalizeOptionToken("--flash_mode=keep_me"), "--flash-mode=keep_me");
  assert.equal(normalizeOptionToken("file_name.bin"), "file_name.bin");
});

Deno.test("parseIntArg reads hex, decimal and size suffixes; rejects junk", () => {
  assert.equal(parseIntArg("0x1000"), 0x1000);
  assert.equal(parseIntArg("4096"), 4096);
  assert.equal(parseIntArg("4M"), 4 * 1024 * 1024);
  assert.equal(parseIntArg("64k"), 65536);
  assert.equal(parseIntArg("0x10zz"), null);
  assert.equal(parseIntArg(""), null);
});

Deno.test("suggest ignores far-away words", () => {
  assert.equal(suggest("erase-flash", ["erase-flash", "read-mac"]), "erase-flash");
  assert.equal(suggest("xyz", ["erase-flash"]), null);
});

Deno.test("@file argument files expand in place; a missing one is a usage error", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/args.txt`,
      "# flash set\n0x1000 boot.bin\n0x10000 'my app.bin'\n",
    );
    assert.deepEqual(expandArgFiles(["write-flash", `@${dir}/args.txt`]), [
      "write-flash",
      "0x1000",
      "boot.bin",
      "0x10000",
      "my app.bin",
    ]);
    assert.match(
      usageError(() => expandArgFiles([`@${dir}/nope.txt`])).message,
      /argument file not found/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
