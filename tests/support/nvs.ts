/**
 * Helpers for the NVS unit tests.
 *
 * @module
 */

import assert from "node:assert/strict";
import { NvsInputError } from "../../lib/image/nvs_format.ts";

/** Run `fn`, which must throw an {@link NvsInputError}, and return its code. */
export function nvsErrorCode(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof NvsInputError, `not an NvsInputError: ${e}`);
    return e.code;
  }
  throw new Error("did not throw");
}
