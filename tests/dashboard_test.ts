import assert from "node:assert/strict";
import { EsplineError } from "../lib/errors.ts";
import { openJournal } from "../lib/station/journal.ts";
import { runStation } from "../lib/station/runner.ts";
import {
  authorize,
  checkBindToken,
  isLoopback,
  tokensEqual,
} from "../lib/station/dashboard/auth.ts";
import {
  canonicalMac,
  type DashboardJournal,
  journalReader,
  type JournalRecordLike,
} from "../lib/station/dashboard/journal_reader.ts";
import { LineModel, normalizeResult, shiftStart } from "../lib/station/dashboard/model.ts";
import { PAGE_CSP, PAGE_HTML } from "../lib/station/dashboard/page.ts";
import { parseListenAddress, startDashboard } from "../lib/station/dashboard/server.ts";
import { sseFrame, SseHub } from "../lib/station/dashboard/sse.ts";
import { runDemoLine } from "../scripts/demo_line.ts";
import { forwardEvents } from "../lib/station/dashboard/forward.ts";
import { chromium, externalTest, freePort } from "./support/external.ts";
import { launchBrowser } from "./support/browser.ts";

// ---------------------------------------------------------------------------
// An SSE reader written from the WHATWG parsing rules, independent of sseFrame.

interface ReceivedEvent {
  event: string;
  data: string;
}

class SseReader {
  #reader: ReadableStreamDefaultReader<string>;
  #buffer = "";
  #queue: ReceivedEvent[] = [];
  retry: number | null = null;

  constructor(body: ReadableStream<Uint8Array>) {
    this.#reader = body.pipeThrough(new TextDecoderStream()).getReader();
  }

  /** The next event (not a comment, not a ping unless asked for). */
  async next(options: { pings?: boolean } = {}): Promise<ReceivedEvent> {
    const guard = AbortSignal.timeout(20_000); // a hang guard, not a timed assertion
    while (true) {
      const e = this.#queue.shift();
      if (e) {
        if (e.event === "ping" && !options.pings) continue;
        return e;
      }
      if (guard.aborted) throw new Error("no SSE event within 20 s");
      const { value, done } = await this.#reader.read();
      if (done) throw new Error("the event stream ended");
      this.#buffer += value;
      this.#parse();
    }
  }

  /** Events of one name until `until` says stop; returns the last. */
  async until(name: string, until: (data: unknown) => boolean): Promise<unknown> {
    while (true) {
      const e = await this.next();
      if (e.event !== name) continue;
      const data = JSON.parse(e.data);
      if (until(data)) return data;
    }
  }

  #parse(): void {
    const blocks = this.#buffer.split(/\r\n\r\n|\n\n|\r\r/);
    this.#buffer = blocks.pop() ?? "";
    for (const block of blocks) {
      let event = "message";
      const data: string[] = [];
      for (const line of block.split(/\r\n|\n|\r/)) {
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const name = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (name === "event") event = value;
        else if (name === "data") data.push(value);
        else if (name === "retry") this.retry = Number(value);
      }
      if (data.length) this.#queue.push({ event, data: data.join("\n") });
    }
  }

  async cancel(): Promise<void> {
    await this.#reader.cancel();
  }
}

async function openEvents(url: string, headers: HeadersInit = {}): Promise<SseReader> {
  const r = await fetch(`${url}events`, { headers });
  assert.equal(r.status, 200, await (r.ok ? "" : r.text()));
  assert.match(r.headers.get("content-type") ?? "", /^text\/event-stream/);
  return new SseReader(r.body!);
}

/** Send raw bytes to the server and read the reply (for headers fetch will not send). */
async function rawRequest(port: number, request: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode(request));
  let out = "";
  const buf = new Uint8Array(4096);
  while (true) {
    const n = await conn.read(buf);
    if (n === null) break;
    out += new TextDecoder().decode(buf.subarray(0, n));
    if (/\r\n\r\n/.test(out) && /content-length: (\d+)/i.test(out)) {
      const len = Number(/content-length: (\d+)/i.exec(out)![1]);
      if (out.length - out.indexOf("\r\n\r\n") - 4 >= len) break;
    }
  }
  conn.close();
  return out;
}

const HOSTILE = `<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>&amp;"'`;

// ---------------------------------------------------------------------------
// The model

Deno.test("model: a board's events move its tile from running to passed, with chip, MAC and progress", () => {
  const line = new LineModel({ now: () => 1_000 });
  const port = "sim://esp32?mac=02:00:00:00:00:01";
  line.apply({ type: "device-start", port }, "line-1");
  line.apply({ type: "connected", port, chip: "esp32", stub: true } as never, "line-1");
  line.apply({ type: "stage", port, stage: "flash" } as never, "line-1");
  line.apply(
    {
      type: "progress",
      port,
      stage: "write",
      label: "Writing at 0x00010000",
      done: 4096,
      total: 16384,
    } as never,
    "line-1",
  );
  let t = line.tile("line-1", port)!;
  assert.equal(t.state, "running");
  assert.equal(t.chip, "esp32");
  assert.deepEqual(t.progress, { label: "Writing at 0x00010000", done: 4096, total: 16384 });
  assert.equal(t.stage, "flash");
  line.apply({
    type: "device-end",
    port,
    outcome: { port, result: "pass", stage: "done", mac: "02:00:00:00:00:01", seconds: 2.5 },
  } as never, "line-1");
  t = line.tile("line-1", port)!;
  assert.equal(t.state, "passed");
  assert.equal(t.mac, "02:00:00:00:00:01");
  assert.equal(t.last?.result, "passed");
  assert.equal(t.boards, 1);
  assert.equal(line.stats(0).passed, 1);
  // The next board on the port starts clean but remembers the last result.
  line.apply({ type: "device-start", port }, "line-1");
  t = line.tile("line-1", port)!;
  assert.equal(t.state, "running");
  assert.equal(t.mac, null);
  assert.equal(t.last?.mac, "02:00:00:00:00:01");
});

