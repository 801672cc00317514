/**
 * Start Espressif's genuine mask ROM (ESP32, ESP32-C3) in the emulator of
 * `../shared/emulator`, its UART on a TCP port, with a flash file and an
 * eFuse file made for the test (MAC burnt in). Used by tests and benches
 * that talk to real ROM code. See ../shared/emulator/README.md.
 *
 * @module
 */

import { freePort, SHARED_DIR } from "./external.ts";

/** Chips the emulator runs. */
export type RomChip = "esp32" | "esp32c3";

/** Options for {@link startRom}. */
export interface StartRomOptions {
  /** MAC address to burn into the eFuse file, `aa:bb:cc:dd:ee:ff`. Default per chip. */
  mac?: string;
  /** ESP32 only: the MAC CRC byte to store; default the correct CRC-8 (espefuse's). */
  macCrc?: number;
  /** Flash size in bytes (a power of two, 2–16 MiB). Default 4 MiB. */
  flashSize?: number;
  /** Initial flash contents (padded with 0xFF to `flashSize`). Default all 0xFF. */
  flash?: Uint8Array;
  /** Boot strap value; default UART download mode. `"spi"` boots from flash. */
  strap?: number | "download" | "spi";
  /** Folder for the flash and eFuse files; default a new temporary folder removed on stop. */
  dir?: string;
  /** Wait for the client before the chip starts (so no boot line is lost). Default false. */
  waitForClient?: boolean;
}

