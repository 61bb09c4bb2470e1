/**
 * What users see when an edit does not succeed: a cancel takes effect while the job runs, and a broken model or
 * dataset fails the job once with a message about their input (no retries, no server paths), leaving no artifacts.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startWorker, type Worker } from "../../gpu-worker/worker/worker.ts";
import { listArtifacts } from "../../shared/db/repositories/jobs.ts";
import { createLogger } from "../../shared/log.ts";
import {
  events,
  pollEdit,
  serveApi,
  type Served,
  submitEdit,
  uploadModel,
  uploadPairs,
  writeInputs,
} from "./harness.ts";

const PARAMS = { layers: { from: 0, to: 2 }, rank: 1, max_tokens: 16 };
const HEARTBEAT_MS = 100;

function worker(s: Served): Worker {
  return startWorker({
    db: s.database.db,
    blobs: s.blobs,
    logger: createLogger({ write: () => {} }),
    backend: "cpu",
    pollMs: 20,
    heartbeatMs: HEARTBEAT_MS,
    leaseMs: 10_000,
    progressIntervalMs: 0,
  });
}

async function setUp(pairs = 6) {
  const inputs = await writeInputs({ pairs });
  const s = await serveApi();
  const modelId = await uploadModel(s, inputs.modelDir);
  const datasetId = await uploadPairs(s, inputs.pairsFile);
  return {
    inputs,
    s,
    modelId,
    datasetId,
    async close() {
      await s.close();
      await Deno.remove(inputs.dir, { recursive: true });
    },
  };
}

Deno.test("canceling a running edit stops it within a heartbeat: canceled, no artifacts, no blobs", async () => {
  const t = await setUp(200);
  const w = worker(t.s);
  try {
    const edit = await submitEdit(t.s, { model_id: t.modelId, dataset_id: t.datasetId, params: PARAMS });
    const running = await pollEdit(
      t.s,
      edit.id,
      (e) => e.progress !== null || !["queued", "running"].includes(e.status),
    );
    assert.equal(running.status, "running", "the job must still be running when the cancel is sent");
    const asked = performance.now();
    const cancel = await t.s.call(`/v1/edits/${edit.id}/cancel`, { method: "POST" });
    assert.equal(cancel.status, 200);
    const done = await pollEdit(t.s, edit.id);
    const waited = performance.now() - asked;
    assert.equal(done.status, "canceled");
    assert.equal(done.artifacts.length, 0);
    assert.deepEqual(await listArtifacts(t.s.database.db, t.s.tenantA, edit.id), []);
    assert.deepEqual(await t.s.blobs.list(`edits/${edit.id}`), []);
    const types = (await events(t.s, edit.id)).map((e) => e.type);
    assert.deepEqual(types.filter((x) => x !== "progress"), [
      "queued",
      "started",
      "cancel_requested",
      "canceled",
    ]);
    console.log(`cancel took effect after ${waited.toFixed(0)} ms (heartbeat ${HEARTBEAT_MS} ms)`);
  } finally {
    await w.stop();
    await t.close();
  }
});

Deno.test("a model whose weights were corrupted after upload fails once with an error naming the model", async () => {
  const t = await setUp();
  // Overwrite the stored weights behind the API's back: the header no longer parses.
  await t.s.blobs.put(
    `models/${t.modelId}/model.safetensors`,
    new TextEncoder().encode("not a safetensors file"),
  );
  const w = worker(t.s);
  try {
    const edit = await submitEdit(t.s, { model_id: t.modelId, dataset_id: t.datasetId, params: PARAMS });
    const done = await pollEdit(t.s, edit.id);
    assert.equal(done.status, "failed");
    assert.equal(done.attempts, 1, "a bad input is not retried");
    assert.match(done.error!.message, new RegExp(t.modelId));
    assert.ok(!done.error!.message.includes(t.s.blobDir), `no server paths: ${done.error!.message}`);
    assert.equal(done.artifacts.length, 0);
    assert.deepEqual(await t.s.blobs.list(`edits/${edit.id}`), []);
    const types = (await events(t.s, edit.id)).map((e) => e.type);
    assert.ok(!types.includes("retrying"), types.join());
    assert.equal(types.at(-1), "failed");
  } finally {
    await w.stop();
    await t.close();
  }
});

Deno.test("weights replaced after finalize (valid, same shapes) fail the edit: nothing is published", async () => {
  const t = await setUp();
  // Same header, one byte of tensor data changed: a file the worker reads without complaint.
  const key = `models/${t.modelId}/model.safetensors`;
  const bytes = new Uint8Array(await new Response((await t.s.blobs.get(key))!.body).arrayBuffer());
  bytes[bytes.byteLength - 1] ^= 1;
  await t.s.blobs.put(key, bytes);
  const w = worker(t.s);
  try {
    const model = await (await t.s.call(`/v1/models/${t.modelId}`)).json() as { summary: { sha256: string } };
    const edit = await submitEdit(t.s, { model_id: t.modelId, dataset_id: t.datasetId, params: PARAMS });
    const done = await pollEdit(t.s, edit.id);
    assert.equal(done.status, "failed");
    assert.equal(done.attempts, 1, "not retried");
    assert.match(done.error!.message, /changed after it was finalized/);
    assert.ok(done.error!.message.includes(model.summary.sha256), done.error!.message);
    assert.equal(done.artifacts.length, 0);
    assert.deepEqual(await t.s.blobs.list(`edits/${edit.id}`), []);
  } finally {
    await w.stop();
    await t.close();
  }
});

Deno.test("a dataset whose stored lines are broken fails once with the line number", async () => {
  const t = await setUp();
  const dataset = await (await t.s.call(`/v1/datasets/${t.datasetId}`)).json() as { id: string };
  const blobKey = (await t.s.blobs.list("datasets")).find((k) => k.endsWith("pairs.jsonl"))!;
  await t.s.blobs.put(
    blobKey,
    new TextEncoder().encode('{"preferred":"ok","rejected":"fine"}\n{"oops": 1}\n'),
  );
  const w = worker(t.s);
  try {
    const edit = await submitEdit(t.s, { model_id: t.modelId, dataset_id: dataset.id, params: PARAMS });
    const done = await pollEdit(t.s, edit.id);
    assert.equal(done.status, "failed");
    assert.equal(done.attempts, 1);
    assert.match(done.error!.message, /line 2/);
    assert.match(done.error!.message, new RegExp(t.datasetId));
    assert.ok(!done.error!.message.includes(t.s.blobDir), done.error!.message);
  } finally {
    await w.stop();
    await t.close();
  }
});

Deno.test("a model file deleted from the blob store fails the edit with 'missing', not a retry", async () => {
  const t = await setUp();
  await Deno.remove(join(t.s.blobDir, "models", t.modelId, "config.json"));
  const w = worker(t.s);
  try {
    const edit = await submitEdit(t.s, { model_id: t.modelId, dataset_id: t.datasetId, params: PARAMS });
    const done = await pollEdit(t.s, edit.id);
    assert.equal(done.status, "failed");
    assert.equal(done.attempts, 1);
    assert.match(done.error!.message, /config\.json.*missing/);
  } finally {
    await w.stop();
    await t.close();
  }
});
