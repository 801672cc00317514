/**
 * A station: run one provisioning function over many ports at once, each
 * device with its own progress, log and journal record, and end with an
 * outcome per device and a summary.
 *
 * Outcomes use the journal's words: `passed`, `failed`, `unverified` (the
 * job went through but a write could not be verified), `aborted`.
 *
 * @module
 */

import { AbortedError, EsplineError } from "../errors.ts";
import { connect, type Device } from "../device/device.ts";
import type { CollateralCheckEvent, DeviceEvent } from "../device/events.ts";
import { formatRange } from "../device/collateral.ts";
import { PreflightError } from "../device/flash_job.ts";
import { BoardChangedError } from "../loader/identity.ts";
import type { ResumeOptions } from "../device/flash_job.ts";
import type { ConnectOptions } from "../loader/connect_options.ts";
import type { NvsWriteReport } from "../device/nvs_write.ts";
import type { NvsTemplate, NvsValueSource } from "../image/nvs_template.ts";
import type { DashboardOptions, DashboardSink } from "./dashboard/server.ts";

/** The facts a station adds to a record as they become known. */
export interface StationFacts {
  /** Base MAC. */
  mac?: string;
  /** Chip key. */
  chip?: string;
  /** Silicon revision (`v0.4`). */
  revision?: string;
  /** Flash size in bytes. */
  flashSize?: number;
  /** Stage reached. */
  stage?: string;
  /** Fields the job added (serial number, test results …). */
  fields?: Record<string, unknown>;
}

/**
 * The journal calls a station makes (`openJournal` returns one). Every call
 * may be synchronous or return a promise; the station awaits them in order.
 */
export interface StationJournal {
  /** Start a record for a device, written at once as in progress. */
  begin(init: {
    port: string;
    station?: string;
    files?: { path: string; sha256: string; address: number }[];
    fields?: Record<string, unknown>;
  }): StationRecord | Promise<StationRecord>;
}

/** One device's journal record. */
export interface StationRecord {
  /** Add facts as they become known. */
  update(facts: StationFacts): Promise<void> | void;
  /** Append an event (`recovery`, `warning`, `log`). */
  event(kind: string, detail: string): Promise<void> | void;
  /** The device passed. */
  pass(extra?: Record<string, unknown>): Promise<void> | void;
  /**
   * The job went through but a write could not be verified. Journals
   * without an `unverified` result get `pass({ unverified: reason })`.
   */
  unverified?(reason: string): Promise<void> | void;
  /** The device failed at `stage`. */
  fail(error: unknown, options: { stage: string }): Promise<void> | void;
  /** The run was cancelled while this device was in progress. */
  abort(reason: string): Promise<void> | void;
}

/** Options for {@link StationJob.nvs}. */
export interface StationNvsOptions {
  /** Partition to write, by name in the chip's table. Default `nvs`. */
  partition?: string;
  /** The board's serial number for `{serial}`. Default the `serial` the job noted. */
  serial?: string;
  /** Values for this board by key (`key` or `namespace/key`), over the template's. Default none. */
  values?: Record<string, NvsValueSource>;
  /** Folder for the template's relative file paths. Default the template's. */
  files?: string;
}

/** What a station journals about a board's NVS partition (never values). */
export interface StationNvsFacts {
  /** Partition name. */
  partition: string;
  /** Flash address. */
  address: number;
  /** Size in bytes. */
  size: number;
  /** SHA-256 of the image written (hex). */
  sha256: string;
  /** `namespace/key` of every key written. */
  keys: string[];
  /** The keys among them whose values are secret. */
  secret: string[];
}

/** What a provisioning function receives for one device. */
export interface StationJob {
  /** The connected device (its writes resume after faults unless `resume: false`). */
  device: Device;
  /** Its port. */
  port: string;
  /** Its journal record, when the station has a journal. */
  record: StationRecord | null;
  /** Name the current stage (shown in progress and recorded if the device fails there). */
  stage(name: string): void;
  /** A line in this device's log (and journal). */
  log(message: string): void;
  /** Store extra facts in the journal (serial number, test results …). */
  note(fields: Record<string, unknown>): void;
  /**
   * Write this board's NVS partition from a template, at stage `nvs`: its
   * values resolved for this board (`{serial}` is the serial the job noted,
   * files read, value functions called), the image built for the partition
   * on the chip, written and verified; then its SHA-256 and key names are
   * journaled (`fields.nvs`, see {@link StationNvsFacts}) and logged, never a
   * value of a secret key. A missing file or a value that does not fit its
   * type fails the board here, before anything is written to the partition.
   */
  nvs(template: NvsTemplate, options?: StationNvsOptions): Promise<NvsWriteReport>;
  /** Fires when the run is cancelled. */
  signal: AbortSignal;
}

