/**
 * Check jobs through the worker, enqueued on the queue directly (tests/eval covers `POST /v1/checks`): a check
 * of an edit compares base and edited model and publishes the HTML report; a check of a model
 * alone reports its figures; a check of an unfinished edit fails once, as the user's error.
 */
import assert from "node:assert/strict";
import { startWorker } from "../../gpu-worker/worker.ts";
import { createJobQueue, type Job } from "../../shared/db/index.ts";
import { getJob, listArtifacts } from "../../shared/db/repositories/jobs.ts";
import type { CheckResult } from "../../shared/eval/check_result.ts";
import { createLogger } from "../../shared/log.ts";
import { pollEdit, serveApi, submitEdit, uploadModel, uploadPairs, writeInputs } from "./harness.ts";

Deno.test("check jobs: an edit checked against its base, a model alone, and an unfinished edit refused", async () => {
  const inputs = await writeInputs();
  const s = await serveApi();
  const queue = createJobQueue();
  const worker = startWorker({
    db: s.database.db,
    blobs: s.blobs,
    logger: createLogger({ write: () => {} }),
    queue,
    backend: "cpu",
    pollMs: 20,
    heartbeatMs: 100,
    leaseMs: 60_000,
  });
  const finished = async (id: string): Promise<Job> => {
    for (;;) {
      const job = (await getJob(s.database.db, s.tenantA, id))!;
      if (["succeeded", "failed", "canceled"].includes(job.status)) return job;
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  try {
    const modelId = await uploadModel(s, inputs.modelDir);
    const datasetId = await uploadPairs(s, inputs.pairsFile);
    const edit = await pollEdit(
      s,
      (await submitEdit(s, {
        model_id: modelId,
        dataset_id: datasetId,
        params: { layers: { from: 0, to: 2 } },
      }))
        .id,
    );
    assert.equal(edit.status, "succeeded");
    const params = { max_new_tokens: 2, max_tokens: 16 };

    const ofEdit = await queue.enqueue(s.database.db, {
      tenantId: s.tenantA,
      kind: "check",
      modelId,
      params: { ...params, edit_id: edit.id },
    });
    const done = await finished(ofEdit.id);
    assert.equal(done.status, "succeeded", done.error ?? "");
    const result = done.result as { before: CheckResult; after: CheckResult };
    assert.equal(result.before.kl, null, "the base has nothing to diverge from");
    assert.ok(result.after.kl !== null && result.after.kl.mean >= 0);
    assert.ok(result.before.perplexity.value > 1 && result.after.perplexity.value > 1);
    const names = (await listArtifacts(s.database.db, s.tenantA, ofEdit.id)).map((a) => a.name);
    assert.deepEqual(names, ["check.json", "report.html"]);

    const ofModel = await queue.enqueue(s.database.db, {
      tenantId: s.tenantA,
      kind: "check",
      modelId,
      params,
    });
    const alone = await finished(ofModel.id);
    assert.equal(alone.status, "succeeded", alone.error ?? "");
    const figures = (alone.result as { check: CheckResult }).check;
    assert.equal(figures.kl, null);
    assert.equal(figures.toxicity.max_new_tokens, 2);

    const pending = await queue.enqueue(s.database.db, {
      tenantId: s.tenantA,
      kind: "edit",
      modelId,
      datasetId,
      params: { layers: { from: 0, to: 1 } },
      runAfter: new Date(Date.now() + 3_600_000),
    });
    const early = await queue.enqueue(s.database.db, {
      tenantId: s.tenantA,
      kind: "check",
      modelId,
      params: { ...params, edit_id: pending.id },
    });
    const refused = await finished(early.id);
    assert.equal(refused.status, "failed");
    assert.equal(refused.attempt, 1);
    assert.match(refused.error!, /must have succeeded: it is queued/);
  } finally {
    await worker.stop();
    await s.close();
    await Deno.remove(inputs.dir, { recursive: true });
  }
});
