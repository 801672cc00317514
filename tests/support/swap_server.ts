/**
 * A network serial server (`socket://127.0.0.1:PORT`) whose board can be
 * replaced mid-run by another virtual chip: what a station sees when a board
 * is swapped on a fixed port, or when a serial server's slot is re-cabled.
 *
 * The server passes the host's SLIP frames to the current chip one by one,
 * so a test can swap boards at an exact frame (`swapWhen`): with `drop` the
 * TCP connection is closed too (the port "vanishes" and the client opens it
 * again, meeting the new board); with `keep` the connection stays and the
 * new board simply answers from then on.
 *
 * A test double, not the virtual chip's own fault (that lives in lib/sim).
 *
 * @module
 */

import { VirtualChip, type VirtualChipOptions } from "../../lib/sim/virtual_chip.ts";
import { serveFrames } from "./frame_server.ts";

/** Options for {@link serveSwappable}. */
export interface SwapServerOptions {
  /** The board on the port at first. */
  first: VirtualChipOptions;
  /** The board that replaces it. */
  second: VirtualChipOptions;
  /** Swap before handing this host frame (a request payload, SLIP removed) to the first board. */
  swapWhen: (frame: Uint8Array, index: number) => boolean;
  /** `drop`: close the connection at the swap (the port vanishes); `keep`: the connection stays. */
  mode: "drop" | "keep";
}

/** A running swap server. */
export interface SwapServer {
  /** `socket://127.0.0.1:PORT`. */
  url: string;
  /** The first board. */
  first: VirtualChip;
  /** The second board. */
  second: VirtualChip;
  /** True once the swap happened. */
  readonly swapped: boolean;
  /** Stop serving and close both chips. */
  close(): Promise<void>;
}

/** Serve `first` over TCP until `swapWhen` says, then `second`. */
export function serveSwappable(options: SwapServerOptions): SwapServer {
  const first = new VirtualChip(options.first);
  const second = new VirtualChip(options.second);
  let current = first;
  let swapped = false;
  const server = serveFrames([first, second], (frame, index) => {
    if (!swapped && options.swapWhen(frame, index)) {
      swapped = true;
      current = second;
      if (options.mode === "drop") return "drop";
    }
    return { chip: current, frame };
  }, () => current);
  return {
    url: server.url,
    first,
    second,
    get swapped() {
      return swapped;
    },
    close: () => server.close(),
  };
}
