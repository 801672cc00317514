/**
 * `journal` CLI command: summary, history of a MAC, export as CSV or JSONL,
 * of an SQLite journal file or a PostgreSQL journal (`postgres://…`).
 * Every action only reads: the journal is opened read-only, and a file
 * that is not a journal is refused, unchanged, in one line.
 *
 * @module
 */

import type { CommandSpec } from "./command.ts";
import { openJournal } from "../station/journal.ts";
import { JOURNAL_RESULTS } from "../station/journal/types.ts";
import { openOutputFile, type OutputFile } from "./output_file.ts";

/** The journal command. */
export const JOURNAL_COMMANDS: CommandSpec[] = [{
  name: "journal",
  summary: "show or export the device journal: summary | history MAC | export",
  usage:
    "journal [--journal FILE|postgres://…] summary | history MAC | export [--format csv|jsonl] [-o FILE]",
  examples: [
    "journal --journal line1.db summary",
    "journal --journal line1.db history 24:0a:c4:12:34:56",
    "journal --journal postgres://station@db.line/espline export --format jsonl -o shift.jsonl",
  ],
  options: {
    journal: {
      type: "string",
      valueName: "FILE|URL",
      help: "journal file, or postgres://USER:PASSWORD@HOST/DB (default espline-journal.db)",
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
    if (action === "history" && !arg) throw ctx.usage("history needs a MAC address");
    // The output path is checked before the journal is read.
    const outPath = ctx.options.output as string | undefined;
    let out: OutputFile | null = null;
    if (action === "export" && outPath) out = await openOutputFile(outPath);
    try {
      await using j = await openJournal(path, { readOnly: true, connectTimeoutMs: 3000 });
      if (action === "summary") {
        const s = await j.summary();
        const lines = [`total        ${s.total}`];
        for (const r of JOURNAL_RESULTS) {
          if (s[r] !== undefined) lines.push(`${r.padEnd(12)} ${s[r]}`);
        }
        ctx.out.result({ journal: j.path, ...s }, lines.join("\n"));
      } else if (action === "history") {
        const h = await j.history(arg);
        ctx.out.result(
          { mac: arg, records: h },
          h.length
            ? h.map((r) =>
              `${r.startedAt} ${r.result.padEnd(10)} ${r.chip ?? "?"} ${r.port} stage=${
                r.stage ?? "-"
              }${r.errorCode ? ` ${r.errorCode}: ${r.errorMessage}` : ""}${
                r.damaged.length ? ` (damaged: ${r.damaged.map((d) => d.column).join(", ")})` : ""
              }`
            ).join("\n")
            : `${arg} was never journaled`,
        );
      } else {
        const text = ctx.options.format === "jsonl" ? await j.exportJsonl() : await j.exportCsv();
        if (out) {
          await out.write(text);
          await out.commit();
          ctx.out.result({ exported: out.path }, `wrote ${out.path}`);
        } else {
          ctx.out.result({ export: text }, text.trimEnd());
        }
      }
    } finally {
      await out?.discard();
    }
  },
}];
