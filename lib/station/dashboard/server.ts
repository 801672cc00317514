/**
 * The live line dashboard: a web page a line supervisor leaves open all
 * shift, served by Deno's own HTTP server. Stations push their events in
 * ({@link Dashboard.publish}, or {@link Dashboard.onEvent} as a station's
 * `onEvent`); browsers get the current state first and then every change
 * as server-sent events; the counts, the last failures and a search by MAC
 * or serial come from the journal when one is attached.
 *
 * @module
 */

import { EsplineError, UsageError } from "../../errors.ts";
import { authorize, checkBindToken, requestToken, TOKEN_COOKIE, tokensEqual } from "./auth.ts";
import { MAX_EVENTS_PER_POST } from "./forward.ts";
import {
  type DashboardJournal,
  type DashboardRecord,
  journalReader,
  type ReadableJournal,
} from "./journal_reader.ts";
import {
  DEFAULT_STATION,
  type FailureEntry,
  LineModel,
  type ModelLimits,
  ratePerHour,
  shiftStart,
  type ShiftStats,
  type StationEventLike,
  type Tile,
  yieldOf,
} from "./model.ts";
import { PAGE_CSP, PAGE_HTML } from "./page.ts";
import { sseFrame, SseHub } from "./sse.ts";

/** Limits on what the dashboard holds and serves. */
export interface DashboardLimits extends ModelLimits {
  /** Browsers with an open event stream at once. Default 32. */
  clients?: number;
  /** Messages queued for one browser before it is dropped as too slow (it reconnects). Default 1000. */
  queuedPerClient?: number;
  /** Log lines of each tile sent with every change (all kept lines are at `api/tile`). Default 5. */
  logTail?: number;
  /** Records a search returns. Default 50. */
  searchResults?: number;
}

/** Options for {@link startDashboard}. */
export interface DashboardOptions {
  /** Address to listen on. Default `127.0.0.1`; any non-loopback address needs {@link token}. */
  hostname?: string;
  /** TCP port; 0 picks a free one. Default 8080. */
  port?: number;
  /**
   * Required on a non-loopback address (at least 16 characters); on
   * loopback it is enforced when given. Checked on the page, the event
   * stream and the API.
   */
  token?: string;
  /**
   * The journal to count, list failures from and search: the project's
   * journal (adapted with {@link journalReader}) or any {@link DashboardJournal}.
   * Default none (counts come from the events; search is off).
   */
  journal?: DashboardJournal | ReadableJournal;
  /** Station name for events published without one. Default the host name. */
  station?: string;
  /** Local start times of the shifts (`HH:MM`); counts reset at each. Default `["00:00"]` (the day). */
  shiftStarts?: string[];
  /** Limits. */
  limits?: DashboardLimits;
  /** How often changes are sent to browsers, ms (progress is coalesced). Default 200. */
  flushMs?: number;
  /** Keep-alive message interval, ms; a browser that hears nothing for three reconnects. Default 15000. */
  heartbeatMs?: number;
  /** How often the journal's counts and failures are re-read, ms (other stations). Default 15000. */
  journalRefreshMs?: number;
  /** Stops the dashboard. */
  signal?: AbortSignal;
  /** How long {@link Dashboard.close} waits for browsers to let go, ms. Default 2000. */
  closeTimeoutMs?: number;
  /** Clock, ms since the epoch. Default `Date.now`. */
  now?: () => number;
}

/** What a browser gets first: everything it needs to draw the page. */
export interface DashboardSnapshot {
  /** About this server. */
  info: {
    /** Changes on every start (a browser can tell a restarted server). */
    instance: string;
    /** When it started (ms since the epoch). */
    startedAt: number;
    /** Whether a journal is attached (search works). */
    journal: boolean;
    /** Keep-alive interval, ms. */
    heartbeatMs: number;
  };
  /** Every tile (with the last few log lines). */
  tiles: Tile[];
  /** The last failures, newest first. */
  failures: FailureEntry[];
  /** Counts of the shift. */
  stats: ShiftStats;
}

/** Options for {@link Dashboard.publish}. */
export interface PublishOptions {
  /** Station the event comes from. Default the dashboard's {@link DashboardOptions.station}. */
  station?: string;
}

