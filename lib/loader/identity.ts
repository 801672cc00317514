/**
 * A board's identity, read so that a wrong value never reaches the caller.
 *
 * READ_REG and GET_SECURITY_INFO answers carry no checksum: a bit flipped on
 * the wire in the value, or in the address of the request, gives a wrong
 * word that looks like any other. The MAC, the chip id, the silicon
 * revision and the flash chip's id are what a journal and a serial number
 * are keyed on, so each is read until two reads agree ({@link readConfirmed}),
 * and the MAC is checked against the CRC the chip stores beside it, where it
 * stores one (ESP32: eFuse BLOCK0, as ESP-IDF checks it at boot).
 *
 * A device keeps the identity it was connected with and compares it after
 * every reconnect: a different board behind the same port name (a board
 * swapped on a fixed USB path, a network serial server) is a
 * {@link BoardChangedError}, never a silent carry-on.
 *
 * @module
 */

import { EsplineError, TimeoutError } from "../errors.ts";
import { formatMac } from "../chips/index.ts";
import type { ChipRevision, MacCheckFailure, ReadReg } from "../chips/types.ts";
import { LoaderStatusError } from "../protocol/status.ts";
import { MalformedPacketError } from "../protocol/packet.ts";
import type { LoaderSession } from "./session.ts";

/**
 * Reads of one identity value before giving up. Our own bound: with one
 * frame in 30 corrupted (the soak's harshest setting) the first two reads
 * agree almost always; six leaves room for reads that fail outright and for
 * the third agreeing read that a disagreement calls for.
 */
export const IDENTITY_MAX_READS = 6;

/**
 * Agreeing reads a value needs once two reads of it have disagreed: a
 * request whose address was corrupted reads another register, and unused
 * registers all read 0, so two different faults can give the same wrong
 * value; a third agreeing read makes that negligible.
 */
const AGREEING_AFTER_DISAGREEMENT = 3;

/** Timed-out reads in a row after which reading stops (each waited out the loader's retries). */
const TIMEOUTS_IN_A_ROW = 2;

/** Error codes of a read that went wrong on the link (tried again within the bound). */
const LINK_FAULT_CODES: readonly string[] = [
  "E_TIMEOUT",
  "E_MALFORMED_PACKET",
  "E_SHORT_RESPONSE",
  "E_SPI_TIMEOUT",
];

function isLinkFault(e: unknown): boolean {
  return e instanceof TimeoutError || e instanceof LoaderStatusError ||
    e instanceof MalformedPacketError ||
    (e instanceof EsplineError && LINK_FAULT_CODES.includes(e.code));
}

/**
 * No two reads of an identity value agreed: the link corrupts answers too
 * often to trust what the board says about itself. Nothing was recorded.
 */
export class IdentityUnstableError extends EsplineError {
  /** Create the error for the value `what` and the readings seen. */
  constructor(what: string, readings: string[], options: { port?: string; cause?: unknown } = {}) {
    super(
      "E_IDENTITY_UNSTABLE",
      `the board's ${what} read back differently every time (${readings.join(", ")})` +
        `${options.port ? ` on ${options.port}` : ""}: the serial link corrupts answers. ` +
        "Check the cable and connector, use a lower --baud, and try again; nothing was recorded",
      { cause: options.cause, details: { what, readings, port: options.port } },
    );
  }
}

/** Options for {@link readConfirmed}. */
export interface ReadConfirmedOptions<T> {
  /** How a reading is compared and shown. Default: hex for bytes, else JSON. */
  show?: (value: T) => string;
  /**
   * Readings that cannot be the value (a flash chip id of all zero or all
   * one bits: nothing answered) count as failed reads. If every reading is
   * such a one and two agree, that reading is returned: it is what the
   * board says. Default: every reading is valid.
   */
  valid?: (value: T) => boolean;
  /** Reads before giving up. Default {@link IDENTITY_MAX_READS}. */
  maxReads?: number;
  /** Port, for the error message. */
  port?: string;
  /** A reading already made (counts as the first). */
  initial?: { value: T };
}

