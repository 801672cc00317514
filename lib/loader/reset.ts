/**
 * Reset strategies: drive DTR/RTS through the usual two-transistor
 * auto-reset circuit (DTR → IO0, RTS → EN, each inverted) to enter download
 * mode or to boot the application. Sequences and delays follow esptool's
 * reset.py (ClassicReset, HardReset).
 *
 * @module
 */

import type { PortInfo, Transport } from "../transport/transport.ts";
import { delay } from "../transport/transport.ts";

/** A named reset sequence. */
export interface ResetStrategy {
  /** Name for logs. */
  name: string;
  /** Run it on a transport. */
  run(transport: Transport): Promise<void>;
}

/** esptool DEFAULT_RESET_DELAY: how long IO0 is held low after EN rises, ms. */
export const DEFAULT_RESET_DELAY_MS = 50;

/** Classic reset: EN low, then EN high with IO0 held low for `delayMs`. */
export function classicReset(delayMs = DEFAULT_RESET_DELAY_MS): ResetStrategy {
  return {
    name: `classic(${delayMs} ms)`,
    async run(t) {
      await t.setSignals({ dtr: false, rts: true }); // IO0 high, EN low: chip in reset
      await delay(100);
      await t.setSignals({ dtr: true, rts: false }); // IO0 low, EN high: boot samples IO0
      await delay(delayMs);
      await t.setSignals({ dtr: false }); // release IO0
    },
  };
}

/** The strategies the connect loop alternates for a `--before` mode. */
export function connectStrategies(before: string, _info: PortInfo): ResetStrategy[] {
  const mode = before.replaceAll("_", "-");
  if (mode === "no-reset" || mode === "no-reset-no-sync") return [];
  return [classicReset(), classicReset(DEFAULT_RESET_DELAY_MS + 500)];
}

/** Hard reset (esptool HardReset): pulse EN low so the application boots. */
export async function hardReset(t: Transport): Promise<void> {
  try {
    await t.setSignals({ dtr: false, rts: true });
    await delay(100);
    await t.setSignals({ rts: false });
  } catch {
    // Ports without modem lines cannot reset the board; nothing more to do.
  }
}
