/**
 * NVS partitions on the command line: `nvs-gen` builds an image from the
 * NVS partition generator's CSV, `nvs-info` decodes one (a file, or the
 * partition read from a connected chip). Argument parsing and rendering
 * only; the work is in lib/image/nvs_*.ts.
 *
 * @module
 */

import type { CommandContext, CommandSpec } from "./command.ts";
import { withSession } from "./cmd_device.ts";
import { UsageError } from "../errors.ts";
import { loadNvsCsv } from "../image/nvs_csv.ts";
import { buildNvs, nvsLayout, parseNvsSize } from "../image/nvs_gen.ts";
import { formatNvsReport, nvsReportToJson, parseNvs } from "../image/nvs_parse.ts";
import {
  findPartition,
  parsePartitionTable,
  PARTITION_TABLE_MAX,
  PARTITION_TABLE_OFFSET,
} from "../image/partition.ts";
import { readFlash } from "../flash/read.ts";
import { openOutputFile } from "./output_file.ts";

/** Partition type and subtype of NVS (ESP-IDF esp_partition.h: data, nvs). */
const DATA_TYPE = 0x01;
const NVS_SUBTYPE = 0x02;

async function nvsGen(ctx: CommandContext): Promise<void> {
  const args = [...ctx.positionals];
  let sizeText = ctx.options.size as string | undefined;
  // nvs_partition_gen's order, `generate IN.csv OUT.bin SIZE`, works too.
  if (sizeText === undefined && args.length >= 3 && /^(0x[0-9a-f]+|\d+)$/i.test(args.at(-1)!)) {
    sizeText = args.pop();
  }
  if (args.length < 2) throw ctx.usage("give the input CSV file(s), then the output file");
  if (sizeText === undefined) {
    throw ctx.usage("give the partition size with --size (the nvs partition's size, e.g. 0x6000)");
  }
  const size = parseNvsSize(sizeText);
  const layout = nvsLayout(size);
  const version = ctx.options.version === "1" ? 1 : 2;
  const output = args.pop()!;
  // The output path is checked before any work; a failed build leaves nothing behind.
  await using out = await openOutputFile(output);
  const rows = await loadNvsCsv(args);
  const image = buildNvs(rows, { size, version, wifiExtras: !ctx.options["no-wifi-extras"] });
  await out.write(image);
  await out.commit();
  const report = parseNvs(image);
  const used = report.pages.filter((p) => p.state === "active" || p.state === "full").length;
  if (layout.readOnly) {
    ctx.out.warn(
      `a 0x${
        size.toString(16)
      }-byte NVS partition is read-only for ESP-IDF (below 0x3000): flag it readonly ` +
        `in the partition table; the image holds only the ${used} page(s) in use`,
    );
  }
  ctx.out.result(
    {
      output,
      size,
      bytes: image.length,
      version,
      readOnly: layout.readOnly,
      pagesUsed: used,
      dataPages: layout.dataPages,
      namespaces: report.namespaces.length,
      keys: report.items.length,
    },
    `Created NVS partition image ${output}: 0x${image.length.toString(16)} bytes, format ` +
      `version ${version}, ${report.namespaces.length} namespace(s), ${report.items.length} ` +
      `key(s), ${used} of ${layout.dataPages} data pages used.`,
  );
}

async function nvsInfo(ctx: CommandContext): Promise<void> {
  const name = ctx.options.partition as string | undefined;
  if (name !== undefined) {
    if (ctx.positionals.length) throw ctx.usage("give FILE or --partition NAME, not both");
    await withSession(ctx, async (session) => {
      const table = parsePartitionTable(
        await readFlash(session, { address: PARTITION_TABLE_OFFSET, size: PARTITION_TABLE_MAX }),
      );
      const p = findPartition(table, name);
      if (p.type !== DATA_TYPE || p.subtype !== NVS_SUBTYPE) {
        const nvs = table.filter((x) => x.type === DATA_TYPE && x.subtype === NVS_SUBTYPE);
        throw new UsageError(
          `partition ${p.name} is not an NVS partition; the table's NVS partitions: ${
            nvs.map((x) => x.name).join(", ") || "none"
          }`,
          { code: "E_NOT_NVS" },
        );
      }
      const data = await readFlash(session, { address: p.offset, size: p.size }, {
        onProgress: (ev) => ctx.out.event({ ...ev }),
        signal: ctx.signal,
      });
      render(ctx, data, { partition: p.name, address: p.offset });
    });
    return;
  }
  if (ctx.positionals.length !== 1) throw ctx.usage("give an NVS image FILE, or --partition NAME");
  const file = ctx.positionals[0];
  let data: Uint8Array;
  try {
    if (!(await Deno.stat(file)).isFile) {
      throw new UsageError(`cannot read ${file}: it is not a file`, { code: "E_NOT_A_FILE" });
    }
    data = await Deno.readFile(file);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(
      `cannot read ${file}: ${
        e instanceof Deno.errors.NotFound ? "file not found" : (e as Error).message
      }`,
      { code: "E_FILE_NOT_FOUND", cause: e },
    );
  }
  render(ctx, data, { file });
}

function render(ctx: CommandContext, data: Uint8Array, source: Record<string, unknown>): void {
  const report = parseNvs(data);
  ctx.out.result({ ...source, ...nvsReportToJson(report) }, formatNvsReport(report));
}

/** nvs-gen and nvs-info. */
export const NVS_COMMANDS: CommandSpec[] = [
  {
    name: "nvs-gen",
    aliases: ["nvs_gen"],
    summary:
      "build an NVS partition image from a CSV, byte-identical to ESP-IDF's nvs_partition_gen " +
      "(e.g. nvs-gen factory.csv nvs.bin --size 0x6000)",
    usage: "nvs-gen INPUT.csv [INPUT.csv …] OUTPUT.bin --size SIZE [--version 1|2]",
    examples: ["nvs-gen nvs.csv nvs.bin --size 0x6000"],
    options: {
      size: {
        type: "string",
        valueName: "SIZE",
        help: "partition size from the partition table: 0x6000, 0X6000, 24576 or 24K (required)",
      },
      version: {
        type: "string",
        choices: ["1", "2"],
        valueName: "N",
        help: "NVS format: 2 multi-page blobs (default), 1 before ESP-IDF v4",
      },
      "no-wifi-extras": {
        type: "boolean",
        help: "do not add the generator's companion entries for sta.ssid/ap.ssid Wi-Fi keys",
      },
    },
    // Counted in nvsGen, so that `nvs-gen --help` reaches the help text.
    positionals: [0, Infinity],
    run: nvsGen,
  },
  {
    name: "nvs-info",
    aliases: ["nvs_info"],
    summary:
      "decode an NVS partition (a file, or --partition NAME from the chip): namespaces, keys, " +
      "types, values, erased and damaged entries",
    usage: "nvs-info FILE | nvs-info --partition NAME",
    examples: ["nvs-info nvs.bin", "-p /dev/ttyUSB0 nvs-info --partition nvs"],
    options: {
      partition: {
        type: "string",
        valueName: "NAME",
        help: "read this partition from the chip (table at 0x8000), e.g. nvs",
      },
    },
    positionals: [0, 1],
    run: nvsInfo,
  },
];
