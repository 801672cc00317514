/**
 * The dashboard page: one HTML document with its CSS and script inline, no
 * build step and nothing fetched from elsewhere (a factory floor has no
 * internet). Everything that comes from boards and scripts reaches the page
 * as JSON and is put into it with `textContent`, never parsed as HTML; the
 * Content-Security-Policy allows only this script and this style, by hash.
 *
 * @module
 */

import { createHash } from "node:crypto";

const STYLE = String.raw`
:root { color-scheme: dark; --bg: #11151a; --panel: #1b2129; --line: #2c3440; --text: #e8edf2;
  --dim: #9aa6b2; --pass: #1f8f45; --fail: #c7302b; --run: #28527a; --warn: #b7791f; --idle: #3a424d; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text);
  font: 15px/1.35 "DejaVu Sans", "Liberation Sans", Arial, sans-serif; }
header { display: flex; align-items: center; gap: 18px; padding: 10px 18px; background: var(--panel);
  border-bottom: 1px solid var(--line); }
header h1 { font-size: 20px; margin: 0; font-weight: 600; }
#conn { margin-left: auto; display: flex; align-items: center; gap: 8px; font-size: 14px; }
#conn .dot { width: 12px; height: 12px; border-radius: 50%; background: var(--warn); }
#conn[data-live="true"] .dot { background: #3ccf6e; }
#clock { font-variant-numeric: tabular-nums; color: var(--dim); }
#banner { display: none; padding: 8px 18px; background: var(--warn); color: #111; font-weight: 600; }
#banner[data-show="true"] { display: block; }
body[data-stale="true"] main { opacity: 0.45; filter: grayscale(0.7); }
main { padding: 14px 18px 40px; }
.stats { display: grid; grid-template-columns: repeat(6, minmax(120px, 1fr)); gap: 10px; margin-bottom: 8px; }
.stat { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 8px 12px; }
.stat .v { font-size: 34px; font-weight: 700; font-variant-numeric: tabular-nums; }
.stat .k { color: var(--dim); font-size: 13px; text-transform: uppercase; letter-spacing: .05em; }
.stat.pass .v { color: #5fe08a; } .stat.fail .v { color: #ff7a72; }
#source { color: var(--dim); font-size: 13px; margin: 0 0 12px; }
h2 { font-size: 16px; margin: 18px 0 8px; color: var(--dim); font-weight: 600; }
.tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(290px, 1fr)); gap: 12px; }
.tile { border-radius: 10px; padding: 10px 12px; background: var(--idle); min-height: 168px; cursor: pointer;
  border: 3px solid transparent; overflow: hidden; }
.tile[data-state="running"] { background: var(--run); }
.tile[data-state="passed"] { background: var(--pass); }
.tile[data-state="failed"], .tile[data-state="unverified"] { background: var(--fail); }
.tile[data-state="aborted"] { background: var(--warn); color: #111; }
.tile .port { font-family: "DejaVu Sans Mono", monospace; font-size: 12.5px; white-space: nowrap;
  overflow: hidden; text-overflow: ellipsis; opacity: .9; }
.tile .big { font-size: 30px; font-weight: 800; letter-spacing: .03em; margin: 2px 0; }
.tile .ids { font-family: "DejaVu Sans Mono", monospace; font-size: 14px; min-height: 19px; }
.tile .stage { font-size: 14px; margin-top: 4px; }
.tile .bar { height: 10px; background: rgba(0,0,0,.35); border-radius: 5px; margin: 5px 0 3px; overflow: hidden; }
.tile .bar > div { height: 100%; background: #e8edf2; width: 0; }
.tile .plabel { font-size: 12px; opacity: .85; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.tile .err { font-size: 13px; font-weight: 600; margin-top: 4px; display: -webkit-box; -webkit-line-clamp: 3;
  -webkit-box-orient: vertical; overflow: hidden; overflow-wrap: anywhere; }
.tile .last, .tile .logline { font-size: 12px; opacity: .85; margin-top: 4px; white-space: nowrap;
  overflow: hidden; text-overflow: ellipsis; }
.cols > section { min-width: 0; margin-top: 6px; }
table { width: 100%; border-collapse: collapse; font-size: 13px; table-layout: fixed; }
th, td { text-align: left; padding: 5px 6px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--dim); font-weight: 600; }
td.mono { font-family: "DejaVu Sans Mono", monospace; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.w-time { width: 100px; } .w-st { width: 90px; } .w-port { width: 22%; } .w-mac { width: 150px; }
.w-ser { width: 110px; } .w-stage { width: 90px; } .w-res { width: 90px; }
td.msg { overflow-wrap: anywhere; }
td.r-passed { color: #5fe08a; font-weight: 700; } td.r-failed, td.r-incomplete, td.r-unverified { color: #ff7a72; font-weight: 700; }
form { display: flex; gap: 8px; margin-bottom: 8px; }
input[type=search] { flex: 1; font: inherit; padding: 7px 10px; border-radius: 6px; border: 1px solid var(--line);
  background: #0c0f13; color: var(--text); }
button { font: inherit; padding: 7px 14px; border-radius: 6px; border: 0; background: #3b6ea5; color: #fff; cursor: pointer; }
.empty { color: var(--dim); font-size: 13px; padding: 6px 0; }
#detail { display: none; position: fixed; inset: 8% 10%; background: var(--panel); border: 1px solid var(--line);
  border-radius: 10px; padding: 14px; overflow: auto; box-shadow: 0 10px 40px #000a; }
#detail[data-show="true"] { display: block; }
#detail pre { white-space: pre-wrap; overflow-wrap: anywhere; font-size: 12.5px; }
`;

