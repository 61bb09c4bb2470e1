import assert from "node:assert/strict";
import { and, eq } from "drizzle-orm";
import { artifacts, createJobQueue, type Db, type Job, jobEvents, jobs } from "../../shared/db/index.ts";
import { ensureTenant } from "../../shared/db/repositories/tenants.ts";
import { openDatabase } from "../../shared/db/connection.ts";
import { engineTests } from "./harness.ts";
import { notifyJobFinished } from "../../shared/webhooks/events.ts";

const LEASE_MS = 30_000;
const t0 = new Date("2030-01-01T00:00:00Z");
const at = (ms: number) => new Date(t0.getTime() + ms);

async function eventTypes(db: Db, jobId: string): Promise<string[]> {
  const rows = await db.select({ type: jobEvents.type }).from(jobEvents).where(eq(jobEvents.jobId, jobId))
    .orderBy(jobEvents.id);
  return rows.map((r) => r.type);
}

/** Drizzle wraps driver errors; the constraint name is in the cause. */
async function rejectsWithConstraint(promise: Promise<unknown>, constraint: string) {
  await assert.rejects(promise, (error: Error) => {
    assert.match(
      String((error.cause as Error | undefined)?.message ?? error.message),
      new RegExp(constraint),
    );
    return true;
  });
}

async function jobRow(db: Db, id: string): Promise<Job> {
  const [job] = await db.select().from(jobs).where(eq(jobs.id, id));
  return job;
}

engineTests("20 concurrent claimers and one job: exactly one claims it", async ({ db, url, kind }) => {
  const queue = createJobQueue({ onFinish: notifyJobFinished });
  const tenant = await ensureTenant(db, "acme");
  const job = await queue.enqueue(db, {
    tenantId: tenant.id,
    kind: "edit",
    params: { rank: 2 },
    runAfter: t0,
  });
  // On a server, every claimer gets its own connection, so SKIP LOCKED really races.
  const pool = url ? await openDatabase({ url, maxConnections: 20, migrate: false }) : null;
  try {
    const claimDb = pool?.db ?? db;
    const claims = await Promise.all(
      Array.from(
        { length: 20 },
        (_, i) => queue.claim(claimDb, { owner: `w${i}`, leaseMs: LEASE_MS, now: at(1) }),
      ),
    );
    const won = claims.filter((c) => c !== null);
    assert.equal(won.length, 1, `${kind}: claims ${won.length}`);
    assert.equal(won[0]!.job.id, job.id);
    assert.equal(won[0]!.job.attempt, 1);
    assert.equal(won[0]!.job.status, "running");
    assert.deepEqual(await eventTypes(db, job.id), ["queued", "started"]);
  } finally {
    await pool?.close();
  }
});

engineTests("claim() skips jobs not yet due and takes the oldest due one", async ({ db }) => {
  const queue = createJobQueue({ onFinish: notifyJobFinished });
  const tenant = await ensureTenant(db, "acme");
  const later = await queue.enqueue(db, {
    tenantId: tenant.id,
    kind: "edit",
    params: {},
    runAfter: at(1000),
  });
  const due = await queue.enqueue(db, { tenantId: tenant.id, kind: "edit", params: {}, runAfter: at(0) });
  assert.equal((await queue.claim(db, { owner: "w", leaseMs: LEASE_MS, now: at(999) }))?.job.id, due.id);
  assert.equal(await queue.claim(db, { owner: "w", leaseMs: LEASE_MS, now: at(999) }), null);
  assert.equal((await queue.claim(db, { owner: "w", leaseMs: LEASE_MS, now: at(1000) }))?.job.id, later.id);
});

