/**
 * The line dashboard's state: one tile per (station, port), the counts of
 * finished boards and the last failures, built from the events stations
 * emit. Pure data, no I/O: the server feeds events in and sends snapshots
 * and changed tiles to browsers.
 *
 * Events are accepted by shape, not by import: anything with a `type` and a
 * `port` (today's `StationEvent` from runner.ts, device events such as write
 * `progress`, and the redesigned runner's events) goes in; unknown types are
 * ignored, and every field is checked and bounded before it is kept, because
 * MACs, errors and notes come from boards and scripts.
 *
 * @module
 */

/** What a tile shows as its big colour. */
export type TileState = "idle" | "running" | "passed" | "failed" | "unverified" | "aborted";

/** How a board ended (today's `pass`/`fail` are read as `passed`/`failed`). */
export type BoardResult = "passed" | "failed" | "unverified" | "aborted";

/** Any station event: a `type`, the `port` it is about, and fields by type. */
export interface StationEventLike {
  /** `device-start`, `stage`, `device-log`, `device-end`, `progress`, `connected`, `device-info`, `note` … */
  type: string;
  /** The port the event is about; events without one are ignored. */
  port?: string;
}

/** Progress of the current long operation on a port. */
export interface TileProgress {
  /** What is happening (`Writing at 0x00010000`). */
  label: string;
  /** Bytes done. */
  done: number;
  /** Bytes in all. */
  total: number;
}

/** How the previous board on a port ended. */
export interface TileResult {
  /** Result. */
  result: BoardResult;
  /** Stage reached (the failing one on failure). */
  stage: string;
  /** MAC of that board, when read. */
  mac: string | null;
  /** Serial number given to that board, when noted. */
  serial: string | null;
  /** The error, when it failed. */
  error: { code: string; message: string } | null;
  /** Seconds the board took. */
  seconds: number;
  /** When it ended (ms since the epoch). */
  endedAt: number;
}

/** One port of one station. */
export interface Tile {
  /** Unique key (station and port). */
  key: string;
  /** Station name. */
  station: string;
  /** Port path or URL. */
  port: string;
  /** The big colour. */
  state: TileState;
  /** Chip of the board on the port now, when known. */
  chip: string | null;
  /** MAC of the board on the port now, when known. */
  mac: string | null;
  /** Serial number of the board on the port now, when noted. */
  serial: string | null;
  /** Current stage. */
  stage: string;
  /** Current long operation, if any. */
  progress: TileProgress | null;
  /** When the board on the port now started (ms since the epoch). */
  startedAt: number | null;
  /** How the last finished board on this port ended. */
  last: TileResult | null;
  /** Boards finished on this port since the dashboard started. */
  boards: number;
  /** The newest log lines of the board on the port now, oldest first. */
  log: string[];
  /** Last change (ms since the epoch). */
  updatedAt: number;
}

/** A failed board, for the failures list. */
export interface FailureEntry {
  /** Station name. */
  station: string;
  /** Port. */
  port: string;
  /** MAC, when read. */
  mac: string | null;
  /** Serial, when noted. */
  serial: string | null;
  /** Chip, when known. */
  chip: string | null;
  /** Stage the board failed in. */
  stage: string;
  /** Result (`failed`, `unverified`, or `incomplete` from a journal). */
  result: string;
  /** Error code. */
  code: string;
  /** Error message. */
  message: string;
  /** When it ended (ms since the epoch). */
  at: number;
}

/** Counts of finished boards since the shift started. */
export interface ShiftStats {
  /** Where the numbers come from: the journal (every station writing to it) or this dashboard's events. */
  source: "journal" | "events";
  /** Start of the shift (ms since the epoch). */
  since: number;
  /** Boards passed. */
  passed: number;
  /** Boards failed (journal: failed and incomplete). */
  failed: number;
  /** Boards written but not verified. */
  unverified: number;
  /** Boards aborted (not counted in the yield). */
  aborted: number;
  /** Boards in progress now. */
  inProgress: number;
  /** passed / (passed + failed + unverified), null before the first finished board. */
  yield: number | null;
  /** Boards finished in the last hour, or the rate over the shift so far when it is younger. */
  perHour: number | null;
  /** Why the journal could not be read, when it could not (the numbers are then the last good ones). */
  journalError: string | null;
}

