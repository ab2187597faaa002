// The dashboard's single page: hash routes, one view per page, SVG and canvas drawn here.
"use strict";

const main = document.getElementById("main");
const statusLine = document.getElementById("status");
const PHASE_COLORS = { "task:get_arguments": "#f2b134", "task:execute": "#4c8df6", "task:store_outputs": "#43b581" };
let timer = null;

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "onclick" || k === "oninput" || k === "onchange") e[k] = v; else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c == null ? "" : String(c)));
  return e;
}

function svgEl(tag, attrs) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}

async function api(path) {
  const r = await fetch(path, { credentials: "same-origin" });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.error || ("HTTP " + r.status));
  return body;
}

function fmtS(x) { return x == null ? "-" : (x < 1e-3 ? (x * 1e6).toFixed(0) + " µs" : x < 1 ? (x * 1e3).toFixed(2) + " ms" : x.toFixed(2) + " s"); }
function fmtNum(x) { return x == null ? "-" : (Math.abs(x) >= 1000 ? x.toFixed(0) : (+x.toFixed(3)).toString()); }
function resStr(m) { return Object.entries(m || {}).map(([k, v]) => k + ": " + fmtNum(v)).join(", ") || "-"; }

function every(ms, f) {
  if (timer) clearInterval(timer);
  f();
  timer = setInterval(() => { if (!document.hidden) f(); }, ms);
}

function showError(where, e) { where.replaceChildren(el("p", { class: "error" }, String(e.message || e))); }

