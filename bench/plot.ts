// Small line charts as standalone SVG text, with no dependency: the scaling report (scaling.ts)
// draws one per figure next to its markdown (`npx tsx bench/scaling.ts --replot=<report .json>`
// re-draws them). Axes may be logarithmic (sizes grow by 10×).

export interface PlotSeries {
  name: string;
  points: Array<[x: number, y: number]>;
}

export interface PlotSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: PlotSeries[];
  logX?: boolean;
  logY?: boolean;
  /** A horizontal reference line (e.g. a limit), drawn dashed with its label. */
  reference?: { y: number; label: string };
}

const WIDTH = 560;
const HEIGHT = 340;
const MARGIN = { left: 64, right: 150, top: 36, bottom: 48 };
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf"];

const escapeXml = (text: string) =>
  text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");

/** 1,000 → "1k", 10,000,000 → "10M"; small numbers with up to 3 significant digits. */
export function shortNumber(value: number): string {
  const abs = Math.abs(value);
  if (abs >= 1e6) return `${Number((value / 1e6).toPrecision(3))}M`;
  if (abs >= 1e3) return `${Number((value / 1e3).toPrecision(3))}k`;
  return String(Number(value.toPrecision(3)));
}

interface Axis {
  toPixel(value: number): number;
  ticks: number[];
}

function axis(values: number[], log: boolean, from: number, to: number, includeZero: boolean): Axis {
  const finite = values.filter((value) => Number.isFinite(value) && (!log || value > 0));
  let min = finite.length ? Math.min(...finite) : 0;
  let max = finite.length ? Math.max(...finite) : 1;
  if (log) {
    min = 10 ** Math.floor(Math.log10(min));
    max = 10 ** Math.ceil(Math.log10(max));
    if (min === max) max = min * 10;
    const ticks: number[] = [];
    for (let tick = min; tick <= max * 1.0001; tick *= 10) ticks.push(tick);
    const scale = (value: number) =>
      (Math.log10(value) - Math.log10(min)) / (Math.log10(max) - Math.log10(min));
    return { toPixel: (value) => from + scale(value) * (to - from), ticks };
  }
  if (includeZero) min = Math.min(0, min);
  if (min === max) max = min + 1;
  const step = niceStep((max - min) / 5);
  min = Math.floor(min / step) * step;
  max = Math.ceil(max / step) * step;
  const ticks: number[] = [];
  for (let tick = min; tick <= max + step / 1000; tick += step) ticks.push(Number(tick.toPrecision(12)));
  return { toPixel: (value) => from + ((value - min) / (max - min)) * (to - from), ticks };
}

function niceStep(raw: number): number {
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const residual = raw / magnitude;
  return (residual > 5 ? 10 : residual > 2 ? 5 : residual > 1 ? 2 : 1) * magnitude;
}

/** The chart as SVG text: axes with ticks, one coloured line with dots per series, a legend. */
export function lineChart(spec: PlotSpec): string {
  const plotLeft = MARGIN.left;
  const plotRight = WIDTH - MARGIN.right;
  const plotTop = MARGIN.top;
  const plotBottom = HEIGHT - MARGIN.bottom;
  const xs = spec.series.flatMap((series) => series.points.map(([x]) => x));
  const ys = [
    ...spec.series.flatMap((series) => series.points.map(([, y]) => y)),
    ...(spec.reference ? [spec.reference.y] : []),
  ];
  const x = axis(xs, spec.logX ?? false, plotLeft, plotRight, false);
  const y = axis(ys, spec.logY ?? false, plotBottom, plotTop, true);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="11">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="20" text-anchor="middle" font-size="13" font-weight="bold">${escapeXml(spec.title)}</text>`,
  ];
  for (const tick of x.ticks) {
    const px = x.toPixel(tick).toFixed(1);
    out.push(
      `<line x1="${px}" y1="${plotTop}" x2="${px}" y2="${plotBottom}" stroke="#eee"/>`,
      `<text x="${px}" y="${plotBottom + 16}" text-anchor="middle">${shortNumber(tick)}</text>`,
    );
  }
  for (const tick of y.ticks) {
    const py = y.toPixel(tick).toFixed(1);
    out.push(
      `<line x1="${plotLeft}" y1="${py}" x2="${plotRight}" y2="${py}" stroke="#eee"/>`,
      `<text x="${plotLeft - 6}" y="${py}" text-anchor="end" dominant-baseline="middle">${shortNumber(tick)}</text>`,
    );
  }
  out.push(
    `<line x1="${plotLeft}" y1="${plotBottom}" x2="${plotRight}" y2="${plotBottom}" stroke="#333"/>`,
    `<line x1="${plotLeft}" y1="${plotTop}" x2="${plotLeft}" y2="${plotBottom}" stroke="#333"/>`,
    `<text x="${(plotLeft + plotRight) / 2}" y="${HEIGHT - 10}" text-anchor="middle">${escapeXml(spec.xLabel)}${spec.logX ? " (log)" : ""}</text>`,
    `<text transform="translate(16 ${(plotTop + plotBottom) / 2}) rotate(-90)" text-anchor="middle">${escapeXml(spec.yLabel)}${spec.logY ? " (log)" : ""}</text>`,
  );
  if (spec.reference) {
    const py = y.toPixel(spec.reference.y).toFixed(1);
    out.push(
      `<line x1="${plotLeft}" y1="${py}" x2="${plotRight}" y2="${py}" stroke="#888" stroke-dasharray="5 4"/>`,
      `<text x="${plotRight - 4}" y="${Number(py) - 4}" text-anchor="end" fill="#666">${escapeXml(spec.reference.label)}</text>`,
    );
  }
  spec.series.forEach((series, index) => {
    const color = COLORS[index % COLORS.length]!;
    const points = series.points
      .filter(([px, py]) => Number.isFinite(px) && Number.isFinite(py))
      .map(([px, py]) => [x.toPixel(px), y.toPixel(py)] as const);
    if (points.length > 1)
      out.push(
        `<polyline fill="none" stroke="${color}" stroke-width="2" points="${points.map(([px, py]) => `${px.toFixed(1)},${py.toFixed(1)}`).join(" ")}"/>`,
      );
    for (const [px, py] of points)
      out.push(`<circle cx="${px.toFixed(1)}" cy="${py.toFixed(1)}" r="3" fill="${color}"/>`);
    const legendY = plotTop + 8 + index * 16;
    out.push(
      `<line x1="${plotRight + 12}" y1="${legendY}" x2="${plotRight + 28}" y2="${legendY}" stroke="${color}" stroke-width="2"/>`,
      `<text x="${plotRight + 32}" y="${legendY}" dominant-baseline="middle">${escapeXml(series.name)}</text>`,
    );
  });
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}
