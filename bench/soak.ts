/**
 * Fault-injection soak: many seeded station runs (write + verify, journaled)
 * against virtual chips, each run under one kind of fault (or a mix, or
 * none). Every run must end in one of two ways: the board passes and is
 * right, or it fails with a typed error and the journal says so. Anything
 * else is counted, and the soak exits 1.
 *
 *     deno task soak --runs 1000 --seed 1
 *
 * What "right" means is read from the virtual chips themselves (every board
 * that was ever behind the run's port, from `onBoardPlugged`), never from
 * what the client believes:
 * - the written regions hold the image;
 * - the rest of the flash, to its end, is as it was before the run (boards
 *   start "used": old data in most sectors, so an erase or write in the
 *   wrong place shows), or erased when the run erased the whole flash;
 * - the journal's MAC and chip are the board's that was written, and any
 *   other board that was on the port (a swap) is untouched;
 * - a failed run is journaled failed with the same error code, and the MAC
 *   it journals is one of the boards that were there.
 *
 * Fault kinds (see lib/sim/faults.ts): corrupt (one bit per frame), drop,
 * stall, brownout (reset mid-write), erasecut (power cut during an erase;
 * these runs erase: a run of 0xFF over old data, or the whole flash),
 * replug (the port vanishes, the same board comes back with its flash;
 * mostly at a data block, so the write resumes over a partly written
 * board), swap (another board comes back: must fail E_BOARD_CHANGED, never
 * pass),
 * framing (bytes inserted/deleted, bursts, broken SLIP escapes), readreg
 * (READ_REG answer bits), cmdfield (begin/erase address or size bits the
 * chip obeys), mixed, none.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { EsplineError } from "../lib/errors.ts";
import { runOne, type StationEvent } from "../lib/station/runner.ts";
import type { FlashRegion } from "../lib/flash/write.ts";
import { openJournal } from "../lib/station/journal.ts";
import type { JournalRecord } from "../lib/station/journal/types.ts";
import { prng } from "../lib/fuzz/harness.ts";
import { forgetBoard, onBoardPlugged } from "../lib/sim/replug.ts";
import { FAULT_KINDS, type FaultKind } from "../lib/sim/faults.ts";
import type { VirtualChip } from "../lib/sim/virtual_chip.ts";
import type { CollateralPolicy } from "../lib/device/collateral.ts";
import { Progress } from "./progress.ts";

/** What a run is put through. */
export const SOAK_KINDS = [
  "none",
  "corrupt",
  "drop",
  "stall",
  "brownout",
  "erasecut",
  "replug",
  "swap",
  "framing",
  "readreg",
  "cmdfield",
  "mixed",
] as const;

/** A kind of soak run: one fault kind, a mix, or none. */
export type SoakKind = typeof SOAK_KINDS[number];

/** How the runs of one kind ended. */
export interface KindFigures {
  /** Runs of this kind. */
  runs: number;
  /** Faults the virtual chips injected in these runs (all kinds). */
  faultsInjected: number;
  /** Passed and right, without a fault having fired. */
  clean: number;
  /** Passed and right after faults (detected and recovered). */
  recovered: number;
  /** Failed with a typed error, journaled failed with the same code. */
  failedCleanly: number;
  /** Of those: `E_COLLATERAL_DAMAGE` where the flash outside the regions did change. */
  collateralCaught: number;
  /** Of those: `E_COLLATERAL_DAMAGE` where it had not (an MD5 answer corrupted on the way). */
  collateralFalseAlarms: number;
  /** Of those: `E_BOARD_CHANGED` naming the boards that were there. */
  boardChangedCaught: number;
  /** Failed untyped (`E_INTERNAL`, a crash) or journaled differently from how they ended. */
  untyped: number;
  /** Passed, but the flash, the board or the journal's MAC is wrong. Must be 0. */
  silentCorruptions: number;
  /** Failed, but the journal names a MAC or chip no board on the port had. Must be 0. */
  journalWrong: number;
  /** Typed failures by error code. */
  errorCodes: Record<string, number>;
}

