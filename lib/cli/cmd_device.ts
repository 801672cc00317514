/**
 * CLI commands that identify a connected chip: `chip-id`, `read-mac`,
 * `flash-id`, plus `version`. Also the session helper every device command
 * uses.
 *
 * @module
 */

import type { CommandContext, CommandSpec } from "./command.ts";
import { closeSession, openSession } from "../loader/open_session.ts";
import type { LoaderSession } from "../loader/session.ts";
import { type ChipInfo, readChipInfo, readFlashInfo } from "../loader/info.ts";
import { formatFlashSize } from "../chips/index.ts";

/** espline's version. */
export const VERSION = "0.1.0";

/** Options for {@link withSession}. */
export interface WithSessionOptions {
  /** Whether the command needs the stub (default: the global --no-stub decides). */
  stub?: boolean;
}

/**
 * Connect as the global options say, print the esptool-style connect block,
 * run `fn`, then reset/close as `--after` says (also on failure).
 */
export async function withSession<T>(
  ctx: CommandContext,
  fn: (session: LoaderSession, info: ChipInfo) => Promise<T>,
  options: WithSessionOptions = {},
): Promise<T> {
  const g = ctx.global;
  const session = await openSession(g.port, {
    chip: g.chip,
    baud: g.baud,
    before: g.before,
    connectAttempts: g.connectAttempts,
    stub: options.stub ?? g.stub,
    stubDir: g.stubDir,
    portFilter: g.portFilter,
    trace: g.trace,
    signal: ctx.signal,
    onEvent: (ev) => {
      if (ev.type === "trace") {
        const hex = Array.from(ev.bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
        ctx.out.info(`TRACE ${ev.direction === "out" ? ">" : "<"} ${hex}`);
      } else ctx.out.event(ev);
    },
  });
  let result: T;
  try {
    const info = await readChipInfo(session);
    ctx.out.info(`Connected to ${info.name} on ${session.transport.path}:`);
    ctx.out.info(`Chip type:          ${info.description}`);
    ctx.out.info(`Features:           ${info.features.join(", ")}`);
    ctx.out.info(`Crystal frequency:  ${info.crystalMhz}MHz`);
    ctx.out.info(`MAC:                ${info.mac}`);
    ctx.out.info(session.isStub ? "Stub flasher running." : "Using the ROM loader (no stub).");
    if (session.transport.baud !== 115200) {
      ctx.out.info(`Baud rate:          ${session.transport.baud}`);
    }
    ctx.out.info("");
    result = await fn(session, info);
  } catch (e) {
    // The command failed: still release the port, but report the first error.
    await closeSession(session, "no-reset").catch(() => {});
    throw e;
  }
  const after = ctx.global.after.replaceAll("_", "-");
  if (after === "hard-reset") ctx.out.info("Hard resetting via RTS pin...");
  await closeSession(session, after);
  return result;
}

function chipJson(info: ChipInfo): Record<string, unknown> {
  return {
    chip: info.chip,
    name: info.name,
    description: info.description,
    revision: `v${info.revision.major}.${info.revision.minor}`,
    features: info.features,
    crystalMhz: info.crystalMhz,
    mac: info.mac,
    chipId: info.chipId,
    secureDownload: info.secureDownload,
  };
}

/** chip-id, read-mac, flash-id, version. */
export const DEVICE_COMMANDS: CommandSpec[] = [
  {
    name: "chip-id",
    aliases: ["chip_id"],
    summary: "identify the chip: type, revision, features, crystal, MAC, chip id",
    usage: "chip-id",
    options: {},
    positionals: [0, 0],
    run: (ctx) =>
      withSession(ctx, async (session, info) => {
        const flash = await readFlashInfo(session).catch(() => null);
        const size = flash?.size ? formatFlashSize(flash.size) : "unknown";
        const idLine = info.chipId !== null
          ? `Chip ID: ${info.chipId} (${info.name})`
          : `${info.name} has no chip ID in its ROM answer; MAC: ${info.mac}`;
        ctx.out.result(
          { ...chipJson(info), flashSize: flash?.size ?? null },
          `${idLine}\nDetected flash size: ${size}`,
        );
      }),
  },
  {
    name: "read-mac",
    aliases: ["read_mac"],
    summary: "print the chip's base MAC address",
    usage: "read-mac",
    options: {},
    positionals: [0, 0],
    run: (ctx) =>
      withSession(ctx, (_session, info) => {
        ctx.out.result({ chip: info.chip, mac: info.mac }, `MAC: ${info.mac}`);
        return Promise.resolve();
      }),
  },
  {
    name: "flash-id",
    aliases: ["flash_id"],
    summary: "read the SPI flash chip's JEDEC id and size",
    usage: "flash-id",
    options: {},
    positionals: [0, 0],
    run: (ctx) =>
      withSession(ctx, async (session, info) => {
        const flash = await readFlashInfo(session);
        const size = flash.size ? formatFlashSize(flash.size) : "unknown";
        ctx.out.result(
          {
            ...chipJson(info),
            flashManufacturer: flash.manufacturer,
            flashDevice: flash.device,
            flashSize: flash.size,
          },
          [
            "Flash Memory Information:",
            "=========================",
            `Manufacturer: ${flash.manufacturer.toString(16).padStart(2, "0")}`,
            `Device: ${flash.device.toString(16).padStart(4, "0")}`,
            `Detected flash size: ${size}`,
          ].join("\n"),
        );
      }),
  },
  {
    name: "version",
    summary: "print espline's version",
    usage: "version",
    options: {},
    positionals: [0, 0],
    run: (ctx) => {
      ctx.out.result(
        { version: VERSION, deno: Deno.version.deno },
        `espline ${VERSION} (Deno ${Deno.version.deno})`,
      );
      return Promise.resolve();
    },
  },
];
