/**
 * The Pareto chart's SVG (gpu-worker/report/svg.ts scatterChart): every point with its key and values, the line
 * through the given keys, the highlighted point, labelled axes, and a log x axis spacing decades evenly.
 */
import assert from "node:assert/strict";
import { scatterChart } from "../../gpu-worker/report/svg.ts";

const points = [
  { key: "a", x: 1e-6, y: 0.1 },
  { key: "b", x: 1e-3, y: 0.5 },
  { key: "c", x: 1, y: 0.6 },
  { key: "d<&>", x: 1e-3, y: 0.2 },
];

function cx(svg: string, key: string): number {
  const m = new RegExp(`<circle cx="([^"]+)" cy="[^"]+" r="\\d" [^>]*data-key="${key}"`).exec(svg);
  assert.ok(m, `point ${key}`);
  return Number(m[1]);
}

Deno.test("scatterChart draws every point, the line, the highlight and both axis labels", () => {
  const svg = scatterChart({
    title: "front",
    points,
    line: ["a", "b", "c"],
    highlight: "b",
    xLabel: "KL (nats)",
    yLabel: "gain (nats/token)",
  });
  assert.equal([...svg.matchAll(/data-key="[^"]+" data-x=/g)].length, 4);
  assert.ok(svg.includes('data-key="d&#60;&#38;&#62;"'), "keys are escaped");
  assert.equal([...svg.matchAll(/data-role="front"/g)].length, 3);
  assert.match(svg, /<polyline data-role="line"[^>]* points="[\d.]+,[\d.]+ [\d.]+,[\d.]+ [\d.]+,[\d.]+"/);
  assert.match(svg, /data-role="highlight" data-key="b"/);
  assert.ok(svg.includes(">KL (nats)</text>") && svg.includes(">gain (nats/token)</text>"));
  assert.ok(cx(svg, "a") < cx(svg, "b") && cx(svg, "b") < cx(svg, "c"));
});

Deno.test("a log x axis spaces decades evenly and labels them", () => {
  const svg = scatterChart({ title: "t", points, xLabel: "x", yLabel: "y", logX: true });
  const [a, b, c] = ["a", "b", "c"].map((k) => cx(svg, k));
  assert.ok(Math.abs((b - a) - (c - b)) < 0.05, `${a} ${b} ${c}`);
  assert.match(svg, />1e-6</);
  // Not every x positive: linear after all.
  const linear = scatterChart({
    title: "t",
    points: [...points, { key: "z", x: 0, y: 0 }],
    xLabel: "x",
    yLabel: "y",
    logX: true,
  });
  assert.ok(cx(linear, "b") - cx(linear, "a") < 1, "1e-6 and 1e-3 sit together on a linear axis");
});
