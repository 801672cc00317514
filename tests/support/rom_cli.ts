/**
 * Helpers shared by the tests that run espline against the genuine ROMs in
 * the emulator (tests/rom_*.ts): the CLI in process, test data, and checks
 * against the emulator's flash file.
 *
 * @module
 */

import assert from "node:assert/strict";
import { runCli } from "../../lib/cli/main.ts";
import type { OutputSinks } from "../../lib/cli/output.ts";
import { type RomChip, type RomInstance, startRom } from "./rom.ts";

/** What one CLI run printed. */
export interface CliRun {
  /** Exit code. */
  code: number;
  /** Standard output. */
  out: string;
  /** Standard error. */
  err: string;
}

/** Run espline's CLI in this process against `rom` (`--port` and `--before no-reset` added). */
export async function romCli(rom: RomInstance, args: string[]): Promise<CliRun> {
  let out = "";
  let err = "";
  const sinks: OutputSinks = {
    stdout: (t) => (out += t),
    stderr: (t) => (err += t),
    isTerminal: false,
  };
  const code = await runCli(["--port", rom.url, "--before", "no-reset", ...args], { sinks });
  return { code, out, err };
}

/** {@link romCli} that must succeed; returns stdout. */
export async function romCliOk(rom: RomInstance, args: string[]): Promise<string> {
  const r = await romCli(rom, args);
  assert.equal(r.code, 0, `espline ${args.join(" ")} failed:\n${r.out}\n${r.err}`);
  return r.out;
}

/** Bytes that do not compress (xorshift32 from `seed`). */
export function randomBytes(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Bytes that compress well, with some noise (so not all runs are equal). */
export function textBytes(size: number, seed: number): Uint8Array {
  const noise = randomBytes(size, seed);
  const out = new Uint8Array(size);
  const word = new TextEncoder().encode("espline on the genuine ROM; ");
  for (let i = 0; i < size; i++) out[i] = i % 61 === 0 ? noise[i] : word[i % word.length];
  return out;
}

/**
 * The emulator writes its flash file through QEMU's block layer, which may
 * reach the file a moment after the chip answered (seen on a loaded host):
 * read it until `ok` holds or `FLASH_FILE_SETTLE_MS` passes, then return
 * the last read for the assertion.
 */
const FLASH_FILE_SETTLE_MS = 3000;
async function settledFlash(
  rom: RomInstance,
  ok: (flash: Uint8Array) => boolean,
): Promise<Uint8Array> {
  const deadline = Date.now() + FLASH_FILE_SETTLE_MS;
  for (;;) {
    const flash = await rom.readFlash();
    if (ok(flash) || Date.now() >= deadline) return flash;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Assert that the emulator's flash file holds `data` at `address` (what the chip really programmed). */
export async function assertFlashHolds(
  rom: RomInstance,
  expected: { address: number; data: Uint8Array; what?: string },
): Promise<void> {
  const { address, data, what = "data" } = expected;
  const firstDiff = (flash: Uint8Array) =>
    flash.subarray(address, address + data.length).findIndex((b, i) => b !== data[i]);
  const diff = firstDiff(await settledFlash(rom, (f) => firstDiff(f) === -1));
  assert.equal(
    diff,
    -1,
    `${what} at 0x${address.toString(16)}: the flash file differs first at +0x${diff.toString(16)}`,
  );
}

/** Assert that the flash file is erased (0xFF) over `size` bytes at `address`. */
export async function assertFlashErased(
  rom: RomInstance,
  region: { address: number; size: number },
): Promise<void> {
  const { address, size } = region;
  const firstSet = (flash: Uint8Array) =>
    flash.subarray(address, address + size).findIndex((b) => b !== 0xff);
  const notErased = firstSet(await settledFlash(rom, (f) => firstSet(f) === -1));
  assert.equal(notErased, -1, `0x${address.toString(16)}+0x${size.toString(16)} is not erased`);
}

/** A temporary folder for files the CLI reads or writes; removed by `await using`. */
export async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "espline-rom-test-" });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }).catch(() => {}),
  };
}

