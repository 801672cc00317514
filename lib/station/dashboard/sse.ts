/**
 * Server-sent events: framing (the WHATWG `text/event-stream` format) and a
 * hub that holds the open streams with limits on their number and on what
 * each may have queued. A client that falls behind by more than its queue is
 * dropped; its browser reconnects and starts again from a snapshot.
 *
 * @module
 */

/** One server-sent event. */
export interface SseMessage {
  /** Event name (`tile`, `snapshot` …); absent means `message`. */
  event?: string;
  /** Payload; newlines in it become several `data:` lines, which the browser joins back. */
  data?: string;
  /** Event id (`Last-Event-ID` on reconnect). */
  id?: string;
  /** Reconnection delay the browser should use, ms. */
  retry?: number;
  /** A comment line (ignored by browsers; keeps proxies from closing an idle stream). */
  comment?: string;
}

function field(name: string, value: string): string {
  if (/[\r\n]/.test(value)) throw new RangeError(`SSE ${name} must be one line`);
  return value;
}

/**
 * Frame a message as `text/event-stream` text, ending with the blank line
 * that dispatches it. A payload can never end the event early or start
 * another: each of its lines gets its own `data:` prefix.
 *
 * @example
 * ```ts
 * import { sseFrame } from "./sse.ts";
 * console.log(sseFrame({ event: "tile", data: '{"port":"sim://esp32"}' }));
 * // event: tile
 * // data: {"port":"sim://esp32"}
 * ```
 */
export function sseFrame(message: SseMessage): string {
  let out = "";
  if (message.comment !== undefined) {
    for (const line of message.comment.split(/\r\n|\r|\n/)) out += `: ${line}\n`;
  }
  if (message.retry !== undefined) out += `retry: ${Math.max(0, Math.floor(message.retry))}\n`;
  if (message.id !== undefined) {
    if (message.id.includes("\0")) throw new RangeError("SSE id must not contain NUL");
    out += `id: ${field("id", message.id)}\n`;
  }
  if (message.event !== undefined) out += `event: ${field("event", message.event)}\n`;
  if (message.data !== undefined) {
    for (const line of message.data.split(/\r\n|\r|\n/)) out += `data: ${line}\n`;
  }
  return `${out}\n`;
}

/** Options for {@link SseHub}. */
export interface SseHubOptions {
  /** Most open streams at once. Default 32. */
  maxClients?: number;
  /** Most messages queued for one client before it is dropped as too slow. Default 1000. */
  maxQueued?: number;
}

interface Client {
  controller: ReadableStreamDefaultController<Uint8Array>;
}

const encoder = new TextEncoder();

/**
 * The open event streams.
 *
 * @example
 * ```ts
 * import { SseHub, sseFrame } from "./sse.ts";
 * const hub = new SseHub({ maxClients: 8 });
 * const stream = hub.open([sseFrame({ event: "hello", data: "{}" })]);
 * hub.broadcast(sseFrame({ event: "tile", data: "{}" }));
 * hub.closeAll();
 * console.log(stream !== null);
 * ```
 */
export class SseHub {
  #clients = new Set<Client>();
  #maxClients: number;
  #maxQueued: number;
  #dropped = 0;

  /** A hub with no clients. */
  constructor(options: SseHubOptions = {}) {
    this.#maxClients = options.maxClients ?? 32;
    this.#maxQueued = options.maxQueued ?? 1000;
  }

  /** Open streams now. */
  get size(): number {
    return this.#clients.size;
  }

  /** Clients dropped for falling behind, since the hub was made. */
  get dropped(): number {
    return this.#dropped;
  }

  /**
   * A new stream that starts with `initial` frames and then gets every
   * broadcast; null when {@link SseHubOptions.maxClients} are already open.
   */
  open(initial: string[]): ReadableStream<Uint8Array> | null {
    if (this.#clients.size >= this.#maxClients) return null;
    let client: Client | null = null;
    return new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          client = { controller };
          this.#clients.add(client);
          for (const frame of initial) controller.enqueue(encoder.encode(frame));
        },
        cancel: () => {
          if (client) this.#clients.delete(client);
        },
      },
      // The initial frames may exceed the queue on their own; they are always sent.
      new CountQueuingStrategy({ highWaterMark: Math.max(this.#maxQueued, initial.length) }),
    );
  }

  /** Send a frame to every client; a client whose queue is full is dropped. */
  broadcast(frame: string): void {
    if (this.#clients.size === 0) return;
    const bytes = encoder.encode(frame);
    for (const client of [...this.#clients]) {
      const room = client.controller.desiredSize;
      if (room !== null && room <= 0) {
        this.#drop(client);
        continue;
      }
      try {
        client.controller.enqueue(bytes);
      } catch {
        this.#clients.delete(client);
      }
    }
  }

  #drop(client: Client): void {
    this.#clients.delete(client);
    this.#dropped++;
    try {
      client.controller.error(new Error("dashboard client too slow: dropped (it will reconnect)"));
    } catch { /* already closed */ }
  }

  /** End every stream (server shutdown). */
  closeAll(): void {
    for (const client of this.#clients) {
      try {
        client.controller.close();
      } catch { /* already closed */ }
    }
    this.#clients.clear();
  }
}
