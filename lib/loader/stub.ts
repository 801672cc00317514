/**
 * The flasher stub images. They are data shipped in the esptool-js npm
 * package (pinned in deno.json), built by Espressif from esptool's flasher
 * stub; espline uploads them to RAM and runs them.
 *
 * @module
 */

import { EsplineError } from "../errors.ts";

/** One RAM segment of the stub. */
export interface StubSegment {
  /** Load address. */
  address: number;
  /** Contents. */
  bytes: Uint8Array;
}

/** A decoded stub image. */
export interface StubImage {
  /** Entry point. */
  entry: number;
  /** Code segment (IRAM). */
  text: StubSegment;
  /** Data segment (DRAM), if any. */
  data: StubSegment | null;
}

interface StubJson {
  entry: number;
  text: string;
  text_start: number;
  data?: string;
  data_start?: number;
}

// Literal specifiers so the module graph (and deno.lock) knows every file.
const LOADERS: Record<string, () => Promise<{ default: StubJson }>> = {
  esp8266: () =>
    import("esptool-js/lib/targets/stub_flasher/esp8266.json", { with: { type: "json" } }),
  esp32: () => import("esptool-js/lib/targets/stub_flasher/esp32.json", { with: { type: "json" } }),
  esp32s2: () =>
    import("esptool-js/lib/targets/stub_flasher/esp32s2.json", { with: { type: "json" } }),
  esp32s3: () =>
    import("esptool-js/lib/targets/stub_flasher/esp32s3.json", { with: { type: "json" } }),
  esp32c2: () =>
    import("esptool-js/lib/targets/stub_flasher/esp32c2.json", { with: { type: "json" } }),
  esp32c3: () =>
    import("esptool-js/lib/targets/stub_flasher/esp32c3.json", { with: { type: "json" } }),
  esp32c5: () =>
    import("esptool-js/lib/targets/stub_flasher/esp32c5.json", { with: { type: "json" } }),
  esp32c6: () =>
    import("esptool-js/lib/targets/stub_flasher/esp32c6.json", { with: { type: "json" } }),
  esp32h2: () =>
    import("esptool-js/lib/targets/stub_flasher/esp32h2.json", { with: { type: "json" } }),
  esp32p4: () =>
    import("esptool-js/lib/targets/stub_flasher/esp32p4.json", { with: { type: "json" } }),
  "esp32p4-rev1": () =>
    import("esptool-js/lib/targets/stub_flasher/esp32p4-rev1.json", { with: { type: "json" } }),
};

function decodeBase64(text: string): Uint8Array {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Load a stub by its file base name (a chip's `stubName`, e.g. `esp32s3`, `esp32p4-rev1`). */
export async function loadStubImage(name: string): Promise<StubImage> {
  const loader = LOADERS[name];
  if (!loader) throw new EsplineError("E_NO_STUB", `no flasher stub named ${name}; use --no-stub`);
  const json = (await loader()).default;
  return {
    entry: json.entry,
    text: { address: json.text_start, bytes: decodeBase64(json.text) },
    data: json.data && json.data_start !== undefined
      ? { address: json.data_start, bytes: decodeBase64(json.data) }
      : null,
  };
}
