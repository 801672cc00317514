/**
 * Hot-plug: wait for a board to be plugged in (a new port appears) or taken
 * out (its port disappears), so a station can loop board after board. Ports
 * come from the same listing as `list-ports` and `--port auto`: device nodes
 * under /dev on Linux and macOS, SetupAPI and the registry on Windows.
 *
 * @module
 */

import { AbortedError, TimeoutError } from "../errors.ts";
import { delay } from "../transport/transport.ts";
import { listPortPaths, listPorts, matchesFilter, parsePortFilter } from "../transport/ports.ts";
import type { PortInfo } from "../transport/transport.ts";

/**
 * The serial ports a hot-plug wait watches: USB serial device nodes under
 * /dev on Linux and macOS (ttyUSB*, ttyACM*, cu.usb*), every COM port on
 * Windows (through SetupAPI and the registry).
 *
 * @example
 * ```ts
 * import { listSerialDevices } from "./wait.ts";
 * console.log(await listSerialDevices()); // [ "/dev/ttyACM0" ] or [ "COM1", "COM10" ]
 * ```
 */
export function listSerialDevices(): Promise<string[]> {
  return listPortPaths();
}

/** Options for {@link waitForDevice}. */
export interface WaitForDeviceOptions {
  /** Only ports whose path contains this text (or, with `list`, that the lister returns). */
  filter?: string;
  /**
   * Only ports whose USB facts match this `--port-filter` text
   * (`vid=303a,pid=1001,serial=…,name=…`); the ports are then listed with
   * their USB facts on every system. Ignored when `list` is given. Default:
   * no USB filter.
   */
  portFilter?: string;
  /**
   * Lists the current ports with their USB facts, for `portFilter`. Default:
   * the listing `list-ports` shows.
   */
  listPorts?: () => Promise<PortInfo[]>;
  /** Wait for this port to disappear instead (the board was taken out); resolves with its path. */
  gone?: string;
  /** Give up after this long, ms. Default: wait forever. */
  timeoutMs?: number;
  /** Cancels the wait. */
  signal?: AbortSignal;
  /** Poll interval, ms. Default 250. */
  pollMs?: number;
  /**
   * Lists the current ports. Default: USB serial devices under /dev
   * (ttyUSB*, ttyACM*, cu.usb*) on Linux and macOS, the COM ports on Windows.
   */
  list?: () => Promise<string[]>;
}

/**
 * Resolve with the path of a port that appears after the call (or, with
 * `gone`, when that port disappears).
 *
 * @throws {UsageError} a `portFilter` that does not parse (before waiting).
 * @throws {TimeoutError} after `timeoutMs`; {@link AbortedError} when `signal` aborts.
 * @example
 * ```ts
 * import { waitForDevice } from "./wait.ts";
 * const port = await waitForDevice({ timeoutMs: 60_000 });
 * console.log(`board on ${port}`);
 * await waitForDevice({ gone: port });
 * ```
 */
export async function waitForDevice(options: WaitForDeviceOptions = {}): Promise<string> {
  const usb = options.portFilter ? parsePortFilter(options.portFilter) : null;
  const list = options.list ??
    (usb
      ? async () =>
        (await (options.listPorts ?? listPorts)()).filter((p) => matchesFilter(p, usb))
          .map((p) => p.path)
      : () => listPortPaths());
  const matches = (p: string) => !options.filter || p.includes(options.filter);
  const deadline = options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs;
  const before = new Set((await list()).filter(matches));
  for (;;) {
    if (options.signal?.aborted) throw new AbortedError("stopped waiting for a board");
    if (Date.now() > deadline) {
      throw new TimeoutError(
        options.gone
          ? `${options.gone} is still connected after ${options.timeoutMs} ms`
          : `no new board appeared within ${options.timeoutMs} ms: check the cable and that the board enumerates`,
      );
    }
    const now = (await list()).filter(matches);
    if (options.gone) {
      if (!now.includes(options.gone)) return options.gone;
    } else {
      const fresh = now.find((p) => !before.has(p));
      if (fresh) return fresh;
      // A board removed meanwhile may come back on the same path: forget it.
      for (const p of before) if (!now.includes(p)) before.delete(p);
    }
    await delay(options.pollMs ?? 250);
  }
}
