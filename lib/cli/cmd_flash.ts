/**
 * CLI commands that change or read flash: `write-flash`, `verify-flash`,
 * `read-flash`, `erase-flash`, `erase-region`, with esptool's options.
 *
 * Every file is read and every address checked before the device is touched.
 *
 * @module
 */

import { EsplineError, UsageError } from "../errors.ts";
import type { CommandContext, CommandSpec, OptionSpec } from "./command.ts";
import { parseIntArg } from "./args.ts";
import { withSession } from "./cmd_device.ts";
import { checkRegions, type FlashRegion, verifyFlash, writeFlash } from "../flash/write.ts";
import { readFlash } from "../flash/read.ts";
import { checkEraseRegion, eraseFlash, eraseRegion } from "../flash/erase.ts";
import { detectFlashSize, type FlashProgress, hex32 } from "../flash/common.ts";
import { formatFlashSize } from "../chips/index.ts";
import { loadManifest } from "../image/manifest.ts";
import { preflight } from "../image/preflight.ts";
import {
  findPartition,
  parsePartitionTable,
  type Partition,
  PARTITION_TABLE_MAX,
  PARTITION_TABLE_OFFSET,
} from "../image/partition.ts";
import type { LoaderSession } from "../loader/session.ts";
import { patchFlashParams } from "../image/flash_params.ts";

/** Read and parse the partition table the chip holds at 0x8000. */
export async function readChipPartitionTable(session: LoaderSession): Promise<Partition[]> {
  const raw = await readFlash(session, {
    address: PARTITION_TABLE_OFFSET,
    size: PARTITION_TABLE_MAX,
  });
  return parsePartitionTable(raw);
}

/** Parse a flash address argument, or throw a usage error naming it. */
export function parseAddress(text: string, what = "address"): number {
  const n = parseIntArg(text);
  if (n === null || n < 0) {
    throw new UsageError(`invalid ${what} "${text}": give a number such as 0x10000 or 65536`, {
      code: "E_BAD_ADDRESS",
    });
  }
  return n;
}

/** Read a file for flashing; a missing or unreadable one is a usage error said before connecting. */
export async function readInputFile(path: string): Promise<Uint8Array> {
  try {
    const stat = await Deno.stat(path);
    if (!stat.isFile) throw new UsageError(`${path} is not a file`, { code: "E_NOT_A_FILE" });
    return await Deno.readFile(path);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    if (e instanceof Deno.errors.NotFound) {
      throw new UsageError(`file not found: ${path} (check the path; nothing was written)`, {
        code: "E_FILE_NOT_FOUND",
      });
    }
    if (e instanceof Deno.errors.PermissionDenied) {
      throw new UsageError(`cannot read ${path}: permission denied`, { code: "E_FILE_UNREADABLE" });
    }
    throw new UsageError(`cannot read ${path}: ${(e as Error).message}`, {
      code: "E_FILE_UNREADABLE",
    });
  }
}

/** Turn `ADDRESS FILE ADDRESS FILE …` into regions (files read, addresses parsed). */
export async function regionsFromPairs(args: string[]): Promise<FlashRegion[]> {
  if (args.length === 0 || args.length % 2 !== 0) {
    throw new UsageError(
      `expected ADDRESS FILE pairs, got ${args.length} argument${args.length === 1 ? "" : "s"}` +
        (args.length % 2 ? ` (the last one, "${args[args.length - 1]}", has no partner)` : ""),
      { code: "E_BAD_PAIRS" },
    );
  }
  const regions: FlashRegion[] = [];
  for (let i = 0; i < args.length; i += 2) {
    const address = parseAddress(args[i]);
    const data = await readInputFile(args[i + 1]);
    regions.push({ address, data, name: args[i + 1] });
  }
  return regions;
}

function progressTo(ctx: CommandContext): (p: FlashProgress) => void {
  return (p) => ctx.out.event({ ...p });
}

