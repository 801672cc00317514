/**
 * What a chip does after a reset into flash boot, and what it prints: the
 * ROM checks the second-stage bootloader at the chip's offset (magic, chip
 * id, checksum, SHA-256) and loads it; the ESP-IDF bootloader reads the
 * partition table (and its MD5), picks the app (factory, or by OTA data),
 * checks it (magic, chip id, revision, checksum, SHA-256) and starts it; the
 * app prints its descriptor and then what the test or the sim URL declared,
 * values from its NVS partition included (app_nvs.ts).
 *
 * The ROM's lines are those the genuine ESP32 and ESP32-C3 ROMs print in the
 * emulator (SPI boot strap) for a valid bootloader, an erased flash, a
 * bootloader for the wrong chip, a bad checksum and a bad SHA-256; other
 * ESP-ROM chips are assumed to print like the ESP32-C3. Where the emulated
 * ESP32 prints nothing for an erased flash, the virtual chip prints what
 * ESP32 boards print (`flash read err, 1000` then an RTC watchdog reset), as
 * countless board logs show. The bootloader's and app's lines follow ESP-IDF's
 * log format; the bootloader can not be run, so its log is ESP-IDF's, with
 * the version read from the flashed bootloader where it says.
 *
 * @module
 */

import { APP_LOG_TAG, AppNvs, NVS_PLACEHOLDER, parseNvsRef } from "./app_nvs.ts";
import type { ChipFacts, SimRevision } from "./chip_facts.ts";
import {
  type AppDescriptor,
  appDescriptor,
  IMAGE_MAGIC,
  otaSelection,
  type ParsedImage,
  PART,
  PARTITION_TABLE_OFFSET,
  type PartitionEntry,
  readImage,
  readPartitionTable,
} from "./image_format.ts";

/** How a boot ends. */
export type BootEnd =
  /** The application runs. */
  | { kind: "app" }
  /** The chip stops (the ROM printed `ets_main.c …` and waits). */
  | { kind: "halt" }
  /** The ESP32 ROM's built-in command interpreter takes over. */
  | { kind: "console" }
  /** The ROM prints `line` over and over (ESP32-C3 family with no image). */
  | { kind: "repeat"; line: string }
  /** The chip resets after `afterMs`: a software reset or the RTC watchdog. */
  | { kind: "reboot"; afterMs: number; cause: "software" | "watchdog" };

/** What a boot prints after the ROM banner, and how it ends. */
export interface BootScript {
  /** Text sent on the UART. */
  text: string;
  /** What happens next. */
  end: BootEnd;
  /** The application that runs (`end.kind === "app"`). */
  app?: AppDescriptor | null;
}

/** What the boot needs to know about the chip. */
export interface BootContext {
  /** The chip model. */
  facts: ChipFacts;
  /** Flash contents. */
  flash: Uint8Array;
  /** Wafer revision. */
  revision: SimRevision;
  /** Base MAC, for the app's lines. */
  mac: string;
  /** Lines the application prints after app_main() starts (see {@link renderAppLines}). */
  appLines: readonly string[];
}

/** The RTC watchdog period of the ESP32 ROM's flash boot (not measured: the boot loop's pace). */
export const ROM_WATCHDOG_MS = 1000;
/** Baud of the boot log (the ROM's and ESP-IDF's console default). */
const BOOT_BAUD = 115200;

/** ESP-IDF's log colours (CONFIG_LOG_COLORS, on by default). */
const COLOR = { E: "\x1b[0;31m", W: "\x1b[0;33m", I: "\x1b[0;32m" } as const;
const COLOR_END = "\x1b[0m";

const FLASH_MODES = ["QIO", "QOUT", "DIO", "DOUT"];
/** Image header frequency nibble → MHz and the ROM's SPI clock divider (80 MHz base). */
const FLASH_FREQS: Record<number, { mhz: string; div: number }> = {
  0x0: { mhz: "40MHz", div: 2 },
  0x1: { mhz: "26.7MHz", div: 3 },
  0x2: { mhz: "20MHz", div: 4 },
  0xf: { mhz: "80MHz", div: 1 },
};

const hex8 = (n: number) => `0x${(n >>> 0).toString(16).padStart(8, "0")}`;
const hex2 = (n: number) => `0x${n.toString(16).padStart(2, "0")}`;

/** Wire time of `text` on the console, ms: how long a boot loop's turn takes at least. */
function wireMs(text: string): number {
  return Math.max(20, (text.length * 10 * 1000) / BOOT_BAUD);
}