/** What the soak compared, to show the checks ran (not only that they found nothing). */
export interface SoakChecks {
  /** Boards whose whole flash was compared with what it must hold (passed runs: every board on the port). */
  boardsCompared: number;
  /** Bytes of flash compared. */
  bytesCompared: number;
  /** Journal records compared with the run and the boards (result, error code, MAC, chip). */
  journalRecords: number;
  /** Of those, records whose MAC and chip were cross-checked against a board's own. */
  journalMacsChecked: number;
}

/** Result of a soak. */
export interface SoakReport {
  /** Runs performed. */
  runs: number;
  /** Faults the virtual chips injected, in all (every board of every run). */
  faultsInjected: number;
  /** Faults injected by fault kind. */
  faultsByKind: Record<FaultKind, number>;
  /** Outcomes by run kind. */
  byKind: Record<SoakKind, KindFigures>;
  /** Runs with faults that still ended verified. */
  recovered: number;
  /** Runs without any fault that ended verified. */
  clean: number;
  /** Runs that failed with a typed error and a failed journal record. */
  failedCleanly: number;
  /** Runs reported passed whose flash, board or journal is wrong. */
  silentCorruptions: number;
  /** Runs that failed with something other than a typed error, or whose journal disagrees. */
  untyped: number;
  /** Failed runs whose journal names a MAC or chip that no board on the port had. */
  journalWrong: number;
  /** What was compared. */
  checks: SoakChecks;
  /** Descriptions of the bad runs, for replay. */
  problems: string[];
  /** Wall time, s. */
  seconds: number;
}

/** Options for {@link soak}. */
export interface SoakOptions {
  /** Number of runs. Default 200. */
  runs?: number;
  /** First seed; run i uses seed + i (its kind follows from its seed). Default 1. */
  seed?: number;
  /** Runs at once. Default 8. */
  parallel?: number;
  /** Only these kinds (a run of another kind is skipped, not counted). Default all. */
  kinds?: readonly SoakKind[];
  /** Called after each run. */
  onRun?: (index: number, summary: string) => void;
  /**
   * The writes' `collateralCheck` (`FlashOptions`). Default the library's
   * (`auto`); `false` shows what the check catches: the soak then finds
   * silent corruptions.
   */
  collateralCheck?: CollateralPolicy;
  /** Every station event of every run (to see how one run went). Default none. */
  onEvent?: (event: StationEvent) => void;
}

const CHIPS = ["esp32", "esp32s3", "esp32c3", "esp32c6", "esp32s2", "esp32h2", "esp8266"];
/** Flash sector (esptool FLASH_SECTOR_SIZE): what a write erases whole. */
const SECTOR = 0x1000;
/** The client's shortest 0xFF run erased instead of written (lib/flash/write.ts ERASED_RUN_MIN). */
const ERASED_RUN = 0x10000;

function figures(): KindFigures {
  return {
    runs: 0,
    faultsInjected: 0,
    clean: 0,
    recovered: 0,
    failedCleanly: 0,
    collateralCaught: 0,
    collateralFalseAlarms: 0,
    boardChangedCaught: 0,
    untyped: 0,
    silentCorruptions: 0,
    journalWrong: 0,
    errorCodes: {},
  };
}

function image(rand: () => number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) {
    out[i] = rand() < 0.3 ? Math.floor(rand() * 256) : "soak-data-"[i % 10].charCodeAt(0);
  }
  return out;
}

const between = (rand: () => number, lo: number, hi: number) =>
  (lo + rand() * (hi - lo)).toFixed(4);

/**
 * The port URL of a run (its chip and its faults), and whether it writes
 * through the ROM loader (some runs do; not the ESP8266's, which has no MD5
 * to verify with).
 */
