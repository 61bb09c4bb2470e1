import assert from "node:assert/strict";
import { sql } from "drizzle-orm";
import { createJobQueue, models } from "../../shared/db/index.ts";
import { queryFirstValue } from "../../shared/db/driver_query.ts";
import {
  getJob,
  getJobsWithArtifacts,
  getJobWithArtifacts,
  listArtifacts,
  listJobs,
} from "../../shared/db/repositories/jobs.ts";
import {
  createModel,
  getModel,
  listModelFiles,
  listModels,
  markModelReady,
  putModelFile,
  updateModel,
} from "../../shared/db/repositories/models.ts";
import { ensureTenant } from "../../shared/db/repositories/tenants.ts";
import { engineTests } from "./harness.ts";
import { notifyJobFinished } from "../../shared/webhooks/events.ts";

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
  const queue = createJobQueue({ onFinish: notifyJobFinished });
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

engineTests(
  "a stored file puts the model back to pending; ready only if its files are what was validated",
  async ({ db }) => {
    const tenant = await ensureTenant(db, "acme");
    const other = await ensureTenant(db, "other");
    const model = await createModel(db, tenant.id, { name: "gpt2" });
    const file = (name: string, sha: string) => ({
      filename: name,
      blobKey: `models/${model.id}/${name}`,
      size: 1,
      sha256: sha.repeat(64),
      status: "complete" as const,
    });
    await putModelFile(db, tenant.id, model.id, file("model.safetensors", "a"));
    await putModelFile(db, tenant.id, model.id, file("config.json", "b"));
    const validated = [{ name: "config.json", sha256: "b".repeat(64) }, {
      name: "model.safetensors",
      sha256: "a".repeat(64),
    }];
    const summary = { layers: 2 };

    // An upload finished while the folder was validated: the stored sha256 is not the validated one.
    await putModelFile(db, tenant.id, model.id, file("model.safetensors", "c"));
    assert.equal(await markModelReady(db, tenant.id, model.id, validated, { summary }), "changed");
    assert.equal((await getModel(db, tenant.id, model.id))?.status, "pending");
    // A file added meanwhile is a change too.
    const now = [{ name: "config.json", sha256: "b".repeat(64) }, {
      name: "model.safetensors",
      sha256: "c".repeat(64),
    }];
    await putModelFile(db, tenant.id, model.id, file("tokenizer.json", "d"));
    assert.equal(await markModelReady(db, tenant.id, model.id, now, { summary }), "changed");

    const all = [...now, { name: "tokenizer.json", sha256: "d".repeat(64) }].reverse(); // any order
    assert.equal(await markModelReady(db, other.id, model.id, all, { summary }), null, "another tenant's");
    const ready = await markModelReady(db, tenant.id, model.id, all, { summary, sha256: "c".repeat(64) });
    assert.ok(ready && ready !== "changed");
    assert.equal(ready.status, "ready");
    assert.deepEqual(ready.summary, summary);

    // Any later upload makes it pending again, its summary gone.
    await putModelFile(db, tenant.id, model.id, file("config.json", "e"));
    const after = await getModel(db, tenant.id, model.id);
    assert.equal(after?.status, "pending");
    assert.equal(after?.summary, null);
  },
);

