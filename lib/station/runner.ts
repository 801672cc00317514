/**
 * A station: run one provisioning function over many ports at once, each
 * device with its own progress, log and journal record, and end with an
 * outcome per device and a summary.
 *
 * @module
 */

import { AbortedError, EsplineError } from "../errors.ts";
import { connect, type ConnectOptions, type Device, type DeviceEvent } from "../device/device.ts";

/**
 * The journal calls a station makes (lib/station/journal.ts implements them).
 * Every call returns a Promise: a journal may be on the network.
 */
export interface StationJournal {
  /** Start a record for a device; written at once as in progress. */
  begin(init: {
    port: string;
    station?: string;
    files?: { path: string; sha256: string; address: number }[];
    fields?: Record<string, unknown>;
  }): Promise<StationRecord>;
}

/**
 * One device's journal record. Calls on one record are applied in the order
 * they are made, so a call that is not awaited still lands before the next.
 */
export interface StationRecord {
  /** Add facts as they become known. */
  update(facts: {
    mac?: string;
    chip?: string;
    revision?: string;
    flashSize?: number;
    stage?: string;
    fields?: Record<string, unknown>;
  }): Promise<void>;
  /** Append an event (recovery, note). */
  event(kind: string, detail: string): Promise<void>;
  /** The device passed. */
  pass(extra?: Record<string, unknown>): Promise<void>;
  /** The device failed at `stage`. */
  fail(error: unknown, options: { stage: string }): Promise<void>;
  /** The run was cancelled while this device was in progress. */
  abort(reason: string): Promise<void>;
}

/** What a provisioning function receives for one device. */
export interface StationJob {
  /** The connected device. */
  device: Device;
  /** Its port. */
  port: string;
  /** Its journal record, when the station has a journal. */
  record: StationRecord | null;
  /** Name the current stage (shown in progress and recorded if the device fails there). */
  stage(name: string): void;
  /** A line in this device's log. */
  log(message: string): void;
  /** Store extra facts in the journal (serial number, test results …). */
  note(fields: Record<string, unknown>): void;
  /** Fires when the run is cancelled. */
  signal: AbortSignal;
}

/** How one device ended. */
export interface DeviceOutcome {
  /** Port. */
  port: string;
  /** `pass`, `fail`, or `aborted` (Ctrl-C). */
  result: "pass" | "fail" | "aborted";
  /** Stage reached (the failing one on failure). */
  stage: string;
  /** MAC, when it was read. */
  mac?: string;
  /** Chip key, when detected. */
  chip?: string;
  /** The error, on failure. */
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
  /** Devices aborted. */
  aborted: number;
  /** Wall time of the run. */
  seconds: number;
}

/** Something that happened at the station. */
export type StationEvent =
  | { type: "device-start"; port: string }
  | { type: "stage"; port: string; stage: string }
  | { type: "device-log"; port: string; message: string }
  | { type: "device-end"; port: string; outcome: DeviceOutcome }
  | (DeviceEvent & { port: string });

/** Options for {@link runStation}. */
export interface RunStationOptions {
  /** Journal to record every device in. Default none. */
  journal?: StationJournal;
  /** Station name for the journal. Default the host name. */
  station?: string;
  /** How to connect (baud, stub, chip …). */
  connect?: Omit<ConnectOptions, "port" | "onEvent" | "signal">;
  /** Firmware files recorded with each device. */
  files?: { path: string; sha256: string; address: number }[];
  /** Progress, stages, logs and outcomes of every device. */
  onEvent?: (event: StationEvent) => void;
  /** Cancels the whole run (devices in progress end `aborted`). */
  signal?: AbortSignal;
  /** What to do with each board at the end (`hard-reset` default). */
  after?: string;
}

function hostName(): string {
  try {
    return Deno.hostname();
  } catch {
    return "station";
  }
}

/** Run `job` for one port; never throws: the outcome says what happened. */
export async function runOne(
  port: string,
  job: (ctx: StationJob) => Promise<void>,
  options: RunStationOptions = {},
): Promise<DeviceOutcome> {
  const t0 = performance.now();
  const emit = options.onEvent ?? (() => {});
  const signal = options.signal ?? new AbortController().signal;
  let stage = "connect";
  let device: Device | null = null;
  const record = (await options.journal?.begin({
    port,
    station: options.station ?? hostName(),
    files: options.files,
  })) ?? null;
  const outcome: DeviceOutcome = { port, result: "fail", stage, seconds: 0 };
  emit({ type: "device-start", port });
  try {
    await record?.update({ stage });
    device = await connect(port, {
      ...options.connect,
      signal,
      onEvent: (e) => emit({ ...e, port }),
    });
    const info = await device.info();
    outcome.mac = info.mac;
    outcome.chip = info.chip;
    await record?.update({
      mac: info.mac,
      chip: info.chip,
      revision: `v${info.revision.major}.${info.revision.minor}`,
      flashSize: info.flashSize,
    });
    const ctx: StationJob = {
      device,
      port,
      record,
      signal,
      stage(name) {
        stage = name;
        record?.update({ stage: name });
        emit({ type: "stage", port, stage: name });
      },
      log(message) {
        record?.event("log", message);
        emit({ type: "device-log", port, message });
      },
      note(fields) {
        record?.update({ fields });
      },
    };
    await job(ctx);
    stage = "done";
    outcome.result = "pass";
    await record?.pass();
  } catch (e) {
    const aborted = e instanceof AbortedError || signal.aborted;
    outcome.result = aborted ? "aborted" : "fail";
    outcome.error = e instanceof EsplineError
      ? { code: e.code, message: e.message }
      : { code: "E_INTERNAL", message: e instanceof Error ? e.message : String(e) };
    try {
      if (aborted) await record?.abort(outcome.error.message);
      else await record?.fail(e, { stage });
    } catch {
      // The journal could not record the failure; the outcome still says it.
    }
  } finally {
    try {
      await device?.close(outcome.result === "pass" ? (options.after ?? "hard-reset") : "no-reset");
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
 * Run `job` on every port in parallel and summarise.
 *
 * @example
 * ```ts
 * import { runStation } from "./runner.ts";
 * const summary = await runStation(["sim://esp32", "sim://esp32c3"], async ({ device, stage }) => {
 *   stage("read-mac");
 *   await device.readMac();
 * });
 * console.log(`${summary.passed} passed, ${summary.failed} failed`);
 * ```
 */
export async function runStation(
  ports: string[],
  job: (ctx: StationJob) => Promise<void>,
  options: RunStationOptions = {},
): Promise<RunSummary> {
  const t0 = performance.now();
  const outcomes = await Promise.all(ports.map((port) => runOne(port, job, options)));
  return {
    outcomes,
    passed: outcomes.filter((o) => o.result === "pass").length,
    failed: outcomes.filter((o) => o.result === "fail").length,
    aborted: outcomes.filter((o) => o.result === "aborted").length,
    seconds: (performance.now() - t0) / 1000,
  };
}
