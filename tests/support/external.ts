/**
 * Things some tests need that are not in this repository: Espressif's
 * reference images (`../shared/fixtures`), the genuine-ROM emulator
 * (`../shared/emulator`) and esptool (`../shared/reference`, run with
 * Debian's python3).
 *
 * A test that needs one of them is declared through {@link externalTest}:
 * where the thing is absent the test is reported as *ignored* (Deno's
 * `ignore`, which the summary counts), never as passed; under `CI=true`
 * absence is a failure, so CI cannot go green without running them.
 *
 * @module
 */

/** The `shared/` folder beside the project (absent in a clone elsewhere). */
export const SHARED_DIR: string = new URL("../../../shared/", import.meta.url).pathname;
/** Espressif-built reference images. */
export const FIXTURES_DIR: string = `${SHARED_DIR}fixtures/esptool-images/`;
/** The emulator's launcher. */
export const RUN_ROM: string = `${SHARED_DIR}emulator/run-rom`;
/** esptool 5.3.1's package folder (for PYTHONPATH). */
export const ESPTOOL_DIR: string = `${SHARED_DIR}reference/esptool-5.3.1`;
/** esptool 5.3.1's default (stub_flasher/2) stub images. */
export const ESPTOOL_STUB_DIR: string = `${ESPTOOL_DIR}/esptool/targets/stub_flasher/2`;
/** The Python that has esptool's Debian dependencies (see ../shared/reference/README.md). */
export const PYTHON = "/usr/bin/python3";

/** True when running under CI (`CI=true`), where a missing resource fails its tests. */
export const IN_CI: boolean = (Deno.env.get("CI") ?? "").toLowerCase() === "true";

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** An external resource a test may need: whether it is here, and why not. */
export interface Resource {
  /** Short name for messages ("fixtures", "emulator", "esptool"). */
  name: string;
  /** `null` when available, else why it is not. */
  missing: string | null;
}

let fixturesCache: Resource | undefined;
/** The reference images in ../shared/fixtures/esptool-images. */
export function fixtures(): Resource {
  return fixturesCache ??= {
    name: "fixtures",
    missing: exists(`${FIXTURES_DIR}bootloader_esp32.bin`)
      ? null
      : `${FIXTURES_DIR} is absent (a clone without ../shared)`,
  };
}

let emulatorCache: Resource | undefined;
/** The genuine-ROM emulator (its binaries and the libraries they load). */
export function emulator(): Resource {
  if (emulatorCache) return emulatorCache;
  let missing: string | null = null;
  if (!exists(RUN_ROM)) missing = `${RUN_ROM} is absent (a clone without ../shared)`;
  else {
    // ldd tells whether the runtime libraries are installed (.ci/run installs them).
    for (const bin of ["qemu-system-xtensa", "qemu-system-riscv32"]) {
      const path = `${SHARED_DIR}emulator/bin/${bin}`;
      try {
        const out = new Deno.Command("ldd", { args: [path], stdout: "piped", stderr: "null" })
          .outputSync();
        const text = new TextDecoder().decode(out.stdout);
        const lost = text.split("\n").filter((l) => l.includes("not found")).map((l) =>
          l.trim().split(" ")[0]
        );
        if (lost.length) {
          missing = `the emulator's libraries are missing (${
            lost.join(", ")
          }): apt-get install libslirp0 libfdt1 libpixman-1-0 libglib2.0-0 libgcrypt20`;
          break;
        }
      } catch (e) {
        missing = `cannot check the emulator's libraries (${(e as Error).message})`;
        break;
      }
    }
  }
  return emulatorCache = { name: "emulator", missing };
}

let esptoolCache: Resource | undefined;
/** esptool 5.3.1 runnable with Debian's python3 and its packages. */
export function esptool(): Resource {
  if (esptoolCache) return esptoolCache;
  let missing: string | null = null;
  if (!exists(`${ESPTOOL_DIR}/esptool/__init__.py`)) {
    missing = `${ESPTOOL_DIR} is absent (a clone without ../shared)`;
  } else if (!exists(PYTHON)) missing = `${PYTHON} is absent`;
  else {
    const out = new Deno.Command(PYTHON, {
      args: [
        "-c",
        "import serial, bitstring, cryptography, ecdsa, intelhex, click, rich_click, yaml",
      ],
      stdout: "null",
      stderr: "piped",
    }).outputSync();
    if (!out.success) {
      missing = "esptool's Python packages are missing: apt-get install python3-serial " +
        "python3-bitstring python3-cryptography python3-ecdsa python3-intelhex python3-click " +
        "python3-rich-click python3-yaml";
    }
  }
  return esptoolCache = { name: "esptool", missing };
}

/** The environment variable that names a PostgreSQL server for the tests (`postgres://…`). */
export const PG_URL_ENV = "ESPLINE_TEST_PG";

/** The newest Debian PostgreSQL bin folder with initdb and pg_ctl, or null. */
export function findPgBin(): string | null {
  const root = "/usr/lib/postgresql";
  let versions: number[] = [];
  try {
    versions = [...Deno.readDirSync(root)].map((e) => Number(e.name)).filter(Number.isInteger);
  } catch {
    return null;
  }
  for (const v of versions.sort((a, b) => b - a)) {
    if (exists(`${root}/${v}/bin/initdb`) && exists(`${root}/${v}/bin/pg_ctl`)) {
      return `${root}/${v}/bin`;
    }
  }
  return null;
}

