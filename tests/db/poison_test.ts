/**
 * The poison rule (shared/db/poison.ts): an attempt whose worker died (its lease expired while running) or whose
 * compute thread died is a lost attempt, marked on the event that ends it; the next claim sees the count; the
 * second lost attempt fails the job as the user's error naming its dataset, the stage and the limits, instead of
 * handing it to a third worker. Other failures never count.
 */
import assert from "node:assert/strict";
import { eq } from "drizzle-orm";
import { createJobQueue, type Db, type Job, jobEvents, jobs } from "../../shared/db/index.ts";
import { createDataset } from "../../shared/db/repositories/datasets.ts";
import { ensureTenant } from "../../shared/db/repositories/tenants.ts";
import { notifyJobFinished } from "../../shared/webhooks/events.ts";
import { engineTests } from "./harness.ts";

const t0 = new Date("2030-01-01T00:00:00Z");
const at = (ms: number) => new Date(t0.getTime() + ms);
const HOUR = 3_600_000;

async function setUp(db: Db) {
  const queue = createJobQueue({ onFinish: notifyJobFinished, random: () => 0 });
  const tenant = await ensureTenant(db, "acme");
  const dataset = await createDataset(db, tenant.id, {
    name: "poison.jsonl",
    kind: "pairs",
    format: "preferred-rejected",
    rows: 1,
    size: 50_000_032,
    sha256: "0".repeat(64),
    blobKey: "datasets/poison",
  });
  const job = await queue.enqueue(db, {
    tenantId: tenant.id,
    kind: "edit",
    params: { max_pairs: 500, max_tokens: 128 },
    datasetId: dataset.id,
    runAfter: t0,
  });
  return { queue, job, dataset };
}

async function jobRow(db: Db, id: string): Promise<Job> {
  const [job] = await db.select().from(jobs).where(eq(jobs.id, id));
  return job;
}

async function lostMarks(db: Db, id: string): Promise<string[]> {
  const events = await db.select().from(jobEvents).where(eq(jobEvents.jobId, id)).orderBy(jobEvents.id);
  return events.filter((e) => (e.data as { lost?: unknown }).lost !== undefined).map((e) => {
    const lost = (e.data as { lost: { reason: string; stage?: string } }).lost;
    return `${e.type}@${e.attempt}:${lost.reason}:${lost.stage ?? "-"}`;
  });
}

engineTests(
  "a job whose worker dies twice fails as the user's error naming its dataset and the limits",
  async ({ db }) => {
    const { queue, job, dataset } = await setUp(db);
    const first = (await queue.claim(db, { owner: "w1", leaseMs: 1000, now: at(0) }))!;
    assert.equal(first.lostAttempts, 0);
    await queue.progress(db, first.lease, { stage: "embedding", done: 0, total: 2 }, { now: at(10) });
    assert.deepEqual((await queue.reapOnce(db, { now: at(1001) })).requeued, [job.id]);
    assert.match((await jobRow(db, job.id)).error!, /Worker 'w1' stopped heartbeating/);

    const second = (await queue.claim(db, { owner: "w2", leaseMs: 1000, now: at(HOUR) }))!;
    assert.equal(second.lostAttempts, 1, "the next attempt knows an earlier one died");
    await queue.progress(db, second.lease, { stage: "embedding", done: 0, total: 2 }, { now: at(HOUR + 10) });
    assert.deepEqual(
      (await queue.reapOnce(db, { now: at(HOUR + 1001) })).failed,
      [job.id],
      "no third worker",
    );

    const failed = await jobRow(db, job.id);
    assert.equal(failed.status, "failed");
    assert.equal(failed.attempt, 2, "failed with an attempt left");
    assert.match(failed.error!, /stopped 2 workers .* while embedding/);
    assert.match(failed.error!, new RegExp(`its dataset '${dataset.id}'`));
    assert.match(failed.error!, /PROFS_WORKER_MEMORY_MB.*'max_pairs' = 500.*'max_tokens' = 128/);
    assert.deepEqual(await lostMarks(db, job.id), [
      "retrying@1:lease_expired:embedding",
      "failed@2:lease_expired:embedding",
    ]);
  },
);

engineTests("a dead compute thread counts as a lost attempt; ordinary failures do not", async ({ db }) => {
  const { queue, job } = await setUp(db);
  const queueOf = await jobRow(db, job.id);
  assert.equal(queueOf.maxAttempts, 3);
  // Attempt 1: an ordinary retryable failure (a database hiccup): not lost.
  const a1 = (await queue.claim(db, { owner: "w1", leaseMs: 1000, now: at(0) }))!;
  assert.equal(
    await queue.fail(db, a1.lease, { error: "internal", retryable: true }, { now: at(1) }),
    "retrying",
  );
  // Attempt 2: the compute thread died.
  const a2 = (await queue.claim(db, { owner: "w2", leaseMs: 1000, now: at(HOUR) }))!;
  assert.equal(a2.lostAttempts, 0);
  assert.equal(
    await queue.fail(db, a2.lease, { error: "thread died", retryable: true, lost: "thread_lost" }, {
      now: at(HOUR + 1),
    }),
    "retrying",
  );
  // Attempt 3: the worker process died (lease expired): the second lost attempt.
  const a3 = (await queue.claim(db, { owner: "w3", leaseMs: 1000, now: at(2 * HOUR) }))!;
  assert.equal(a3.lostAttempts, 1);
  assert.deepEqual((await queue.reapOnce(db, { now: at(2 * HOUR + 1001) })).failed, [job.id]);
  const failed = await jobRow(db, job.id);
  assert.match(failed.error!, /^Cannot run the job as it stopped 2 workers/);
  assert.deepEqual(await lostMarks(db, job.id), ["retrying@2:thread_lost:-", "failed@3:lease_expired:-"]);
});
