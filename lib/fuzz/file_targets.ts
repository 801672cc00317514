/**
 * Fuzz targets for what people hand espline as files and names: ESP-IDF
 * `flasher_args.json`, build folders (ESP-IDF, PlatformIO, Arduino),
 * esptool-style `@` argument files, `esptool.cfg` reset settings and
 * `sim://` port URLs. Each input is written to a scratch folder of the
 * process (removed at exit) and read the way the CLI and scripts read it.
 *
 * @module
 */

import type { FuzzTarget } from "./harness.ts";
import { loadFirmware } from "../device/firmware.ts";
import { preflight } from "../image/preflight.ts";
import { parsePartitionCsv, partitionTableToBinary } from "../image/partition.ts";
import { CHIPS } from "../chips/index.ts";
import { expandArgFiles, parseCommandLine } from "../cli/args.ts";
import { COMMANDS, GLOBAL_OPTIONS } from "../cli/main.ts";
import { connectStrategies, readResetConfig } from "../loader/reset.ts";
import { openTransport } from "../transport/open.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

let scratch: string | null = null;

/** This process's scratch folder for the file targets (removed when the process ends). */
function scratchDir(): string {
  if (scratch === null) {
    const made = Deno.makeTempDirSync({ prefix: "espline-fuzz-files-" });
    scratch = made;
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(made, { recursive: true });
      } catch { /* already gone */ }
    });
  }
  return scratch;
}

let fresh = 0;

/** A new empty folder in the scratch folder; `done` removes it. */
function freshDir(): { path: string; done: () => void } {
  const path = `${scratchDir()}/${fresh++}`;
  Deno.mkdirSync(path);
  return { path, done: () => Deno.removeSync(path, { recursive: true }) };
}

