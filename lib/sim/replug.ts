/**
 * Boards that a disconnect or swap fault unplugged, waiting to be plugged
 * back in on their port: the next open of the same port path (a `sim://`
 * URL) finds the same board, flash as the fault left it (disconnect), or
 * another board (swap), instead of a new one. What a replugged USB board,
 * or a board swapped on a fixed `/dev/serial/by-path` slot, looks like to a
 * client.
 *
 * A board waits {@link REPLUG_WINDOW_MS} at most (after that the next open
 * makes a new board, as without a fault), and at most
 * {@link MAX_WAITING_BOARDS} wait at once, so a long process that never
 * reopens its ports does not keep their flash.
 *
 * @module
 */

import type { VirtualChip } from "./virtual_chip.ts";

/** How long an unplugged board waits for its port to be opened again, ms. */
export const REPLUG_WINDOW_MS = 60_000;
/** Boards waiting at once, at most; the oldest goes first. */
export const MAX_WAITING_BOARDS = 64;

const waiting = new Map<string, { chip: VirtualChip; since: number }>();
const watchers = new Set<(path: string, chip: VirtualChip) => void>();

/** Put `chip` on `path`, unplugged, until the port is opened again. */
export function parkBoard(path: string, chip: VirtualChip): void {
  const old = waiting.get(path);
  if (old && old.chip !== chip) void old.chip.close();
  waiting.delete(path);
  waiting.set(path, { chip, since: Date.now() });
  while (waiting.size > MAX_WAITING_BOARDS) {
    const [oldest, entry] = waiting.entries().next().value!;
    waiting.delete(oldest);
    void entry.chip.close();
  }
}

/** The board waiting on `path` (taken off the list), or undefined when none waits. */
export function takeBoard(path: string): VirtualChip | undefined {
  const entry = waiting.get(path);
  if (!entry) return undefined;
  waiting.delete(path);
  if (Date.now() - entry.since > REPLUG_WINDOW_MS) {
    void entry.chip.close();
    return undefined;
  }
  return entry.chip;
}

/**
 * Forget the board waiting on `path`, if any, and close it (a soak ends a
 * run this way, so its boards do not wait for a port nobody opens again).
 *
 * @example
 * ```ts
 * import { forgetBoard } from "./replug.ts";
 * await forgetBoard("sim://esp32?seed=7&disconnect=0.01");
 * ```
 */
export async function forgetBoard(path: string): Promise<void> {
  const entry = waiting.get(path);
  waiting.delete(path);
  await entry?.chip.close();
}

/**
 * Be told of every board plugged in on a sim port: a new one, one plugged
 * back in after a disconnect, or one swapped in. A soak uses it to know
 * every board that was ever behind its ports; returns an unsubscribe
 * function.
 *
 * @example
 * ```ts
 * import { onBoardPlugged } from "./replug.ts";
 * const off = onBoardPlugged((path, chip) => console.log(path, chip.mac));
 * off();
 * ```
 */
export function onBoardPlugged(listener: (path: string, chip: VirtualChip) => void): () => void {
  watchers.add(listener);
  return () => watchers.delete(listener);
}

/** Tell the watchers that `chip` is now plugged in on `path`. */
export function announceBoard(path: string, chip: VirtualChip): void {
  for (const w of [...watchers]) {
    try {
      w(path, chip);
    } catch {
      // A watcher failing must not break the port.
    }
  }
}
