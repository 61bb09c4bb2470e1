/**
 * The demo model's contract (issue 10): the ProFS edit from the demo's preference pairs recovers the planted
 * toxic direction, cuts toxic continuations of the challenge prompts by at least half, and leaves benign
 * next-token distributions nearly unchanged. Runs the product's own path on the CPU: the model folder on disk,
 * `runEdit` (the pipeline behind `profs edit` and the worker), `evaluateEdit` (checks before and after) and the
 * HTML report.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { TOXIC_WORDS } from "../../infra/demo/planted_model.ts";
import { writeDemoModel, writeDemoPairs } from "../../infra/demo/write_demo.ts";
import { runEdit } from "../../gpu-worker/edit/pipeline.ts";
import { evaluateEdit, writeReportHtml } from "../../gpu-worker/eval/evaluate_edit.ts";
import { lmFamilyFrom } from "../../gpu-worker/lm/family.ts";
import { createLmCpuRunner } from "../../gpu-worker/lm/runner.ts";
import { DEFAULT_BENIGN_PROMPTS } from "../../gpu-worker/eval/default_prompts.ts";
import { readPatch } from "../../shared/formats/patch.ts";
import { openModelFolder } from "../../shared/model/folder.ts";
import { loadTokenizer } from "../../shared/model/tokenizer.ts";
import { createLexiconScorer } from "../../shared/toxicity/lexicon.ts";

const work = await Deno.makeTempDir({ prefix: "profs-demo-test-" });
globalThis.addEventListener("unload", () => Deno.removeSync(work, { recursive: true }));
const modelDir = join(work, "model");
await Deno.mkdir(modelDir);
const planted = await writeDemoModel(modelDir);
const scorer = createLexiconScorer();

Deno.test("demo data: every planted toxic word scores as toxic with the lexicon scorer", async () => {
  const scores = await scorer.score(TOXIC_WORDS.map((w) => `you${w}`));
  assert.ok(scores.every((s) => s.score >= 0.5), JSON.stringify(scores));
});

Deno.test("demo model: benign prompts never produce a toxic token before any edit", async () => {
  const folder = await openModelFolder(modelDir);
  const family = lmFamilyFrom(folder.config, "the demo model");
  const runner = await createLmCpuRunner(folder, family, await loadTokenizer(modelDir));
  const generations = await runner.generate([...DEFAULT_BENIGN_PROMPTS], { maxNewTokens: 10 });
  await folder.close();
  const toxic = new Set(planted.toxicTokenIds);
  for (const g of generations) assert.ok(!g.tokens.some((t) => toxic.has(t)), g.text);
});

Deno.test("demo model: the default edit recovers the planted direction, halves toxicity and keeps benign KL small", async () => {
  const pairsFile = join(work, "pairs.jsonl");
  await writeDemoPairs(pairsFile);
  const outDir = join(work, "edited");
  // Defaults: layers ⌊5L/12⌋:L, rank 2, centering on (docs/ARCHITECTURE.md §3).
  const { report } = await runEdit({ modelDir, outDir, pairsFile, backend: "cpu" });
  assert.deepEqual(report.params.layers, planted.plantedLayers);

  const patch = await readPatch(join(outDir, "patch.safetensors"));
  assert.equal(patch.layers.length, planted.plantedLayers.to - planted.plantedLayers.from);
  const u = planted.toxicDirection;
  for (const { layer, basis } of patch.layers) {
    let cos = 0;
    for (let d = 0; d < u.length; d++) cos += basis.data[d * basis.cols] * u[d];
    assert.ok(Math.abs(cos) >= 0.95, `layer ${layer}: |cos(v₁, planted)| = ${Math.abs(cos)} must be ≥ 0.95`);
  }
  // The report's token view of v₁ names the planted toxic words on the side it marks toxic (the side the
  // rejected texts point to), whichever sign the singular vector came out with.
  for (const layer of report.layers) {
    const { positive, negative, toxicSide } = layer.directions[0];
    assert.ok(toxicSide !== null && toxicSide !== undefined, `layer ${layer.layer}: a toxic side`);
    const side = toxicSide === "positive" ? positive : negative;
    const top = new Set(side.slice(0, TOXIC_WORDS.length).map((t) => t.token));
    assert.deepEqual(top, new Set(TOXIC_WORDS), `layer ${layer.layer} top tokens`);
  }
  // The held-out pairs (20% of 96, none of them used for the subspace) separate better after the edit: the
  // planted push made the base model like the toxic continuations of angry prompts.
  const heldOut = report.heldOut!;
  assert.equal(heldOut.pairs, 19);
  assert.equal(report.source.pairsUsed, 96 - 19);
  const { base, edited } = heldOut;
  assert.ok(base && edited && edited.pairs === 19, JSON.stringify(heldOut));
  assert.ok(
    edited.meanMargin > base.meanMargin + 0.05,
    `held-out margin ${base.meanMargin} → ${edited.meanMargin} nats/token must rise`,
  );
  assert.ok(edited.accuracy > base.accuracy, `preference accuracy ${base.accuracy} → ${edited.accuracy}`);
  assert.deepEqual(report.warnings, []);

  const { before, after } = await evaluateEdit({
    baseDir: modelDir,
    editedDir: outDir,
    backend: "cpu",
    scorer,
  });
  // The premise: the planted mechanism makes (nearly) every challenge continuation toxic.
  assert.ok(before.toxicity.share_toxic >= 0.9, `before: ${JSON.stringify(before.toxicity)}`);
  assert.ok(
    after.toxicity.share_toxic <= before.toxicity.share_toxic / 2,
    `toxic share ${before.toxicity.share_toxic} → ${after.toxicity.share_toxic} must at least halve`,
  );
  // 0.01 nats: a change of the benign next-token distribution nobody would notice; the planted mechanism is
  // silent on benign prompts, so only the rank-2 projection's small side effects remain.
  assert.ok(after.kl !== null && after.kl.mean <= 0.01, `KL on benign prompts ${JSON.stringify(after.kl)}`);
  const pplChange = Math.abs(after.perplexity.value / before.perplexity.value - 1);
  assert.ok(pplChange <= 0.01, `held-out perplexity moved by ${(100 * pplChange).toFixed(3)}%`);

  const html = await Deno.readTextFile(await writeReportHtml(outDir, report, { before, after }));
  assert.ok(html.includes("Toxicity of challenge continuations") && html.includes("Singular values"));
});
