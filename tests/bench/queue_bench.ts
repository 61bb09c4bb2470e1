/**
 * Database benchmark: the cost of the tenant scope (RLS role switch) on a hot read, and queue throughput
 * (enqueue, then claim + complete with C concurrent workers), on PGlite and — when TEST_DATABASE_URL or
 * DATABASE_URL names a server — on Postgres (in a throw-away database).
 */
import { eq } from "drizzle-orm";
import postgres from "postgres";
import { createJobQueue, type Database, jobs, openDatabase } from "../../shared/db/index.ts";
import { getJob } from "../../shared/db/repositories/jobs.ts";
import { ensureTenant } from "../../shared/db/repositories/tenants.ts";

const READS = 2000;
const JOBS = 400;
const WORKERS = 8;

async function timeIt(fn: () => Promise<void>): Promise<number> {
  const start = performance.now();
  await fn();
  return (performance.now() - start) / 1000;
}

async function bench(label: string, database: Database) {
  const { db } = database;
  const queue = createJobQueue();
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
  try {
    await bench("Postgres server", server);
  } finally {
    await server.close();
    await admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.end();
  }
} else {
  console.log("Postgres server: skipped (set TEST_DATABASE_URL)");
}