Deno.test("model: today's pass/fail and the redesign's passed/failed/unverified/aborted are read alike", () => {
  assert.equal(normalizeResult("pass"), "passed");
  assert.equal(normalizeResult("fail"), "failed");
  assert.equal(normalizeResult("passed"), "passed");
  assert.equal(normalizeResult("failed"), "failed");
  assert.equal(normalizeResult("unverified"), "unverified");
  assert.equal(normalizeResult("aborted"), "aborted");
  assert.equal(normalizeResult("maybe"), null);
  const line = new LineModel();
  const results = ["pass", "failed", "unverified", "aborted", "fail"];
  results.forEach((result, i) =>
    line.apply({
      type: "device-end",
      port: `p${i}`,
      outcome: { result, stage: "flash", seconds: 1, error: { code: "E_X", message: "m" } },
    } as never)
  );
  const s = line.stats(0);
  assert.deepEqual([s.passed, s.failed, s.unverified, s.aborted], [1, 2, 1, 1]);
  assert.equal(s.yield, 1 / 4); // aborted boards are not in the yield
  assert.deepEqual(line.failures().map((f) => f.port), ["p4", "p2", "p1"]);
});

Deno.test("model: a failure keeps its stage and error; several stations get their own tiles", () => {
  const line = new LineModel();
  line.apply({ type: "device-start", port: "/dev/ttyUSB0" }, "line-1");
  line.apply({ type: "device-start", port: "/dev/ttyUSB0" }, "line-2");
  line.apply({ type: "stage", port: "/dev/ttyUSB0", stage: "selftest" } as never, "line-2");
  line.apply({
    type: "device-end",
    port: "/dev/ttyUSB0",
    outcome: {
      result: "fail",
      stage: "selftest",
      mac: "02:00:00:00:00:09",
      error: { code: "E_SELFTEST", message: "current 3.2 A" },
      seconds: 1,
    },
  } as never, "line-2");
  assert.equal(line.tiles().length, 2);
  assert.equal(line.tile("line-1", "/dev/ttyUSB0")!.state, "running");
  const t = line.tile("line-2", "/dev/ttyUSB0")!;
  assert.equal(t.state, "failed");
  assert.deepEqual(t.last?.error, { code: "E_SELFTEST", message: "current 3.2 A" });
  assert.equal(t.last?.stage, "selftest");
  const [f] = line.failures();
  assert.equal(f.station, "line-2");
  assert.equal(f.stage, "selftest");
  assert.equal(f.mac, "02:00:00:00:00:09");
});

Deno.test("model: malformed and unknown events are ignored; text is bounded and control characters dropped", () => {
  const line = new LineModel({ limits: { logLines: 3, textChars: 20 } });
  assert.equal(line.apply({ type: "device-start" }), null); // no port
  assert.equal(line.apply({ type: "trace", port: "p" } as never), null);
  assert.equal(line.apply({ type: "progress", port: "p", done: "x" } as never), null);
  assert.equal(line.apply({ type: "device-end", port: "p", outcome: {} } as never), null);
  assert.equal(line.apply(null as never), null);
  for (let i = 0; i < 10; i++) {
    line.apply({ type: "device-log", port: "p", message: `line ${i}\u001b[31m` } as never);
  }
  const t = line.tile("station", "p")!;
  assert.deepEqual(t.log, ["line 7[31m", "line 8[31m", "line 9[31m"]);
  line.apply({ type: "device-log", port: "p", message: "x".repeat(100) } as never);
  assert.equal(t.log.at(-1)!.length, 20);
  assert.ok(t.log.at(-1)!.endsWith("…"));
});

Deno.test("model: tiles are bounded; the longest-quiet finished tile makes room", () => {
  let now = 0;
  const line = new LineModel({ limits: { tiles: 2 }, now: () => now });
  line.apply({ type: "device-start", port: "a" });
  now = 1;
  line.apply({ type: "device-start", port: "b" });
  line.apply({ type: "device-end", port: "b", outcome: { result: "pass", stage: "x" } } as never);
  now = 2;
  line.apply({ type: "device-start", port: "c" });
  assert.deepEqual(line.tiles().map((t) => t.port), ["a", "c"]); // "a" is running: kept
  const changes = line.takeChanges();
  assert.equal(changes.tiles.get(LineModel.key("station", "b")), null); // removal is sent
});