/** ESP-IDF log lines with a running millisecond clock. */
class IdfLog {
  #ms = 27;
  #lines: string[] = [];

  line(level: "I" | "W" | "E", tag: string, message: string): void {
    this.#lines.push(idfLine(level, this.#ms, tag, message));
    this.#ms += 3 + (message.length >> 4);
  }

  raw(text: string): void {
    this.#lines.push(text);
  }

  /** The log clock now, ms (it advances a little). */
  tick(): number {
    const now = this.#ms;
    this.#ms += 4;
    return now;
  }

  get text(): string {
    return this.#lines.join("");
  }
}

/** An ESP-IDF log line: `I (27) boot: text`, coloured as CONFIG_LOG_COLORS prints it. */
function idfLine(level: "I" | "W" | "E", ms: number, tag: string, message: string): string {
  return `${COLOR[level]}${level} (${ms}) ${tag}: ${message}${COLOR_END}\r\n`;
}

/** Options of {@link renderAppLines}. */
export interface RenderAppLinesOptions {
  /** Values of the plain placeholders (`mac`, `chip`, `project` …). */
  values: Record<string, string>;
  /** The log clock, ms, for `{ms}` and the app's error lines; default always 0. */
  clock?: () => number;
  /**
   * The app's NVS, for `{nvs:NAMESPACE/KEY}`; default none (such a
   * placeholder is left as written).
   */
  nvs?: AppNvs;
}

/**
 * The application's declared lines with their placeholders filled in:
 * `{mac}`, `{chip}`, `{project}`, `{version}`, `{idf}`, `{rev}`, `{ms}` (the
 * log clock, for ESP-IDF-style lines), and `{nvs:NAMESPACE/KEY}` (a string
 * read from the board's NVS partition; `{nvs:NAMESPACE/KEY:u8}` … `:i64`,
 * `:blob` for other types, see app_nvs.ts). A line whose NVS value cannot be
 * read is replaced by the error lines the app logs. Unknown placeholders are
 * left as they are.
 *
 * @example
 * ```ts
 * import { renderAppLines } from "./boot.ts";
 * renderAppLines(["hello from {chip}"], { values: { chip: "ESP32-C3" } }); // "hello from ESP32-C3\r\n"
 * ```
 */
export function renderAppLines(lines: readonly string[], options: RenderAppLinesOptions): string {
  const clock = options.clock ?? (() => 0);
  const out: string[] = [];
  // One pass, so a value read from NVS or the app is never read as a placeholder itself.
  const placeholder = new RegExp(`${NVS_PLACEHOLDER.source}|\\{([a-z]+)\\}`, "g");
  for (const line of lines) {
    const errors: string[] = [];
    const text = line.replace(
      placeholder,
      (m, inner: string | undefined, key: string | undefined) => {
        if (key !== undefined) return key === "ms" ? String(clock()) : options.values[key] ?? m;
        const ref = parseNvsRef(inner!);
        if (!options.nvs || typeof ref === "string") return m;
        const read = options.nvs.read(ref);
        if (read.ok) return read.text;
        errors.push(...read.errors);
        return m;
      },
    );
    if (errors.length) out.push(...errors.map((e) => idfLine("E", clock(), APP_LOG_TAG, e)));
    else out.push(text.endsWith("\n") ? text : `${text}\r\n`);
  }
  return out.join("");
}

