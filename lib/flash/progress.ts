/**
 * The progress report every long flash operation sends to its caller.
 *
 * @module
 */

/** A progress report from a long flash operation. */
export interface FlashProgress {
  /** Always `progress`. */
  type: "progress";
  /** What is happening (`write`, `verify`, `read`, `erase`, `compare`). */
  stage: "write" | "verify" | "read" | "erase" | "compare";
  /** Human label, e.g. `Writing at 0x00010000`. */
  label: string;
  /** Flash address the work is about. */
  address: number;
  /** Bytes done (uncompressed). */
  done: number;
  /** Bytes in all. */
  total: number;
}
