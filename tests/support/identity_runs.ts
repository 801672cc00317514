/**
 * Seeded connects to virtual chips that corrupt frames, counting the wrong
 * identities (chip, MAC, revision, flash size) that reach the caller of the
 * public API. Shared by `bench/identity_bench.ts` and the identity tests.
 *
 * @module
 */

import { connect } from "../../lib/device/device.ts";
import { EsplineError } from "../../lib/errors.ts";
import { VirtualChip } from "../../lib/sim/virtual_chip.ts";
import type { SimChipKey } from "../../lib/sim/chip_facts.ts";

/** Options for {@link measureIdentity}. */
export interface IdentityRunOptions {
  /** Virtual chip key. */
  chip: string;
  /** Probability per frame of a flipped bit (`corrupt=`). */
  corrupt: number;
  /** Seed of the first connect; the others follow. */
  firstSeed: number;
  /** Number of connects. */
  connects: number;
  /** Connects at once (they mostly wait on timeouts). Default 1. */
  parallel?: number;
}

/** What {@link measureIdentity} counted. */
export interface IdentityRunResult {
  /** Connects that returned an identity. */
  connected: number;
  /** Connects that ended in a typed error. */
  refused: number;
  /** Typed errors by code. */
  refusedByCode: Record<string, number>;
  /** Identities returned with a MAC other than the chip's. */
  wrongMac: number;
  /** … with another chip. */
  wrongChip: number;
  /** … with another silicon revision. */
  wrongRevision: number;
  /** … with another flash size. */
  wrongFlashSize: number;
  /** A few wrong values, `seed: got X`. */
  examples: string[];
}

/** The MAC of connect number `i` (varied so a stuck value cannot pass for the right one). */
function macFor(i: number): string {
  const b = (n: number) => (n & 0xff).toString(16).padStart(2, "0");
  return `02:aa:${b(i >> 16)}:${b(i >> 8)}:${b(i)}:3b`;
}

/** Run the connects one after another and count what reached the caller. */
export async function measureIdentity(options: IdentityRunOptions): Promise<IdentityRunResult> {
  const truth = new VirtualChip({ chip: options.chip as SimChipKey });
  const revision = `v${truth.revision.major}.${truth.revision.minor}`;
  await truth.close();
  const flashSize = 4 * 1024 * 1024;
  const r: IdentityRunResult = {
    connected: 0,
    refused: 0,
    refusedByCode: {},
    wrongMac: 0,
    wrongChip: 0,
    wrongRevision: 0,
    wrongFlashSize: 0,
    examples: [],
  };
  const one = async (i: number) => {
    const seed = options.firstSeed + i;
    const mac = macFor(seed);
    const url = `sim://${options.chip}?mac=${mac}&seed=${seed}&corrupt=${options.corrupt}`;
    let device;
    try {
      device = await connect(url, { connectAttempts: 3 });
      const info = await device.info();
      r.connected++;
      const got = `v${info.revision.major}.${info.revision.minor}`;
      if (info.mac !== mac) {
        r.wrongMac++;
        r.examples.push(`seed ${seed}: MAC ${info.mac} for ${mac}`);
      }
      if (info.chip !== options.chip) {
        r.wrongChip++;
        r.examples.push(`seed ${seed}: chip ${info.chip}`);
      }
      if (got !== revision) {
        r.wrongRevision++;
        r.examples.push(`seed ${seed}: revision ${got} for ${revision}`);
      }
      if (info.flashSize !== flashSize) {
        r.wrongFlashSize++;
        r.examples.push(`seed ${seed}: flash size ${info.flashSize}`);
      }
    } catch (e) {
      if (!(e instanceof EsplineError)) throw e;
      r.refused++;
      r.refusedByCode[e.code] = (r.refusedByCode[e.code] ?? 0) + 1;
    } finally {
      await device?.close("no-reset").catch(() => {});
    }
  };
  let next = 0;
  const worker = async () => {
    while (next < options.connects) await one(next++);
  };
  await Promise.all(Array.from({ length: Math.max(1, options.parallel ?? 1) }, worker));
  r.examples.sort();
  return r;
}