Deno.test("shiftStart: the latest local start at or before now, across midnight", () => {
  const at = (h: number, m = 0, dayOffset = 0) => new Date(2026, 0, 10 + dayOffset, h, m).getTime();
  const shifts = ["06:00", "14:00", "22:00"];
  assert.equal(shiftStart(at(10), shifts), at(6));
  assert.equal(shiftStart(at(14), shifts), at(14));
  assert.equal(shiftStart(at(23, 30), shifts), at(22));
  assert.equal(shiftStart(at(3), shifts), at(22, 0, -1));
  assert.equal(shiftStart(at(3), ["00:00"]), at(0));
  assert.throws(() => shiftStart(at(3), ["25:00"]), /HH:MM/);
});

// ---------------------------------------------------------------------------
// SSE framing and the hub

Deno.test("sseFrame: a payload with newlines stays one event and cannot start another", () => {
  const frame = sseFrame({ event: "tile", data: `a\n\nevent: evil\ndata: x\r\nb\rc` });
  assert.equal(
    frame,
    "event: tile\ndata: a\ndata: \ndata: event: evil\ndata: data: x\ndata: b\ndata: c\n\n",
  );
  assert.equal(frame.match(/\n\n/g)!.length, 1); // exactly one dispatch, at the end
  assert.throws(() => sseFrame({ event: "a\nb" }), /one line/);
  assert.throws(() => sseFrame({ id: "a\rb" }), /one line/);
  assert.equal(sseFrame({ retry: 3000 }), "retry: 3000\n\n");
  assert.equal(sseFrame({ comment: "ping" }), ": ping\n\n");
});

Deno.test("SseHub: refuses clients past its limit and drops one that stops reading", async () => {
  const hub = new SseHub({ maxClients: 2, maxQueued: 5 });
  const a = hub.open(["first\n\n"])!;
  const b = hub.open([])!;
  assert.equal(hub.open([]), null);
  assert.equal(hub.size, 2);
  const reader = a.getReader();
  const first = await reader.read();
  assert.equal(new TextDecoder().decode(first.value), "first\n\n");
  // Neither reads now: each may queue 5 messages, the 6th drops it.
  for (let i = 0; i < 6; i++) hub.broadcast(`m${i}\n\n`);
  assert.equal(hub.dropped, 2);
  assert.equal(hub.size, 0);
  await assert.rejects(reader.read(), /too slow/);
  await assert.rejects(b.getReader().read(), /too slow/);
  hub.closeAll();
});

// ---------------------------------------------------------------------------
// Auth

Deno.test("auth: loopback names and addresses, constant-time token comparison", () => {
  for (const h of ["127.0.0.1", "localhost", "::1", "[::1]", "127.3.2.1"]) {
    assert.ok(isLoopback(h), h);
  }
  for (const h of ["0.0.0.0", "192.168.1.10", "::", "example.com", "127.0.0.1.evil.com"]) {
    assert.ok(!isLoopback(h), h);
  }
  assert.ok(tokensEqual("0123456789abcdef", "0123456789abcdef"));
  assert.ok(!tokensEqual("0123456789abcdeX", "0123456789abcdef"));
  assert.ok(!tokensEqual("", "0123456789abcdef"));
  assert.ok(!tokensEqual("0123456789abcdef0", "0123456789abcdef"));
});

Deno.test("auth: a dashboard off loopback refuses to start without a token, or with a short one", () => {
  for (const hostname of ["0.0.0.0", "192.168.1.10", "::"]) {
    assert.throws(
      () => startDashboard({ hostname, port: 0 }),
      (e: unknown) =>
        e instanceof EsplineError && e.code === "E_DASHBOARD_TOKEN" &&
        /reachable from the network/.test(e.message),
    );
  }
  assert.throws(
    () => checkBindToken("0.0.0.0", "1234"),
    (e: unknown) => e instanceof EsplineError && /at least 16/.test(e.message),
  );
  assert.throws(() => checkBindToken("0.0.0.0", "a;b=c d0123456789abcdef"), /cookie/);
  checkBindToken("127.0.0.1", undefined); // loopback: fine without
  checkBindToken("0.0.0.0", "0123456789abcdef");
});

Deno.test("auth: without a token only a loopback Host is answered (no DNS rebinding)", () => {
  const req = (host: string) => new Request("http://x/", { headers: { host } });
  assert.ok(authorize(req("127.0.0.1:8080"), undefined).ok);
  assert.ok(authorize(req("localhost:8080"), undefined).ok);
  assert.ok(authorize(req("[::1]:8080"), undefined).ok);
  const v = authorize(req("evil.example:8080"), undefined);
  assert.ok(!v.ok && v.status === 403);
});