engineTests(
  "getJobWithArtifacts() returns what getJob() and listArtifacts() return, in one statement",
  async ({ db }) => {
    const queue = createJobQueue({ onFinish: notifyJobFinished });
    const a = await ensureTenant(db, "a");
    const b = await ensureTenant(db, "b");
    const queued = await queue.enqueue(db, {
      tenantId: a.id,
      kind: "edit",
      params: { rank: 2, note: 'é " \\' },
    });
    const done = await queue.enqueue(db, { tenantId: a.id, kind: "check", params: {} });
    const running = await queue.enqueue(db, { tenantId: a.id, kind: "edit", params: "a JSON string" });
    let claim = (await queue.claim(db, { owner: "w", leaseMs: 60_000 }))!;
    assert.equal(claim.job.id, queued.id);
    claim = (await queue.claim(db, { owner: "w", leaseMs: 60_000 }))!;
    assert.equal(claim.job.id, done.id);
    await queue.progress(db, claim.lease, { stage: "embedding", done: 3, total: 8 });
    await queue.complete(db, claim.lease, {
      result: { layers: [{ layer: 10, spectrum: [3.5, 0.25] }], text: "a JSON string" },
      artifacts: [
        {
          name: "report.json",
          blobKey: "k2",
          size: 5,
          sha256: "b".repeat(64),
          contentType: "application/json",
        },
        { name: "model.safetensors", blobKey: "k1", size: 5_000_000_000, sha256: "a".repeat(64) },
      ],
    });
    for (const job of [queued, done, running]) {
      const expected = {
        job: await getJob(db, a.id, job.id),
        artifacts: await listArtifacts(db, a.id, job.id),
      };
      assert.deepEqual(await getJobWithArtifacts(db, a.id, job.id), expected);
      // Inside a caller's transaction it goes through the transaction and gives the same answer.
      assert.deepEqual(await db.transaction((tx) => getJobWithArtifacts(tx, a.id, job.id)), expected);
    }
    const found = (await getJobWithArtifacts(db, a.id, done.id))!;
    assert.deepEqual(found.artifacts.map((x) => x.name), ["model.safetensors", "report.json"]);
    assert.equal(found.artifacts[0].size, 5_000_000_000);
    assert.ok(found.job.finishedAt instanceof Date);

    // Another tenant's job, an unknown id and a non-uuid id find nothing.
    assert.equal(await getJobWithArtifacts(db, b.id, done.id), null);
    assert.equal(await getJobWithArtifacts(db, a.id, crypto.randomUUID()), null);
    assert.equal(await getJobWithArtifacts(db, a.id, "1' OR '1'='1"), null);
    await assert.rejects(getJobWithArtifacts(db, "not-a-uuid", done.id), /tenant id must be a uuid/);
    assert.equal((await getJobWithArtifacts(db, a.id, done.id.toUpperCase()))?.job.id, done.id);

    // Many at once: the tenant's own, keyed by the lower-case id; everything else left out.
    const theirs = await queue.enqueue(db, { tenantId: b.id, kind: "edit", params: {} });
    const many = await getJobsWithArtifacts(db, a.id, [
      queued.id,
      done.id.toUpperCase(),
      running.id,
      queued.id,
      theirs.id,
      crypto.randomUUID(),
      "nope",
    ]);
    assert.deepEqual([...many.keys()].sort(), [queued.id, done.id, running.id].sort());
    assert.deepEqual(many.get(done.id), await getJobWithArtifacts(db, a.id, done.id));
    assert.equal((await getJobsWithArtifacts(db, b.id, [theirs.id, done.id])).size, 1);
    assert.equal((await getJobsWithArtifacts(db, a.id, ["nope"])).size, 0);

    // The row-level-security scope the read switched to ends with its statement.
    const scope = await queryFirstValue(
      db,
      "SELECT current_user || ' ' || coalesce(current_setting('profs.tenant_id', true), '')",
      [],
    );
    assert.match(String(scope), /^\S+ $/);
    assert.doesNotMatch(String(scope), /^profs_tenant /);
  },
);

engineTests(
  "profs_tenant_jobs reads under row-level security, not only by its tenant filter",
  async ({ db }) => {
    const queue = createJobQueue({ onFinish: notifyJobFinished });
    const a = await ensureTenant(db, "a");
    const b = await ensureTenant(db, "b");
    const job = await queue.enqueue(db, { tenantId: a.id, kind: "edit", params: {} });
    // A copy of the function without its WHERE tenant_id: only the policies can hide tenant a's job from b.
    const definition = String(
      await queryFirstValue(
        db,
        "SELECT pg_get_functiondef('profs_tenant_jobs(uuid, uuid[])'::regprocedure)",
        [],
      ),
    );
    const unfiltered = definition
      .replace(/FUNCTION [^(]*profs_tenant_jobs\(/, "FUNCTION pg_temp.unfiltered_jobs(")
      .replace("WHERE j.tenant_id = p_tenant AND j.id = ANY (p_jobs)", "WHERE j.id = ANY (p_jobs)");
    assert.notEqual(unfiltered, definition);
    assert.match(unfiltered, /WHERE j\.id = ANY \(p_jobs\)/);
    await db.transaction(async (tx) => {
      await tx.execute(sql.raw(unfiltered));
      const read = (tenant: string) =>
        queryFirstValue(tx, "SELECT pg_temp.unfiltered_jobs($1, $2::uuid[])", [
          tenant,
          `{${job.id}}`,
        ]) as Promise<
          string
        >;
      assert.deepEqual(JSON.parse(await read(b.id)), []);
      assert.deepEqual(JSON.parse(await read(a.id)).map((found: { job: { id: string } }) => found.job.id), [
        job.id,
      ]);
    });
  },
);
