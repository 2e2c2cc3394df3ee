// Inline SVG charts for the health page: lines over hours, bars, horizontal bars. No library: each chart
// is an <svg role="img"> with a text summary, a legend, and its data as a table (for screen readers and
// for copying numbers).
(() => {
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const COLORS = ["#1f5fbf", "#c2410c", "#15803d", "#7e22ce", "#0e7490", "#a16207"];

function svgNode(name, attributes, text) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes || {})) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

function htmlNode(name, attributes, children) {
  const node = document.createElement(name);
  for (const [key, value] of Object.entries(attributes || {})) {
    if (key === "text") node.textContent = value; else node.setAttribute(key, value);
  }
  for (const child of children || []) node.append(child);
  return node;
}

function dataTable(headers, rows) {
  const table = htmlNode("table");
  const head = htmlNode("tr", {}, headers.map((h) => htmlNode("th", { scope: "col", text: h })));
  table.append(htmlNode("thead", {}, [head]));
  table.append(htmlNode("tbody", {}, rows.map((row) => htmlNode("tr", {}, row.map((c) => htmlNode("td", { text: String(c) }))))));
  return htmlNode("details", {}, [htmlNode("summary", { text: "Data" }), table]);
}

function figure(title, summary, svg, legend, table) {
  const fig = htmlNode("figure", { class: "card" });
  fig.append(htmlNode("figcaption", { text: title }));
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `${title}: ${summary}`);
  svg.setAttribute("class", "chart");
  fig.append(svg);
  if (legend) fig.append(legend);
  fig.append(table);
  return fig;
}

function legendOf(names) {
  return htmlNode("div", { class: "legend" }, names.map((name, i) => {
    const span = htmlNode("span", { text: name });
    span.style.setProperty("--c", COLORS[i % COLORS.length]);
    return span;
  }));
}

function frame(width, height, max, pad) {
  const svg = svgNode("svg", { viewBox: `0 0 ${width} ${height}` });
  const top = Math.max(1, max);
  for (const fraction of [0, 0.5, 1]) {
    const y = pad.t + (height - pad.t - pad.b) * (1 - fraction);
    svg.append(svgNode("line", { x1: pad.l, x2: width - pad.r, y1: y, y2: y, stroke: "#d5dae3" }));
    svg.append(svgNode("text", { x: pad.l - 6, y: y + 4, "text-anchor": "end" }, String(Math.round(top * fraction))));
  }
  return { svg, top };
}

function tickLabels(svg, labels, x, y) {
  const every = Math.max(1, Math.ceil(labels.length / 8));
  labels.forEach((label, i) => {
    if (i % every === 0) svg.append(svgNode("text", { x: x(i), y, "text-anchor": "middle" }, label));
  });
}

// series: {name: [numbers]} over `labels` (one per hour, `2026-03-01T12`).
function lineChart(title, labels, series, unit) {
  const names = Object.keys(series);
  const width = 640, height = 220, pad = { l: 40, r: 12, t: 10, b: 28 };
  const max = Math.max(0, ...names.flatMap((n) => series[n]));
  const { svg, top } = frame(width, height, max, pad);
  const x = (i) => pad.l + (labels.length <= 1 ? 0 : (i * (width - pad.l - pad.r)) / (labels.length - 1));
  const y = (v) => pad.t + (height - pad.t - pad.b) * (1 - v / top);
  names.forEach((name, n) => {
    const points = series[name].map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    svg.append(svgNode("polyline", { points, fill: "none", stroke: COLORS[n % COLORS.length], "stroke-width": 2 }));
  });
  tickLabels(svg, labels.map((l) => l.slice(11) + "h"), x, height - 8);
  const totals = names.map((n) => `${n} ${series[n].reduce((a, b) => a + b, 0)}`).join(", ");
  const rows = labels.map((label, i) => [label, ...names.map((n) => series[n][i])]);
  return figure(title, `${unit} in the window: ${totals || "none"}`, svg, legendOf(names), dataTable(["hour (UTC)", ...names], rows));
}

// bars: [[label, value], ...]
function barChart(title, bars, unit) {
  const width = 640, height = 220, pad = { l: 40, r: 12, t: 10, b: 28 };
  const max = Math.max(0, ...bars.map((b) => b[1]));
  const { svg, top } = frame(width, height, max, pad);
  const step = (width - pad.l - pad.r) / Math.max(1, bars.length);
  bars.forEach(([label, value], i) => {
    const h = ((height - pad.t - pad.b) * value) / top;
    const rect = svgNode("rect", { x: pad.l + i * step + step * 0.15, y: height - pad.b - h, width: Math.max(1, step * 0.7), height: h, fill: COLORS[0] });
    rect.append(svgNode("title", {}, `${label}: ${value}`));
    svg.append(rect);
  });
  tickLabels(svg, bars.map((b) => b[0]), (i) => pad.l + i * step + step / 2, height - 8);
  const total = bars.reduce((a, b) => a + b[1], 0);
  return figure(title, `${total} ${unit} in ${bars.length} bars`, svg, null, dataTable(["", unit], bars));
}

// rows: [[label, value, colorIndex], ...]
function hbarChart(title, rows, unit) {
  const width = 640, rowHeight = 24, pad = { l: 190, r: 50 };
  const height = Math.max(1, rows.length) * rowHeight + 8;
  const svg = svgNode("svg", { viewBox: `0 0 ${width} ${height}` });
  const max = Math.max(1, ...rows.map((r) => r[1]));
  rows.forEach(([label, value, color], i) => {
    const y = 4 + i * rowHeight;
    const w = ((width - pad.l - pad.r) * value) / max;
    svg.append(svgNode("text", { x: pad.l - 8, y: y + 15, "text-anchor": "end" }, label));
    svg.append(svgNode("rect", { x: pad.l, y: y + 3, width: Math.max(1, w), height: rowHeight - 8, fill: COLORS[(color || 0) % COLORS.length] }));
    svg.append(svgNode("text", { x: pad.l + w + 6, y: y + 15 }, String(value)));
  });
  const total = rows.reduce((a, r) => a + r[1], 0);
  return figure(title, `${total} ${unit}`, svg, null, dataTable(["", unit], rows.map((r) => [r[0], r[1]])));
}

window.ParityCharts = { lineChart, barChart, hbarChart, htmlNode };
})();
