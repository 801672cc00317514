/**
 * A station process for the journal's multi-process tests and bench: it
 * writes what a real station writes for each board (begin, connect, facts,
 * stages, recovery events, a serial number, the end), several boards at
 * once, without hardware, so only the journal is under test.
 *
 *     deno run -A tests/support/journal_station.ts --journal J --station s1 \
 *       --boards 8 [--rounds 1] [--mac-prefix 02:01] [--lease-ms 30000] [--hold]
 *
 * Prints one JSON line per board (`{"mac","serial","id"}`), then
 * `{"done":true,"errors":N,"seconds":S}`. With `--hold` it begins every board
 * of the first round, prints `{"holding":[ids]}` and holds them until its
 * stdin closes (then they pass) or it is killed.
 * With `--serials N --start-at EPOCH_MS` it only allocates N serial numbers
 * for new MACs, one after the other, starting at that time, and prints
 * `{"serials":N,"first":…,"last":…,"start":…,"end":…}` (ms since epoch).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { openJournal } from "../../lib/station/journal.ts";

/** The MAC of board `n` of a station. */
export function stationMac(prefix: string, n: number): string {
  return `${prefix}:${((n >> 16) & 0xff).toString(16).padStart(2, "0")}:${
    ((n >> 8) & 0xff).toString(16).padStart(2, "0")
  }:${(n & 0xff).toString(16).padStart(2, "0")}:aa`;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      journal: { type: "string" },
      station: { type: "string", default: "station" },
      boards: { type: "string", default: "8" },
      rounds: { type: "string", default: "1" },
      "mac-prefix": { type: "string", default: "02:00" },
      "lease-ms": { type: "string", default: "30000" },
      "retry-ms": { type: "string", default: "30000" },
      hold: { type: "boolean" },
      serials: { type: "string" },
      "start-at": { type: "string" },
    },
  });
  const t0 = performance.now();
  const journal = await openJournal(values.journal!, {
    leaseMs: Number(values["lease-ms"]),
    retryMs: Number(values["retry-ms"]),
    host: values.station,
  });
  const boards = Number(values.boards);
  const rounds = Number(values.rounds);
  const out = (o: unknown) => console.log(JSON.stringify(o));
  if (values.serials) {
    const n = Number(values.serials);
    const startAt = Number(values["start-at"] ?? Date.now());
    await new Promise((r) => setTimeout(r, Math.max(0, startAt - Date.now())));
    const start = Date.now();
    const got: string[] = [];
    for (let i = 0; i < n; i++) {
      got.push(await journal.allocateSerial(stationMac(values["mac-prefix"]!, i)));
    }
    const end = Date.now();
    await journal.close();
    out({
      serials: got.length,
      unique: new Set(got).size,
      first: got[0],
      last: got.at(-1),
      start,
      end,
    });
    Deno.exit(0);
  }
  if (values.hold) {
    const held = [];
    for (let b = 0; b < boards; b++) {
      const r = await journal.begin({ port: `sim://port${b}`, station: values.station });
      await r.update({
        mac: stationMac(values["mac-prefix"]!, b),
        chip: "esp32c3",
        stage: "flash",
      });
      held.push(r);
    }
    out({ holding: held.map((r) => r.id) });
    // Until stdin closes (or the process is killed): then the boards pass.
    for await (const _ of Deno.stdin.readable) { /* wait */ }
    for (const r of held) await r.pass();
    await journal.close();
    out({ done: true, errors: 0, seconds: (performance.now() - t0) / 1000 });
    Deno.exit(0);
  }
  let errors = 0;
  for (let round = 0; round < rounds; round++) {
    await Promise.all(Array.from({ length: boards }, async (_, b) => {
      const n = round * boards + b;
      const mac = stationMac(values["mac-prefix"]!, n);
      try {
        const r = await journal.begin({
          port: `sim://port${b}`,
          station: values.station,
          files: [{ path: "app.bin", sha256: "00".repeat(32), address: 0x10000 }],
        });
        r.update({ stage: "connect" });
        r.update({ mac, chip: "esp32c3", revision: "v0.4", flashSize: 4 << 20 });
        r.update({ stage: "flash" });
        r.event("recovery", "E_TIMEOUT: retrying at 115200 baud");
        r.update({ stage: "boot-check" });
        r.event("log", "boot ok: app_main");
        r.update({ stage: "serial" });
        const serial = await journal.allocateSerial(mac);
        await r.pass({ serial });
        out({ mac, serial, id: r.id });
      } catch (e) {
        errors++;
        out({ mac, error: e instanceof Error ? e.message : String(e) });
      }
    }));
  }
  await journal.close();
  out({ done: true, errors, seconds: (performance.now() - t0) / 1000 });
}