/** Limits that keep a long shift's state bounded. */
export interface ModelLimits {
  /** Log lines kept per port. Default 50. */
  logLines?: number;
  /** Characters kept of one log line, error message, stage or label. Default 500. */
  textChars?: number;
  /** Tiles kept; beyond it the longest-idle finished tile is dropped. Default 256. */
  tiles?: number;
  /** Failures kept for the list. Default 20. */
  failures?: number;
  /** Finished boards remembered for the counts (without a journal). Default 100000. */
  finished?: number;
}

/** Options for {@link LineModel}. */
export interface LineModelOptions {
  /** Limits. */
  limits?: ModelLimits;
  /** Clock (ms since the epoch). Default `Date.now`. */
  now?: () => number;
}

const DEFAULT_LIMITS: Required<ModelLimits> = {
  logLines: 50,
  textChars: 500,
  tiles: 256,
  failures: 20,
  finished: 100_000,
};

/** Read a result word from any runner version: `pass` → `passed`, `fail` → `failed`. */
export function normalizeResult(value: unknown): BoardResult | null {
  switch (value) {
    case "pass":
    case "passed":
      return "passed";
    case "fail":
    case "failed":
      return "failed";
    case "unverified":
      return "unverified";
    case "aborted":
      return "aborted";
    default:
      return null;
  }
}

/** The yield: passed / (passed + failed + unverified); null when nothing finished. */
export function yieldOf(
  counts: { passed: number; failed: number; unverified: number },
): number | null {
  const n = counts.passed + counts.failed + counts.unverified;
  return n === 0 ? null : counts.passed / n;
}

/**
 * The start of the shift `now` falls in, from local `HH:MM` shift start
 * times (`["06:00", "14:00", "22:00"]`); `["00:00"]` is the calendar day.
 *
 * @example
 * ```ts
 * import { shiftStart } from "./model.ts";
 * const start = shiftStart(Date.now(), ["06:00", "18:00"]);
 * console.log(new Date(start).toLocaleTimeString());
 * ```
 */
export function shiftStart(now: number, starts: string[]): number {
  const minutes = starts.map((s) => {
    const m = /^(\d{1,2}):(\d{2})$/.exec(s.trim());
    if (!m || Number(m[1]) > 23 || Number(m[2]) > 59) {
      throw new RangeError(`shift start "${s}" is not HH:MM (24-hour, local time)`);
    }
    return Number(m[1]) * 60 + Number(m[2]);
  });
  if (minutes.length === 0) throw new RangeError("give at least one shift start time");
  let best = -Infinity;
  const day = new Date(now);
  for (const back of [0, 1]) {
    for (const m of minutes) {
      const d = new Date(day.getFullYear(), day.getMonth(), day.getDate() - back, 0, m);
      const t = d.getTime();
      if (t <= now && t > best) best = t;
    }
  }
  return best;
}

function str(value: unknown, max: number): string | null {
  if (typeof value !== "string") return null;
  // Control characters would only garble the page; keep tabs as spaces.
  // deno-lint-ignore no-control-regex
  const clean = value.replace(/\t/g, " ").replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, "");
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}

