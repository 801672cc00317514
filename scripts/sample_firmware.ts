/**
 * A bootable firmware set (ESP-IDF layout: bootloader, partition table,
 * factory app with an app descriptor) for any chip the virtual chip models,
 * built without a toolchain — for the demo and for tests that must flash
 * something the virtual chip will boot (or, built for another chip, refuse).
 *
 *     deno run -A scripts/sample_firmware.ts esp32c3 out/   # writes the three .bin files
 *
 * The images are made by the virtual chip's own image writer
 * (lib/sim/image_format.ts); tests check them with the client's reader
 * (lib/image) and esptool's image-info, so neither side grades itself.
 *
 * @module
 */

import { chipFacts, SIM_CHIP_KEYS, type SimChipKey } from "../lib/sim/chip_facts.ts";
import {
  type FirmwareOptions,
  type FirmwareRegion,
  firmwareRegions,
} from "../lib/sim/factory_firmware.ts";

export type { FirmwareOptions, FirmwareRegion };

/**
 * The firmware set for `chip`.
 *
 * @example
 * ```ts
 * import { sampleFirmware } from "./sample_firmware.ts";
 * const regions = sampleFirmware("esp32c3", { projectName: "blink", appSize: 64 * 1024 });
 * // [{ address: 0x0, name: "bootloader.bin" }, { address: 0x8000 … }, { address: 0x10000 … }]
 * ```
 */
export function sampleFirmware(chip: SimChipKey, options: FirmwareOptions = {}): FirmwareRegion[] {
  return firmwareRegions(chipFacts(chip), options);
}

if (import.meta.main) {
  const [chip, dir = "."] = Deno.args;
  if (!chip || chip === "-h" || chip === "--help" || !SIM_CHIP_KEYS.includes(chip as SimChipKey)) {
    console.log(
      `usage: deno run -A scripts/sample_firmware.ts CHIP [DIR]\n  CHIP: ${
        SIM_CHIP_KEYS.join(", ")
      }`,
    );
    Deno.exit(chip && chip !== "-h" && chip !== "--help" ? 2 : 0);
  }
  for (const r of sampleFirmware(chip as SimChipKey)) {
    await Deno.writeFile(`${dir}/${r.name}`, r.data);
    console.log(`0x${r.address.toString(16)} ${dir}/${r.name} (${r.data.length} bytes)`);
  }
}
