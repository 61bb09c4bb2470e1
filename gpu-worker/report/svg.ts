/**
 * Inline SVG charts for the HTML report: no script, no external reference, readable without CSS. Each bar
 * carries `data-series`, `data-group` and `data-value`, so tests (and curious users) can read the numbers back.
 */

export interface BarGroup {
  label: string;
  /** One value per series; null leaves a gap (e.g. no "after" figure yet). */
  values: (number | null)[];
}

export interface BarChartOptions {
  title: string;
  series: string[];
  groups: BarGroup[];
  /** Axis label for the values. */
  unit?: string;
  /** Logarithmic value axis, for figures spanning orders of magnitude (values must be > 0). */
  log?: boolean;
  width?: number;
  height?: number;
}

const COLORS = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2"];

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Grouped vertical bars: one group per label, one bar per series. */
export function barChart(options: BarChartOptions): string {
  const width = options.width ?? 560;
  const height = options.height ?? 240;
  const margin = { top: 28, right: 12, bottom: 44, left: 64 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const values = options.groups.flatMap((g) => g.values).filter((v): v is number =>
    v !== null && Number.isFinite(v)
  );
  const log = options.log === true && values.every((v) => v > 0);
  const max = values.length ? Math.max(...values) : 1;
  const min = log ? Math.min(...values) : 0;
  const lo = log ? Math.log10(min) - 0.5 : 0;
  const hi = log ? Math.log10(max) + 0.1 : max > 0 ? max * 1.1 : 1;
  const scale = (v: number) => {
    const x = log ? Math.log10(v) : v;
    return Math.max(0, Math.min(plotH, ((x - lo) / (hi - lo)) * plotH));
  };
  const groupW = plotW / Math.max(1, options.groups.length);
  const barW = Math.max(2, (groupW * 0.8) / Math.max(1, options.series.length));
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${
      escapeXml(options.title)
    }">`,
    `<title>${escapeXml(options.title)}</title>`,
    `<text x="${width / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">${
      escapeXml(options.title)
    }</text>`,
    `<line x1="${margin.left}" y1="${margin.top + plotH}" x2="${margin.left + plotW}" y2="${
      margin.top + plotH
    }" stroke="#333"/>`,
    `<line x1="${margin.left}" y1="${margin.top}" x2="${margin.left}" y2="${
      margin.top + plotH
    }" stroke="#333"/>`,
  );
  for (const tick of ticks(lo, hi, log)) {
    const y = margin.top + plotH - ((log ? Math.log10(tick) : tick) - lo) / (hi - lo) * plotH;
    parts.push(
      `<line x1="${margin.left - 4}" y1="${fmt(y)}" x2="${margin.left}" y2="${fmt(y)}" stroke="#333"/>`,
      `<text x="${margin.left - 6}" y="${fmt(y + 4)}" text-anchor="end" font-size="10">${
        tickLabel(tick)
      }</text>`,
    );
  }
  if (options.unit) {
    parts.push(
      `<text x="12" y="${margin.top + plotH / 2}" font-size="10" transform="rotate(-90 12 ${
        margin.top + plotH / 2
      })" text-anchor="middle">${escapeXml(options.unit)}</text>`,
    );
  }
  options.groups.forEach((group, g) => {
    const x0 = margin.left + g * groupW + groupW * 0.1;
    group.values.forEach((value, s) => {
      if (value === null || !Number.isFinite(value)) return;
      const h = scale(value);
      const x = x0 + s * barW;
      parts.push(
        `<rect x="${fmt(x)}" y="${fmt(margin.top + plotH - h)}" width="${fmt(barW - 1)}" height="${
          fmt(h)
        }" fill="${COLORS[s % COLORS.length]}" data-series="${escapeXml(options.series[s])}" data-group="${
          escapeXml(group.label)
        }" data-value="${value}"><title>${
          escapeXml(`${group.label} · ${options.series[s]}: ${formatNumber(value)}`)
        }</title></rect>`,
        `<text x="${fmt(x + (barW - 1) / 2)}" y="${
          fmt(margin.top + plotH - h - 3)
        }" text-anchor="middle" font-size="9">${formatNumber(value)}</text>`,
      );
    });
    parts.push(
      `<text x="${fmt(margin.left + (g + 0.5) * groupW)}" y="${
        margin.top + plotH + 14
      }" text-anchor="middle" font-size="10">${escapeXml(group.label)}</text>`,
    );
  });
  options.series.forEach((name, s) => {
    const x = margin.left + s * 110;
    const y = height - 12;
    parts.push(
      `<rect x="${x}" y="${y - 9}" width="10" height="10" fill="${COLORS[s % COLORS.length]}"/>`,
      `<text x="${x + 14}" y="${y}" font-size="10">${escapeXml(name)}</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("");
}

function ticks(lo: number, hi: number, log: boolean): number[] {
  if (log) {
    const out: number[] = [];
    for (let e = Math.ceil(lo); e <= Math.floor(hi); e++) out.push(10 ** e);
    return out;
  }
  const step = niceStep(hi / 4);
  const out: number[] = [];
  for (let v = 0; v <= hi + 1e-12; v += step) out.push(v);
  return out;
}

function niceStep(raw: number): number {
  if (!(raw > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

/** Axis ticks are round numbers: print them without padding zeros. */
function tickLabel(v: number): string {
  return Math.abs(v) >= 1e5 || (v !== 0 && Math.abs(v) < 1e-3)
    ? v.toExponential(0)
    : String(Number(v.toPrecision(6)));
}

export function formatNumber(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(2);
  if (a >= 100) return v.toFixed(0);
  if (a >= 1) return v.toFixed(2);
  return v.toFixed(3);
}

function fmt(v: number): string {
  return (Math.round(v * 100) / 100).toString();
}

export interface ScatterPoint {
  x: number;
  y: number;
  /** Shown on hover and stored as `data-key`. */
  key: string;
  label?: string;
}

export interface ScatterChartOptions {
  title: string;
  points: ScatterPoint[];
  /** Keys joined by a line, in the given order (e.g. a Pareto front by increasing x). */
  line?: string[];
  /** The key drawn as the highlighted point. */
  highlight?: string;
  /** Axis labels, units included (e.g. "KL to base (nats)"). */
  xLabel: string;
  yLabel: string;
  /** Logarithmic x axis (used only when every x is > 0), for values spanning orders of magnitude. */
  logX?: boolean;
  width?: number;
  height?: number;
}

/**
 * Points on linear axes (every point a circle with `data-key`, `data-x`, `data-y`), an optional polyline through
 * some of them (`data-role="line"`), a highlighted point (`data-role="highlight"`), and a legend.
 */
export function scatterChart(options: ScatterChartOptions): string {
  const width = options.width ?? 640;
  const height = options.height ?? 360;
  const margin = { top: 28, right: 16, bottom: 64, left: 72 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const finite = options.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  const span = (values: number[]) => {
    let lo = Math.min(0, ...values), hi = Math.max(0, ...values);
    if (!(hi > lo)) [lo, hi] = [lo - 1, hi + 1];
    const pad = (hi - lo) * 0.05;
    return [lo - (lo < 0 ? pad : 0), hi + pad] as const;
  };
  const logX = options.logX === true && finite.length > 0 && finite.every((p) => p.x > 0);
  const tx = (x: number) => logX ? Math.log10(x) : x;
  const [x0, x1] = logX
    ? [
      Math.floor(Math.min(...finite.map((p) => tx(p.x)))),
      Math.ceil(Math.max(...finite.map((p) => tx(p.x))) + 1e-9),
    ]
    : span(finite.map((p) => p.x));
  const [y0, y1] = span(finite.map((p) => p.y));
  const px = (x: number) => margin.left + ((tx(x) - x0) / (x1 - x0)) * plotW;
  const py = (y: number) => margin.top + plotH - ((y - y0) / (y1 - y0)) * plotH;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${
      escapeXml(options.title)
    }">`,
    `<title>${escapeXml(options.title)}</title>`,
    `<text x="${width / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">${
      escapeXml(options.title)
    }</text>`,
    `<line x1="${margin.left}" y1="${margin.top + plotH}" x2="${margin.left + plotW}" y2="${
      margin.top + plotH
    }" stroke="#333"/>`,
    `<line x1="${margin.left}" y1="${margin.top}" x2="${margin.left}" y2="${
      margin.top + plotH
    }" stroke="#333"/>`,
  ];
  const xTicks = logX ? Array.from({ length: x1 - x0 + 1 }, (_, i) => 10 ** (x0 + i)) : linearTicks(x0, x1);
  for (const t of xTicks) {
    parts.push(
      `<line x1="${fmt(px(t))}" y1="${margin.top + plotH}" x2="${fmt(px(t))}" y2="${
        margin.top + plotH + 4
      }" stroke="#333"/>`,
      `<text x="${fmt(px(t))}" y="${margin.top + plotH + 15}" text-anchor="middle" font-size="10">${
        tickLabel(t)
      }</text>`,
    );
  }
  for (const t of linearTicks(y0, y1)) {
    parts.push(
      `<line x1="${margin.left - 4}" y1="${fmt(py(t))}" x2="${margin.left}" y2="${
        fmt(py(t))
      }" stroke="#333"/>`,
      `<text x="${margin.left - 6}" y="${fmt(py(t) + 4)}" text-anchor="end" font-size="10">${
        tickLabel(t)
      }</text>`,
    );
  }
  parts.push(
    `<text x="${margin.left + plotW / 2}" y="${
      margin.top + plotH + 32
    }" text-anchor="middle" font-size="11">${escapeXml(options.xLabel)}</text>`,
    `<text x="14" y="${margin.top + plotH / 2}" font-size="11" transform="rotate(-90 14 ${
      margin.top + plotH / 2
    })" text-anchor="middle">${escapeXml(options.yLabel)}</text>`,
  );
  const byKey = new Map(finite.map((p) => [p.key, p]));
  const line = (options.line ?? []).map((k) => byKey.get(k)).filter((p): p is ScatterPoint => Boolean(p));
  if (line.length > 0) {
    parts.push(
      `<polyline data-role="line" fill="none" stroke="${COLORS[1]}" stroke-width="1.5" points="${
        line.map((p) => `${fmt(px(p.x))},${fmt(py(p.y))}`).join(" ")
      }"/>`,
    );
  }
  const onLine = new Set(line.map((p) => p.key));
  for (const p of finite) {
    parts.push(
      `<circle cx="${fmt(px(p.x))}" cy="${fmt(py(p.y))}" r="${onLine.has(p.key) ? 4 : 3}" fill="${
        onLine.has(p.key) ? COLORS[1] : COLORS[0]
      }" fill-opacity="0.75" data-key="${escapeXml(p.key)}" data-x="${p.x}" data-y="${p.y}"${
        onLine.has(p.key) ? ' data-role="front"' : ""
      }><title>${
        escapeXml(`${p.label ?? p.key}: ${formatNumber(p.x)}, ${formatNumber(p.y)}`)
      }</title></circle>`,
    );
  }
  const h = options.highlight === undefined ? undefined : byKey.get(options.highlight);
  if (h) {
    parts.push(
      `<circle data-role="highlight" data-key="${escapeXml(h.key)}" cx="${fmt(px(h.x))}" cy="${
        fmt(py(h.y))
      }" r="8" fill="none" stroke="${COLORS[3]}" stroke-width="2.5"><title>${
        escapeXml(`chosen: ${h.label ?? h.key}`)
      }</title></circle>`,
    );
  }
  const legend: [string, string, string][] = [
    ["trial", COLORS[0], "circle"],
    ["Pareto front", COLORS[1], "line"],
    ["chosen", COLORS[3], "ring"],
  ];
  legend.forEach(([name, color, kind], i) => {
    const x = margin.left + i * 130;
    const y = height - 10;
    parts.push(
      kind === "ring"
        ? `<circle cx="${x + 5}" cy="${y - 4}" r="5" fill="none" stroke="${color}" stroke-width="2"/>`
        : kind === "line"
        ? `<line x1="${x}" y1="${y - 4}" x2="${x + 12}" y2="${y - 4}" stroke="${color}" stroke-width="2"/>`
        : `<circle cx="${x + 5}" cy="${y - 4}" r="3.5" fill="${color}"/>`,
      `<text x="${x + 18}" y="${y}" font-size="10">${escapeXml(name)}</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("");
}

function linearTicks(lo: number, hi: number): number[] {
  const step = niceStep((hi - lo) / 5);
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    out.push(Math.abs(v) < step * 1e-9 ? 0 : Number(v.toPrecision(12)));
  }
  return out;
}
