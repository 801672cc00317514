/**
 * Fuzz target for journal files: whatever file is given as a journal, and
 * whatever its rows hold, opening and reading it (summary, records, history,
 * CSV and JSONL export) and writing to it end in success or an
 * EsplineError, never an exception of another kind or a hang.
 *
 * The first input byte picks how the rest becomes a journal file:
 * 0 – the bytes are the file (random and mutated SQLite files, small pages);
 * 1 – (offset, byte) patches over a valid journal with records;
 * 2 – values for the rows and runs of a valid journal, written with raw SQL
 *     (text where JSON belongs, unknown results, huge or negative numbers …).
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import type { FuzzTarget } from "./harness.ts";
import { openJournal } from "../station/journal.ts";
import { SQLITE_V1_SCHEMA, SQLITE_V1_TABLES } from "../station/journal/sqlite.ts";

/** SQLite page size for the fuzz files: small, so whole files fit in an input. */
const PAGE = 512;

const VALUES: (string | number | null)[] = [
  null,
  "",
  "{",
  "[",
  "null",
  "{}",
  "[]",
  '{"serial":"ESP-1"}',
  '[{"path":1}]',
  '[{"path":"a","sha256":"b","address":4096}]',
  '"text"',
  "in-progress",
  "passed",
  "unverified",
  "incomplete",
  "shipped",
  "=cmd|' /C calc'!A0",
  "\u0000\uffff\ud800",
  "x".repeat(3000),
  0,
  -1,
  2 ** 53,
  -(2 ** 63),
  1e308,
  0.5,
  "2026-01-01T00:00:00.000Z",
  "not a date",
  "24:0a:c4:00:00:01",
];

const LV1 = `${SQLITE_V1_SCHEMA}
INSERT INTO devices (mac, port, fields, result, started_at, pid, run_id)
  VALUES ('24:0a:c4:00:00:01', 'p', '{"a":1}', 'in-progress', '2026-01-01', 1, 'r');
`;

let workDir: string | null = null;
let template: Uint8Array | null = null;

function dir(): string {
  if (workDir === null) {
    const made = Deno.makeTempDirSync({ prefix: "espline-fuzz-journal-" });
    workDir = made;
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(made, { recursive: true });
      } catch { /* already gone */ }
    });
  }
  return workDir;
}

function clean(path: string): void {
  for (const suffix of ["", "-wal", "-shm", "-journal"]) {
    try {
      Deno.removeSync(path + suffix);
    } catch { /* not there */ }
  }
  try {
    Deno.removeSync(`${path}-runs`, { recursive: true });
  } catch { /* not there */ }
}

/** A raw SQLite file with small pages, made by `sql`. */
function rawFile(name: string, sql: string): Uint8Array {
  const path = `${dir()}/${name}`;
  clean(path);
  const db = new DatabaseSync(path);
  db.exec(`PRAGMA page_size = ${PAGE}; PRAGMA journal_mode = DELETE;`);
  db.exec(sql);
  db.close();
  const bytes = Deno.readFileSync(path);
  clean(path);
  return bytes;
}

/** A valid journal with a few records, events, serials and a dead run. */
async function makeTemplate(): Promise<Uint8Array> {
  const path = `${dir()}/template.db`;
  clean(path);
  const db = new DatabaseSync(path);
  db.exec(`PRAGMA page_size = ${PAGE}; CREATE TABLE t (x); DROP TABLE t;`);
  db.close();
  const j = await openJournal(path);
  const a = await j.begin({ port: "p1", files: [{ path: "a.bin", sha256: "ab", address: 4096 }] });
  await a.update({ mac: "24:0a:c4:00:00:01", chip: "esp32", fields: { serial: "ESP-1" } });
  await a.event("recovery", "E_TIMEOUT");
  await a.pass();
  const b = await j.begin({ port: "p2" });
  await b.fail(new Error("x"), { stage: "flash" });
  await j.allocateSerial("24:0a:c4:00:00:01");
  await j.begin({ port: "p3", station: "left in progress" });
  await j.close();
  const db2 = new DatabaseSync(path);
  db2.exec("PRAGMA journal_mode = DELETE");
  db2.close();
  const bytes = Deno.readFileSync(path);
  clean(path);
  return bytes;
}

