/**
 * `deno task sim`: serve one virtual chip to other tools — esptool, a script
 * under development, espline on another machine — over raw TCP, a pty
 * and/or RFC 2217, and print how to point esptool and espline at it.
 *
 *     deno task sim esp32s3
 *     deno task sim esp32 --port 5555 --pty --rfc2217 4000 --mac 24:0a:c4:00:00:01
 *     deno task sim "sim://esp32c3?size=8MB&flash=/tmp/c3.bin"
 *
 * @module
 */

import { SIM_CHIP_KEYS } from "./chip_facts.ts";
import { serveSimPty } from "./pty.ts";
import { serveSimRfc2217 } from "./rfc2217_server.ts";
import { SimError } from "./sim_error.ts";
import { SIM_URL_PARAMS, simOptionsFromUrl } from "./sim_port.ts";
import { serveSimTcp } from "./tcp_server.ts";
import { VirtualChip } from "./virtual_chip.ts";

/** esptool's usual TCP bridge port when none is given. */
export const DEFAULT_TCP_PORT = 5555;

/** The help text. */
export const USAGE = `usage: deno task sim CHIP [options]

Serve a virtual chip to esptool, espline or any serial tool.

  CHIP                 ${SIM_CHIP_KEYS.join(", ")}; or a sim:// URL
  --port N             raw TCP on port N (default ${DEFAULT_TCP_PORT}; 0 picks a free one)
  --host H             interface for TCP and RFC 2217 (default 127.0.0.1)
  --pty                also serve on a pseudo-terminal (Linux), opened like a serial port
  --rfc2217 N          also serve RFC 2217 (a remote serial port with DTR/RTS) on port N
  --rfc2217-resets M   esp (default): run reset sequences in the server, as esptool's
                       esp_rfc2217_server does (clients add ?ign_set_control);
                       direct: apply each DTR/RTS change as it arrives, like ser2net
  --no-tcp             serve only on the pty / RFC 2217
  --NAME VALUE         any sim:// parameter: ${SIM_URL_PARAMS.join(", ")}
  -h, --help           this help

examples:
  deno task sim esp32s3
  deno task sim esp32 --rfc2217 4000 --mac 24:0a:c4:00:00:01 --flash /tmp/esp32.bin
  deno task sim "sim://esp32c3?size=8MB" --pty --no-tcp
`;

/** What the command line asked for. */
export interface SimServeArgs {
  /** sim:// URL of the chip. */
  url: string;
  /** TCP port, or null for no TCP. */
  tcpPort: number | null;
  /** Interface to bind. */
  host: string;
  /** Serve a pty too. */
  pty: boolean;
  /** RFC 2217 port, or null. */
  rfc2217Port: number | null;
  /** RFC 2217 reset handling. */
  rfc2217Resets: "esp" | "direct";
}

/** A command-line mistake: one line for the user, exit code 2. */
export class SimUsageError extends Error {}

function portNumber(flag: string, value: string | undefined): number {
  const n = Number(value);
  if (value === undefined || !/^\d+$/.test(value) || n > 65535) {
    throw new SimUsageError(`${flag} needs a TCP port number (0-65535), got ${value ?? "nothing"}`);
  }
  return n;
}

/**
 * Parse the arguments; null means "show the help". Throws
 * {@link SimUsageError} for anything else that is wrong.
 */
export function parseSimServeArgs(argv: string[]): SimServeArgs | null {
  const args = [...argv];
  if (args.length === 0 || args.some((a) => a === "-h" || a === "--help")) return null;
  const target = args.shift()!;
  if (target.startsWith("-")) {
    throw new SimUsageError(`the chip comes first (${SIM_CHIP_KEYS.join(", ")}), got ${target}`);
  }
  const url = new URL(target.startsWith("sim://") ? target : `sim://${target}`);
  const params = url.searchParams;
  const out: SimServeArgs = {
    url: "",
    tcpPort: DEFAULT_TCP_PORT,
    host: "127.0.0.1",
    pty: false,
    rfc2217Port: null,
    rfc2217Resets: "esp",
  };
  while (args.length) {
    const flag = args.shift()!;
    if (!flag.startsWith("--")) throw new SimUsageError(`unexpected argument ${flag}`);
    const name = flag.slice(2);
    switch (name) {
      case "pty":
        out.pty = true;
        continue;
      case "no-tcp":
        out.tcpPort = null;
        continue;
      case "port":
        out.tcpPort = portNumber(flag, args.shift());
        continue;
      case "rfc2217":
        out.rfc2217Port = portNumber(flag, args.shift());
        continue;
      case "host": {
        const host = args.shift();
        if (!host) throw new SimUsageError("--host needs an interface, e.g. 0.0.0.0");
        out.host = host;
        continue;
      }
      case "rfc2217-resets": {
        const mode = args.shift();
        if (mode !== "esp" && mode !== "direct") {
          throw new SimUsageError(`--rfc2217-resets is esp or direct, got ${mode ?? "nothing"}`);
        }
        out.rfc2217Resets = mode;
        continue;
      }
    }
    if (!SIM_URL_PARAMS.includes(name)) {
      throw new SimUsageError(`unknown option ${flag}: see --help`);
    }
    const value = args.shift();
    if (value === undefined) throw new SimUsageError(`${flag} needs a value`);
    params.set(name, value);
  }
  if (out.tcpPort === null && !out.pty && out.rfc2217Port === null) {
    throw new SimUsageError("--no-tcp leaves nothing to serve: add --pty or --rfc2217 N");
  }
  const query = params.toString();
  out.url = `sim://${url.host}${query ? `?${query}` : ""}`;
  return out;
}