/** Boot from flash after a reset (the ROM banner is already out). */
export function bootFromFlash(ctx: BootContext): BootScript {
  const f = ctx.facts;
  if (f.bootRom === "esp8266") return bootEsp8266(ctx);
  const image = readImage(ctx.flash, f.bootloaderOffset);
  const esp32 = f.bootRom === "esp32";
  if (!("segments" in image)) {
    if (esp32) {
      const text = `flash read err, ${f.bootloaderOffset.toString(16)}\r\nets_main.c 371 \r\n`;
      return { text, end: { kind: "reboot", afterMs: ROM_WATCHDOG_MS, cause: "watchdog" } };
    }
    const word = image.kind === "magic" ? image.word : 0xffffffff;
    return { text: "", end: { kind: "repeat", line: `invalid header: ${hex8(word)}\r\n` } };
  }
  let rom = "";
  if (esp32) {
    // The ESP32 ROM starts nothing built for another chip (the emulated ROM prints nothing).
    if (image.chipId !== f.imageChipId) {
      return { text: "", end: { kind: "reboot", afterMs: ROM_WATCHDOG_MS, cause: "watchdog" } };
    }
    const [d0, d1, d2] = image.pinDrive;
    rom += `configsip: 0, SPIWP:${hex2(image.wpPin)}\r\n` +
      `clk_drv:${hex2(d0 & 0xf)},q_drv:${hex2(d0 >> 4)},d_drv:${hex2(d1 & 0xf)},` +
      `cs0_drv:${hex2(d1 >> 4)},hd_drv:${hex2(d2 & 0xf)},wp_drv:${hex2(d2 >> 4)}\r\n`;
  } else {
    if (image.chipId !== f.imageChipId) {
      const text = `Invalid chip id. Expected ${f.imageChipId} read ${image.chipId}. ` +
        "Bootloader for wrong chip?\r\nets_main.c 333 \r\n";
      return { text, end: { kind: "halt" } };
    }
    rom += `SPIWP:${hex2(image.wpPin)}\r\n`;
  }
  const freq = FLASH_FREQS[image.flashFreqCode] ?? FLASH_FREQS[0];
  rom += `mode:${FLASH_MODES[image.flashMode] ?? "DIO"}, clock div:${freq.div}\r\n`;
  for (const s of image.segments) {
    rom += esp32
      ? `load:${hex8(s.addr)},len:${s.data.length}\r\n`
      : `load:${hex8(s.addr)},len:0x${s.data.length.toString(16)}\r\n`;
  }
  if (image.storedChecksum !== image.computedChecksum) {
    if (esp32) {
      rom += `csum err:${hex2(image.computedChecksum)}!=${hex2(image.storedChecksum)}\r\n` +
        "Falling back to built-in command interpreter.\r\nOK\r\n>";
      return { text: rom, end: { kind: "console" } };
    }
    rom += `Checksum failure. Calculated ${hex2(image.computedChecksum)} stored ` +
      `${hex2(image.storedChecksum)}\r\nets_main.c 333 \r\n`;
    return { text: rom, end: { kind: "halt" } };
  }
  if (!esp32 && image.storedSha256 !== image.computedSha256) {
    rom += `SHA-256 comparison failed:\r\nCalculated: ${image.computedSha256}\r\n` +
      `Expected: ${image.storedSha256}\r\nAttempting to boot anyway...\r\n`;
  }
  rom += `entry ${hex8(image.entry)}\r\n`;
  const second = secondStage(ctx, image);
  return { ...second, text: rom + second.text };
}

/** The ESP8266 ROM: boots an image at 0 (this model goes no further than its magic). */
function bootEsp8266(ctx: BootContext): BootScript {
  if (ctx.flash[0] !== IMAGE_MAGIC) return { text: "", end: { kind: "halt" } };
  // The ESP8266 RTOS SDK keeps its partition table where ESP-IDF does.
  const table = readPartitionTable(ctx.flash, PARTITION_TABLE_OFFSET);
  const text = renderAppLines(ctx.appLines, {
    values: appValues(ctx, null),
    nvs: new AppNvs(ctx.flash, table.ok ? table.entries : []),
  });
  return { text, end: { kind: "app" }, app: null };
}

function appValues(ctx: BootContext, app: AppDescriptor | null): Record<string, string> {
  return {
    mac: ctx.mac,
    chip: ctx.facts.name,
    rev: `v${ctx.revision.major}.${ctx.revision.minor}`,
    project: app?.projectName ?? "",
    version: app?.version ?? "",
    idf: app?.idfVersion ?? "",
  };
}

/** ESP-IDF's bootloader version: its descriptor (IDF 5.1+), else a version string in the image. */
function bootloaderVersion(image: ParsedImage): string {
  const first = image.segments.find((s) => s.data.length > 0)?.data;
  if (first && first[0] === 0x50 && first.length >= 40) {
    const raw = first.subarray(8, 40);
    const end = raw.indexOf(0);
    return new TextDecoder().decode(end >= 0 ? raw.subarray(0, end) : raw);
  }
  for (const s of image.segments) {
    const text = new TextDecoder("latin1").decode(s.data);
    const m = /\0(v\d+\.\d+[\w.+-]*)\0/.exec(text);
    if (m) return m[1];
  }
  return "";
}

const USAGE: Record<string, string> = {
  "0:0": "factory app",
  "0:32": "test app",
  "1:0": "OTA data",
  "1:1": "RF data",
  "1:2": "WiFi data",
  "1:3": "coredump",
  "1:4": "NVS keys",
  "1:5": "efuse",
};

