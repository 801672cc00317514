/**
 * The loader of one download-mode boot: the ROM's (`rom_loader.ts`) until
 * uploaded code runs, then, if that code is a flasher stub, the stub's
 * (`stub_loader.ts`).
 *
 * What was uploaded is decided from the bytes, since the virtual chip runs no
 * code and holds no stub images: an upload that carries an ESP-IDF
 * application descriptor is a RAM application; any other upload whose entry
 * point lies in uploaded bytes is a flasher stub (esp-flasher-stub: the one
 * esptool 5 uploads, and the one in the esptool-js package that espline
 * uploads; a stub from a folder the user names is taken for the same);
 * anything else jumps where nothing was loaded and the chip goes quiet.
 *
 * @module
 */

import type { LoaderHost } from "./loader_host.ts";
import type { HandleResult } from "./protocol.ts";
import type { Registers } from "./registers.ts";
import { RomLoader, type UploadedSegment } from "./rom_loader.ts";
import { StubLoader } from "./stub_loader.ts";

/** ESP-IDF's esp_app_desc_t magic word (esp_app_format.h ESP_APP_DESC_MAGIC_WORD). */
export const APP_DESC_MAGIC = 0xabcd5432;

/** Options of a {@link Loader}. */
export interface LoaderOptions {
  /** The chip's registers and memory. */
  registers: Registers;
  /** See {@link RomLoaderOptions.repeatErrors}; default true. */
  repeatErrors?: boolean;
}

/** What an executed upload is taken for. */
export type UploadKind = "stub" | "ram-app" | "unknown";

/** Decide what uploaded code is (see the module comment). */
export function classifyUpload(segments: UploadedSegment[], entry: number): UploadKind {
  const magic = [0x32, 0x54, 0xcd, 0xab];
  for (const s of segments) {
    for (let i = 0; i + 4 <= s.bytes.length; i += 4) {
      if (magic.every((b, k) => s.bytes[i + k] === b)) return "ram-app";
    }
  }
  if (segments.some((s) => entry >= s.addr && entry < s.addr + s.bytes.length)) {
    return "stub";
  }
  return "unknown";
}

/** The loader that runs after a download-mode boot. */
export class Loader {
  readonly #host: LoaderHost;
  readonly #regs: Registers;
  readonly #rom: RomLoader;
  #stub: StubLoader | null = null;

  /** A fresh ROM loader (after a download-mode boot). */
  constructor(host: LoaderHost, options: LoaderOptions) {
    this.#host = host;
    this.#regs = options.registers;
    this.#rom = new RomLoader(host, {
      registers: options.registers,
      repeatErrors: options.repeatErrors,
      run: (segments, entry) => {
        const what = classifyUpload(segments, entry);
        if (what === "stub") host.then({ kind: "stub" });
        else if (what === "ram-app") host.then({ kind: "run-ram", segments, entry });
        else host.then({ kind: "halt" });
      },
    });
  }

  /** True once the flasher stub runs. */
  get stub(): boolean {
    return this.#stub !== null;
  }

  /** The uploaded stub starts: it greets, and answers from now on. */
  startStub(): void {
    this.#stub = new StubLoader(this.#host, { registers: this.#regs });
  }

  /** Handle one frame from the host. */
  handle(frame: Uint8Array): HandleResult {
    return this.#stub ? this.#stub.handle(frame) : this.#rom.handle(frame);
  }
}
