/**
 * Fuzz targets: everything in espline that reads bytes or text from
 * outside (the wire, files, the command line).
 *
 * @module
 */

import { SlipDecoder, slipEncode } from "../protocol/slip.ts";
import { decodeResponse, Op, u32le } from "../protocol/packet.ts";
import { checkStatus } from "../protocol/status.ts";
import { parseCommandLine, parseIntArg } from "../cli/args.ts";
import { COMMANDS, GLOBAL_OPTIONS } from "../cli/main.ts";
import { LoaderSession } from "../loader/session.ts";
import { TransportError } from "../errors.ts";
import type { Transport } from "../transport/transport.ts";
import { patchFlashParams } from "../image/flash_params.ts";
import { CHIPS } from "../chips/index.ts";
import type { FuzzTarget } from "./harness.ts";
import { formatImageInfo, parseImage } from "../image/image.ts";
import {
  parsePartitionCsv,
  parsePartitionTable,
  partitionTableToBinary,
  partitionTableToCsv,
} from "../image/partition.ts";
import { journalFileTarget } from "./journal_target.ts";
import {
  argFileTarget,
  buildFolderTarget,
  manifestJsonTarget,
  resetConfigTarget,
  simUrlTarget,
} from "./file_targets.ts";
import { readFlashTarget, rfc2217Target, sessionTarget, telnetTarget } from "./wire_targets.ts";

function frame(op: number, value: number, data: number[]): Uint8Array {
  return Uint8Array.from([
    0x01,
    op,
    data.length & 0xff,
    data.length >> 8,
    ...u32le(value),
    ...data,
  ]);
}

const RESPONSES = [
  frame(Op.READ_REG, 0x00f01d83, [0, 0, 0, 0]),
  frame(Op.SYNC, 0x20120707, [0, 0, 0, 0]),
  frame(Op.SPI_FLASH_MD5, 0, [
    ...new TextEncoder().encode("0123456789abcdef0123456789abcdef"),
    0,
    0,
    0,
    0,
  ]),
  frame(Op.SPI_FLASH_MD5, 0, [...new Array(16).fill(0xab), 0, 0]),
  frame(Op.FLASH_DATA, 0, [1, 7, 0, 0]),
  frame(0x00, 0, [1, 5]),
  frame(Op.GET_SECURITY_INFO, 0, [...new Array(20).fill(0), 0, 0, 0, 0]),
];

/** The streaming SLIP decoder must never throw, whatever arrives, in any chunking. */
export const slipTarget: FuzzTarget = {
  name: "slip",
  samples: () =>
    RESPONSES.map((r) => slipEncode(r)).concat([
      new TextEncoder().encode("ets Jun  8 2016\r\nwaiting for download\r\n"),
    ]),
  run(input, rand) {
    const d = new SlipDecoder({ maxFrame: 1024 });
    let off = 0;
    while (off < input.length) {
      const n = 1 + Math.floor(rand() * 64);
      d.push(input.subarray(off, off + n));
      off += n;
    }
    d.takeNoise();
  },
};

/** Response parsing and status checks: typed errors only. */
export const responseTarget: FuzzTarget = {
  name: "response",
  samples: () => RESPONSES,
  run(input, rand) {
    const r = decodeResponse(input);
    checkStatus(r.op, r.data, Math.floor(rand() * 40), "fuzz");
  },
};

const TOKENS = [
  "write-flash",
  "write_flash",
  "read-flash",
  "erase-region",
  "read_mac",
  "chip-id",
  "monitor",
  "journal",
  "--port",
  "-p",
  "--baud",
  "-b",
  "--flash-mode",
  "--flash_mode",
  "-fm",
  "dio",
  "qio",
  "--flash-size",
  "4MB",
  "detect",
  "-z",
  "-u",
  "-e",
  "--before",
  "default_reset",
  "--after",
  "--json",
  "0x1000",
  "0x10000",
  "ALL",
  "boot.bin",
  "--",
  "--no-stub",
  "--chip",
  "esp32",
  "-",
  "--x=y",
  "=",
  "@",
  "--expect",
];

/** The CLI argument parser: usage errors only, never a crash. */
export const cliTarget: FuzzTarget = {
  name: "cli-args",
  samples: () => [new TextEncoder().encode("\x00\x08\x27\x0f\x1b\x1c")],
  run(input) {
    const argv: string[] = [];
    for (let i = 0; i < input.length; i++) {
      const b = input[i];
      if (b < TOKENS.length * 4) argv.push(TOKENS[b % TOKENS.length]);
      else argv.push(String.fromCharCode(32 + (b % 95)).repeat(1 + (input[i + 1] ?? 0) % 3));
    }
    for (const a of argv) parseIntArg(a);
    parseCommandLine(argv.slice(0, 24), { commands: [...COMMANDS], globals: GLOBAL_OPTIONS });
  },
};

