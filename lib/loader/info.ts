/**
 * What a connected chip tells about itself: type, revision, features,
 * crystal, MAC, and the flash chip's JEDEC id and size.
 *
 * @module
 */

import { flashSizeFromJedec } from "../chips/index.ts";
import type { ChipRevision } from "../chips/types.ts";
import { EsplineError } from "../errors.ts";
import type { LoaderSession } from "./session.ts";
import {
  type BoardIdentity,
  confirmedReader,
  MacCrcError,
  readConfirmed,
  readIdentity,
} from "./identity.ts";

/** Facts about the connected chip (esptool prints the same on connect). */
export interface ChipInfo {
  /** Chip key, e.g. `esp32s3`. */
  chip: string;
  /** Family name, e.g. `ESP32-S3`. */
  name: string;
  /** Full description, e.g. `ESP32-S3 (QFN56) (revision v0.2)`. */
  description: string;
  /** Silicon revision. */
  revision: ChipRevision;
  /** Feature list as esptool prints it. */
  features: string[];
  /**
   * Crystal frequency in MHz; `null` when it cannot be known: a chip that
   * estimates it from the UART divider, met with the flasher stub already
   * running (the stub reprogrammed the clocks).
   */
  crystalMhz: number | null;
  /** Base MAC, `aa:bb:cc:dd:ee:ff`. */
  mac: string;
  /** Chip id from GET_SECURITY_INFO where the ROM reports it. */
  chipId: number | null;
  /** Secure download mode is on. */
  secureDownload: boolean;
  /** The flasher stub is running. */
  stub: boolean;
}

/** A 24-bit RDID answer with every bit set: the data line floated high, nothing answered. */
const JEDEC_NO_ANSWER = 0xffffff;

/** Flash chip facts. */
export interface FlashInfo {
  /** JEDEC manufacturer id. */
  manufacturer: number;
  /** JEDEC device id (memory type << 8 | capacity). */
  device: number;
  /** Size implied by the capacity byte, in bytes, or null if the id is unusual. */
  size: number | null;
}

/** Options for {@link readChipInfo}. */
export interface ReadChipInfoOptions {
  /** The board's identity, already read (by {@link readIdentity}); default: read it now. */
  identity?: BoardIdentity;
}

/**
 * Read the chip's identity through READ_REG. Every register word is read
 * until two reads agree, and the MAC is checked against its eFuse CRC where
 * the chip stores one, so a corrupted answer never passes for the board's
 * identity.
 *
 * @throws {IdentityUnstableError} (`E_IDENTITY_UNSTABLE`) when the reads of a value never agree.
 * @throws {MacCrcError} (`E_MAC_CRC`) when the eFuse MAC fails its CRC.
 * @example
 * ```ts
 * import { readChipInfo } from "./info.ts";
 * import type { LoaderSession } from "./session.ts";
 * async function show(s: LoaderSession) {
 *   const info = await readChipInfo(s);
 *   console.log(info.description, info.mac);
 * }
 * ```
 */
export async function readChipInfo(
  session: LoaderSession,
  options: ReadChipInfoOptions = {},
): Promise<ChipInfo> {
  const chip = session.chip;
  const port = session.transport.path;
  if (session.secureDownload) {
    throw new EsplineError(
      "E_SECURE_DOWNLOAD",
      `secure download mode is on: the ${chip.name} ROM will not read its eFuses, ` +
        "so the MAC, revision and features are unknown",
    );
  }
  const identity = options.identity ?? await readIdentity(session);
  if (identity.macCrc) {
    throw new MacCrcError(
      chip.name,
      identity.mac ?? "",
      identity.macCrc.stored,
      identity.macCrc.computed,
      port,
    );
  }
  const mac = identity.mac ?? "";
  // Every value below is computed from confirmed eFuse words (each word read once).
  const rd = confirmedReader(session, "chip facts");
  const revision = await chip.readRevision(rd);
  const description = await chip.readDescription(rd);
  const features = await chip.readFeatures(rd);
  // Measured at connect time, before the stub or a baud change moved the UART divider. When a
  // stub was already running at connect, chips that estimate it from the divider cannot tell.
  const crystalMhz = session.crystalMhz ??
    (session.loader.kind === "stub" && chip.crystalFromUart
      ? null
      : await chip.readCrystalMhz(rd, session.transport.baud));
  return {
    chip: chip.key,
    name: chip.name,
    description,
    revision,
    features,
    crystalMhz,
    mac,
    chipId: session.securityInfo?.chipId ?? null,
    secureDownload: session.secureDownload,
    stub: session.loader.kind === "stub",
  };
}

/**
 * Read the flash chip's JEDEC id (RDID) and the size it implies; read until
 * two reads agree, as the chip's identity is.
 *
 * @throws {IdentityUnstableError} (`E_IDENTITY_UNSTABLE`) when they never do.
 */
export async function readFlashInfo(session: LoaderSession): Promise<FlashInfo> {
  const id = await readConfirmed("flash chip id", () => session.flashId(), {
    port: session.transport.path,
    show: (v) => `0x${v.toString(16).padStart(6, "0")}`,
    // No JEDEC manufacturer id is all zero or all one bits: nothing answered (or the SPI
    // command never ran because its register writes went astray).
    valid: (v) => v !== 0 && v !== JEDEC_NO_ANSWER,
  });
  const manufacturer = id & 0xff;
  const device = (((id >> 8) & 0xff) << 8) | ((id >> 16) & 0xff);
  return { manufacturer, device, size: flashSizeFromJedec(id) };
}
