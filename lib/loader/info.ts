/**
 * What a connected chip tells about itself: type, revision, features,
 * crystal, MAC, and the flash chip's JEDEC id and size.
 *
 * @module
 */

import { flashSizeFromJedec, formatMac } from "../chips/index.ts";
import type { ChipRevision } from "../chips/types.ts";
import type { LoaderSession } from "./session.ts";

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

/** Flash chip facts. */
export interface FlashInfo {
  /** JEDEC manufacturer id. */
  manufacturer: number;
  /** JEDEC device id (memory type << 8 | capacity). */
  device: number;
  /** Size implied by the capacity byte, in bytes, or null if the id is unusual. */
  size: number | null;
}

/**
 * Read the chip's identity through READ_REG.
 *
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
export async function readChipInfo(session: LoaderSession): Promise<ChipInfo> {
  const chip = session.chip;
  const rd = session.readRegFn;
  const revision = await chip.readRevision(rd);
  const description = await chip.readDescription(rd);
  const features = await chip.readFeatures(rd);
  // Measured at connect time, before the stub or a baud change moved the UART divider. When a
  // stub was already running at connect, chips that estimate it from the divider cannot tell.
  const crystalMhz = session.crystalMhz ??
    (session.isStub && chip.crystalFromUart
      ? null
      : await chip.readCrystalMhz(rd, session.transport.baud));
  const mac = formatMac(await chip.readMac(rd));
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
    stub: session.isStub,
  };
}

/** Read the flash chip's JEDEC id (RDID) and the size it implies. */
export async function readFlashInfo(session: LoaderSession): Promise<FlashInfo> {
  const id = await session.flashId();
  const manufacturer = id & 0xff;
  const device = (((id >> 8) & 0xff) << 8) | ((id >> 16) & 0xff);
  return { manufacturer, device, size: flashSizeFromJedec(id) };
}