const FLASH_MODES = ["keep", "qio", "qout", "dio", "dout"];
const FLASH_FREQS = ["keep", "80m", "60m", "48m", "40m", "26m", "24m", "20m", "16m", "15m", "12m"];
const FLASH_SIZES = [
  "detect",
  "keep",
  "256kb",
  "512kb",
  "1mb",
  "2mb",
  "2mb-c1",
  "4mb",
  "4mb-c1",
  "8mb",
  "16mb",
  "32mb",
  "64mb",
  "128mb",
];

/** Flash parameter options shared by write-flash and merge tools. */
export const FLASH_PARAM_OPTIONS: Record<string, OptionSpec> = {
  "flash-mode": {
    type: "string",
    choices: FLASH_MODES,
    valueName: "MODE",
    help: "SPI flash mode to put in the bootloader header",
  },
  "flash-freq": {
    type: "string",
    choices: FLASH_FREQS,
    valueName: "FREQ",
    help: "SPI flash clock to put in the header",
  },
  "flash-size": {
    type: "string",
    choices: FLASH_SIZES,
    valueName: "SIZE",
    help: "flash size to put in the header",
  },
};

async function writeFlashCommand(ctx: CommandContext): Promise<void> {
  const o = ctx.options;
  if (o.compress && o["no-compress"]) {
    throw ctx.usage("-z/--compress and -u/--no-compress contradict each other");
  }
  // Everything that can be checked without the chip, before touching it.
  let regions: FlashRegion[];
  const partitionName = o.partition as string | undefined;
  if (o.manifest) {
    if (ctx.positionals.length) throw ctx.usage("with --manifest, give no ADDRESS FILE pairs");
    const m = await loadManifest(o.manifest as string);
    regions = await regionsFromPairs(m.regions.flatMap((r) => [String(r.address), r.path]));
    // The build's flash settings apply unless given on the command line.
    o["flash-mode"] ??= m.flashMode?.toLowerCase();
    o["flash-freq"] ??= m.flashFreq?.toLowerCase();
    o["flash-size"] ??= m.flashSize?.toLowerCase();
    ctx.out.info(`Flashing ${regions.length} files from ${m.source}`);
  } else if (partitionName) {
    if (ctx.positionals.length !== 1) {
      throw ctx.usage("with --partition NAME, give exactly one FILE");
    }
    // The address comes from the chip's partition table; 0 is a placeholder until connected.
    regions = [{
      address: 0,
      data: await readInputFile(ctx.positionals[0]),
      name: ctx.positionals[0],
    }];
  } else {
    if (ctx.positionals.length === 0) {
      throw ctx.usage("give ADDRESS FILE pairs, --manifest PATH, or --partition NAME FILE");
    }
    regions = await regionsFromPairs(ctx.positionals);
    checkRegions(regions);
  }
  const sizeArg = o["flash-size"] as string | undefined;
  const fixedSize = sizeArg && sizeArg !== "detect" && sizeArg !== "keep"
    ? parseIntArg(sizeArg.replace(/-c1$/, ""))
    : null;
  await withSession(ctx, async (session) => {
    const flashSize = fixedSize ?? await detectFlashSize(session);
    if (fixedSize) await session.setFlashParams(fixedSize);
    // Patch the bootloader header as esptool does (only the image at the chip's bootloader offset).
    const params = {
      mode: o["flash-mode"] as string | undefined,
      freq: o["flash-freq"] as string | undefined,
      size: sizeArg === "detect" ? formatFlashSize(flashSize) : sizeArg,
    };
    for (const r of regions) {
      let patched;
      try {
        patched = patchFlashParams(r.data, r.address, { chip: session.chip, params });
      } catch (e) {
        throw new UsageError(`${(e as Error).message} (nothing was written)`, {
          code: "E_BAD_FLASH_PARAMS",
        });
      }
      for (const note of patched.notes) ctx.out.info(note);
      r.data = patched.data;
    }
    if (partitionName) {
      const p = findPartition(await readChipPartitionTable(session), partitionName);
      if (regions[0].data.length > p.size) {
        throw new UsageError(
          `${regions[0].name} (${
            regions[0].data.length
          } bytes) does not fit partition ${p.name} (${p.size} bytes)`,
          { code: "E_TOO_BIG" },
        );
      }
      regions[0].address = p.offset;
      ctx.out.info(`Partition ${p.name} is at ${hex32(p.offset)} (${p.size} bytes)`);
    }
    const revision = await session.chip.readRevision(session.readRegFn);
    const issues = preflight(regions, { chip: session.chip, revision, flashSize });
    for (const i of issues.filter((x) => x.level === "warning")) ctx.out.warn(i.message);
    const errors = issues.filter((x) => x.level === "error");
    if (errors.length && !o.force) {
      throw new UsageError(
        `refusing to write (nothing was written):\n${
          errors.map((e) => `  - ${e.message}`).join("\n")
        }\n` +
          "fix the files or addresses, or pass --force if you are sure",
        { code: errors[0].code, details: { issues: errors } },
      );
    }
    for (const e of errors) ctx.out.warn(`forced: ${e.message}`);
    const report = await writeFlash(session, regions, {
      compress: !o["no-compress"],
      verify: !o["no-verify"],
      skipUnchanged: !o["no-skip"],
      diffChunkSize: o["no-skip"] ? 0 : undefined,
      eraseAll: Boolean(o["erase-all"]),
      flashSize,
      onProgress: progressTo(ctx),
      signal: ctx.signal,
    });
    const lines = report.regions.map((r) => {
      const what = r.action === "skipped"
        ? `Skipped ${r.name} at ${hex32(r.address)}: already on the chip (MD5 ${r.md5})`
        : r.action === "patched"
        ? `Wrote ${r.bytesWritten} of ${r.size} bytes of ${r.name} at ${hex32(r.address)} ` +
          `(${r.chunksWritten} of ${r.chunksTotal} chunks changed, ${r.bytesOnWire} on the wire) in ${
            r.seconds.toFixed(2)
          } s`
        : `Wrote ${r.size} bytes (${r.bytesOnWire} on the wire) of ${r.name} at ${
          hex32(r.address)
        } in ${r.seconds.toFixed(2)} s`;
      return r.verified && r.action !== "skipped" ? `${what}\nHash of data verified.` : what;
    });
    lines.push(
      `Flash size ${formatFlashSize(flashSize)}; ${report.bytesOnWire} bytes sent in ${
        report.seconds.toFixed(2)
      } s.`,
    );
    ctx.out.result({ command: "write-flash", ...report }, lines.join("\n"));
  });
}

