/**
 * GET /v1/edits/{id} answers repeated polls from a cache that the job change feed keeps fresh (api/change_cache.ts,
 * shared/db/job_changes.ts). These tests poll while a "worker" — another pool on a server, the same handle on
 * PGlite — changes the job, and check that no poll shows what is no longer true.
 */
import assert from "node:assert/strict";
import { createApp } from "../../api/app.ts";
import { DEFAULT_CONFIG } from "../../api/deps.ts";
import { keyVerifier } from "../../api/auth/index.ts";
import { createJobQueue, openDatabase } from "../../shared/db/index.ts";
import type { Database } from "../../shared/db/database.ts";
import { createLogger } from "../../shared/log.ts";
import { noPostgres, testDatabaseUrl } from "../helpers/env.ts";
import { createHarness, type Harness, json } from "./harness.ts";

type View = Record<string, unknown> & { timings: { running_seconds: number | null } };

async function getEdit(app: Harness["app"], id: string, headers: Record<string, string>): Promise<View> {
  const response = await app.request(`/v1/edits/${id}`, { headers });
  assert.equal(response.status, 200);
  return await json(response) as View;
}

/**
 * Polls until `check` passes. On PGlite the feed is delivered in-process as the change commits, so the first poll
 * must pass; on a server a notification takes a moment, so up to 5 s.
 */
async function eventually(immediate: boolean, poll: () => Promise<View>, check: (view: View) => void) {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const view = await poll();
    try {
      return check(view);
    } catch (error) {
      if (immediate || Date.now() > deadline) throw error;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

for (
  const target of [
    { db: "PGlite", url: undefined, ignore: false },
    { db: "Postgres", url: testDatabaseUrl, ignore: noPostgres() },
  ]
) {
  Deno.test({
    name:
      `edits: polls see every change a worker commits, a cancel at once, and never another tenant [${target.db}]`,
    ignore: target.ignore,
    async fn() {
      const h = await createHarness({ url: target.url });
      const worker = target.url ? await openDatabase({ url: target.url, migrate: false }) : h.database;
      const queue = createJobQueue();
      const immediate = !target.url;
      try {
        const id = (await queue.enqueue(h.database.db, { tenantId: h.tenantA, kind: "edit", params: {} })).id;
        const poll = () => getEdit(h.app, id, h.keyA);
        assert.equal((await poll()).status, "queued");
        assert.equal((await poll()).status, "queued");
        const other = await h.app.request(`/v1/edits/${id}`, { headers: h.keyB });
        assert.equal(other.status, 404, "a cached edit is not served to another tenant");
        await other.body?.cancel();

        const claim = (await queue.claim(worker.db, { owner: "w", leaseMs: 60_000 }))!;
        assert.equal(claim.job.id, id);
        await eventually(immediate, poll, (view) => {
          assert.equal(view.status, "running");
          assert.equal(view.attempts, 1);
        });
        for (const done of [1, 2]) {
          assert.ok(await queue.progress(worker.db, claim.lease, { stage: "embedding", done, total: 2 }));
          await eventually(immediate, poll, (view) => {
            assert.deepEqual(view.progress, { stage: "embedding", done, total: 2 });
          });
        }
        const first = (await poll()).timings.running_seconds!;
        await new Promise((r) => setTimeout(r, 20));
        assert.ok(
          (await poll()).timings.running_seconds! > first,
          "a running job's timings follow the clock",
        );

        const cancel = await h.app.request(`/v1/edits/${id}/cancel`, { method: "POST", headers: h.keyA });
        assert.equal(cancel.status, 200);
        await cancel.body?.cancel();
        assert.equal((await poll()).cancel_requested, true, "this process's own cancel shows at once");

        assert.ok(await queue.complete(worker.db, claim.lease, { result: { layers: [], num_pairs: 0 } }));
        await eventually(immediate, poll, (view) => assert.equal(view.status, "succeeded"));
        const finished = await h.app.request(`/v1/edits/${id}`, { headers: h.keyA });
        const again = await h.app.request(`/v1/edits/${id}`, { headers: h.keyA });
        assert.equal(again.headers.get("Content-Type"), "application/json");
        assert.equal(await again.text(), await finished.text(), "a finished edit's view no longer changes");
      } finally {
        if (worker !== h.database) await worker.close();
        await h.close();
      }
    },
  });
}

Deno.test("edits: without the change feed every poll reads the database, and the log says why", async () => {
  const h = await createHarness();
  const lines: string[] = [];
  const deaf: Database = { ...h.database, listen: () => Promise.reject(new Error("LISTEN not allowed")) };
  const app = createApp({
    database: deaf,
    blobs: h.blobs,
    logger: createLogger({ write: (line) => lines.push(line) }),
    config: DEFAULT_CONFIG,
    verifyKey: keyVerifier(h.database.db),
  });
  const queue = createJobQueue();
  try {
    const id = (await queue.enqueue(h.database.db, { tenantId: h.tenantA, kind: "edit", params: {} })).id;
    assert.equal((await getEdit(app, id, h.keyA)).status, "queued");
    const claim = (await queue.claim(h.database.db, { owner: "w", leaseMs: 60_000 }))!;
    assert.equal((await getEdit(app, id, h.keyA)).status, "running");
    await queue.progress(h.database.db, claim.lease, { stage: "embedding", done: 1, total: 2 });
    assert.deepEqual((await getEdit(app, id, h.keyA)).progress, { stage: "embedding", done: 1, total: 2 });
    assert.ok(lines.some((line) => line.includes("job change feed unavailable")));
  } finally {
    await h.close();
  }
});
