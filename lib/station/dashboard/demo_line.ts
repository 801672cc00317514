/**
 * A virtual line to watch the dashboard with: one or more stations, each
 * provisioning rounds of virtual boards (sim://, paced at the baud with
 * modelled flash timing) with a few failures, all journaled, until Ctrl-C.
 *
 *     deno run -A lib/station/dashboard/demo_line.ts                 # http://127.0.0.1:8080/
 *     deno run -A lib/station/dashboard/demo_line.ts --stations 2 --ports 4 --fail-rate 0.2
 *     deno run -A lib/station/dashboard/demo_line.ts --dashboard 0.0.0.0:8080 --token $(openssl rand -hex 16)
 *
 * It lives here until the station's entry points (scripts/) take a
 * `--dashboard` option of their own.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { EsplineError } from "../../errors.ts";
import { openJournal } from "../journal.ts";
import { writeFlashResilient } from "../recovery.ts";
import { runStation, type StationJournal } from "../runner.ts";
import { generateToken, isLoopback } from "./auth.ts";
import { type Dashboard, parseListenAddress, startDashboard } from "./server.ts";

const CHIPS = ["esp32c3", "esp32s3", "esp32", "esp32c6"];
const FAULTS = [
  {
    stage: "selftest",
    code: "E_SELFTEST",
    message: "3V3 rail at 2.94 V (limit 3.10 V): check the LDO",
  },
  { stage: "selftest", code: "E_SELFTEST", message: "no answer from the IMU on I2C 0x6a" },
  { stage: "rf", code: "E_RF", message: "Wi-Fi TX power 11.2 dBm below 16 dBm: check the antenna" },
];

/** Options for {@link runDemoLine}. */
export interface DemoLineOptions {
  /** Stations (each its own ports and name `line-N`). Default 1. */
  stations?: number;
  /** Ports per station. Default 4. */
  ports?: number;
  /** Share of boards that fail a test. Default 0.15. */
  failRate?: number;
  /** Rounds per station; default until `signal` aborts. */
  rounds?: number;
  /** Pause between rounds, ms (the operator swapping boards). Default 1500. */
  pauseMs?: number;
  /** Stops the line. */
  signal?: AbortSignal;
}

/** Where {@link runDemoLine} sends events and records. */
export interface DemoLineSinks {
  /** The dashboard (or anything with `onEvent(station)`). */
  dashboard: Pick<Dashboard, "onEvent">;
  /** The journal boards are recorded in (and serial numbers come from). */
  journal: StationJournal & { allocateSerial(mac: string): string | Promise<string> };
}

/** Run virtual stations until the rounds are done or `signal` aborts. */
export async function runDemoLine(
  sinks: DemoLineSinks,
  options: DemoLineOptions = {},
): Promise<void> {
  const stations = options.stations ?? 1;
  const perStation = options.ports ?? 4;
  const failRate = options.failRate ?? 0.15;
  const signal = options.signal ?? new AbortController().signal;
  const app = new Uint8Array(192 * 1024).map((_, i) => (i % 7 === 0 ? (i * 31) & 0xff : 0x20));
  const station = async (s: number) => {
    const name = `line-${s + 1}`;
    for (let round = 0; options.rounds === undefined || round < options.rounds; round++) {
      if (signal.aborted) return;
      // Each board is a new sim:// URL (its MAC is in it); its tile is the fixture slot.
      const slots = new Map<string, string>();
      const ports = Array.from({ length: perStation }, (_, p) => {
        const n = round * perStation + p;
        const mac = `02:e5:${(s + 1).toString(16).padStart(2, "0")}:${
          ((n >> 8) & 0xff).toString(16).padStart(2, "0")
        }:${(n & 0xff).toString(16).padStart(2, "0")}:${p.toString(16).padStart(2, "0")}`;
        const url = `sim://${CHIPS[p % CHIPS.length]}?mac=${mac}&pace=1&timing=1`;
        slots.set(url, `slot ${p + 1} (sim://${CHIPS[p % CHIPS.length]})`);
        return url;
      });
      await runStation(ports, async ({ device, stage, note, log }) => {
        stage("flash");
        await writeFlashResilient(device, [{ address: 0x10000, data: app }]);
        stage("selftest");
        log("self-test: rails, I2C, RF");
        await new Promise((r) => setTimeout(r, 300 + Math.random() * 700));
        if (Math.random() < failRate) {
          const f = FAULTS[Math.floor(Math.random() * FAULTS.length)];
          stage(f.stage);
          throw new EsplineError(f.code, f.message);
        }
        stage("serial");
        note({ serial: await sinks.journal.allocateSerial(await device.readMac()) });
      }, {
        journal: sinks.journal,
        station: name,
        connect: { baud: 921600 },
        onEvent: sinks.dashboard.onEvent(name, { portName: (port) => slots.get(port) ?? port }),
        signal,
      });
      if (!signal.aborted) await new Promise((r) => setTimeout(r, options.pauseMs ?? 1500));
    }
  };
  await Promise.all(Array.from({ length: stations }, (_, s) => station(s)));
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      dashboard: { type: "string", default: "127.0.0.1:8080" },
      token: { type: "string" },
      stations: { type: "string", default: "1" },
      ports: { type: "string", default: "4" },
      "fail-rate": { type: "string", default: "0.15" },
      journal: { type: "string", default: ".tmp/demo_line.db" },
    },
  });
  const { hostname, port } = parseListenAddress(values.dashboard);
  const token = values.token ?? Deno.env.get("ESPLINE_DASHBOARD_TOKEN") ??
    (isLoopback(hostname) ? undefined : generateToken());
  const folder = values.journal.split("/").slice(0, -1).join("/");
  if (folder) await Deno.mkdir(folder, { recursive: true });
  // `await` fits today's synchronous journal and the asynchronous one alike.
  await using journal = await openJournal(values.journal);
  await using dashboard = startDashboard({
    hostname,
    port,
    token,
    journal,
    station: "line-1",
    shiftStarts: ["06:00", "14:00", "22:00"],
  });
  console.log(`dashboard: ${dashboard.url}${token ? `?token=${token}` : ""}`);
  console.log(`journal: ${values.journal}; Ctrl-C stops`);
  const stop = new AbortController();
  Deno.addSignalListener("SIGINT", () => {
    if (stop.signal.aborted) Deno.exit(130); // a second Ctrl-C does not wait
    console.log("stopping: boards in progress end aborted");
    stop.abort();
  });
  await runDemoLine({ dashboard, journal }, {
    stations: Number(values.stations),
    ports: Number(values.ports),
    failRate: Number(values["fail-rate"]),
    signal: stop.signal,
  });
}