engineTests("claim() with kinds takes only those kinds", async ({ db }) => {
  const queue = createJobQueue({ onFinish: notifyJobFinished });
  const tenant = await ensureTenant(db, "acme");
  await queue.enqueue(db, { tenantId: tenant.id, kind: "edit", params: {}, runAfter: t0 });
  assert.equal(await queue.claim(db, { owner: "w", leaseMs: LEASE_MS, kinds: ["check"], now: at(1) }), null);
  assert.ok(await queue.claim(db, { owner: "w", leaseMs: LEASE_MS, kinds: ["edit"], now: at(1) }));
});

engineTests(
  "an expired lease is re-claimed with attempt+1 and the stale attempt's writes are rejected",
  async ({ db }) => {
    const queue = createJobQueue({
      onFinish: notifyJobFinished,
      random: () => 0,
      retryPolicy: { baseMs: 1000, capMs: 60_000, jitter: 0.25 },
    });
    const tenant = await ensureTenant(db, "acme");
    const job = await queue.enqueue(db, { tenantId: tenant.id, kind: "edit", params: {}, runAfter: t0 });
    const first = (await queue.claim(db, { owner: "old", leaseMs: 1000, now: at(0) }))!;

    // The lease ends at +1000 ms: at exactly +1000 it is not yet expired, one millisecond later it is.
    assert.deepEqual(await queue.reapOnce(db, { now: at(1000) }), { requeued: [], failed: [], canceled: [] });
    assert.deepEqual(await queue.reapOnce(db, { now: at(1001) }), {
      requeued: [job.id],
      failed: [],
      canceled: [],
    });
    const requeued = await jobRow(db, job.id);
    assert.equal(requeued.status, "queued");
    assert.equal(requeued.runAfter.getTime(), at(1001 + 1000).getTime(), "backoff base·2^0 after attempt 1");
    assert.match(requeued.error!, /Worker 'old' stopped heartbeating/);

    assert.equal(
      await queue.claim(db, { owner: "new", leaseMs: LEASE_MS, now: at(2000) }),
      null,
      "backing off",
    );
    const second = (await queue.claim(db, { owner: "new", leaseMs: LEASE_MS, now: at(2001) }))!;
    assert.equal(second.lease.attempt, 2);
    assert.notEqual(second.lease.token, first.lease.token);

    // The old worker wakes up: every write it tries matches no row.
    assert.deepEqual(await queue.heartbeat(db, first.lease, { leaseMs: 1000, now: at(2002) }), { ok: false });
    assert.equal(await queue.progress(db, first.lease, { stage: "stale" }, { now: at(2002) }), false);
    assert.equal(
      await queue.complete(db, first.lease, {
        result: { by: "old" },
        artifacts: [{ name: "x", blobKey: "k", size: 1, sha256: "0".repeat(64) }],
      }, { now: at(2002) }),
      false,
    );
    assert.equal(
      await queue.fail(db, first.lease, { error: "old", retryable: false }, { now: at(2002) }),
      "lease_lost",
    );

    assert.equal(await queue.complete(db, second.lease, { result: { by: "new" } }, { now: at(3000) }), true);
    const done = await jobRow(db, job.id);
    assert.equal(done.status, "succeeded");
    assert.deepEqual(done.result, { by: "new" });
    assert.equal(done.attempt, 2);
    assert.equal(done.finishedAt?.getTime(), at(3000).getTime());
    assert.equal(done.leaseToken, null);
    assert.equal((await db.select().from(artifacts).where(eq(artifacts.jobId, job.id))).length, 0);
    assert.deepEqual(await eventTypes(db, job.id), ["queued", "started", "retrying", "started", "succeeded"]);
    // Finished is final: the winner cannot complete twice either.
    assert.equal(
      await queue.complete(db, second.lease, { result: { by: "again" } }, { now: at(3001) }),
      false,
    );
  },
);