// A line chart: series = [{name, color, points: [[x, y], ...]}].
function lineChart(series, opts) {
  const W = opts.width || 900, H = opts.height || 250, L = 56, B = 40, T = 10, R = 40;
  const svg = svgEl("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, class: opts.cls || "" });
  const pts = series.flatMap(s => s.points).filter(p => p[1] != null && isFinite(p[1]));
  if (!pts.length) { const t = svgEl("text", { x: L, y: H / 2 }); t.textContent = "no data yet"; svg.append(t); return svg; }
  let x0 = Math.min(...pts.map(p => p[0])), x1 = Math.max(...pts.map(p => p[0]));
  let y0 = Math.min(0, ...pts.map(p => p[1])), y1 = Math.max(...pts.map(p => p[1]));
  if (opts.yMax != null) y1 = Math.max(y1, opts.yMax);
  if (x1 === x0) x1 = x0 + 1; if (y1 === y0) y1 = y0 + 1;
  const sx = x => L + (x - x0) / (x1 - x0) * (W - L - R), sy = y => H - B - (y - y0) / (y1 - y0) * (H - B - T);
  for (let i = 0; i <= 4; i++) {
    const y = y0 + (y1 - y0) * i / 4;
    svg.append(svgEl("line", { x1: L, x2: W - R, y1: sy(y), y2: sy(y), stroke: "#eceef2" }));
    const t = svgEl("text", { x: 4, y: sy(y) + 4 }); t.textContent = fmtNum(y); svg.append(t);
    const x = x0 + (x1 - x0) * i / 4;
    const tx = svgEl("text", { x: sx(x), y: H - 24, "text-anchor": "middle" }); tx.textContent = fmtNum(x); svg.append(tx);
  }
  if (opts.xLabel) { const t = svgEl("text", { x: L + (W - L - R) / 2, y: H - 6, "text-anchor": "middle" }); t.textContent = opts.xLabel; svg.append(t); }
  for (const s of series) {
    const d = s.points.filter(p => p[1] != null && isFinite(p[1])).map((p, i) => (i ? "L" : "M") + sx(p[0]).toFixed(1) + "," + sy(p[1]).toFixed(1)).join("");
    svg.append(svgEl("path", { d, fill: "none", stroke: s.color, "stroke-width": 2, class: "curve", "data-name": s.name }));
  }
  return svg;
}

// ---------- Overview ----------
function overview() {
  const nodes = el("div", { class: "card" }), cpu = el("div", { class: "card", id: "cpu-usage" }), heat = el("div", { class: "card", id: "cluster-usage" });
  main.replaceChildren(el("h2", {}, "Nodes"), nodes, el("h2", {}, "CPU usage over time"), cpu, el("h2", {}, "Cluster usage (tasks running per node)"), heat);
  every(3000, async () => {
    try {
      const [n, u] = await Promise.all([api("/api/nodes"), api("/api/usage?buckets=120")]);
      const rows = n.nodes.map(x => {
        const used = k => ((x.resources_total[k] || 0) - (x.resources_available[k] || 0));
        return el("tr", {}, el("td", { class: "mono" }, x.node_id), el("td", {}, x.state),
          el("td", {}, fmtNum(used("CPU")) + " / " + fmtNum(x.resources_total.CPU || 0)),
          el("td", {}, fmtNum(used("GPU")) + " / " + fmtNum(x.resources_total.GPU || 0)),
          el("td", {}, x.resources_total.memory != null ? fmtNum(used("memory")) + " / " + fmtNum(x.resources_total.memory) : "-"),
          el("td", {}, resStr(Object.fromEntries(Object.entries(x.resources_total).filter(([k]) => !["CPU", "GPU", "memory"].includes(k))))),
          el("td", {}, x.workers));
      });
      nodes.replaceChildren(el("table", { id: "node-table" }, el("tr", {}, ...["node", "state", "CPU in use", "GPU in use", "memory in use", "custom", "workers"].map(h => el("th", {}, h))), ...rows));
      const busy = u.t.map((t, i) => [t, u.cpus_busy[i]]), total = u.t.map(t => [t, u.cpus_total]);
      cpu.replaceChildren(el("div", { class: "legend" }, el("span", {}, el("i", { style: "background:#4c8df6" }), "CPUs busy (tasks running)"), el("span", {}, el("i", { style: "background:#c0392b" }), "CPUs total")),
        lineChart([{ name: "busy", color: "#4c8df6", points: busy }, { name: "total", color: "#c0392b", points: total }], { xLabel: "seconds since start", yMax: u.cpus_total }));
      heat.replaceChildren(heatMap(u));
    } catch (e) { showError(nodes, e); }
  });
}

function heatMap(u) {
  const names = Object.keys(u.nodes), n = u.t.length, W = 900, L = 90, rowH = 26, H = names.length * rowH + 30;
  const svg = svgEl("svg", { width: W, height: H, id: "heatmap" });
  const max = Math.max(1, ...names.flatMap(k => u.nodes[k]));
  const cw = (W - L - 10) / Math.max(1, n);
  names.forEach((k, r) => {
    const t = svgEl("text", { x: 4, y: r * rowH + 17 }); t.textContent = k; svg.append(t);
    u.nodes[k].forEach((v, i) => {
      const a = v / max;
      const rect = svgEl("rect", { x: L + i * cw, y: r * rowH + 2, width: cw + 0.5, height: rowH - 4, fill: `rgba(76,141,246,${(0.06 + 0.94 * a).toFixed(3)})`, class: "cell" });
      const tip = svgEl("title"); tip.textContent = `${k} at ${fmtNum(u.t[i])} s: ${fmtNum(v)} tasks running`; rect.append(tip);
      svg.append(rect);
    });
  });
  const t = svgEl("text", { x: L, y: H - 6 }); t.textContent = `0 s … ${fmtNum(u.t.length * u.bucket_s)} s; darkest = ${fmtNum(max)} tasks running`; svg.append(t);
  return svg;
}

// ---------- Tasks ----------
const PAGE = 50;
function tasks(params) {
  const q = el("input", { id: "search", placeholder: "task id prefix or function name", size: 34, value: params.q || "" });
  const state = el("select", { id: "state" }, el("option", { value: "" }, "any state"), ...["PENDING_ARGS_AVAIL", "PENDING_NODE_ASSIGNMENT", "RUNNING", "FINISHED", "FAILED"].map(s => el("option", { value: s }, s)));
  const node = el("input", { id: "node", placeholder: "node id", size: 10 });
  const out = el("div", { class: "card" }), pager = el("div", { class: "controls" });
  let offset = 0, seq = 0;
  const load = async () => {
    const qs = new URLSearchParams({ limit: PAGE, offset });
    if (q.value) qs.set("q", q.value.trim()); if (state.value) qs.set("state", state.value); if (node.value) qs.set("node", node.value.trim());
    const mine = ++seq;
    try {
      const r = await api("/api/tasks?" + qs);
      // Typing sends a request per key: an older answer arriving late must not win.
      if (mine !== seq) return;
      const rows = r.tasks.map(t => el("tr", { class: "row", "data-id": t.task_id, onclick: () => { location.hash = "#/tasks/" + t.task_id; } },
        el("td", { class: "mono" }, t.task_id), el("td", {}, t.function), el("td", { class: "state-" + t.state }, t.state),
        el("td", { class: "mono" }, t.node_id), el("td", { class: "mono" }, t.worker_id || "-"),
        el("td", {}, t.start_time_s != null && t.end_time_s != null ? fmtS(t.end_time_s - t.start_time_s) : "-")));
      out.replaceChildren(el("table", { id: "task-table" }, el("tr", {}, ...["task id", "function", "state", "node", "worker", "duration"].map(h => el("th", {}, h))), ...rows));
      pager.replaceChildren(
        el("button", { onclick: () => { offset = Math.max(0, offset - PAGE); load(); } }, "‹ newer"),
        el("span", { id: "task-count" }, `${r.total ? offset + 1 : 0}–${offset + r.tasks.length} of ${r.total}`),
        el("button", { onclick: () => { if (offset + PAGE < r.total) { offset += PAGE; load(); } } }, "older ›"));
    } catch (e) { showError(out, e); }
  };
  q.oninput = () => { offset = 0; load(); }; state.onchange = q.oninput; node.oninput = q.oninput;
  main.replaceChildren(el("div", { class: "controls" }, q, state, node), pager, out);
  every(4000, load);
}

function idLink(kind, id) {
  if (!id) return "-";
  return el("a", { href: `#/${kind}/${id}`, class: "mono" }, id);
}

async function taskRecord(id) {
  if (timer) clearInterval(timer);
  const card = el("div", { class: "card", id: "task-record" });
  main.replaceChildren(el("p", {}, el("a", { href: "#/tasks" }, "‹ all tasks")), card);
  try {
    const t = await api("/api/tasks/" + encodeURIComponent(id));
    const args = el("span", {}, ...t.args.flatMap((a, i) => [i ? ", " : "", a.kind === "object" ? idLink("objects", a.object_id) : el("span", { class: "mono" }, "value: " + a.type)]));
    const ph = t.phases;
    const rows = [
      ["task id", el("span", { class: "mono" }, t.task_id)], ["parent task", idLink("tasks", t.parent_task_id)], ["function", t.function],
      ["arguments", t.args.length ? args : "none"], ["return objects", el("span", {}, ...t.return_object_ids.map(o => idLink("objects", o)))],
      ["required resources", resStr(t.required_resources)], ["actor", t.actor_id || "-"], ["actor call counter", t.actor_call_index ?? "-"],
      ["state", el("span", { class: "state-" + t.state }, t.state)], ["worker", (t.worker_id || "-") + (t.worker_pid ? ` (pid ${t.worker_pid})` : "")], ["node", t.node_id],
      ["submitted at", fmtNum(t.submit_time_s) + " s"], ["started at", t.start_time_s != null ? fmtNum(t.start_time_s) + " s" : "-"], ["ended at", t.end_time_s != null ? fmtNum(t.end_time_s) + " s" : "-"],
      ["get_arguments", ph ? fmtS(ph.execute - ph.get_arguments) : "-"], ["execute", ph ? fmtS(ph.store_outputs - ph.execute) : "-"], ["store_outputs", ph ? fmtS(ph.end - ph.store_outputs) : "-"],
      ["attempts", t.attempts], ["error", t.error ? el("pre", { class: "error" }, t.error) : "-"],
    ];
    card.replaceChildren(el("table", { class: "record" }, ...rows.map(([k, v]) => el("tr", {}, el("td", {}, k), el("td", {}, v)))));
  } catch (e) { showError(card, e); }
}

// ---------- Objects ----------
function objects() {
  const q = el("input", { id: "object-search", placeholder: "object id prefix", size: 30 });
  const out = el("div", { class: "card" }), pager = el("div", { class: "controls" });
  let offset = 0, seq = 0;
  const load = async () => {
    const qs = new URLSearchParams({ limit: PAGE, offset });
    if (q.value) qs.set("q", q.value.trim());
    const mine = ++seq;
    try {
      const r = await api("/api/objects?" + qs);
      if (mine !== seq) return;
      const rows = r.objects.map(o => el("tr", { class: "row", onclick: () => { location.hash = "#/objects/" + o.object_id; } },
        el("td", { class: "mono" }, o.object_id), el("td", {}, o.status), el("td", {}, o.size_bytes ?? "-"), el("td", {}, o.is_put ? "put" : "task"),
        el("td", { class: "mono" }, o.task_id || "-"), el("td", {}, o.reference_count)));
      out.replaceChildren(el("table", { id: "object-table" }, el("tr", {}, ...["object id", "status", "size (bytes)", "from", "task", "references"].map(h => el("th", {}, h))), ...rows));
      pager.replaceChildren(el("button", { onclick: () => { offset = Math.max(0, offset - PAGE); load(); } }, "‹ newer"),
        el("span", {}, `${r.total ? offset + 1 : 0}–${offset + r.objects.length} of ${r.total}`),
        el("button", { onclick: () => { if (offset + PAGE < r.total) { offset += PAGE; load(); } } }, "older ›"));
    } catch (e) { showError(out, e); }
  };
  q.oninput = () => { offset = 0; load(); };
  main.replaceChildren(el("div", { class: "controls" }, q), pager, out);
  every(4000, load);
}

async function objectRecord(id) {
  if (timer) clearInterval(timer);
  const card = el("div", { class: "card", id: "object-record" });
  main.replaceChildren(el("p", {}, el("a", { href: "#/objects" }, "‹ all objects")), card);
  try {
    const o = await api("/api/objects/" + encodeURIComponent(id));
    const rows = [["object id", el("span", { class: "mono" }, o.object_id)], ["status", o.status + (o.error ? ": " + o.error : "")], ["size", o.size_bytes != null ? o.size_bytes + " bytes" : "unknown"],
      ["where it lives", o.location], ["node", o.node_id], ["created by", o.is_put ? "put" : el("span", {}, "task ", idLink("tasks", o.task_id))],
      ["references held", o.reference_count + (o.from_worker ? ` (returned by worker ${o.from_worker})` : "")], ["tasks waiting for it", o.waiting_tasks.length ? el("span", {}, ...o.waiting_tasks.map(t => idLink("tasks", t))) : "none"]];
    card.replaceChildren(el("table", { class: "record" }, ...rows.map(([k, v]) => el("tr", {}, el("td", {}, k), el("td", {}, v)))));
  } catch (e) { showError(card, e); }
}

// ---------- Timeline ----------
function timeline() {
  if (timer) clearInterval(timer);
  const start = el("input", { id: "tl-start", placeholder: "from (s)", size: 8 }), end = el("input", { id: "tl-end", placeholder: "to (s)", size: 8 });
  const canvas = el("canvas", { id: "timeline-canvas" }), info = el("div", { class: "muted", id: "tl-info" });
  const legend = el("div", { class: "legend" }, ...Object.entries(PHASE_COLORS).map(([k, c]) => el("span", {}, el("i", { style: "background:" + c }), k.replace("task:", ""))), el("span", {}, el("i", { style: "background:#888" }), "dependency"));
  main.replaceChildren(el("div", { class: "controls" }, "time range", start, end, el("button", { onclick: () => load() }, "show"),
    el("a", { href: "/api/timeline?download=1", download: "timeline.json", id: "tl-download" }, el("button", {}, "Download Chrome trace")),
    el("span", { class: "muted" }, "wheel: zoom, drag: pan")), legend, canvas, info);
  let ev = [], lanes = [], view = [0, 1], flows = [];
  const draw = () => {
    const dpr = window.devicePixelRatio || 1, W = canvas.clientWidth, H = canvas.clientHeight;
    canvas.width = W * dpr; canvas.height = H * dpr;
    const g = canvas.getContext("2d"); g.scale(dpr, dpr); g.clearRect(0, 0, W, H);
    const L = 190, laneH = Math.max(12, Math.min(40, (H - 30) / Math.max(1, lanes.length)));
    const sx = t => L + (t - view[0]) / (view[1] - view[0]) * (W - L - 10);
    g.font = "11px system-ui"; g.fillStyle = "#5a6478";
    lanes.forEach((l, i) => { g.fillText(l, 4, 20 + i * laneH + laneH / 2); g.fillStyle = i % 2 ? "#fafbfc" : "#fff"; g.fillRect(L, 20 + i * laneH, W - L, laneH); g.fillStyle = "#5a6478"; });
    for (let i = 0; i <= 5; i++) { const t = view[0] + (view[1] - view[0]) * i / 5; g.fillText(fmtNum(t / 1e6) + " s", sx(t) - 10, 12); }
    let drawn = 0;
    for (const e of ev) {
      const x0 = sx(e.ts), x1 = sx(e.ts + e.dur);
      if (x1 < L || x0 > W) continue;
      const y = 20 + e.lane * laneH + 2;
      g.fillStyle = PHASE_COLORS[e.cat] || "#999"; g.fillRect(Math.max(L, x0), y, Math.max(1, x1 - Math.max(L, x0)), laneH - 4); drawn++;
    }
    g.strokeStyle = "#888"; g.fillStyle = "#888";
    for (const f of flows) {
      const ax = sx(f.a.ts), bx = sx(f.b.ts), ay = 20 + f.a.lane * laneH + laneH / 2, by = 20 + f.b.lane * laneH + laneH / 2;
      if (Math.max(ax, bx) < L || Math.min(ax, bx) > W) continue;
      g.beginPath(); g.moveTo(ax, ay); g.lineTo(bx, by); g.stroke();
      g.beginPath(); g.arc(bx, by, 2.5, 0, 7); g.fill();
    }
    canvas.setAttribute("data-slices", drawn); canvas.setAttribute("data-lanes", lanes.length); canvas.setAttribute("data-arrows", flows.length);
  };
  const load = async () => {
    const qs = new URLSearchParams({ limit: 20000 });
    if (start.value) qs.set("start", start.value); if (end.value) qs.set("end", end.value);
    try {
      const trace = await api("/api/timeline?" + qs);
      const laneOf = new Map();
      ev = []; flows = [];
      const starts = new Map();
      for (const e of trace) {
        if (e.ph === "M") continue;
        const key = e.pid + "/" + e.tid;
        if (!laneOf.has(key)) laneOf.set(key, laneOf.size);
        if (e.ph === "X") ev.push({ ts: e.ts, dur: e.dur, cat: e.cat, lane: laneOf.get(key) });
        else if (e.ph === "s") starts.set(e.id, { ts: e.ts, lane: laneOf.get(key) });
        else if (e.ph === "f" && starts.has(e.id)) flows.push({ a: starts.get(e.id), b: { ts: e.ts, lane: laneOf.get(key) } });
      }
      lanes = [...laneOf.keys()].map(k => k.split("/")[1]);
      const t0 = Math.min(...ev.map(e => e.ts)), t1 = Math.max(...ev.map(e => e.ts + e.dur));
      view = ev.length ? [t0, t1 > t0 ? t1 : t0 + 1] : [0, 1];
      info.textContent = `${ev.length / 3} task attempts on ${lanes.length} workers, ${flows.length} dependency arrows`;
      draw();
    } catch (e) { showError(info, e); }
  };
  canvas.addEventListener("wheel", e => {
    e.preventDefault();
    const r = canvas.getBoundingClientRect(), L = 190, f = Math.max(0, (e.clientX - r.left - L) / (r.width - L - 10));
    const at = view[0] + f * (view[1] - view[0]), k = e.deltaY > 0 ? 1.25 : 0.8;
    view = [at - (at - view[0]) * k, at + (view[1] - at) * k]; draw();
  }, { passive: false });
  let drag = null;
  canvas.addEventListener("mousedown", e => { drag = { x: e.clientX, v: view.slice() }; });
  window.addEventListener("mouseup", () => { drag = null; });
  canvas.addEventListener("mousemove", e => {
    if (!drag) return;
    const span = drag.v[1] - drag.v[0], dx = (e.clientX - drag.x) / (canvas.clientWidth - 200) * span;
    view = [drag.v[0] - dx, drag.v[1] - dx]; draw();
  });
  load();
}

// ---------- Completion times ----------
function completion() {
  const fn = el("select", { id: "hist-function" }, el("option", { value: "" }, "all functions"));
  const start = el("input", { id: "hist-start", placeholder: "ended after (s)", size: 12 }), end = el("input", { id: "hist-end", placeholder: "ended before (s)", size: 12 });
  const out = el("div", { class: "card", id: "histogram" });
  main.replaceChildren(el("div", { class: "controls" }, fn, start, end, el("button", { onclick: () => load() }, "apply")), out);
  let known = new Set();
  const load = async () => {
    const qs = new URLSearchParams({ bins: 40 });
    if (fn.value) qs.set("function", fn.value); if (start.value) qs.set("start", start.value); if (end.value) qs.set("end", end.value);
    try {
      const h = await api("/api/completion_times?" + qs);
      for (const f of h.functions) if (!known.has(f)) { known.add(f); fn.append(el("option", { value: f }, f)); }
      const W = 940, H = 280, L = 50, B = 40, max = Math.max(1, ...h.buckets.map(b => b.count));
      const svg = svgEl("svg", { width: W, height: H });
      const bw = (W - L - 10) / Math.max(1, h.buckets.length);
      h.buckets.forEach((b, i) => {
        const bh = b.count / max * (H - B - 10);
        const r = svgEl("rect", { x: L + i * bw + 1, y: H - B - bh, width: Math.max(1, bw - 2), height: bh, fill: "#4c8df6", class: "bar" });
        const tip = svgEl("title"); tip.textContent = `${fmtS(b.lo)} – ${fmtS(b.hi)}: ${b.count} tasks`; r.append(tip); svg.append(r);
      });
      for (let i = 0; i <= 4; i++) { const t = svgEl("text", { x: 4, y: H - B - (H - B - 10) * i / 4 + 4 }); t.textContent = Math.round(max * i / 4); svg.append(t); }
      if (h.buckets.length) {
        [0, Math.floor(h.buckets.length / 2), h.buckets.length].forEach(i => { const t = svgEl("text", { x: L + i * bw, y: H - B + 16, "text-anchor": i ? "middle" : "start" }); t.textContent = fmtS(i < h.buckets.length ? h.buckets[i].lo : h.buckets[i - 1].hi); svg.append(t); });
      }
      const cap = svgEl("text", { x: L, y: H - 6 }); cap.textContent = `task duration (start to end); ${h.count} finished tasks, mean ${fmtS(h.mean_s)}`; svg.append(cap);
      out.replaceChildren(svg);
    } catch (e) { showError(out, e); }
  };
  fn.onchange = load;
  every(5000, load);
}

// ---------- Trials ----------
function trialsPage(params) {
  const list = el("div", { class: "card" }), chart = el("div", { class: "card", id: "trial-chart" });
  const col = el("select", { id: "trial-column" }), xs = el("select", { id: "trial-x" }, el("option", { value: "timesteps_total" }, "x = timesteps"), el("option", { value: "time_total_s" }, "x = time (s)"));
  let current = params.name || null, chosen = "episode_reward_mean";
  main.replaceChildren(el("h2", {}, "Trials"), list, el("div", { class: "controls" }, "column", col, xs), chart);
  const drawCurve = async () => {
    if (!current) { chart.replaceChildren(el("p", { class: "muted" }, "pick a trial")); return; }
    try {
      const cols = [...new Set([chosen, xs.value])].join(",");
      const p = await api(`/api/trials/${encodeURIComponent(current)}/progress?columns=${encodeURIComponent(cols)}`);
      if (col.options.length !== p.columns.length) col.replaceChildren(...p.columns.map(c => el("option", { value: c }, c)));
      col.value = chosen;
      const x = p.series[xs.value], y = p.series[chosen];
      chart.replaceChildren(el("div", { class: "muted" }, `${current}: ${chosen} over ${xs.value} (${p.iterations} iterations)`),
        lineChart([{ name: chosen, color: "#4c8df6", points: x.map((v, i) => [v, y[i]]) }], { xLabel: xs.value, cls: "trial-curve" }));
    } catch (e) { showError(chart, e); }
  };
  col.onchange = () => { chosen = col.value; drawCurve(); }; xs.onchange = drawCurve;
  every(3000, async () => {
    try {
      const t = await api("/api/trials");
      if (!current && t.trials.length) current = t.trials[0].name;
      list.replaceChildren(el("table", { id: "trial-table" }, el("tr", {}, ...["trial", "experiment", "iterations", "episode_reward_mean", "timesteps_total", "updated"].map(h => el("th", {}, h))),
        ...t.trials.map(r => el("tr", { class: "row", "data-name": r.name, style: r.name === current ? "background:#eef3fe" : "", onclick: () => { current = r.name; location.hash = "#/trials/" + r.name; } },
          el("td", { class: "mono" }, r.name), el("td", {}, r.experiment), el("td", {}, r.iterations), el("td", {}, fmtNum(r.episode_reward_mean)), el("td", {}, fmtNum(r.timesteps_total)),
          el("td", {}, r.updated_s_ago != null ? fmtNum(r.updated_s_ago) + " s ago" : "-")))));
      if (!t.trials.length) list.append(el("p", { class: "muted" }, "no trial with a progress.csv under the log dir"));
      drawCurve();
    } catch (e) { showError(list, e); }
  });
}

// ---------- Router ----------
function route() {
  const parts = (location.hash || "#/overview").slice(2).split("/");
  const page = parts[0] || "overview", arg = parts.slice(1).join("/");
  document.querySelectorAll("nav a").forEach(a => a.classList.toggle("active", a.dataset.page === page));
  statusLine.textContent = "";
  if (page === "tasks" && arg) taskRecord(decodeURIComponent(arg));
  else if (page === "tasks") tasks({});
  else if (page === "objects" && arg) objectRecord(decodeURIComponent(arg));
  else if (page === "objects") objects();
  else if (page === "timeline") timeline();
  else if (page === "completion") completion();
  else if (page === "trials") trialsPage({ name: arg ? decodeURIComponent(arg) : null });
  else overview();
}
window.addEventListener("hashchange", route);
route();
