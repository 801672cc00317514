/**
 * The flasher stub images shipped in the esptool-js 0.7.0 npm package (an
 * esp-flasher-stub build: the stub espline uploads), as data for tests that
 * upload a stub by hand.
 *
 * @module
 */

import esp8266 from "esptool-js/lib/targets/stub_flasher/esp8266.json" with { type: "json" };
import esp32 from "esptool-js/lib/targets/stub_flasher/esp32.json" with { type: "json" };
import esp32s2 from "esptool-js/lib/targets/stub_flasher/esp32s2.json" with { type: "json" };
import esp32s3 from "esptool-js/lib/targets/stub_flasher/esp32s3.json" with { type: "json" };
import esp32c2 from "esptool-js/lib/targets/stub_flasher/esp32c2.json" with { type: "json" };
import esp32c3 from "esptool-js/lib/targets/stub_flasher/esp32c3.json" with { type: "json" };
import esp32c5 from "esptool-js/lib/targets/stub_flasher/esp32c5.json" with { type: "json" };
import esp32c6 from "esptool-js/lib/targets/stub_flasher/esp32c6.json" with { type: "json" };
import esp32h2 from "esptool-js/lib/targets/stub_flasher/esp32h2.json" with { type: "json" };
import esp32p4 from "esptool-js/lib/targets/stub_flasher/esp32p4.json" with { type: "json" };
import esp32p4rev1 from "esptool-js/lib/targets/stub_flasher/esp32p4-rev1.json" with {
  type: "json",
};

/** Shape of an esptool-js stub JSON file. */
interface StubJson {
  entry: number;
  text: string;
  text_start: number;
  data?: string;
  data_start?: number;
}

/** A decoded stub image: segments and entry point. */
export interface StubImage {
  /** File name in esptool-js lib/targets/stub_flasher/. */
  name: string;
  /** Entry point address. */
  entry: number;
  /** Load segments (text, then data). */
  segments: { addr: number; bytes: Uint8Array }[];
}

const RAW: Record<string, StubJson> = {
  "esp8266.json": esp8266,
  "esp32.json": esp32,
  "esp32s2.json": esp32s2,
  "esp32s3.json": esp32s3,
  "esp32c2.json": esp32c2,
  "esp32c3.json": esp32c3,
  "esp32c5.json": esp32c5,
  "esp32c6.json": esp32c6,
  "esp32h2.json": esp32h2,
  "esp32p4.json": esp32p4,
  "esp32p4-rev1.json": esp32p4rev1,
};

function b64(text: string): Uint8Array {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

const cache = new Map<string, StubImage>();

/** Decode the esptool-js stub image `name` (e.g. "esp32s3.json"). */
export function stubImage(name: string): StubImage | undefined {
  const hit = cache.get(name);
  if (hit) return hit;
  const raw = RAW[name];
  if (!raw) return undefined;
  const segments = [{ addr: raw.text_start, bytes: b64(raw.text) }];
  if (raw.data !== undefined && raw.data_start !== undefined) {
    segments.push({ addr: raw.data_start, bytes: b64(raw.data) });
  }
  const image = { name, entry: raw.entry, segments };
  cache.set(name, image);
  return image;
}
