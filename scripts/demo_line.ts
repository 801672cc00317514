/**
 * A virtual line to watch the dashboard with: one or more stations, each
 * provisioning rounds of virtual boards (sim://, paced at the baud with
 * modelled flash timing) with a few failures, all journaled, until Ctrl-C.
 *
 *     deno task dashboard-demo                                  # http://127.0.0.1:8080/
 *     deno run -A scripts/demo_line.ts --stations 2 --ports 4 --fail-rate 0.2
 *     deno run -A scripts/demo_line.ts --dashboard 0.0.0.0:8080 --token $(openssl rand -hex 16)
 *
 * A second station in another process (or PC) sending to that dashboard:
 *
 *     deno run -A scripts/demo_line.ts --forward http://127.0.0.1:8080/ --token … --name line-7
 *
 * A real station does the same with `scripts/provision.ts --dashboard …`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  EsplineError,
  type EventForwarder,
  forwardEvents,
  openJournal,
  runStation,
  startDashboard,
  type StationEventLike,
  type StationJournal,
} from "../mod.ts";
import { generateToken, isLoopback } from "../lib/station/dashboard/auth.ts";
import { parseListenAddress } from "../lib/station/dashboard/server.ts";

/** What `--help` prints. */
const DEMO_LINE_HELP = `A virtual line to watch the dashboard with (deno task dashboard-demo).

usage: deno run -A scripts/demo_line.ts [options]

  --dashboard HOST:PORT  serve the dashboard here (default 127.0.0.1:8080)
  --forward URL          send to another process's dashboard instead of serving one
  --token TOKEN          access token (needed off loopback; generated when absent)
  --name NAME            the first station's name (default line-1)
  --stations N           stations (default 1)
  --ports N              virtual boards per station (default 4)
  --fail-rate R          share of boards that fail a test (default 0.15)
  --journal FILE         journal file (default .tmp/demo_line.db)
  -h, --help             this help

examples:
  deno task dashboard-demo
  deno run -A scripts/demo_line.ts --stations 2 --ports 4 --fail-rate 0.2
  deno run -A scripts/demo_line.ts --forward http://127.0.0.1:8080/ --token … --name line-7`;

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
  /** Name of the first station (`line-7` → line-7, line-8 …). Default `line-1`. */
  firstName?: string;
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
  /** Where each station's events go: a dashboard's `onEvent`, or a forwarder's. */
  events: (station: string) => (event: StationEventLike) => void;
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
    const first = /^(.*?)(\d+)$/.exec(options.firstName ?? "line-1");
    const number = first ? Number(first[2]) + s : s + 1;
    const name = first ? `${first[1]}${number}` : `${options.firstName}-${number}`;
    for (let round = 0; options.rounds === undefined || round < options.rounds; round++) {
      if (signal.aborted) return;
      // Each board is a new sim:// URL (its MAC is in it); its tile is the fixture slot.
      const sink = sinks.events(name);
      const slots = new Map<string, string>();
      const ports = Array.from({ length: perStation }, (_, p) => {
        const n = round * perStation + p;
        // Locally administered MACs, unique per station number, round and slot.
        const mac = `02:e5:${(number & 0xff).toString(16).padStart(2, "0")}:${
          ((n >> 8) & 0xff).toString(16).padStart(2, "0")
        }:${(n & 0xff).toString(16).padStart(2, "0")}:${p.toString(16).padStart(2, "0")}`;
        const url = `sim://${CHIPS[p % CHIPS.length]}?mac=${mac}&pace=1&timing=1`;
        slots.set(url, `slot ${p + 1} (sim://${CHIPS[p % CHIPS.length]})`);
        return url;
      });
      await runStation(ports, async ({ device, stage, note, log }) => {
        stage("flash");
        await device.flash([{ address: 0x10000, data: app }], { resume: true });
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
        onEvent: (event) => sink({ ...event, port: slots.get(event.port) ?? event.port }),
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
      forward: { type: "string" },
      token: { type: "string" },
      name: { type: "string", default: "line-1" },
      stations: { type: "string", default: "1" },
      ports: { type: "string", default: "4" },
      "fail-rate": { type: "string", default: "0.15" },
      journal: { type: "string", default: ".tmp/demo_line.db" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(DEMO_LINE_HELP);
    Deno.exit(0);
  }
  const folder = values.journal.split("/").slice(0, -1).join("/");
  if (folder) await Deno.mkdir(folder, { recursive: true });
  // `await` fits today's synchronous journal and the asynchronous one alike.
  await using journal = await openJournal(values.journal);
  const stop = new AbortController();
  Deno.addSignalListener("SIGINT", () => {
    if (stop.signal.aborted) Deno.exit(130); // a second Ctrl-C does not wait
    console.log("stopping: boards in progress end aborted");
    stop.abort();
  });
  const lineOptions = {
    stations: Number(values.stations),
    ports: Number(values.ports),
    failRate: Number(values["fail-rate"]),
    firstName: values.name,
    signal: stop.signal,
  };
  const token = values.token ?? Deno.env.get("ESPLINE_DASHBOARD_TOKEN");
  if (values.forward) {
    if (!token) throw new Error("--forward needs the dashboard's --token");
    const forwarders: EventForwarder[] = [];
    console.log(`sending events to ${values.forward}; journal: ${values.journal}; Ctrl-C stops`);
    await runDemoLine({
      events: (station) => {
        const f = forwardEvents(values.forward!, { token, station });
        forwarders.push(f);
        return f.onEvent;
      },
      journal,
    }, lineOptions);
    await Promise.all(forwarders.map((f) => f.close()));
  } else {
    const { hostname, port } = parseListenAddress(values.dashboard);
    const useToken = token ?? (isLoopback(hostname) ? undefined : generateToken());
    await using dashboard = startDashboard({
      hostname,
      port,
      token: useToken,
      journal,
      station: values.name,
      shiftStarts: ["06:00", "14:00", "22:00"],
    });
    console.log(`dashboard: ${dashboard.url}${useToken ? `?token=${useToken}` : ""}`);
    console.log(`journal: ${values.journal}; Ctrl-C stops`);
    await runDemoLine({ events: (station) => dashboard.onEvent(station), journal }, lineOptions);
  }
}