/** Options for {@link Dashboard.onEvent}. */
export interface OnEventOptions {
  /**
   * The name a port's tile goes by, when the port itself is not stable or
   * not telling (a fixture slot for a hot-plugged board, `sim://` URLs that
   * change with each board). Default the port as it is.
   */
  portName?: (port: string) => string;
}

/** Something that takes station events: what `runStation({ dashboard })` needs. */
export interface DashboardSink {
  /** Take one event of one station. Never throws. */
  publish(event: StationEventLike, options?: PublishOptions): void;
}

function hostName(): string {
  try {
    return Deno.hostname();
  } catch {
    return DEFAULT_STATION;
  }
}

/**
 * Read `HOST:PORT`, `[IPv6]:PORT` or `PORT` (loopback) as given to
 * `--dashboard`.
 *
 * @example
 * ```ts
 * import { parseListenAddress } from "./server.ts";
 * console.log(parseListenAddress("127.0.0.1:8080")); // { hostname: "127.0.0.1", port: 8080 }
 * ```
 * @throws {UsageError} `E_DASHBOARD_ADDRESS` for anything else.
 */
export function parseListenAddress(text: string): { hostname: string; port: number } {
  const t = text.trim();
  const m = /^(\d{1,5})$/.exec(t) ?? /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(t) ??
    /^([^:\s[\]]+):(\d{1,5})$/.exec(t);
  const port = m ? Number(m[m.length - 1]) : NaN;
  if (!m || port > 65535) {
    throw new UsageError(
      `"${text}" is not a dashboard address: give HOST:PORT (127.0.0.1:8080, 0.0.0.0:8080 ` +
        "with a token, [::1]:8080) or just a port",
      { code: "E_DASHBOARD_ADDRESS" },
    );
  }
  return { hostname: m.length === 3 ? m[1] : "127.0.0.1", port };
}

/** Largest body `api/events` accepts. */
const MAX_POST_BYTES = 1024 * 1024;

/** The request body, or null when it is longer than `limit` bytes. */
async function readLimited(request: Request, limit: number): Promise<Uint8Array | null> {
  if (!request.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of request.body) {
    size += chunk.length;
    if (size > limit) return null;
    chunks.push(chunk);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

const SECURITY_HEADERS: Record<string, string> = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cache-control": "no-store",
};

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { ...SECURITY_HEADERS, "content-type": "application/json; charset=utf-8" },
  });
}

function text(body: string, status: number): Response {
  return new Response(body + "\n", {
    status,
    headers: { ...SECURITY_HEADERS, "content-type": "text/plain; charset=utf-8" },
  });
}

function message(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.length > 300 ? `${m.slice(0, 299)}…` : m;
}

function failureOf(r: DashboardRecord): FailureEntry {
  const at = Date.parse(r.endedAt ?? r.startedAt);
  return {
    station: r.station ?? "",
    port: r.port,
    mac: r.mac,
    serial: r.serial,
    chip: r.chip,
    stage: r.stage ?? "",
    result: r.result,
    code: r.errorCode ?? "",
    message: r.errorMessage ?? "",
    at: Number.isFinite(at) ? at : 0,
  };
}

/**
 * A running dashboard. Make one with {@link startDashboard}.
 */
export class Dashboard implements DashboardSink, AsyncDisposable {
  /** The address to open, e.g. `http://127.0.0.1:8080/` (without the token). */
  readonly url: string;
  /** The address it listens on. */
  readonly hostname: string;
  /** The TCP port it listens on. */
  readonly port: number;