/** Options for {@link romLoaderCliRound}. */
export interface RomLoaderRoundOptions {
  /** The MAC burnt into the emulator's eFuse. */
  mac: string;
  /** What chip-id must say on its "Chip type" line. */
  chipType: RegExp;
  /** Seed for the test data. */
  seed: number;
}

/**
 * The round every emulated chip gets through its ROM loader (`--no-stub`),
 * on one emulator: read-mac, chip-id (40 MHz crystal), flash-id, write-flash
 * `-u` and `-z`, verify-flash, read-flash (READ_FLASH_SLOW), erase-region,
 * each write and erase checked against the emulator's flash file.
 */
export async function romLoaderCliRound(
  rom: RomInstance,
  options: RomLoaderRoundOptions,
): Promise<void> {
  await using dir = await tempDir();
  const loader = ["--no-stub", "--after", "no-reset"];
  assert.match(
    await romCliOk(rom, [...loader, "read-mac"]),
    new RegExp(`^MAC: +${options.mac}$`, "m"),
  );
  const id = await romCliOk(rom, [...loader, "chip-id"]);
  assert.match(id, options.chipType);
  assert.match(id, /^Crystal frequency: +40MHz$/m);
  assert.match(await romCliOk(rom, [...loader, "flash-id"]), /^Detected flash size: 4MB$/m);

  const raw = randomBytes(6000, options.seed);
  const text = textBytes(12000, options.seed + 1);
  await Deno.writeFile(`${dir.path}/raw.bin`, raw);
  await Deno.writeFile(`${dir.path}/text.bin`, text);
  await romCliOk(rom, [...loader, "write-flash", "-u", "0x10000", `${dir.path}/raw.bin`]);
  await romCliOk(rom, [...loader, "write-flash", "-z", "0x20000", `${dir.path}/text.bin`]);
  await assertFlashHolds(rom, {
    address: 0x10000,
    data: raw,
    what: "uncompressed write through the ROM",
  });
  await assertFlashHolds(rom, {
    address: 0x20000,
    data: text,
    what: "compressed write through the ROM",
  });
  const verify = await romCliOk(rom, [
    ...loader,
    "verify-flash",
    "0x10000",
    `${dir.path}/raw.bin`,
    "0x20000",
    `${dir.path}/text.bin`,
  ]);
  assert.doesNotMatch(verify, /MISMATCH|FAILED/i);
  // READ_FLASH_SLOW: 64 bytes a command, served by every ESP32-family ROM.
  await romCliOk(rom, [...loader, "read-flash", "0x20000", "3000", `${dir.path}/back.bin`]);
  assert.deepEqual(await Deno.readFile(`${dir.path}/back.bin`), text.subarray(0, 3000));
  await romCliOk(rom, [...loader, "erase-region", "0x10000", "0x2000"]);
  await assertFlashErased(rom, { address: 0x10000, size: 0x2000 });
  await assertFlashHolds(rom, {
    address: 0x20000,
    data: text,
    what: "data outside the erased region",
  });
}

/**
 * The ROM's own baud change (`--no-stub -b BAUD`) followed by a read of a
 * region put in the flash file beforehand, on a fresh emulator. Only small
 * requests cross the line at the new rate: the emulated ROMs lose input bytes
 * of long frames above 115200 when the host is loaded (seen at 230400 and up),
 * which says nothing about espline.
 */
export async function romBaudReadRound(chip: RomChip, baud: number): Promise<void> {
  const data = randomBytes(4096, baud);
  const flash = new Uint8Array(0x70000).fill(0xff);
  flash.set(data, 0x60000);
  await using rom = await startRom(chip, { flash });
  await using dir = await tempDir();
  const out = await romCliOk(rom, [
    "--after",
    "no-reset",
    "--no-stub",
    "-b",
    String(baud),
    "read-flash",
    "0x60000",
    "4096",
    `${dir.path}/back.bin`,
  ]);
  assert.match(out, new RegExp(`Baud rate: +${baud}`));
  assert.deepEqual(await Deno.readFile(`${dir.path}/back.bin`), data);
}
