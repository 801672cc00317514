/**
 * `journal` CLI command: summary, history of a MAC, export as CSV or JSONL.
 *
 * @module
 */

import type { CommandSpec } from "./command.ts";
import { openJournal } from "../station/journal.ts";
import { UsageError } from "../errors.ts";

/** The journal command. */
export const JOURNAL_COMMANDS: CommandSpec[] = [{
  name: "journal",
  summary: "show or export the device journal: summary | history MAC | export",
  usage: "journal [--journal FILE] summary | history MAC | export [--format csv|jsonl] [-o FILE]",
  options: {
    journal: {
      type: "string",
      valueName: "FILE",
      help: "journal file (default espline-journal.db)",
    },
    format: { type: "string", choices: ["csv", "jsonl"], help: "export format (default csv)" },
    output: { type: "string", short: "o", valueName: "FILE", help: "write the export to FILE" },
  },
  positionals: [1, 2],
  async run(ctx) {
    const path = (ctx.options.journal as string | undefined) ?? "espline-journal.db";
    const [action, arg] = ctx.positionals;
    if (!["summary", "history", "export"].includes(action)) {
      throw ctx.usage(`unknown journal action "${action}": use summary, history MAC or export`);
    }
    try {
      await Deno.stat(path);
    } catch {
      throw new UsageError(`no journal at ${path}: pass --journal FILE`, {
        code: "E_FILE_NOT_FOUND",
      });
    }
    await using j = await openJournal(path);
    if (action === "summary") {
      const s = await j.summary();
      ctx.out.result(
        { journal: path, ...s },
        Object.entries(s).map(([k, v]) => `${k.padEnd(12)} ${v}`).join("\n"),
      );
    } else if (action === "history") {
      if (!arg) throw ctx.usage("history needs a MAC address");
      const h = await j.history(arg);
      ctx.out.result(
        { mac: arg, records: h },
        h.length
          ? h.map((r) =>
            `${r.startedAt} ${r.result.padEnd(10)} ${r.chip ?? "?"} ${r.port} stage=${
              r.stage ?? "-"
            }${r.errorCode ? ` ${r.errorCode}: ${r.errorMessage}` : ""}`
          ).join("\n")
          : `${arg} was never journaled`,
      );
    } else {
      const text = ctx.options.format === "jsonl" ? await j.exportJsonl() : await j.exportCsv();
      const out = ctx.options.output as string | undefined;
      if (out) {
        await Deno.writeTextFile(out, text);
        ctx.out.result({ exported: out }, `wrote ${out}`);
      } else {
        ctx.out.result({ export: text }, text.trimEnd());
      }
    }
  },
}];