/** How a device ended: the journal's words. */
export type OutcomeResult = "passed" | "failed" | "unverified" | "aborted";

/** How one device ended. */
export interface DeviceOutcome {
  /** Port. */
  port: string;
  /** `passed`, `failed`, `unverified` (a write could not be verified) or `aborted` (cancelled). */
  result: OutcomeResult;
  /** Stage reached (the failing one on failure; `preflight` when pre-flight checks refused the firmware). */
  stage: string;
  /** MAC, when it was read. */
  mac?: string;
  /** Chip key, when detected. */
  chip?: string;
  /** The error, on failure or abort; why not verified (`E_UNVERIFIED`) when unverified. */
  error?: { code: string; message: string };
  /** Seconds from start to end. */
  seconds: number;
}

/** How a run ended. */
export interface RunSummary {
  /** One per port, in port order. */
  outcomes: DeviceOutcome[];
  /** Devices that passed. */
  passed: number;
  /** Devices that failed. */
  failed: number;
  /** Devices whose job went through with a write that could not be verified. */
  unverified: number;
  /** Devices aborted. */
  aborted: number;
  /** Wall time of the run. */
  seconds: number;
}

/** Something that happened at the station. */
export type StationEvent =
  | { type: "device-start"; port: string }
  | {
    type: "device-info";
    port: string;
    mac: string;
    chip: string;
    revision: string;
    flashSize: number | null;
  }
  | { type: "note"; port: string; fields: Record<string, unknown> }
  | { type: "stage"; port: string; stage: string }
  | { type: "device-log"; port: string; message: string }
  | { type: "device-end"; port: string; outcome: DeviceOutcome }
  | (DeviceEvent & { port: string });

/** Options for {@link runStation} and {@link runOne}. */
export interface RunStationOptions {
  /** Journal to record every device in. Default none. */
  journal?: StationJournal;
  /** Station name for the journal. Default the host name. */
  station?: string;
  /**
   * How to connect to each board (baud, stub, chip, `after` …; the port is
   * the station's). `after` applies to boards that pass; the others are left
   * in the loader. Default: connect's defaults.
   */
  connect?: ConnectOptions;
  /** Firmware files recorded with each device (`firmware.files`). Default none. */
  files?: { path: string; sha256: string; address: number }[];
  /** Writes resume after link faults (`Device.flash`'s `resume`). Default true. */
  resume?: boolean | ResumeOptions;
  /** Progress, stages, logs and outcomes of every device. Default none. */
  onEvent?: (event: StationEvent) => void;
  /**
   * The line dashboard the run's events go to, under the station's name: a
   * started one (`startDashboard(…)`, or any {@link DashboardSink}, such as
   * `forwardEvents(…)` for a dashboard on another PC), which the run leaves
   * running; or `true` (127.0.0.1:8080), an address (`"0.0.0.0:8080"`) or
   * dashboard options to start one for the length of the run, showing the
   * journal's counts, failures and search when the journal is readable.
   * Default none.
   */
  dashboard?: DashboardSink | true | string | DashboardOptions;
  /** Cancels the whole run (devices in progress end `aborted`). */
  signal?: AbortSignal;
}

function hostName(): string {
  try {
    return Deno.hostname();
  } catch {
    return "station";
  }
}

function isSink(d: unknown): d is DashboardSink {
  return typeof d === "object" && d !== null && typeof (d as DashboardSink).publish === "function";
}

/** The dashboard a run publishes to, started here when the options ask for one. */
async function openDashboard(
  options: RunStationOptions,
): Promise<{ sink: DashboardSink | undefined; close(): Promise<void> }> {
  const d = options.dashboard;
  if (d === undefined || isSink(d)) return { sink: d, close: () => Promise.resolve() };
  const { startDashboard, parseListenAddress } = await import("./dashboard/server.ts");
  const j = options.journal as unknown;
  const readable = typeof j === "object" && j !== null && "history" in j && "records" in j &&
    "summary" in j;
  const given: DashboardOptions = d === true
    ? {}
    : typeof d === "string"
    ? parseListenAddress(d)
    : d;
  const dashboard = startDashboard({
    station: options.station ?? hostName(),
    ...(readable ? { journal: j as DashboardOptions["journal"] } : {}),
    ...given,
  });
  return { sink: dashboard, close: () => dashboard.close() };
}