Deno.test("server: with a token, the page, the event stream and the API all need it", async () => {
  const token = "s3cret-token-0123456789";
  await using d = startDashboard({ port: 0, token, station: "line-1" });
  for (const path of ["", "events", "api/state", "api/search?q=02:00", "api/tile?key=x"]) {
    const none = await fetch(`${d.url}${path}`);
    assert.equal(none.status, 401, path);
    assert.match(await none.text(), /needs its token/);
    const wrong = await fetch(`${d.url}${path}`, {
      headers: { authorization: "Bearer wrong-token-0123456789" },
    });
    assert.equal(wrong.status, 401, path);
    await wrong.body?.cancel();
  }
  // A bearer header works for the API.
  const state = await fetch(`${d.url}api/state`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(state.status, 200);
  assert.equal((await state.json()).info.journal, false);
  // ?token= on the page sets an HttpOnly cookie and sends the browser to the address without it.
  const first = await fetch(`${d.url}?token=${token}`, { redirect: "manual" });
  assert.equal(first.status, 303);
  assert.equal(first.headers.get("location"), "./");
  const cookie = first.headers.get("set-cookie") ?? "";
  assert.match(cookie, /HttpOnly/);
  assert.match(cookie, /SameSite=Strict/);
  await first.body?.cancel();
  const page = await fetch(d.url, { headers: { cookie: cookie.split(";")[0] } });
  assert.equal(page.status, 200);
  assert.match(await page.text(), /espline line dashboard/);
  // The event stream accepts the cookie too.
  const events = await openEvents(d.url, { cookie: cookie.split(";")[0] });
  assert.equal((await events.next()).event, "snapshot");
  await events.cancel();
});

Deno.test("server: a request naming another host is refused on a token-less loopback dashboard", async () => {
  await using d = startDashboard({ port: 0 });
  const bad = await rawRequest(
    d.port,
    "GET /api/state HTTP/1.1\r\nHost: attacker.example:8080\r\nConnection: close\r\n\r\n",
  );
  assert.match(bad, /^HTTP\/1\.1 403/);
  const good = await rawRequest(
    d.port,
    `GET /api/state HTTP/1.1\r\nHost: 127.0.0.1:${d.port}\r\nConnection: close\r\n\r\n`,
  );
  assert.match(good, /^HTTP\/1\.1 200/);
});

// ---------------------------------------------------------------------------
// Server: state replay, live updates, escaping, limits

Deno.test("server: a late browser gets the current state first, then every change", async () => {
  await using d = startDashboard({ port: 0, station: "line-1", flushMs: 5 });
  const port = "sim://esp32?mac=02:00:00:00:00:01";
  d.publish({ type: "device-start", port });
  d.publish({ type: "stage", port, stage: "flash" } as never);
  d.publish({ type: "device-start", port: "sim://esp32c3" }, { station: "line-2" });
  await d.idle();

  const late = await openEvents(d.url);
  assert.equal(late.retry, null);
  const snap = await late.next();
  assert.equal(late.retry, 3000); // reconnect delay comes before the snapshot
  assert.equal(snap.event, "snapshot");
  const s = JSON.parse(snap.data);
  assert.deepEqual(
    s.tiles.map((t: { station: string; port: string; stage: string }) => [t.station, t.stage]),
    [["line-1", "flash"], ["line-2", "connect"]],
  );
  assert.equal(s.stats.inProgress, 2);

  d.publish({
    type: "device-end",
    port,
    outcome: { result: "fail", stage: "flash", error: { code: "E_T", message: "boom" } },
  } as never);
  const tile = await late.until("tile", () => true) as { state: string; port: string };
  assert.equal(tile.port, port);
  assert.equal(tile.state, "failed");
  const failures = await late.until("failures", () => true) as { message: string }[];
  assert.equal(failures[0].message, "boom");
  const stats = await late.until("stats", () => true) as { failed: number; inProgress: number };
  assert.equal(stats.failed, 1);
  assert.equal(stats.inProgress, 1);
  await late.cancel();
});

Deno.test("server: closing sends the last changes before the event streams end (a run's results are not lost)", async () => {
  const d = startDashboard({ port: 0, station: "line-1", flushMs: 60_000 });
  const reader = await openEvents(d.url);
  assert.equal((await reader.next()).event, "snapshot");
  d.publish({
    type: "device-end",
    port: "p",
    outcome: { result: "passed", stage: "done", seconds: 1 },
  } as never);
  await d.close(); // long before the 60 s flush
  const tile = await reader.until("tile", () => true) as { state: string };
  assert.equal(tile.state, "passed");
  await assert.rejects(async () => {
    while (true) await reader.next();
  }, /the event stream ended/);
});

Deno.test("server: text from boards reaches browsers as JSON data only; the page never parses it as HTML", async () => {
  await using d = startDashboard({ port: 0, flushMs: 5 });
  const events = await openEvents(d.url);
  await events.next();
  d.publish({ type: "device-start", port: HOSTILE });
  d.publish(
    { type: "device-log", port: HOSTILE, message: `${HOSTILE}\n\nevent: snapshot` } as never,
  );
  const tile = await events.until("tile", (t) => (t as { log: string[] }).log.length > 0) as {
    port: string;
    log: string[];
  };
  assert.equal(tile.port, HOSTILE);
  assert.equal(tile.log[0], `${HOSTILE}\n\nevent: snapshot`); // intact, inside one event
  await events.cancel();

  // The page's script inserts data with textContent only, and the policy allows no other script.
  const page = await fetch(d.url);
  const csp = page.headers.get("content-security-policy") ?? "";
  assert.equal(csp, PAGE_CSP);
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'sha256-[A-Za-z0-9+/=]+'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.equal(page.headers.get("x-content-type-options"), "nosniff");
  const html = await page.text();
  assert.equal(html, PAGE_HTML);
  assert.doesNotMatch(html, /innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(/);
  assert.doesNotMatch(html, /https?:\/\/(?!www\.w3\.org)/); // nothing from elsewhere
});

Deno.test("server: too many event streams get a 503 with what to do", async () => {
  await using d = startDashboard({ port: 0, limits: { clients: 1 } });
  const a = await openEvents(d.url);
  const b = await fetch(`${d.url}events`);
  assert.equal(b.status, 503);
  assert.match(await b.text(), /too many dashboards/);
  assert.equal(d.clients, 1);
  await a.cancel();
});

Deno.test("server: the port in use is a typed error that names another port", async () => {
  await using d = startDashboard({ port: 0 });
  assert.throws(
    () => startDashboard({ port: d.port }),
    (e: unknown) =>
      e instanceof EsplineError && e.code === "E_DASHBOARD_PORT" && /in use/.test(e.message),
  );
});

Deno.test("parseListenAddress: HOST:PORT, [IPv6]:PORT and a bare port", () => {
  assert.deepEqual(parseListenAddress("127.0.0.1:8080"), { hostname: "127.0.0.1", port: 8080 });
  assert.deepEqual(parseListenAddress("0.0.0.0:80"), { hostname: "0.0.0.0", port: 80 });
  assert.deepEqual(parseListenAddress("[::1]:9000"), { hostname: "::1", port: 9000 });
  assert.deepEqual(parseListenAddress("8080"), { hostname: "127.0.0.1", port: 8080 });
  assert.deepEqual(parseListenAddress("localhost:8080"), { hostname: "localhost", port: 8080 });
  for (const bad of ["", "host", "1.2.3.4:99999", "::1:80", "a b:80"]) {
    assert.throws(() => parseListenAddress(bad), /not a dashboard address/, bad);
  }
});

// ---------------------------------------------------------------------------
// The journal side

Deno.test("journalReader: search by whole MAC, by its end and by serial; failures; counts", async () => {
  await using journal = await openJournal(":memory:");
  const add = async (mac: string, pass: boolean, serial?: string) => {
    const rec = await journal.begin({ port: "sim://esp32", station: "line-1" });
    await rec.update({ mac, chip: "esp32", stage: "flash", fields: serial ? { serial } : {} });
    if (pass) await rec.pass();
    else await rec.fail(new EsplineError("E_SELFTEST", "current too high"), { stage: "selftest" });
  };
  await add("02:00:00:00:00:01", true, "ESP-000001");
  await add("02:00:00:00:00:02", false);
  await add("02:00:00:00:00:01", true, "ESP-000001");
  const reader = journalReader(journal);
  const byMac = await reader.search("02-00-00-00-00-01", { limit: 10 });
  assert.equal(byMac.length, 2);
  assert.equal(byMac[0].serial, "ESP-000001");
  const byEnd = await reader.search("00:02", { limit: 10 });
  assert.deepEqual(byEnd.map((r) => r.mac), ["02:00:00:00:00:02"]);
  const bySerial = await reader.search("esp-000001", { limit: 1 });
  assert.equal(bySerial.length, 1);
  assert.equal(bySerial[0].mac, "02:00:00:00:00:01");
  assert.deepEqual(await reader.search("nothing-here", { limit: 5 }), []);
  const failures = await reader.failures({ since: new Date(0), limit: 5 });
  assert.equal(failures.length, 1);
  assert.equal(failures[0].stage, "selftest");
  assert.equal(failures[0].errorCode, "E_SELFTEST");
  const counts = await reader.counts({ since: new Date(0) });
  assert.deepEqual([counts.passed, counts.failed, counts.total], [2, 1, 3]);
  assert.equal(canonicalMac("AABBCCDDEEFF"), "aa:bb:cc:dd:ee:ff");
  assert.equal(canonicalMac("aa:bb"), null);
});

Deno.test("journalReader: a journal whose methods return Promises (the async and PostgreSQL journals) is awaited", async () => {
  const row: JournalRecordLike = {
    id: 7,
    mac: "02:00:00:00:00:07",
    chip: "esp32c3",
    station: "line-3",
    port: "/dev/ttyACM0",
    fields: { serial: "ESP-000007" },
    stage: "boot",
    result: "incomplete",
    errorCode: null,
    errorMessage: "the process stopped",
    startedAt: new Date(0).toISOString(),
    endedAt: null,
  };
  const asyncJournal = {
    history: (mac: string) => Promise.resolve(mac === row.mac ? [row] : []),
    records: () => Promise.resolve([row]),
    summary: () => Promise.resolve({ incomplete: 1, "in-progress": 2, total: 3 }),
  };
  const reader = journalReader(asyncJournal);
  assert.equal((await reader.search("02:00:00:00:00:07", { limit: 5 }))[0].serial, "ESP-000007");
  assert.equal((await reader.failures({ since: new Date(0), limit: 5 }))[0].result, "incomplete");
  const c = await reader.counts({ since: new Date(0) });
  assert.deepEqual([c.incomplete, c.inProgress, c.passed], [1, 2, 0]);
});

Deno.test("server: with a journal, counts and failures come from it and an unreachable journal is shown, not fatal", async () => {
  let fail = false;
  const journal: DashboardJournal = {
    search: () => Promise.resolve([]),
    failures: () =>
      Promise.resolve([{
        id: 1,
        mac: "02:00:00:00:00:05",
        serial: null,
        chip: "esp32",
        station: "line-9",
        port: "COM3",
        stage: "verify",
        result: "failed",
        errorCode: "E_MD5",
        errorMessage: "flash differs",
        startedAt: new Date().toISOString(),
        endedAt: new Date().toISOString(),
      }]),
    counts: () =>
      fail ? Promise.reject(new Error("connection refused")) : Promise.resolve({
        passed: 40,
        failed: 9,
        unverified: 0,
        aborted: 1,
        incomplete: 1,
        inProgress: 3,
        total: 54,
      }),
  };
  await using d = startDashboard({ port: 0, journal, flushMs: 5 });
  await d.idle();
  let s = d.snapshot();
  assert.equal(s.stats.source, "journal");
  assert.deepEqual([s.stats.passed, s.stats.failed, s.stats.inProgress], [40, 10, 3]);
  assert.equal(s.stats.yield, 0.8);
  assert.equal(s.failures[0].station, "line-9");
  assert.equal(s.failures[0].code, "E_MD5");
  fail = true;
  d.publish({ type: "device-start", port: "p" });
  await d.idle();
  s = d.snapshot();
  assert.match(s.stats.journalError ?? "", /connection refused/);
  assert.equal(s.stats.passed, 40); // the last good numbers stay
  const r = await fetch(`${d.url}api/search?q=x`);
  assert.equal(r.status, 400);
  await r.body?.cancel();
});

// ---------------------------------------------------------------------------
// A real browser watching a virtual station

/** Runs in the page (Playwright sends its source): the element's computed background colour. */
function backgroundOf(element: unknown): string {
  const page = globalThis as unknown as {
    getComputedStyle(e: unknown): { backgroundColor: string };
  };
  return page.getComputedStyle(element).backgroundColor;
}

const data = new Uint8Array(48 * 1024).map((_, i) => (i * 29) & 0xff);

externalTest({
  name:
    "browser: the page follows 4 virtual boards live, shows a failure in red, finds a board by MAC and serial",
  needs: [chromium()],
  async fn() {
    await Deno.mkdir(".tmp", { recursive: true });
    await using journal = await openJournal(":memory:");
    await using dashboard = startDashboard({
      port: 0,
      journal,
      station: "line-1",
      flushMs: 50,
      shiftStarts: ["00:00"],
    });
    await using browser = await launchBrowser();
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await page.goto(dashboard.url);
    await page.locator('#conn[data-live="true"]').waitFor();
    assert.match(await page.locator("#stations").textContent() ?? "", /No station has sent/);

    const ports = [1, 2, 3, 4].map((i) =>
      `sim://${["esp32", "esp32c3", "esp32s3", "esp32c6"][i - 1]}?mac=02:00:00:00:00:0${i}`
    );
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const run = runStation(ports, async ({ device, port, stage, note, log }) => {
      stage("flash");
      await device.flash([{ address: 0x10000, data }], { resume: true });
      log("held by the test until the page shows every board");
      await gate;
      stage("selftest");
      const serial = await journal.allocateSerial(await device.readMac());
      note({ serial });
      if (port === ports[3]) throw new EsplineError("E_SELFTEST", `supply current ${HOSTILE}`);
    }, { journal, station: "line-1", dashboard });

    // While the boards are held after their write, every tile is running, with its progress bar
    // and the board's identity (the station's device-info event).
    for (const [i, p] of ports.entries()) {
      const tile = page.locator(`.tile[data-port="${p}"][data-state="running"]`).filter({
        hasText: "held by the test",
      });
      await tile.waitFor();
      assert.match(await tile.textContent() ?? "", /stage: flash/);
      assert.ok((await tile.textContent() ?? "").includes(`02:00:00:00:00:0${i + 1}`));
      assert.equal(await tile.locator(".bar").count(), 1);
      assert.match(await tile.locator(".plabel").textContent() ?? "", /%/);
    }
    assert.equal(await page.locator('[data-stat="inProgress"] .v').textContent(), "4");
    await page.screenshot({ path: ".tmp/dashboard_running.png", fullPage: true });

    release();
    const summary = await run;
    assert.equal(summary.passed, 3);
    assert.equal(summary.failed, 1);
    for (const [i, p] of ports.slice(0, 3).entries()) {
      const tile = page.locator(`.tile[data-port="${p}"][data-state="passed"]`);
      await tile.waitFor();
      // The serial the job noted is on the tile (the station's note event).
      const mac = `02:00:00:00:00:0${i + 1}`;
      const serial = (await journal.history(mac))[0].fields.serial as string;
      assert.ok((await tile.textContent() ?? "").includes(serial), serial);
    }
    const bad = page.locator(`.tile[data-port="${ports[3]}"][data-state="failed"]`);
    await bad.waitFor();
    // Red, with its stage and error; the board's text stays text.
    const badText = await bad.textContent() ?? "";
    assert.match(badText, /FAIL/);
    assert.match(badText, /stage: selftest/);
    assert.ok(badText.includes(`E_SELFTEST: supply current ${HOSTILE}`), badText);
    const colour = await bad.evaluate(backgroundOf);
    assert.equal(colour, "rgb(199, 48, 43)");
    const passColour = await page.locator(`.tile[data-port="${ports[0]}"]`).evaluate(backgroundOf);
    assert.equal(passColour, "rgb(31, 143, 69)");
    assert.equal(await page.locator(".tile img, .tile script").count(), 0);
    assert.equal(await page.evaluate("window.__xss"), undefined);

    // Counts and failures (from the journal).
    await page.locator('[data-stat="passed"] .v').filter({ hasText: "3" }).waitFor();
    assert.equal(await page.locator('[data-stat="failed"] .v').textContent(), "1");
    assert.equal(await page.locator('[data-stat="yield"] .v').textContent(), "75.0 %");
    const failureRow = page.locator("#failures tr").filter({ hasText: "02:00:00:00:00:04" });
    await failureRow.waitFor();
    assert.match(await failureRow.textContent() ?? "", /selftest.*E_SELFTEST/);

    // Search by MAC, then by serial.
    await page.fill("#q", "02:00:00:00:00:02");
    await page.click("#searchform button");
    const hit = page.locator('#results tr[data-mac="02:00:00:00:00:02"]');
    await hit.waitFor();
    assert.match(await hit.textContent() ?? "", /passed/);
    const serial = (await journal.history("02:00:00:00:00:03"))[0].fields.serial as string;
    await page.fill("#q", serial);
    await page.click("#searchform button");
    await page.locator('#results tr[data-mac="02:00:00:00:00:03"]').waitFor();
    await page.fill("#q", "02:00:00:00:00:02");
    await page.click("#searchform button");
    await hit.waitFor();
    await page.screenshot({ path: ".tmp/dashboard.png", fullPage: true });

    // A browser opened now sees the same board states at once.
    const late = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await late.goto(dashboard.url);
    await late.locator(`.tile[data-port="${ports[3]}"][data-state="failed"]`).waitFor();
    assert.equal(await late.locator('.tile[data-state="passed"]').count(), 3);
    await late.close();
    await page.close();
  },
});

externalTest({
  name: "browser: the page reconnects by itself after the dashboard server restarts",
  needs: [chromium()],
  async fn() {
    const first = startDashboard({ port: 0, station: "line-1", flushMs: 20 });
    const port = first.port;
    first.publish({ type: "device-start", port: "/dev/ttyUSB0" });
    await using browser = await launchBrowser();
    const page = await browser.newPage();
    await page.goto(first.url);
    await page.locator('.tile[data-port="/dev/ttyUSB0"][data-state="running"]').waitFor();
    await first.close();
    await page.locator('#conn[data-live="false"]').waitFor();
    assert.equal(await page.evaluate("document.body.dataset.stale"), "true");
    // A new server process on the same port: the page comes back without a reload.
    await using second = startDashboard({ port, station: "line-1", flushMs: 20 });
    second.publish({ type: "device-start", port: "/dev/ttyUSB1" });
    second.publish({
      type: "device-end",
      port: "/dev/ttyUSB1",
      outcome: { result: "passed", stage: "done", seconds: 1 },
    } as never);
    await page.locator('.tile[data-port="/dev/ttyUSB1"][data-state="passed"]').waitFor({
      timeout: 20_000,
    });
    await page.locator('#conn[data-live="true"]').waitFor();
    // The restarted server's state replaces the old one.
    assert.equal(await page.locator('.tile[data-port="/dev/ttyUSB0"]').count(), 0);
    await page.close();
  },
});

Deno.test("demo line: a round of virtual boards reaches the dashboard as fixture slots and the journal", async () => {
  await using journal = await openJournal(":memory:");
  await using d = startDashboard({ port: 0, journal, flushMs: 5 });
  await runDemoLine({ events: (station) => d.onEvent(station), journal }, {
    stations: 1,
    ports: 2,
    rounds: 1,
    failRate: 1,
    pauseMs: 0,
  });
  await d.idle();
  const s = d.snapshot();
  assert.deepEqual(s.tiles.map((t) => [t.port, t.state]), [
    ["slot 1 (sim://esp32c3)", "failed"],
    ["slot 2 (sim://esp32s3)", "failed"],
  ]);
  assert.equal(s.stats.failed, 2);
  assert.equal(s.failures.length, 2);
  assert.match(s.failures[0].port, /^sim:\/\/esp32/); // the journal keeps the real port
});

Deno.test({
  name:
    "server: close() returns even when a browser stopped reading, and that browser is dropped first",
  // The stalled socket is left to the OS on purpose (Deno.serve has no forced shutdown).
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const d = startDashboard({
      port: 0,
      flushMs: 1,
      closeTimeoutMs: 200,
      limits: { queuedPerClient: 20, textChars: 20_000 },
    });
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: d.port });
    await conn.write(new TextEncoder().encode(`GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`));
    while (d.clients === 0) await new Promise((r) => setTimeout(r, 5));
    // 100 KB per change and a client that never reads: the socket fills, then the queue.
    for (let i = 0; i < 400 && d.clients > 0; i++) {
      d.publish({ type: "device-log", port: "p", message: String(i).repeat(20_000) } as never);
      await new Promise((r) => setTimeout(r, 2));
    }
    assert.equal(d.clients, 0);
    await d.close();
    conn.close();
  },
});

