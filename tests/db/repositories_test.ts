import assert from "node:assert/strict";
import { sql } from "drizzle-orm";
import { createJobQueue, models } from "../../shared/db/index.ts";
import { listJobs } from "../../shared/db/repositories/jobs.ts";
import {
  createModel,
  getModel,
  listModelFiles,
  listModels,
  putModelFile,
  updateModel,
} from "../../shared/db/repositories/models.ts";
import { ensureTenant } from "../../shared/db/repositories/tenants.ts";
import { engineTests } from "./harness.ts";

engineTests(
  "list pages walk every row once, newest first, even when rows share a created_at",
  async ({ db }) => {
    const tenant = await ensureTenant(db, "acme");
    const created = [];
    for (let i = 0; i < 7; i++) created.push(await createModel(db, tenant.id, { name: `m${i}` }));
    // Five of them at the very same instant: the id breaks the tie.
    await db.execute(
      sql`UPDATE ${models} SET created_at = '2030-01-01T00:00:00Z' WHERE name IN ('m1','m2','m3','m4','m5')`,
    );
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await listModels(db, tenant.id, { limit: 2, cursor });
      seen.push(...page.items.map((m) => m.id));
      cursor = page.nextCursor ?? undefined;
      pages++;
    } while (cursor);
    assert.equal(pages, 4);
    assert.deepEqual([...seen].sort(), created.map((m) => m.id).sort());
    assert.equal(new Set(seen).size, 7);
    // The 2030 group is the newest, then m6 and m0 in creation order reversed.
    const names = new Map(created.map((m) => [m.id, m.name]));
    assert.deepEqual(seen.slice(5).map((id) => names.get(id)), ["m6", "m0"]);
    assert.deepEqual(seen.slice(0, 5).map((id) => names.get(id)).sort(), ["m1", "m2", "m3", "m4", "m5"]);
  },
);

engineTests("listJobs() filters by status and kind", async ({ db }) => {
  const queue = createJobQueue();
  const tenant = await ensureTenant(db, "acme");
  await queue.enqueue(db, { tenantId: tenant.id, kind: "edit", params: {} });
  await queue.enqueue(db, { tenantId: tenant.id, kind: "check", params: {} });
  await queue.claim(db, { owner: "w", leaseMs: 60_000, kinds: ["edit"] });
  const kinds = async (filter: Parameters<typeof listJobs>[2]) =>
    (await listJobs(db, tenant.id, filter)).items.map((j) => `${j.kind}:${j.status}`);
  assert.deepEqual(await kinds({ limit: 10, status: "running" }), ["edit:running"]);
  assert.deepEqual(await kinds({ limit: 10, kind: "check" }), ["check:queued"]);
  assert.deepEqual((await kinds({ limit: 10 })).sort(), ["check:queued", "edit:running"]);
});

engineTests("model files are upserted by name, and model updates return the new row", async ({ db }) => {
  const tenant = await ensureTenant(db, "acme");
  const model = await createModel(db, tenant.id, { name: "gpt2" });
  await putModelFile(db, tenant.id, model.id, {
    filename: "model.safetensors",
    blobKey: "tmp",
    status: "uploading",
  });
  const done = await putModelFile(db, tenant.id, model.id, {
    filename: "model.safetensors",
    blobKey: "final",
    size: 10,
    sha256: "d".repeat(64),
    status: "complete",
  });
  assert.equal(done?.status, "complete");
  assert.deepEqual((await listModelFiles(db, tenant.id, model.id)).map((f) => [f.filename, f.blobKey]), [
    ["model.safetensors", "final"],
  ]);
  const ready = await updateModel(db, tenant.id, model.id, { status: "ready", summary: { layers: 2 } });
  assert.equal(ready?.status, "ready");
  assert.deepEqual((await getModel(db, tenant.id, model.id))?.summary, { layers: 2 });
});