async function verifyFlashCommand(ctx: CommandContext): Promise<void> {
  const regions = await regionsFromPairs(ctx.positionals);
  checkRegions(regions);
  await withSession(ctx, async (session) => {
    const report = await verifyFlash(session, regions, { signal: ctx.signal });
    const lines: string[] = [];
    for (const r of report.regions) {
      lines.push(
        r.ok
          ? `Verifying ${r.size} bytes at ${hex32(r.address)} (${r.name}): OK`
          : `Verifying ${r.size} bytes at ${
            hex32(r.address)
          } (${r.name}): MISMATCH (chip ${r.actual}, file ${r.expected})`,
      );
      if (!r.ok && ctx.options.diff) {
        const region = regions.find((x) => x.address === r.address)!;
        const chip = await readFlash(session, { address: r.address, size: region.data.length }, {
          signal: ctx.signal,
        });
        const diffs: number[] = [];
        for (let i = 0; i < region.data.length; i++) {
          if (chip[i] !== region.data[i]) diffs.push(r.address + i);
        }
        lines.push(
          `  ${diffs.length} differing bytes; first: ${diffs.slice(0, 16).map(hex32).join(" ")}`,
        );
      }
    }
    ctx.out.result({ command: "verify-flash", ...report }, lines.join("\n"));
    if (!report.ok) {
      throw new EsplineError(
        "E_VERIFY_FAILED",
        "verify-flash: the flash does not match the file(s); write them again with write-flash",
      );
    }
  });
}

