/**
 * Webhook throughput: signing rate, and the dispatcher draining an outbox to a receiver on loopback (allow-listed)
 * on embedded PGlite and, when TEST_DATABASE_URL is set, on a Postgres server. Prints messages/s and the
 * per-attempt latency the delivery log recorded (p50/p99).
 */
import { asc } from "drizzle-orm";
import { dispatchOnce } from "../../gpu-worker/webhooks/dispatcher.ts";
import type { Db } from "../../shared/db/database.ts";
import { webhookDeliveryAttempts } from "../../shared/db/schema.ts";
import { silentLogger } from "../../shared/log.ts";
import { parseAllowlist } from "../../shared/webhooks/address_policy.ts";
import { generateSecret, signWebhook } from "../../shared/webhooks/signature.ts";
import { createServerDatabase, dropServerDatabase, freshDatabase } from "../db/harness.ts";
import { testDatabaseUrl } from "../helpers/env.ts";
import { createDelivery, createEndpoint, createTenant } from "../webhooks/db_fixtures.ts";
import { startReceiver } from "../webhooks/receiver.ts";

const MESSAGES = 300;

async function benchSigning() {
  const secret = generateSecret();
  const body = JSON.stringify({ type: "edit.succeeded", data: { id: crypto.randomUUID(), links: {} } });
  const n = 5000;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await signWebhook({ id: `msg_${i}`, timestamp: new Date(), body }, [secret]);
  const seconds = (performance.now() - t0) / 1000;
  console.log(
    `sign: ${(n / seconds).toFixed(0)} signatures/s (${body.length}-byte body, WebCrypto HMAC-SHA256)`,
  );
}

async function benchDispatch(label: string, db: Db) {
  const receiver = startReceiver();
  try {
    const tenant = await createTenant(db);
    const endpoint = await createEndpoint(db, tenant, receiver.url);
    const now = new Date();
    for (let i = 0; i < MESSAGES; i++) await createDelivery(db, tenant, endpoint.id, now);
    const options = {
      db,
      logger: silentLogger,
      owner: "bench",
      allowlist: parseAllowlist("127.0.0.1"),
      batchSize: 16,
    };
    const t0 = performance.now();
    while ((await dispatchOnce(options, { now })).claimed > 0) { /* drain */ }
    const seconds = (performance.now() - t0) / 1000;
    const durations =
      (await db.select({ ms: webhookDeliveryAttempts.durationMs }).from(webhookDeliveryAttempts)
        .orderBy(asc(webhookDeliveryAttempts.durationMs))).map((r) => r.ms);
    const pct = (p: number) => durations[Math.min(durations.length - 1, Math.floor(p * durations.length))];
    if (receiver.requests.length !== MESSAGES) throw new Error(`receiver got ${receiver.requests.length}`);
    console.log(
      `dispatch [${label}]: ${MESSAGES} messages in ${seconds.toFixed(2)} s = ${
        (MESSAGES / seconds).toFixed(0)
      }/s ` +
        `(batch 16); attempt latency p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms`,
    );
  } finally {
    await receiver.close();
  }
}

await benchSigning();
const pglite = await freshDatabase("pglite");
try {
  await benchDispatch("pglite", pglite.db);
} finally {
  await pglite.close();
}
if (testDatabaseUrl) {
  const url = await createServerDatabase();
  const { openDatabase } = await import("../../shared/db/connection.ts");
  const server = await openDatabase({ url });
  try {
    await benchDispatch("postgres", server.db);
  } finally {
    await server.close();
    await dropServerDatabase(url);
  }
} else {
  console.log("dispatch [postgres]: skipped (TEST_DATABASE_URL unset)");
}
