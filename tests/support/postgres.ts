/**
 * A throwaway PostgreSQL cluster for tests and benches: Debian's
 * `postgresql` binaries (initdb, pg_ctl), a data folder in a temp
 * directory, a loopback TCP port (password, SCRAM) and a unix socket in that
 * folder (trust). Run as root (CI), the server runs as the `postgres` user
 * (or `nobody`) through `runuser`, since PostgreSQL refuses to run as root.
 *
 * `.ci/run` starts one cluster for the whole suite and exports its URL as
 * `ESPLINE_TEST_PG`; without it {@link testPostgresUrl} starts one for the
 * test process on first use. A watchdog stops a cluster when the process
 * that started it is gone, however it ended.
 *
 * @module
 */

// @ts-types="@types/pg"
import pg from "pg";
import { findPgBin, freePort, PG_URL_ENV, pgServerUser } from "./external.ts";

/** A running cluster. */
export interface PgCluster {
  /** `postgres://USER:PASSWORD@127.0.0.1:PORT/postgres`. */
  url: string;
  /** The same server through its unix socket (`postgres://USER@/postgres?host=DIR&port=PORT`). */
  socketUrl: string;
  /** TCP port. */
  port: number;
  /** Folder holding the data, the socket and the server log. */
  dir: string;
  /** Stop the server (fast shutdown: clients are disconnected). */
  stopServer(): Promise<void>;
  /** Start it again on the same port. */
  startServer(): Promise<void>;
  /** Stop the server and delete the folder. Idempotent. */
  destroy(): Promise<void>;
  /** `await using` support: {@link PgCluster.destroy}. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Options for {@link startPgCluster}. */
export interface StartPgClusterOptions {
  /** Role name. Default `espline`. */
  user?: string;
  /** Its password (TCP connections must give it). Default `espline-test`. */
  password?: string;
  /** The server's `fsync`. Default true (benches measure a durable server). */
  fsync?: boolean;
}

async function run(cmd: string, args: string[], asUser: string | null): Promise<string> {
  const [c, a] = asUser ? ["runuser", ["-u", asUser, "--", cmd, ...args]] : [cmd, args];
  const out = await new Deno.Command(c, { args: a, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")} failed:\n${text}`);
  return text;
}

/**
 * Create and start a cluster (initdb, then the server: a few seconds).
 *
 * @example
 * ```ts ignore
 * await using pg = await startPgCluster();
 * console.log(pg.url);
 * ```
 */
export async function startPgCluster(options: StartPgClusterOptions = {}): Promise<PgCluster> {
  const bin = findPgBin();
  if (!bin) throw new Error("PostgreSQL is not installed: apt-get install postgresql");
  const asUser = pgServerUser();
  if (Deno.uid() === 0 && !asUser) throw new Error("root, and no postgres/nobody user to run as");
  const user = options.user ?? "espline";
  const password = options.password ?? "espline-test";
  const dir = await Deno.makeTempDir({ prefix: "espline-pg-" });
  const data = `${dir}/data`;
  const port = freePort();
  const pgCtl = `${bin}/pg_ctl`;
  const settings = [
    "-c listen_addresses=127.0.0.1",
    `-p ${port}`,
    `-c unix_socket_directories=${dir}`,
    `-c fsync=${options.fsync === false ? "off" : "on"}`,
    "-c max_connections=100",
  ].join(" ");
  let running = false;
  const startServer = async () => {
    await run(
      pgCtl,
      ["-D", data, "-l", `${dir}/server.log`, "-o", settings, "-w", "start"],
      asUser,
    );
    running = true;
  };
  const stopServer = async () => {
    if (!running) return;
    await run(pgCtl, ["-D", data, "-m", "fast", "-w", "stop"], asUser);
    running = false;
  };
  // However this process ends, the cluster goes with it.
  const stopCmd = asUser
    ? `runuser -u ${asUser} -- ${pgCtl} -D ${data} -m immediate stop`
    : `${pgCtl} -D ${data} -m immediate stop`;
  // A detached shell loop: it outlives the `sh` that starts it, so nothing is left open here.
  await new Deno.Command("sh", {
    args: [
      "-c",
      `( while kill -0 ${Deno.pid} 2>/dev/null && [ -d ${dir} ]; do sleep 1; done; ` +
      `[ -d ${dir} ] && { ${stopCmd}; rm -rf ${dir}; } ) >/dev/null 2>&1 </dev/null &`,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).output();
  let destroyed = false;
  const destroy = async () => {
    if (destroyed) return;
    destroyed = true;
    try {
      await stopServer();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  };
  try {
    await Deno.writeTextFile(`${dir}/pw`, password);
    if (asUser) await run("chown", ["-R", asUser, dir], null);
    await run(`${bin}/initdb`, [
      "-D",
      data,
      "-U",
      user,
      "-E",
      "UTF8",
      "--no-sync",
      "--auth-local=trust",
      "--auth-host=scram-sha-256",
      `--pwfile=${dir}/pw`,
    ], asUser);
    await Deno.remove(`${dir}/pw`);
    await startServer();
  } catch (e) {
    await destroy().catch(() => {});
    throw e;
  }
  return {
    url: `postgres://${user}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    socketUrl: `postgres://${user}@/postgres?host=${encodeURIComponent(dir)}&port=${port}`,
    port,
    dir,
    stopServer,
    startServer,
    destroy,
    [Symbol.asyncDispose]: destroy,
  };
}

let ownCluster: Promise<PgCluster> | undefined;

/**
 * The server the PostgreSQL tests use: `ESPLINE_TEST_PG` when set, else a
 * cluster this process starts on first use and stops when it exits.
 */
export function testPostgresUrl(): Promise<string> {
  const given = Deno.env.get(PG_URL_ENV);
  if (given) return Promise.resolve(given);
  ownCluster ??= startPgCluster({ fsync: false });
  return ownCluster.then((c) => c.url);
}

/** A URL for a journal in a schema of its own, and a way to drop it afterwards. */
export interface TestSchema {
  /** The server URL with `?schema=NAME`. */
  url: string;
  /** The schema's name. */
  schema: string;
  /** Drop the schema and everything in it. */
  drop(): Promise<void>;
  /** `await using` support: {@link TestSchema.drop}. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Append `?schema=` (or `&schema=`) to a URL. */
export function withSchema(url: string, schema: string): string {
  return `${url}${url.includes("?") ? "&" : "?"}schema=${schema}`;
}

/** A fresh schema on the test server (each test gets its own journal). */
export async function testSchema(base?: string): Promise<TestSchema> {
  const server = base ?? await testPostgresUrl();
  const schema = `t_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  const drop = async () => {
    const client = new pg.Client({ connectionString: server });
    try {
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    } finally {
      await client.end().catch(() => {});
    }
  };
  return { url: withSchema(server, schema), schema, drop, [Symbol.asyncDispose]: drop };
}
