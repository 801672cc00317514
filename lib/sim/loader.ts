/**
 * The loader of one download-mode boot: the ROM's (`rom_loader.ts`) until
 * uploaded code runs, then, if that code is a flasher stub, the stub's
 * (`stub_loader.ts`).
 *
 * What was uploaded is decided from the bytes, since the virtual chip runs no
 * code: the esptool-js package's stub images (espline's stub today) are
 * recognised byte for byte as the legacy stub; an upload that carries an
 * ESP-IDF application descriptor is a RAM application; any other upload
 * whose entry point lies in uploaded bytes is taken for esptool 5's default
 * stub (esp-flasher-stub), whose images the repository does not hold.
 *
 * @module
 */

import type { LoaderHost, StubDialect } from "./loader_host.ts";
import type { HandleResult } from "./protocol.ts";
import { sameBytes } from "./protocol.ts";
import type { Registers } from "./registers.ts";
import { RomLoader, type UploadedSegment } from "./rom_loader.ts";
import { StubLoader } from "./stub_loader.ts";
import { stubImage } from "./stub_images.ts";

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
export type UploadKind =
  | { kind: "stub"; dialect: StubDialect }
  | { kind: "ram-app" }
  | { kind: "unknown" };

/** Decide what uploaded code is (see the module comment). */
export function classifyUpload(
  stubNames: readonly string[],
  segments: UploadedSegment[],
  entry: number,
): UploadKind {
  for (const name of stubNames) {
    const img = stubImage(name);
    if (!img || img.entry !== entry) continue;
    const all = img.segments.every((s) =>
      segments.some((u) =>
        u.addr === s.addr && sameBytes(u.bytes.subarray(0, s.bytes.length), s.bytes)
      )
    );
    if (all) return { kind: "stub", dialect: "legacy" };
  }
  const magic = [0x32, 0x54, 0xcd, 0xab];
  for (const s of segments) {
    for (let i = 0; i + 4 <= s.bytes.length; i += 4) {
      if (magic.every((b, k) => s.bytes[i + k] === b)) return { kind: "ram-app" };
    }
  }
  if (segments.some((s) => entry >= s.addr && entry < s.addr + s.bytes.length)) {
    return { kind: "stub", dialect: "esp-flasher-stub" };
  }
  return { kind: "unknown" };
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
        const what = classifyUpload(host.facts.stubNames, segments, entry);
        if (what.kind === "stub") host.then({ kind: "stub", dialect: what.dialect });
        else if (what.kind === "ram-app") host.then({ kind: "run-ram", segments, entry });
        else host.then({ kind: "halt" });
      },
    });
  }

  /** The running stub's dialect, or null while the ROM answers. */
  get stub(): StubDialect | null {
    return this.#stub?.dialect ?? null;
  }

  /** The uploaded stub starts: it greets, and answers from now on. */
  startStub(dialect: StubDialect): void {
    this.#stub = new StubLoader(this.#host, { registers: this.#regs, dialect });
  }

  /** Handle one frame from the host. */
  handle(frame: Uint8Array): HandleResult {
    return this.#stub ? this.#stub.handle(frame) : this.#rom.handle(frame);
  }
}
