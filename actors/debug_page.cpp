#include "actors/debug_page.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace dbuser::actors {

namespace {

// The page. Data flow: load() fetches /debug/actors (JSON), render() rebuilds the tree from it
// and the filters; every value goes in through textContent or an attribute, never innerHTML.
const char* const page = R"html(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>dbuser-operator: actors</title>
<style>
  :root { --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --muted: #57606a; --line: #d0d7de; }
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1f2328; background: #f6f8fa; }
  header { background: #24292f; color: #fff; padding: 10px 16px; display: flex; gap: 24px;
           align-items: baseline; flex-wrap: wrap; }
  header h1 { font-size: 16px; margin: 0; }
  header .meta { color: #c9d1d9; font-size: 12px; }
  main { padding: 12px 16px; }
  .bar { display: flex; gap: 12px; align-items: center; flex-wrap: wrap; margin-bottom: 12px; }
  .bar label { font-size: 12px; color: var(--muted); }
  input, select, button { font: inherit; padding: 3px 6px; }
  section { background: #fff; border: 1px solid var(--line); border-radius: 6px; margin-bottom: 12px; }
  section > h2 { font-size: 14px; margin: 0; padding: 8px 12px; border-bottom: 1px solid var(--line);
                 background: #f6f8fa; }
  details { padding: 4px 12px; }
  summary { cursor: pointer; padding: 4px 0; font-weight: 600; }
  table { border-collapse: collapse; width: 100%; margin: 4px 0 8px; }
  th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
  th { font-size: 12px; color: var(--muted); font-weight: 600; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  td.name, td.phase-cell { white-space: nowrap; }
  td.err { color: var(--bad); max-width: 48ch; overflow-wrap: anywhere; }
  .phase { display: inline-block; padding: 0 6px; border-radius: 10px; font-size: 12px; font-weight: 600;
           border: 1px solid currentColor; }
  .phase-Idle { color: var(--ok); } .phase-Refused { color: var(--bad); }
  .phase-Backoff { color: var(--warn); } .phase-Reconciling, .phase-Deleting { color: #0969da; }
  .phase-Stopped { color: var(--muted); }
  .empty { color: var(--muted); padding: 8px 12px; }
  #status.error { color: #ffb4b4; }
  .kv { display: grid; grid-template-columns: max-content auto; gap: 2px 12px; padding: 8px 12px; }
  .kv dt { color: var(--muted); } .kv dd { margin: 0; }
</style>
</head>
<body>
<header>
  <h1>dbuser-operator &mdash; supervision tree</h1>
  <span class="meta" id="status">loading&hellip;</span>
  <span class="meta">data: <a id="json-link" href="/debug/actors?format=json" style="color:#9ecbff">/debug/actors (JSON)</a></span>
</header>
<main>
  <div class="bar">
    <label>namespace <select id="f-ns"><option value="">all</option></select></label>
    <label>phase <select id="f-phase">
      <option value="">all</option><option>Idle</option><option>Reconciling</option>
      <option>Backoff</option><option>Refused</option><option>Deleting</option><option>Stopped</option>
      <option value="!ready">not ready</option>
    </select></label>
    <label>text <input id="f-text" type="search" placeholder="name, error, target&hellip;" size="28"></label>
    <label><input id="f-auto" type="checkbox" checked> refresh every
      <select id="f-every"><option value="2">2 s</option><option value="5" selected>5 s</option>
      <option value="15">15 s</option><option value="60">60 s</option></select></label>
    <button id="f-now" type="button">refresh now</button>
    <span id="shown" class="meta"></span>
  </div>
  <section id="managers-section"><h2>User managers and their supervisors</h2><div id="managers"></div></section>
  <section id="pools-section"><h2>Database pools (one per target)</h2><div id="pools"></div></section>
  <section id="leader-section"><h2>Leader election</h2><dl class="kv" id="leader"></dl></section>
  <section id="counters-section"><h2>Counters</h2><dl class="kv" id="counters"></dl></section>
</main>
<script>
"use strict";
let data = null, timer = null;
const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== null && v !== undefined) e.setAttribute(k, String(v));
  }
  for (const c of children) {
    e.append(c instanceof Node ? c : document.createTextNode(c === null || c === undefined ? "" : String(c)));
  }
  return e;
}

function when(t) {
  if (!t) return "\u2014";
  const d = new Date(t), s = Math.round((d.getTime() - Date.now()) / 1000);
  const rel = Math.abs(s) < 90 ? Math.abs(s) + " s" : Math.abs(s) < 5400 ? Math.round(Math.abs(s) / 60) + " min"
            : Math.round(Math.abs(s) / 3600) + " h";
  return (s >= 0 ? "in " + rel : rel + " ago") + " (" + d.toISOString().replace(/\.\d+Z$/, "Z") + ")";
}

function supervisorPath(s) {
  return "/debug/actors/" + encodeURIComponent(s.namespace) + "/" + encodeURIComponent(s.name);
}

function matches(s, ns, phase, text) {
  if (ns && s.namespace !== ns) return false;
  if (phase === "!ready" && s.ready) return false;
  if (phase && phase !== "!ready" && s.phase !== phase) return false;
  if (text) {
    const hay = [s.key, s.kind, s.phase, s.last_error || "", s.last_result || ""].join(" ").toLowerCase();
    if (!hay.includes(text)) return false;
  }
  return true;
}

function supervisorRow(s) {
  const link = el("a", {href: supervisorPath(s), title: "this supervisor as JSON"}, s.name);
  return el("tr", {"data-key": s.key, "data-kind": s.kind, "data-phase": s.phase, "data-ready": s.ready},
    el("td", {class: "name"}, link),
    el("td", {class: "phase-cell"}, el("span", {class: "phase phase-" + s.phase}, s.phase)),
    el("td", {}, s.ready ? "yes" : "no"),
    el("td", {class: "num"}, s.attempts),
    el("td", {class: "num"}, s.restarts),
    el("td", {class: "err"}, s.last_error || ""),
    el("td", {}, s.next_retry ? when(s.next_retry) : "\u2014"),
    el("td", {}, when(s.last_success)),
    el("td", {}, when(s.rotation_due)));
}

function renderManagers(sups, ns, phase, text) {
  const root = $("managers");
  root.replaceChildren();
  const kinds = new Map([["PostgresUser", []], ["MySQLUser", []]]);
  for (const s of sups) {
    if (!kinds.has(s.kind)) kinds.set(s.kind, []);
    kinds.get(s.kind).push(s);
  }
  let shown = 0;
  for (const [kind, all] of kinds) {
    const visible = all.filter((s) => matches(s, ns, phase, text));
    shown += visible.length;
    const notReady = all.filter((s) => !s.ready).length;
    const det = el("details", {open: "", "data-manager": kind},
      el("summary", {}, "user_manager " + kind + ": " + all.length + " supervisors, " + notReady +
         " not ready" + (visible.length !== all.length ? ", " + visible.length + " shown" : "")));
    const byNs = new Map();
    for (const s of visible) {
      if (!byNs.has(s.namespace)) byNs.set(s.namespace, []);
      byNs.get(s.namespace).push(s);
    }
    for (const [n, list] of [...byNs].sort((a, b) => a[0].localeCompare(b[0]))) {
      const head = el("tr", {}, ...["name", "phase", "ready", "attempts", "restarts", "last error",
                                    "next retry", "last success", "rotation due"].map((h) => el("th", {}, h)));
      const table = el("table", {"data-namespace": n}, el("thead", {}, head),
                       el("tbody", {}, ...list.sort((a, b) => a.name.localeCompare(b.name)).map(supervisorRow)));
      det.append(el("details", {open: "", "data-ns": n}, el("summary", {}, "namespace " + n + " (" + list.length + ")"), table));
    }
    if (visible.length === 0) det.append(el("div", {class: "empty"}, all.length ? "no supervisor matches the filters" : "no supervisors"));
    root.append(det);
  }
  $("shown").textContent = shown + " of " + sups.length + " supervisors shown";
}

function renderPools(pools, text) {
  const root = $("pools");
  root.replaceChildren();
  const visible = pools.filter((p) => !text || p.target.toLowerCase().includes(text));
  if (!visible.length) { root.append(el("div", {class: "empty"}, pools.length ? "no pool matches" : "no pools yet")); return; }
  const cols = ["size", "busy", "idle", "waiting", "restarts", "jobs"];
  root.append(el("table", {},
    el("thead", {}, el("tr", {}, el("th", {}, "target"), ...cols.map((c) => el("th", {}, c)))),
    el("tbody", {}, ...visible.map((p) => el("tr", {"data-target": p.target}, el("td", {}, p.target),
      ...cols.map((c) => el("td", {class: "num"}, p[c])))))));
}

function renderKv(id, obj) {
  const root = $(id);
  root.replaceChildren();
  for (const [k, v] of Object.entries(obj)) {
    root.append(el("dt", {}, k), el("dd", {}, typeof v === "object" && v !== null ? JSON.stringify(v) : String(v)));
  }
}

function render() {
  if (!data) return;
  const ns = $("f-ns").value, phase = $("f-phase").value, text = $("f-text").value.trim().toLowerCase();
  const sups = data.supervisors || [];
  const namespaces = [...new Set(sups.map((s) => s.namespace))].sort();
  const sel = $("f-ns"), keep = sel.value;
  sel.replaceChildren(el("option", {value: ""}, "all"), ...namespaces.map((n) => el("option", {value: n}, n)));
  if (keep && !namespaces.includes(keep)) sel.append(el("option", {value: keep}, keep));
  sel.value = keep;
  renderManagers(sups, ns, phase, text);
  renderPools(data.pools || [], text);
  const l = data.leader || {};
  renderKv("leader", {election: l.enabled ? "enabled" : "disabled (this process reconciles)",
                      "this process leads": l.enabled ? (l.leader ? "yes" : "no") : "\u2014",
                      "API server reachable": l.enabled ? (l.healthy ? "yes" : "no") : "\u2014",
                      identity: l.identity || "\u2014", holder: l.holder || "\u2014"});
  renderKv("counters", data.counters || {});
}

async function load() {
  try {
    const r = await fetch("/debug/actors", {headers: {Accept: "application/json"}, cache: "no-store"});
    if (!r.ok) throw new Error("HTTP " + r.status);
    data = await r.json();
    $("status").textContent = "updated " + new Date().toLocaleTimeString();
    $("status").className = "meta";
    document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
    render();
  } catch (e) {
    $("status").textContent = "refresh failed: " + e.message;
    $("status").className = "meta error";
  }
}

function schedule() {
  if (timer) clearInterval(timer);
  timer = $("f-auto").checked ? setInterval(load, Number($("f-every").value) * 1000) : null;
}

function fromHash() {
  const p = new URLSearchParams(location.hash.slice(1));
  $("f-text").value = p.get("text") || "";
  if (p.get("phase") !== null) $("f-phase").value = p.get("phase");
  if (p.get("ns")) { $("f-ns").append(el("option", {value: p.get("ns")}, p.get("ns"))); $("f-ns").value = p.get("ns"); }
}

function toHash() {
  const p = new URLSearchParams();
  if ($("f-ns").value) p.set("ns", $("f-ns").value);
  if ($("f-phase").value) p.set("phase", $("f-phase").value);
  if ($("f-text").value) p.set("text", $("f-text").value);
  history.replaceState(null, "", p.toString() ? "#" + p : location.pathname);
  render();
}

for (const id of ["f-ns", "f-phase"]) $(id).addEventListener("change", toHash);
$("f-text").addEventListener("input", toHash);
$("f-auto").addEventListener("change", schedule);
$("f-every").addEventListener("change", schedule);
$("f-now").addEventListener("click", load);
fromHash();
load();
schedule();
</script>
</body>
</html>
)html";

// The q value of `type` (or its wildcard `family/*`) in an Accept header; -1 when not listed.
double quality(const std::string& accept, const std::string& type) {
  const std::string family = type.substr(0, type.find('/')) + "/*";
  double best = -1;
  std::size_t start = 0;
  while (start <= accept.size()) {
    auto end = accept.find(',', start);
    if (end == std::string::npos)
      end = accept.size();
    std::string item = accept.substr(start, end - start);
    start = end + 1;
    std::string media = item.substr(0, item.find(';'));
    media.erase(std::remove_if(media.begin(), media.end(), [](unsigned char c) { return std::isspace(c); }),
                media.end());
    std::transform(media.begin(), media.end(), media.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (media != type && media != family)
      continue;
    double q = 1;
    if (auto qp = item.find("q="); qp != std::string::npos)
      q = std::strtod(item.c_str() + qp + 2, nullptr);
    best = std::max(best, q);
  }
  return best;
}

} // namespace

const std::string& debug_page_html() {
  static const std::string html = page;
  return html;
}

const char* debug_page_csp() {
  return "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
         "connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; "
         "frame-ancestors 'none'";
}

bool accepts_html(const std::string& accept) {
  const double html = quality(accept, "text/html");
  return html > 0 && html >= quality(accept, "application/json");
}

} // namespace dbuser::actors
