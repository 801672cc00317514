/**
 * CLI commands that change or read flash: `write-flash`, `verify-flash`,
 * `read-flash`, `erase-flash`, `erase-region`, with esptool's options. Each
 * parses its arguments, reads and checks every file before the device is
 * touched, makes one Device call and renders the report.
 *
 * @module
 */

import { EsplineError, UsageError } from "../errors.ts";
import type { CommandContext, CommandSpec, OptionSpec } from "./command.ts";
import { withDevice } from "./cmd_device.ts";
import type { FlashRegion } from "../flash/write.ts";
import { hex32 } from "../flash/address.ts";
import { formatFlashSize } from "../chips/index.ts";
import {
  FLASH_FREQ_CHOICES,
  FLASH_MODE_CHOICES,
  FLASH_SIZE_CHOICES,
} from "../image/flash_params.ts";
import {
  type FirmwareEntry,
  loadFirmware,
  normalizeFlashSettings,
  readInputFile,
} from "../device/firmware.ts";
import { parseAddress } from "../device/numbers.ts";
import { checkArea, readChipPartitionTable } from "../device/flash_ops.ts";
import { openOutputFile } from "./output_file.ts";

export { parseAddress, readChipPartitionTable, readInputFile };

/** Turn `ADDRESS FILE ADDRESS FILE …` into address/file entries (addresses parsed, files not read yet). */
export function pairsToEntries(args: string[]): [number, string][] {
  if (args.length === 0 || args.length % 2 !== 0) {
    throw new UsageError(
      `expected ADDRESS FILE pairs, got ${args.length} argument${args.length === 1 ? "" : "s"}` +
        (args.length % 2 ? ` (the last one, "${args[args.length - 1]}", has no partner)` : ""),
      { code: "E_BAD_PAIRS" },
    );
  }
  const entries: [number, string][] = [];
  for (let i = 0; i < args.length; i += 2) entries.push([parseAddress(args[i]), args[i + 1]]);
  return entries;
}

/** Turn `ADDRESS FILE ADDRESS FILE …` into regions (files read, addresses parsed). */
export async function regionsFromPairs(args: string[]): Promise<FlashRegion[]> {
  const regions: FlashRegion[] = [];
  for (const [address, path] of pairsToEntries(args)) {
    regions.push({ address, data: await readInputFile(path), name: path });
  }
  return regions;
}

/** Flash parameter options shared by write-flash and merge tools (sizes shown as esptool's help lowercases them). */
export const FLASH_PARAM_OPTIONS: Record<string, OptionSpec> = {
  "flash-mode": {
    type: "string",
    choices: [...FLASH_MODE_CHOICES],
    valueName: "MODE",
    help: "SPI flash mode to put in the bootloader header",
  },
  "flash-freq": {
    type: "string",
    choices: [...FLASH_FREQ_CHOICES],
    valueName: "FREQ",
    help: "SPI flash clock to put in the header",
  },
  "flash-size": {
    type: "string",
    choices: FLASH_SIZE_CHOICES.map((s) => s.toLowerCase()),
    valueName: "SIZE",
    help: "flash size to put in the header",
  },
};

/** The flash settings given on the command line (the build's manifest fills the rest). */
function flashSettingsOf(ctx: CommandContext) {
  const o = ctx.options;
  const s = normalizeFlashSettings({
    mode: o["flash-mode"] as string | undefined,
    freq: o["flash-freq"] as string | undefined,
    size: o["flash-size"] as string | undefined,
  });
  return { flashMode: s.mode, flashFreq: s.freq, flashSize: s.size };
}

