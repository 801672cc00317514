/**
 * Image tools on the command line: `image-info`, `merge-bin`,
 * `partition-table`. Host-only: no device is opened.
 *
 * @module
 */

import type { CommandSpec } from "./command.ts";
import { formatImageInfo, parseImage } from "../image/image.ts";
import { mergeBin } from "../image/merge.ts";
import {
  formatPartitionTable,
  parsePartitionCsv,
  parsePartitionTable,
  partitionTableToBinary,
  partitionTableToCsv,
} from "../image/partition.ts";
import { chipByKey } from "../chips/index.ts";
import { FLASH_PARAM_OPTIONS, readInputFile, regionsFromPairs } from "./cmd_flash.ts";
import { parseIntArg } from "./args.ts";
import { UsageError } from "../errors.ts";
import { openOutputFile } from "./output_file.ts";

/** The image commands. */
export const IMAGE_COMMANDS: CommandSpec[] = [
  {
    name: "image-info",
    aliases: ["image_info"],
    summary:
      "describe an application or bootloader image (header, segments, checksum, hash, app info)",
    usage: "image-info [--chip CHIP] FILE",
    examples: [
      "image-info build/app.bin",
      "image-info --chip esp32c3 build/bootloader/bootloader.bin",
    ],
    options: {},
    hostOnly: true,
    positionals: [1, 1],
    async run(ctx) {
      const data = await readInputFile(ctx.positionals[0]);
      const info = parseImage(data, { chip: ctx.global.chip });
      ctx.out.result({ file: ctx.positionals[0], ...info }, formatImageInfo(info));
    },
  },
  {
    name: "merge-bin",
    aliases: ["merge_bin"],
    summary: "merge ADDRESS FILE pairs into one image (raw, Intel HEX or UF2)",
    usage:
      "merge-bin -o OUTPUT --chip CHIP [--format raw|hex|uf2] [--pad-to-size SIZE] ADDRESS FILE …",
    examples: [
      "merge-bin --chip esp32c3 -o merged.bin 0x0 bootloader.bin 0x8000 partitions.bin 0x10000 app.bin",
      "merge-bin --chip esp32s3 --format uf2 -o app.uf2 0x10000 app.bin",
    ],
    options: {
      output: { type: "string", short: "o", valueName: "FILE", help: "output file (required)" },
      format: {
        type: "string",
        choices: ["raw", "hex", "uf2"],
        help: "output format (default raw)",
      },
      "pad-to-size": {
        type: "string",
        valueName: "SIZE",
        help: "raw: pad with 0xFF to this size (4MB, 0x400000)",
      },
      "target-offset": {
        type: "string",
        valueName: "ADDR",
        help: "raw: flash offset the output starts at (default 0)",
      },
      "chunk-size": { type: "string", valueName: "N", help: "uf2: payload bytes per block" },
      "md5-disable": { type: "boolean", help: "uf2: leave out per-block MD5s" },
      ...FLASH_PARAM_OPTIONS,
    },
    hostOnly: true,
    positionals: [2, Infinity],
    async run(ctx) {
      const o = ctx.options;
      if (!o.output) throw ctx.usage("give the output file with -o FILE");
      if (ctx.global.chip === "auto") {
        throw ctx.usage(
          "merge-bin needs --chip (the bootloader offset and encodings depend on it)",
        );
      }
      const chip = chipByKey(ctx.global.chip);
      const num = (name: string) => {
        const v = o[name] as string | undefined;
        if (v === undefined) return undefined;
        const n = parseIntArg(v.replace(/B$/i, ""));
        if (n === null) throw ctx.usage(`--${name} "${v}" is not a size or address`);
        return n;
      };
      // The output path is checked before the work; a failure leaves nothing behind.
      await using file = await openOutputFile(o.output as string);
      const regions = await regionsFromPairs(ctx.positionals);
      const size = o["flash-size"] as string | undefined;
      const out = mergeBin(regions, {
        chip,
        format: (o.format as "raw" | "hex" | "uf2" | undefined) ?? "raw",
        flashParams: {
          mode: o["flash-mode"] as string | undefined,
          freq: o["flash-freq"] as string | undefined,
          size: size === "detect" ? undefined : size,
        },
        padToSize: num("pad-to-size"),
        targetOffset: num("target-offset"),
        chunkSize: num("chunk-size"),
        md5Disable: Boolean(o["md5-disable"]),
      });
      await file.write(out);
      await file.commit();
      ctx.out.result(
        { output: o.output, bytes: out.length, format: o.format ?? "raw" },
        `Wrote 0x${out.length.toString(16)} bytes to file '${o.output}'.`,
      );
    },
  },
  {
    name: "partition-table",
    aliases: ["partition_table"],
    summary: "print a partition table (binary or CSV), or convert it with -o out.csv|out.bin",
    usage: "partition-table FILE [-o OUTPUT.csv|OUTPUT.bin]",
    examples: [
      "partition-table build/partition_table/partition-table.bin",
      "partition-table partitions.csv -o partitions.bin",
    ],
    options: {
      output: {
        type: "string",
        short: "o",
        valueName: "FILE",
        help: "write as CSV or binary (by extension)",
      },
    },
    hostOnly: true,
    positionals: [1, 1],
    async run(ctx) {
      const out = ctx.options.output as string | undefined;
      const asCsv = out?.toLowerCase().endsWith(".csv");
      if (out && !asCsv && !out.toLowerCase().endsWith(".bin")) {
        throw new UsageError(`-o ${out}: use a .csv or .bin name`, { code: "E_OUTPUT_PATH" });
      }
      // The output path is checked before the work; a failure leaves nothing behind.
      await using file = out ? await openOutputFile(out) : null;
      const data = await readInputFile(ctx.positionals[0]);
      const isCsv = ctx.positionals[0].toLowerCase().endsWith(".csv") || data[0] !== 0xaa;
      const table = isCsv
        ? parsePartitionCsv(new TextDecoder().decode(data))
        : parsePartitionTable(data);
      if (table.length === 0) {
        throw new UsageError(`${ctx.positionals[0]} holds no partitions`, {
          code: "E_EMPTY_FILE",
        });
      }
      if (file) {
        await file.write(asCsv ? partitionTableToCsv(table) : partitionTableToBinary(table));
        await file.commit();
      }
      ctx.out.result(
        { partitions: table },
        formatPartitionTable(table) + (out ? `\nWrote ${out}.` : ""),
      );
    },
  },
];
