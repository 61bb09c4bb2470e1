import assert from "node:assert/strict";
import type { CheckResult } from "../../shared/contracts/check_result.ts";
import type { EditReport } from "../../gpu-worker/edit/report.ts";
import { renderReportHtml } from "../../gpu-worker/report/html.ts";
import { barChart } from "../../gpu-worker/report/svg.ts";
import { modelCard } from "../../gpu-worker/edit/model_card.ts";

function bars(svg: string) {
  return [
    ...svg.matchAll(
      /<rect [^>]*height="([\d.]+)"[^>]*data-series="([^"]*)" data-group="([^"]*)" data-value="([^"]*)"/g,
    ),
  ]
    .map((m) => ({ height: Number(m[1]), series: m[2], group: m[3], value: Number(m[4]) }));
}

Deno.test("barChart: one bar per non-null value, heights proportional to the values", () => {
  const svg = barChart({
    title: "t",
    series: ["before", "after"],
    groups: [{ label: "a", values: [4, 2] }, { label: "b", values: [1, null] }],
  });
  const found = bars(svg);
  assert.deepEqual(found.map((b) => [b.group, b.series, b.value]), [["a", "before", 4], ["a", "after", 2], [
    "b",
    "before",
    1,
  ]]);
  const [a4, a2, b1] = found.map((b) => b.height);
  assert.ok(Math.abs(a4 / a2 - 2) < 0.01 && Math.abs(a4 / b1 - 4) < 0.01, `${a4} ${a2} ${b1}`);
});

Deno.test("barChart: a log axis orders bars by magnitude and keeps every bar visible", () => {
  const found = bars(
    barChart({
      title: "ppl",
      series: ["x"],
      groups: [1, 100, 10000].map((v) => ({ label: `${v}`, values: [v] })),
      log: true,
    }),
  );
  const heights = found.map((b) => b.height);
  assert.ok(heights[0] > 0 && heights[0] < heights[1] && heights[1] < heights[2], `${heights}`);
  // equal steps in log10 → equal height steps
  assert.ok(Math.abs((heights[1] - heights[0]) - (heights[2] - heights[1])) < 0.05);
});

const report: EditReport = {
  format: "profs-report/1",
  createdAt: "2026-11-26T12:00:00.000Z",
  model: {
    sha256: "ab".repeat(32),
    family: "gpt2",
    numLayers: 4,
    hiddenSize: 64,
    weightFiles: ["model.safetensors"],
  },
  editedModelSha256: "cd".repeat(32),
  params: {
    layers: { from: 1, to: 4 },
    rank: 2,
    centering: true,
    maxPairs: 500,
    seed: 0,
    maxTokens: 128,
    tolerance: 1e-6,
    maxIterations: 2000,
  },
  source: {
    kind: "pairs",
    sha256: "0".repeat(64),
    file: "pairs.jsonl",
    pairsAvailable: 96,
    pairsUsed: 96,
    format: "preferred-rejected",
  },
  backend: "cpu",
  layers: [1, 2, 3].map((layer) => ({
    layer,
    tensor: `h.${layer}.mlp.c_proj.weight`,
    singularValues: [10 * layer, layer],
    explainedVariance: [0.9, 0.01],
    iterations: 12,
    residual: 1e-7,
    converged: true,
    directions: [
      {
        positive: [{ token: " nice", id: 3621, score: 1 }],
        negative: [{ token: "<script>alert(1)</script>", id: 1, score: -3 }],
      },
      {
        positive: [{ token: " the", id: 262, score: 0.1 }],
        negative: [{ token: " is", id: 318, score: -0.1 }],
      },
    ],
  })),
  seconds: { embed: 1.5, subspace: 0.2, write: 0.3, total: 2.1 },
};

function check(share: number, ppl: number, kl: number | null): CheckResult {
  return {
    toxicity: {
      scorer: "lexicon",
      threshold: 0.5,
      mean: share * 0.9,
      share_toxic: share,
      prompts: 24,
      max_new_tokens: 10,
    },
    perplexity: { value: ppl, texts: 6, tokens: 150 },
    kl: kl === null ? null : { mean: kl, max: 2 * kl, prompts: 12 },
    samples: [{
      prompt: "When my cousin got angry, he called me a",
      continuation: share > 0.5 ? " bastard" : " nice day",
      score: share > 0.5 ? 0.75 : 0,
    }],
    timings_ms: { toxicity: 1000, perplexity: 200, kl: 300 },
  };
}