function showValue(value: unknown): string {
  if (value instanceof Uint8Array) {
    return Array.from(value, (b) => b.toString(16).padStart(2, "0")).join(":");
  }
  return typeof value === "string" ? value : JSON.stringify(value);
}

/**
 * Read a value until two reads in a row agree; once two readings have
 * disagreed, until one value has been read three times. At most `maxReads`
 * reads; a read that fails on the link (timeout, garbled or error answer)
 * counts as a read. When every read failed, the last failure is thrown as
 * it is (a loader that refuses the command refuses it every time).
 *
 * @throws {IdentityUnstableError} (`E_IDENTITY_UNSTABLE`) when readings disagree and none is confirmed.
 * @example
 * ```ts
 * import { readConfirmed } from "./identity.ts";
 * let n = 0;
 * const words = [0x1234, 0x1274, 0x1234, 0x1234];
 * await readConfirmed("word", () => Promise.resolve(words[n++])); // 0x1234, after 4 reads
 * ```
 */
export async function readConfirmed<T>(
  what: string,
  read: () => Promise<T>,
  options: ReadConfirmedOptions<T> = {},
): Promise<T> {
  const show = options.show ?? showValue;
  const valid = options.valid ?? (() => true);
  const maxReads = options.maxReads ?? IDENTITY_MAX_READS;
  const counts = new Map<string, { value: T; n: number }>();
  const invalid = new Map<string, { value: T; n: number }>();
  const readings: string[] = [];
  let lastError: unknown;
  let previous: string | null = null;
  let disagreed = false;
  let failedInARow = 0;
  const tally = (map: typeof counts, key: string, value: T) => {
    const c = map.get(key) ?? { value, n: 0 };
    c.n++;
    map.set(key, c);
    return c.n;
  };
  for (let i = 0; i < maxReads; i++) {
    let value: T;
    try {
      value = i === 0 && options.initial ? options.initial.value : await read();
    } catch (e) {
      if (!isLinkFault(e)) throw e;
      lastError = e;
      readings.push(`no answer: ${(e as Error).message}`);
      // Two timeouts running (each after the loader's own retries): the chip is gone, not
      // noisy; stop waiting on it. Quick refusals are simply read again.
      failedInARow = e instanceof TimeoutError ? failedInARow + 1 : 0;
      if (failedInARow >= TIMEOUTS_IN_A_ROW) break;
      continue;
    }
    failedInARow = 0;
    const key = show(value);
    readings.push(key);
    if (!valid(value)) {
      tally(invalid, key, value);
      continue;
    }
    const n = tally(counts, key, value);
    if (previous !== null && previous !== key) disagreed = true;
    previous = key;
    if (n >= (disagreed ? AGREEING_AFTER_DISAGREEMENT : 2)) return value;
  }
  if (counts.size === 0) {
    const agreed = [...invalid.values()].find((c) => c.n >= 2);
    if (agreed) return agreed.value;
    // Refused every time (a command this loader does not serve): that error is the answer.
    if (invalid.size === 0 && lastError !== undefined) throw lastError;
  }
  throw new IdentityUnstableError(what, readings, { port: options.port, cause: lastError });
}

/**
 * The MAC fails the CRC the chip stores beside it in eFuse (read the same
 * way twice): the eFuse MAC is damaged, so the board has no identity to
 * journal. ESP-IDF refuses to start on such a board too.
 */
export class MacCrcError extends EsplineError {
  /** Create the error for a MAC, the stored CRC and the one its bytes give. */
  constructor(chipName: string, mac: string, stored: number, computed: number, port?: string) {
    const hex = (n: number) => `0x${n.toString(16).padStart(2, "0")}`;
    super(
      "E_MAC_CRC",
      `the ${chipName}'s factory MAC ${mac} fails its eFuse CRC (stored ${hex(stored)}, ` +
        `the MAC gives ${hex(computed)})${port ? ` on ${port}` : ""}: the eFuse MAC is damaged. ` +
        "ESP-IDF will not start on this board either; set it aside (nothing was recorded for it)",
      { details: { mac, storedCrc: stored, computedCrc: computed, port } },
    );
  }
}

