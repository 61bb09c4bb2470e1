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