/** Fill a valid journal's rows with values picked by the input. */
async function rowsFile(path: string, input: Uint8Array): Promise<void> {
  Deno.writeFileSync(path, template ??= await makeTemplate());
  const db = new DatabaseSync(path);
  db.exec("PRAGMA synchronous = OFF; BEGIN");
  try {
    let i = 0;
    const pick = () => VALUES[(input[i++] ?? 0) % VALUES.length];
    const columns = SQLITE_V1_TABLES.devices.filter((c) => c !== "id");
    while (i < input.length) {
      const op = input[i++] % 4;
      try {
        if (op === 0) {
          const col = columns[(input[i++] ?? 0) % columns.length];
          db.prepare(`UPDATE devices SET ${col} = ? WHERE id = ?`).run(
            pick(),
            1 + (input[i++] ?? 0) % 4,
          );
        } else if (op === 1) {
          db.prepare(
            "INSERT INTO events (device_id, time, kind, detail) VALUES (?, ?, ?, ?)",
          ).run(pick(), pick(), pick(), pick());
        } else if (op === 2) {
          const col =
            ["host", "boot_id", "pid", "heartbeat_ms", "lease_ms", "ended_ms", "lock_file"][
              (input[i++] ?? 0) % 7
            ];
          db.prepare(`UPDATE runs SET ${col} = ?`).run(pick());
        } else {
          db.prepare(
            `INSERT INTO devices (uid, port, result, started_at, pid, run_id, fields, files)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
          ).run(pick(), pick(), pick(), pick(), pick(), pick(), pick(), pick());
        }
      } catch { /* a constraint refused this value: the file stays as it was */ }
    }
  } finally {
    db.exec("COMMIT");
    db.close();
  }
}

/** Journal files: random, mutated and hand-edited ones. */
export const journalFileTarget: FuzzTarget = {
  name: "journal-file",
  budgetMs: 3000,
  async samples() {
    template ??= await makeTemplate();
    return [
      Uint8Array.from([
        0,
        ...rawFile("foreign.db", "CREATE TABLE devices (a, b); INSERT INTO devices VALUES (1, 2);"),
      ]),
      Uint8Array.from([0, ...rawFile("v1.db", LV1)]),
      Uint8Array.from([1, 0x0c, 0x20, 0x55, 0x10, 0x04, 0x07, 0x14, 0x10, 0xff]),
      Uint8Array.from([2, 0, 7, 3, 1, 0, 9, 1, 5, 5, 5, 5, 2, 3, 4, 3, 1, 2, 3, 4, 5, 6, 7, 8]),
    ];
  },
  async run(input, rand) {
    const path = `${dir()}/fuzz.db`;
    clean(path);
    const mode = (input[0] ?? 0) % 3;
    const rest = input.subarray(1);
    if (mode === 0) Deno.writeFileSync(path, rest);
    else if (mode === 1) {
      const bytes = Uint8Array.from(template ??= await makeTemplate());
      for (let i = 0; i + 2 < rest.length; i += 3) {
        bytes[((rest[i] << 8) | rest[i + 1]) % bytes.length] = rest[i + 2];
      }
      Deno.writeFileSync(path, bytes);
    } else await rowsFile(path, rest);
    try {
      {
        await using j = await openJournal(path, { readOnly: true, retryMs: 200 });
        await j.summary();
        await j.records();
        await j.history("24:0a:c4:00:00:01");
        await j.exportCsv();
        await j.exportJsonl();
      }
      if (rand() < 0.2) {
        await using j = await openJournal(path, { retryMs: 200 });
        const r = await j.begin({ port: "fuzz" });
        await r.update({ mac: "24:0A:C4:00:00:02", fields: { n: 1 } });
        await j.allocateSerial("24:0a:c4:00:00:02");
        await r.pass();
        await j.summary();
      }
    } finally {
      clean(path);
    }
  },
};
