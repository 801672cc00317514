/**
 * espline against esptool 5.3.1 on Espressif's genuine ESP32 ROM in the
 * emulator (../shared/emulator): the same image written by each, a fresh
 * emulator per run, the median of several runs per cell, and the ratio
 * espline/esptool (below 1 means espline is faster).
 *
 *     deno task bench:rom                       # 115200 and 921600, random 256 KiB and a 1 MiB app, 3 runs
 *     deno task bench:rom --runs 5 --bauds 921600 --images app
 *     deno task bench --rom                     # the same, from the main bench task
 *
 * Each run is a whole command as a user types it, timed from start to exit:
 * `espline … write-flash` (deno run cli.ts, with esptool 5's stub through
 * `--stub-dir`, or `--stub legacy` for esptool-js's) and `python3 -m esptool …
 * write-flash` (its default stub), both `--before no-reset --after no-reset`
 * over socket://, both verifying by MD5 as they do by default. After every run
 * the emulator's flash file is compared with the image. The "re-flash" column
 * is espline writing the same image again to the same chip (skip-unchanged).
 *
 * The images: 256 KiB of random bytes (incompressible) at 0x10000, and a
 * 1 MiB merged image built from the reference images: the ESP32 bootloader at
 * 0x1000, the partition table at 0x8000, the ESP32-S2 blink app at 0x10000,
 * 0xFF padding to 1 MiB, written at 0x0.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { ESPTOOL_DIR, ESPTOOL_STUB_DIR, FIXTURES_DIR, PYTHON } from "../tests/support/external.ts";
import { emulator, esptool, fixtures } from "../tests/support/external.ts";
import { type RomInstance, startRom } from "../tests/support/rom.ts";
import { randomBytes } from "../tests/support/rom_cli.ts";

/** One image of the bench. */
interface BenchImage {
  /** Short name for the table. */
  name: string;
  /** Flash address it is written at. */
  address: number;
  /** Contents. */
  data: Uint8Array;
}

/** Options for {@link runRomBench}. */
export interface RomBenchOptions {
  /** Runs per cell (median taken). Default 3. */
  runs?: number;
  /** Baud rates. Default 115200 and 921600. */
  bauds?: number[];
  /** Images by name (`random`, `app`). Default both. */
  images?: string[];
  /** espline's stub: `esptool` (esptool 5's, via --stub-dir; default) or `legacy` (esptool-js's). */
  stub?: "esptool" | "legacy";
  /** Line sink. Default console.log. */
  print?: (line: string) => void;
}

/** One cell's result. */
export interface RomBenchCell {
  /** Image name. */
  image: string;
  /** Baud rate. */
  baud: number;
  /** espline's median seconds. */
  espline: number;
  /** esptool's median seconds. */
  esptool: number;
  /** espline / esptool. */
  ratio: number;
  /** espline writing the same image again (skip-unchanged), seconds. */
  reflash: number;
}

async function appImage(): Promise<Uint8Array> {
  const img = new Uint8Array(1024 * 1024).fill(0xff);
  img.set(await Deno.readFile(`${FIXTURES_DIR}bootloader_esp32.bin`), 0x1000);
  img.set(await Deno.readFile(`${FIXTURES_DIR}partitions_singleapp.bin`), 0x8000);
  img.set(await Deno.readFile(`${FIXTURES_DIR}esp_idf_blink_esp32s2.bin`), 0x10000);
  return img;
}

const CLI = new URL("../cli.ts", import.meta.url).pathname;
/** Keep the image as it is: no header patching by either tool (byte-exact comparison). */
const KEEP_HEADER = ["--flash-mode", "keep", "--flash-freq", "keep", "--flash-size", "keep"];

async function timed(cmd: string, args: string[], env: Record<string, string> = {}) {
  const t0 = performance.now();
  const out = await new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped" })
    .output();
  const seconds = (performance.now() - t0) / 1000;
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")} failed:\n${text.slice(-2000)}`);
  return seconds;
}

