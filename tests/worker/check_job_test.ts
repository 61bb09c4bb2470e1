/**
 * Check jobs through the worker, enqueued on the queue directly (tests/eval covers `POST /v1/checks`): a check
 * of an edit compares base and edited model and publishes the HTML report; a check of a model
 * alone reports its figures; a check of an unfinished edit fails once, as the user's error; a long check keeps
 * heartbeating and stops within about a heartbeat of a cancel.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startWorker, type Worker } from "../../gpu-worker/worker/worker.ts";
import { createJobQueue, type Job, type JobQueue } from "../../shared/db/index.ts";
import { getJob, listArtifacts } from "../../shared/db/repositories/jobs.ts";
import type { CheckResult } from "../../shared/contracts/check_result.ts";
import { createLogger } from "../../shared/log.ts";
import { writeTinyGpt2 } from "../fixtures/tiny_gpt2.ts";
import { pollEdit, serveApi, submitEdit, uploadModel, uploadPairs, writeInputs } from "./harness.ts";
import type { Served } from "./harness.ts";
import { notifyJobFinished } from "../../shared/webhooks/events.ts";
import { FINISHED, waitFor } from "../helpers/wait_for.ts";

/** A silent CPU worker on the served API's database and blobs, polling every 20 ms. */
function startCpuWorker(
  s: Served,
  queue: JobQueue,
  lease: { heartbeatMs: number; leaseMs: number } = { heartbeatMs: 100, leaseMs: 60_000 },
): Worker {
  return startWorker({
    db: s.database.db,
    blobs: s.blobs,
    logger: createLogger({ write: () => {} }),
    queue,
    backend: "cpu",
    pollMs: 20,
    ...lease,
  });
}

/** Job `id` of tenant A once it has finished (succeeded, failed or canceled). */
function finishedJob(s: Served, id: string, wait: { deadline: number; message: string }): Promise<Job> {
  return waitFor(async () => {
    const job = (await getJob(s.database.db, s.tenantA, id))!;
    return FINISHED.includes(job.status) && job;
  }, wait);
}

Deno.test("check jobs: an edit checked against its base, a model alone, and an unfinished edit refused", async () => {
  const inputs = await writeInputs();
  const s = await serveApi();
  const queue = createJobQueue({ onFinish: notifyJobFinished });
  const worker = startCpuWorker(s, queue);
  const finished = (id: string) =>
    finishedJob(s, id, { deadline: 300_000, message: `check ${id} finishing` });
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

Deno.test("a long check keeps heartbeating while it computes, and a cancel stops it midway", async () => {
  // Wide enough and long enough contexts that one generation batch (8 prompts × 256 greedy tokens over a
  // 50257-token head) is several seconds of synchronous CPU work: on the worker's own event loop it would hold
  // heartbeats and the cancel back until the batch ends.
  const dir = await Deno.makeTempDir({ prefix: "profs-long-check-" });
  await writeTinyGpt2(join(dir, "model"), { layers: 2, hidden: 48, positions: 300 });
  const heartbeatMs = 100;
  const s = await serveApi();
  const queue = createJobQueue({ onFinish: notifyJobFinished });
  const worker = startCpuWorker(s, queue, { heartbeatMs, leaseMs: 10_000 });
  const current = async (id: string) => (await getJob(s.database.db, s.tenantA, id))!;
  try {
    const modelId = await uploadModel(s, join(dir, "model"));
    const job = await queue.enqueue(s.database.db, {
      tenantId: s.tenantA,
      kind: "check",
      modelId,
      params: { max_new_tokens: 256 },
    });
    await waitFor(async () => (await current(job.id)).status !== "queued", {
      message: "the check being claimed",
    });

    // Watch this event loop (which the worker shares) while the check computes, over several heartbeats: they
    // must keep coming (the generation runs in the compute thread, not here).
    let last = performance.now();
    let longestGap = 0;
    const ticker = setInterval(() => {
      const now = performance.now();
      longestGap = Math.max(longestGap, now - last);
      last = now;
    }, 10);
    try {
      const beats = new Set<number>();
      await waitFor(async () => {
        const running = await current(job.id);
        assert.equal(running.status, "running", "the check must still be computing");
        if (running.heartbeatAt) beats.add(running.heartbeatAt.getTime());
        return beats.size >= 5;
      }, { message: "five heartbeats while the check computes" });
    } finally {
      clearInterval(ticker);
    }
    assert.ok(longestGap < 10 * heartbeatMs, `the event loop stalled for ${longestGap.toFixed(0)} ms`);

    const asked = performance.now();
    await queue.requestCancel(s.database.db, s.tenantA, job.id);
    const done = await waitFor(async () => {
      const now = await current(job.id);
      return now.status !== "running" && now;
    }, { message: "the cancel taking effect" });
    const waited = performance.now() - asked;
    // Canceled, not succeeded: the cancel stopped the computation midway (it runs for many seconds).
    assert.equal(done.status, "canceled");
    assert.equal(done.attempt, 1);
    assert.deepEqual(await listArtifacts(s.database.db, s.tenantA, job.id), []);
    assert.deepEqual(await s.blobs.list(`checks/${job.id}`), []);
    console.log(`cancel took effect after ${waited.toFixed(0)} ms (heartbeat ${heartbeatMs} ms)`);
  } finally {
    await worker.stop();
    await s.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a check the model cannot run fails once, with the user's error from the compute thread", async () => {
  const inputs = await writeInputs();
  const s = await serveApi();
  const queue = createJobQueue({ onFinish: notifyJobFinished });
  const worker = startCpuWorker(s, queue);
  try {
    const modelId = await uploadModel(s, inputs.modelDir);
    // The fixture's context is 32 positions: 256 new tokens cannot fit, which the runner reports as an InputError.
    const job = await queue.enqueue(s.database.db, {
      tenantId: s.tenantA,
      kind: "check",
      modelId,
      params: { max_new_tokens: 256 },
    });
    const done = await finishedJob(s, job.id, { deadline: 120_000, message: "the check failing" });
    assert.equal(done.status, "failed");
    assert.equal(done.attempt, 1, "the user's error is not retried");
    assert.match(
      done.error!,
      /^Cannot run the model over \d+ tokens as a text must have at most 32 tokens \(the model's positions\)/,
    );
  } finally {
    await worker.stop();
    await s.close();
    await Deno.remove(inputs.dir, { recursive: true });
  }
});
