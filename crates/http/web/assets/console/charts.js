// The console's charts of the last hour, drawn with the vendored uPlot:
// one per figure of admin.html, each with its newest values in words
// beside it for those who cannot see the chart.

import uPlot from "../vendor/uplot/uPlot.esm.js";
import { formatCount, formatDateTime, formatWon } from "../api.js";
import { byId, setText } from "../dom.js";

const CHART_HEIGHT = 180;

// Each chart: its series (colours, and dashes that tell the seat series
// apart without colour), how its values are written, and its columns.
const CHARTS = {
  line: {
    series: [{ label: "In line", stroke: "#3157d5", fill: "rgba(49, 87, 213, 0.12)" }],
    format: formatCount,
    columns: (samples) => [samples.map((s) => s.preQueued + s.waiting)],
  },
  admissions: {
    series: [{ label: "Admitted a minute", stroke: "#0f7b6c", fill: "rgba(15, 123, 108, 0.12)" }],
    format: (value) => formatCount(Math.round(value)),
    columns: (samples) => [admissionsPerMinute(samples)],
  },
  active: {
    series: [{ label: "ACTIVE", stroke: "#8a3ffc", fill: "rgba(138, 63, 252, 0.12)" }],
    format: formatCount,
    columns: (samples) => [samples.map((s) => s.active)],
  },
  seats: {
    series: [
      { label: "Available", stroke: "#1f8a4c" },
      { label: "Held", stroke: "#b26b00", dash: [8, 4] },
      { label: "Sold", stroke: "#3a4150", dash: [2, 3] },
    ],
    format: formatCount,
    columns: (samples) => [
      samples.map((s) => s.seatsAvailable),
      samples.map((s) => s.seatsHeld),
      samples.map((s) => s.seatsSold),
    ],
  },
  revenue: {
    series: [{ label: "Revenue", stroke: "#b0305a", fill: "rgba(176, 48, 90, 0.12)" }],
    format: formatWon,
    columns: (samples) => [samples.map((s) => s.revenue)],
  },
};

// The charts drawn so far, by name: each is made once, on its first data.
const charts = new Map();

function chartFor(name) {
  if (!charts.has(name)) charts.set(name, createChart(byId(`chart-${name}`), CHARTS[name]));
  return charts.get(name);
}

function createChart(container, { series, format }) {
  const show = (_, value) => (value === null || value === undefined ? "–" : format(value));
  const chart = new uPlot({
    width: chartWidth(container),
    height: CHART_HEIGHT,
    scales: { x: { time: true } },
    series: [
      { label: "Time", value: (_, secs) => (secs === null ? "–" : formatDateTime(secs * 1000, { seconds: true })) },
      ...series.map(({ label, stroke, fill, dash }) => ({ label, stroke, fill, dash, width: 2, value: show })),
    ],
    axes: [
      { stroke: "#4b5563", grid: { stroke: "#e5e7eb" } },
      { stroke: "#4b5563", grid: { stroke: "#e5e7eb" }, size: 56, values: (_, ticks) => ticks.map(compactNumber) },
    ],
  }, [[], ...series.map(() => [])], container);
  new ResizeObserver(() => chart.setSize({ width: chartWidth(container), height: CHART_HEIGHT })).observe(container);
  return chart;
}

function chartWidth(container) {
  return Math.max(container.clientWidth, 200);
}

const compact = new Intl.NumberFormat("en", { notation: "compact", maximumFractionDigits: 1 });

/** Axis ticks: 1.2K, 3.4M; the exact numbers are in the legend. */
function compactNumber(value) {
  return compact.format(value);
}

export function renderCharts(samples) {
  const times = samples.map((sample) => Date.parse(sample.at) / 1000);
  for (const [name, spec] of Object.entries(CHARTS)) {
    const columns = spec.columns(samples);
    chartFor(name).setData([times, ...columns]);
    renderLatest(name, spec, columns);
  }
}

/** The newest values in words, beside the chart, for those who cannot see it. */
function renderLatest(name, { series, format }, columns) {
  const parts = series.map(({ label }, i) => {
    const value = columns[i].at(-1);
    return `${label} ${value === null || value === undefined ? "–" : format(value)}`;
  });
  setText(byId(`latest-${name}`), columns[0].length ? `Latest: ${parts.join(", ")}` : "");
}

/** Admissions a minute over each gap between samples, from admittedTotal. */
function admissionsPerMinute(samples) {
  return samples.map((sample, i) => {
    if (i === 0) return null;
    const before = samples[i - 1];
    const minutes = (Date.parse(sample.at) - Date.parse(before.at)) / 60000;
    const admitted = sample.admittedTotal - before.admittedTotal;
    // A restart counts admittedTotal from zero again: no rate across it.
    return minutes > 0 && admitted >= 0 ? admitted / minutes : null;
  });
}