/** The journal's line for a collateral check after a recovered write. */
function describeCollateralCheck(e: CollateralCheckEvent): string {
  const ranges = (rs: { address: number; size: number }[]) => rs.map(formatRange).join(", ");
  return e.ok
    ? `flash outside the written regions unchanged, checked ${e.because} (compared ${
      ranges(e.ranges)
    })`
    : `flash outside the written regions CHANGED, checked ${e.because}: ${ranges(e.changed)}`;
}

function errorFacts(e: unknown): { code: string; message: string } {
  return e instanceof EsplineError
    ? { code: e.code, message: e.message }
    : { code: "E_INTERNAL", message: e instanceof Error ? e.message : String(e) };
}

/**
 * Run `job` for one port; the outcome says what happened (it throws only when
 * a dashboard it was asked to start cannot start).
 *
 * @example
 * ```ts
 * import { runOne } from "./runner.ts";
 * const outcome = await runOne("sim://esp32c3", async ({ device, stage }) => {
 *   stage("erase");
 *   await device.erase({ address: 0x9000, size: 0x6000 });
 * });
 * console.log(outcome.result, outcome.stage);
 * ```
 */
export async function runOne(
  port: string,
  job: (ctx: StationJob) => Promise<void>,
  options: RunStationOptions = {},
): Promise<DeviceOutcome> {
  const dashboard = await openDashboard(options);
  try {
    return await runBoard(port, job, { ...options, dashboard: dashboard.sink });
  } finally {
    await dashboard.close();
  }
}

async function runBoard(
  port: string,
  job: (ctx: StationJob) => Promise<void>,
  options: RunStationOptions & { dashboard?: DashboardSink },
): Promise<DeviceOutcome> {
  const t0 = performance.now();
  const stationName = options.station ?? hostName();
  const sink = options.dashboard;
  const emit = (event: StationEvent) => {
    try {
      options.onEvent?.(event);
    } catch {
      // A display failing must not change how the board ends.
    }
    // Protocol traces carry raw bytes (a secret's too): never for a page.
    if (sink && event.type !== "trace") {
      try {
        sink.publish(event, { station: stationName });
      } catch {
        // Nor a dashboard.
      }
    }
  };
  const signal = options.signal ?? new AbortController().signal;
  let stage = options.journal ? "journal" : "connect";
  let device: Device | null = null;
  let record: StationRecord | null = null;
  // Journal writes from callbacks (stage, note, events) go out in order; the outcome waits for them.
  let queue: Promise<unknown> = Promise.resolve();
  const journal = (write: (r: StationRecord) => Promise<void> | void) => {
    const r = record;
    if (r) queue = queue.then(() => write(r));
  };
  const unverified: string[] = [];
  const outcome: DeviceOutcome = { port, result: "failed", stage, seconds: 0 };
  emit({ type: "device-start", port });
  try {
    // No board is touched before its record exists: a journal that cannot be reached fails here.
    record = (await options.journal?.begin({
      port,
      station: stationName,
      files: options.files,
    })) ?? null;
    stage = "connect";
    journal((r) => r.update({ stage }));
    device = await connect(port, {
      ...options.connect,
      port,
      signal,
      onEvent: (e) => {
        if (e.type === "recovery") {
          journal((r) => r.event("recovery", `${e.error.code}: retrying at ${e.baud} baud`));
        } else if (e.type === "collateral-check") {
          journal((r) => r.event("collateral-check", describeCollateralCheck(e)));
        } else if (e.type === "notice" && e.level === "warn") {
          journal((r) => r.event("warning", e.message));
        } else if (e.type === "flashed" && !e.verified) {
          unverified.push(e.reason ?? "a write was not verified");
        }
        emit({ ...e, port });
      },
    });
    // A cancelled run stops writes between blocks; the record says what they left behind.
    device.flashDefaults = { resume: options.resume ?? true, signal };
    const info = await device.info();
    outcome.mac = info.mac;
    outcome.chip = info.chip;
    const revision = `v${info.revision.major}.${info.revision.minor}`;
    journal((r) =>
      r.update({
        mac: info.mac,
        chip: info.chip,
        revision,
        flashSize: info.flashSize ?? undefined,
      })
    );
    emit({
      type: "device-info",
      port,
      mac: info.mac,
      chip: info.chip,
      revision,
      flashSize: info.flashSize,
    });
    const connected = device;
    const noted: Record<string, unknown> = {};
    const ctx: StationJob = {
      device,
      port,
      record,
      signal,
      stage(name) {
        stage = name;
        journal((r) => r.update({ stage: name }));
        emit({ type: "stage", port, stage: name });
      },
      log(message) {
        journal((r) => r.event("log", message));
        emit({ type: "device-log", port, message });
      },
      note(fields) {
        Object.assign(noted, fields);
        journal((r) => r.update({ fields }));
        emit({ type: "note", port, fields });
      },
      async nvs(template, o = {}) {
        ctx.stage("nvs");
        const serial = o.serial ??
          (typeof noted.serial === "string" || typeof noted.serial === "number"
            ? String(noted.serial)
            : undefined);
        const board = { mac: info.mac, chip: info.chip, serial, port, fields: { ...noted } };
        let report: NvsWriteReport;
        try {
          const rows = await template.rows(board, { values: o.values, files: o.files });
          report = await connected.writeNvs(rows, { partition: o.partition, signal });
        } catch (e) {
          throw template.redact(e);
        }
        const secretKeys = new Set(template.secretKeys);
        const facts: StationNvsFacts = {
          partition: report.partition,
          address: report.address,
          size: report.size,
          sha256: report.sha256,
          keys: report.keys,
          secret: report.keys.filter((k) => secretKeys.has(k)),
        };
        ctx.note({ nvs: facts });
        ctx.log(
          `nvs: ${facts.keys.length} keys (${facts.keys.join(", ")}) in partition ` +
            `${facts.partition} at 0x${facts.address.toString(16)}, sha256 ${facts.sha256}` +
            (report.bytesWritten === 0 ? " (already there)" : ""),
        );
        return report;
      },
    };
    await job(ctx);
    stage = "done";
    await queue;
    if (unverified.length) {
      outcome.result = "unverified";
      const reason = unverified.join("; ");
      outcome.error = { code: "E_UNVERIFIED", message: reason };
      if (record?.unverified) await record.unverified(reason);
      else await record?.pass({ unverified: reason });
    } else {
      outcome.result = "passed";
      await record?.pass();
    }
  } catch (e) {
    const aborted = e instanceof AbortedError || signal.aborted;
    if (e instanceof PreflightError) {
      stage = "preflight";
      emit({ type: "stage", port, stage });
    }
    outcome.result = aborted ? "aborted" : "failed";
    outcome.error = errorFacts(e);
    if (e instanceof BoardChangedError) {
      const { expected, found } = e.details as Record<string, { chip: string; mac: string | null }>;
      journal((r) =>
        r.event(
          "board-changed",
          `expected ${expected.chip} ${expected.mac}, found ${found.chip} ${found.mac} on ${port}`,
        )
      );
    }
    try {
      await queue;
    } catch {
      // The record's earlier writes failed; still try to end it.
    }
    try {
      if (aborted) await record?.abort(outcome.error.message);
      else await record?.fail(e, { stage });
    } catch (journalError) {
      // The board's outcome stands; say the journal could not record it.
      outcome.error = {
        code: outcome.error.code,
        message: `${outcome.error.message} (and the journal could not record it: ${
          errorFacts(journalError).message
        })`,
      };
    }
  } finally {
    try {
      // Boards that went through are left as `connect.after` says; the others stay in the loader.
      if (outcome.result === "passed" || outcome.result === "unverified") await device?.close();
      else await device?.close("no-reset");
    } catch {
      // The outcome is already decided; a failing reset at the end must not change it.
    }
  }
  outcome.stage = stage;
  outcome.seconds = (performance.now() - t0) / 1000;
  emit({ type: "device-end", port, outcome });
  return outcome;
}

