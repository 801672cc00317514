/**
 * The contract between the loader model (ROM loader and flasher stub
 * commands: `loader.ts`, `flash_ops.ts`) and the chip that runs it
 * (`virtual_chip.ts`): what a command may read and what it may ask for.
 *
 * @module
 */

import type { ChipFacts, SimRevision } from "./chip_facts.ts";
import type { NorFlash } from "./nor_flash.ts";

/** Something that happens once the answer to the current command has gone out. */
export type LoaderEffect =
  /** The uploaded code was a flasher stub: it starts and greets. */
  | { kind: "stub" }
  /** Unknown code runs: the loader is gone, the chip goes silent. */
  | { kind: "halt" }
  /** The UART switches to `baud`. */
  | { kind: "baud"; baud: number }
  /** The ROM leaves the loader to run "user code" (FLASH_END asking to run; see RomHabits.runUserCode). */
  | { kind: "run-user-code"; entry: number }
  /** Uploaded code that is not a flasher stub runs from RAM. */
  | { kind: "run-ram"; segments: { addr: number; bytes: Uint8Array }[]; entry: number }
  /** A software reset (the strapping pins keep the boot mode latched at power-on). */
  | { kind: "software-reset" };

/** What the loader model needs from the chip around it. */
export interface LoaderHost {
  /** The chip model's facts. */
  readonly facts: ChipFacts;
  /** The flash. */
  readonly nor: NorFlash;
  /** Wafer revision. */
  readonly revision: SimRevision;
  /** Crystal, MHz. */
  readonly crystalMhz: number;
  /** Secure download mode is enabled. */
  readonly secureDownload: boolean;
  /** Send a frame (SLIP-encoded and fault-injected by the chip). */
  send(payload: Uint8Array): void;
  /** Print text on the UART (outside any frame), after what was sent so far. */
  print(text: string): void;
  /** Do `effect` after the current answer has been sent. */
  then(effect: LoaderEffect): void;
  /** Add modelled flash busy time to the chip's counters. */
  addFlashBusy(ms: number): void;
  /** Draw a brown-out for this flash block (counted when it fires). */
  brownOut(): boolean;
  /**
   * Draw a power cut during an erase of `sectors` sectors: null when the
   * erase goes through, else how many sectors are erased before the power
   * goes (the command then calls {@link LoaderHost.powerOnReset}). Counted
   * when it fires.
   */
  eraseCut(sectors: number): number | null;
  /** Lose power now and come back up in download mode. */
  powerOnReset(): void;
}