const SCRIPT = String.raw`
"use strict";
const tiles = new Map();
let failures = [];
let stats = null;
let info = null;
let es = null;
let lastMessage = 0;
let staleSince = null;
const $ = (id) => document.getElementById(id);

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}
function time(ms) { return ms ? new Date(ms).toLocaleTimeString() : ""; }
function isoTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString() : d.toLocaleString();
}
const WORD = { idle: "IDLE", running: "RUNNING", passed: "PASS", failed: "FAIL", unverified: "UNVERIFIED", aborted: "ABORTED" };

function renderTile(t) {
  const d = el("div", "tile");
  d.dataset.key = t.key;
  d.dataset.state = t.state;
  d.dataset.port = t.port;
  d.dataset.station = t.station;
  d.title = t.port;
  const top = el("div", "port", t.port);
  d.append(top);
  d.append(el("div", "big", WORD[t.state] || t.state));
  const ids = [t.chip, t.mac, t.serial].filter((x) => x).join("  ·  ");
  d.append(el("div", "ids", ids));
  const stage = el("div", "stage", "stage: " + (t.stage || "—"));
  if (t.state === "running" && t.startedAt) {
    const s = el("span", "elapsed");
    s.dataset.started = String(t.startedAt);
    stage.append("  ", s);
  }
  d.append(stage);
  if (t.progress && t.state === "running") {
    const pct = t.progress.total > 0 ? Math.min(100, Math.floor(t.progress.done * 100 / t.progress.total)) : 0;
    const bar = el("div", "bar");
    const fill = el("div");
    fill.style.width = pct + "%";
    bar.append(fill);
    bar.dataset.pct = String(pct);
    d.append(bar, el("div", "plabel", t.progress.label + "  " + pct + " %"));
  }
  if ((t.state === "failed" || t.state === "unverified" || t.state === "aborted") && t.last && t.last.error) {
    d.append(el("div", "err", t.last.error.code + ": " + t.last.error.message));
  }
  const busy = t.state === "running" || t.state === "idle";
  if (t.last && busy) {
    // The board on the port now is new: show how the one before it ended.
    const l = t.last;
    d.append(el("div", "last", "last: " + (WORD[l.result] || l.result) + "  " + (l.mac || "") +
      "  " + l.seconds.toFixed(1) + " s  at " + time(l.endedAt) +
      (l.error ? "  (" + l.stage + ": " + l.error.code + ")" : "")));
  } else if (t.last) {
    d.append(el("div", "last", t.last.seconds.toFixed(1) + " s, ended " + time(t.last.endedAt) +
      "  ·  " + t.boards + (t.boards === 1 ? " board" : " boards") + " here"));
  }
  if (t.log && t.log.length) d.append(el("div", "logline", t.log[t.log.length - 1]));
  d.addEventListener("click", () => showDetail(t.key));
  return d;
}

function renderTiles() {
  const root = $("stations");
  const groups = new Map();
  const sorted = [...tiles.values()].sort((a, b) =>
    a.station.localeCompare(b.station) || a.port.localeCompare(b.port, undefined, { numeric: true }));
  for (const t of sorted) {
    if (!groups.has(t.station)) groups.set(t.station, []);
    groups.get(t.station).push(t);
  }
  const frag = document.createDocumentFragment();
  for (const [station, list] of groups) {
    const h = el("h2", "", station + "  (" + list.length + " ports)");
    const grid = el("div", "tiles");
    grid.dataset.station = station;
    for (const t of list) grid.append(renderTile(t));
    frag.append(h, grid);
  }
  if (groups.size === 0) frag.append(el("div", "empty", "No station has sent anything yet."));
  root.replaceChildren(frag);
  tickElapsed();
}

function updateTile(t) {
  const had = tiles.has(t.key);
  tiles.set(t.key, t);
  const old = had ? document.querySelector('.tile[data-key="' + CSS.escape(t.key) + '"]') : null;
  if (old) old.replaceWith(renderTile(t));
  else renderTiles();
  tickElapsed();
}

function fmtPct(x) { return x === null || x === undefined ? "—" : (x * 100).toFixed(1) + " %"; }
function renderStats() {
  if (!stats) return;
  const set = (k, v) => { const e = document.querySelector('[data-stat="' + k + '"] .v'); if (e) e.textContent = String(v); };
  set("passed", stats.passed);
  set("failed", stats.failed + stats.unverified);
  set("yield", fmtPct(stats.yield));
  set("perHour", stats.perHour === null ? "—" : stats.perHour);
  set("inProgress", stats.inProgress);
  set("aborted", stats.aborted);
  $("shift").textContent = "shift since " +
    new Date(stats.since).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  $("source").textContent = stats.source === "journal"
    ? "Counts and failures from the journal (every station writing to it)."
    : "Counts and failures from this dashboard's stations since it started (no journal attached).";
  showBanner(stats.journalError ? "Journal unreachable: " + stats.journalError + " (numbers may be old)" : null);
}

function renderFailures() {
  const body = $("failures");
  const rows = failures.map((f) => {
    const tr = el("tr");
    const port = el("td", "mono", f.port);
    port.title = f.port;
    tr.append(el("td", "mono", time(f.at)), el("td", "", f.station), port,
      el("td", "mono", f.mac || "—"), el("td", "mono", f.serial || ""), el("td", "", f.stage),
      el("td", "msg", (f.code ? f.code + ": " : "") + f.message));
    return tr;
  });
  body.replaceChildren(...rows);
  $("nofailures").style.display = rows.length ? "none" : "block";
}

function showBanner(text) {
  const b = $("banner");
  b.textContent = text || "";
  b.dataset.show = text ? "true" : "false";
}

function setLive(live) {
  const c = $("conn");
  c.dataset.live = live ? "true" : "false";
  document.body.dataset.stale = live ? "false" : "true";
  if (live) { staleSince = null; $("conntext").textContent = "live"; }
  else {
    if (staleSince === null) staleSince = Date.now();
    $("conntext").textContent = "reconnecting… (data from " + time(staleSince) + ")";
  }
}

function onMessage(handler) {
  return (ev) => {
    lastMessage = Date.now();
    let data;
    try { data = JSON.parse(ev.data); } catch { return; }
    handler(data);
  };
}

function connect() {
  if (es) es.close();
  es = new EventSource("events");
  es.addEventListener("snapshot", onMessage((s) => {
    info = s.info;
    tiles.clear();
    for (const t of s.tiles) tiles.set(t.key, t);
    failures = s.failures;
    stats = s.stats;
    $("searchnote").textContent = info.journal ? "" : "No journal attached: search is off.";
    renderTiles(); renderStats(); renderFailures();
    setLive(true);
  }));
  es.addEventListener("tile", onMessage(updateTile));
  es.addEventListener("tile-removed", onMessage((k) => { tiles.delete(k.key); renderTiles(); }));
  es.addEventListener("stats", onMessage((s) => { stats = s; renderStats(); }));
  es.addEventListener("failures", onMessage((f) => { failures = f; renderFailures(); }));
  es.addEventListener("ping", onMessage(() => {}));
  es.onerror = () => {
    setLive(false);
    if (es && es.readyState === EventSource.CLOSED) { es = null; setTimeout(connect, 3000); }
  };
}

// A stream that went silent (no ping for 3 heartbeats) is dead even if the socket is not.
setInterval(() => {
  const hb = info ? info.heartbeatMs : 15000;
  if (lastMessage && Date.now() - lastMessage > 3 * hb) { lastMessage = Date.now(); setLive(false); connect(); }
}, 2000);

function tickElapsed() {
  for (const s of document.querySelectorAll(".elapsed")) {
    s.textContent = Math.max(0, (Date.now() - Number(s.dataset.started)) / 1000).toFixed(0) + " s";
  }
}
setInterval(() => { $("clock").textContent = new Date().toLocaleTimeString(); tickElapsed(); }, 1000);

async function search(q) {
  const out = $("results");
  const note = $("searchnote");
  if (!q.trim()) { out.replaceChildren(); note.textContent = ""; return; }
  note.textContent = "searching…";
  try {
    const r = await fetch("api/search?q=" + encodeURIComponent(q), { credentials: "same-origin" });
    const body = await r.json();
    if (!r.ok) { note.textContent = body.error || ("search failed: HTTP " + r.status); out.replaceChildren(); return; }
    note.textContent = body.records.length ? body.records.length + " record(s)" : "no board matches " + q;
    out.replaceChildren(...body.records.map((x) => {
      const tr = el("tr");
      tr.dataset.mac = x.mac || "";
      const res = el("td", "r-" + x.result, x.result);
      const where = el("td", "mono", (x.station || "") + " " + x.port);
      where.title = x.port;
      tr.append(el("td", "mono", x.mac || "—"), el("td", "mono", x.serial || ""),
        where, res, el("td", "", x.stage || ""),
        el("td", "msg", x.errorCode ? x.errorCode + ": " + (x.errorMessage || "") : ""),
        el("td", "mono", isoTime(x.endedAt || x.startedAt)));
      return tr;
    }));
  } catch (e) {
    note.textContent = "search failed: " + e;
  }
}

async function showDetail(key) {
  const box = $("detail");
  const pre = $("detaillog");
  try {
    const r = await fetch("api/tile?key=" + encodeURIComponent(key), { credentials: "same-origin" });
    if (!r.ok) return;
    const t = await r.json();
    $("detailtitle").textContent = t.station + "  " + t.port;
    const lines = [];
    if (t.last && t.last.error) lines.push("last error (" + t.last.stage + "): " + t.last.error.code + ": " + t.last.error.message, "");
    lines.push(...t.log);
    pre.textContent = lines.join("\n") || "(no log lines)";
    box.dataset.show = "true";
  } catch { /* the stream banner tells about a lost server */ }
}

document.addEventListener("DOMContentLoaded", () => {
  $("searchform").addEventListener("submit", (e) => { e.preventDefault(); search($("q").value); });
  $("detail").addEventListener("click", () => { $("detail").dataset.show = "false"; });
  document.addEventListener("keydown", (e) => { if (e.key === "Escape") $("detail").dataset.show = "false"; });
  $("clock").textContent = new Date().toLocaleTimeString();
  setLive(false);
  connect();
});
`;

