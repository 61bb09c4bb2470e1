import assert from "node:assert/strict";
import { eq } from "drizzle-orm";
import { artifacts, createJobQueue, type Db, jobEvents, jobs, openDatabase } from "../../shared/db/index.ts";
import { ensureTenant } from "../../shared/db/repositories/tenants.ts";
import { noPostgres } from "../helpers/env.ts";
import { createServerDatabase, dropServerDatabase } from "./harness.ts";
import { notifyJobFinished } from "../../shared/webhooks/events.ts";

const WORKER = new URL("./fixtures/queue_worker.ts", import.meta.url).pathname;

interface WorkerLine {
  event: string;
  owner: string;
  job?: string;
  attempt?: number;
  ok?: boolean;
}

/** A queue_worker.ts process and a way to wait for its next line matching a predicate. */
function spawnWorker(args: string[]) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", WORKER, ...args],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  const seen: WorkerLine[] = [];
  async function waitFor(predicate: (line: WorkerLine) => boolean): Promise<WorkerLine> {
    while (true) {
      const newline = buffer.indexOf("\n");
      if (newline >= 0) {
        const line = JSON.parse(buffer.slice(0, newline)) as WorkerLine;
        buffer = buffer.slice(newline + 1);
        seen.push(line);
        if (predicate(line)) return line;
        continue;
      }
      const { value, done } = await lines.read();
      if (done) throw new Error(`worker exited before the awaited line; saw ${JSON.stringify(seen)}`);
      buffer += value;
    }
  }
  return { child, waitFor, seen, drain: () => lines.cancel() };
}

async function assertFinishedOnceBy(db: Db, jobId: string, owner: string) {
  const [job] = await db.select().from(jobs).where(eq(jobs.id, jobId));
  assert.equal(job.status, "succeeded");
  assert.equal(job.attempt, 2);
  assert.deepEqual(job.result, { owner, attempt: 2 });
  const events = await db.select().from(jobEvents).where(eq(jobEvents.jobId, jobId)).orderBy(jobEvents.id);
  assert.equal(events.filter((e) => e.type === "succeeded").length, 1);
  assert.deepEqual(
    events.filter((e) => e.type !== "progress").map((e) => `${e.type}@${e.attempt}`),
    ["queued@0", "started@1", "retrying@1", "started@2", "succeeded@2"],
  );
  const published = await db.select().from(artifacts).where(eq(artifacts.jobId, jobId));
  assert.deepEqual(published.map((a) => a.blobKey), [`jobs/${jobId}/2/result.json`], "one set of artifacts");
}

Deno.test({
  name: "a worker killed with SIGKILL mid-job: another worker on the server finishes it, with one result",
  ignore: noPostgres(),
  async fn() {
    const url = await createServerDatabase();
    const database = await openDatabase({ url });
    try {
      const tenant = await ensureTenant(database.db, "acme");
      const job = await createJobQueue({ onFinish: notifyJobFinished }).enqueue(database.db, {
        tenantId: tenant.id,
        kind: "edit",
        params: {},
      });

      const a = spawnWorker(["--owner", "a", "--url", url, "--hang", "--lease-ms", "1000"]);
      await a.waitFor((l) => l.event === "hanging");
      // b runs beside a live a: while a heartbeats, b finds nothing to claim.
      const b = spawnWorker(["--owner", "b", "--url", url, "--lease-ms", "1000"]);
      for (let i = 0; i < 3; i++) await b.waitFor((l) => l.event === "idle");
      const [held] = await database.db.select().from(jobs).where(eq(jobs.id, job.id));
      assert.equal(held.leaseOwner, "a");

      a.child.kill("SIGKILL");
      assert.equal((await a.child.status).signal, "SIGKILL");
      await a.drain();

      const done = await b.waitFor((l) => l.event === "completed");
      assert.equal(done.ok, true);
      assert.equal((await b.child.status).code, 0);
      assert.ok(!b.seen.some((l) => l.event === "lease_lost"));
      await assertFinishedOnceBy(database.db, job.id, "b");
    } finally {
      await database.close();
      await dropServerDatabase(url);
    }
  },
});