/** A running set of servers for one chip. */
export interface SimServe {
  /** The chip. */
  chip: VirtualChip;
  /** What to tell the user (addresses and the commands to use them). */
  summary: string;
  /** Stop every server and close the chip. */
  close(): Promise<void>;
}

/** Start the servers `args` asks for. */
export function startSimServe(args: SimServeArgs): SimServe {
  const chip = new VirtualChip(simOptionsFromUrl(args.url));
  const closers: (() => Promise<void>)[] = [];
  const lines: string[] = [];
  const f = chip.facts;
  const mib = chip.flash.length / (1024 * 1024);
  lines.push(
    `virtual ${f.name} v${chip.revision.major}.${chip.revision.minor}, MAC ${chip.mac}, ` +
      `${mib} MB flash${chip.options.flashFile ? ` in ${chip.options.flashFile}` : ""}`,
  );
  try {
    if (args.tcpPort !== null) {
      const tcp = serveSimTcp(chip, { hostname: args.host, port: args.tcpPort });
      closers.push(() => tcp.close());
      const url = `socket://${args.host}:${tcp.port}`;
      lines.push(
        `  ${url}  (raw TCP: no reset lines; the chip waits in download mode)`,
        `      esptool --port ${url} chip-id`,
        `      deno task cli --port ${url} --before no-reset chip-id`,
      );
    }
    if (args.pty) {
      const pty = serveSimPty(chip);
      closers.push(() => pty.close());
      lines.push(
        `  ${pty.path}  (pty: no modem lines)`,
        `      esptool --port ${pty.path} --before no-reset chip-id`,
        `      deno task cli --port ${pty.path} --before no-reset chip-id`,
      );
    }
    if (args.rfc2217Port !== null) {
      const srv = serveSimRfc2217(chip, {
        hostname: args.host,
        port: args.rfc2217Port,
        resets: args.rfc2217Resets,
      });
      closers.push(() => srv.close());
      const url = `rfc2217://${args.host}:${srv.port}`;
      const esptoolUrl = args.rfc2217Resets === "esp" ? `${url}?ign_set_control` : url;
      lines.push(
        `  ${url}  (RFC 2217 with DTR/RTS: ${
          args.rfc2217Resets === "esp"
            ? "resets run by the server, as esptool's esp_rfc2217_server does"
            : "each line change applied as it arrives, as ser2net does"
        })`,
        `      esptool --port "${esptoolUrl}" chip-id`,
        `      deno task cli --port ${url} chip-id`,
      );
    }
  } catch (e) {
    for (const c of closers) c();
    chip.close();
    throw e;
  }
  lines.push("Ctrl-C stops it.");
  return {
    chip,
    summary: lines.join("\n"),
    async close() {
      for (const c of closers) await c();
      await chip.close();
    },
  };
}

/** Run the command; returns the exit code. */
export async function simServeMain(argv: string[]): Promise<number> {
  let args: SimServeArgs | null;
  let serve: SimServe;
  try {
    args = parseSimServeArgs(argv);
    if (!args) {
      console.log(USAGE);
      return 0;
    }
    serve = startSimServe(args);
  } catch (e) {
    if (e instanceof SimUsageError || e instanceof SimError) {
      console.error(`error: ${e.message}`);
      return 2;
    }
    if (e instanceof Deno.errors.AddrInUse) {
      console.error(`error: ${(e as Error).message}: choose another port`);
      return 2;
    }
    throw e;
  }
  console.log(serve.summary);
  const stopped = Promise.withResolvers<void>();
  const stop = () => stopped.resolve();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  await stopped.promise;
  Deno.removeSignalListener("SIGINT", stop);
  Deno.removeSignalListener("SIGTERM", stop);
  await serve.close();
  return 0;
}

if (import.meta.main) Deno.exit(await simServeMain(Deno.args));