/** The user a root process runs PostgreSQL as (it refuses root): `postgres`, else `nobody`. */
export function pgServerUser(): string | null {
  if (Deno.uid() !== 0) return null;
  for (const name of ["postgres", "nobody"]) {
    const out = new Deno.Command("id", { args: ["-u", name], stdout: "null", stderr: "null" })
      .outputSync();
    if (out.success) return name;
  }
  return null;
}

let pgBinCache: Resource | undefined;
/** Debian's PostgreSQL binaries, to start (and restart) a private cluster. */
export function postgresBinaries(): Resource {
  if (pgBinCache) return pgBinCache;
  let missing: string | null = null;
  if (!findPgBin()) missing = "PostgreSQL is not installed (apt-get install postgresql)";
  else if (Deno.uid() === 0 && !pgServerUser()) {
    missing = "running as root with no postgres or nobody user to run the server as";
  }
  return pgBinCache = { name: "postgresql", missing };
}

let pgCache: Resource | undefined;
/**
 * A PostgreSQL server: `ESPLINE_TEST_PG=postgres://…` (CI starts one), or
 * Debian's binaries, with which the tests start a throwaway cluster.
 */
export function postgres(): Resource {
  if (pgCache) return pgCache;
  const url = Deno.env.get(PG_URL_ENV);
  const bin = postgresBinaries();
  return pgCache = {
    name: "postgres",
    missing: url || bin.missing === null
      ? null
      : `no server given (${PG_URL_ENV}=postgres://…) and ${bin.missing}`,
  };
}

/** Options for {@link externalTest}: Deno's test definition plus what it needs. */
export interface ExternalTestDefinition extends Omit<Deno.TestDefinition, "ignore"> {
  /** Resources the test cannot run without. */
  needs: Resource[];
}

/**
 * Declare a test that needs external resources: ignored (and counted as
 * such) where one is missing; a failure under `CI=true`.
 */
export function externalTest(def: ExternalTestDefinition): void {
  const { needs, fn, ...rest } = def;
  const absent = needs.filter((r) => r.missing !== null);
  if (absent.length === 0) {
    Deno.test({ ...rest, fn });
    return;
  }
  const why = absent.map((r) => `${r.name}: ${r.missing}`).join("; ");
  if (IN_CI) {
    Deno.test({
      ...rest,
      fn() {
        throw new Error(`CI=true and a resource this test needs is missing: ${why}`);
      },
    });
    return;
  }
  Deno.test({
    ...rest,
    name: `${rest.name} (needs ${absent.map((r) => r.name).join(", ")})`,
    ignore: true,
    fn,
  });
}

/** Read a reference image from ../shared/fixtures/esptool-images. */
export function readFixture(name: string): Promise<Uint8Array> {
  return Deno.readFile(`${FIXTURES_DIR}${name}`);
}

/** A free TCP port on 127.0.0.1 (bound and released; race-tolerant enough for tests). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** What {@link runEsptool} returns. */
export interface EsptoolResult {
  /** Process exit code. */
  code: number;
  /** Standard output and error together, ANSI colours removed. */
  output: string;
}

/**
 * Run esptool 5.3.1 (`python3 -m esptool ARGS`) and collect its output.
 * `timeoutMs` (default 120 s) kills it if it hangs.
 */
export async function runEsptool(
  args: string[],
  options: { timeoutMs?: number; env?: Record<string, string>; cwd?: string } = {},
): Promise<EsptoolResult> {
  const child = new Deno.Command(PYTHON, {
    args: ["-m", "esptool", ...args],
    env: { PYTHONPATH: ESPTOOL_DIR, NO_COLOR: "1", TERM: "dumb", ...options.env },
    cwd: options.cwd,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, options.timeoutMs ?? 120_000);
  const out = await child.output();
  clearTimeout(timer);
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  // deno-lint-ignore no-control-regex
  return { code: out.code, output: text.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "") };
}

/** Where Debian, Ubuntu and Chrome put a Chromium-based browser; `CHROMIUM` overrides. */
export const CHROMIUM_CANDIDATES = [
  "/usr/bin/chromium",
  "/usr/bin/chromium-browser",
  "/usr/bin/google-chrome",
];

let chromiumCache: (Resource & { path: string | null }) | undefined;
/** A headless-capable Chromium (Debian's `chromium`) for the dashboard's browser tests. */
export function chromium(): Resource & { path: string | null } {
  if (chromiumCache) return chromiumCache;
  const env = Deno.env.get("CHROMIUM");
  const path = (env ? [env] : CHROMIUM_CANDIDATES).find(exists) ?? null;
  return chromiumCache = {
    name: "chromium",
    path,
    missing: path
      ? null
      : `no browser at ${
        (env ? [env] : CHROMIUM_CANDIDATES).join(", ")
      }: apt-get install chromium (or set CHROMIUM to a Chromium binary)`,
  };
}
