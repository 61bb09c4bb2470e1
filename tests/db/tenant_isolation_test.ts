import assert from "node:assert/strict";
import { eq } from "drizzle-orm";
import {
  artifacts,
  createJobQueue,
  datasets,
  type Db,
  embeddingCache,
  inTenantScope,
  jobEvents,
  jobs,
  modelFiles,
  models,
} from "../../shared/db/index.ts";
import { createDataset, getDataset, listDatasets } from "../../shared/db/repositories/datasets.ts";
import { findCachedEmbeddings, saveCachedEmbeddings } from "../../shared/db/repositories/embeddings.ts";
import {
  getArtifact,
  getJob,
  listArtifacts,
  listJobEvents,
  listJobs,
} from "../../shared/db/repositories/jobs.ts";
import {
  claimModelFile,
  completeModelFile,
  createModel,
  deleteModelFile,
  getModel,
  listModelFiles,
  listModels,
  putModelFile,
  updateModel,
} from "../../shared/db/repositories/models.ts";
import { ensureTenant } from "../../shared/db/repositories/tenants.ts";
import { deleteUnlessInUse, lockForJob } from "../../shared/db/repositories/in_use.ts";
import { engineTests } from "./harness.ts";
import { notifyJobFinished } from "../../shared/webhooks/events.ts";

const SHA = "c".repeat(64);
const EMBEDDING_KEY = { modelSha256: SHA, datasetSha256: SHA, pooling: "mean", maxTokens: 128 };

/** Tenant A owns one of everything; tenant B owns nothing. */
async function fixture(db: Db) {
  const queue = createJobQueue({ onFinish: notifyJobFinished });
  const a = await ensureTenant(db, "a");
  const b = await ensureTenant(db, "b");
  const model = await createModel(db, a.id, { name: "gpt2" });
  await putModelFile(db, a.id, model.id, {
    filename: "config.json",
    blobKey: "k1",
    size: 2,
    sha256: SHA,
    status: "complete",
  });
  const dataset = await createDataset(db, a.id, {
    name: "pairs",
    kind: "pairs",
    format: "preferred-rejected",
    rows: 3,
    size: 100,
    sha256: SHA,
    blobKey: "k2",
  });
  const job = await queue.enqueue(db, {
    tenantId: a.id,
    kind: "edit",
    params: {},
    modelId: model.id,
    datasetId: dataset.id,
  });
  const claim = (await queue.claim(db, { owner: "w", leaseMs: 60_000 }))!;
  await queue.complete(db, claim.lease, {
    result: { ok: true },
    artifacts: [{ name: "report.json", blobKey: "k3", size: 5, sha256: SHA }],
  });
  await saveCachedEmbeddings(db, a.id, EMBEDDING_KEY, { blobKey: "k4", size: 9, sha256: SHA });
  return { queue, a, b, model, dataset, job };
}

