/**
 * Database benchmark: the cost of the tenant scope (RLS role switch) on a hot read, queue throughput
 * (enqueue, then claim + complete with C concurrent workers), and the job change feed's latency (a job update's
 * statement returning → its notification at a listener: the same handle on PGlite, another pool on a server),
 * on PGlite and — when TEST_DATABASE_URL or DATABASE_URL names a server — on Postgres (in a throw-away
 * database).
 */
import { eq } from "drizzle-orm";
import postgres from "postgres";
import { createJobQueue, type Database, jobs, openDatabase, watchJobChanges } from "../../shared/db/index.ts";
import { getJob } from "../../shared/db/repositories/jobs.ts";
import { ensureTenant } from "../../shared/db/repositories/tenants.ts";
import { notifyJobFinished } from "../../shared/webhooks/events.ts";

const READS = 2000;
const JOBS = 400;
const WORKERS = 8;
const UPDATES = 200;

async function timeIt(fn: () => Promise<void>): Promise<number> {
  const start = performance.now();
  await fn();
  return (performance.now() - start) / 1000;
}

/** Milliseconds from each of UPDATES job updates returning to `listener` hearing of it (0 when it came first). */
async function feedLatency(writer: Database, listener: Database, tenantId: string): Promise<number[]> {
  const changes = watchJobChanges(listener);
  try {
    while (!changes.live) await new Promise((r) => setTimeout(r, 10));
    const job = await createJobQueue({ onFinish: notifyJobFinished }).enqueue(writer.db, {
      tenantId,
      kind: "check",
      params: {},
    });
    const signal = changes.signal(job.id);
    await signal.wait(5_000); // the enqueue's own notification
    const lags: number[] = [];
    for (let i = 0; i < UPDATES; i++) {
      signal.clear();
      let heard = NaN;
      const waiting = signal.wait(5_000).then((woken) => (heard = woken ? performance.now() : NaN));
      await writer.db.update(jobs).set({ progress: { i } }).where(eq(jobs.id, job.id));
      const returned = performance.now();
      await waiting;
      if (Number.isNaN(heard)) throw new Error(`no notification for update ${i} within 5 s`);
      lags.push(Math.max(0, heard - returned));
    }
    signal.close();
    return lags.sort((a, b) => a - b);
  } finally {
    await changes.close();
  }
}

async function bench(label: string, database: Database, listener: Database = database) {
  const { db } = database;
  const queue = createJobQueue({ onFinish: notifyJobFinished });
  const tenant = await ensureTenant(db, "bench");
  const job = await queue.enqueue(db, { tenantId: tenant.id, kind: "edit", params: { rank: 2 } });
  await db.delete(jobs).where(eq(jobs.id, job.id));
  const probe = await queue.enqueue(db, { tenantId: tenant.id, kind: "check", params: {} });

  const plain = await timeIt(async () => {
    for (let i = 0; i < READS; i++) await db.select().from(jobs).where(eq(jobs.id, probe.id));
  });
  const scoped = await timeIt(async () => {
    for (let i = 0; i < READS; i++) await getJob(db, tenant.id, probe.id);
  });
  const enqueue = await timeIt(async () => {
    for (let i = 0; i < JOBS; i++) {
      await queue.enqueue(db, { tenantId: tenant.id, kind: "edit", params: { i } });
    }
  });
  let done = 0;
  const drain = await timeIt(async () => {
    await Promise.all(Array.from({ length: WORKERS }, async (_, w) => {
      while (true) {
        const claim = await queue.claim(db, { owner: `w${w}`, leaseMs: 60_000, kinds: ["edit"] });
        if (!claim) return;
        if (await queue.complete(db, claim.lease, { result: { w } })) done++;
      }
    }));
  });
  const lags = await feedLatency(database, listener, tenant.id);
  const us = (s: number, n: number) => `${(s / n * 1e6).toFixed(0)} µs`;
  console.log(`${label}:`);
  console.log(
    `  read one job, sequential:   plain select ${us(plain, READS)}/op, getJob (RLS scope) ${
      us(scoped, READS)
    }/op`,
  );
  console.log(`  enqueue, sequential:        ${(JOBS / enqueue).toFixed(0)} jobs/s`);
  console.log(
    `  claim+complete, ${WORKERS} workers: ${
      (done / drain).toFixed(0)
    } jobs/s (${done}/${JOBS} completed once)`,
  );
  const at = (q: number) => lags[Math.min(lags.length - 1, Math.floor(q * lags.length))].toFixed(2);
  console.log(
    `  change feed, ${UPDATES} updates: notified ${at(0.5)} ms (p50) / ${at(0.99)} ms (p99) / ${
      lags.at(-1)!.toFixed(2)
    } ms (max) after the update returned${listener === database ? " (same handle)" : " (another pool)"}`,
  );
}

const pglite = await openDatabase({ dataDir: "memory://" });
await bench("PGlite (in memory)", pglite);
await pglite.close();

const serverUrl = Deno.env.get("TEST_DATABASE_URL") || Deno.env.get("DATABASE_URL");
if (serverUrl) {
  const name = `profs_bench_${Date.now()}`;
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE "${name}"`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const server = await openDatabase({ url: url.toString(), maxConnections: WORKERS + 2 });
  const listener = await openDatabase({ url: url.toString(), migrate: false });
  try {
    await bench("Postgres server", server, listener);
  } finally {
    await listener.close();
    await server.close();
    await admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.end();
  }
} else {
  console.log("Postgres server: skipped (set TEST_DATABASE_URL)");
}