function sha256Base64(text: string): string {
  return createHash("sha256").update(text).digest("base64");
}

/** The page's HTML. */
export const PAGE_HTML: string = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>espline line dashboard</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
<script>${SCRIPT}</script>
</head>
<body data-stale="true">
<header>
  <h1>espline line dashboard</h1>
  <span id="shift"></span>
  <div id="conn" data-live="false"><span class="dot"></span><span id="conntext">connecting…</span></div>
  <span id="clock"></span>
</header>
<div id="banner" data-show="false"></div>
<main>
  <section class="stats">
    <div class="stat pass" data-stat="passed"><div class="v">0</div><div class="k">passed</div></div>
    <div class="stat fail" data-stat="failed"><div class="v">0</div><div class="k">failed</div></div>
    <div class="stat" data-stat="yield"><div class="v">—</div><div class="k">yield</div></div>
    <div class="stat" data-stat="perHour"><div class="v">—</div><div class="k">boards / hour</div></div>
    <div class="stat" data-stat="inProgress"><div class="v">0</div><div class="k">in progress</div></div>
    <div class="stat" data-stat="aborted"><div class="v">0</div><div class="k">aborted</div></div>
  </section>
  <p id="source"></p>
  <section id="stations"></section>
  <div class="cols">
    <section>
      <h2>Last failures</h2>
      <table><thead><tr><th class="w-time">time</th><th class="w-st">station</th><th class="w-port">port</th><th class="w-mac">MAC</th><th class="w-ser">serial</th><th class="w-stage">stage</th><th>error</th></tr></thead>
      <tbody id="failures"></tbody></table>
      <div class="empty" id="nofailures">No failures this shift.</div>
    </section>
    <section>
      <h2>Find a board</h2>
      <form id="searchform"><input id="q" type="search" placeholder="MAC (or its end) or serial" maxlength="64" autocomplete="off"><button type="submit">Search</button></form>
      <div class="empty" id="searchnote"></div>
      <table><thead><tr><th class="w-mac">MAC</th><th class="w-ser">serial</th><th class="w-port">station / port</th><th class="w-res">result</th><th class="w-stage">stage</th><th>error</th><th class="w-time">when</th></tr></thead>
      <tbody id="results"></tbody></table>
    </section>
  </div>
</main>
<div id="detail" data-show="false"><h2 id="detailtitle"></h2><pre id="detaillog"></pre></div>
</body>
</html>
`;

/** The Content-Security-Policy for {@link PAGE_HTML}: its own inline script and style, by hash, nothing else. */
export const PAGE_CSP: string = [
  "default-src 'none'",
  `script-src 'sha256-${sha256Base64(SCRIPT)}'`,
  `style-src 'sha256-${sha256Base64(STYLE)}'`,
  "connect-src 'self'",
  "img-src data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");