async function writeFlashCommand(ctx: CommandContext): Promise<void> {
  const o = ctx.options;
  if (o.compress && o["no-compress"]) {
    throw ctx.usage("-z/--compress and -u/--no-compress contradict each other");
  }
  // Everything that can be checked without the chip, before touching it.
  const partition = o.partition as string | undefined;
  let entries: FirmwareEntry[] | string;
  if (o.manifest) {
    if (ctx.positionals.length) throw ctx.usage("with --manifest, give no ADDRESS FILE pairs");
    entries = o.manifest as string;
  } else if (partition) {
    if (ctx.positionals.length !== 1) {
      throw ctx.usage("with --partition NAME, give exactly one FILE");
    }
    entries = [{ partition, path: ctx.positionals[0] }];
  } else {
    if (ctx.positionals.length === 0) {
      throw ctx.usage("give ADDRESS FILE pairs, --manifest PATH, or --partition NAME FILE");
    }
    entries = pairsToEntries(ctx.positionals);
  }
  const firmware = await loadFirmware(entries);
  if (o.manifest) ctx.out.info(`Flashing ${firmware.regions.length} files from ${firmware.source}`);
  await withDevice(ctx, async (device) => {
    const report = await device.flash(firmware, {
      ...flashSettingsOf(ctx),
      force: Boolean(o.force),
      compress: !o["no-compress"],
      verify: !o["no-verify"],
      skipUnchanged: !o["no-skip"],
      eraseAll: Boolean(o["erase-all"]),
      signal: ctx.signal,
    });
    // Each region's lines were printed as it completed (the device's region events).
    const n = report.regions.length;
    const summary = `${n} region${n === 1 ? "" : "s"}` +
      (report.skipped ? ` (${report.skipped} already on the chip)` : "") +
      `, ${report.bytesOnWire} bytes sent in ${report.seconds.toFixed(2)} s; flash size ${
        formatFlashSize(report.flashSize)
      }.`;
    const { flashSize: _s, recoveries: _r, warnings: _w, ...written } = report;
    ctx.out.result({ command: "write-flash", ...written }, `\n${summary}`);
  });
}

async function verifyFlashCommand(ctx: CommandContext): Promise<void> {
  const firmware = await loadFirmware(pairsToEntries(ctx.positionals));
  await withDevice(ctx, async (device) => {
    const report = await device.verify(firmware, {
      diff: Boolean(ctx.options.diff),
      signal: ctx.signal,
    });
    const lines: string[] = [];
    for (const r of report.regions) {
      lines.push(
        r.ok
          ? `Verifying ${r.size} bytes at ${hex32(r.address)} (${r.name}): OK`
          : `Verifying ${r.size} bytes at ${
            hex32(r.address)
          } (${r.name}): MISMATCH (chip ${r.actual}, file ${r.expected})`,
      );
      if (r.differences) {
        lines.push(
          `  ${r.differences.count} differing bytes; first: ${
            r.differences.first.map(hex32).join(" ")
          }`,
        );
      }
    }
    const regions = report.regions.map(({ differences: _, ...r }) => r);
    ctx.out.result({ command: "verify-flash", regions, ok: report.ok }, lines.join("\n"));
    if (!report.ok) {
      throw new EsplineError(
        "E_VERIFY_FAILED",
        "verify-flash: the flash does not match the file(s); write them again with write-flash",
      );
    }
  });
}

/** `SIZE` argument: a number, or `ALL` for the rest of the flash. */
function sizeArg(text: string): number | "all" {
  return text.toUpperCase() === "ALL" ? "all" : parseAddress(text, "size");
}

async function readFlashCommand(ctx: CommandContext): Promise<void> {
  const [addrText, sizeText, file] = ctx.positionals;
  const address = parseAddress(addrText);
  const size = sizeArg(sizeText);
  if (size === 0) throw ctx.usage("size must be positive");
  checkArea({ address, size }, "read");
  // The output path is checked before the device is touched; a failed read leaves nothing.
  await using out = await openOutputFile(file);
  await withDevice(ctx, async (device) => {
    const data = await device.read({ address, size }, { signal: ctx.signal });
    await out.write(data);
    await out.commit();
    ctx.out.result(
      { command: "read-flash", address, size: data.length, file },
      `Read ${data.length} bytes at ${hex32(address)} into ${file}.`,
    );
  });
}

async function eraseRegionCommand(ctx: CommandContext): Promise<void> {
  const partition = ctx.options.partition as string | undefined;
  if (partition) {
    if (ctx.positionals.length) throw ctx.usage("with --partition NAME, give no ADDRESS SIZE");
    await withDevice(ctx, async (device) => {
      const r = await device.erase({ partition }, { signal: ctx.signal });
      ctx.out.result(
        { command: "erase-region", partition: r.partition, address: r.address, size: r.size },
        `Erased partition ${r.partition} (${r.size} bytes at ${hex32(r.address)}).`,
      );
    });
    return;
  }
  if (ctx.positionals.length !== 2) throw ctx.usage("give ADDRESS SIZE, or --partition NAME");
  const area = { address: parseAddress(ctx.positionals[0]), size: sizeArg(ctx.positionals[1]) };
  checkArea(area, "erase");
  await withDevice(ctx, async (device) => {
    const r = await device.erase(area, { signal: ctx.signal });
    ctx.out.result(
      { command: "erase-region", address: r.address, size: r.size },
      `Erased ${r.size} bytes at ${hex32(r.address)}.`,
    );
  });
}