Deno.test("embedded: a worker process killed with SIGKILL mid-job is finished by the next process", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "profs-crash-" });
  try {
    const setup = await openDatabase({ dataDir });
    const tenant = await ensureTenant(setup.db, "acme");
    const job = await createJobQueue({ onFinish: notifyJobFinished }).enqueue(setup.db, {
      tenantId: tenant.id,
      kind: "edit",
      params: {},
    });
    await setup.close();

    // PGlite belongs to one process: the second worker starts after the first died, as a restart would.
    const a = spawnWorker(["--owner", "a", "--data-dir", dataDir, "--hang", "--lease-ms", "1000"]);
    await a.waitFor((l) => l.event === "hanging");
    a.child.kill("SIGKILL");
    await a.child.status;
    await a.drain();

    const b = spawnWorker(["--owner", "b", "--data-dir", dataDir, "--lease-ms", "1000"]);
    assert.equal((await b.waitFor((l) => l.event === "completed")).ok, true);
    assert.equal((await b.child.status).code, 0);
    await b.drain();

    const check = await openDatabase({ dataDir });
    try {
      await assertFinishedOnceBy(check.db, job.id, "b");
    } finally {
      await check.close();
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

/**
 * The poison rule with real process deaths: workers a and b each die (SIGKILL) while running the same job; the
 * next worker to reap b's lease fails the job as the user's error instead of running it a third time, and stays
 * alive and idle. `location` points the workers at one database: a server, or an embedded data directory (PGlite
 * belongs to one process, so each worker starts after the previous one died, as a restart would).
 */
async function killedTwice(location: string[], open: () => Promise<{ db: Db; close(): Promise<void> }>) {
  const setup = await open();
  const tenant = await ensureTenant(setup.db, "acme");
  const job = await createJobQueue({ onFinish: notifyJobFinished }).enqueue(setup.db, {
    tenantId: tenant.id,
    kind: "edit",
    params: { max_pairs: 500, max_tokens: 128 },
  });
  await setup.close();
  for (const [owner, attempt] of [["a", 1], ["b", 2]] as const) {
    const w = spawnWorker(["--owner", owner, ...location, "--hang", "--lease-ms", "1000"]);
    assert.equal((await w.waitFor((l) => l.event === "claimed")).attempt, attempt);
    await w.waitFor((l) => l.event === "hanging");
    w.child.kill("SIGKILL");
    await w.child.status;
    await w.drain();
  }
  // c reaps b's expired lease (its second lost attempt) and finds nothing to run.
  const c = spawnWorker(["--owner", "c", ...location, "--lease-ms", "1000"]);
  try {
    await c.waitFor((l) => l.event === "idle");
    await new Promise((resolve) => setTimeout(resolve, 1500)); // past b's lease
    await c.waitFor((l) => l.event === "idle");
    assert.ok(!c.seen.some((l) => l.event === "claimed"), "no third attempt");
  } finally {
    c.child.kill("SIGKILL");
    await c.child.status;
    await c.drain();
  }
  const check = await open();
  try {
    const [failed] = await check.db.select().from(jobs).where(eq(jobs.id, job.id));
    assert.equal(failed.status, "failed");
    assert.equal(failed.attempt, 2);
    assert.match(
      failed.error!,
      /^Cannot run the job as it stopped 2 workers \(each attempt ended without a report while work\)/,
    );
    assert.match(failed.error!, /PROFS_WORKER_MEMORY_MB.*'max_pairs' = 500/);
    const events = await check.db.select().from(jobEvents).where(eq(jobEvents.jobId, job.id)).orderBy(
      jobEvents.id,
    );
    assert.deepEqual(
      events.filter((e) => e.type !== "progress").map((e) =>
        `${e.type}@${e.attempt}${(e.data as { lost?: unknown }).lost ? "(lost)" : ""}`
      ),
      ["queued@0", "started@1", "retrying@1(lost)", "started@2", "failed@2(lost)"],
    );
  } finally {
    await check.close();
  }
}

Deno.test({
  name: "a job whose worker processes were killed twice fails as the user's error, on the server",
  ignore: noPostgres(),
  async fn() {
    const url = await createServerDatabase();
    try {
      await killedTwice(["--url", url], () => openDatabase({ url }));
    } finally {
      await dropServerDatabase(url);
    }
  },
});

Deno.test("embedded: a job whose worker processes were killed twice fails as the user's error", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "profs-crash-" });
  try {
    await killedTwice(["--data-dir", dataDir], () => openDatabase({ dataDir }));
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
