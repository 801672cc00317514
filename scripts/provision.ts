/**
 * A production line station: for every board, flash the firmware set (with
 * pre-flight checks, verified, resuming after glitches), read the MAC, check
 * the boot output, give it a serial number and journal the result; then
 * wait for the next board.
 *
 *     deno run -A scripts/provision.ts --firmware 0x1000=bootloader.bin \
 *       --firmware 0x8000=partition-table.bin --firmware 0x10000=app.bin \
 *       --expect "app_main" --journal line1.db --port /dev/ttyUSB0 --port /dev/ttyUSB1
 *     deno run -A scripts/provision.ts --manifest build/ --expect app_main --port-filter vid=303a
 *
 * Without --port it waits for boards to be plugged in (USB ports matching
 * --port-filter) and provisions each as it appears, until Ctrl-C.
 *
 * With --nvs-template each board also gets its own NVS partition (serial
 * number, certificates …) built from the template and written after the
 * firmware; with --dashboard a line dashboard shows every board live; with
 * --journal postgres://… every station of a line shares one journal.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { openStationJournal, parseOrUsage, parseSeconds, runMain } from "./script_main.ts";
import {
  createStationView,
  type DashboardSink,
  type Firmware,
  formatSummary,
  forwardEvents,
  type Journal,
  listPorts,
  loadFirmware,
  loadNvsTemplate,
  type NvsTemplate,
  readResetConfig,
  runOne,
  runStation,
  type RunStationOptions,
  startDashboard,
  type StationJob,
  UsageError,
  waitForDevice,
} from "../mod.ts";
import { parseFirmwareArg } from "../lib/device/firmware.ts";
import { parseIntArg } from "../lib/device/numbers.ts";
import { isLoopback, MIN_TOKEN_LENGTH } from "../lib/station/dashboard/auth.ts";
import { parseListenAddress } from "../lib/station/dashboard/server.ts";

/** What a board's boot output is checked against: a pattern, or one made for the board. */
export type BootExpectation = RegExp | ((board: { mac: string; serial: string }) => RegExp);

/** What a provisioning run needs. */
export interface ProvisionPlan {
  /** Firmware to write. */
  firmware: Firmware;
  /** Journal for serial numbers and records. */
  journal: Pick<Journal, "allocateSerial">;
  /**
   * Boot output that proves the board runs (checked after flashing), or
   * none. A function gets the board's MAC and serial (its serial is then
   * allocated before the check).
   */
  expect?: BootExpectation;
  /** How long to wait for it, ms. Default 10 s. */
  expectTimeoutMs?: number;
  /** Serial number prefix. Default `ESP-`. */
  serialPrefix?: string;
  /**
   * Each board's NVS partition, built from this template after the serial
   * number is allocated and written before the boot check (the firmware
   * reads it at boot). Default none.
   */
  nvs?: { template: NvsTemplate; partition?: string };
}

/**
 * The per-board job: flash (pre-flight, verify, resume), check boot, allocate
 * a serial number. With an NVS template, or a boot check that names the
 * serial, the serial is allocated before the boot check and the board's NVS
 * written with it.
 */
export function provisionJob(plan: ProvisionPlan): (job: StationJob) => Promise<void> {
  return async ({ device, stage, note, log, nvs }) => {
    stage("flash");
    const report = await device.flash(plan.firmware);
    log(
      `wrote ${report.bytesWritten} bytes (${report.bytesOnWire} on the wire), ${report.skipped} regions unchanged`,
    );
    stage("mac");
    const mac = await device.readMac();
    const facts = { bytesOnWire: report.bytesOnWire, recoveries: report.recoveries.length };
    let serial: string | null = null;
    const allocate = async () => {
      stage("serial");
      serial = await plan.journal.allocateSerial(mac, { prefix: plan.serialPrefix ?? "ESP-" });
      note({ serial, ...facts });
      return serial;
    };
    // The firmware reads its NVS at boot, and a check that names the serial needs one.
    if (plan.nvs || typeof plan.expect === "function") await allocate();
    if (plan.nvs) await nvs(plan.nvs.template, { partition: plan.nvs.partition });
    if (plan.expect) {
      stage("boot-check");
      const pattern = typeof plan.expect === "function"
        ? plan.expect({ mac, serial: serial! })
        : plan.expect;
      await using monitor = await device.monitor();
      const { line } = await monitor.expect(pattern, {
        timeoutMs: plan.expectTimeoutMs ?? 10_000,
      });
      log(`boot ok: ${line.text}`);
    }
    if (serial === null) await allocate();
  };
}

