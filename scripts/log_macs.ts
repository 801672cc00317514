/**
 * Read and record the MAC of every connected board.
 *
 *     deno run -A scripts/log_macs.ts --port /dev/ttyUSB0 --port /dev/ttyUSB1 --journal macs.db
 *
 * Each board gets a journal record (chip, revision, flash size, MAC) and a
 * line on stdout; boards seen before are marked as such.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type Journal, openJournal, runStation, type RunSummary } from "../mod.ts";

/** Read every port's MAC into the journal; returns the run summary. */
export async function logMacs(
  ports: string[],
  journal: Journal,
  options: { onLine?: (line: string) => void; baud?: number } = {},
): Promise<RunSummary> {
  const seenBefore = new Map<string, string | null>();
  const summary = await runStation(ports, async ({ device, stage, note }) => {
    stage("read-mac");
    const info = await device.info();
    const previous = (await journal.history(info.mac)).filter((r) => r.result !== "in-progress");
    seenBefore.set(info.mac, previous[0]?.result ?? null);
    note({ seenBefore: previous.length > 0 });
  }, { journal, after: "no-reset", connect: { baud: options.baud } });
  for (const o of summary.outcomes) {
    const before = o.mac ? seenBefore.get(o.mac) : null;
    options.onLine?.(
      o.result === "pass"
        ? `${o.port}\t${o.chip}\t${o.mac}${before ? `\t(seen before: ${before})` : ""}`
        : `${o.port}\tFAILED\t${o.error?.code}: ${o.error?.message}`,
    );
  }
  return summary;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      port: { type: "string", multiple: true },
      journal: { type: "string", default: "espline-journal.db" },
    },
  });
  if (!values.port?.length) {
    console.error("usage: log_macs.ts --port PORT [--port PORT …] [--journal FILE]");
    Deno.exit(2);
  }
  await using journal = await openJournal(values.journal!);
  const summary = await logMacs(values.port, journal, { onLine: console.log });
  Deno.exit(summary.failed ? 1 : 0);
}
