/**
 * The PostgreSQL journal backend: one database shared by every station of a
 * line, through node-postgres (`pg`).
 *
 * - Tables live in their own schema (`espline` unless the URL says
 *   `?schema=NAME`), with the schema version in its `meta` table; they are
 *   created or migrated on open under an advisory lock, so stations starting
 *   together do it once.
 * - A lost connection or a restarting server is retried with a growing
 *   pause up to `retryMs`, then fails with `E_JOURNAL_UNREACHABLE`. Every
 *   write is safe to repeat after a connection lost mid-commit: records and
 *   events carry ids made by the client (`ON CONFLICT DO NOTHING`), field
 *   merges and ends are idempotent, and a MAC always gets its number back.
 * - Serial numbers: one transaction per allocation, holding a table lock, so
 *   numbers are unique and gapless across every station.
 * - A station's run holds a lease it renews (heartbeat, server clock); a run
 *   whose lease ran out is dead, and its records in progress are
 *   `incomplete`. Nothing depends on PIDs or host names.
 *
 * @module
 */

// @ts-types="@types/pg"
import pg from "pg";
import { EsplineError, UsageError } from "../../errors.ts";
import {
  closedError,
  incompleteMessage,
  type JournalBackend,
  type JournalEvent,
  type JournalFilter,
  likeLiteral,
  type RecordEnd,
  type RecordFacts,
  type RecordInit,
  type RowQuery,
  type RunIdentity,
  type SerialOptions,
  type StoredRecord,
  writerOf,
} from "./types.ts";

/** Schema version this code writes (the `meta` table's `schema_version`). */
export const PG_SCHEMA_VERSION = 1;
/** The `meta` table's `application` value of an espline journal. */
const APPLICATION = "espline-journal";
/** Advisory lock key held while creating or migrating the tables ("espJ" in ASCII). */
const SCHEMA_LOCK = 0x6573704a;

type Row = Record<string, unknown>;

/** A parsed journal URL. */
export interface PostgresTarget {
  /** Connection settings for node-postgres. */
  config: pg.PoolConfig;
  /** Schema holding the journal's tables. */
  schema: string;
  /** The URL without its password, for messages. */
  location: string;
}

const URL_PARAMS = ["host", "port", "schema", "sslmode", "application_name", "connect_timeout"];

/** True for `postgres://` and `postgresql://` journal locations. */
export function isPostgresUrl(target: string): boolean {
  return /^postgres(ql)?:\/\//i.test(target);
}

/**
 * Parse `postgres://USER:PASSWORD@HOST:PORT/DATABASE?schema=NAME&sslmode=…`.
 * `?host=/run/postgresql` (or an empty host) connects through a unix socket
 * in that folder. A missing user or password falls back to PGUSER and
 * PGPASSWORD, as libpq does.
 */
