/**
 * An edit asked to check itself (`params.check`): the worker checks base and edited model after the edit, puts
 * the figures in `result.metrics` and publishes report.html with the artifacts. Demo model, cpu backend.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { writeDemoModel, writeDemoPairs } from "../../infra/demo/write_demo.ts";
import { startWorker } from "../../gpu-worker/worker/worker.ts";
import { createLogger } from "../../shared/log.ts";
import { download, pollEdit, serveApi, submitEdit, uploadModel, uploadPairs } from "../worker/harness.ts";

Deno.test({
  name: "an edit with params.check reports before/after metrics and publishes report.html",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "profs-edit-check-test-" });
    const s = await serveApi();
    const worker = startWorker({
      db: s.database.db,
      blobs: s.blobs,
      logger: createLogger({ write: () => {} }),
      backend: "cpu",
      pollMs: 20,
      progressIntervalMs: 0,
    });
    try {
      const modelDir = join(dir, "model");
      await Deno.mkdir(modelDir);
      await writeDemoModel(modelDir);
      await writeDemoPairs(join(dir, "pairs.jsonl"), { count: 48 });
      const modelId = await uploadModel(s, modelDir);
      const datasetId = await uploadPairs(s, join(dir, "pairs.jsonl"));
      const submitted = await submitEdit(s, {
        model_id: modelId,
        dataset_id: datasetId,
        params: { check: true },
      });
      const edit = await pollEdit(s, submitted.id, undefined, 300_000);
      assert.equal(edit.status, "succeeded", JSON.stringify(edit.error));
      const metrics = (edit.result as unknown as { metrics: Record<string, number> }).metrics;
      assert.ok(metrics.toxicity_share_before >= 0.9, JSON.stringify(metrics));
      assert.ok(metrics.toxicity_share_after <= metrics.toxicity_share_before / 2, JSON.stringify(metrics));
      assert.ok(metrics.kl_mean <= 0.01, JSON.stringify(metrics));
      const report = edit.artifacts.find((a) => a.name === "report.html");
      assert.ok(report, JSON.stringify(edit.artifacts.map((a) => a.name)));
      const html = new TextDecoder().decode(await download(s, report.url));
      assert.match(html, /Toxicity of challenge continuations/);
    } finally {
      await worker.stop();
      await s.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