/** The flash commands. */
export const FLASH_COMMANDS: CommandSpec[] = [
  {
    name: "write-flash",
    aliases: ["write_flash"],
    summary: "write binaries to flash (compressed, verified, unchanged parts skipped)",
    usage:
      "write-flash [options] ADDRESS FILE [ADDRESS FILE …] | --manifest PATH | --partition NAME FILE",
    examples: [
      "-p /dev/ttyUSB0 -b 921600 write-flash 0x0 bootloader.bin 0x8000 partitions.bin 0x10000 app.bin",
      "-p /dev/ttyUSB0 write-flash --manifest build/   # ESP-IDF, Arduino or PlatformIO build",
      "-p /dev/ttyUSB0 write-flash --partition ota_0 app.bin",
      "-p /dev/ttyUSB0 write-flash --flash-mode dio --flash-size 4MB 0x1000 bootloader.bin",
    ],
    options: {
      compress: { type: "boolean", short: "z", help: "send data compressed (default)" },
      "no-compress": { type: "boolean", short: "u", help: "send data uncompressed" },
      "erase-all": { type: "boolean", short: "e", help: "erase the whole flash first" },
      "no-verify": { type: "boolean", help: "do not check the MD5 after writing" },
      "no-skip": { type: "boolean", help: "write even regions the chip already holds" },
      manifest: {
        type: "string",
        valueName: "PATH",
        help: "files from build/flasher_args.json or an Arduino/PlatformIO build folder",
      },
      partition: {
        type: "string",
        valueName: "NAME",
        help: "write FILE to this partition (table read from the chip)",
      },
      force: { type: "boolean", help: "write even when pre-flight checks fail" },
      ...FLASH_PARAM_OPTIONS,
    },
    positionals: [0, Infinity],
    run: writeFlashCommand,
  },
  {
    name: "verify-flash",
    aliases: ["verify_flash"],
    summary: "compare flash contents with files (by MD5 on the chip)",
    usage: "verify-flash [--diff] ADDRESS FILE [ADDRESS FILE …]",
    examples: [
      "-p /dev/ttyUSB0 verify-flash 0x10000 app.bin",
      "-p /dev/ttyUSB0 verify-flash --diff 0x8000 partitions.bin",
    ],
    options: {
      diff: { type: "boolean", help: "on a mismatch, read the region and list differing bytes" },
    },
    positionals: [2, Infinity],
    run: verifyFlashCommand,
  },
  {
    name: "read-flash",
    aliases: ["read_flash"],
    summary: "read flash into a file (SIZE may be ALL)",
    usage: "read-flash ADDRESS SIZE FILE",
    examples: [
      "-p /dev/ttyUSB0 read-flash 0 ALL backup.bin   # the whole flash",
      "-p /dev/ttyUSB0 read-flash 0x9000 0x6000 nvs.bin",
    ],
    options: {},
    positionals: [3, 3],
    run: readFlashCommand,
  },
  {
    name: "erase-flash",
    aliases: ["erase_flash"],
    summary: "erase the whole flash (needs the stub)",
    usage: "erase-flash",
    examples: ["-p /dev/ttyUSB0 erase-flash"],
    options: {},
    positionals: [0, 0],
    run: (ctx) =>
      withDevice(ctx, async (device) => {
        const r = await device.erase("all", { signal: ctx.signal });
        ctx.out.result(
          { command: "erase-flash", seconds: r.seconds },
          `Flash memory erased successfully in ${r.seconds.toFixed(1)} seconds.`,
        );
      }),
  },
  {
    name: "erase-region",
    aliases: ["erase_region"],
    summary: "erase a 4 KiB-aligned region (SIZE may be ALL)",
    usage: "erase-region ADDRESS SIZE | --partition NAME",
    examples: [
      "-p /dev/ttyUSB0 erase-region 0x9000 0x6000",
      "-p /dev/ttyUSB0 erase-region --partition nvs",
    ],
    options: {
      partition: {
        type: "string",
        valueName: "NAME",
        help: "erase this partition (table read from the chip)",
      },
    },
    positionals: [0, 2],
    run: eraseRegionCommand,
  },
];
