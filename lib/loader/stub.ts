/**
 * The flasher stub images espline uploads to RAM and runs. None is kept in
 * this repository; they come from one of two places:
 *
 * - by default, the esptool-js npm package (pinned in deno.json): Espressif's
 *   legacy stub family (esptool-legacy-flasher-stub), as data;
 * - a folder the user names (`stubDir`, the CLI's `--stub-dir`, the
 *   `ESPLINE_STUB_DIR` environment variable) holding one `CHIP.json` per chip
 *   in esptool's stub format, such as the `esptool/targets/stub_flasher/2`
 *   folder of an installed esptool 5 (Espressif's esp-flasher-stub), or
 *   `auto` to look for that folder in the installed Python packages.
 *
 * Both families speak the same protocol as far as espline uses it (the newer
 * one writes a block while the next one arrives, skips erasing sectors that
 * are already blank, and streams reads one unacknowledged packet at a time).
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
  /** Where it came from, for logs: `esptool-js` or the JSON file's path. */
  source: string;
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

/** Options for {@link loadStubImage}. */
export interface LoadStubOptions {
  /**
   * Folder of `CHIP.json` stub files in esptool's format (e.g. esptool 5's
   * `esptool/targets/stub_flasher/2`), or `auto` to find that folder in an
   * installed esptool Python package. Default: the esptool-js package's stubs.
   */
  stubDir?: string;
}

/** Python package folders searched by `stubDir: "auto"` (pip user, pip system, Debian). */
function sitePackageDirs(): string[] {
  const dirs: string[] = [];
  const home = Deno.env.get("HOME");
  const roots = [
    ...(home ? [`${home}/.local/lib`] : []),
    "/usr/local/lib",
    "/usr/lib",
    "/opt/homebrew/lib",
  ];
  for (const root of roots) {
    try {
      for (const e of Deno.readDirSync(root)) {
        if (!e.isDirectory || !/^python3(\.\d+)?$/.test(e.name)) continue;
        dirs.push(`${root}/${e.name}/site-packages`, `${root}/${e.name}/dist-packages`);
      }
    } catch { /* absent */ }
  }
  const venv = Deno.env.get("VIRTUAL_ENV");
  if (venv) {
    try {
      for (const e of Deno.readDirSync(`${venv}/lib`)) {
        dirs.unshift(`${venv}/lib/${e.name}/site-packages`);
      }
    } catch { /* absent */ }
  }
  return dirs;
}

/**
 * The stub folder of an installed esptool 5 (`esptool/targets/stub_flasher/2`),
 * or `null` when no installed esptool has one.
 */
export function findEsptoolStubDir(): string | null {
  for (const dir of sitePackageDirs()) {
    const candidate = `${dir}/esptool/targets/stub_flasher/2`;
    try {
      if (Deno.statSync(candidate).isDirectory) return candidate;
    } catch { /* not here */ }
  }
  return null;
}

function parseStubJson(json: unknown, source: string): StubImage {
  const j = json as Partial<StubJson>;
  if (
    typeof j !== "object" || j === null || typeof j.entry !== "number" ||
    typeof j.text !== "string" || typeof j.text_start !== "number"
  ) {
    throw new EsplineError(
      "E_BAD_STUB",
      `${source} is not a flasher stub in esptool's format (needs entry, text, text_start); ` +
        "point --stub-dir at esptool's esptool/targets/stub_flasher/2 folder",
    );
  }
  return {
    source,
    entry: j.entry,
    text: { address: j.text_start, bytes: decodeBase64(j.text) },
    data: typeof j.data === "string" && typeof j.data_start === "number"
      ? { address: j.data_start, bytes: decodeBase64(j.data) }
      : null,
  };
}

/**
 * Load a stub by its file base name (a chip's `stubName`, e.g. `esp32s3`,
 * `esp32p4-rev1`), from the esptool-js package or from `options.stubDir`.
 *
 * @example
 * ```ts
 * import { loadStubImage } from "./stub.ts";
 * const stub = await loadStubImage("esp32c3");
 * console.log(stub.source, stub.entry.toString(16), stub.text.bytes.length);
 * ```
 */
export async function loadStubImage(
  name: string,
  options: LoadStubOptions = {},
): Promise<StubImage> {
  if (options.stubDir) {
    const dir = options.stubDir === "auto" ? findEsptoolStubDir() : options.stubDir;
    if (!dir) {
      throw new EsplineError(
        "E_NO_STUB",
        "--stub-dir auto: no installed esptool 5 found (esptool/targets/stub_flasher/2 in the " +
          "Python packages); install esptool 5 (pip install esptool), or name the folder",
      );
    }
    const path = `${dir.replace(/\/+$/, "")}/${name}.json`;
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (e) {
      throw new EsplineError(
        "E_NO_STUB",
        `no flasher stub for ${name} in ${dir} (${(e as Error).message}); ` +
          "point --stub-dir at esptool's esptool/targets/stub_flasher/2 folder, or use --no-stub",
        { cause: e },
      );
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new EsplineError("E_BAD_STUB", `${path} is not JSON (${(e as Error).message})`, {
        cause: e,
      });
    }
    return parseStubJson(json, path);
  }
  const loader = LOADERS[name];
  if (!loader) throw new EsplineError("E_NO_STUB", `no flasher stub named ${name}; use --no-stub`);
  return parseStubJson((await loader()).default, "esptool-js");
}