/** `text` as a regular expression that matches it literally. */
function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * `--expect` as given: a regular expression, where `{serial}` and `{mac}`
 * stand for the board's own (matched literally).
 */
export function parseExpect(pattern: string): BootExpectation {
  const check = (source: string) => {
    try {
      return new RegExp(source);
    } catch (e) {
      throw new UsageError(`--expect is not a valid regular expression: ${(e as Error).message}`);
    }
  };
  if (!/\{(serial|mac)\}/.test(pattern)) return check(pattern);
  const fill = (board: { mac: string; serial: string }) =>
    pattern.replace(/\{(serial|mac)\}/g, (_, name: "serial" | "mac") => escapeRegExp(board[name]));
  check(fill({ mac: "00:00:00:00:00:00", serial: "ESP-000000" }));
  return (board) => new RegExp(fill(board));
}

const USAGE = `usage: deno run -A scripts/provision.ts [options]

Flash every board, check it boots, give it a serial number, journal it.

  --firmware ADDRESS=FILE   a file to write (repeat; e.g. --firmware 0x10000=app.bin)
  --manifest PATH           or the files and flash settings of a build
                            (build/flasher_args.json, an ESP-IDF, PlatformIO or Arduino build folder)
  --port PORT               a board's port (repeat); without it, wait for boards to be plugged in
  --port-filter FILTER      boards to wait for: vid=303a,pid=1001,serial=…,name=…
  --once                    with no --port: stop after one board
  --expect PATTERN          boot output (a regular expression) that proves the board runs;
                            {serial} and {mac} stand for the board's own
  --expect-timeout SECONDS  how long to wait for it (default 10)
  --journal FILE|URL        journal file (default espline-journal.db), or a PostgreSQL journal
                            shared by the stations of a line: postgres://USER:PASSWORD@HOST/DB
  --journal-timeout SECONDS how long to wait for the journal (a server that cannot be reached,
                            a file locked by another station) before giving up (default 10 to
                            start, 30 for each write); without its journal the station does not
                            start, and a board is never touched before its record is written
  --baud BAUD               working baud rate (default 921600)
  --connect-attempts N      tries to reach a board's loader (default 7; 0 keeps trying until the
                            board answers or goes away)
  --station NAME            station name in the journal and on the dashboard (default the host name)
  --serial-prefix PREFIX    text before each serial number (default ESP-)
  --nvs-template FILE       give each board its own NVS partition: the mass-manufacturing
                            utility's configuration CSV (with --nvs-values), or an NVS generator
                            CSV whose values may say {serial}, {mac}, {mac_hex}, {chip}
  --nvs-values FILE         the mass-manufacturing utility's values CSV: one row for every board
                            (with placeholders), or a row per board by a mac column
  --nvs-files DIR           folder the template's file paths start from (certs/ for {serial}.pem)
  --nvs-partition NAME      partition to write (default nvs; it must be a data/nvs partition)
  --nvs-secret KEY          a key whose value must never be shown or journaled (repeat; SECRET
                            after the encoding in the configuration CSV does the same)
  --dashboard ADDRESS|URL   serve the line dashboard at ADDRESS (127.0.0.1:8080; any other
                            address needs --dashboard-token), or send this station's boards to
                            the dashboard at URL (http://HOST:PORT/, with its token)
  --dashboard-token TOKEN   the dashboard's token, at least 16 characters (or the environment
                            variable ESPLINE_DASHBOARD_TOKEN)
  --json                    NDJSON events instead of the live view
  -h, --help                this text

examples:
  deno run -A scripts/provision.ts --manifest build/ --expect app_main --port /dev/ttyUSB0
  deno run -A scripts/provision.ts --firmware 0x10000=app.bin --port-filter vid=303a --once
  deno run -A scripts/provision.ts --manifest build/ --nvs-template mfg.csv --nvs-files certs/ \\
    --journal postgres://line:secret@db.local/line1 --dashboard 0.0.0.0:8080 --dashboard-token …`;

