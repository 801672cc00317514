/**
 * CLI commands that identify a connected chip: `chip-id`, `read-mac`,
 * `flash-id`, plus `version`. Also the helpers every device command uses:
 * connect as the global options say, print esptool's connect block, render
 * the device's events, leave the chip as `--after` says.
 *
 * @module
 */

import type { CommandContext, CommandSpec } from "./command.ts";
import { connect, type Device, type DeviceInfo, sessionOf } from "../device/device.ts";
import type { DeviceEvent } from "../device/events.ts";
import type { LoaderSession } from "../loader/session.ts";
import type { ChipInfo } from "../loader/info.ts";
import { formatFlashSize } from "../chips/index.ts";
import { EsplineError } from "../errors.ts";

/** espline's version. */
export const VERSION = "0.1.0";

/** Options for {@link withDevice} and {@link withSession}. */
export interface WithSessionOptions {
  /** Whether the command needs the stub (default: the global --no-stub decides). */
  stub?: boolean;
}

/** Render one device event: trace lines, notices as lines or warnings, the rest as output events. */
export function renderDeviceEvent(ctx: CommandContext): (event: DeviceEvent) => void {
  return (event) => {
    const { port: _port, ...ev } = event;
    switch (ev.type) {
      case "trace": {
        const hex = Array.from(ev.bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
        ctx.out.info(`TRACE ${ev.direction === "out" ? ">" : "<"} ${hex}`);
        return;
      }
      case "notice":
        if (ev.level === "warn") ctx.out.warn(ev.message);
        else ctx.out.info(ev.message);
        return;
      case "flashed":
      case "recovery":
        return; // the command's result says it
      default:
        ctx.out.event(ev);
    }
  };
}

/**
 * Connect as the global options say, print the esptool-style connect block,
 * run `fn` with the device, then leave the chip as `--after` says (on
 * failure: release the port without resetting, and report the first error).
 */
export async function withDevice<T>(
  ctx: CommandContext,
  fn: (device: Device, info: DeviceInfo) => Promise<T>,
  options: WithSessionOptions = {},
): Promise<T> {
  const { json: _json, ...settings } = ctx.global;
  const device = await connect(settings.port, {
    ...settings,
    stub: options.stub ?? settings.stub,
    signal: ctx.signal,
    onEvent: renderDeviceEvent(ctx),
  });
  let result: T;
  try {
    const info = await device.info({ flash: false });
    ctx.out.info(`Connected to ${info.name} on ${device.port}:`);
    ctx.out.info(`Chip type:          ${info.description}`);
    ctx.out.info(`Features:           ${info.features.join(", ")}`);
    ctx.out.info(`Crystal frequency:  ${info.crystalMhz}MHz`);
    ctx.out.info(`MAC:                ${info.mac}`);
    ctx.out.info(info.stub ? "Stub flasher running." : "Using the ROM loader (no stub).");
    if (device.baud !== 115200) ctx.out.info(`Baud rate:          ${device.baud}`);
    ctx.out.info("");
    result = await fn(device, info);
  } catch (e) {
    await device.close("no-reset").catch(() => {});
    throw e;
  }
  if (ctx.global.after === "hard-reset") ctx.out.info("Hard resetting via RTS pin...");
  await device.close(ctx.global.after);
  return result;
}

/**
 * {@link withDevice} for commands built on the loader session directly
 * (lower-level operations of their own): `fn` gets the session and the chip
 * facts.
 */
export function withSession<T>(
  ctx: CommandContext,
  fn: (session: LoaderSession, info: ChipInfo) => Promise<T>,
  options: WithSessionOptions = {},
): Promise<T> {
  return withDevice(ctx, (device, info) => fn(sessionOf(device), info), options);
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
    examples: ["-p /dev/ttyUSB0 chip-id", "-p sim://esp8266 chip-id"],
    options: {},
    positionals: [0, 0],
    run: (ctx) =>
      withDevice(ctx, async (device) => {
        const info = await device.info();
        const size = info.flashSize ? formatFlashSize(info.flashSize) : "unknown";
        const idLine = info.chipId !== null
          ? `Chip ID: ${info.chipId} (${info.name})`
          : `${info.name} has no chip ID in its ROM answer; MAC: ${info.mac}`;
        ctx.out.result(
          { ...chipJson(info), flashSize: info.flashSize },
          `${idLine}\nDetected flash size: ${size}`,
        );
      }),
  },
  {
    name: "read-mac",
    aliases: ["read_mac"],
    summary: "print the chip's base MAC address",
    usage: "read-mac",
    examples: ["-p /dev/ttyUSB0 read-mac", "--port auto --port-filter vid=303a read-mac --json"],
    options: {},
    positionals: [0, 0],
    run: (ctx) =>
      withDevice(ctx, (_device, info) => {
        ctx.out.result({ chip: info.chip, mac: info.mac }, `MAC: ${info.mac}`);
        return Promise.resolve();
      }),
  },
  {
    name: "flash-id",
    aliases: ["flash_id"],
    summary: "read the SPI flash chip's JEDEC id and size",
    usage: "flash-id",
    examples: ["-p /dev/ttyUSB0 flash-id"],
    options: {},
    positionals: [0, 0],
    run: (ctx) =>
      withDevice(ctx, async (device) => {
        const info = await device.info();
        const flash = info.flash;
        if (!flash) {
          throw new EsplineError(
            "E_FLASH_ID_UNAVAILABLE",
            `the ${info.name} loader would not read the flash chip's id` +
              (info.secureDownload ? " (secure download mode is on)" : ""),
          );
        }
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
    examples: ["version"],
    options: {},
    positionals: [0, 0],
    hostOnly: true,
    run: (ctx) => {
      ctx.out.result(
        { version: VERSION, deno: Deno.version.deno },
        `espline ${VERSION} (Deno ${Deno.version.deno})`,
      );
      return Promise.resolve();
    },
  },
];