function portUrl(seed: number, kind: SoakKind, rand: () => number): { url: string; rom: boolean } {
  const chip = CHIPS[Math.floor(rand() * CHIPS.length)];
  const rom = chip !== "esp8266" && rand() < 0.15;
  // The ROM takes 1 KiB blocks, the stub 16 KiB: a rate per block is scaled to match.
  const perBlock = rom ? 1 / 16 : 1;
  const p = new URLSearchParams({ seed: String(seed), stallms: "150" });
  const set = (name: string, lo: number, hi: number) => p.set(name, between(rand, lo, hi));
  switch (kind) {
    case "none":
      break;
    case "corrupt":
      set("corrupt", 0.002, 0.02);
      break;
    case "drop":
      set("drop", 0.002, 0.02);
      break;
    case "stall":
      set("stall", 0.005, 0.03);
      break;
    case "brownout":
      set("reset", 0.1 * perBlock, 0.4 * perBlock);
      break;
    case "erasecut":
      set("erasecut", 0.2, 0.6);
      break;
    case "replug":
      // Mostly at a data block: a resume over a partly written board.
      if (rand() < 0.8) {
        set("disconnect", 0.06 * perBlock, 0.2 * perBlock);
        p.set("vanish", "block");
      } else set("disconnect", 0.002, 0.01);
      break;
    case "swap":
      if (rand() < 0.8) {
        set("swap", 0.06 * perBlock, 0.2 * perBlock);
        p.set("vanish", "block");
      } else set("swap", 0.002, 0.01);
      break;
    case "framing":
      set("framing", 0.005, 0.03);
      break;
    case "readreg":
      set("readreg", 0.05, 0.3);
      break;
    case "cmdfield":
      set("cmdfield", 0.1, 0.4);
      break;
    case "mixed":
      if (rand() < 0.6) set("corrupt", 0, 0.01);
      if (rand() < 0.5) set("drop", 0, 0.01);
      if (rand() < 0.3) set("stall", 0, 0.005);
      if (rand() < 0.3) set("reset", 0, 0.03 * perBlock);
      if (rand() < 0.3) set("erasecut", 0, 0.2);
      if (rand() < 0.3) set("disconnect", 0, 0.005);
      if (rand() < 0.2) set("swap", 0, 0.005);
      if (rand() < 0.4) set("framing", 0, 0.02);
      if (rand() < 0.4) set("readreg", 0, 0.1);
      if (rand() < 0.3) set("cmdfield", 0, 0.3);
      break;
  }
  return { url: `sim://${chip}?${p}`, rom };
}

/**
 * A used board: most blank sectors get old data, so an erase or a write in
 * the wrong place changes something the soak can see.
 */
function useBoard(chip: VirtualChip, seed: number): void {
  const rand = prng(seed ^ 0x5eed);
  const flash = chip.flash;
  for (let s = 0; s < flash.length; s += SECTOR) {
    const sector = flash.subarray(s, s + SECTOR);
    if (rand() < 0.3 || !sector.every((b) => b === 0xff)) continue;
    const fill = 1 + Math.floor(rand() * 0xfe);
    for (let i = 0; i < SECTOR; i += 64) sector[i] = fill ^ (i >> 6);
  }
}

/** The sectors a write of `regions` may change (a region's last sector is erased past its end). */
function footprint(regions: FlashRegion[]): [number, number][] {
  return regions.map((r) => {
    const end = r.address + Math.ceil(r.data.length / 4) * 4;
    return [r.address, Math.ceil(end / SECTOR) * SECTOR] as [number, number];
  });
}

/** Sectors outside `regions` that differ from `expected`, as `0x…` addresses (first few). */
function changedOutside(
  flash: Uint8Array,
  expected: Uint8Array | null,
  regions: FlashRegion[],
): number[] {
  const inside = footprint(regions);
  const changed: number[] = [];
  for (let s = 0; s < flash.length; s += SECTOR) {
    if (inside.some(([a, b]) => s >= a && s < b)) continue;
    for (let i = s; i < s + SECTOR; i++) {
      if (flash[i] !== (expected ? expected[i] : 0xff)) {
        changed.push(s);
        break;
      }
    }
  }
  return changed;
}