/**
 * Run `job` on every port in parallel and summarise. Every board's record is
 * begun before its port is opened, so a journal that cannot be reached fails
 * the boards at `journal` untouched. With `dashboard`, every board's tile
 * (identity, stage, progress, serial, result) is live on the line dashboard.
 *
 * @example
 * ```ts
 * import { runStation } from "./runner.ts";
 * import { formatSummary } from "./view.ts";
 * const summary = await runStation(["sim://esp32", "sim://esp32c3"], async ({ device, stage }) => {
 *   stage("read-mac");
 *   await device.readMac();
 * });
 * console.log(formatSummary(summary));
 * ```
 */
export async function runStation(
  ports: string[],
  job: (ctx: StationJob) => Promise<void>,
  options: RunStationOptions = {},
): Promise<RunSummary> {
  const t0 = performance.now();
  const dashboard = await openDashboard(options);
  let outcomes: DeviceOutcome[];
  try {
    outcomes = await Promise.all(
      ports.map((port) => runBoard(port, job, { ...options, dashboard: dashboard.sink })),
    );
  } finally {
    await dashboard.close();
  }
  const count = (result: OutcomeResult) => outcomes.filter((o) => o.result === result).length;
  return {
    outcomes,
    passed: count("passed"),
    failed: count("failed"),
    unverified: count("unverified"),
    aborted: count("aborted"),
    seconds: (performance.now() - t0) / 1000,
  };
}
