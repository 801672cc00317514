/**
 * A network serial server (`socket://127.0.0.1:PORT`) in front of one
 * virtual chip that can change the host's requests on the way in: what a
 * corrupted command field looks like when the chip obeys it (an address or
 * size word carries no checksum). The test picks the exact frame and bit.
 *
 * A test double; the virtual chip's own, random, version is its `cmdfield`
 * fault (lib/sim/faults.ts).
 *
 * @module
 */

import { VirtualChip, type VirtualChipOptions } from "../../lib/sim/virtual_chip.ts";
import { serveFrames } from "./frame_server.ts";

/** A running tamper server. */
export interface TamperServer {
  /** `socket://127.0.0.1:PORT`. */
  url: string;
  /** The chip behind it. */
  chip: VirtualChip;
  /** Requests changed so far. */
  readonly tampered: number;
  /** Stop serving and close the chip. */
  close(): Promise<void>;
}

/**
 * Serve `options`' chip; every host request (payload, SLIP removed) goes
 * through `tamper`, which returns it changed, or null to pass it as it is.
 */
export function serveTampered(
  options: VirtualChipOptions,
  tamper: (request: Uint8Array) => Uint8Array | null,
): TamperServer {
  const chip = new VirtualChip(options);
  let tampered = 0;
  const server = serveFrames([chip], (frame) => {
    const changed = tamper(frame.slice());
    if (changed) tampered++;
    return { chip, frame: changed ?? frame };
  });
  return {
    url: server.url,
    chip,
    get tampered() {
      return tampered;
    },
    close: () => server.close(),
  };
}