function regionsHold(flash: Uint8Array, regions: FlashRegion[]): boolean {
  return regions.every((r) => r.data.every((b, i) => flash[r.address + i] === b));
}

const hex = (n: number) => `0x${n.toString(16)}`;

/** Everything a run needs to be judged after the journal is read. */
interface RunTruth {
  seed: number;
  kind: SoakKind;
  url: string;
  result: string;
  errorCode?: string;
  /** Boards that were on the port, in order: MAC and chip key. */
  boards: { mac: string; chip: string }[];
  /** Set when the run already counted as bad. */
  bad: boolean;
}

/** Run the soak and count outcomes. */
export async function soak(options: SoakOptions = {}): Promise<SoakReport> {
  const t0 = performance.now();
  const runs = options.runs ?? 200;
  const seed0 = options.seed ?? 1;
  const kinds = options.kinds ?? SOAK_KINDS;
  const report: SoakReport = {
    runs: 0,
    faultsInjected: 0,
    faultsByKind: Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>,
    byKind: Object.fromEntries(SOAK_KINDS.map((k) => [k, figures()])) as Record<
      SoakKind,
      KindFigures
    >,
    recovered: 0,
    clean: 0,
    failedCleanly: 0,
    silentCorruptions: 0,
    untyped: 0,
    journalWrong: 0,
    checks: { boardsCompared: 0, bytesCompared: 0, journalRecords: 0, journalMacsChecked: 0 },
    problems: [],
    seconds: 0,
  };
  const dir = await Deno.makeTempDir({ prefix: "espline-soak-" });
  // Every board that is plugged in on a run's port, with its flash as it came.
  const ports = new Map<string, { seed: number; boards: VirtualChip[]; initial: Uint8Array[] }>();
  const offPlugged = onBoardPlugged((path, chip) => {
    const port = ports.get(path);
    if (!port || port.boards.includes(chip)) return;
    useBoard(chip, port.seed + port.boards.length);
    port.boards.push(chip);
    port.initial.push(chip.flash.slice());
  });
  const truths: RunTruth[] = [];
  try {
    await using journal = await openJournal(`${dir}/soak.db`);
    let next = 0;
    const worker = async () => {
      while (next < runs) {
        const index = next++;
        const seed = seed0 + index;
        const kind = SOAK_KINDS[seed % SOAK_KINDS.length];
        if (!kinds.includes(kind)) continue;
        const rand = prng(seed);
        const { url, rom } = portUrl(seed, kind, rand);
        const holes = kind === "erasecut" || kind === "cmdfield" || rand() < 0.3;
        // Erasing the whole flash needs the stub.
        const eraseAll = !rom && (kind === "erasecut" ? rand() < 0.3 : rand() < 0.05);
        const app = image(rand, 16384 + Math.floor(rand() * 65536));
        const regions: FlashRegion[] = [
          { address: 0x1000, data: image(rand, 4096 + Math.floor(rand() * 8192)), name: "boot" },
          {
            address: 0x10000,
            // A run of 0xFF first, as in a merged image: erased instead of written, over old data.
            data: holes ? Uint8Array.from([...new Uint8Array(ERASED_RUN).fill(0xff), ...app]) : app,
            name: "app",
          },
        ];
        const port = { seed, boards: [] as VirtualChip[], initial: [] as Uint8Array[] };
        ports.set(url, port);
        const outcome = await runOne(url, async ({ device }) => {
          await device.flash(regions, {
            eraseAll,
            resume: { attempts: 3, fallbackBauds: [115200] },
            collateralCheck: options.collateralCheck,
          });
        }, {
          journal,
          connect: { baud: 460800, connectAttempts: 3, after: "no-reset", stub: !rom },
          onEvent: options.onEvent,
        }).catch((
          e,
        ) => ({ result: "crash" as const, error: e, mac: undefined }));
        ports.delete(url);
        await forgetBoard(url);
        const verdict = judge(report, { seed, kind, url, regions, eraseAll, outcome, port });
        if (rom) verdict.text += " (ROM loader)";
        truths.push(verdict.truth);
        options.onRun?.(index, `${seed} ${kind} ${url} -> ${verdict.text}`);
      }
    };
    await Promise.all(Array.from({ length: options.parallel ?? 8 }, worker));
    checkJournal(report, truths, await journal.records());
  } finally {
    offPlugged();
    await Deno.remove(dir, { recursive: true });
  }
  report.seconds = (performance.now() - t0) / 1000;
  return report;
}

