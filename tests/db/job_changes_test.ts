import assert from "node:assert/strict";
import { eq } from "drizzle-orm";
import postgres from "postgres";
import { artifacts, createJobQueue, jobEvents, jobs, type Lease } from "../../shared/db/index.ts";
import type { Database } from "../../shared/db/database.ts";
import { type JobChanges, watchJobChanges } from "../../shared/db/job_changes.ts";
import { ensureTenant } from "../../shared/db/repositories/tenants.ts";
import { createLogger } from "../../shared/log.ts";
import { noPostgres } from "../helpers/env.ts";
import { engineTests, freshDatabase } from "./harness.ts";
import { notifyJobFinished } from "../../shared/webhooks/events.ts";
import { waitFor } from "../helpers/wait_for.ts";

/** Watches every change on `database`, recording the job ids notified, in order. */
async function recorder(database: Database) {
  const changes = watchJobChanges(database);
  const seen: string[] = [];
  let resets = 0;
  changes.watchAll({ onChange: (id) => seen.push(id), onReset: () => void resets++ });
  await until(() => changes.live, "the feed goes live");
  return { changes, seen, resets: () => resets };
}

/** Waits until `condition` holds (the feed answers within a moment; 5 s is ample unless said otherwise). */
async function until(condition: () => boolean, what: string, ms = 5_000): Promise<void> {
  await waitFor(condition, { deadline: ms, intervalMs: 10, message: what });
}

engineTests("the feed names the job when its row, artifacts or events change", async (database) => {
  const { db } = database;
  const feed = await recorder(database);
  try {
    assert.equal(feed.resets(), 1, "one reset when the LISTEN is placed");
    const queue = createJobQueue({ onFinish: notifyJobFinished });
    const tenant = await ensureTenant(db, "acme");

    // enqueue inserts the job and its "queued" event in one transaction
    const job = (await queue.enqueue(db, { tenantId: tenant.id, kind: "edit", params: {} })).id;
    await until(() => feed.seen.includes(job), "the enqueue is notified");

    // Each change is one transaction, so one notification; each is awaited before the next change, so a late
    // notification can never be taken for the next change's.
    const notifies = async (what: string, change: () => Promise<unknown>) => {
      const count = feed.seen.length;
      await change();
      await until(() => feed.seen.length > count, `${what} is notified`);
    };
    let lease!: Lease;
    await notifies(
      "a claim",
      async () => (lease = (await queue.claim(db, { owner: "w", leaseMs: 60_000 }))!.lease),
    );
    await notifies(
      "progress (row update + event)",
      () => queue.progress(db, lease, { stage: "x", done: 1, total: 2 }),
    );
    await notifies(
      "an event alone",
      () => db.insert(jobEvents).values({ jobId: job, tenantId: tenant.id, attempt: 1, type: "progress" }),
    );
    await notifies("an artifact", () =>
      db.insert(artifacts).values({
        jobId: job,
        tenantId: tenant.id,
        name: "a.bin",
        blobKey: "k",
        size: 1,
        sha256: "0".repeat(64),
      }));
    await notifies("an artifact deleted", () => db.delete(artifacts).where(eq(artifacts.jobId, job)));

    // A rolled-back transaction notifies nobody: after it and one committed change, one more notification.
    const before = feed.seen.length;
    await assert.rejects(db.transaction(async (tx) => {
      await tx.update(jobs).set({ progress: { stage: "rolled back" } }).where(eq(jobs.id, job));
      throw new Error("roll back");
    }));
    await notifies(
      "a committed update",
      () => db.update(jobs).set({ progress: { stage: "committed" } }).where(eq(jobs.id, job)),
    );
    // Notifications arrive in commit order, so once a later change is heard, a notification of the rolled-back
    // transaction (had there been one) would have arrived before it.
    await notifies(
      "a later update",
      () => db.update(jobs).set({ progress: { stage: "later" } }).where(eq(jobs.id, job)),
    );
    assert.equal(feed.seen.length, before + 2, "only the two committed updates were notified");
    assert.ok(feed.seen.every((id) => id === job), "every notification named the job");
  } finally {
    await feed.changes.close();
  }
});