  #model: LineModel;
  #hub: SseHub;
  #server: Deno.HttpServer<Deno.NetAddr>;
  #journal: DashboardJournal | null;
  #token: string | undefined;
  #station: string;
  #shiftStarts: string[];
  #now: () => number;
  #flushMs: number;
  #heartbeatMs: number;
  #logTail: number;
  #searchResults: number;
  #failureLimit: number;
  #closeTimeoutMs: number;
  #instance = crypto.randomUUID();
  #startedAt: number;
  #flushTimer: ReturnType<typeof setTimeout> | null = null;
  #timers: ReturnType<typeof setInterval>[] = [];
  #closed: Promise<void> | null = null;
  // Stats: from the events, or the last good read of the journal.
  #eventCounts: ShiftStats | null = null;
  #journalStats: ShiftStats | null = null;
  #journalFailures: FailureEntry[] = [];
  #journalError: string | null = null;
  #refreshing: Promise<void> | null = null;
  #refreshAgain = { counts: false, failures: false };
  #refreshTimer: ReturnType<typeof setTimeout> | null = null;
  #lastStatsJson = "";

  /** Use {@link startDashboard}. */
  constructor(options: DashboardOptions) {
    const hostname = options.hostname ?? "127.0.0.1";
    checkBindToken(hostname, options.token);
    this.#token = options.token || undefined;
    this.#now = options.now ?? Date.now;
    this.#startedAt = this.#now();
    this.#station = options.station ?? hostName();
    this.#shiftStarts = options.shiftStarts ?? ["00:00"];
    shiftStart(this.#startedAt, this.#shiftStarts); // a bad HH:MM fails here, at start
    this.#flushMs = options.flushMs ?? 200;
    this.#heartbeatMs = options.heartbeatMs ?? 15_000;
    const limits = options.limits ?? {};
    this.#logTail = limits.logTail ?? 5;
    this.#searchResults = limits.searchResults ?? 50;
    this.#failureLimit = limits.failures ?? 20;
    this.#closeTimeoutMs = options.closeTimeoutMs ?? 2000;
    this.#model = new LineModel({ limits, now: this.#now });
    this.#hub = new SseHub({ maxClients: limits.clients, maxQueued: limits.queuedPerClient });
    const j = options.journal;
    this.#journal = !j ? null : "history" in j ? journalReader(j) : j;

    try {
      this.#server = Deno.serve({
        hostname,
        port: options.port ?? 8080,
        onListen: () => {},
        onError: (e) => text(`dashboard error: ${message(e)}`, 500),
      }, (request) => this.#handle(request));
    } catch (e) {
      if (e instanceof Deno.errors.AddrInUse) {
        throw new EsplineError(
          "E_DASHBOARD_PORT",
          `cannot start the dashboard: ${hostname}:${options.port ?? 8080} is in use by another ` +
            "program; choose another port (e.g. --dashboard 127.0.0.1:8081)",
          { cause: e },
        );
      }
      throw new EsplineError(
        "E_DASHBOARD_PORT",
        `cannot start the dashboard on ${hostname}:${options.port ?? 8080}: ${message(e)}`,
        { cause: e },
      );
    }
    this.hostname = hostname;
    this.port = this.#server.addr.port;
    const host = hostname.includes(":") ? `[${hostname}]` : hostname;
    const shown = hostname === "0.0.0.0" || hostname === "::" ? hostName() : host;
    this.url = `http://${shown}:${this.port}/`;

    this.#timers.push(setInterval(() => {
      this.#hub.broadcast(sseFrame({ event: "ping", data: String(this.#now()) }));
    }, this.#heartbeatMs));
    if (this.#journal) {
      this.#timers.push(setInterval(
        () => this.#refreshJournal({ counts: true, failures: true }),
        options.journalRefreshMs ?? 15_000,
      ));
      this.#refreshJournal({ counts: true, failures: true });
    }
    options.signal?.addEventListener("abort", () => this.close(), { once: true });
  }

  /** Browsers with an open event stream now. */
  get clients(): number {
    return this.#hub.size;
  }

  /** Whether a request to this dashboard must carry the token. */
  get needsToken(): boolean {
    return this.#token !== undefined;
  }

  /**
   * Take one event of one station. Never throws (a station's run must not
   * fail because of its dashboard); malformed events are ignored.
   */
  publish(event: StationEventLike, options: PublishOptions = {}): void {
    if (this.#closed) return;
    let tile: Tile | null;
    try {
      tile = this.#model.apply(event, options.station ?? this.#station);
    } catch {
      return;
    }
    if (!tile) return;
    if (event.type === "device-start" || event.type === "device-end") {
      const failed = event.type === "device-end" && tile.state !== "passed";
      this.#refreshJournal({ counts: true, failures: failed });
    }
    this.#flushTimer ??= setTimeout(() => {
      this.#flushTimer = null;
      this.#flush();
    }, this.#flushMs);
  }

  /**
   * An event function for one station, to pass as `runStation`'s `onEvent`.
   *
   * @example
   * ```ts
   * import { startDashboard } from "./server.ts";
   * await using dashboard = startDashboard({ port: 0 });
   * const onEvent = dashboard.onEvent("line-1");
   * onEvent({ type: "device-start", port: "sim://esp32" });
   * ```
   */
  onEvent(
    station?: string,
    options: OnEventOptions = {},
  ): (event: StationEventLike) => void {
    const name = station ?? this.#station;
    const portName = options.portName;
    if (!portName) return (event) => this.publish(event, { station: name });
    return (event) => {
      let port = event.port;
      try {
        if (port !== undefined) port = portName(port);
      } catch { /* keep the port as it is */ }
      this.publish({ ...event, port }, { station: name });
    };
  }

  /** What a browser gets first (and `api/state` answers). */
  snapshot(): DashboardSnapshot {
    return {
      info: {
        instance: this.#instance,
        startedAt: this.#startedAt,
        journal: this.#journal !== null,
        heartbeatMs: this.#heartbeatMs,
      },
      tiles: this.#model.tiles().map((t) => this.#wireTile(t)),
      failures: this.#journal ? this.#journalFailures : this.#model.failures(),
      stats: this.#stats(),
    };
  }

  #wireTile(t: Tile): Tile {
    return { ...t, log: t.log.slice(-this.#logTail) };
  }

  #shiftStart(): number {
    return shiftStart(this.#now(), this.#shiftStarts);
  }

  #stats(): ShiftStats {
    const since = this.#shiftStart();
    if (this.#journal) {
      const base = this.#journalStats ?? {
        source: "journal" as const,
        since,
        passed: 0,
        failed: 0,
        unverified: 0,
        aborted: 0,
        inProgress: 0,
        yield: null,
        perHour: null,
        journalError: null,
      };
      return { ...base, journalError: this.#journalError };
    }
    if (!this.#eventCounts || this.#eventCounts.since !== since) {
      this.#eventCounts = this.#model.stats(since);
    }
    // In progress is read from the tiles each time; the counts when boards end.
    const live = this.#model.tiles().filter((t) => t.state === "running").length;
    return { ...this.#eventCounts, inProgress: live };
  }

  #flush(): void {
    const changes = this.#model.takeChanges();
    if (changes.counts) this.#eventCounts = null;
    for (const [key, tile] of changes.tiles) {
      this.#hub.broadcast(
        tile
          ? sseFrame({ event: "tile", data: JSON.stringify(this.#wireTile(tile)) })
          : sseFrame({ event: "tile-removed", data: JSON.stringify({ key }) }),
      );
    }
    if (changes.failures && !this.#journal) {
      this.#hub.broadcast(
        sseFrame({ event: "failures", data: JSON.stringify(this.#model.failures()) }),
      );
    }
    this.#sendStats();
  }

  #sendStats(): void {
    const data = JSON.stringify(this.#stats());
    if (data === this.#lastStatsJson) return;
    this.#lastStatsJson = data;
    this.#hub.broadcast(sseFrame({ event: "stats", data }));
  }

  /** Re-read the journal's counts (and failures); one read at a time, coalesced. */
  #refreshJournal(what: { counts: boolean; failures: boolean }): void {
    const journal = this.#journal;
    if (!journal || this.#closed) return;
    if (this.#refreshing) {
      this.#refreshAgain.counts ||= what.counts;
      this.#refreshAgain.failures ||= what.failures;
      return;
    }
    this.#refreshing = (async () => {
      const now = this.#now();
      const since = this.#shiftStart();
      try {
        if (what.counts) {
          const shift = await journal.counts({ since: new Date(since) });
          const hourStart = Math.max(since, now - 3_600_000);
          const hour = hourStart === since
            ? shift
            : await journal.counts({ since: new Date(hourStart) });
          const finished = hour.passed + hour.failed + hour.unverified + hour.incomplete;
          const counts = {
            passed: shift.passed,
            failed: shift.failed + shift.incomplete,
            unverified: shift.unverified,
          };
          this.#journalStats = {
            source: "journal",
            since,
            ...counts,
            aborted: shift.aborted,
            inProgress: shift.inProgress,
            yield: yieldOf(counts),
            perHour: ratePerHour(finished, since, now),
            journalError: null,
          };
        }
        if (what.failures) {
          const rows = await journal.failures({
            since: new Date(since),
            limit: this.#failureLimit,
          });
          const list = rows.map(failureOf);
          if (JSON.stringify(list) !== JSON.stringify(this.#journalFailures)) {
            this.#journalFailures = list;
            this.#hub.broadcast(sseFrame({ event: "failures", data: JSON.stringify(list) }));
          }
        }
        this.#journalError = null;
      } catch (e) {
        this.#journalError = message(e);
      }
      this.#sendStats();
    })().finally(() => {
      this.#refreshing = null;
      const again = this.#refreshAgain;
      this.#refreshAgain = { counts: false, failures: false };
      if ((again.counts || again.failures) && !this.#closed) {
        // Coalesce a burst of device-ends into one more read.
        this.#refreshTimer ??= setTimeout(() => {
          this.#refreshTimer = null;
          this.#refreshJournal(again);
        }, 250);
      }
    });
  }

  /** Settle pending journal reads (tests, and before close). */
  async idle(): Promise<void> {
    while (this.#refreshing || this.#refreshTimer !== null) {
      if (this.#refreshing) await this.#refreshing;
      else await new Promise((r) => setTimeout(r, 50));
    }
    if (this.#flushTimer !== null) {
      clearTimeout(this.#flushTimer);
      this.#flushTimer = null;
      this.#flush();
    }
  }

  async #handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (request.method === "POST" && url.pathname === "/api/events") {
      return await this.#ingest(request);
    }
    if (request.method !== "GET") return text("the dashboard only answers GET", 405);
    const verdict = authorize(request, this.#token);
    if (!verdict.ok) return text(verdict.reason, verdict.status);
    const cookie = this.#token && verdict.via === "query"
      ? `${TOKEN_COOKIE}=${this.#token}; Path=/; HttpOnly; SameSite=Strict`
      : null;
    switch (url.pathname) {
      case "/":
      case "/index.html": {
        if (cookie) {
          // Keep the token out of the address bar, the history and screenshots.
          return new Response(null, {
            status: 303,
            headers: { ...SECURITY_HEADERS, location: "./", "set-cookie": cookie },
          });
        }
        return new Response(PAGE_HTML, {
          headers: {
            ...SECURITY_HEADERS,
            "content-type": "text/html; charset=utf-8",
            "content-security-policy": PAGE_CSP,
          },
        });
      }
      case "/events": {
        const stream = this.#hub.open([
          sseFrame({ retry: 3000 }),
          sseFrame({ event: "snapshot", data: JSON.stringify(this.snapshot()) }),
        ]);
        if (!stream) {
          return text(
            "too many dashboards are open on this station: close one, or raise limits.clients",
            503,
          );
        }
        return new Response(stream, {
          headers: {
            ...SECURITY_HEADERS,
            "content-type": "text/event-stream; charset=utf-8",
            "x-accel-buffering": "no",
          },
        });
      }
      case "/api/state":
        return json(this.snapshot());
      case "/api/tile": {
        const key = url.searchParams.get("key") ?? "";
        let parsed: unknown;
        try {
          parsed = JSON.parse(key);
        } catch {
          parsed = null;
        }
        const tile = Array.isArray(parsed) && parsed.length === 2
          ? this.#model.tile(String(parsed[0]), String(parsed[1]))
          : undefined;
        return tile ? json(tile) : json({ error: "no such tile" }, 404);
      }
      case "/api/search":
        return await this.#search(url);
      default:
        return text("not found", 404);
    }
  }

  /** Events POSTed by a station in another process ({@link forwardEvents}). */
  async #ingest(request: Request): Promise<Response> {
    if (!this.#token) {
      return text(
        "this dashboard takes events from other stations only when it has a token: start it with one",
        403,
      );
    }
    // A header only: a cookie would let any page the supervisor opens post events.
    const given = requestToken(request);
    if (!given || given.from !== "header" || !tokensEqual(given.token, this.#token)) {
      return text("posting events needs the dashboard's token as Authorization: Bearer …", 401);
    }
    const declared = Number(request.headers.get("content-length") ?? "0");
    if (declared > MAX_POST_BYTES) return text(`at most ${MAX_POST_BYTES} bytes per post`, 413);
    let body: unknown;
    try {
      const bytes = await readLimited(request, MAX_POST_BYTES);
      if (!bytes) return text(`at most ${MAX_POST_BYTES} bytes per post`, 413);
      body = JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      return text('the body must be JSON: { "station": "…", "events": [ … ] }', 400);
    }
    const b = body as { station?: unknown; events?: unknown } | null;
    const station = typeof b?.station === "string" ? b.station.trim() : "";
    if (!station || station.length > 100 || !Array.isArray(b?.events)) {
      return text('the body must be JSON: { "station": "…", "events": [ … ] }', 400);
    }
    if (b.events.length > MAX_EVENTS_PER_POST) {
      return text(`at most ${MAX_EVENTS_PER_POST} events per post`, 413);
    }
    for (const event of b.events) {
      if (event && typeof event === "object" && typeof event.type === "string") {
        this.publish(event as StationEventLike, { station });
      }
    }
    return new Response(null, { status: 204, headers: SECURITY_HEADERS });
  }

  async #search(url: URL): Promise<Response> {
    if (!this.#journal) {
      return json({ error: "no journal is attached to this dashboard: search is off" }, 404);
    }
    const q = (url.searchParams.get("q") ?? "").trim();
    if (q.length < 2 || q.length > 64) {
      return json({ error: "search for 2 to 64 characters of a MAC or serial" }, 400);
    }
    try {
      const records = await this.#journal.search(q, { limit: this.#searchResults });
      return json({ query: q, records });
    } catch (e) {
      return json({ error: `the journal could not be searched: ${message(e)}` }, 503);
    }
  }

  /** Stop: end every event stream, stop listening. Idempotent. */
  close(): Promise<void> {
    return this.#closed ??= (async () => {
      for (const t of this.#timers) clearInterval(t);
      if (this.#flushTimer !== null) {
        // The last changes (the boards' results) reach the browsers before their streams end.
        clearTimeout(this.#flushTimer);
        this.#flushTimer = null;
        this.#flush();
      }
      if (this.#refreshTimer !== null) clearTimeout(this.#refreshTimer);
      this.#hub.closeAll();
      // A browser that stopped reading (a dead laptop on the Wi-Fi) can hold a graceful
      // shutdown forever, and Deno.serve has no forced one: wait a little, then let the
      // process exit without it (the OS closes the socket).
      let timer: ReturnType<typeof setTimeout> | undefined;
      const drained = await Promise.race([
        this.#server.shutdown().then(() => true),
        new Promise<false>((r) => timer = setTimeout(() => r(false), this.#closeTimeoutMs)),
      ]);
      clearTimeout(timer);
      if (!drained) this.#server.unref();
      await this.#refreshing;
    })();
  }

  /** `await using` support. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Start a dashboard. Loopback by default; on any other address a token is
 * required (the start fails without one).
 *
 * @example
 * ```ts
 * import { startDashboard } from "./server.ts";
 * import { runStation } from "../runner.ts";
 * await using dashboard = startDashboard({ port: 0 });
 * console.log(`open ${dashboard.url}`);
 * await runStation(["sim://esp32"], async ({ stage }) => stage("noop"), {
 *   station: "line-1",
 *   dashboard,
 * });
 * ```
 * @throws {UsageError} `E_DASHBOARD_TOKEN` without a usable token off loopback.
 * @throws {EsplineError} `E_DASHBOARD_PORT` when the port cannot be opened.
 */
export function startDashboard(options: DashboardOptions = {}): Dashboard {
  return new Dashboard(options);
}