async function readFlashCommand(ctx: CommandContext): Promise<void> {
  const [addrText, sizeText, file] = ctx.positionals;
  const address = parseAddress(addrText);
  const all = sizeText.toUpperCase() === "ALL";
  const size = all ? null : parseAddress(sizeText, "size");
  if (size === 0) throw ctx.usage("size must be positive");
  await withSession(ctx, async (session) => {
    const flashSize = await detectFlashSize(session);
    const n = size ?? flashSize - address;
    if (address + n > flashSize) {
      throw new UsageError(
        `reading ${n} bytes at ${hex32(address)} runs past the end of the ${
          formatFlashSize(flashSize)
        } flash`,
        { code: "E_PAST_END" },
      );
    }
    const data = await readFlash(session, { address, size: n }, {
      onProgress: progressTo(ctx),
      signal: ctx.signal,
    });
    // Write to a temporary name first so an interrupted read never leaves a partial file under the real name.
    const tmp = `${file}.partial`;
    await Deno.writeFile(tmp, data);
    await Deno.rename(tmp, file);
    ctx.out.result(
      { command: "read-flash", address, size: n, file },
      `Read ${n} bytes at ${hex32(address)} into ${file}.`,
    );
  });
}

async function eraseRegionCommand(ctx: CommandContext): Promise<void> {
  const partitionName = ctx.options.partition as string | undefined;
  if (partitionName) {
    if (ctx.positionals.length) throw ctx.usage("with --partition NAME, give no ADDRESS SIZE");
    await withSession(ctx, async (session) => {
      const p = findPartition(await readChipPartitionTable(session), partitionName);
      await eraseRegion(session, { address: p.offset, size: p.size }, { signal: ctx.signal });
      ctx.out.result(
        { command: "erase-region", partition: p.name, address: p.offset, size: p.size },
        `Erased partition ${p.name} (${p.size} bytes at ${hex32(p.offset)}).`,
      );
    });
    return;
  }
  if (ctx.positionals.length !== 2) throw ctx.usage("give ADDRESS SIZE, or --partition NAME");
  const [addrText, sizeText] = ctx.positionals;
  const address = parseAddress(addrText);
  const all = sizeText.toUpperCase() === "ALL";
  const size = all ? null : parseAddress(sizeText, "size");
  if (size !== null) checkEraseRegion(address, size);
  await withSession(ctx, async (session) => {
    const n = size ?? (await detectFlashSize(session)) - address;
    const flashSize = await detectFlashSize(session);
    if (address + n > flashSize) {
      throw new UsageError(
        `erasing ${hex32(n)} bytes at ${hex32(address)} runs past the end of the flash`,
        {
          code: "E_PAST_END",
        },
      );
    }
    await eraseRegion(session, { address, size: n }, { signal: ctx.signal });
    ctx.out.result(
      { command: "erase-region", address, size: n },
      `Erased ${n} bytes at ${hex32(address)}.`,
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
    options: {},
    positionals: [3, 3],
    run: readFlashCommand,
  },
  {
    name: "erase-flash",
    aliases: ["erase_flash"],
    summary: "erase the whole flash (needs the stub)",
    usage: "erase-flash",
    options: {},
    positionals: [0, 0],
    run: (ctx) =>
      withSession(ctx, async (session) => {
        const t0 = performance.now();
        await eraseFlash(session, { signal: ctx.signal });
        const s = (performance.now() - t0) / 1000;
        ctx.out.result(
          { command: "erase-flash", seconds: s },
          `Flash memory erased successfully in ${s.toFixed(1)} seconds.`,
        );
      }),
  },
  {
    name: "erase-region",
    aliases: ["erase_region"],
    summary: "erase a 4 KiB-aligned region (SIZE may be ALL)",
    usage: "erase-region ADDRESS SIZE | --partition NAME",
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