engineTests(
  "a job's signal wakes a waiting reader at a change, times out, and ends at close",
  async (database) => {
    const { db } = database;
    // Every watcher of a notification is called in one go, so once `seen` has it a signal is set too.
    const { changes, seen } = await recorder(database);
    try {
      const queue = createJobQueue({ onFinish: notifyJobFinished });
      const tenant = await ensureTenant(db, "acme");
      const job = await queue.enqueue(db, { tenantId: tenant.id, kind: "edit", params: {} });
      const other = await queue.enqueue(db, { tenantId: tenant.id, kind: "edit", params: {} });
      await until(() => seen.includes(job.id) && seen.includes(other.id), "both enqueues are delivered");

      const signal = changes.signal(job.id);
      signal.clear();
      assert.equal(await signal.wait(20), false, "nothing changed: times out");

      const woken = signal.wait(10_000);
      await db.update(jobs).set({ progress: { stage: "a" } }).where(eq(jobs.id, other.id));
      await db.update(jobs).set({ progress: { stage: "b" } }).where(eq(jobs.id, job.id));
      assert.equal(await woken, true, "woken by its job's change, long before the timeout");

      // A change delivered between clear() and wait() is kept: the next wait returns at once.
      signal.clear();
      const count = seen.length;
      await db.update(jobs).set({ progress: { stage: "c" } }).where(eq(jobs.id, job.id));
      await until(() => seen.slice(count).includes(job.id), "the change is delivered");
      const started = Date.now();
      const kept = await signal.wait(10_000);
      assert.equal(kept, true);
      assert.ok(Date.now() - started < 5_000, "the set latch returned without waiting for the timeout");

      signal.clear();
      const waiting = signal.wait(10_000);
      signal.close();
      assert.equal(await waiting, false, "close ends the wait");
    } finally {
      await changes.close();
    }
  },
);

engineTests("after close, changes reach no watcher", async (database) => {
  const { db } = database;
  const changes = watchJobChanges(database);
  await until(() => changes.live, "the feed goes live");
  const seen: string[] = [];
  changes.watchAll({ onChange: (id) => seen.push(id), onReset: () => {} });
  await changes.close();
  assert.equal(changes.live, false);
  const tenant = await ensureTenant(db, "acme");
  // A second, open feed hears the change: by then the closed one would have heard it too.
  const witness = await recorder(database);
  try {
    const job = await createJobQueue({ onFinish: notifyJobFinished }).enqueue(db, {
      tenantId: tenant.id,
      kind: "edit",
      params: {},
    });
    await until(() => witness.seen.includes(job.id), "the open feed hears the enqueue");
    assert.deepEqual(seen, []);
  } finally {
    await witness.changes.close();
  }
});

Deno.test("a feed that cannot listen stays not live and says so in the log", async () => {
  const lines: string[] = [];
  const broken = {
    listen: () => Promise.reject(new Error("connection refused")),
  } as unknown as Database;
  const changes: JobChanges = watchJobChanges(broken, createLogger({ write: (line) => lines.push(line) }));
  await until(() => lines.length > 0, "a warning is logged");
  assert.equal(changes.live, false);
  assert.match(lines[0], /job change feed unavailable/);
  assert.match(lines[0], /connection refused/);
  const signal = changes.signal("x");
  assert.equal(await signal.wait(10), false, "a signal still times out, so a reader polls");
  await changes.close();
});

Deno.test({
  name:
    "a lost listening connection is re-established: watchers reset, and changes are heard again [postgres]",
  ignore: noPostgres(),
  async fn() {
    const database = await freshDatabase("postgres");
    const feed = await recorder(database);
    const admin = postgres(database.url!, { max: 1, onnotice: () => {} });
    try {
      assert.equal(feed.resets(), 1);
      // Kill the backend that holds the LISTEN, as a restart or a network failure would.
      const killed = await admin`
        SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
        WHERE datname = current_database() AND query ILIKE 'listen%' AND pid <> pg_backend_pid()`;
      assert.equal(killed.length, 1, "one listening backend");
      await until(() => feed.resets() === 2, "postgres.js re-listens and the watchers reset", 10_000);
      assert.equal(feed.changes.live, true);
      const tenant = await ensureTenant(database.db, "acme");
      const job = await createJobQueue({ onFinish: notifyJobFinished }).enqueue(database.db, {
        tenantId: tenant.id,
        kind: "edit",
        params: {},
      });
      await until(() => feed.seen.includes(job.id), "a change after the reconnect is heard");
    } finally {
      await admin.end();
      await feed.changes.close();
      await database.close();
    }
  },
});
