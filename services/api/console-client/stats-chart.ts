// The stats page's time series as a uPlot bar chart (uPlot: ~50 KB, typed, no dependencies, draws
// on canvas without inline styles or eval, so it runs under the console's strict CSP). The same
// numbers are on the page as a table for screen readers and for browsers without scripts.
import uPlot from "uplot";

const host = document.getElementById("stats-chart");
if (host) {
  const points = JSON.parse(host.dataset.timeseries ?? "[]") as Array<{ bucket: string; count: number }>;
  const xs = points.map((point) => Date.parse(point.bucket) / 1000);
  const ys = points.map((point) => point.count);
  const width = () => Math.max(Math.min(host.clientWidth, 1100), 280);
  const chart = new uPlot(
    {
      width: width(),
      height: 240,
      legend: { show: false },
      scales: { x: { time: true } },
      axes: [{}, { label: "events" }],
      series: [
        {},
        {
          label: "events",
          stroke: "#1d4ed8",
          fill: "rgba(29, 78, 216, 0.25)",
          paths: uPlot.paths.bars?.({ size: [0.8, 40] }),
        },
      ],
    },
    [xs, ys],
    host,
  );
  window.addEventListener("resize", () => chart.setSize({ width: width(), height: 240 }));
}