function num(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

function rec(value: unknown): Record<string, unknown> | null {
  return value !== null && typeof value === "object" && !Array.isArray(value)
    ? value as Record<string, unknown>
    : null;
}

/** Station name used when an event comes without one. */
export const DEFAULT_STATION = "station";

/**
 * The live state of a line: tiles, counts, failures.
 *
 * @example
 * ```ts
 * import { LineModel } from "./model.ts";
 * const line = new LineModel();
 * line.apply({ type: "device-start", port: "sim://esp32" }, "line-1");
 * console.log(line.tiles()[0].state); // "running"
 * ```
 */
export class LineModel {
  #tiles = new Map<string, Tile>();
  #failures: FailureEntry[] = [];
  #finished: { at: number; result: BoardResult }[] = [];
  #limits: Required<ModelLimits>;
  #now: () => number;
  #dirty = new Set<string>();
  #failuresChanged = false;
  #countsChanged = false;
  #createdAt: number;

  /** A model with no tiles. */
  constructor(options: LineModelOptions = {}) {
    this.#limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.#now = options.now ?? Date.now;
    this.#createdAt = this.#now();
  }

  /** The key of a station's port. */
  static key(station: string, port: string): string {
    return JSON.stringify([station, port]);
  }

  /**
   * Take one event. Returns the tile it changed, or null when the event was
   * ignored (no port, unknown type, malformed fields).
   */
  apply(event: StationEventLike, station: string = DEFAULT_STATION): Tile | null {
    const e = rec(event);
    if (!e) return null;
    const max = this.#limits.textChars;
    const port = str(e.port, max);
    const stationName = str(station, 100) || DEFAULT_STATION;
    if (!port) return null;
    const now = this.#now();
    const tile = this.#tile(stationName, port, now);
    switch (e.type) {
      case "device-start":
        tile.state = "running";
        tile.chip = null;
        tile.mac = null;
        tile.serial = null;
        tile.stage = "connect";
        tile.progress = null;
        tile.startedAt = now;
        tile.log = [];
        break;
      case "connected":
        tile.chip = str(e.chip, 40) ?? tile.chip;
        if (tile.state === "idle") tile.state = "running";
        break;
      case "device-info":
      case "note": {
        const fields = rec(e.fields) ?? {};
        tile.mac = str(e.mac, 40) ?? tile.mac;
        tile.chip = str(e.chip, 40) ?? tile.chip;
        tile.serial = str(e.serial, 100) ?? str(fields.serial, 100) ?? tile.serial;
        break;
      }
      case "stage": {
        const stage = str(e.stage, max);
        if (stage === null) return null;
        tile.stage = stage;
        tile.progress = null;
        if (tile.state === "idle") tile.state = "running";
        break;
      }
      case "progress": {
        const done = num(e.done);
        const total = num(e.total);
        if (done === null || total === null) return null;
        tile.progress = {
          label: str(e.label, max) ?? str(e.stage, max) ?? "",
          done: Math.max(0, done),
          total: Math.max(0, total),
        };
        break;
      }
      case "device-log":
      case "log": {
        const message = str(e.message, max);
        if (message === null) return null;
        if (e.type === "log" && e.level === "debug") return null;
        tile.log.push(message);
        if (tile.log.length > this.#limits.logLines) {
          tile.log.splice(0, tile.log.length - this.#limits.logLines);
        }
        break;
      }
      case "device-end": {
        const o = rec(e.outcome);
        const result = normalizeResult(o?.result ?? e.result);
        if (!o || !result) return null;
        const err = rec(o.error);
        const error = err
          ? {
            code: str(err.code, 60) ?? "E_UNKNOWN",
            message: str(err.message, max) ?? "",
          }
          : null;
        tile.mac = str(o.mac, 40) ?? tile.mac;
        tile.chip = str(o.chip, 40) ?? tile.chip;
        tile.serial = str(o.serial, 100) ?? str(rec(o.fields)?.serial, 100) ?? tile.serial;
        const stage = str(o.stage, max) ?? tile.stage;
        tile.state = result;
        tile.stage = stage;
        if (result === "passed") tile.progress = null;
        tile.last = {
          result,
          stage,
          mac: tile.mac,
          serial: tile.serial,
          error,
          seconds: num(o.seconds) ?? (tile.startedAt ? (now - tile.startedAt) / 1000 : 0),
          endedAt: now,
        };
        tile.boards++;
        this.#finished.push({ at: now, result });
        if (this.#finished.length > this.#limits.finished) {
          this.#finished.splice(0, this.#finished.length - this.#limits.finished);
        }
        this.#countsChanged = true;
        if (result === "failed" || result === "unverified") {
          this.#failures.unshift({
            station: tile.station,
            port: tile.port,
            mac: tile.mac,
            serial: tile.serial,
            chip: tile.chip,
            stage,
            result,
            code: error?.code ?? "",
            message: error?.message ?? "",
            at: now,
          });
          this.#failures.length = Math.min(this.#failures.length, this.#limits.failures);
          this.#failuresChanged = true;
        }
        break;
      }
      default:
        return null;
    }
    tile.updatedAt = now;
    this.#dirty.add(tile.key);
    return tile;
  }

  #tile(station: string, port: string, now: number): Tile {
    const key = LineModel.key(station, port);
    let tile = this.#tiles.get(key);
    if (tile) return tile;
    if (this.#tiles.size >= this.#limits.tiles) this.#evict();
    tile = {
      key,
      station,
      port,
      state: "idle",
      chip: null,
      mac: null,
      serial: null,
      stage: "",
      progress: null,
      startedAt: null,
      last: null,
      boards: 0,
      log: [],
      updatedAt: now,
    };
    this.#tiles.set(key, tile);
    return tile;
  }

  /** Drop the tile that has been quiet longest, preferring one not running. */
  #evict(): void {
    let victim: Tile | null = null;
    for (const t of this.#tiles.values()) {
      const better = !victim ||
        (victim.state === "running" && t.state !== "running") ||
        ((victim.state === "running") === (t.state === "running") &&
          t.updatedAt < victim.updatedAt);
      if (better) victim = t;
    }
    if (victim) {
      this.#tiles.delete(victim.key);
      this.#dirty.add(victim.key);
    }
  }

  /** Every tile, by station then port. */
  tiles(): Tile[] {
    return [...this.#tiles.values()].sort((a, b) =>
      a.station.localeCompare(b.station) ||
      a.port.localeCompare(b.port, undefined, { numeric: true })
    );
  }

  /** One tile, or undefined. */
  tile(station: string, port: string): Tile | undefined {
    return this.#tiles.get(LineModel.key(station, port));
  }

  /** The newest failures first. */
  failures(): FailureEntry[] {
    return [...this.#failures];
  }

  /** Counts of boards that finished since `since` (from events), and the rate. */
  stats(since: number): ShiftStats {
    const now = this.#now();
    const counts = { passed: 0, failed: 0, unverified: 0, aborted: 0 };
    const hourAgo = now - 3_600_000;
    let lastHour = 0;
    for (const f of this.#finished) {
      if (f.at < since) continue;
      counts[f.result]++;
      if (f.at >= hourAgo && f.result !== "aborted") lastHour++;
    }
    let inProgress = 0;
    for (const t of this.#tiles.values()) if (t.state === "running") inProgress++;
    return {
      source: "events",
      since,
      ...counts,
      inProgress,
      yield: yieldOf(counts),
      // Events only cover the time since this model was made.
      perHour: ratePerHour(lastHour, Math.max(since, this.#createdAt), now),
      journalError: null,
    };
  }

  /**
   * Keys of tiles changed since the last call (a removed tile's key maps to
   * null), and whether the failures list and counts changed.
   */
  takeChanges(): { tiles: Map<string, Tile | null>; failures: boolean; counts: boolean } {
    const tiles = new Map<string, Tile | null>();
    for (const k of this.#dirty) tiles.set(k, this.#tiles.get(k) ?? null);
    this.#dirty.clear();
    const out = { tiles, failures: this.#failuresChanged, counts: this.#countsChanged };
    this.#failuresChanged = false;
    this.#countsChanged = false;
    return out;
  }
}

/**
 * Boards per hour: the count of the last hour when the shift is older than
 * an hour, else the count so far scaled to an hour (null in the first minute,
 * where one board would read as sixty an hour).
 */
export function ratePerHour(countInWindow: number, since: number, now: number): number | null {
  const window = Math.min(3_600_000, now - since);
  if (window < 60_000) return null;
  return Math.round(countInWindow * 3_600_000 / window);
}