function usage(p: PartitionEntry): string {
  if (p.type === PART.APP && p.subtype >= PART.OTA_0 && p.subtype <= PART.OTA_15) return "OTA app";
  return USAGE[`${p.type}:${p.subtype}`] ?? "unknown";
}

/** The app partitions in the order the bootloader tries them. */
function appCandidates(
  ctx: BootContext,
  table: PartitionEntry[],
): { part: PartitionEntry; name: string }[] {
  const apps = table.filter((p) => p.type === PART.APP);
  const factory = apps.find((p) => p.subtype === PART.FACTORY);
  const ota = apps.filter((p) => p.subtype >= PART.OTA_0 && p.subtype <= PART.OTA_15)
    .sort((a, b) => a.subtype - b.subtype);
  const test = apps.find((p) => p.subtype === PART.TEST);
  const otadata = table.find((p) => p.type === PART.DATA && p.subtype === PART.DATA_OTA);
  const slot = otadata && ota.length ? otaSelection(ctx.flash, otadata, ota.length) : null;
  const named = (p: PartitionEntry) =>
    p.subtype === PART.FACTORY
      ? "Factory app partition"
      : p.subtype === PART.TEST
      ? "Test app partition"
      : `OTA app partition slot ${p.subtype - PART.OTA_0}`;
  const order: PartitionEntry[] = [];
  if (slot !== null) order.push(ota[slot], ...ota.filter((_, i) => i !== slot));
  if (factory) order.push(factory);
  if (slot === null) order.push(...ota);
  if (test) order.push(test);
  return order.map((part) => ({ part, name: named(part) }));
}

/** Whether the bootloader maps a segment from flash (cache) rather than loading it (ESP-IDF's "map" / "load"). */
function flashMapped(chip: string, addr: number): boolean {
  if (addr >= 0x3c000000 && addr < 0x3e000000) return true; // S3, C2, C3 data/instruction caches
  if (addr >= 0x3f000000 && addr < 0x3f800000) return true; // ESP32 and S2 data cache
  if (addr >= 0x42000000 && addr < 0x44000000) return true; // C3 and later instruction cache
  return chip === "esp32" && addr >= 0x400d0000 && addr < 0x40400000; // ESP32 instruction cache
}

/** Check an app image as ESP-IDF's bootloader does; returns the log lines of a refusal. */
function checkApp(ctx: BootContext, offset: number, log: IdfLog): ParsedImage | null {
  const image = readImage(ctx.flash, offset);
  if (!("segments" in image)) {
    log.line("E", "esp_image", `image at 0x${offset.toString(16)} has invalid magic byte`);
    const mode = ctx.flash[offset + 2];
    const size = ctx.flash[offset + 3] >> 4;
    if (mode > 3) {
      log.line("W", "esp_image", `image at 0x${offset.toString(16)} has invalid SPI mode ${mode}`);
    }
    if (size > 7) {
      log.line("W", "esp_image", `image at 0x${offset.toString(16)} has invalid SPI size ${size}`);
    }
    return null;
  }
  const f = ctx.facts;
  if (image.chipId !== f.imageChipId) {
    log.line(
      "E",
      "boot_comm",
      `mismatch chip ID, expected ${f.imageChipId}, found ${image.chipId}`,
    );
    return null;
  }
  const rev = ctx.revision.major * 100 + ctx.revision.minor;
  if (rev < image.minRevFull) {
    log.line(
      "E",
      "boot_comm",
      `Image requires chip rev >= v${Math.floor(image.minRevFull / 100)}.${
        image.minRevFull % 100
      }, ` +
        `but chip is v${ctx.revision.major}.${ctx.revision.minor}`,
    );
    return null;
  }
  if (image.maxRevFull !== 0 && image.maxRevFull !== 0xffff && rev > image.maxRevFull) {
    log.line(
      "E",
      "boot_comm",
      `Image requires chip rev <= v${Math.floor(image.maxRevFull / 100)}.${
        image.maxRevFull % 100
      }, ` +
        `but chip is v${ctx.revision.major}.${ctx.revision.minor}`,
    );
    return null;
  }
  if (image.storedChecksum !== image.computedChecksum) {
    log.line(
      "E",
      "esp_image",
      `Checksum failed. Calculated ${hex2(image.computedChecksum)} read ${
        hex2(image.storedChecksum)
      }`,
    );
    return null;
  }
  if (image.hashAppended && image.storedSha256 !== image.computedSha256) {
    log.line("E", "esp_image", "Image hash failed - image is corrupt");
    return null;
  }
  return image;
}

