/**
 * The service on the S3 blob store (s3rver under Node), which has no local paths: the API finalizes an uploaded
 * model and checks an embeddings upload by downloading them into a temporary folder, the worker downloads its
 * inputs into its scratch directory, and the artifacts it publishes to the bucket download (whole and by range)
 * byte for byte as `profs edit`'s output for the same inputs; the weights go up while the edit writes them.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { runEdit } from "../../gpu-worker/edit/pipeline.ts";
import { startWorker } from "../../gpu-worker/worker/worker.ts";
import { createS3BlobStore } from "../../shared/blobs/s3.ts";
import type { BlobStore } from "../../shared/blobs/store.ts";
import { createLogger } from "../../shared/log.ts";
import { f32, safetensorsBytes } from "../api/fixtures.ts";
import { startS3rver } from "../helpers/s3rver.ts";
import {
  download,
  pollEdit,
  serveApi,
  submitEdit,
  uploadModel,
  uploadPairs,
  writeInputs,
} from "./harness.ts";

const PARAMS = { layers: { from: 0, to: 2 }, rank: 2, max_pairs: 500, seed: 3, max_tokens: 16 };

Deno.test("with the S3 blob store, an uploaded model is finalized, edited by the worker and downloads as profs edit's output", async () => {
  const inputs = await writeInputs();
  const s3 = await startS3rver();
  const store = await createS3BlobStore(s3.options("service/"));
  // Records the order of the worker's uploads under edits/: the weights' starts while the edit still runs.
  const puts: string[] = [];
  const blobs: BlobStore = {
    ...store,
    put: (key, body, options) => {
      if (key.startsWith("edits/")) puts.push(key.slice(key.lastIndexOf("/") + 1));
      return store.put(key, body, options);
    },
  };
  const s = await serveApi({ blobs });
  const w = startWorker({
    db: s.database.db,
    blobs,
    logger: createLogger({ write: () => {} }),
    backend: "cpu",
    pollMs: 20,
    heartbeatMs: 100,
    leaseMs: 10_000,
    progressIntervalMs: 0,
  });
  try {
    const modelId = await uploadModel(s, inputs.modelDir);
    const model = await (await s.call(`/v1/models/${modelId}`)).json();
    assert.equal(model.status, "ready");
    assert.equal(model.summary.num_layers, 2);
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
      backend: "cpu",
    });
    // The service adds the edit as a LoRA adapter, one tar of the adapter folder.
    assert.deepEqual(edit.artifacts.map((a) => a.name).sort(), [...cli.files, "lora.tar"].sort());
    // README.md and report.json carry times and paths; everything else must be identical.
    for (const name of cli.files.filter((f) => f !== "README.md" && f !== "report.json")) {
      const served = await download(s, edit.artifacts.find((a) => a.name === name)!.url);
      assert.deepEqual(served, await Deno.readFile(join(cli.outDir, name)), name);
    }
    const weights = edit.artifacts.find((a) => a.name === "model.safetensors")!;
    // The weights were uploaded while the edit wrote them (the other files go up once it is done), and their
    // recorded hash — the writing thread's, not computed again — is the hash of the bytes stored.
    assert.equal(puts[0], "model.safetensors", puts.join(", "));
    assert.equal(puts.filter((name) => name === "model.safetensors").length, 1);
    assert.equal(
      weights.sha256,
      createHash("sha256").update(await download(s, weights.url)).digest("hex"),
    );
    const part = await s.call(weights.url, { headers: { Range: "bytes=100-199" } });
    assert.equal(part.status, 206);
    const local = await Deno.readFile(join(cli.outDir, "model.safetensors"));
    assert.deepEqual(new Uint8Array(await part.arrayBuffer()), local.subarray(100, 200));

    // Everything lives in the bucket: the API's directory store was never used.
    assert.ok((await blobs.list(`edits/${edit.id}`)).some((k) => k.endsWith("/model.safetensors")));
    assert.ok((await blobs.list(`models/${modelId}`)).some((k) => k.endsWith("/config.json")));
    assert.deepEqual([...Deno.readDirSync(s.blobDir)], []);

    // Embeddings are read after they are stored (a temporary download here); a refused file leaves nothing.
    const tensor = (name: string, dtype: "F32" | "F16") => ({
      name,
      dtype,
      shape: [2, 3, 4],
      data: dtype === "F32" ? f32(Array.from({ length: 24 }, (_, i) => i)) : new Uint8Array(48),
    });
    const datasetsBefore = await blobs.list("datasets");
    const emb = await s.call("/v1/datasets?name=emb&kind=embeddings", {
      method: "POST",
      body: safetensorsBytes([tensor("preferred", "F32"), tensor("rejected", "F32")]),
    });
    assert.equal(emb.status, 201);
    assert.deepEqual((await emb.json()).embeddings, {
      num_layers: 2,
      rows: 3,
      hidden_size: 4,
      model_sha256: null,
      pooling: null,
      max_tokens: null,
    });
    const stored = await blobs.list("datasets");
    assert.equal(stored.length, datasetsBefore.length + 1);
    const refused = await s.call("/v1/datasets?name=f16&kind=embeddings", {
      method: "POST",
      body: safetensorsBytes([tensor("preferred", "F16"), tensor("rejected", "F16")]),
    });
    assert.equal(refused.status, 422);
    await refused.body?.cancel();
    assert.deepEqual(await blobs.list("datasets"), stored);

    const deleted = await s.call(`/v1/models/${modelId}`, { method: "DELETE" });
    assert.equal(deleted.status, 204);
    assert.deepEqual(await blobs.list(`models/${modelId}`), []);
  } finally {
    await w.stop();
    await s.close();
    await s3.close();
    await Deno.remove(inputs.dir, { recursive: true });
  }
});
