/**
 * Send a station's events to a dashboard in another process or on another
 * PC, so one page shows every station of a line. Events are batched
 * (progress coalesced to the newest per port) and POSTed to the
 * dashboard's `api/events` with its token. While the dashboard cannot be
 * reached, the events that change a tile's state (start, stage, info, end)
 * are kept, up to a limit, and sent when it is back; progress and log lines
 * of that time are dropped.
 *
 * @module
 */

import type { StationEventLike } from "./model.ts";

/** Options for {@link forwardEvents}. */
export interface ForwardEventsOptions {
  /** The dashboard's token (a dashboard accepts events only with one). */
  token: string;
  /** Station name shown on the dashboard. */
  station: string;
  /** How often a batch is sent, ms. Default 250. */
  flushMs?: number;
  /** State-changing events kept while the dashboard is unreachable. Default 2000. */
  backlog?: number;
  /** Called when a batch could not be delivered (default: nothing; the station must not stop). */
  onError?: (error: Error) => void;
}

/** A station's side of {@link forwardEvents}. */
export interface EventForwarder extends AsyncDisposable {
  /** Pass as `runStation`'s `onEvent`. Never throws. */
  onEvent(event: StationEventLike): void;
  /**
   * The same, as a dashboard sink (`runStation`'s `dashboard` option takes
   * the forwarder itself). Events go under the forwarder's own station name.
   */
  publish(event: StationEventLike, options?: { station?: string }): void;
  /** Send what is queued now. */
  flush(): Promise<void>;
  /** Send what is queued and stop. */
  close(): Promise<void>;
}

const KEEP = new Set(["device-start", "stage", "device-info", "note", "connected", "device-end"]);

/** Most events in one request (the dashboard refuses more). */
export const MAX_EVENTS_PER_POST = 500;

function plain(event: StationEventLike): Record<string, unknown> {
  // Byte buffers (protocol traces) are not for the page and do not survive JSON.
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(event)) if (!(v instanceof Uint8Array)) out[k] = v;
  return out;
}

/**
 * Forward events to the dashboard at `url` (`http://supervisor-pc:8080/`).
 *
 * @example
 * ```ts
 * import { forwardEvents } from "./forward.ts";
 * await using forward = forwardEvents("http://127.0.0.1:8080/", {
 *   token: "0123456789abcdef0123",
 *   station: "line-2",
 * });
 * forward.onEvent({ type: "device-start", port: "/dev/ttyUSB0" });
 * ```
 */
export function forwardEvents(url: string, options: ForwardEventsOptions): EventForwarder {
  const endpoint = new URL("api/events", url.endsWith("/") ? url : `${url}/`).href;
  const backlogLimit = options.backlog ?? 2000;
  let queue: Record<string, unknown>[] = [];
  let timer: ReturnType<typeof setTimeout> | null = null;
  let sending: Promise<void> | null = null;
  let closed = false;

  const post = async (events: Record<string, unknown>[]) => {
    const r = await fetch(endpoint, {
      method: "POST",
      headers: {
        authorization: `Bearer ${options.token}`,
        "content-type": "application/json",
      },
      body: JSON.stringify({ station: options.station, events }),
    });
    const text = await r.text();
    if (!r.ok) throw new Error(`dashboard at ${url} answered ${r.status}: ${text.trim()}`);
  };

  const send = async () => {
    while (queue.length > 0) {
      // Only the newest progress of each port matters to a page.
      const batch = queue.splice(0, MAX_EVENTS_PER_POST);
      const lastProgress = new Map<unknown, number>();
      batch.forEach((e, i) => e.type === "progress" && lastProgress.set(e.port, i));
      const events = batch.filter((e, i) =>
        e.type !== "progress" || lastProgress.get(e.port) === i
      );
      try {
        await post(events);
      } catch (e) {
        options.onError?.(e instanceof Error ? e : new Error(String(e)));
        const keep = events.filter((x) => KEEP.has(String(x.type)));
        queue = [...keep, ...queue.filter((x) => KEEP.has(String(x.type)))];
        if (queue.length > backlogLimit) queue.splice(0, queue.length - backlogLimit);
        return; // try again with the next flush
      }
    }
  };

  const flush = (): Promise<void> => {
    if (timer !== null) {
      clearTimeout(timer);
      timer = null;
    }
    sending ??= send().finally(() => {
      sending = null;
      if (queue.length > 0 && !closed) schedule();
    });
    return sending;
  };

  const schedule = () => {
    timer ??= setTimeout(() => {
      timer = null;
      flush();
    }, options.flushMs ?? 250);
  };

  const close = async () => {
    if (closed) return;
    closed = true;
    await sending;
    await flush();
    if (timer !== null) clearTimeout(timer);
    timer = null;
  };

  const onEvent = (event: StationEventLike) => {
    if (closed) return;
    try {
      if (event.type === "trace") return;
      queue.push(plain(event));
      if (queue.length > backlogLimit * 2) {
        queue = queue.filter((x) => KEEP.has(String(x.type))).slice(-backlogLimit);
      }
      schedule();
    } catch {
      // A station's run must not fail because of its dashboard.
    }
  };

  return {
    onEvent,
    publish: (event) => onEvent(event),
    flush,
    close,
    [Symbol.asyncDispose]: close,
  };
}