engineTests("the reaper fails a job after max_attempts with the last error", async ({ db }) => {
  const queue = createJobQueue({ onFinish: notifyJobFinished, random: () => 0 });
  const tenant = await ensureTenant(db, "acme");
  const job = await queue.enqueue(db, {
    tenantId: tenant.id,
    kind: "edit",
    params: {},
    maxAttempts: 2,
    runAfter: t0,
  });
  let now = 0;
  for (let attempt = 1; attempt <= 2; attempt++) {
    const claim = await queue.claim(db, { owner: `w${attempt}`, leaseMs: 1000, now: at(now) });
    assert.equal(claim?.lease.attempt, attempt);
    now += 1001;
    if (attempt === 1) {
      // An ordinary retryable failure first: two lost leases would fail the job by the poison rule instead.
      assert.equal(
        await queue.fail(db, claim!.lease, { error: "hiccup", retryable: true }, { now: at(now) }),
        "retrying",
      );
    } else assert.deepEqual((await queue.reapOnce(db, { now: at(now) })).failed, [job.id]);
    now += 10 * 60_000;
  }
  const failed = await jobRow(db, job.id);
  assert.equal(failed.status, "failed");
  assert.match(failed.error!, /Worker 'w2' stopped heartbeating.*attempt 2 of 2/);
  assert.ok(failed.finishedAt);
});

engineTests("fail() retries retryable errors with backoff and fails the rest at once", async ({ db }) => {
  const queue = createJobQueue({
    onFinish: notifyJobFinished,
    random: () => 0,
    retryPolicy: { baseMs: 100, capMs: 1000, jitter: 0 },
  });
  const tenant = await ensureTenant(db, "acme");
  const retried = await queue.enqueue(db, { tenantId: tenant.id, kind: "edit", params: {}, runAfter: t0 });
  const c1 = (await queue.claim(db, { owner: "w", leaseMs: LEASE_MS, now: at(0) }))!;
  assert.equal(
    await queue.fail(db, c1.lease, { error: "device lost", retryable: true }, { now: at(10) }),
    "retrying",
  );
  const row = await jobRow(db, retried.id);
  assert.equal(row.status, "queued");
  assert.equal(row.error, "device lost");
  assert.equal(row.runAfter.getTime(), at(110).getTime());

  const c2 = (await queue.claim(db, { owner: "w", leaseMs: LEASE_MS, now: at(110) }))!;
  assert.equal(c2.lease.attempt, 2);
  assert.equal(
    await queue.fail(db, c2.lease, { error: "bad model: no config.json", retryable: false }),
    "failed",
  );
  const failed = await jobRow(db, retried.id);
  assert.equal(failed.status, "failed");
  assert.equal(failed.error, "bad model: no config.json");
});

engineTests(
  "cancel: a queued job is canceled at once; a running one at its next heartbeat",
  async ({ db }) => {
    const finished: string[] = [];
    const queue = createJobQueue({
      onFinish: (_tx, job) => Promise.resolve(void finished.push(`${job.id}:${job.status}`)),
    });
    const tenant = await ensureTenant(db, "acme");
    const queued = await queue.enqueue(db, {
      tenantId: tenant.id,
      kind: "edit",
      params: {},
      runAfter: at(5000),
    });
    assert.equal((await queue.requestCancel(db, tenant.id, queued.id, { now: at(1) }))?.status, "canceled");
    assert.deepEqual(finished, [`${queued.id}:canceled`]);

    const running = await queue.enqueue(db, { tenantId: tenant.id, kind: "edit", params: {}, runAfter: t0 });
    const claim = (await queue.claim(db, { owner: "w", leaseMs: LEASE_MS, now: at(1) }))!;
    assert.equal(claim.job.id, running.id);
    assert.deepEqual(await queue.heartbeat(db, claim.lease, { leaseMs: LEASE_MS, now: at(2) }), {
      ok: true,
      cancelRequested: false,
      leaseExpiresAt: at(2 + LEASE_MS),
    });
    const requested = await queue.requestCancel(db, tenant.id, running.id, { now: at(3) });
    assert.equal(requested?.status, "running");
    const beat = await queue.heartbeat(db, claim.lease, { leaseMs: LEASE_MS, now: at(4) });
    assert.equal(beat.ok && beat.cancelRequested, true);
    assert.equal(await queue.acknowledgeCancel(db, claim.lease, { now: at(5) }), true);
    assert.equal((await jobRow(db, running.id)).status, "canceled");
    assert.deepEqual(finished, [`${queued.id}:canceled`, `${running.id}:canceled`]);
    assert.deepEqual(await eventTypes(db, running.id), ["queued", "started", "cancel_requested", "canceled"]);
    // Canceling a finished job changes nothing.
    assert.equal((await queue.requestCancel(db, tenant.id, running.id))?.status, "canceled");
  },
);