/** A running emulator. */
export interface RomInstance {
  /** The chip emulated. */
  chip: RomChip;
  /** TCP port of its UART on 127.0.0.1. */
  port: number;
  /** `socket://127.0.0.1:PORT`. */
  url: string;
  /** MAC burnt into its eFuse. */
  mac: string;
  /** Path of its flash file (written in place as the chip programs it). */
  flashPath: string;
  /** Path of its eFuse file. */
  efusePath: string;
  /** Read the flash file as it is now. */
  readFlash(): Promise<Uint8Array>;
  /** Kill the emulator and remove the temporary folder (if it made one). */
  stop(): Promise<void>;
  /** `await using` support. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** The MACs used when a test does not name one. */
export const DEFAULT_ROM_MAC: Record<RomChip, string> = {
  esp32: "24:0a:c4:12:34:56",
  esp32c3: "58:cf:79:12:34:56",
};

/** Default strap values (../shared/emulator/README.md). */
const STRAPS: Record<RomChip, { download: number; spi: number }> = {
  esp32: { download: 0x0f, spi: 0x12 },
  esp32c3: { download: 0x02, spi: 0x08 },
};

/** The emulator's own folder: its QEMU binaries in bin/, the mask ROMs in rom/. */
const EMULATOR_DIR = `${SHARED_DIR}emulator`;

/** QEMU binary, machine and device names per chip (as ../shared/emulator/run-rom names them). */
const MACHINES: Record<RomChip, { bin: string; machine: string; gpio: string; efuse: string }> = {
  esp32: {
    bin: "qemu-system-xtensa",
    machine: "esp32",
    gpio: "esp32.gpio",
    efuse: "nvram.esp32.efuse",
  },
  esp32c3: {
    bin: "qemu-system-riscv32",
    machine: "esp32c3",
    gpio: "esp32c3.gpio",
    efuse: "nvram.esp32c3.efuse",
  },
};

/**
 * Extra QEMU options per chip. The ESP32-C3 runs with `-icount`: its
 * virtual clock then follows the instructions the guest has run, not the
 * host's clock, so a guest slowed by a loaded host still sees UART input
 * arrive at the baud rate it set. Without it, on a loaded 2-core host
 * (8 CPU burners, load about 9), esptool 5's stub lost the UART RX
 * interrupt in about half of the compressed writes: the UART held 128
 * bytes in its RX FIFO with RXFIFO_FULL and RXFIFO_TOUT raised and enabled
 * (INT_ST 0x101), the interrupt matrix showed nothing pending on the
 * level-type CPU line they map to (EIP_STATUS 0), the stub sat in its
 * idle loop, QEMU stopped reading the socket, and the chip never answered
 * again (esptool 5.3.1 itself failed 5 runs of 6 there). With `-icount
 * shift=auto,sleep=on` the same load gave no such stall. Everything else
 * on the command line is run-rom's.
 */
const EXTRA_QEMU_ARGS: Record<RomChip, string[]> = {
  esp32: [],
  esp32c3: ["-icount", "shift=auto,sleep=on"],
};

/** QEMU's command line for `chip` (../shared/emulator/run-rom's, plus {@link EXTRA_QEMU_ARGS}). */
function qemuArgs(
  chip: RomChip,
  files: { flash: string; efuse: string; port: number; strap: number; wait: boolean },
): string[] {
  const m = MACHINES[chip];
  return [
    "-nographic",
    "-machine",
    m.machine,
    "-L",
    `${EMULATOR_DIR}/rom`,
    "-drive",
    `file=${files.flash},if=mtd,format=raw`,
    "-drive",
    `file=${files.efuse},if=none,format=raw,id=efuse`,
    "-global",
    `driver=${m.efuse},property=drive,value=efuse`,
    "-global",
    `driver=${m.gpio},property=strap_mode,value=0x${files.strap.toString(16)}`,
    "-serial",
    `tcp:127.0.0.1:${files.port},server,${files.wait ? "wait" : "nowait"}`,
    "-monitor",
    "none",
    ...EXTRA_QEMU_ARGS[chip],
  ];
}

/** CRC-8 of a MAC as the ESP32 ROM's esp_crc8 and espefuse compute it (reflected 0x8C, init 0). */
export function macCrc8(mac: Uint8Array): number {
  let crc = 0;
  for (const b of mac) {
    crc ^= b;
    for (let i = 0; i < 8; i++) crc = crc & 1 ? (crc >>> 1) ^ 0x8c : crc >>> 1;
  }
  return crc;
}

function parseMac(mac: string): Uint8Array {
  const parts = mac.split(":").map((p) => parseInt(p, 16));
  if (parts.length !== 6 || parts.some((p) => !(p >= 0 && p <= 255))) {
    throw new Error(`bad MAC ${mac}`);
  }
  return Uint8Array.from(parts);
}

/**
 * The eFuse file for a chip with `mac` burnt in (layout from the emulator's
 * README: ESP32 31 words with the MAC in words 1–2 and its CRC in word 2
 * bits 16–23; ESP32-C3 1024 bytes with MAC_SPI_SYS_0/1 at bytes 24 and 28).
 */
export function efuseImage(chip: RomChip, mac: string, crc?: number): Uint8Array {
  const m = parseMac(mac);
  if (chip === "esp32") {
    const out = new Uint8Array(124);
    const v = new DataView(out.buffer);
    v.setUint32(4, ((m[2] << 24) | (m[3] << 16) | (m[4] << 8) | m[5]) >>> 0, true);
    v.setUint32(8, ((crc ?? macCrc8(m)) << 16) | (m[0] << 8) | m[1], true);
    return out;
  }
  const out = new Uint8Array(1024);
  const v = new DataView(out.buffer);
  v.setUint32(24, ((m[2] << 24) | (m[3] << 16) | (m[4] << 8) | m[5]) >>> 0, true);
  v.setUint32(28, (m[0] << 8) | m[1], true);
  return out;
}

/** Is something listening on 127.0.0.1:port? (reads /proc/net/tcp; makes no connection) */
function listening(port: number): boolean {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  try {
    const text = Deno.readTextFileSync("/proc/net/tcp");
    // local_address "0100007F:PORT", state 0A = LISTEN
    return text.split("\n").some((l) => {
      const f = l.trim().split(/\s+/);
      return f[1]?.endsWith(`:${hex}`) && f[3] === "0A";
    });
  } catch {
    return false;
  }
}

/**
 * Start the emulator (QEMU with run-rom's command line, see
 * {@link EXTRA_QEMU_ARGS}) and wait until its UART port listens. The chip starts
 * at once (in download mode it then waits for SYNC); with
 * `waitForClient`, it starts when the first client connects.
 */
export async function startRom(chip: RomChip, options: StartRomOptions = {}): Promise<RomInstance> {
  const madeDir = options.dir === undefined;
  const dir = options.dir ?? await Deno.makeTempDir({ prefix: `espline-rom-${chip}-` });
  const size = options.flashSize ?? 4 * 1024 * 1024;
  const flash = new Uint8Array(size).fill(0xff);
  if (options.flash) flash.set(options.flash.subarray(0, size));
  const flashPath = `${dir}/flash.bin`;
  const efusePath = `${dir}/efuse.bin`;
  const mac = options.mac ?? DEFAULT_ROM_MAC[chip];
  await Deno.writeFile(flashPath, flash);
  await Deno.writeFile(efusePath, efuseImage(chip, mac, options.macCrc));
  const strap = options.strap === undefined || options.strap === "download"
    ? STRAPS[chip].download
    : options.strap === "spi"
    ? STRAPS[chip].spi
    : options.strap;
  let port = 0;
  let child: Deno.ChildProcess | null = null;
  let log = "";
  for (let attempt = 0; attempt < 5 && !child; attempt++) {
    port = freePort();
    const c = new Deno.Command(`${EMULATOR_DIR}/bin/${MACHINES[chip].bin}`, {
      args: qemuArgs(chip, {
        flash: flashPath,
        efuse: efusePath,
        port,
        strap,
        wait: options.waitForClient ?? false,
      }),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const out = collect(c);
    const deadline = Date.now() + 20_000;
    let exited = false;
    c.status.then(() => exited = true);
    while (!exited && !listening(port) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 25));
    }
    if (listening(port) && !exited) {
      child = c;
      out.then((t) => log = t);
      break;
    }
    try {
      c.kill("SIGKILL");
    } catch { /* gone */ }
    await c.status;
    log = await out;
    if (!/address already in use/i.test(log)) break;
  }
  if (!child) {
    if (madeDir) await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw new Error(`the ${chip} emulator did not start: ${log.trim().slice(-400)}`);
  }
  const running = child;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    try {
      running.kill("SIGKILL");
    } catch { /* gone */ }
    await running.status;
    if (madeDir) await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  return {
    chip,
    port,
    url: `socket://127.0.0.1:${port}`,
    mac,
    flashPath,
    efusePath,
    readFlash: () => Deno.readFile(flashPath),
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

async function collect(c: Deno.ChildProcess): Promise<string> {
  const [a, b] = await Promise.all([
    new Response(c.stdout).text().catch(() => ""),
    new Response(c.stderr).text().catch(() => ""),
  ]);
  return a + b;
}
