/**
 * The chip description as esptool prints it: a package name with the
 * silicon revision.
 *
 * @module
 */

import type { ChipRevision } from "./types.ts";

/**
 * Format a chip name with its revision the way esptool prints it.
 *
 * @example
 * ```ts
 * import { withRevision } from "./description.ts";
 * withRevision("ESP32-S3 (QFN56)", { major: 0, minor: 2 }); // "ESP32-S3 (QFN56) (revision v0.2)"
 * ```
 */
export function withRevision(name: string, revision: ChipRevision): string {
  return `${name} (revision v${revision.major}.${revision.minor})`;
}
