/**
 * A tune's sections of report.html: the Pareto chart (every trial a point, the front a line, the chosen point
 * ringed; gain against KL to the base, both with units), what was searched and how the point was chosen, and
 * the table of every trial.
 */
import type { TuneDocument } from "../tune/tune.ts";
import { table } from "./html.ts";
import { escapeXml, formatNumber, scatterChart } from "./svg.ts";

export function tuneSections(doc: TuneDocument): string[] {
  const toxicity = doc.objective === "toxicity";
  const gainOf = (t: TuneDocument["trials"][0]) =>
    toxicity ? t.toxicity?.reduction ?? Number.NaN : t.margin.gain;
  const yLabel = toxicity
    ? "toxicity reduction (mean score, base − trial)"
    : "held-out margin gain (nats/token)";
  const chart = scatterChart({
    title: `Pareto front: ${toxicity ? "toxicity reduction" : "held-out margin gain"} vs KL to the base`,
    points: doc.trials.map((t) => ({ key: t.key, x: t.kl, y: gainOf(t), label: label(t) })),
    line: doc.front,
    highlight: doc.chosen.key,
    xLabel: "KL to the base on benign prompts (nats, mean)",
    yLabel,
    logX: spansDecades(doc.trials.map((t) => t.kl)),
  });
  const c = doc.chosen.trial;
  const summary: string[][] = [
    [
      "chosen",
      `layers ${c.layers.from}:${c.layers.to}, rank ${c.rank}, centering ${c.centering ? "on" : "off"}`,
    ],
    ["rule", doc.rule.text],
    [
      "chosen point",
      `margin gain ${formatNumber(c.margin.gain)} nats/token, KL ${formatNumber(c.kl)} nats, perplexity ${
        formatNumber(c.perplexity)
      }${c.toxicity ? `, toxicity ${formatNumber(c.toxicity.mean)}` : ""}`,
    ],
    [
      "base model",
      `held-out margin ${formatNumber(doc.base.margin)} nats/token (accuracy ${
        (100 * doc.base.accuracy).toFixed(1)
      }%), perplexity ${formatNumber(doc.base.perplexity)}${
        doc.base.toxicity === null ? "" : `, toxicity ${formatNumber(doc.base.toxicity)}`
      }`,
    ],
    [
      "searched",
      `${doc.trials.length} of ${doc.search.candidates} candidates: ranks 1..${doc.search.maxRank} × ${doc.search.layerRanges.length} layer ranges × centering ${
        doc.search.centering.map((x) => x ? "on" : "off").join("/")
      }; ${formatNumber(doc.search.trialsPerSecond)} trials/s${
        doc.search.resumed ? ` (${doc.search.resumed} resumed)` : ""
      }`,
    ],
    [
      "data",
      `${doc.inputs.pairs.subspacePairs} pairs found the subspaces, ${doc.inputs.pairs.heldOutPairs} held out for the margin; ` +
      `benign set: ${doc.inputs.benign.source}`,
    ],
  ];
  const defaultTrial = doc.trials.find((t) => t.key === doc.defaultKey);
  if (defaultTrial) {
    summary.push([
      "default parameters",
      `${doc.defaultKey}: margin gain ${formatNumber(defaultTrial.margin.gain)}, KL ${
        formatNumber(defaultTrial.kl)
      }`,
    ]);
  }
  const front = new Set(doc.front);
  const rows = [...doc.trials].sort((a, b) => a.kl - b.kl).map((t) => [
    `${t.key === doc.chosen.key ? "★ " : ""}${front.has(t.key) ? "front " : ""}`.trim(),
    `${t.layers.from}:${t.layers.to}`,
    String(t.rank),
    t.centering ? "on" : "off",
    formatNumber(t.margin.gain),
    `${(100 * t.margin.accuracy).toFixed(1)}%`,
    formatNumber(t.kl),
    formatNumber(t.perplexity),
    t.toxicity ? formatNumber(t.toxicity.mean) : "—",
    t.seconds.toFixed(2),
  ]);
  return [
    `<h2>Tune</h2>${table(["", ""], summary, false)}
<div class="charts">${chart}</div>
${doc.notes.map((n) => `<p class="muted">${escapeXml(n)}</p>`).join("\n")}`,
    `<h2>Trials</h2><p>By increasing KL; ★ marks the chosen point, "front" the Pareto front.</p>${
      table(
        [
          "",
          "layers",
          "rank",
          "centering",
          "margin gain (nats/token)",
          "accuracy",
          "KL (nats)",
          "perplexity",
          "toxicity",
          "seconds",
        ],
        rows,
      )
    }`,
  ];
}

function label(t: TuneDocument["trials"][0]): string {
  return `layers ${t.layers.from}:${t.layers.to}, rank ${t.rank}, centering ${t.centering ? "on" : "off"}`;
}

/** A log axis when the values are all positive and span more than two orders of magnitude. */
function spansDecades(values: number[]): boolean {
  const positive = values.filter((v) => v > 0);
  return positive.length === values.length && positive.length > 1 &&
    Math.max(...positive) / Math.min(...positive) > 100;
}