/** Who a board is: what a device compares after every reconnect. */
export interface BoardIdentity {
  /** Chip key. */
  chip: string;
  /** Chip family name (`ESP32-C3`). */
  name: string;
  /** Base MAC; null where the loader will not tell (secure download mode). */
  mac: string | null;
  /** The MAC fails its eFuse CRC: the stored and computed values (null when it holds). */
  macCrc: MacCheckFailure | null;
}

/**
 * A register reader whose every word is confirmed ({@link readConfirmed})
 * and then kept for the reader's life: values derived from several words
 * (a revision, a package name) are computed from confirmed words, so two
 * different faults cannot meet in the same wrong result, and a word several
 * values share is read once.
 *
 * @example
 * ```ts ignore
 * const rd = confirmedReader(session, "MAC");
 * const mac = await session.chip.readMac(rd);
 * ```
 */
export function confirmedReader(session: LoaderSession, what: string): ReadReg {
  const port = session.transport.path;
  const words = new Map<number, Promise<number>>();
  return (address) => {
    let word = words.get(address);
    if (!word) {
      const hex = `0x${address.toString(16).padStart(8, "0")}`;
      word = readConfirmed(`${what} (register ${hex})`, () => session.readReg(address), {
        port,
        show: (v) => `0x${v.toString(16).padStart(8, "0")}`,
      });
      words.set(address, word);
      word.catch(() => words.delete(address));
    }
    return word;
  };
}

/**
 * Read a board's chip and MAC from confirmed register words, and check the
 * MAC's CRC where the chip stores one. A failing CRC is reported in
 * `macCrc`, not thrown: the caller decides (see {@link MacCrcError}).
 */
export async function readIdentity(session: LoaderSession): Promise<BoardIdentity> {
  const chip = session.chip;
  const base = { chip: chip.key, name: chip.name };
  // Secure download mode refuses READ_REG: the chip is all the loader tells.
  if (session.secureDownload) return { ...base, mac: null, macCrc: null };
  const rd = confirmedReader(session, "MAC");
  const bytes = await chip.readMac(rd);
  const macCrc = chip.checkMac ? await chip.checkMac(bytes, rd) : null;
  return { ...base, mac: formatMac(bytes), macCrc };
}

/** The silicon revision, from confirmed register words. */
export function readRevisionConfirmed(session: LoaderSession): Promise<ChipRevision> {
  return session.chip.readRevision(confirmedReader(session, "silicon revision"));
}

/**
 * The board on the port is not the one the device was connected to: after
 * a reconnect (a write resumed after the port vanished, a reset into
 * download mode) another chip or MAC answered. Nothing more is written; the
 * first board may hold part of what was being written.
 */
export class BoardChangedError extends EsplineError {
  /** Create the error from the identity expected and the one found. */
  constructor(port: string, expected: BoardIdentity, found: BoardIdentity) {
    const who = (b: BoardIdentity) => `${b.name} ${b.mac ?? "(MAC unknown)"}`;
    super(
      "E_BOARD_CHANGED",
      `a different board answered on ${port} after a reconnect: expected ${who(expected)}, found ${
        who(found)
      }. ` +
        `Nothing more was written to either; the ${
          expected.mac ?? expected.name
        } board may hold a partly written firmware: put it back and run the job again`,
      {
        details: {
          port,
          expected: { chip: expected.chip, mac: expected.mac },
          found: { chip: found.chip, mac: found.mac },
        },
      },
    );
  }
}

/** True when two identities name the same board (chip and, where both are known, MAC). */
export function sameBoard(a: BoardIdentity, b: BoardIdentity): boolean {
  return a.chip === b.chip && (a.mac === null || b.mac === null || a.mac === b.mac);
}
