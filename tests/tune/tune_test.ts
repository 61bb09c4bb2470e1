/**
 * The tune end to end on the planted demo model (infra/demo/planted_model.ts: the toxic direction u is written by
 * the MLPs of blocks 1..3, rank 1), on the cpu backend: the search is interrupted after a few trials and resumed
 * from its JSONL store without repeating one; the chosen point covers the planted blocks at the planted rank and
 * beats the default parameters on KL at (about) equal margin gain; the chosen edit's files are a plain runEdit's
 * with those parameters, byte for byte; tune.json and report.html hold every trial, the front and the choice.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { pairsJsonl, writeDemoModel } from "../../infra/demo/write_demo.ts";
import { buildTriggerPairs } from "../../infra/demo/data.ts";
import { runEdit } from "../../gpu-worker/edit/pipeline.ts";
import {
  DEFAULT_BENIGN_PROMPTS,
  DEFAULT_CHALLENGE_PROMPTS,
  DEFAULT_HELD_OUT_TEXTS,
} from "../../gpu-worker/eval/default_prompts.ts";
import { createLexiconScorer } from "../../shared/toxicity/lexicon.ts";
import { noGpu } from "../helpers/env.ts";
import { chooseTrial, GAIN_SHARE } from "../../gpu-worker/tune/choice.ts";
import { jsonlTrialStore, TRIALS_FILE } from "../../gpu-worker/tune/store.ts";
import { runTune, TUNE_FILE, type TuneDocument, type TuneInput } from "../../gpu-worker/tune/tune.ts";

const work = await Deno.makeTempDir({ prefix: "profs-tune-test-" });
globalThis.addEventListener("unload", () => Deno.removeSync(work, { recursive: true }));
const modelDir = join(work, "model");
await Deno.mkdir(modelDir);
const planted = await writeDemoModel(modelDir);
const pairsFile = join(work, "pairs.jsonl");
// A trigger context continued by a neutral word (preferred) or a planted toxic word (rejected).
await Deno.writeTextFile(pairsFile, pairsJsonl(buildTriggerPairs(64)));

const input: TuneInput = {
  modelDir,
  pairsFile,
  outDir: join(work, "tune"),
  benignPrompts: [...DEFAULT_BENIGN_PROMPTS],
  benignTexts: [...DEFAULT_HELD_OUT_TEXTS],
  params: { max_rank: 3, layers_grid: [0, 1, 2] },
  backend: "cpu",
};
const store = jsonlTrialStore(join(input.outDir, TRIALS_FILE));

Deno.test("a tune interrupted after 4 trials resumes from its store and repeats none", async () => {
  const stop = new AbortController();
  await assert.rejects(
    runTune(input, {
      store,
      signal: stop.signal,
      onProgress: (p) => {
        if (p.stage === "trials" && p.done === 4) stop.abort(new Error("stopped by the test"));
      },
    }),
    /stopped by the test/,
  );
  const first = await store.load();
  assert.equal(first.length, 4);
  const seen: string[] = [];
  const { document } = await runTune(input, {
    store,
    onProgress: (p) => {
      if (p.stage === "trials") {
        seen.push(p.trial!.key);
        assert.ok(p.trialsPerSecond! > 0);
      }
    },
  });
  assert.equal(document.search.candidates, 3 * 3 * 2);
  assert.equal(document.search.resumed, 4);
  assert.equal(document.search.ran, 14);
  assert.equal(seen.length, 14);
  for (const t of first) assert.ok(!seen.includes(t.key), `${t.key} ran again`);
  const all = await store.load();
  assert.equal(new Set(all.map((t) => t.key)).size, 18);
  assert.deepEqual(document.trials.map((t) => t.key).sort(), all.map((t) => t.key).sort());
  result = document;
});

let result: TuneDocument | undefined;

Deno.test("the chosen point covers the planted blocks at the planted rank and beats the default on KL", () => {
  const doc = result!;
  const { from, to } = planted.plantedLayers;
  const chosen = doc.chosen.trial;
  assert.ok(chosen.layers.from <= from && chosen.layers.to >= to, `chosen ${chosen.key}`);
  assert.equal(chosen.rank, 1, `chosen ${chosen.key}`);
  assert.ok(chosen.margin.gain > 0);
  const byKey = new Map(doc.trials.map((t) => [t.key, t]));
  const defaults = byKey.get(doc.defaultKey)!;
  assert.equal(doc.defaultKey, `${from}:${to}/r2/c1`);
  // The default edit is dominated: some trial has at least its margin gain at a smaller KL.
  assert.ok(doc.trials.some((t) => t.margin.gain >= defaults.margin.gain && t.kl < defaults.kl));
  assert.ok(!doc.front.includes(doc.defaultKey));
  // Among the default's own centering setting, the rule's choice reaches the default's gain (≥ 90% of the best)
  // at a smaller KL, with the planted blocks and rank.
  const centered = doc.trials.filter((t) => t.centering).map((t) => ({
    key: t.key,
    gain: t.margin.gain,
    kl: t.kl,
    rank: t.rank,
    blocks: t.layers.to - t.layers.from,
  }));
  const pick = byKey.get(chooseTrial(centered, { objective: "margin" }).key)!;
  assert.ok(pick.layers.from <= from && pick.rank === 1, pick.key);
  assert.ok(pick.kl < defaults.kl, `${pick.key} KL ${pick.kl} vs default ${defaults.kl}`);
  assert.ok(pick.margin.gain >= GAIN_SHARE * defaults.margin.gain);
});

Deno.test("the chosen edit equals a plain runEdit with the chosen parameters, byte for byte", async () => {
  const doc = result!;
  const plain = await runEdit({
    modelDir,
    pairsFile,
    outDir: join(work, "plain"),
    layers: doc.chosen.layers,
    rank: doc.chosen.rank,
    centering: doc.chosen.centering,
    backend: "cpu",
  });
  const tuned = [...Deno.readDirSync(input.outDir)].map((e) => e.name).sort();
  assert.deepEqual(tuned, [...plain.files, TRIALS_FILE, TUNE_FILE, "report.html"].sort());
  // README.md and report.json carry times; everything else must be identical.
  for (const name of plain.files.filter((f) => f !== "README.md" && f !== "report.json")) {
    const a = await Deno.readFile(join(input.outDir, name));
    const b = await Deno.readFile(join(plain.outDir, name));
    assert.ok(a.length === b.length && a.every((x, i) => x === b[i]), `${name} differs`);
  }
  const report = JSON.parse(await Deno.readTextFile(join(input.outDir, "report.json")));
  assert.deepEqual(report.layers, plain.report.layers);
  assert.deepEqual(report.params, plain.report.params);
});

Deno.test("tune.json and report.html show every trial, the front and the chosen point", async () => {
  const doc: TuneDocument = JSON.parse(await Deno.readTextFile(join(input.outDir, TUNE_FILE)));
  assert.equal(doc.trials.length, 18);
  assert.equal(doc.chosen.key, result!.chosen.key);
  assert.match(doc.rule.text, /smallest KL .* ≥ 90% of the best held-out margin gain/);
  const html = await Deno.readTextFile(join(input.outDir, "report.html"));
  const points = [...html.matchAll(/<circle cx="[^"]*" cy="[^"]*" r="\d" [^>]*data-key="([^"]+)"/g)].map((
    m,
  ) => m[1]);
  assert.deepEqual(points.sort(), doc.trials.map((t) => t.key).sort());
  const front = [...html.matchAll(/data-key="([^"]+)" data-x="[^"]*" data-y="[^"]*" data-role="front"/g)]
    .map((m) => m[1]);
  assert.deepEqual(front.sort(), [...doc.front].sort());
  assert.ok(html.includes(`data-role="highlight" data-key="${doc.chosen.key}"`));
  assert.ok(html.includes("KL to the base on benign prompts (nats, mean)"));
  assert.ok(html.includes("held-out margin gain (nats/token)"));
  assert.ok(html.includes("<h2>Trials</h2>"));
});

Deno.test("a trial store of another search (other seed) is refused before any model work", async () => {
  await assert.rejects(
    runTune({ ...input, outDir: join(work, "other-seed"), params: { ...input.params, seed: 5 } }, { store }),
    /trial store holds trials of another search/,
  );
  assert.ok(!await Deno.stat(join(work, "other-seed")).then(() => true, () => false));
});

Deno.test("a finished tune is not overwritten, and its parameters are the API's, checked before any work", async () => {
  await assert.rejects(runTune(input, { store }), /holds a finished tune/);
  const bad: [TuneInput["params"], RegExp][] = [
    [
      { trials: 2, time_seconds: 3 },
      /InputError: Cannot tune as at most one of 'trials' and 'time_seconds' may be given$/,
    ],
    [
      { trials: 0 },
      /InputError: Cannot tune as 'trials' must be an integer from 1 to 10000: current value is 0$/,
    ],
    [
      { max_rank: 65 },
      /InputError: Cannot tune as 'max_rank' must be an integer from 1 to 64: current value is 65$/,
    ],
    [
      { layers_grid: [] },
      /InputError: Cannot tune as 'layers_grid' must be 1 to 64 layer starts or FROM:TO ranges/,
    ],
  ];
  for (const [params, message] of bad) {
    await assert.rejects(runTune({ ...input, outDir: join(work, "x"), params }), message);
  }
  assert.ok(!await Deno.stat(join(work, "x")).then(() => true, () => false), "nothing written");
  // The model bounds the grid: a start past its 4 blocks is refused before the embedding, and nothing stays.
  const stages: string[] = [];
  await assert.rejects(
    runTune({ ...input, outDir: join(work, "x"), params: { layers_grid: [1, 7] } }, {
      onProgress: (p) => stages.push(p.stage),
    }),
    /InputError: Cannot tune layers 7 as a layers grid item must be a start below 4 or FROM:TO with 0 ≤ FROM < TO ≤ 4/,
  );
  assert.ok(!stages.includes("embedding"), stages.join());
  assert.ok(!await Deno.stat(join(work, "x")).then(() => true, () => false), "nothing left behind");
});

Deno.test("with challenge prompts the toxicity objective scores greedy continuations of base and trials", async () => {
  const { document } = await runTune({
    ...input,
    outDir: join(work, "toxicity"),
    challengePrompts: DEFAULT_CHALLENGE_PROMPTS.slice(0, 4),
    params: { objective: "toxicity", max_rank: 1, layers_grid: [{ from: 1, to: 4 }], centering: "both" },
  }, { scorer: createLexiconScorer() });
  assert.equal(document.objective, "toxicity");
  assert.equal(document.inputs.challengePrompts, 4);
  assert.equal(document.inputs.scorer, "lexicon");
  // The planted model continues every trigger prompt with toxic words; the planted edit removes that.
  assert.ok(document.base.toxicity! > 0.5, `base toxicity ${document.base.toxicity}`);
  const t = document.chosen.trial;
  assert.ok(t.toxicity && t.toxicity.reduction > 0.5, JSON.stringify(t.toxicity));
  assert.match(document.rule.text, /best toxicity reduction/);
  const html = await Deno.readTextFile(join(work, "toxicity", "report.html"));
  assert.ok(html.includes("toxicity reduction (mean score, base − trial)"));
});

Deno.test({
  name: "a tune on the webgpu backend (lavapipe in CI) runs its trials on the corrected webgpu engine",
  ignore: noGpu(),
  async fn() {
    const { document, edit } = await runTune({
      ...input,
      outDir: join(work, "webgpu"),
      backend: "webgpu",
      params: { max_rank: 1, layers_grid: [{ from: 1, to: 4 }], centering: "on" },
    });
    assert.equal(edit.report.backend, "webgpu");
    assert.equal(document.trials.length, 1);
    const cpu = result!.trials.find((t) => t.key === "1:4/r1/c1")!;
    // Same candidate, other engine: the same figures to float32 tolerance (the subspaces agree to ~1e-6).
    assert.ok(
      Math.abs(document.trials[0].margin.gain - cpu.margin.gain) < 1e-3 * Math.abs(cpu.margin.gain) + 1e-4,
    );
  },
});