type Outcome = Awaited<ReturnType<typeof runOne>> | {
  result: "crash";
  error: unknown;
  mac: undefined;
};

/** Count one run from the chips' own state. */
function judge(
  report: SoakReport,
  run: {
    seed: number;
    kind: SoakKind;
    url: string;
    regions: FlashRegion[];
    eraseAll: boolean;
    outcome: Outcome;
    port: { boards: VirtualChip[]; initial: Uint8Array[] };
  },
): { truth: RunTruth; text: string } {
  const { outcome, port } = run;
  const fig = report.byKind[run.kind];
  let faults = 0;
  for (const chip of port.boards) {
    faults += chip.stats.faultsInjected;
    for (const k of FAULT_KINDS) report.faultsByKind[k] += chip.stats.faults[k];
  }
  report.runs++;
  report.faultsInjected += faults;
  fig.runs++;
  fig.faultsInjected += faults;
  const truth: RunTruth = {
    seed: run.seed,
    kind: run.kind,
    url: run.url,
    result: outcome.result,
    boards: port.boards.map((c) => ({ mac: c.mac, chip: c.facts.key })),
    bad: false,
  };
  const problem = (text: string) => {
    truth.bad = true;
    report.problems.push(`seed ${run.seed} (${run.kind}) ${run.url}: ${text}`);
  };
  const last = port.boards.length - 1;
  if (outcome.result === "passed" || outcome.result === "unverified") {
    const wrong: string[] = [];
    const chip = port.boards[last];
    if (!chip) wrong.push("no board was ever on the port");
    else {
      if (outcome.mac !== chip.mac) {
        wrong.push(`the station says MAC ${outcome.mac}, the board written is ${chip.mac}`);
      }
      if (!regionsHold(chip.flash, run.regions)) wrong.push("the written regions differ");
      const outside = changedOutside(
        chip.flash,
        run.eraseAll ? null : port.initial[last],
        run.regions,
      );
      if (outside.length) {
        wrong.push(
          `flash outside the regions changed at ${outside.slice(0, 4).map(hex).join(", ")}${
            outside.length > 4 ? ` (+${outside.length - 4} sectors)` : ""
          }`,
        );
      }
      for (let i = 0; i < last; i++) {
        if (port.boards[i].flash.some((b, k) => b !== port.initial[i][k])) {
          wrong.push(`an earlier board on the port (${port.boards[i].mac}) was written`);
        }
      }
      report.checks.boardsCompared += port.boards.length;
      for (const b of port.boards) report.checks.bytesCompared += b.flash.length;
    }
    if (wrong.length) {
      report.silentCorruptions++;
      fig.silentCorruptions++;
      problem(`SILENT CORRUPTION: passed but ${wrong.join("; ")}`);
      return { truth, text: "SILENT CORRUPTION" };
    }
    if (faults > 0) {
      report.recovered++;
      fig.recovered++;
      return { truth, text: "recovered" };
    }
    report.clean++;
    fig.clean++;
    return { truth, text: "clean" };
  }
  const error = "error" in outcome ? outcome.error : undefined;
  if (outcome.result === "failed" && error && (error as { code?: string }).code !== "E_INTERNAL") {
    const code = (error as { code: string }).code;
    truth.errorCode = code;
    report.failedCleanly++;
    fig.failedCleanly++;
    fig.errorCodes[code] = (fig.errorCodes[code] ?? 0) + 1;
    if (code === "E_COLLATERAL_DAMAGE") {
      const chip = port.boards[last];
      const damaged = chip && changedOutside(chip.flash, port.initial[last], run.regions).length;
      if (damaged) fig.collateralCaught++;
      else fig.collateralFalseAlarms++;
    }
    if (code === "E_BOARD_CHANGED") fig.boardChangedCaught++;
    return { truth, text: `failed cleanly (${code})` };
  }
  report.untyped++;
  fig.untyped++;
  const what = error instanceof EsplineError
    ? error.code
    : String((error as { message?: string })?.message ?? error);
  problem(`UNTYPED (${outcome.result}: ${what})`);
  return { truth, text: `UNTYPED (${what})` };
}