/** A transport that delivers `bytes` in chunks, then vanishes. */
function garbagePort(bytes: Uint8Array, rand: () => number): Transport {
  let off = 0;
  return {
    path: "fuzz",
    baud: 115200,
    info: { path: "fuzz" },
    read() {
      if (off >= bytes.length) {
        return Promise.reject(new TransportError("E_PORT_GONE", "fuzz input exhausted"));
      }
      const n = 1 + Math.floor(rand() * 64);
      const chunk = bytes.subarray(off, off + n);
      off += n;
      return Promise.resolve(chunk);
    },
    write: () => Promise.resolve(),
    setBaud: () => Promise.resolve(),
    setSignals: () => Promise.resolve(),
    flushInput: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
}

/**
 * A loader session fed garbage, then the port vanishes: connect and
 * detection end in typed errors (nothing gets further: `session` in
 * wire_targets.ts does).
 */
export const sessionGarbageTarget: FuzzTarget = {
  name: "session-garbage",
  quickInputs: 300,
  samples: () =>
    [RESPONSES.map((r) => Array.from(slipEncode(r))).flat()].map((a) => Uint8Array.from(a)),
  async run(input, rand) {
    const s = await LoaderSession.connect(garbagePort(input, rand), { before: "no-reset-no-sync" });
    await s.readReg(0x3ff5a004);
    await s.flashId();
  },
};

/** Bootloader header patching over damaged images: no exception for valid parameters. */
export const flashParamsTarget: FuzzTarget = {
  name: "flash-params",
  async samples() {
    const out: Uint8Array[] = [];
    for (
      const name of ["bootloader_esp32.bin", "bootloader_esp32c3.bin", "bootloader_esp8266.bin"]
    ) {
      try {
        out.push(
          await Deno.readFile(
            new URL(`../../../shared/fixtures/esptool-images/${name}`, import.meta.url),
          ),
        );
      } catch { /* fixtures absent: random inputs only */ }
    }
    return out;
  },
  run(input, rand) {
    const chip = CHIPS[Math.floor(rand() * CHIPS.length)];
    patchFlashParams(input, chip.bootloaderOffset, { chip, params: { mode: "dio", size: "4MB" } });
  },
};

async function fixtureSamples(names: string[]): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for (const name of names) {
    try {
      out.push(
        await Deno.readFile(
          new URL(`../../../shared/fixtures/esptool-images/${name}`, import.meta.url),
        ),
      );
    } catch { /* fixtures absent: random inputs only */ }
  }
  return out;
}

/** The image parser (image-info) over damaged images. */
export const imageTarget: FuzzTarget = {
  name: "image",
  samples: () =>
    fixtureSamples([
      "bootloader_esp32.bin",
      "bootloader_esp32c3.bin",
      "helloworld-esp32.bin",
      "bootloader_esp8266.bin",
    ]),
  run(input) {
    formatImageInfo(parseImage(input));
  },
};

/** The binary partition-table parser. */
export const partitionTarget: FuzzTarget = {
  name: "partition-bin",
  async samples() {
    const bins = await fixtureSamples(["partitions_singleapp.bin"]);
    return [
      ...bins,
      partitionTableToBinary(parsePartitionCsv("nvs,data,nvs,,24K\nfactory,app,factory,,1M")),
    ];
  },
  run(input) {
    partitionTableToCsv(parsePartitionTable(input));
  },
};

/** The partition CSV reader. */
export const partitionCsvTarget: FuzzTarget = {
  name: "partition-csv",
  samples: () => [
    new TextEncoder().encode(
      "# Name, Type, SubType, Offset, Size, Flags\nnvs, data, nvs, 0x9000, 24K,\n" +
        "factory, app, factory, , 1M, readonly\nx, 0x40, 0x01, , 0x1000, encrypted:readonly\n",
    ),
  ],
  run(input) {
    partitionTableToBinary(parsePartitionCsv(new TextDecoder().decode(input)));
  },
};

/** Every target, for the fuzz task. */
export const TARGETS: FuzzTarget[] = [
  slipTarget,
  responseTarget,
  cliTarget,
  sessionGarbageTarget,
  sessionTarget,
  readFlashTarget,
  telnetTarget,
  rfc2217Target,
  flashParamsTarget,
  imageTarget,
  partitionTarget,
  partitionCsvTarget,
  journalFileTarget,
  manifestJsonTarget,
  buildFolderTarget,
  argFileTarget,
  resetConfigTarget,
  simUrlTarget,
];