function secondStage(ctx: BootContext, bootloader: ParsedImage): BootScript {
  const f = ctx.facts;
  const log = new IdfLog();
  const version = bootloaderVersion(bootloader);
  log.line("I", "boot", `ESP-IDF ${version ? `${version} ` : ""}2nd stage bootloader`);
  log.line("I", "boot", `chip revision: v${ctx.revision.major}.${ctx.revision.minor}`);
  const freq = FLASH_FREQS[bootloader.flashFreqCode] ?? FLASH_FREQS[0];
  const tag = `boot.${f.key}`;
  log.line("I", tag, `SPI Speed      : ${freq.mhz}`);
  log.line("I", tag, `SPI Mode       : ${FLASH_MODES[bootloader.flashMode] ?? "DIO"}`);
  log.line("I", tag, `SPI Flash Size : ${1 << bootloader.flashSizeCode}MB`);
  log.line("I", "boot", "Enabling RNG early entropy source...");
  const reboot = (): BootScript => {
    const text = log.text;
    return { text, end: { kind: "reboot", afterMs: wireMs(text), cause: "software" } };
  };
  const read = readPartitionTable(ctx.flash, PARTITION_TABLE_OFFSET);
  if (!read.ok) {
    if (read.problem === "magic") {
      log.line(
        "E",
        "flash_parts",
        `partition ${read.index} invalid magic number 0x${read.magic.toString(16)}`,
      );
    } else log.line("E", "flash_parts", "Incorrect MD5 checksum");
    log.line("E", "boot", "Failed to verify partition table");
    log.line("E", "boot", "load partition table error!");
    return reboot();
  }
  log.line("I", "boot", "Partition Table:");
  log.line("I", "boot", "## Label            Usage          Type ST Offset   Length");
  read.entries.forEach((p, i) => {
    log.line(
      "I",
      "boot",
      `${String(i).padStart(2)} ${p.label.padEnd(16)} ${usage(p).padEnd(16)} ` +
        `${p.type.toString(16).padStart(2, "0")} ${p.subtype.toString(16).padStart(2, "0")} ` +
        `${p.offset.toString(16).padStart(8, "0")} ${p.size.toString(16).padStart(8, "0")}`,
    );
  });
  log.line("I", "boot", "End of partition table");
  for (const { part, name } of appCandidates(ctx, read.entries)) {
    const app = checkApp(ctx, part.offset, log);
    if (!app) {
      log.line("E", "boot", `${name} is not bootable`);
      continue;
    }
    app.segments.forEach((s, i) => {
      const mapped = flashMapped(f.key, s.addr);
      log.line(
        "I",
        "esp_image",
        `segment ${i}: paddr=${(part.offset + s.offset).toString(16).padStart(8, "0")} ` +
          `vaddr=${s.addr.toString(16).padStart(8, "0")} size=${
            s.data.length.toString(16).padStart(5, "0")
          }h ` +
          `(${String(s.data.length).padStart(6)}) ${mapped ? "map" : "load"}`,
      );
    });
    log.line("I", "boot", `Loaded app from partition at offset 0x${part.offset.toString(16)}`);
    log.line("I", "boot", "Disabling RNG early entropy source...");
    const desc = appDescriptor(app);
    log.line("I", "cpu_start", f.cores > 1 ? "Multicore app" : "Unicore app");
    log.line("I", "cpu_start", "Pro cpu start user code");
    if (desc) {
      log.line("I", "app_init", "Application information:");
      log.line("I", "app_init", `Project name:     ${desc.projectName}`);
      log.line("I", "app_init", `App version:      ${desc.version}`);
      log.line("I", "app_init", `Compile time:     ${desc.date} ${desc.time}`);
      log.line("I", "app_init", `ELF file SHA256:  ${desc.elfSha256.slice(0, 16)}...`);
      log.line("I", "app_init", `ESP-IDF:          ${desc.idfVersion}`);
    }
    log.line("I", "efuse_init", `Chip rev:         v${ctx.revision.major}.${ctx.revision.minor}`);
    log.line("I", "main_task", "Started on CPU0");
    log.line("I", "main_task", "Calling app_main()");
    log.raw(renderAppLines(ctx.appLines, {
      values: appValues(ctx, desc),
      clock: () => log.tick(),
      nvs: new AppNvs(ctx.flash, read.entries),
    }));
    return { text: log.text, end: { kind: "app" }, app: desc };
  }
  log.line("E", "boot", "No bootable app partitions in the partition table");
  return reboot();
}