/** The journal must agree with how each run ended, and name only boards that were there. */
function checkJournal(report: SoakReport, truths: RunTruth[], records: JournalRecord[]): void {
  const byPort = new Map<string, JournalRecord[]>();
  for (const r of records) byPort.set(r.port, [...(byPort.get(r.port) ?? []), r]);
  for (const t of truths) {
    const fig = report.byKind[t.kind];
    const rs = byPort.get(t.url) ?? [];
    const flag = (text: string, journalWrong: boolean) => {
      report.problems.push(`seed ${t.seed} (${t.kind}) ${t.url}: journal: ${text}`);
      if (t.bad) return; // counted already
      t.bad = true;
      if (journalWrong) {
        report.journalWrong++;
        fig.journalWrong++;
      } else {
        report.untyped++;
        fig.untyped++;
      }
    };
    if (rs.length !== 1) {
      flag(`${rs.length} records for one run`, false);
      continue;
    }
    const r = rs[0];
    const expected = t.result === "crash" ? "failed" : t.result;
    if (r.result !== expected) flag(`says ${r.result}, the run ended ${t.result}`, false);
    else if (t.errorCode && r.errorCode !== t.errorCode) {
      flag(`says ${r.errorCode}, the run failed with ${t.errorCode}`, false);
    }
    report.checks.journalRecords++;
    if (r.mac === null) continue;
    report.checks.journalMacsChecked++;
    const board = t.boards.find((b) => b.mac === r.mac);
    if (!board) {
      flag(`MAC ${r.mac}, but the boards on the port were ${t.boards.map((b) => b.mac)}`, true);
    } else if (r.chip !== board.chip) flag(`chip ${r.chip} for ${r.mac} (a ${board.chip})`, true);
    else if ((r.result === "passed" || r.result === "unverified") && board !== t.boards.at(-1)) {
      flag(`passed for ${r.mac}, which is not the board written`, true);
    }
  }
}

