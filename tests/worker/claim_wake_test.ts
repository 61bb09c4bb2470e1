/**
 * An idle worker given the job change feed claims a submitted job at once, not at its next poll: with a poll
 * interval of ten minutes, the job still leaves the queue within seconds.
 */
import assert from "node:assert/strict";
import { startWorker } from "../../gpu-worker/worker/worker.ts";
import { watchJobChanges } from "../../shared/db/index.ts";
import { createLogger } from "../../shared/log.ts";
import { waitFor } from "../helpers/wait_for.ts";
import { pollEdit, serveApi, submitEdit, uploadModel, uploadPairs, writeInputs } from "./harness.ts";

Deno.test("an idle worker woken by the job change feed claims a new job without waiting for its poll", async () => {
  const inputs = await writeInputs({ pairs: 50 });
  const s = await serveApi();
  const changes = watchJobChanges(s.database);
  const logs: string[] = [];
  const worker = startWorker({
    db: s.database.db,
    blobs: s.blobs,
    logger: createLogger({ write: (line) => logs.push(line) }),
    backend: "cpu",
    pollMs: 600_000,
    heartbeatMs: 100,
    changes,
  });
  try {
    const modelId = await uploadModel(s, inputs.modelDir);
    const datasetId = await uploadPairs(s, inputs.pairsFile);
    await waitFor(() => changes.live && logs.some((l) => l.includes("worker started")), {
      deadline: 20_000,
      message: "the worker and the feed started",
    });
    await new Promise((resolve) => setTimeout(resolve, 200)); // its first claim found nothing: it waits now
    const submitted = performance.now();
    const edit = await submitEdit(s, {
      model_id: modelId,
      dataset_id: datasetId,
      params: { layers: { from: 0, to: 2 }, max_tokens: 16 },
    });
    const claimed = await pollEdit(s, edit.id, (e) => e.status !== "queued", 30_000);
    assert.notEqual(claimed.status, "queued");
    assert.ok(performance.now() - submitted < 30_000, "claimed long before the ten-minute poll");
    const done = await pollEdit(s, edit.id);
    assert.equal(done.status, "succeeded", JSON.stringify(done.error));
  } finally {
    await worker.stop();
    await changes.close();
    await s.close();
    await Deno.remove(inputs.dir, { recursive: true });
  }
});
