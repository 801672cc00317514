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
import { openStationJournal, parseOrUsage, parseSeconds, runMain } from "./script_main.ts";
import {
  type ConnectOptions,
  type Journal,
  readResetConfig,
  runStation,
  type RunSummary,
  UsageError,
} from "../mod.ts";
import { describeOutcome } from "../lib/station/view.ts";
import { parseIntArg } from "../lib/device/numbers.ts";

/** Options for {@link logMacs}. */
export interface LogMacsOptions {
  /** A line per board. Default none. */
  onLine?: (line: string) => void;
  /** How to connect (the boards are left in the loader: `after` defaults to `no-reset`). */
  connect?: ConnectOptions;
}

/** Read every port's MAC into the journal; returns the run summary. */
export async function logMacs(
  ports: string[],
  journal: Journal,
  options: LogMacsOptions = {},
): Promise<RunSummary> {
  const seenBefore = new Map<string, string | null>();
  const summary = await runStation(ports, async ({ device, stage, note }) => {
    stage("read-mac");
    const mac = await device.readMac();
    const previous = (await journal.history(mac)).filter((r) => r.result !== "in-progress");
    seenBefore.set(mac, previous[0]?.result ?? null);
    note({ seenBefore: previous.length > 0 });
  }, { journal, connect: { after: "no-reset", ...options.connect } });
  for (const o of summary.outcomes) {
    const before = o.mac ? seenBefore.get(o.mac) : null;
    options.onLine?.(
      o.result === "passed"
        ? `${o.port}\t${o.chip}\t${o.mac}${before ? `\t(seen before: ${before})` : ""}`
        : `${o.port}\t${o.result.toUpperCase()}\t${describeOutcome(o)}`,
    );
  }
  return summary;
}

const USAGE = `usage: deno run -A scripts/log_macs.ts --port PORT [--port PORT …] [--journal FILE]

Read the MAC of every board on the given ports and record it in the journal.

  --port PORT                a board's port (repeat)
  --journal FILE|URL         journal file (default espline-journal.db), or a PostgreSQL
                             journal shared by a line: postgres://USER:PASSWORD@HOST/DB
  --journal-timeout SECONDS  how long to wait for the journal before giving up (default 10
                             to start, 30 for each write); no board is touched without it
  --baud BAUD                baud rate (default 115200)
  -h, --help                 this text

examples:
  deno run -A scripts/log_macs.ts --port /dev/ttyUSB0 --port /dev/ttyUSB1 --journal macs.db
  deno run -A scripts/log_macs.ts --port /dev/ttyUSB0 --journal postgres://line:secret@db.local/line1`;

async function main(args: string[]): Promise<number> {
  const { values } = parseOrUsage(() =>
    parseArgs({
      args,
      options: {
        port: { type: "string", multiple: true },
        journal: { type: "string", default: "espline-journal.db" },
        "journal-timeout": { type: "string" },
        baud: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    })
  );
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!values.port?.length) throw new UsageError("give at least one --port PORT (see --help)");
  const baud = values.baud === undefined ? undefined : parseIntArg(values.baud) ?? NaN;
  if (baud !== undefined && !Number.isInteger(baud)) {
    throw new UsageError(`--baud takes a number such as 115200, not "${values.baud}"`);
  }
  const timeout = parseSeconds("--journal-timeout", values["journal-timeout"]);
  await using journal = await openStationJournal(values.journal!, timeout);
  const summary = await logMacs(values.port, journal, {
    onLine: console.log,
    connect: { baud, resetConfig: readResetConfig() },
  });
  return summary.passed === summary.outcomes.length ? 0 : 1;
}

if (import.meta.main) await runMain(main);