// ---------------------------------------------------------------------------
// Stations in other processes

Deno.test("forwardEvents: stations in other processes share one dashboard; progress is coalesced", async () => {
  const token = "line-token-0123456789";
  await using d = startDashboard({ port: 0, token, flushMs: 5 });
  const posted: number[] = [];
  const realFetch = globalThis.fetch;
  await using a = forwardEvents(d.url, { token, station: "line-2", flushMs: 5 });
  await using b = forwardEvents(d.url, { token, station: "line-3", flushMs: 5 });
  globalThis.fetch = (input, init) => {
    posted.push(JSON.parse(String(init?.body)).events.length);
    return realFetch(input, init);
  };
  try {
    a.onEvent({ type: "device-start", port: "/dev/ttyUSB0" });
    for (let done = 0; done <= 100; done += 10) {
      a.onEvent({ type: "progress", port: "/dev/ttyUSB0", label: "w", done, total: 100 } as never);
    }
    a.onEvent({ type: "trace", port: "/dev/ttyUSB0", bytes: new Uint8Array(4) } as never);
    b.onEvent({ type: "device-start", port: "COM4" });
    b.onEvent({
      type: "device-end",
      port: "COM4",
      outcome: { result: "passed", stage: "done", seconds: 1 },
    } as never);
    await a.flush();
    await b.flush();
  } finally {
    globalThis.fetch = realFetch;
  }
  await d.idle();
  assert.deepEqual(posted.sort(), [2, 2]); // start + the newest progress; start + end
  const t = d.snapshot().tiles.map((t) => [t.station, t.port, t.state, t.progress?.done ?? null]);
  assert.deepEqual(t, [
    ["line-2", "/dev/ttyUSB0", "running", 100],
    ["line-3", "COM4", "passed", null],
  ]);
});