/** What both tools are told: the port, no reset before or after (socket://), the baud. */
function portArgs(rom: RomInstance, baud: number): string[] {
  return ["--port", rom.url, "--before", "no-reset", "--after", "no-reset", "-b", String(baud)];
}

/** The write-flash command and its arguments, the same for both tools. */
function writeArgs(image: BenchImage, file: string): string[] {
  return ["write-flash", ...KEEP_HEADER, `0x${image.address.toString(16)}`, file];
}

function esplineArgs(
  rom: RomInstance,
  baud: number,
  file: string,
  image: BenchImage,
  stub: string,
) {
  return [
    "run",
    "-A",
    CLI,
    ...portArgs(rom, baud),
    ...(stub === "esptool" ? ["--stub-dir", ESPTOOL_STUB_DIR] : []),
    // The app image carries an ESP32-S2 app: espline's pre-flight check would refuse it.
    ...writeArgs(image, file).toSpliced(1, 0, "--force"),
  ];
}

function esptoolArgs(rom: RomInstance, baud: number, file: string, image: BenchImage) {
  return ["-m", "esptool", ...portArgs(rom, baud), ...writeArgs(image, file)];
}

async function checkFlash(rom: RomInstance, image: BenchImage, who: string): Promise<void> {
  const flash = await rom.readFlash();
  const got = flash.subarray(image.address, image.address + image.data.length);
  const diff = got.findIndex((b, i) => b !== image.data[i]);
  if (diff >= 0) {
    throw new Error(
      `${who}: the flash file differs from the ${image.name} image at +0x${diff.toString(16)}`,
    );
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}

/**
 * Run the side-by-side bench and print the table; returns the cells.
 * Throws when the emulator, esptool or the fixtures are absent.
 */
export async function runRomBench(options: RomBenchOptions = {}): Promise<RomBenchCell[]> {
  const print = options.print ?? ((l: string) => console.log(l));
  for (const r of [emulator(), esptool(), fixtures()]) {
    if (r.missing) throw new Error(`bench:rom needs the ${r.name}: ${r.missing}`);
  }
  const runs = options.runs ?? 3;
  const bauds = options.bauds ?? [115200, 921600];
  const stub = options.stub ?? "esptool";
  const all: BenchImage[] = [
    { name: "random 256 KiB", address: 0x10000, data: randomBytes(256 * 1024, 1) },
    { name: "app 1 MiB", address: 0x0, data: await appImage() },
  ];
  const wanted = options.images ?? ["random", "app"];
  const images = all.filter((i) => wanted.some((w) => i.name.startsWith(w)));
  const dir = await Deno.makeTempDir({ prefix: "espline-rom-bench-" });
  const cells: RomBenchCell[] = [];
  const total = images.length * bauds.length * runs * 2;
  let done = 0;
  const started = performance.now();
  const perKind = new Map<string, number[]>();
  print(
    `espline vs esptool 5.3.1 on the genuine ESP32 ROM (emulated), ${runs} run(s) per cell, ` +
      `espline stub: ${stub === "esptool" ? "esptool 5's (--stub-dir)" : "esptool-js's (legacy)"}`,
  );
  try {
    for (const image of images) {
      const file = `${dir}/${image.name.split(" ")[0]}.bin`;
      await Deno.writeFile(file, image.data);
      for (const baud of bauds) {
        const times = { espline: [] as number[], esptool: [] as number[] };
        let reflash = NaN;
        for (let run = 0; run < runs; run++) {
          for (const who of ["espline", "esptool"] as const) {
            await using rom = await startRom("esp32");
            const seconds = who === "espline"
              ? await timed(Deno.execPath(), esplineArgs(rom, baud, file, image, stub))
              : await timed(PYTHON, esptoolArgs(rom, baud, file, image), {
                PYTHONPATH: ESPTOOL_DIR,
                NO_COLOR: "1",
              });
            await checkFlash(rom, image, who);
            times[who].push(seconds);
            if (who === "espline" && run === 0) {
              // The same image again, to the same chip (now back at 115200 after a restart).
              await using again = await startRom("esp32", { flash: await rom.readFlash() });
              reflash = await timed(Deno.execPath(), esplineArgs(again, baud, file, image, stub));
            }
            done++;
            const key = `${who} ${image.name} ${baud}`;
            perKind.set(key, [...(perKind.get(key) ?? []), seconds]);
            // Time left: each remaining run at its cell's mean so far, else the overall mean.
            const elapsed = (performance.now() - started) / 1000;
            const mean = elapsed / done;
            let left = 0;
            for (const im of images) {
              for (const b of bauds) {
                for (const w of ["espline", "esptool"]) {
                  const k = `${w} ${im.name} ${b}`;
                  const seen = perKind.get(k) ?? [];
                  const remaining = runs - seen.length;
                  const per = seen.length ? seen.reduce((a, x) => a + x, 0) / seen.length : mean;
                  left += remaining * (per + 0.3);
                }
              }
            }
            print(
              `[${String(done).padStart(String(total).length)}/${total}] ${
                who.padEnd(7)
              } ${image.name} ` +
                `${baud} run ${run + 1}/${runs}: ${seconds.toFixed(2)} s; about ${
                  duration(left)
                } left`,
            );
          }
        }
        const e = median(times.espline);
        const t = median(times.esptool);
        cells.push({ image: image.name, baud, espline: e, esptool: t, ratio: e / t, reflash });
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  print("");
  print("image            baud     espline s  esptool s  espline/esptool  espline re-flash s");
  for (const c of cells) {
    print(
      [
        c.image.padEnd(16),
        String(c.baud).padEnd(8),
        c.espline.toFixed(2).padStart(9),
        c.esptool.toFixed(2).padStart(10),
        `${c.ratio.toFixed(2)}x`.padStart(16),
        c.reflash.toFixed(2).padStart(19),
      ].join(" "),
    );
  }
  const worst = Math.max(...cells.map((c) => c.ratio));
  print(
    `\nworst ratio ${worst.toFixed(2)}x (target ≤ 1.00x: espline at least as fast in every cell)`,
  );
  return cells;
}

/** What `--help` prints (also for `deno task bench --rom --help`). */
export const ROM_BENCH_USAGE =
  `espline against esptool 5.3.1 on the genuine ESP32 ROM in the emulator.

usage: deno task bench:rom [--runs N] [--bauds BAUD,…] [--images random,app] [--stub esptool|legacy]

  --runs N        runs per cell, the median is reported (default 3)
  --bauds …       baud rates (default 115200,921600)
  --images …      random (256 KiB at 0x10000) and/or app (a 1 MiB merged image at 0x0); default both
  --stub KIND     espline's stub: esptool (esptool 5's, the default) or legacy (esptool-js's)

Needs ../shared/emulator, ../shared/reference (esptool) and ../shared/fixtures.`;

/** Whether the command line asks for the usage text. */
export function wantsHelp(args: string[]): boolean {
  return args.includes("--help") || args.includes("-h");
}

/** Parse the bench's command-line flags (also used by `deno task bench --rom`). */
export function romBenchOptions(args: string[]): RomBenchOptions {
  const { values } = parseArgs({
    args,
    options: {
      rom: { type: "boolean" },
      runs: { type: "string" },
      bauds: { type: "string" },
      images: { type: "string" },
      stub: { type: "string" },
    },
    strict: false,
  });
  const stub = values.stub === "legacy" ? "legacy" : "esptool";
  return {
    runs: values.runs ? Number(values.runs) : undefined,
    bauds: typeof values.bauds === "string" ? values.bauds.split(",").map(Number) : undefined,
    images: typeof values.images === "string" ? values.images.split(",") : undefined,
    stub,
  };
}

if (import.meta.main) {
  if (wantsHelp(Deno.args)) {
    console.log(ROM_BENCH_USAGE);
    Deno.exit(0);
  }
  await runRomBench(romBenchOptions(Deno.args));
}