engineTests("acknowledgeCancel() without a requested cancel matches nothing", async ({ db }) => {
  const queue = createJobQueue({ onFinish: notifyJobFinished });
  const tenant = await ensureTenant(db, "acme");
  await queue.enqueue(db, { tenantId: tenant.id, kind: "edit", params: {}, runAfter: t0 });
  const claim = (await queue.claim(db, { owner: "w", leaseMs: LEASE_MS, now: at(1) }))!;
  assert.equal(await queue.acknowledgeCancel(db, claim.lease), false);
  assert.equal((await jobRow(db, claim.job.id)).status, "running");
});

engineTests("complete() publishes artifacts and runs onFinish in the same transaction", async ({ db }) => {
  const notify = (fail: boolean) => async (tx: Db, job: Job) => {
    await tx.insert(jobEvents).values({
      tenantId: job.tenantId,
      jobId: job.id,
      attempt: job.attempt,
      type: "notified",
    });
    if (fail) throw new Error("outbox write failed");
  };
  const tenant = await ensureTenant(db, "acme");
  const failing = createJobQueue({ onFinish: notify(true) });
  const job = await failing.enqueue(db, { tenantId: tenant.id, kind: "edit", params: {}, runAfter: t0 });
  const claim = (await failing.claim(db, { owner: "w", leaseMs: LEASE_MS, now: at(1) }))!;
  const artifact = { name: "patch.safetensors", blobKey: "jobs/x/patch", size: 10, sha256: "a".repeat(64) };
  await assert.rejects(
    failing.complete(db, claim.lease, { result: { ok: 1 }, artifacts: [artifact] }),
    /outbox/,
  );
  // The hook failed, so nothing of the completion is visible: still running, no artifacts, no events.
  assert.equal((await jobRow(db, job.id)).status, "running");
  assert.equal((await db.select().from(artifacts).where(eq(artifacts.jobId, job.id))).length, 0);
  assert.deepEqual(await eventTypes(db, job.id), ["queued", "started"]);

  const queue = createJobQueue({ onFinish: notify(false) });
  assert.equal(await queue.complete(db, claim.lease, { result: { ok: 1 }, artifacts: [artifact] }), true);
  const published = await db.select().from(artifacts).where(eq(artifacts.jobId, job.id));
  assert.deepEqual(published.map((a) => [a.name, a.size, a.tenantId]), [[
    "patch.safetensors",
    10,
    tenant.id,
  ]]);
  assert.deepEqual(await eventTypes(db, job.id), ["queued", "started", "succeeded", "notified"]);
});

