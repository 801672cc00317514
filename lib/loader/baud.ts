/**
 * Changing the line's baud rate (CHANGE_BAUDRATE, esptool loader.py
 * change_baud), checked by a command at the new rate.
 *
 * @module
 */

import { EsplineError, TimeoutError } from "../errors.ts";
import { Op, u32le } from "../protocol/packet.ts";
import { LoaderStatusError } from "../protocol/status.ts";
import { CHIP_DETECT_MAGIC_REG_ADDR } from "../chips/index.ts";
import type { LoaderSession } from "./session.ts";

/** Baud rate the ROM starts at (esptool ESP_ROM_BAUD). */
export const ROM_BAUD = 115200;

/**
 * Switch the line to `baud`. If the chip refuses, the session stays at the
 * old speed and a warning is logged; returns the baud in use afterwards.
 *
 * @throws {EsplineError} `E_BAUD_FAILED` when the chip switched but the link
 *   does not work at the new rate.
 */
export async function changeBaud(session: LoaderSession, baud: number): Promise<number> {
  const transport = session.transport;
  const old = transport.baud;
  if (baud === old) return old;
  const loader = session.loader;
  let asked = baud;
  if (loader.baudRequest) {
    // A ROM that assumes another crystal is asked for a scaled rate (ESP32-C2 on 26 MHz).
    const crystal = session.crystalMhz ?? await session.chip.readCrystalMhz(session.readRegFn, old);
    asked = loader.baudRequest(baud, crystal);
  }
  try {
    await session.command(
      Op.CHANGE_BAUDRATE,
      u32le(asked, loader.changeBaudSendsOldRate ? old : 0),
      {
        what: "change baud rate",
      },
    );
  } catch (e) {
    if (e instanceof LoaderStatusError || e instanceof TimeoutError) {
      session.log(
        "warn",
        `could not change baud rate to ${baud} (${e.message}); staying at ${old}`,
      );
      return old;
    }
    throw e;
  }
  await transport.setBaud(baud);
  // The chip may emit junk while switching (esptool waits 50 ms and flushes):
  // drain until the line is quiet before the first command at the new rate.
  session.requestResync("the baud rate change");
  try {
    await session.readReg(CHIP_DETECT_MAGIC_REG_ADDR);
  } catch (e) {
    throw new EsplineError(
      "E_BAUD_FAILED",
      `the link does not work at ${baud} baud (${(e as Error).message}); use a lower --baud`,
      { cause: e, details: { baud, old } },
    );
  }
  session.log("info", `changed baud rate to ${baud}`);
  return baud;
}