export function parsePostgresUrl(url: string): PostgresTarget {
  const bad = (why: string) =>
    new UsageError(`journal URL ${redact(url)}: ${why}`, { code: "E_JOURNAL_URL" });
  const m = /^(postgres(?:ql)?):\/\/([^/?#]*)([^?#]*)(\?[^#]*)?$/i.exec(url);
  if (!m) throw bad("write it as postgres://USER:PASSWORD@HOST:PORT/DATABASE");
  const [, , authority, pathPart, queryPart] = m;
  const at = authority.lastIndexOf("@");
  const userinfo = at >= 0 ? authority.slice(0, at) : "";
  const hostport = at >= 0 ? authority.slice(at + 1) : authority;
  const colon = userinfo.indexOf(":");
  let user: string | undefined;
  let password: string | undefined;
  try {
    user = decodeURIComponent(colon >= 0 ? userinfo.slice(0, colon) : userinfo) || undefined;
    password = colon >= 0 ? decodeURIComponent(userinfo.slice(colon + 1)) : undefined;
  } catch {
    throw bad("the user or password has a broken %-escape");
  }
  let host: string | undefined;
  let port: number | undefined;
  const hp = /^(\[[^\]]*\]|[^:]*)(?::(\d*))?$/.exec(hostport);
  if (!hp) throw bad(`cannot read host "${hostport}"`);
  host = hp[1].replace(/^\[|\]$/g, "") || undefined;
  if (hp[2]) port = Number(hp[2]);
  const params = new URLSearchParams(queryPart ?? "");
  for (const key of params.keys()) {
    if (!URL_PARAMS.includes(key)) {
      throw bad(`unknown parameter "${key}" (known: ${URL_PARAMS.join(", ")})`);
    }
  }
  if (params.get("host")) host = params.get("host")!;
  if (params.get("port")) port = Number(params.get("port"));
  if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) {
    throw bad("the port must be a number from 1 to 65535");
  }
  let database: string | undefined;
  try {
    database = decodeURIComponent(pathPart.replace(/^\//, "")) || undefined;
  } catch {
    throw bad("the database name has a broken %-escape");
  }
  const schema = params.get("schema") ?? "espline";
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw bad(`schema "${schema}" must be lower-case letters, digits and _`);
  }
  const sslmode = params.get("sslmode");
  let ssl: pg.PoolConfig["ssl"];
  if (sslmode === null || sslmode === "disable" || sslmode === "prefer" || sslmode === "allow") {
    ssl = undefined;
  } else if (sslmode === "require") ssl = { rejectUnauthorized: false };
  else if (sslmode === "verify-ca" || sslmode === "verify-full") ssl = { rejectUnauthorized: true };
  else throw bad(`sslmode "${sslmode}" is not one of disable, require, verify-ca, verify-full`);
  const connectTimeout = params.get("connect_timeout");
  return {
    config: {
      host,
      port,
      user,
      password,
      database,
      ssl,
      application_name: params.get("application_name") ?? "espline",
      ...(connectTimeout ? { connectionTimeoutMillis: Number(connectTimeout) * 1000 } : {}),
    },
    schema,
    location: redact(url),
  };
}

/** A URL with its password replaced by `***`. */
export function redact(url: string): string {
  return url.replace(/^([a-z]+:\/\/[^:/?#@]*:)[^@/?#]*@/i, "$1***@");
}

function errCode(e: unknown): string {
  return typeof e === "object" && e !== null && "code" in e ? String(e.code) : "";
}

function errMessage(e: unknown): string {
  if (e instanceof AggregateError && e.errors.length) return errMessage(e.errors[0]);
  return e instanceof Error ? e.message : String(e);
}

/** A lost connection, a server starting or stopping: worth retrying. */
export function isTransient(e: unknown): boolean {
  if (e instanceof EsplineError) return false;
  if (e instanceof AggregateError) return e.errors.some(isTransient);
  const code = errCode(e);
  if (
    /^(ECONNREFUSED|ECONNRESET|ECONNABORTED|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENETDOWN|EAI_AGAIN|ENOENT)$/
      .test(code)
  ) return true;
  // 08: connection exception; 57P01-3: admin/crash shutdown, cannot connect now;
  // 53300: too many connections; 40001/40P01: serialization failure, deadlock.
  if (/^(08...|57P0[123]|53300|40001|40P01)$/.test(code)) return true;
  return /Connection terminated|connection timeout|timeout exceeded when trying to connect|Query read timeout|Client has encountered a connection error|not queryable|socket hang up|Connection refused/i
    .test(errMessage(e));
}

/** A node-postgres error as a typed one that says what to do. */
export function pgError(e: unknown, target: PostgresTarget, doing: string): EsplineError {
  if (e instanceof EsplineError) return e;
  const code = errCode(e);
  const msg = errMessage(e);
  const where = `${target.config.host ?? "localhost"}:${target.config.port ?? 5432}`;
  if (code === "28P01" || code === "28000") {
    return new EsplineError(
      "E_JOURNAL_AUTH",
      `PostgreSQL at ${where} refused the journal's credentials (${msg}): check the user and password in ${target.location} (or PGPASSWORD)`,
      { cause: e },
    );
  }
  if (code === "3D000") {
    return new EsplineError(
      "E_JOURNAL_NOT_FOUND",
      `PostgreSQL at ${where}: ${msg}: create it (createdb) or fix the database name in ${target.location}`,
      { cause: e },
    );
  }
  if (code === "42501") {
    return new EsplineError(
      "E_JOURNAL_PERMISSION",
      `PostgreSQL at ${where} denied the journal's user while ${doing} (${msg}): grant it rights on schema ${target.schema}, or have an administrator create the schema for it`,
      { cause: e },
    );
  }
  if (isTransient(e)) {
    return new EsplineError(
      "E_JOURNAL_UNREACHABLE",
      `cannot reach the PostgreSQL journal at ${where} while ${doing} (${msg}): check that the server is running and reachable from this station`,
      { cause: e },
    );
  }
  return new EsplineError(
    "E_JOURNAL_DB",
    `PostgreSQL journal ${target.location}: ${msg}${
      code ? ` (SQLSTATE ${code})` : ""
    } while ${doing}`,
    { cause: e },
  );
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Options for {@link openPostgresBackend}. */
export interface PostgresBackendOptions {
  /** The writing run, or null to open read-only. */
  run: RunIdentity | null;
  /** How long calls retry a lost server, ms. */
  retryMs: number;
  /** How long opening waits for the server, ms. */
  connectTimeoutMs: number;
  /** Connections in the pool. */
  maxConnections: number;
}

/** Open a PostgreSQL journal: connect, create or migrate its tables, register the run. */
export async function openPostgresBackend(
  url: string,
  options: PostgresBackendOptions,
): Promise<JournalBackend> {
  const target = parsePostgresUrl(url);
  const backend = new PostgresBackend(target, options);
  try {
    await backend.init(options.connectTimeoutMs);
    return backend;
  } catch (e) {
    await backend.discard();
    throw pgError(e, target, "opening the journal");
  }
}

/** A client held for one transaction. */
type Client = pg.PoolClient;

/** What the schema turned out to hold. */
type Identity = { kind: "new" } | { kind: "espline"; version: number } | {
  kind: "foreign";
  why: string;
};

class PostgresBackend implements JournalBackend {
  readonly kind = "postgres" as const;
  readonly location: string;
  #target: PostgresTarget;
  #pool: pg.Pool;
  #run: RunIdentity | null;
  #retryMs: number;
  #s: string;
  #closed = false;

  constructor(target: PostgresTarget, options: PostgresBackendOptions) {
    this.#target = target;
    this.location = target.location;
    this.#run = options.run;
    this.#retryMs = options.retryMs;
    this.#s = `"${target.schema}"`;
    this.#pool = new pg.Pool({
      ...target.config,
      max: options.maxConnections,
      connectionTimeoutMillis: target.config.connectionTimeoutMillis ??
        Math.min(options.connectTimeoutMs, 10_000),
      idleTimeoutMillis: 30_000,
      query_timeout: 60_000,
      keepAlive: true,
      allowExitOnIdle: true, // an unclosed journal does not keep a finished script alive
    });
    // An idle connection dropped by the server (restart, network) must not crash the process;
    // the next query opens a new one.
    this.#pool.on("error", () => {});
  }

  /** Run `fn`, retrying transient failures until `deadline` (ms since epoch). */
  async #retry<T>(doing: string, fn: () => Promise<T>, budgetMs = this.#retryMs): Promise<T> {
    if (this.#closed) {
      throw closedError(this.location, doing);
    }
    const deadline = Date.now() + budgetMs;
    let pause = 50;
    for (;;) {
      try {
        return await fn();
      } catch (e) {
        if (!isTransient(e) || Date.now() + pause > deadline || this.#closed) {
          throw pgError(e, this.#target, doing);
        }
        await sleep(pause * (0.5 + Math.random()));
        pause = Math.min(pause * 2, 1000);
      }
    }
  }

  /** One statement, retried. */
  #query(doing: string, sql: string, args: unknown[] = []): Promise<Row[]> {
    return this.#retry(doing, async () => (await this.#pool.query(sql, args)).rows as Row[]);
  }

  /** One transaction, retried as a whole (every transaction here is safe to repeat). */
  #tx<T>(doing: string, fn: (c: Client) => Promise<T>, budgetMs?: number): Promise<T> {
    return this.#retry(doing, async () => {
      const c = await this.#pool.connect();
      const onError = () => {}; // reported through the failing query instead
      c.on("error", onError);
      let broken: Error | undefined;
      try {
        await c.query("BEGIN");
        const out = await fn(c);
        await c.query("COMMIT");
        return out;
      } catch (e) {
        broken = e instanceof Error ? e : new Error(String(e));
        try {
          await c.query("ROLLBACK");
          if (!isTransient(e)) broken = undefined; // the connection is fine
        } catch { /* the connection is gone */ }
        throw e;
      } finally {
        c.off("error", onError);
        c.release(broken);
      }
    }, budgetMs);
  }

  async #identify(c: Client | pg.Pool): Promise<Identity> {
    const schema = this.#target.schema;
    const info = (await c.query(
      `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1) AS has_schema,
              to_regclass($2) IS NOT NULL AS has_meta,
              (SELECT count(*)::int FROM pg_tables WHERE schemaname = $1) AS tables`,
      [schema, `${this.#s}.meta`],
    )).rows[0] as Row;
    if (!info.has_schema) return { kind: "new" };
    if (!info.has_meta) {
      return Number(info.tables) === 0
        ? { kind: "new" }
        : { kind: "foreign", why: `schema ${schema} has tables but no espline meta table` };
    }
    const meta = new Map(
      ((await c.query(`SELECT key, value FROM ${this.#s}.meta`)).rows as Row[]).map((
        r,
      ) => [String(r.key), String(r.value)]),
    );
    if (meta.get("application") !== APPLICATION) {
      return {
        kind: "foreign",
        why: `schema ${schema} belongs to ${meta.get("application") ?? "another program"}`,
      };
    }
    return { kind: "espline", version: Number(meta.get("schema_version")) };
  }

  #refuse(id: Identity): void {
    if (id.kind === "foreign") {
      throw new UsageError(
        `${this.location} is not an espline journal (${id.why}): it was left unchanged; choose another schema with ?schema=NAME`,
        { code: "E_JOURNAL_FOREIGN" },
      );
    }
    if (id.kind === "espline" && !(id.version >= 1 && id.version <= PG_SCHEMA_VERSION)) {
      throw new EsplineError(
        "E_JOURNAL_VERSION",
        `journal ${this.location} has schema version ${id.version}; this espline knows 1 to ${PG_SCHEMA_VERSION}: update espline to use it`,
      );
    }
  }

  async init(connectTimeoutMs: number): Promise<void> {
    const first = await this.#retry(
      "connecting",
      () => this.#identify(this.#pool),
      connectTimeoutMs,
    );
    this.#refuse(first);
    if (!this.#run) {
      if (first.kind === "new") {
        throw new EsplineError(
          "E_JOURNAL_NOT_FOUND",
          `no espline journal at ${this.location} (schema ${this.#target.schema} has none): check the URL's database and ?schema=`,
        );
      }
      return;
    }
    if (first.kind === "new" || (first.kind === "espline" && first.version < PG_SCHEMA_VERSION)) {
      await this.#tx("creating the journal's tables", async (c) => {
        await c.query("SELECT pg_advisory_xact_lock($1)", [SCHEMA_LOCK]);
        const id = await this.#identify(c); // again, under the lock
        this.#refuse(id);
        const version = id.kind === "espline" ? id.version : 0;
        if (version < 1) await this.#createV1(c);
        // Later versions: `if (version < 2) …`, then record the version.
      }, connectTimeoutMs);
    }
    await this.#tx("registering this station", async (c) => {
      const run = this.#run!;
      await c.query(
        `INSERT INTO ${this.#s}.runs (run_id, host, boot_id, pid, lease_ms) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (run_id) DO UPDATE SET heartbeat_at = now(), ended_at = NULL`,
        [run.runId, run.host, run.bootId, run.pid, run.leaseMs],
      );
    }, connectTimeoutMs);
    await this.sweep();
  }

  async #createV1(c: Client): Promise<void> {
    const s = this.#s;
    await c.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await c.query(`
      CREATE TABLE ${s}.meta (key text PRIMARY KEY, value text NOT NULL);
      CREATE TABLE ${s}.runs (
        run_id text PRIMARY KEY, host text NOT NULL, boot_id text, pid integer NOT NULL,
        started_at timestamptz NOT NULL DEFAULT now(), heartbeat_at timestamptz NOT NULL DEFAULT now(),
        lease_ms integer NOT NULL, ended_at timestamptz
      );
      CREATE TABLE ${s}.devices (
        id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY, uid text NOT NULL UNIQUE,
        mac text, chip text, revision text, flash_size bigint, station text, port text NOT NULL,
        files jsonb NOT NULL DEFAULT '[]', fields jsonb NOT NULL DEFAULT '{}',
        stage text, result text NOT NULL, error_code text, error_message text,
        started_at timestamptz NOT NULL, ended_at timestamptz,
        pid integer NOT NULL, run_id text NOT NULL
      );
      CREATE INDEX devices_mac ON ${s}.devices (mac);
      CREATE INDEX devices_started ON ${s}.devices (started_at);
      CREATE INDEX devices_in_progress ON ${s}.devices (run_id) WHERE result = 'in-progress';
      CREATE TABLE ${s}.events (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, uid text NOT NULL UNIQUE,
        device_id integer NOT NULL REFERENCES ${s}.devices (id),
        time timestamptz NOT NULL, kind text NOT NULL, detail text NOT NULL
      );
      CREATE INDEX events_device ON ${s}.events (device_id);
      CREATE TABLE ${s}.serials (
        mac text PRIMARY KEY, number bigint NOT NULL UNIQUE, serial text NOT NULL,
        allocated_at timestamptz NOT NULL DEFAULT now()
      );
      -- One allocation, one statement, one transaction (one round trip). A MAC that has a
      -- number gets it back; a new one takes the next number under a table lock that
      -- serialises allocations only (readers are not blocked).
      CREATE FUNCTION ${s}.allocate_serial(p_mac text, p_prefix text, p_start bigint, p_digits int)
      RETURNS text LANGUAGE plpgsql AS $fn$
      DECLARE
        v text;
        n bigint;
      BEGIN
        SELECT serial INTO v FROM ${s}.serials WHERE mac = p_mac;
        IF FOUND THEN RETURN v; END IF;
        LOCK TABLE ${s}.serials IN SHARE ROW EXCLUSIVE MODE;
        SELECT serial INTO v FROM ${s}.serials WHERE mac = p_mac;
        IF FOUND THEN RETURN v; END IF;
        SELECT COALESCE(MAX(number) + 1, p_start) INTO n FROM ${s}.serials;
        v := p_prefix || CASE WHEN length(n::text) >= p_digits THEN n::text
                              ELSE lpad(n::text, p_digits, '0') END;
        INSERT INTO ${s}.serials (mac, number, serial) VALUES (p_mac, n, v);
        RETURN v;
      END
      $fn$;
    `);
    await c.query(
      `INSERT INTO ${s}.meta (key, value) VALUES ('application', $1), ('schema_version', $2)`,
      [APPLICATION, String(PG_SCHEMA_VERSION)],
    );
  }

  #writer(doing: string): RunIdentity {
    return writerOf(this.#run, this.location, doing);
  }

  async insert(uid: string, init: RecordInit, startedAt: string): Promise<number> {
    const run = this.#writer("beginning a record");
    const rows = await this.#query(
      "beginning a record",
      `WITH ins AS (
         INSERT INTO ${this.#s}.devices (uid, port, station, chip, mac, files, fields, stage, result, started_at, pid, run_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'start', 'in-progress', $8, $9, $10)
         ON CONFLICT (uid) DO NOTHING RETURNING id)
       SELECT id FROM ins UNION ALL SELECT id FROM ${this.#s}.devices WHERE uid = $1`,
      [
        uid,
        init.port,
        init.station ?? null,
        init.chip ?? null,
        init.mac ?? null,
        JSON.stringify(init.files ?? []),
        JSON.stringify(init.fields ?? {}),
        startedAt,
        run.pid,
        run.runId,
      ],
    );
    return Number(rows[0].id);
  }

  async update(id: number, facts: RecordFacts): Promise<void> {
    this.#writer("updating a record");
    const fields = facts.fields && Object.keys(facts.fields).length
      ? JSON.stringify(facts.fields)
      : null;
    await this.#query(
      "updating a record",
      `UPDATE ${this.#s}.devices SET mac = COALESCE($1, mac), chip = COALESCE($2, chip),
         revision = COALESCE($3, revision), flash_size = COALESCE($4, flash_size),
         stage = COALESCE($5, stage), fields = CASE WHEN $6::jsonb IS NULL THEN fields ELSE fields || $6::jsonb END
       WHERE id = $7`,
      [
        facts.mac ?? null,
        facts.chip ?? null,
        facts.revision ?? null,
        facts.flashSize ?? null,
        facts.stage ?? null,
        fields,
        id,
      ],
    );
  }

  async event(id: number, uid: string, event: JournalEvent): Promise<void> {
    this.#writer("adding an event");
    await this.#query(
      "adding an event",
      `INSERT INTO ${this.#s}.events (uid, device_id, time, kind, detail) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (uid) DO NOTHING`,
      [uid, id, event.time, event.kind, event.detail],
    );
  }

  async end(id: number, end: RecordEnd, endedAt: string): Promise<void> {
    this.#writer("ending a record");
    await this.#tx("ending a record", async (c) => {
      const prev = (await c.query(
        `SELECT result, error_message FROM ${this.#s}.devices WHERE id = $1 FOR UPDATE`,
        [id],
      )).rows[0] as Row | undefined;
      if (prev?.result === "incomplete") {
        await c.query(
          `INSERT INTO ${this.#s}.events (uid, device_id, time, kind, detail) VALUES ($1, $2, $3, 'lease-lost', $4)`,
          [
            crypto.randomUUID(),
            id,
            endedAt,
            `marked incomplete meanwhile (${prev.error_message}); the station finished it afterwards`,
          ],
        );
      }
      await c.query(
        `UPDATE ${this.#s}.devices SET result = $1, ended_at = $2, error_code = $3, error_message = $4,
           stage = COALESCE($5, stage) WHERE id = $6`,
        [end.result, endedAt, end.errorCode, end.errorMessage, end.stage, id],
      );
    });
  }

  /** SQL true for a run (alias r, LEFT JOINed) that is dead. */
  get #deadRun(): string {
    return `(r.run_id IS NULL OR r.ended_at IS NOT NULL
             OR r.heartbeat_at < now() - r.lease_ms * interval '1 millisecond')`;
  }

  #where(query: RowQuery, args: unknown[]): string {
    const parts: string[] = [];
    if (query.mac !== undefined) {
      args.push(query.mac);
      parts.push(`d.mac = $${args.length}`);
    }
    if (query.since) {
      args.push(query.since.toISOString());
      parts.push(`d.started_at >= $${args.length}`);
    }
    if (query.station !== undefined) {
      args.push(query.station);
      parts.push(`d.station = $${args.length}`);
    }
    if (query.contains !== undefined) {
      args.push(`%${likeLiteral(query.contains)}%`);
      parts.push(
        `(d.mac ILIKE $${args.length} ESCAPE '\\' OR d.fields->>'serial' ILIKE $${args.length} ESCAPE '\\')`,
      );
    }
    return parts.length ? `AND ${parts.join(" AND ")}` : "";
  }

  #order(query: RowQuery, args: unknown[]): string {
    let sql = query.newestFirst ? "ORDER BY d.id DESC" : "ORDER BY d.id";
    if (query.limit !== undefined) {
      args.push(query.limit);
      sql += ` LIMIT $${args.length}`;
    }
    return sql;
  }

  async rows(query: RowQuery): Promise<StoredRecord[]> {
    const args: unknown[] = [this.#run?.runId ?? ""];
    const where = this.#where(query, args);
    const order = this.#order(query, args);
    const rows = await this.#query(
      "reading records",
      `SELECT d.*, (d.result = 'in-progress' AND d.run_id <> $1 AND ${this.#deadRun}) AS dead,
              r.host AS run_host, r.pid AS run_pid, r.heartbeat_at AS run_heartbeat,
              r.lease_ms AS run_lease, r.ended_at AS run_ended, r.run_id IS NULL AS run_missing
       FROM ${this.#s}.devices d LEFT JOIN ${this.#s}.runs r ON r.run_id = d.run_id
       WHERE true ${where} ${order}`,
      args,
    );
    const events = new Map<number, Row[]>();
    if (rows.length) {
      for (
        const e of await this.#query(
          "reading events",
          `SELECT device_id, time, kind, detail FROM ${this.#s}.events WHERE device_id = ANY($1::int[]) ORDER BY id`,
          [rows.map((r) => Number(r.id))],
        )
      ) {
        const list = events.get(Number(e.device_id)) ?? [];
        list.push(e);
        events.set(Number(e.device_id), list);
      }
    }
    return rows.map((row) => {
      const why = row.dead ? this.#whyDead(row) : null;
      return {
        id: row.id,
        row: why ? { ...row, error_code: "E_INCOMPLETE", error_message: why } : row,
        result: why ? "incomplete" : row.result,
        events: events.get(Number(row.id)) ?? [],
      };
    });
  }

  #whyDead(r: Row): string {
    const run = { host: r.run_host, pid: r.run_pid };
    if (r.run_missing) return incompleteMessage(null, "no station process is registered for it");
    if (r.run_ended) return incompleteMessage(run, "it closed the journal");
    const hb = r.run_heartbeat instanceof Date
      ? r.run_heartbeat.toISOString()
      : String(r.run_heartbeat);
    return incompleteMessage(
      run,
      `no heartbeat since ${hb}, lease ${Number(r.run_lease) / 1000} s`,
    );
  }

  async counts(filter: JournalFilter): Promise<Map<string, number>> {
    const args: unknown[] = [this.#run?.runId ?? ""];
    const where = this.#where(filter, args);
    const rows = await this.#query(
      "counting records",
      `SELECT CASE WHEN d.result = 'in-progress' AND d.run_id <> $1 AND ${this.#deadRun}
                   THEN 'incomplete' ELSE d.result END AS result, count(*)::int AS n
       FROM ${this.#s}.devices d LEFT JOIN ${this.#s}.runs r ON r.run_id = d.run_id
       WHERE true ${where} GROUP BY 1`,
      args,
    );
    return new Map(rows.map((r) => [String(r.result), Number(r.n)]));
  }

  async allocateSerial(mac: string, options: SerialOptions): Promise<string> {
    this.#writer("allocating a serial number");
    const rows = await this.#query(
      "allocating a serial number",
      `SELECT ${this.#s}.allocate_serial($1, $2, $3, $4) AS serial`,
      [mac, options.prefix ?? "ESP-", options.start ?? 1, options.digits ?? 6],
    );
    return String(rows[0].serial);
  }

  async heartbeat(): Promise<void> {
    const run = this.#writer("renewing the lease");
    await this.#query(
      "renewing this station's lease",
      `INSERT INTO ${this.#s}.runs (run_id, host, boot_id, pid, lease_ms) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (run_id) DO UPDATE SET heartbeat_at = now(), ended_at = NULL`,
      [run.runId, run.host, run.bootId, run.pid, run.leaseMs],
    );
  }

  async sweep(): Promise<number> {
    const run = this.#writer("marking dead stations' records");
    return await this.#tx("marking dead stations' records incomplete", async (c) => {
      const dead = (await c.query(
        `SELECT d.id, r.host AS run_host, r.pid AS run_pid, r.heartbeat_at AS run_heartbeat,
                r.lease_ms AS run_lease, r.ended_at AS run_ended, r.run_id IS NULL AS run_missing
         FROM ${this.#s}.devices d LEFT JOIN ${this.#s}.runs r ON r.run_id = d.run_id
         WHERE d.result = 'in-progress' AND d.run_id <> $1 AND ${this.#deadRun}`,
        [run.runId],
      )).rows as Row[];
      if (!dead.length) return 0;
      // Re-checked in the UPDATE: a run that renewed its lease meanwhile keeps its records.
      const res = await c.query(
        `UPDATE ${this.#s}.devices d SET result = 'incomplete', ended_at = now(),
           error_code = 'E_INCOMPLETE', error_message = u.msg
         FROM unnest($1::int[], $2::text[]) AS u(id, msg)
         WHERE d.id = u.id AND d.result = 'in-progress'
           AND NOT EXISTS (SELECT 1 FROM ${this.#s}.runs r WHERE r.run_id = d.run_id
             AND r.ended_at IS NULL AND r.heartbeat_at >= now() - r.lease_ms * interval '1 millisecond')`,
        [dead.map((r) => Number(r.id)), dead.map((r) => this.#whyDead(r))],
      );
      return res.rowCount ?? 0;
    });
  }

  /** End the pool of a half-opened backend. */
  async discard(): Promise<void> {
    this.#closed = true;
    await this.#pool.end().catch(() => {});
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    const run = this.#run;
    let failure: unknown = null;
    if (run) {
      try {
        await this.#tx("closing", async (c) => {
          await c.query(
            `UPDATE ${this.#s}.devices SET result = 'incomplete', ended_at = now(), error_code = 'E_INCOMPLETE',
               error_message = $2 WHERE result = 'in-progress' AND run_id = $1`,
            [
              run.runId,
              incompleteMessage(run, "the journal was closed while the board was in progress"),
            ],
          );
          await c.query(`UPDATE ${this.#s}.runs SET ended_at = now() WHERE run_id = $1`, [
            run.runId,
          ]);
        }, Math.min(this.#retryMs, 5000));
      } catch (e) {
        failure = e;
      }
    }
    await this.discard();
    if (failure) throw failure;
  }
}
