// Hand-written SVG charts: an area chart with axes for a series, a
// sparkline, and horizontal bars. Each carries a text alternative.
const NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

/// Counts per bucket starting at `from` (ISO time), `minutes` per bucket.
export function volumeChart(counts, from, minutes, label) {
  const width = 720, height = 220, left = 44, bottom = 26, top = 10, right = 10;
  const max = Math.max(1, ...counts);
  const w = width - left - right, hgt = height - top - bottom;
  const x = (i) => left + (counts.length <= 1 ? 0 : (i * w) / (counts.length - 1));
  const y = (v) => top + hgt - (v / max) * hgt;
  const points = counts.map((c, i) => `${x(i).toFixed(1)},${y(c).toFixed(1)}`);
  const total = counts.reduce((a, b) => a + b, 0);
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": `${label}: ${total} events in ${counts.length} buckets, at most ${max} in one` });
  root.append(svg("title", {}, label));
  for (const frac of [0, 0.5, 1]) {
    const v = Math.round(max * frac);
    root.append(svg("line", { x1: left, x2: width - right, y1: y(v), y2: y(v), class: "grid" }));
    root.append(svg("text", { x: left - 6, y: y(v) + 4, "text-anchor": "end", class: "axis" }, v));
  }
  const start = new Date(from).getTime();
  const step = Math.max(1, Math.floor(counts.length / 6));
  for (let i = 0; i < counts.length; i += step) {
    const t = new Date(start + i * minutes * 60000);
    const text = `${String(t.getHours()).padStart(2, "0")}:${String(t.getMinutes()).padStart(2, "0")}`;
    root.append(svg("text", { x: x(i), y: height - 6, "text-anchor": "middle", class: "axis" }, text));
  }
  if (counts.length) {
    root.append(svg("path", { d: `M${x(0)},${y(0)} L${points.join(" L")} L${x(counts.length - 1)},${y(0)} Z`, class: "area" }));
    root.append(svg("polyline", { points: points.join(" "), class: "line" }));
  }
  return root;
}

export function sparkline(counts, label = "events per hour") {
  const width = 96, height = 24;
  const max = Math.max(1, ...counts);
  const x = (i) => (counts.length <= 1 ? 0 : (i * width) / (counts.length - 1));
  const points = counts.map((c, i) => `${x(i).toFixed(1)},${(height - 2 - (c / max) * (height - 4)).toFixed(1)}`);
  const total = counts.reduce((a, b) => a + b, 0);
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "spark", role: "img", "aria-label": `${total} ${label} over the last ${counts.length} hours` });
  root.append(svg("polyline", { points: points.join(" "), class: "line" }));
  return root;
}

/// Horizontal bars for {name: count}.
export function bars(counts, label) {
  const entries = Object.entries(counts);
  const max = Math.max(1, ...entries.map(([, v]) => v));
  const rowH = 22, width = 360, labelW = 100;
  const root = svg("svg", { viewBox: `0 0 ${width} ${entries.length * rowH}`, class: "bars", role: "img", "aria-label": `${label}: ${entries.map(([k, v]) => `${k} ${v}`).join(", ")}` });
  entries.forEach(([name, value], i) => {
    const y = i * rowH;
    root.append(svg("text", { x: labelW - 6, y: y + 15, "text-anchor": "end", class: "axis" }, name.replaceAll("_", " ")));
    root.append(svg("rect", { x: labelW, y: y + 4, height: rowH - 8, width: Math.max(value ? 2 : 0, ((width - labelW - 40) * value) / max), class: `bar b-${name}` }));
    root.append(svg("text", { x: labelW + ((width - labelW - 40) * value) / max + 6, y: y + 15, class: "axis" }, value));
  });
  return root;
}