Deno.test("forwardEvents: while the dashboard is down, state changes wait and arrive when it is back", async () => {
  const token = "line-token-0123456789";
  const port = freePort();
  const errors: string[] = [];
  await using f = forwardEvents(`http://127.0.0.1:${port}/`, {
    token,
    station: "line-5",
    flushMs: 5,
    onError: (e) => errors.push(e.message),
  });
  f.onEvent({ type: "device-start", port: "p1" });
  f.onEvent({ type: "progress", port: "p1", label: "w", done: 5, total: 10 } as never);
  f.onEvent({ type: "device-log", port: "p1", message: "lost while down" } as never);
  f.onEvent({
    type: "device-end",
    port: "p1",
    outcome: { result: "fail", stage: "flash", error: { code: "E_X", message: "x" } },
  } as never);
  await f.flush();
  assert.equal(errors.length, 1);
  await using d = startDashboard({ port, token, flushMs: 5 });
  await f.flush();
  await d.idle();
  const [tile] = d.snapshot().tiles;
  assert.equal(tile.station, "line-5");
  assert.equal(tile.state, "failed");
  assert.deepEqual(tile.log, []); // log lines of the outage are dropped, the outcome is not
});

Deno.test("server: api/events takes only the token in a header, on a dashboard that has one, and bounded bodies", async () => {
  const body = JSON.stringify({ station: "x", events: [{ type: "device-start", port: "p" }] });
  {
    await using open = startDashboard({ port: 0 });
    const r = await fetch(`${open.url}api/events`, { method: "POST", body });
    assert.equal(r.status, 403);
    assert.match(await r.text(), /only when it has a token/);
  }
  const token = "line-token-0123456789";
  await using d = startDashboard({ port: 0, token });
  const post = (init: RequestInit) => fetch(`${d.url}api/events`, { method: "POST", ...init });
  let r = await post({ body, headers: { cookie: `espline_dashboard=${token}` } });
  assert.equal(r.status, 401);
  await r.body?.cancel();
  r = await post({ body: "{", headers: { authorization: `Bearer ${token}` } });
  assert.equal(r.status, 400);
  await r.body?.cancel();
  r = await post({
    body: "x".repeat(2 * 1024 * 1024),
    headers: { authorization: `Bearer ${token}` },
  });
  assert.equal(r.status, 413);
  await r.body?.cancel();
  const many = JSON.stringify({
    station: "x",
    events: Array.from({ length: 501 }, () => ({ type: "device-start", port: "p" })),
  });
  r = await post({ body: many, headers: { authorization: `Bearer ${token}` } });
  assert.equal(r.status, 413);
  await r.body?.cancel();
  assert.equal(d.snapshot().tiles.length, 0);
  r = await post({ body, headers: { authorization: `Bearer ${token}` } });
  assert.equal(r.status, 204);
  await d.idle();
  assert.equal(d.snapshot().tiles[0].station, "x");
});