engineTests(
  "every repository call with another tenant's id finds nothing and changes nothing",
  async ({ db }) => {
    const { queue, a, b, model, dataset, job } = await fixture(db);
    const page = { limit: 10 };

    assert.equal(await getModel(db, b.id, model.id), null);
    assert.deepEqual((await listModels(db, b.id, page)).items, []);
    assert.equal(await updateModel(db, b.id, model.id, { name: "stolen", status: "ready" }), null);
    assert.equal(
      await putModelFile(db, b.id, model.id, { filename: "x", blobKey: "evil", status: "uploading" }),
      null,
    );
    assert.deepEqual(await listModelFiles(db, b.id, model.id), []);
    assert.equal(await deleteModelFile(db, b.id, model.id, "config.json"), false);
    const staged = { filename: "config.json", blobKey: "evil", size: 1, sha256: "0".repeat(64) };
    assert.equal(await claimModelFile(db, b.id, model.id, staged, 60_000), null);
    assert.equal(await completeModelFile(db, b.id, model.id, staged), null);
    assert.equal(await deleteUnlessInUse(db, b.id, "model", model.id), null);
    assert.equal(await lockForJob(db, b.id, "model", model.id), null);

    assert.equal(await getDataset(db, b.id, dataset.id), null);
    assert.deepEqual((await listDatasets(db, b.id, page)).items, []);
    assert.equal(await deleteUnlessInUse(db, b.id, "dataset", dataset.id), null);
    assert.equal(await lockForJob(db, b.id, "dataset", dataset.id), null);

    assert.equal(await getJob(db, b.id, job.id), null);
    assert.deepEqual((await listJobs(db, b.id, page)).items, []);
    assert.deepEqual(await listJobEvents(db, b.id, job.id), []);
    assert.deepEqual(await listArtifacts(db, b.id, job.id), []);
    assert.equal(await getArtifact(db, b.id, job.id, "report.json"), null);
    assert.equal(await queue.requestCancel(db, b.id, job.id), null);

    assert.equal(await findCachedEmbeddings(db, b.id, EMBEDDING_KEY), null);

    // A cursor taken from tenant A's list gives tenant B nothing either.
    await createModel(db, a.id, { name: "second" });
    const first = await listModels(db, a.id, { limit: 1 });
    assert.ok(first.nextCursor);
    assert.deepEqual((await listModels(db, b.id, { limit: 10, cursor: first.nextCursor })).items, []);

    // Tenant A still sees everything, unchanged.
    assert.equal((await getModel(db, a.id, model.id))?.name, "gpt2");
    assert.deepEqual((await listModelFiles(db, a.id, model.id)).map((f) => f.filename), ["config.json"]);
    assert.equal((await getDataset(db, a.id, dataset.id))?.rows, 3);
    assert.equal((await getJob(db, a.id, job.id))?.status, "succeeded");
    assert.deepEqual((await listJobEvents(db, a.id, job.id)).map((e) => e.type), [
      "queued",
      "started",
      "succeeded",
    ]);
    assert.equal((await getArtifact(db, a.id, job.id, "report.json"))?.size, 5);
    assert.equal((await findCachedEmbeddings(db, a.id, EMBEDDING_KEY))?.blobKey, "k4");
  },
);

engineTests("ids that are not uuids find nothing instead of failing", async ({ db }) => {
  const a = await ensureTenant(db, "a");
  assert.equal(await getModel(db, a.id, "../etc"), null);
  assert.equal(await getJob(db, a.id, "1 OR 1=1"), null);
  assert.deepEqual(await listJobEvents(db, a.id, "nope"), []);
  await assert.rejects(listModels(db, a.id, { limit: 5, cursor: "garbage" }), /Cannot read cursor/);
});

engineTests("row-level security hides other tenants' rows even from a query without a tenant filter", async (
  { db },
) => {
  const { a, b } = await fixture(db);
  const tables = { models, modelFiles, datasets, jobs, jobEvents, artifacts, embeddingCache };
  for (const [name, table] of Object.entries(tables)) {
    const asB = await inTenantScope(db, b.id, (tx) => tx.select().from(table));
    assert.equal(asB.length, 0, `${name} under tenant b`);
    const asA = await inTenantScope(db, a.id, (tx) => tx.select().from(table));
    assert.ok(asA.length > 0, `${name} under tenant a`);
  }
  // Writes are checked too: tenant b cannot create rows in a's name, nor touch a's rows.
  await assert.rejects(
    inTenantScope(db, b.id, (tx) => tx.insert(models).values({ tenantId: a.id, name: "planted" })),
    (error: Error) => /row-level security/.test(String((error.cause as Error)?.message ?? error.message)),
  );
  const updated = await inTenantScope(db, b.id, (tx) => tx.update(models).set({ name: "x" }).returning());
  assert.equal(updated.length, 0);
  // The scope ends with its transaction: the connecting role sees every tenant again.
  assert.ok((await db.select().from(models).where(eq(models.tenantId, a.id))).length > 0);
});
