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
import type { DeviceEvent, RegionDoneEvent, RegionStartEvent } from "../device/events.ts";
import { hex32 } from "../flash/address.ts";
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

/**
 * A write job's region as esptool words it, as it completes: `Writing 'f'
 * at 0x…...` before each of several files; `Wrote N bytes (M compressed) at
 * 0x… in S seconds (K kbit/s).` and `Hash of data verified.` after it. A
 * region already on the chip gets esptool's `--skip-flashed` sentence; one
 * where only some 64 KiB chunks changed gets a line of its own first.
 *
 * @example
 * ```ts
 * import { regionLines } from "./cmd_device.ts";
 * console.log(regionLines({ type: "region-start", name: "app.bin", address: 0x10000, size: 4096, index: 0, count: 2 }));
 * ```
 */
export function regionLines(event: RegionStartEvent | RegionDoneEvent): string[] {
  const at = hex32(event.address);
  if (event.type === "region-start") {
    if (event.count < 2) return [];
    return [...(event.index > 0 ? [""] : []), `Writing '${event.name}' at ${at}...`];
  }
  if (event.action === "skipped") {
    return [`'${event.name}' at ${at} already in flash, skipping write.`];
  }
  const lines: string[] = [];
  if (event.action === "patched") {
    lines.push(
      `Only ${event.chunksWritten} of ${event.chunksTotal} 64 KiB chunks of '${event.name}' ` +
        "differed from the chip; the rest were left as they were.",
    );
  }
  const s = event.seconds;
  const speed = s > 0 ? ` (${(event.bytesWritten / s * 8 / 1000).toFixed(1)} kbit/s)` : "";
  lines.push(
    `Wrote ${event.bytesWritten} bytes${
      event.compressed ? ` (${event.bytesOnWire} compressed)` : ""
    } at ${at} in ${s.toFixed(1)} seconds${speed}.`,
  );
  if (event.verified) lines.push("Hash of data verified.");
  return lines;
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
      case "region-start":
      case "region-done":
        if (ctx.out.json) ctx.out.event(ev);
        else for (const line of regionLines(ev)) ctx.out.info(line);
        return;
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
  const render = renderDeviceEvent(ctx);
  let resetSkipped = false;
  const device = await connect(settings.port, {
    ...settings,
    stub: options.stub ?? settings.stub,
    signal: ctx.signal,
    onEvent: (event) => {
      if (event.type === "notice" && event.code === "E_RESET_SKIPPED") resetSkipped = true;
      render(event);
    },
  });
  let result: T;
  try {
    const info = await device.info({ flash: false });
    ctx.out.info(`Connected to ${info.name} on ${device.port}:`);
    ctx.out.info(`Chip type:          ${info.description}`);
    ctx.out.info(`Features:           ${info.features.join(", ")}`);
    ctx.out.info(
      `Crystal frequency:  ${
        info.crystalMhz === null
          ? "unknown (the flasher stub was already running; connect with a reset to measure it)"
          : `${info.crystalMhz}MHz`
      }`,
    );
    for (const line of macLines(info)) ctx.out.info(line);
    ctx.out.info(info.stub ? "Stub flasher running." : "Using the ROM loader (no stub).");
    if (device.baud !== 115200) ctx.out.info(`Baud rate:          ${device.baud}`);
    ctx.out.info("");
    result = await fn(device, info);
  } catch (e) {
    await device.close("no-reset").catch(() => {});
    throw e;
  }
  await device.close(ctx.global.after);
  // esptool's line, once the reset happened (a port without modem lines says why it did not).
  if (ctx.global.after === "hard-reset" && !resetSkipped) {
    ctx.out.info("Hard resetting via RTS pin...");
  }
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

/** A label and value as esptool aligns them (`MAC:` padded to 20 columns). */
function esptoolField(label: string, value: string): string {
  return `${`${label}:`.padEnd(20)}${value}`;
}

/** esptool's read_mac lines: the EUI-64, base MAC and extension on 802.15.4 chips, else the MAC. */
function macLines(info: DeviceInfo): string[] {
  if (info.eui64 && info.macExt) {
    return [
      esptoolField("MAC", info.eui64),
      esptoolField("BASE MAC", info.mac),
      esptoolField("MAC_EXT", info.macExt),
    ];
  }
  return [esptoolField("MAC", info.mac)];
}

/** esptool's words for the flash interface the eFuses select. */
const FLASH_TYPE_WORDS = { quad: "quad (4 data lines)", octal: "octal (8 data lines)" } as const;

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
        // As esptool: the chip ID where the chip has one (ESP8266), else its MAC.
        const lines = info.otpChipId !== null
          ? [`Chip ID: 0x${info.otpChipId.toString(16).padStart(8, "0")}`]
          : macLines(info);
        if (info.otpChipId === null) {
          ctx.out.warn(`${info.name} has no chip ID. Reading MAC address instead.`);
        }
        ctx.out.result(
          {
            ...chipJson(info),
            otpChipId: info.otpChipId,
            eui64: info.eui64,
            flashSize: info.flashSize,
          },
          [...lines, `Detected flash size: ${size}`].join("\n"),
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
        ctx.out.result(
          {
            chip: info.chip,
            mac: info.mac,
            ...(info.eui64 ? { eui64: info.eui64, macExt: info.macExt } : {}),
          },
          macLines(info).join("\n"),
        );
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
        const size = flash.size ? formatFlashSize(flash.size) : "Unknown";
        const lines = [
          "Flash Memory Information:",
          "=========================",
          `Manufacturer: ${flash.manufacturer.toString(16).padStart(2, "0")}`,
          `Device: ${flash.device.toString(16).padStart(4, "0")}`,
          `Detected flash size: ${size}`,
        ];
        if (info.flashType) {
          lines.push(`Flash type set in eFuse: ${FLASH_TYPE_WORDS[info.flashType]}`);
        }
        if (info.flashVoltage) {
          lines.push(
            `Flash voltage set by ${info.flashVoltage.source}: ${info.flashVoltage.voltage}`,
          );
        }
        ctx.out.result(
          {
            ...chipJson(info),
            flashManufacturer: flash.manufacturer,
            flashDevice: flash.device,
            flashSize: flash.size,
            flashType: info.flashType,
            flashVoltage: info.flashVoltage,
          },
          lines.join("\n"),
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