Deno.test("renderReportHtml: self-contained page with spectrum, before/after charts and token tables", () => {
  const html = renderReportHtml({
    report,
    evaluation: { before: check(1, 39000, null), after: check(0, 39010, 1e-5) },
  });
  assert.ok(html.startsWith("<!doctype html>"));
  // Self-contained: no script, no external resource (the SVG namespace URI is an identifier, not a fetch).
  assert.ok(!/<script/i.test(html), "no script tag (token text must be escaped)");
  assert.ok(!/(src|href)=/i.test(html), "no external references");
  assert.ok(html.includes("&#60;script&#62;alert(1)&#60;/script&#62;"), "token text is escaped");
  const svgs = html.match(/<svg[\s\S]*?<\/svg>/g) ?? [];
  assert.equal(svgs.length, 3, "spectrum, toxicity and perplexity charts");
  const spectrum = bars(svgs.find((s) => s.includes("Singular values"))!);
  assert.deepEqual(spectrum.map((b) => b.value), [10, 1, 20, 2, 30, 3]);
  const toxicity = bars(svgs.find((s) => s.includes("Toxicity"))!);
  assert.deepEqual(toxicity.filter((b) => b.group === "toxic share").map((b) => [b.series, b.value]), [[
    "before",
    1,
  ], ["after", 0]]);
  assert.ok(html.includes("When my cousin got angry"), "sample prompts are shown");
  assert.ok(html.includes(report.editedModelSha256));
});

Deno.test("renderReportHtml: without a check there is no evaluation section", () => {
  const html = renderReportHtml({ report });
  assert.ok(!html.includes("<h2>Evaluation"));
  assert.equal((html.match(/<svg/g) ?? []).length, 1);
});

Deno.test("report.html and the model card show the held-out margin of base and edited model, or why there is none", () => {
  const heldOut = {
    share: 0.2,
    pairs: 19,
    rows: [3, 19],
    base: { pairs: 19, skipped: 0, meanMargin: 0.5421, accuracy: 13 / 19 },
    edited: { pairs: 19, skipped: 0, meanMargin: 0.7432, accuracy: 1 },
  };
  const html = renderReportHtml({ report: { ...report, heldOut } });
  const section = html.slice(html.indexOf("<h2>Preference margin</h2>"));
  assert.ok(section.length < html.length, "a preference margin section");
  assert.match(section, /19 held-out pairs \(share 0\.2\), never used to find the subspace/);
  assert.match(section, /mean margin \(nats\/token\)<\/td><td>0\.542<\/td><td>0\.743<\/td>/);
  assert.match(section, /preference accuracy<\/td><td>0\.684<\/td><td>1\.00<\/td>/);
  assert.match(html, /preference pairs<\/th><td>\d+ used for the subspace, 19 held out, of/);

  const lineage = { baseModel: null, license: null, baseCardBody: null };
  const card = modelCard({ ...report, heldOut }, "mlp.c_proj.weight", lineage);
  assert.match(card, /\| Held-out pairs \| 19 \(share 0\.2, seed \d+\), never used to find the subspace \|/);
  assert.match(card, /## Preference margin on 19 held-out pairs/);
  assert.match(card, /\| Mean margin \(nats\/token\) \| 0\.5421 \| 0\.7432 \|/);
  assert.match(card, /\| Preference accuracy \| 68\.4% \| 100\.0% \|/);

  const skipped = { share: 0.2, pairs: 0, rows: [], skipped: "No pairs were held out … 20 are usable" };
  assert.match(
    renderReportHtml({ report: { ...report, heldOut: skipped } }),
    /Not measured\. No pairs were held out/,
  );
  assert.match(
    modelCard({ ...report, heldOut: skipped }, "mlp.c_proj.weight", lineage),
    /Not measured\. No pairs/,
  );
  // holdout 0: the user's choice, no section; a report written before the hold-out existed: none either.
  const off = { share: 0, pairs: 0, rows: [] };
  assert.ok(!renderReportHtml({ report: { ...report, heldOut: off } }).includes("Preference margin"));
  assert.ok(
    !modelCard({ ...report, heldOut: off }, "mlp.c_proj.weight", lineage).includes("Preference margin"),
  );
  assert.ok(!renderReportHtml({ report }).includes("Preference margin"));
});
