/**
 * What the host's modem lines do to the chip: a DevKit-style auto-reset
 * circuit between a USB-UART bridge and EN/IO0, or the USB-Serial/JTAG
 * controller's reset logic. Both turn DTR/RTS changes into "hold in reset"
 * and "leave reset in download / app boot mode".
 *
 * @module
 */

/**
 * The RC delay on EN (CHIP_PU) that Espressif's hardware design guidelines
 * recommend and DevKits fit: 10 kΩ pull-up, 1 µF to ground (τ = 10 ms).
 */
export const EN_RC_TAU_MS = 10_000 * 1e-6 * 1000;
/** EN is seen high at V_IH = 0.75 × VDD (ESP32 datasheet, DC characteristics). */
export const EN_VIH_FRACTION = 0.75;
/**
 * Time from the auto-reset circuit releasing EN to the chip leaving reset
 * and latching its strapping pins (IO0): EN charges through the RC and
 * crosses V_IH after τ·ln(1/(1−0.75)) ≈ 13.9 ms. IO0 must still be low then
 * (esptool's ClassicReset holds it 50 ms); a client that keeps DTR and RTS
 * both asserted longer than this boots the application.
 */
export const EN_STRAP_SAMPLE_MS: number = EN_RC_TAU_MS * Math.log(1 / (1 - EN_VIH_FRACTION));

/** What the reset logic drives. */
export interface ResetTarget {
  /** EN pulled low: the chip stops and stays in reset. */
  hold(): void;
  /** The chip leaves reset and boots in `mode` (strapping pins as sampled). */
  release(mode: "download" | "app"): void;
}

/** The logic between the modem lines and the chip. */
export interface ResetLogic {
  /** The lines changed to these levels (true = asserted). */
  setLines(dtr: boolean, rts: boolean): void;
  /** Forget a pending strap sample (the chip was power-cycled by other means, or closed). */
  cancel(): void;
}

/**
 * The DevKit auto-reset circuit (two transistors): RTS asserted alone pulls
 * EN low; DTR asserted alone pulls IO0 low; both or neither leave both
 * high. EN charges through its RC delay; the chip latches IO0 when EN
 * crosses its threshold, {@link EN_STRAP_SAMPLE_MS} after it was released
 * (a shorter release does not reset anything: EN never got high).
 */
export class AutoResetCircuit implements ResetLogic {
  readonly #target: ResetTarget;
  #enHigh = true;
  #dtr = false;
  #rts = false;
  #timer: ReturnType<typeof setTimeout> | null = null;

  /** Create the circuit in front of `target`. */
  constructor(target: ResetTarget) {
    this.#target = target;
  }

  /** The lines changed. */
  setLines(dtr: boolean, rts: boolean): void {
    this.#dtr = dtr;
    this.#rts = rts;
    const en = !(rts && !dtr);
    if (!en && this.#enHigh) {
      this.#enHigh = false;
      this.cancel();
      this.#target.hold();
    } else if (en && !this.#enHigh) {
      this.#enHigh = true;
      this.cancel();
      this.#timer = setTimeout(() => {
        this.#timer = null;
        if (!this.#enHigh) return;
        const io0Low = this.#dtr && !this.#rts;
        this.#target.release(io0Low ? "download" : "app");
      }, EN_STRAP_SAMPLE_MS);
    }
  }

  /** Forget a pending strap sample. */
  cancel(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }
}

/**
 * The USB-Serial/JTAG controller's reset logic: DTR=1,RTS=0 requests
 * download boot; DTR=0,RTS=1 holds the chip in reset; leaving reset boots
 * with the request captured on entry (esptool reset.py USBJTAGSerialReset
 * goes through (1,1) to keep it).
 */
export class UsbJtagResetLogic implements ResetLogic {
  readonly #target: ResetTarget;
  #bootOverride = false;
  #inReset = false;
  #captured = false;

  /** Create the logic in front of `target`. */
  constructor(target: ResetTarget) {
    this.#target = target;
  }

  /** The lines changed. */
  setLines(dtr: boolean, rts: boolean): void {
    if (dtr && !rts) this.#bootOverride = true;
    const inReset = rts && !dtr;
    if (inReset && !this.#inReset) {
      this.#inReset = true;
      this.#captured = this.#bootOverride;
      this.#target.hold();
    } else if (!inReset && this.#inReset) {
      this.#inReset = false;
      const download = this.#captured;
      this.#bootOverride = dtr && !rts;
      this.#target.release(download ? "download" : "app");
    }
  }

  /** Nothing is pending in this logic. */
  cancel(): void {}
}