/** An ESP32-family image header (esptool docs, image format): magic 0xE9, chip id at byte 12. */
function imageHeader(chipId: number, size: number): Uint8Array {
  const out = new Uint8Array(size).fill(0x5a);
  out.set([0xe9, 1, 2, 0x20, 0, 0, 0, 0], 0);
  out.set([0xee, 0, 0, 0, chipId & 0xff, chipId >> 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 8);
  return out;
}

const PARTITIONS = partitionTableToBinary(
  parsePartitionCsv("nvs,data,nvs,0x9000,24K\nphy_init,data,phy,,4K\nfactory,app,factory,,1M"),
);

/** What the pre-flight checks compare a firmware with: a chip, revision v0.0, 4 MB flash. */
function preflightAll(regions: { address: number; data: Uint8Array; name?: string }[]): void {
  for (const chip of CHIPS) {
    preflight(regions, { chip, revision: { major: 0, minor: 0 }, flashSize: 0x400000 });
  }
}

/** The files an ESP-IDF build's flasher_args.json names, made once in the scratch folder. */
function idfBuild(): string {
  const dir = `${scratchDir()}/idf`;
  try {
    Deno.statSync(dir);
    return dir;
  } catch { /* make it */ }
  Deno.mkdirSync(`${dir}/bootloader`, { recursive: true });
  Deno.mkdirSync(`${dir}/partition_table`);
  Deno.writeFileSync(`${dir}/bootloader/bootloader.bin`, imageHeader(5, 0x200));
  Deno.writeFileSync(`${dir}/partition_table/partition-table.bin`, PARTITIONS);
  Deno.writeFileSync(`${dir}/hello.bin`, imageHeader(5, 0x800));
  Deno.writeFileSync(`${dir}/empty.bin`, new Uint8Array(0));
  Deno.mkdirSync(`${dir}/folder.bin`);
  return dir;
}

const FLASHER_ARGS = {
  write_flash_args: ["--flash_mode", "dio", "--flash_size", "2MB", "--flash_freq", "80m"],
  flash_settings: { flash_mode: "dio", flash_size: "2MB", flash_freq: "80m" },
  flash_files: {
    "0x0": "bootloader/bootloader.bin",
    "0x8000": "partition_table/partition-table.bin",
    "0x10000": "hello.bin",
  },
  bootloader: { offset: "0x0", file: "bootloader/bootloader.bin", encrypted: "false" },
  extra_esptool_args: { after: "hard_reset", before: "default_reset", stub: true, chip: "esp32c3" },
};

/**
 * ESP-IDF's `flasher_args.json`: its text mutated, beside the files it
 * names; read as a manifest (the file, and the folder that holds it), then
 * pre-flight checked against every chip.
 */
export const manifestJsonTarget: FuzzTarget = {
  name: "manifest-json",
  samples: () => [
    encoder.encode(JSON.stringify(FLASHER_ARGS, null, 2)),
    encoder.encode(JSON.stringify({
      ...FLASHER_ARGS,
      flash_files: { "4096": "hello.bin", "0x20000": "empty.bin", " 0X30000 ": "folder.bin" },
      flash_settings: { flash_mode: "keep", flash_size: "detect", flash_freq: "keep" },
      extra_esptool_args: { chip: "esp32" },
    })),
    encoder.encode(
      '{"flash_files":{"0x0":"bootloader/bootloader.bin","0x10000":"/nonexistent/app.bin"}}',
    ),
  ],
  async run(input) {
    const dir = idfBuild();
    const file = `${dir}/flasher_args.json`;
    Deno.writeFileSync(file, input);
    try {
      const fw = await loadFirmware(file);
      preflightAll(fw.regions);
      await loadFirmware(dir);
    } finally {
      Deno.removeSync(file);
    }
  },
};

/** File names a build folder may hold (a name ending in "/" is a folder). */
const BUILD_NAMES = [
  "flasher_args.json",
  "bootloader.bin",
  "partitions.bin",
  "firmware.bin",
  "boot_app0.bin",
  "sketch.ino.bin",
  "sketch.ino.bootloader.bin",
  "sketch.ino.partitions.bin",
  "bootloader/bootloader.bin",
  "partition_table/partition-table.bin",
  "app.bin",
  "firmware.bin/",
  "bootloader/",
  "notes.txt",
];

/** A folder as bytes: (name index, length low, length high, bytes) repeated. */
function packFolder(files: [number, Uint8Array][]): Uint8Array {
  const out: number[] = [];
  for (const [name, data] of files) {
    out.push(name, data.length & 0xff, data.length >> 8, ...data);
  }
  return Uint8Array.from(out);
}

/**
 * Build folders: an input is a folder's files (see `packFolder`), written
 * to a new folder and loaded as firmware the way `--manifest build/` does,
 * then pre-flight checked against every chip.
 */
export const buildFolderTarget: FuzzTarget = {
  name: "build-folder",
  samples: () => [
    // PlatformIO
    packFolder([
      [1, imageHeader(0, 0x80)],
      [2, PARTITIONS],
      [3, imageHeader(0, 0x100)],
      [4, new Uint8Array(32).fill(0xff)],
    ]),
    // Arduino
    packFolder([[6, imageHeader(9, 0x80)], [7, PARTITIONS], [5, imageHeader(9, 0x100)]]),
    // ESP-IDF
    packFolder([
      [
        0,
        encoder.encode(JSON.stringify({
          flash_files: {
            "0x1000": "bootloader/bootloader.bin",
            "0x8000": "partition_table/partition-table.bin",
            "0x10000": "app.bin",
          },
          flash_settings: { flash_mode: "dio", flash_size: "4MB", flash_freq: "40m" },
          extra_esptool_args: { chip: "esp32" },
        })),
      ],
      [8, imageHeader(0, 0x80)],
      [9, PARTITIONS],
      [10, imageHeader(0, 0x100)],
    ]),
  ],
  async run(input) {
    const dir = freshDir();
    try {
      let off = 0;
      while (off + 3 <= input.length) {
        const name = BUILD_NAMES[input[off] % BUILD_NAMES.length];
        const len = input[off + 1] | (input[off + 2] << 8);
        const data = input.subarray(off + 3, off + 3 + len);
        off += 3 + len;
        const path = `${dir.path}/${name}`;
        try {
          if (name.endsWith("/")) Deno.mkdirSync(path, { recursive: true });
          else {
            if (name.includes("/")) {
              Deno.mkdirSync(path.slice(0, path.lastIndexOf("/")), { recursive: true });
            }
            Deno.writeFileSync(path, data);
          }
        } catch { /* a file where a folder is, or the reverse: the folder stays as it is */ }
      }
      const fw = await loadFirmware(dir.path);
      preflightAll(fw.regions);
    } finally {
      dir.done();
    }
  },
};

/**
 * esptool-style `@` argument files: up to three files (the input split at
 * NUL bytes), the first named on the command line, each able to name the
 * others (or itself); expanded and parsed as a command line.
 */
export const argFileTarget: FuzzTarget = {
  name: "arg-files",
  samples: () => {
    const d = scratchDir();
    return [
      encoder.encode(
        `--chip esp32 -p sim://esp32 -b 921600\n# a comment\nwrite-flash @${d}/args-1.txt\0` +
          `0x1000 "boot loader.bin" 0x10000 'app.bin'\0`,
      ),
      encoder.encode(`@${d}/args-1.txt read-mac\0@${d}/args-2.txt\0--baud 115200\n`),
      encoder.encode(`@${d}/args-0.txt\0`),
      encoder.encode(`-b 9600 ${`@${d}/args-0.txt `.repeat(6)}\0`),
      encoder.encode(
        `@${d}/args-1.txt @${d}/args-1.txt\0@${d}/args-2.txt @${d}/args-2.txt\0` +
          `@${d}/args-0.txt @${d}/args-0.txt`,
      ),
    ];
  },
  run(input) {
    const d = scratchDir();
    const parts = decoder.decode(input).split("\0").slice(0, 3);
    parts.forEach((text, i) => Deno.writeTextFileSync(`${d}/args-${i}.txt`, text));
    try {
      const argv = expandArgFiles(["--port", "sim://esp32", `@${d}/args-0.txt`]);
      parseCommandLine(argv.slice(0, 64), { commands: [...COMMANDS], globals: GLOBAL_OPTIONS });
    } finally {
      for (let i = 0; i < 3; i++) {
        try {
          Deno.removeSync(`${d}/args-${i}.txt`);
        } catch { /* not written */ }
      }
    }
  },
};

/**
 * `esptool.cfg` (and espline.cfg, setup.cfg, tox.ini): the `[esptool]`
 * section's reset sequences and delay, read as the entry points read them,
 * then made into the connect strategies a port would use.
 */
export const resetConfigTarget: FuzzTarget = {
  name: "reset-cfg",
  samples: () => [
    encoder.encode(
      "[esptool]\ncustom_reset_sequence = D0|R1|W0.1|D1|R0|W0.05|D0\n" +
        "custom_hard_reset_sequence = R1|W0.1|R0\nreset_delay = 0.1\n",
    ),
    encoder.encode("[other]\nx = 1\n[esptool]\ncustom_reset_sequence: U0,1|W0.2|U1,0|W0|u01\n"),
    encoder.encode("; tox.ini\n[esptool]\nreset_delay = 2\n# comment\ncustom_reset_sequence=\n"),
  ],
  run(input) {
    const dir = freshDir();
    try {
      Deno.writeFileSync(`${dir.path}/esptool.cfg`, input);
      const config = readResetConfig(dir.path, { file: `${dir.path}/esptool.cfg` });
      for (const os of ["linux", "windows", "darwin"]) {
        for (const before of ["default-reset", "usb-reset", "no-reset"]) {
          connectStrategies(before, { path: "/dev/ttyUSB0", vid: 0x303a, pid: 0x1001 }, {
            config,
            os,
          });
        }
      }
    } finally {
      dir.done();
    }
  },
};

/**
 * `sim://` URLs as a port name: opened (the virtual chip made) and closed.
 * A `flash=` file is kept inside the scratch folder: the value is put under
 * it, so no input writes elsewhere.
 */
export const simUrlTarget: FuzzTarget = {
  name: "sim-url",
  samples: () => [
    encoder.encode("esp32c3?mac=02:aa:bb:cc:dd:01&size=2MB&rev=v0.4&seed=7&corrupt=0.01"),
    encoder.encode("esp32?flash=f.bin&size=1MB&usb=usb-jtag&start=app&crystal=26&secure=1"),
    encoder.encode("esp8266?firmware=erased&stall=0.5&stallms=5&vanish=block&swap=0.1&app=x"),
    encoder.encode("esp32s3?pace=1&latency=2&timing=1&romrepeat=0&framing=0.1&cmdfield=1"),
  ],
  async run(input) {
    const text = decoder.decode(input).replaceAll("flash=", `flash=${scratchDir()}/`);
    // A key spelled with escapes (fl%61sh) or a value climbing out (..) would write elsewhere.
    const query = text.includes("?") ? text.slice(text.indexOf("?") + 1) : "";
    let files: string[] = [];
    try {
      files = new URLSearchParams(query).getAll("flash");
    } catch { /* the sim's own parse says what is wrong */ }
    if (files.some((f) => !f.startsWith(`${scratchDir()}/`) || f.includes(".."))) return;
    const t = await openTransport(`sim://${text}`);
    await t.close();
  },
};