/** The per-kind table, as printed. */
export function formatSoakReport(r: SoakReport): string {
  const cols = [
    ["runs", "runs"],
    ["faults", "faultsInjected"],
    ["clean", "clean"],
    ["recovered", "recovered"],
    ["failed", "failedCleanly"],
    ["collat.", "collateralCaught"],
    ["false-al.", "collateralFalseAlarms"],
    ["board-chg", "boardChangedCaught"],
    ["untyped", "untyped"],
    ["SILENT", "silentCorruptions"],
    ["jrnl-wrong", "journalWrong"],
  ] as const;
  const lines = [`${"kind".padEnd(10)}${cols.map(([h]) => h.padStart(11)).join("")}`];
  const total = figures();
  for (const k of SOAK_KINDS) {
    const f = r.byKind[k];
    if (!f.runs) continue;
    for (const [, key] of cols) total[key] += f[key];
    lines.push(`${k.padEnd(10)}${cols.map(([, key]) => String(f[key]).padStart(11)).join("")}`);
  }
  lines.push(
    `${"all".padEnd(10)}${cols.map(([, key]) => String(total[key]).padStart(11)).join("")}`,
  );
  const byCode = SOAK_KINDS.flatMap((k) => {
    const codes = Object.entries(r.byKind[k].errorCodes).sort((a, b) => b[1] - a[1]);
    return codes.length
      ? [`  ${k.padEnd(10)}${codes.map(([c, n]) => `${c} ${n}`).join(", ")}`]
      : [];
  });
  if (byCode.length) lines.push("typed failures by error code:", ...byCode);
  const c = r.checks;
  lines.push(
    `whole-flash checks: ${c.boardsCompared} boards of passed runs compared to their flash end ` +
      `(${(c.bytesCompared / 1024 / 1024).toFixed(0)} MiB): written regions hold the image, ` +
      `every other sector as before the run (or erased after an erase-all), other boards untouched`,
  );
  lines.push(
    `journal cross-check: ${c.journalRecords} records against how their runs ended; ` +
      `${c.journalMacsChecked} MACs and chips against the boards' own eFuse MAC and chip`,
  );
  lines.push(
    `faults injected by kind: ${
      FAULT_KINDS.filter((k) => r.faultsByKind[k]).map((k) => `${k} ${r.faultsByKind[k]}`).join(
        ", ",
      )
    }`,
  );
  return lines.join("\n");
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      runs: { type: "string", default: "200" },
      seed: { type: "string", default: "1" },
      parallel: { type: "string", default: "8" },
      kind: { type: "string", multiple: true },
      "collateral-check": { type: "string" },
      verbose: { type: "boolean" },
      events: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(
      `Seeded fault-injection station runs (write + verify, journaled) against virtual chips.

usage: deno task soak [--runs N] [--seed N] [--parallel N] [--kind K …] [--verbose]

  --runs N       runs (default 200; 1000 take about 6 minutes on two shared cores)
  --seed N       first seed; run i uses seed + i and its kind follows from it (default 1),
                 so a bad run replays with --seed S --runs 1
  --parallel N   runs at once (default 8)
  --kind K       only runs of kind K (repeatable): ${SOAK_KINDS.join(", ")}
  --collateral-check auto|recovered|always|off
                 the writes' check of the flash outside their regions (default auto); with
                 recovered or off the soak shows the corruptions the check exists to catch
  --verbose      print every run's seed, kind, port and verdict
  --events       print every station event but progress (to follow one run: --runs 1)

Prints a table per kind: runs, faults injected, clean and recovered passes, typed failures (of
which E_COLLATERAL_DAMAGE caught / false alarms, E_BOARD_CHANGED), untyped failures, silent
corruptions and wrong journal MACs. Exits 1 unless the last three are all 0.`,
    );
    Deno.exit(0);
  }
  const runs = Number(values.runs);
  const only = values.kind as SoakKind[] | undefined;
  for (const k of only ?? []) {
    if (!(SOAK_KINDS as readonly string[]).includes(k)) {
      console.error(`unknown kind ${k}: ${SOAK_KINDS.join(", ")}`);
      Deno.exit(2);
    }
  }
  const check = values["collateral-check"];
  if (check !== undefined && !["auto", "recovered", "always", "off"].includes(check)) {
    console.error(`--collateral-check ${check}: use auto, recovered, always or off`);
    Deno.exit(2);
  }
  const collateralCheck = check === undefined
    ? undefined
    : check === "off"
    ? false
    : check as CollateralPolicy;
  const progress = new Progress({ total: runs, label: "soak" });
  const r = await soak({
    runs,
    seed: Number(values.seed),
    parallel: Number(values.parallel),
    kinds: only,
    collateralCheck,
    onRun: (_i, s) => {
      if (values.verbose) progress.log(s);
      progress.advance(1);
    },
    onEvent: values.events
      ? (e) => {
        if (e.type !== "progress" && e.type !== "trace") progress.log(JSON.stringify(e));
      }
      : undefined,
  });
  progress.finish();
  console.log(formatSoakReport(r));
  console.log(`runs: ${r.runs}`);
  console.log(`faults injected: ${r.faultsInjected}`);
  console.log(`silent corruptions: ${r.silentCorruptions}`);
  console.log(`untyped failures: ${r.untyped}`);
  console.log(`journal wrong: ${r.journalWrong}`);
  console.log(`seconds: ${r.seconds.toFixed(1)}`);
  for (const p of r.problems) console.log(`  ${p}`);
  Deno.exit(r.silentCorruptions || r.untyped || r.journalWrong ? 1 : 0);
}
