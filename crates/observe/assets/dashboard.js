// Switchyard dashboard: fetches /ui/api/summary and draws plain SVG charts. No dependencies,
// because the gateway must serve a working page on machines without internet access.
"use strict";

const PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];
const NS = "http://www.w3.org/2000/svg";
const PAD = { l: 58, r: 12, t: 10, b: 28 };

function el(tag, attrs, parent) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

function fmtUsd(v) {
  if (v === 0) return "$0";
  const a = Math.abs(v);
  if (a >= 100) return "$" + v.toFixed(0);
  if (a >= 1) return "$" + v.toFixed(2);
  if (a >= 0.01) return "$" + v.toFixed(3);
  return "$" + v.toPrecision(2);
}
const fmtNum = (v) => (Math.abs(v) >= 1000 ? (v / 1000).toFixed(1) + "k" : String(Math.round(v * 100) / 100));
const fmtMs = (v) => (v >= 1000 ? Number((v / 1000).toFixed(2)) + "s" : Math.round(v) + "ms");

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function timeLabel(ms, bucketMs) {
  const d = new Date(ms);
  const hm = d.toTimeString().slice(0, 5);
  if (bucketMs >= 86400000) return d.toISOString().slice(5, 10);
  if (bucketMs >= 3600000 * 3) return d.toISOString().slice(5, 10) + " " + hm;
  return hm;
}

function legend(id, names) {
  const lg = document.getElementById(id);
  lg.innerHTML = "";
  names.forEach((n, i) => {
    const s = document.createElement("span");
    const sw = document.createElement("i");
    sw.style.background = PALETTE[i % PALETTE.length];
    s.appendChild(sw);
    s.appendChild(document.createTextNode(n));
    lg.appendChild(s);
  });
}

// Clears the SVG and draws axes; returns the plot geometry and scales.
function frame(id, yMin, yMax, xLabels, fmtY) {
  const svg = document.getElementById(id);
  svg.innerHTML = "";
  const W = svg.clientWidth || 520, H = svg.clientHeight || 240;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const pw = W - PAD.l - PAD.r, ph = H - PAD.t - PAD.b;
  const y = (v) => PAD.t + ph - ((v - yMin) / (yMax - yMin || 1)) * ph;
  for (let i = 0; i <= 4; i++) {
    const v = yMin + ((yMax - yMin) * i) / 4;
    el("line", { x1: PAD.l, x2: W - PAD.r, y1: y(v), y2: y(v), stroke: "#e6e8ee" }, svg);
    el("text", { x: PAD.l - 6, y: y(v) + 4, "text-anchor": "end" }, svg).textContent = fmtY(v);
  }
  const n = xLabels.length;
  const step = Math.max(1, Math.ceil(n / 8));
  xLabels.forEach((lab, i) => {
    if (i % step) return;
    el("text", { x: PAD.l + ((i + 0.5) * pw) / n, y: H - 8, "text-anchor": "middle" }, svg).textContent = lab;
  });
  return { svg, W, H, pw, ph, y, n };
}

function empty(id, msg) {
  const svg = document.getElementById(id);
  svg.innerHTML = "";
  const W = svg.clientWidth || 520;
  svg.setAttribute("viewBox", `0 0 ${W} 240`);
  el("text", { x: W / 2, y: 120, "text-anchor": "middle", class: "empty-msg" }, svg).textContent = msg || "no requests in this window";
}

function stackedBars(id, lgId, labels, series) {
  legend(lgId, series.map((s) => s.name));
  if (!series.length) return empty(id);
  const totals = labels.map((_, i) => series.reduce((a, s) => a + s.values[i], 0));
  const f = frame(id, 0, niceMax(Math.max(...totals)), labels, fmtUsd);
  const bw = (f.pw / f.n) * 0.8;
  labels.forEach((lab, i) => {
    let acc = 0;
    series.forEach((s, k) => {
      const v = s.values[i];
      if (!(v > 0)) return;
      const r = el("rect", {
        class: "pt", x: PAD.l + (i * f.pw) / f.n + (f.pw / f.n - bw) / 2, y: f.y(acc + v),
        width: bw, height: Math.max(0.5, f.y(acc) - f.y(acc + v)), fill: PALETTE[k % PALETTE.length],
      }, f.svg);
      el("title", {}, r).textContent = `${lab} ${s.name}: ${fmtUsd(v)}`;
      acc += v;
    });
  });
}

function lines(id, lgId, labels, series, fmtY, area) {
  legend(lgId, series.map((s) => s.name));
  const all = series.flatMap((s) => s.values);
  if (!all.length) return empty(id);
  const lo = Math.min(0, ...all);
  const f = frame(id, lo < 0 ? -niceMax(-lo) : 0, niceMax(Math.max(...all, 0)), labels, fmtY);
  const x = (i) => PAD.l + ((i + 0.5) * f.pw) / f.n;
  series.forEach((s, k) => {
    const c = PALETTE[k % PALETTE.length];
    const pts = s.values.map((v, i) => `${x(i)},${f.y(v)}`);
    if (area) {
      el("polygon", { points: `${x(0)},${f.y(0)} ${pts.join(" ")} ${x(s.values.length - 1)},${f.y(0)}`, fill: c, "fill-opacity": 0.15 }, f.svg);
    }
    el("polyline", { points: pts.join(" "), fill: "none", stroke: c, "stroke-width": 2 }, f.svg);
    s.values.forEach((v, i) => {
      const p = el("circle", { class: "pt", cx: x(i), cy: f.y(v), r: 2.5, fill: c }, f.svg);
      el("title", {}, p).textContent = `${labels[i]} ${s.name}: ${fmtY(v)}`;
    });
  });
}

