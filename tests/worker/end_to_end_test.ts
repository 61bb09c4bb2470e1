/**
 * The worker end to end on the embedded engine (PGlite, in-process worker, cpu backend): a user's edit submitted
 * over HTTP is claimed, run and published, and what they download equals what `profs edit` (runEdit) writes for
 * the same inputs, byte for byte.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runEdit } from "../../gpu-worker/edit/pipeline.ts";
import { startWorker, type Worker } from "../../gpu-worker/worker/worker.ts";
import { listArtifacts } from "../../shared/db/repositories/jobs.ts";
import { createLogger } from "../../shared/log.ts";
import { noGpu } from "../helpers/env.ts";
import {
  download,
  events,
  pollEdit,
  serveApi,
  type Served,
  submitEdit,
  uploadModel,
  uploadPairs,
  writeInputs,
} from "./harness.ts";

const PARAMS = { layers: { from: 0, to: 2 }, rank: 2, max_pairs: 500, seed: 3, max_tokens: 16 };

function worker(s: Served, logs: string[] = []): Worker {
  return startWorker({
    db: s.database.db,
    blobs: s.blobs,
    logger: createLogger({ write: (line) => logs.push(line) }),
    backend: "cpu",
    pollMs: 20,
    heartbeatMs: 100,
    leaseMs: 10_000,
    progressIntervalMs: 0,
  });
}

Deno.test("an edit submitted over HTTP is run by the worker and downloads byte for byte as profs edit's output", async () => {
  const inputs = await writeInputs();
  const s = await serveApi();
  const w = worker(s);
  try {
    const modelId = await uploadModel(s, inputs.modelDir);
    const datasetId = await uploadPairs(s, inputs.pairsFile);
    const submitted = await submitEdit(s, { model_id: modelId, dataset_id: datasetId, params: PARAMS });
    const edit = await pollEdit(s, submitted.id);
    assert.equal(edit.status, "succeeded", JSON.stringify(edit.error));
    assert.equal(edit.attempts, 1);

    const cli = await runEdit({
      modelDir: inputs.modelDir,
      outDir: join(inputs.dir, "cli-out"),
      pairsFile: inputs.pairsFile,
      layers: PARAMS.layers,
      rank: PARAMS.rank,
      maxPairs: PARAMS.max_pairs,
      seed: PARAMS.seed,
      maxTokens: PARAMS.max_tokens,
      backend: "cpu",
    });
    // The service adds the edit as a LoRA adapter, one tar of the adapter folder.
    assert.deepEqual(edit.artifacts.map((a) => a.name).sort(), [...cli.files, "lora.tar"].sort());
    // README.md and report.json carry times and paths; everything else must be identical.
    for (const name of cli.files.filter((f) => f !== "README.md" && f !== "report.json")) {
      const served = await download(s, edit.artifacts.find((a) => a.name === name)!.url);
      const local = await Deno.readFile(join(cli.outDir, name));
      assert.ok(served.byteLength === local.byteLength && served.every((b, i) => b === local[i]), name);
    }
    const report = JSON.parse(new TextDecoder().decode(
      await download(s, edit.artifacts.find((a) => a.name === "report.json")!.url),
    ));
    assert.deepEqual(report.layers, cli.report.layers);
    // Provenance by content and id, never a server path; the source as the user gave it.
    assert.deepEqual(
      Object.keys(report.source).sort(),
      ["datasetId", "embeddingsCache", "format", "kind", "pairsAvailable", "pairsUsed", "sha256"],
    );
    assert.equal(report.source.datasetId, datasetId);
    assert.equal(report.source.embeddingsCache, "miss");
    assert.equal(report.source.sha256, cli.report.source.sha256);
    assert.ok(!JSON.stringify(report.source).includes("/"), "no path in report.json's source");
    assert.equal(report.editedModelSha256, cli.report.editedModelSha256);
    // GET /v1/edits/{id}'s result is the report's: spectra, explained variance, top tokens of each direction.
    assert.deepEqual(
      edit.result!.layers.map((l) => [l.layer, l.singular_values, l.explained_variance]),
      cli.report.layers.map((l) => [l.layer, l.singularValues, l.explainedVariance]),
    );
    // top_tokens are each direction's toxic side (the one the rejected texts point to), opposite_tokens the other.
    const side = (d: (typeof cli.report.layers)[0]["directions"][0], toxic: boolean) =>
      (d.toxicSide === "negative" === toxic ? d.negative : d.positive).map(({ token, score }) => ({
        token,
        score,
      }));
    assert.deepEqual(
      edit.result!.layers.map((l) => [l.top_tokens, l.opposite_tokens, l.toxic_sides]),
      cli.report.layers.map((l) => [
        l.directions.map((d) => side(d, true)),
        l.directions.map((d) => side(d, false)),
        l.directions.map((d) => d.toxicSide === "positive" ? "+" : d.toxicSide === "negative" ? "−" : null),
      ]),
    );
    for (const layer of edit.result!.layers) {
      assert.equal(
        layer.top_tokens.length,
        PARAMS.rank,
        `one token list per removed direction (layer ${layer.layer})`,
      );
      assert.ok(layer.top_tokens.every((tokens) => tokens.length > 0));
      assert.ok(layer.explained_variance.every((v) => v > 0 && v <= 1));
    }
    // The model card names what was done, to which base, and the figures of each edited block.
    const card = new TextDecoder().decode(
      await download(s, edit.artifacts.find((a) => a.name === "README.md")!.url),
    );
    assert.match(card, /^---\n[\s\S]*^library_name: transformers$[\s\S]*^pipeline_tag: text-generation$/m);
    assert.ok(card.includes(`| Base model sha256 | \`${report.model.sha256}\` |`));
    assert.ok(card.includes(`| Edited model sha256 | \`${cli.report.editedModelSha256}\` |`));
    assert.ok(card.includes(`| Rank per block | ${PARAMS.rank} |`));
    for (const l of cli.report.layers) {
      assert.ok(
        card.includes(`| ${l.layer} | ${l.singularValues.map((v) => v.toPrecision(4)).join(", ")} |`),
      );
    }

    const history = await events(s, edit.id);
    const types = history.map((e) => e.type);
    assert.equal(types[0], "queued");
    assert.equal(types[1], "started");
    assert.equal(types.at(-1), "succeeded");
    const stages = [...new Set(history.filter((e) => e.type === "progress").map((e) => e.data.stage))];
    assert.deepEqual(stages, ["loading_model", "embedding", "svd", "writing", "publishing"]);
    const svd = history.filter((e) => e.type === "progress" && e.data.stage === "svd").map((e) =>
      e.data.done
    );
    assert.deepEqual(svd, [1, 2]);
  } finally {
    await w.stop();
    await s.close();
    await Deno.remove(inputs.dir, { recursive: true });
  }
});

Deno.test("a second edit of the same model and dataset reads cached embeddings and gives the same weights", async () => {
  // 40 pairs: 16 are held out for the margin, so the cache must hold every row and the hit must hold out the same.
  const inputs = await writeInputs({ pairs: 40 });
  const s = await serveApi();
  const logs: string[] = [];
  const w = worker(s, logs);
  try {
    const modelId = await uploadModel(s, inputs.modelDir);
    const datasetId = await uploadPairs(s, inputs.pairsFile);
    const first = await pollEdit(
      s,
      (await submitEdit(s, { model_id: modelId, dataset_id: datasetId, params: PARAMS })).id,
    );
    assert.equal(first.status, "succeeded");
    assert.equal(logs.filter((l) => l.includes("embeddings from cache")).length, 0);
    const second = await pollEdit(
      s,
      (await submitEdit(s, { model_id: modelId, dataset_id: datasetId, params: PARAMS })).id,
    );
    assert.equal(second.status, "succeeded");
    assert.equal(logs.filter((l) => l.includes("embeddings from cache")).length, 1);
    const stages = (await events(s, second.id)).filter((e) => e.type === "progress").map((e) => e.data.stage);
    assert.ok(!stages.includes("embedding"), `no forward pass on a cache hit: ${stages}`);
    // A cache hit is still an edit from the pairs the user gave, said so in report.json.
    const secondReport = JSON.parse(new TextDecoder().decode(
      await download(s, second.artifacts.find((a) => a.name === "report.json")!.url),
    ));
    assert.equal(secondReport.source.kind, "pairs");
    assert.equal(secondReport.source.embeddingsCache, "hit");
    const weights = (e: typeof first) => e.artifacts.find((a) => a.name === "model.safetensors")!.sha256;
    assert.equal(weights(second), weights(first));
    // The held-out margin is the same on a hit: the cached rows are the dataset's, its texts give the hold-out.
    assert.equal(first.result!.held_out?.pairs, 16);
    assert.equal(first.result!.num_pairs, 40 - 16);
    assert.ok(first.result!.held_out?.base && first.result!.held_out.edited, JSON.stringify(first.result));
    assert.deepEqual(second.result!.held_out, first.result!.held_out);
    assert.ok(stages.includes("margin"), `the margin is a stage of its own: ${stages}`);

    // A different max_tokens is a different forward pass: no cache hit.
    const third = await pollEdit(
      s,
      (await submitEdit(s, {
        model_id: modelId,
        dataset_id: datasetId,
        params: { ...PARAMS, max_tokens: 8 },
      })).id,
    );
    assert.equal(third.status, "succeeded");
    assert.equal(logs.filter((l) => l.includes("embeddings from cache")).length, 1);
    assert.equal((await listArtifacts(s.database.db, s.tenantA, third.id)).length, third.artifacts.length);
  } finally {
    await w.stop();
    await s.close();
    await Deno.remove(inputs.dir, { recursive: true });
  }
});

Deno.test({
  name: "on the webgpu backend the worker's edit equals runEdit's on the same backend, byte for byte",
  ignore: noGpu(),
  async fn() {
    const inputs = await writeInputs();
    const s = await serveApi();
    const w = startWorker({
      db: s.database.db,
      blobs: s.blobs,
      logger: createLogger({ write: () => {} }),
      backend: "webgpu",
      pollMs: 20,
      heartbeatMs: 100,
      leaseMs: 60_000,
    });
    try {
      const modelId = await uploadModel(s, inputs.modelDir);
      const datasetId = await uploadPairs(s, inputs.pairsFile);
      const edit = await pollEdit(
        s,
        (await submitEdit(s, { model_id: modelId, dataset_id: datasetId, params: PARAMS })).id,
      );
      assert.equal(edit.status, "succeeded", JSON.stringify(edit.error));
      const cli = await runEdit({
        modelDir: inputs.modelDir,
        outDir: join(inputs.dir, "cli-out"),
        pairsFile: inputs.pairsFile,
        layers: PARAMS.layers,
        rank: PARAMS.rank,
        maxPairs: PARAMS.max_pairs,
        seed: PARAMS.seed,
        maxTokens: PARAMS.max_tokens,
        backend: "webgpu",
      });
      assert.equal(cli.report.backend, "webgpu");
      for (const name of ["model.safetensors", "patch.safetensors"]) {
        const served = await download(s, edit.artifacts.find((a) => a.name === name)!.url);
        const local = await Deno.readFile(join(cli.outDir, name));
        assert.ok(served.byteLength === local.byteLength && served.every((b, i) => b === local[i]), name);
      }
    } finally {
      await w.stop();
      await s.close();
      await Deno.remove(inputs.dir, { recursive: true });
    }
  },
});
