// The drift dashboard: polls /dashboard/data and draws it (a file of its own: the
// worker's Content-Security-Policy allows no inline script). Behind a token, the
// fetches carry the cookie that /?token=... set.
"use strict";
const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const POLL_MS = 2000;
// Everything the page writes into markup goes through esc(), text and attribute values
// alike: segment ids, names, customers and rule names come from outside.
function esc(v) {
  return String(v === null || v === undefined ? "" : v)
    .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}
function rows(el, header, body) {
  el.innerHTML = "<tr>" + header.map(h => "<th>" + esc(h) + "</th>").join("") + "</tr>" +
    body.map(r => "<tr>" + r.map((c, i) =>
      "<td" + (i === 0 ? " class='l'" : "") + ">" + esc(c) + "</td>").join("") + "</tr>").join("");
}
function label(data, seg) {
  if (seg === null || seg === undefined) return "(none)";
  const name = data.names[seg];
  return name ? seg + " " + name : seg;
}
function chart(data) {
  const svg = document.getElementById("chart");
  const pts = data.history;
  const segs = Object.keys(data.sizes).sort();
  const W = 720, H = 220, P = 30;
  let max = 1;
  pts.forEach(p => Object.values(p.sizes).forEach(v => { if (v > max) max = v; }));
  const t0 = pts.length ? pts[0].t : 0, t1 = pts.length ? pts[pts.length - 1].t : 1;
  const x = t => P + (W - 2 * P) * (t1 > t0 ? (t - t0) / (t1 - t0) : 1);
  const y = v => H - P - (H - 2 * P) * v / max;
  let out = "<line x1='" + P + "' y1='" + (H - P) + "' x2='" + (W - P) + "' y2='" + (H - P) +
    "' stroke='#999'/><text x='2' y='" + (P - 5) + "' font-size='10'>" + esc(max) + "</text>";
  segs.forEach((s, i) => {
    const line = pts.map(p => x(p.t).toFixed(1) + "," + y(p.sizes[s] || 0).toFixed(1)).join(" ");
    const color = COLORS[i % COLORS.length];
    out += "<polyline class='series' data-segment='" + esc(s) + "' fill='none' stroke='" +
      color + "' points='" + esc(line) + "'/>";
    out += "<text x='" + (W - P + 2) + "' y='" + (P + 12 * i) + "' font-size='10' fill='" +
      color + "'>" + esc(s) + "</text>";
  });
  svg.innerHTML = out;
}
function render(data) {
  document.getElementById("status").textContent =
    "model version " + data.model_version + " | " + data.workers + " worker(s)" +
    (data.complete ? "" : " (some did not answer)") + " | updated " +
    new Date(data.generated_at * 1000).toISOString();
  chart(data);
  const segs = Object.keys(data.sizes).sort();
  rows(document.getElementById("sizes"), ["segment", "name", "customers"],
       segs.map(s => [s, data.names[s] || "", data.sizes[s]]));
  const beh = data.transitions.filter(t => t.kind === "behavioral");
  const froms = [...new Set(beh.map(t => t.from_segment))].sort();
  const tos = [...new Set(beh.map(t => t.to_segment))].sort();
  const count = (a, b) => beh.filter(t => t.from_segment === a && t.to_segment === b)
    .reduce((n, t) => n + t.count, 0);
  rows(document.getElementById("matrix"), ["from \\ to"].concat(tos.map(t => t === null ? "(none)" : t)),
       froms.map(a => [a === null ? "(none)" : a].concat(tos.map(b => count(a, b)))));
  rows(document.getElementById("drifts"),
       ["detected", "segment", "statistic", "old", "new", "model"],
       data.drifts.map(d => [d.detected_at, label(data, d.segment), d.statistic,
                             d.old_level, d.new_level, d.model_version]));
  const score = (c, name) => (c.scores && name in c.scores) ? c.scores[name] : "";
  rows(document.getElementById("changes"),
       ["emitted", "customer", "kind", "from", "to", "p_alive", "propensity", "value 90d"],
       data.changes.slice(0, 20).map(c => [c.emitted_at, c.customer_id, c.kind,
         c.from_name || c.from_segment || "", c.to_name || c.to_segment || "",
         score(c, "p_alive"), score(c, "purchase_propensity"), score(c, "expected_value_90d")]));
}
async function poll() {
  try {
    const response = await fetch("/dashboard/data", {cache: "no-store"});
    if (response.ok) render(await response.json());
    else document.getElementById("status").textContent = "error " + response.status;
  } catch (e) {
    document.getElementById("status").textContent = "unreachable: " + e;
  }
  setTimeout(poll, POLL_MS);
}
poll();