engineTests(
  "idempotency: concurrent identical requests create one job; a different request conflicts",
  async (
    { db, url },
  ) => {
    const queue = createJobQueue({ onFinish: notifyJobFinished });
    const tenant = await ensureTenant(db, "acme");
    const other = await ensureTenant(db, "other");
    const pool = url ? await openDatabase({ url, maxConnections: 10, migrate: false }) : null;
    try {
      const requestDb = pool?.db ?? db;
      const input = {
        tenantId: tenant.id,
        kind: "edit" as const,
        params: { rank: 2 },
        key: "k-1",
        requestHash: "h1",
      };
      const results = await Promise.all(
        Array.from({ length: 10 }, () => queue.enqueueIdempotent(requestDb, input)),
      );
      assert.equal(new Set(results.map((r) => r.job.id)).size, 1);
      assert.equal(results.filter((r) => r.created).length, 1);
      const count = await db.select().from(jobs).where(eq(jobs.tenantId, tenant.id));
      assert.equal(count.length, 1);

      await assert.rejects(
        queue.enqueueIdempotent(db, { ...input, requestHash: "h2" }),
        { name: "IdempotencyConflictError", message: /Cannot reuse Idempotency-Key 'k-1'/ },
      );
      // Keys are per tenant: the same key elsewhere is a new job.
      const elsewhere = await queue.enqueueIdempotent(db, { ...input, tenantId: other.id });
      assert.equal(elsewhere.created, true);
      assert.notEqual(elsewhere.job.id, results[0].job.id);
    } finally {
      await pool?.close();
    }
  },
);

engineTests("enqueue in the caller's transaction rolls back with it", async ({ db }) => {
  const queue = createJobQueue({ onFinish: notifyJobFinished });
  const tenant = await ensureTenant(db, "acme");
  await assert.rejects(
    db.transaction(async (tx) => {
      await queue.enqueue(tx, { tenantId: tenant.id, kind: "edit", params: {} });
      throw new Error("domain write failed");
    }),
    /domain write failed/,
  );
  assert.equal((await db.select().from(jobs).where(eq(jobs.tenantId, tenant.id))).length, 0);
});

engineTests("CHECK constraints refuse inconsistent job rows", async ({ db }) => {
  const queue = createJobQueue({ onFinish: notifyJobFinished });
  const tenant = await ensureTenant(db, "acme");
  const job = await queue.enqueue(db, { tenantId: tenant.id, kind: "edit", params: {} });
  const mine = and(eq(jobs.id, job.id));
  await rejectsWithConstraint(
    db.update(jobs).set({ status: "succeeded", result: {} }).where(mine),
    "jobs_finished_at_iff_terminal",
  );
  await rejectsWithConstraint(
    db.update(jobs).set({ finishedAt: new Date() }).where(mine),
    "jobs_finished_at_iff_terminal",
  );
  await rejectsWithConstraint(
    db.update(jobs).set({ status: "running", attempt: 1 }).where(mine),
    "jobs_lease_iff_running",
  );
  await rejectsWithConstraint(
    db.update(jobs).set({ status: "failed", finishedAt: new Date() }).where(mine),
    "jobs_failed_has_error",
  );
  await rejectsWithConstraint(db.update(jobs).set({ attempt: 4 }).where(mine), "jobs_attempts_in_range");
});

engineTests("10 concurrent claimers and 10 jobs: each claim takes exactly one job, none is stranded", async (
  { db, url },
) => {
  const queue = createJobQueue({ onFinish: notifyJobFinished });
  const tenant = await ensureTenant(db, "acme");
  for (let i = 0; i < 10; i++) {
    await queue.enqueue(db, { tenantId: tenant.id, kind: "edit", params: { i }, runAfter: t0 });
  }
  const pool = url ? await openDatabase({ url, maxConnections: 10, migrate: false }) : null;
  try {
    const claimDb = pool?.db ?? db;
    const claims = await Promise.all(
      Array.from(
        { length: 10 },
        (_, i) => queue.claim(claimDb, { owner: `w${i}`, leaseMs: LEASE_MS, now: at(1) }),
      ),
    );
    const claimed = claims.filter((c) => c !== null).map((c) => c!.job.id);
    const running = await db.select().from(jobs).where(eq(jobs.status, "running"));
    // Every running job belongs to a claim that was returned: a statement that claimed two would strand one.
    assert.deepEqual(running.map((j) => j.id).sort(), [...claimed].sort());
    assert.equal(new Set(claimed).size, claimed.length);
    assert.equal(claimed.length, 10);
  } finally {
    await pool?.close();
  }
});