function groupedBars(id, lgId, categories, groups, fmtY) {
  legend(lgId, groups.map((g) => g.name));
  if (!categories.length) return empty(id);
  const max = Math.max(...groups.flatMap((g) => g.values.filter((v) => v != null)), 0);
  const svgW = document.getElementById(id).clientWidth || 520;
  const fit = Math.max(4, Math.floor((svgW - PAD.l - PAD.r) / categories.length / 6.2));
  const f = frame(id, 0, niceMax(max), categories.map((c) => (c.length > fit ? c.slice(0, fit - 1) + "…" : c)), fmtY);
  const slot = f.pw / f.n, bw = (slot * 0.8) / groups.length;
  categories.forEach((c, i) => {
    groups.forEach((g, k) => {
      const v = g.values[i];
      if (v == null) return;
      const r = el("rect", {
        class: "pt", x: PAD.l + i * slot + slot * 0.1 + k * bw, y: f.y(v), width: bw * 0.92,
        height: Math.max(0.5, f.y(0) - f.y(v)), fill: PALETTE[k % PALETTE.length],
      }, f.svg);
      el("title", {}, r).textContent = `${c} ${g.name}: ${fmtY(v)}`;
    });
  });
}

function hbars(id, lgId, items) {
  legend(lgId, items.map(([k, v]) => `${k}: ${v}`));
  const svg = document.getElementById(id);
  svg.innerHTML = "";
  if (!items.length) return empty(id);
  const W = svg.clientWidth || 520, H = svg.clientHeight || 240;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const max = Math.max(...items.map(([, v]) => v), 1);
  const rowH = Math.min(36, (H - 20) / items.length);
  items.forEach(([k, v], i) => {
    const y = 10 + i * rowH;
    el("text", { x: 100, y: y + rowH / 2 + 4, "text-anchor": "end" }, svg).textContent = k;
    const r = el("rect", { class: "pt", x: 108, y: y + 4, height: rowH - 8, width: Math.max(1, ((W - 170) * v) / max), fill: PALETTE[i % PALETTE.length], rx: 3 }, svg);
    el("title", {}, r).textContent = `${k}: ${v}`;
    el("text", { x: 114 + ((W - 170) * v) / max, y: y + rowH / 2 + 4 }, svg).textContent = String(v);
  });
}

function stat(label, value, exact) {
  const t = exact ? ` title="${exact}"` : "";
  return `<div class="stat"><div class="v"${t}>${value}</div><div class="l">${label}</div></div>`;
}
// Cards round for reading; the exact decimal is in the tooltip.
const usdCard = (s) => fmtUsd(Number(s));

function render(d) {
  const t = d.totals;
  document.getElementById("totals").innerHTML =
    stat("requests", fmtNum(t.requests)) + stat("spend", usdCard(t.spend_usd), "$" + t.spend_usd) + stat("saved vs baseline", usdCard(t.saved_usd), "$" + t.saved_usd) +
    stat("cache hit rate", (t.cache_hit_rate * 100).toFixed(1) + "%") + stat("errors", fmtNum(t.errors)) +
    stat("fallbacks", fmtNum(t.fallbacks)) + stat("escalations", fmtNum(t.escalations)) + stat("unpriced requests", fmtNum(t.unknown_cost_requests));
  const labels = d.buckets.map((b) => timeLabel(b, d.bucket_ms));
  stackedBars("ch-model", "lg-model", labels, d.spend_by_model);
  stackedBars("ch-provider", "lg-provider", labels, d.spend_by_provider);
  groupedBars("ch-pct", "lg-pct", d.latency.map((r) => r.model),
    [["p50", "p50_ms"], ["p95", "p95_ms"], ["p99", "p99_ms"]].map(([n, k]) => ({ name: n, values: d.latency.map((r) => r[k]) })), fmtMs);
  const edges = d.latency_edges_ms.map((e) => "≤" + fmtMs(e)).concat([">" + fmtMs(d.latency_edges_ms[d.latency_edges_ms.length - 1])]);
  lines("ch-hist", "lg-hist", edges, d.latency.map((r) => ({ name: r.model, values: r.histogram })), fmtNum, false);
  hbars("ch-cache", "lg-cache", Object.entries(d.cache).sort((a, b) => b[1] - a[1]));
  lines("ch-events", "lg-events", labels, d.events.filter((s) => s.name !== "requests"), fmtNum, false);
  lines("ch-saved", "lg-saved", labels, [{ name: "saved (net)", values: d.cumulative_saved_usd }], fmtUsd, true);
  document.body.dataset.rendered = "1";
}

async function load() {
  const since = document.getElementById("since").value;
  const status = document.getElementById("status");
  try {
    const r = await fetch(`/ui/api/summary?since=${encodeURIComponent(since)}`, { credentials: "same-origin" });
    if (!r.ok) throw new Error(`${r.status} ${await r.text()}`);
    const d = await r.json();
    render(d);
    status.textContent = `updated ${new Date().toLocaleTimeString()} · ${d.totals.requests} requests`;
  } catch (e) {
    status.textContent = "error: " + e.message;
  }
}

document.getElementById("since").addEventListener("change", load);
window.addEventListener("resize", () => { clearTimeout(window.__rs); window.__rs = setTimeout(load, 200); });
load();
setInterval(load, 30000);