/** Parse the command line; a mistake is a one-line usage error. */
function parseCommandLine(args: string[]) {
  return parseOrUsage(() =>
    parseArgs({
      args,
      options: {
        port: { type: "string", multiple: true },
        "port-filter": { type: "string" },
        firmware: { type: "string", multiple: true },
        manifest: { type: "string" },
        expect: { type: "string" },
        "expect-timeout": { type: "string" },
        journal: { type: "string", default: "espline-journal.db" },
        "journal-timeout": { type: "string" },
        baud: { type: "string", default: "921600" },
        "connect-attempts": { type: "string" },
        station: { type: "string" },
        "serial-prefix": { type: "string" },
        "nvs-template": { type: "string" },
        "nvs-values": { type: "string" },
        "nvs-files": { type: "string" },
        "nvs-partition": { type: "string" },
        "nvs-secret": { type: "string", multiple: true },
        dashboard: { type: "string" },
        "dashboard-token": { type: "string" },
        once: { type: "boolean" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }).values
  );
}

async function main(args: string[]): Promise<number> {
  const values = parseCommandLine(args);
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!values.firmware?.length && !values.manifest) {
    throw new UsageError("give --firmware ADDRESS=FILE (repeat) or --manifest PATH (see --help)");
  }
  if (values.firmware?.length && values.manifest) {
    throw new UsageError("give --firmware or --manifest, not both");
  }
  const expect = values.expect ? parseExpect(values.expect) : undefined;
  const expectTimeout = values["expect-timeout"] ? Number(values["expect-timeout"]) : 10;
  if (!Number.isFinite(expectTimeout) || expectTimeout <= 0) {
    throw new UsageError(`--expect-timeout takes seconds, not "${values["expect-timeout"]}"`);
  }
  const baud = parseIntArg(values.baud!);
  if (baud === null) {
    throw new UsageError(`--baud takes a number such as 921600, not "${values.baud}"`);
  }
  const attempts = values["connect-attempts"];
  const connectAttempts = attempts === undefined ? undefined : Number(attempts);
  if (attempts !== undefined && !/^\d+$/.test(attempts.trim())) {
    throw new UsageError(
      `--connect-attempts takes a whole number (0 keeps trying), not "${attempts}"`,
    );
  }
  const journalTimeout = parseSeconds("--journal-timeout", values["journal-timeout"]);
  const nvsOnly = (["nvs-values", "nvs-files", "nvs-partition", "nvs-secret"] as const)
    .filter((k) => values[k] !== undefined);
  if (nvsOnly.length && !values["nvs-template"]) {
    throw new UsageError(`--${nvsOnly[0]} goes with --nvs-template FILE (see --help)`);
  }
  const dashboardAt = parseDashboardArg(values.dashboard, values["dashboard-token"]);
  const filter = values["port-filter"];
  if (filter) await listPorts({ filter }); // a bad filter is said now, not after the first board
  // Every file is read and checked before any board is touched.
  const firmware = await loadFirmware(
    values.manifest ?? values.firmware!.map(parseFirmwareArg),
  );
  // The NVS template, its values file and secret key names are checked before any board too.
  const template = values["nvs-template"]
    ? await loadNvsTemplate(values["nvs-template"], {
      values: values["nvs-values"],
      files: values["nvs-files"],
      secret: values["nvs-secret"],
    })
    : undefined;
  // esptool.cfg (custom reset sequences, reset delay): read once, here.
  const resetConfig = readResetConfig();
  await using journal = await openStationJournal(values.journal!, journalTimeout);
  const station = values.station ?? hostName();
  await using dashboard = openStationDashboard(dashboardAt, journal, station, values.json);
  const plan: ProvisionPlan = {
    firmware,
    journal,
    expect,
    expectTimeoutMs: expectTimeout * 1000,
    serialPrefix: values["serial-prefix"],
    nvs: template ? { template, partition: values["nvs-partition"] } : undefined,
  };
  const controller = new AbortController();
  const onInterrupt = () => controller.abort();
  Deno.addSignalListener("SIGINT", onInterrupt);
  try {
    const options: RunStationOptions = {
      journal,
      station,
      files: firmware.files,
      dashboard: dashboard.sink,
      connect: { baud, resetConfig, connectAttempts },
      signal: controller.signal,
      // One live row per board on a terminal, plain lines when piped, NDJSON with --json.
      onEvent: createStationView({ json: values.json }),
    };
    if (values.port?.length) {
      const summary = await runStation(values.port, provisionJob(plan), options);
      console.log(formatSummary(summary));
      return summary.passed === summary.outcomes.length ? 0 : 1;
    }
    // Boards to wait for: the USB ports matching --port-filter (any USB serial port without one).
    const list = filter
      ? async () => (await listPorts({ filter, usbOnly: true })).map((p) => p.path)
      : undefined;
    console.log("waiting for boards (Ctrl-C to stop)…");
    let failures = 0;
    while (!controller.signal.aborted) {
      const port = await waitForDevice({ list, signal: controller.signal }).catch(() => null);
      if (!port) break;
      const outcome = await runOne(port, provisionJob(plan), options);
      if (outcome.result !== "passed") failures++;
      if (values.once) break;
      await waitForDevice({ list, signal: controller.signal, gone: port }).catch(() => null);
    }
    return failures ? 1 : 0;
  } finally {
    Deno.removeSignalListener("SIGINT", onInterrupt);
  }
}

function hostName(): string {
  try {
    return Deno.hostname();
  } catch {
    return "station";
  }
}

/** Where `--dashboard` points: an address to serve on, or a dashboard to send to. */
type DashboardArg =
  | { serve: { hostname: string; port: number }; token?: string }
  | { forward: string; token: string }
  | null;

/** Check `--dashboard` and its token before anything is opened. */
function parseDashboardArg(value: string | undefined, tokenArg: string | undefined): DashboardArg {
  const token = tokenArg ?? Deno.env.get("ESPLINE_DASHBOARD_TOKEN") ?? undefined;
  if (tokenArg !== undefined && value === undefined) {
    throw new UsageError("--dashboard-token goes with --dashboard (see --help)");
  }
  if (value === undefined) return null;
  if (token !== undefined && token.length < MIN_TOKEN_LENGTH) {
    throw new UsageError(
      `the dashboard token is ${token.length} characters long: use at least ${MIN_TOKEN_LENGTH} ` +
        "(e.g. `openssl rand -hex 16`)",
    );
  }
  if (/^https?:\/\//i.test(value)) {
    if (!token) {
      throw new UsageError(
        `--dashboard ${value} sends this station's boards to another dashboard: give its ` +
          "--dashboard-token (a dashboard takes events only with its token)",
      );
    }
    try {
      new URL(value);
    } catch {
      throw new UsageError(`--dashboard ${value} is not a URL: write http://HOST:PORT/`);
    }
    return { forward: value, token };
  }
  const serve = parseListenAddress(value);
  if (!isLoopback(serve.hostname) && !token) {
    throw new UsageError(
      `--dashboard ${value} would show the line to the network without a token: give ` +
        `--dashboard-token (at least ${MIN_TOKEN_LENGTH} characters, e.g. from ` +
        "`openssl rand -hex 16`), or serve it on 127.0.0.1",
    );
  }
  return { serve, token };
}

/** The dashboard this station publishes to, started (or connected) before any board. */
function openStationDashboard(
  at: DashboardArg,
  journal: Journal,
  station: string,
  json: boolean | undefined,
): { sink: DashboardSink | undefined } & AsyncDisposable {
  const say = (url: string) =>
    console.log(json ? JSON.stringify({ type: "dashboard", url }) : `dashboard: ${url}`);
  if (!at) return { sink: undefined, [Symbol.asyncDispose]: () => Promise.resolve() };
  if ("forward" in at) {
    let warned = false;
    const forwarder = forwardEvents(at.forward, {
      token: at.token,
      station,
      onError: (e) => {
        if (warned) return;
        warned = true;
        console.error(`warning: ${e.message} (boards carry on; their results are kept to send)`);
      },
    });
    say(at.forward);
    return { sink: forwarder, [Symbol.asyncDispose]: () => forwarder.close() };
  }
  const dashboard = startDashboard({
    ...at.serve,
    token: at.token,
    journal,
    station,
    shiftStarts: ["00:00"],
  });
  say(at.token ? `${dashboard.url}?token=${at.token}` : dashboard.url);
  return { sink: dashboard, [Symbol.asyncDispose]: () => dashboard.close() };
}

if (import.meta.main) await runMain(main);
