/**
 * A worker that loses its lease while alive (it stalled past the lease and the reaper re-queued its job) learns
 * so at its next heartbeat, abandons the attempt and publishes nothing from it; the job is finished by the next
 * attempt with one set of artifacts.
 */
import assert from "node:assert/strict";
import { eq, sql } from "drizzle-orm";
import { startWorker } from "../../gpu-worker/worker/worker.ts";
import { createJobQueue, jobs } from "../../shared/db/index.ts";
import { listArtifacts } from "../../shared/db/repositories/jobs.ts";
import { createLogger } from "../../shared/log.ts";
import { events, pollEdit, serveApi, submitEdit, uploadModel, uploadPairs, writeInputs } from "./harness.ts";

Deno.test("a worker whose lease was taken away drops its attempt; the next attempt publishes the only artifacts", async () => {
  const inputs = await writeInputs({ pairs: 200 });
  const s = await serveApi();
  const queue = createJobQueue({ retryPolicy: { baseMs: 100, capMs: 100, jitter: 0 } });
  const logs: string[] = [];
  const worker = startWorker({
    db: s.database.db,
    blobs: s.blobs,
    logger: createLogger({ write: (line) => logs.push(line) }),
    queue,
    backend: "cpu",
    pollMs: 20,
    heartbeatMs: 100,
    leaseMs: 60_000,
    reapMs: 3_600_000, // only the test reaps
  });
  try {
    const modelId = await uploadModel(s, inputs.modelDir);
    const datasetId = await uploadPairs(s, inputs.pairsFile);
    const edit = await submitEdit(s, {
      model_id: modelId,
      dataset_id: datasetId,
      params: { layers: { from: 0, to: 2 }, max_tokens: 16 },
    });
    const running = await pollEdit(
      s,
      edit.id,
      (e) => e.progress !== null || !["queued", "running"].includes(e.status),
    );
    assert.equal(running.status, "running");

    // The lease runs out as if the worker had stalled, and a reaper re-queues the job.
    await s.database.db.update(jobs).set({ leaseExpiresAt: sql`now() - interval '1 second'` })
      .where(eq(jobs.id, edit.id));
    assert.deepEqual((await queue.reapOnce(s.database.db)).requeued, [edit.id]);

    const done = await pollEdit(s, edit.id);
    assert.equal(done.status, "succeeded", JSON.stringify(done.error));
    assert.equal(done.attempts, 2);
    assert.ok(logs.some((l) => l.includes("lease lost")), "the first attempt noticed");
    const lifecycle = (await events(s, edit.id)).filter((e) => e.type !== "progress")
      .map((e) => `${e.type}@${e.data.attempt}`);
    assert.deepEqual(lifecycle, ["queued@0", "started@1", "retrying@1", "started@2", "succeeded@2"]);
    const rows = await listArtifacts(s.database.db, s.tenantA, edit.id);
    assert.equal(rows.length, done.artifacts.length);
    assert.ok(
      rows.every((r) => r.blobKey.startsWith(`edits/${edit.id}/a2-`)),
      rows.map((r) => r.blobKey).join(),
    );
    const prefixes = new Set((await s.blobs.list(`edits/${edit.id}`)).map((k) => k.split("/")[2]));
    assert.equal(prefixes.size, 1);
  } finally {
    await worker.stop();
    await s.close();
    await Deno.remove(inputs.dir, { recursive: true });
  }
});
