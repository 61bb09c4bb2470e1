import assert from "node:assert/strict";
import { asc, eq } from "drizzle-orm";
import { Webhook } from "standardwebhooks";
import {
  type DispatcherOptions,
  dispatchOnce,
  startDispatcher,
  wireBody,
} from "../../gpu-worker/webhooks/dispatcher.ts";
import type { Db } from "../../shared/db/database.ts";
import { webhookDeliveries, webhookDeliveryAttempts, webhookEndpoints } from "../../shared/db/schema.ts";
import { silentLogger } from "../../shared/log.ts";
import { parseAllowlist } from "../../shared/webhooks/address_policy.ts";
import { webhookMessageId } from "../../shared/webhooks/events.ts";
import { MAX_ATTEMPTS } from "../../gpu-worker/webhooks/retry_schedule.ts";
import { generateSecret, verifyWebhook } from "../../shared/webhooks/signature.ts";
import { createDelivery, createEndpoint, createTenant, openTestDatabase } from "./db_fixtures.ts";
import { startReceiver, unusedPort } from "./receiver.ts";

const HOUR_MS = 3600_000;

function dispatcher(db: Db, extra: Partial<DispatcherOptions> = {}): DispatcherOptions {
  return {
    db,
    logger: silentLogger,
    owner: "test",
    allowlist: parseAllowlist("127.0.0.1/32"),
    timeoutMs: 5_000,
    random: () => 0.5,
    ...extra,
  };
}

async function deliveryRow(db: Db, id: string) {
  const [row] = await db.select().from(webhookDeliveries).where(eq(webhookDeliveries.id, id));
  return row;
}

async function attemptRows(db: Db, id: string) {
  return await db.select().from(webhookDeliveryAttempts).where(eq(webhookDeliveryAttempts.deliveryId, id))
    .orderBy(asc(webhookDeliveryAttempts.attempt));
}

Deno.test("dispatcher delivers a due outbox row signed so the standardwebhooks package verifies it", async () => {
  const { db, close } = await openTestDatabase();
  const receiver = startReceiver();
  try {
    const tenant = await createTenant(db);
    const endpoint = await createEndpoint(db, tenant, `${receiver.url}/hook`);
    const now = new Date();
    const id = await createDelivery(db, tenant, endpoint.id, now);
    const report = await dispatchOnce(dispatcher(db, { publicUrl: "https://profs.example/" }), { now });
    assert.equal(report.delivered, 1);
    assert.equal(receiver.requests.length, 1);
    const received = receiver.requests[0];
    assert.equal(received.headers.get("webhook-id"), webhookMessageId(id));
    const payload = new Webhook(endpoint.secret).verify(
      received.body,
      Object.fromEntries(received.headers),
    ) as {
      data: { links: { self: string } };
    };
    assert.equal(payload.data.links.self, "https://profs.example/v1/edits/e1");
    const row = await deliveryRow(db, id);
    assert.equal(row.status, "succeeded");
    assert.equal(row.attempts, 1);
    assert.equal(row.lastStatusCode, 200);
    assert.ok(row.finishedAt);
    const log = await attemptRows(db, id);
    assert.equal(log.length, 1);
    assert.equal(log[0].statusCode, 200);
    assert.ok(log[0].durationMs >= 0);
    assert.equal(log[0].error, null);
  } finally {
    await receiver.close();
    await close();
  }
});

Deno.test("receiver down, then up: the retry at its scheduled time delivers the same webhook-id", async () => {
  const { db, close } = await openTestDatabase();
  const port = unusedPort();
  try {
    const tenant = await createTenant(db);
    const endpoint = await createEndpoint(db, tenant, `http://127.0.0.1:${port}/hook`);
    const t0 = new Date(Date.UTC(2026, 0, 1));
    const id = await createDelivery(db, tenant, endpoint.id, t0);
    const options = dispatcher(db);

    const first = await dispatchOnce(options, { now: t0 });
    assert.deepEqual([first.claimed, first.retrying], [1, 1]);
    const afterFirst = await deliveryRow(db, id);
    assert.equal(afterFirst.status, "pending");
    assert.match(afterFirst.lastError!, /could not connect/);
    const retryAt = afterFirst.nextAttemptAt;
    assert.ok(retryAt.getTime() > t0.getTime(), "the retry is scheduled later");

    // Just before the retry time nothing is due; at it, the (now running) receiver gets the same message.
    assert.equal((await dispatchOnce(options, { now: new Date(retryAt.getTime() - 1) })).claimed, 0);
    const receiver = startReceiver(undefined, port);
    try {
      const second = await dispatchOnce(options, { now: retryAt });
      assert.equal(second.delivered, 1);
      assert.equal(receiver.requests.length, 1);
      assert.equal(receiver.requests[0].headers.get("webhook-id"), webhookMessageId(id));
      // Each attempt carries its own timestamp and the signature verifies at that time.
      await verifyWebhook(
        { headers: receiver.requests[0].headers, body: receiver.requests[0].body },
        endpoint.secret,
        { now: retryAt },
      );
    } finally {
      await receiver.close();
    }
    const log = await attemptRows(db, id);
    assert.deepEqual(log.map((a) => [a.attempt, a.statusCode]), [[1, null], [2, 200]]);
    assert.match(log[0].error!, /could not connect/);
    assert.equal((await deliveryRow(db, id)).status, "succeeded");
  } finally {
    await close();
  }
});

Deno.test("a 410 Gone disables the endpoint and its other pending messages fail without being sent", async () => {
  const { db, close } = await openTestDatabase();
  const receiver = startReceiver(() => new Response("gone", { status: 410 }));
  try {
    const tenant = await createTenant(db);
    const endpoint = await createEndpoint(db, tenant, receiver.url);
    const now = new Date();
    const first = await createDelivery(db, tenant, endpoint.id, now);
    const report = await dispatchOnce(dispatcher(db, { batchSize: 1 }), { now });
    assert.equal(report.failed, 1);
    const [disabled] = await db.select().from(webhookEndpoints).where(eq(webhookEndpoints.id, endpoint.id));
    assert.ok(disabled.disabledAt);
    assert.match(disabled.disabledReason!, /410/);
    assert.equal((await deliveryRow(db, first)).status, "failed");

    const second = await createDelivery(db, tenant, endpoint.id, now);
    await dispatchOnce(dispatcher(db), { now });
    const row = await deliveryRow(db, second);
    assert.equal(row.status, "failed");
    assert.match(row.lastError!, /not sent: .*410/);
    assert.equal(receiver.requests.length, 1, "nothing more was sent to the disabled endpoint");
    assert.equal((await attemptRows(db, second)).length, 0);
  } finally {
    await receiver.close();
    await close();
  }
});

Deno.test("a redirect is not followed: logged as a failed attempt with its status and retried later", async () => {
  const { db, close } = await openTestDatabase();
  const target = startReceiver();
  const redirecting = startReceiver(() =>
    new Response(null, { status: 301, headers: { location: `${target.url}/elsewhere` } })
  );
  try {
    const tenant = await createTenant(db);
    const endpoint = await createEndpoint(db, tenant, redirecting.url);
    const now = new Date();
    const id = await createDelivery(db, tenant, endpoint.id, now);
    assert.equal((await dispatchOnce(dispatcher(db), { now })).retrying, 1);
    assert.equal(target.requests.length, 0);
    const row = await deliveryRow(db, id);
    assert.equal(row.lastStatusCode, 301);
    assert.equal(row.status, "pending");
    assert.match(row.lastError!, /answered 301/);
  } finally {
    await Promise.all([target.close(), redirecting.close()]);
    await close();
  }
});

Deno.test("a loopback endpoint is refused at send time when the allowlist does not name it", async () => {
  const { db, close } = await openTestDatabase();
  const receiver = startReceiver();
  try {
    const tenant = await createTenant(db);
    // Inserted directly, as if it had passed registration when the allowlist still covered it.
    const endpoint = await createEndpoint(db, tenant, `http://[::ffff:127.0.0.1]:${receiver.port}/`);
    const now = new Date();
    const id = await createDelivery(db, tenant, endpoint.id, now);
    await dispatchOnce(dispatcher(db, { allowlist: parseAllowlist("") }), { now });
    assert.equal(receiver.requests.length, 0);
    const [attempt] = await attemptRows(db, id);
    assert.equal(attempt.statusCode, null);
    assert.match(attempt.error!, /address must be public/);
  } finally {
    await receiver.close();
    await close();
  }
});

Deno.test("a receiver failing for a day: 11 attempts over about a day, then the message fails", async () => {
  const { db, close } = await openTestDatabase();
  const receiver = startReceiver(() => new Response("down", { status: 503 }));
  try {
    const tenant = await createTenant(db);
    const endpoint = await createEndpoint(db, tenant, receiver.url);
    const t0 = new Date(Date.UTC(2026, 0, 1));
    const id = await createDelivery(db, tenant, endpoint.id, t0);
    let now = t0;
    for (let i = 0; i < MAX_ATTEMPTS; i++) {
      assert.equal((await dispatchOnce(dispatcher(db), { now })).claimed, 1, `attempt ${i + 1} was due`);
      now = (await deliveryRow(db, id)).nextAttemptAt;
    }
    const row = await deliveryRow(db, id);
    assert.equal(row.status, "failed");
    assert.equal(row.attempts, MAX_ATTEMPTS);
    const span = row.lastAttemptAt!.getTime() - t0.getTime();
    assert.ok(span > 16 * HOUR_MS && span < 30 * HOUR_MS, `span ${span / HOUR_MS} h`);
    assert.equal(receiver.requests.length, MAX_ATTEMPTS);
    assert.equal(new Set(receiver.requests.map((r) => r.headers.get("webhook-id"))).size, 1);
    assert.equal(
      (await dispatchOnce(dispatcher(db), { now: new Date(now.getTime() + 48 * HOUR_MS) })).claimed,
      0,
    );
  } finally {
    await receiver.close();
    await close();
  }
});

Deno.test("a dispatcher that stalls past its lease: another sends the same id and the stale result is dropped", async () => {
  const { db, close } = await openTestDatabase();
  let releaseFirst = () => {};
  const firstHeld = new Promise<void>((resolve) => releaseFirst = resolve);
  let calls = 0;
  const receiver = startReceiver(async () => {
    if (++calls === 1) await firstHeld;
    return new Response("ok");
  });
  try {
    const tenant = await createTenant(db);
    const endpoint = await createEndpoint(db, tenant, receiver.url);
    const now = new Date();
    const id = await createDelivery(db, tenant, endpoint.id, now);
    const stalled = dispatchOnce(dispatcher(db, { owner: "a", leaseMs: 60_000 }), { now });
    while (receiver.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
    // While "a" still holds its lease, nobody else may take the row.
    assert.equal((await dispatchOnce(dispatcher(db, { owner: "b" }), { now })).claimed, 0);
    const later = new Date(now.getTime() + 60_001);
    const takeover = await dispatchOnce(dispatcher(db, { owner: "b" }), { now: later });
    assert.equal(takeover.delivered, 1);
    releaseFirst();
    assert.equal((await stalled).leaseLost, 1);
    assert.deepEqual(
      receiver.requests.map((r) => r.headers.get("webhook-id")),
      [webhookMessageId(id), webhookMessageId(id)],
    );
    const log = await attemptRows(db, id);
    assert.equal(log.length, 1, "only the current lease holder's attempt is recorded");
    assert.equal((await deliveryRow(db, id)).status, "succeeded");
  } finally {
    releaseFirst();
    await receiver.close();
    await close();
  }
});

Deno.test("startDispatcher keeps draining the outbox until stopped", async () => {
  const { db, close } = await openTestDatabase();
  const receiver = startReceiver();
  try {
    const tenant = await createTenant(db);
    const endpoint = await createEndpoint(db, tenant, receiver.url);
    const running = startDispatcher({ ...dispatcher(db), pollMs: 20 });
    await createDelivery(db, tenant, endpoint.id, new Date());
    await createDelivery(db, tenant, endpoint.id, new Date());
    const deadline = Date.now() + 20_000;
    while (receiver.requests.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await running.stop();
    assert.equal(receiver.requests.length, 2);
    const pending = await db.select().from(webhookDeliveries).where(eq(webhookDeliveries.status, "pending"));
    assert.equal(pending.length, 0);
  } finally {
    await receiver.close();
    await close();
  }
});

Deno.test("wireBody puts type, timestamp and data first and makes relative links absolute", () => {
  // Key order as jsonb returns it (shorter keys first).
  const stored = {
    data: {
      id: "e1",
      links: { self: "/v1/edits/e1", external: "https://x.example/a" },
      object: "edit",
      status: "failed",
    },
    type: "edit.failed",
    timestamp: "2026-01-01T00:00:00.000Z",
  };
  assert.equal(
    wireBody(stored, "https://profs.example/"),
    '{"type":"edit.failed","timestamp":"2026-01-01T00:00:00.000Z","data":{"id":"e1","object":"edit",' +
      '"status":"failed","links":{"self":"https://profs.example/v1/edits/e1","external":"https://x.example/a"}}}',
  );
  assert.equal(JSON.parse(wireBody(stored, undefined)).data.links.self, "/v1/edits/e1");
});

Deno.test("after a rotation the old secret co-signs until its expiry, then only the new one signs", async () => {
  const { db, close } = await openTestDatabase();
  const receiver = startReceiver();
  try {
    const tenant = await createTenant(db);
    const endpoint = await createEndpoint(db, tenant, receiver.url);
    const oldSecret = generateSecret();
    const now = new Date();
    await db.update(webhookEndpoints).set({
      previousSecret: oldSecret,
      previousSecretExpiresAt: new Date(now.getTime() + 1000),
    }).where(eq(webhookEndpoints.id, endpoint.id));
    await createDelivery(db, tenant, endpoint.id, now);
    await dispatchOnce(dispatcher(db), { now });
    const during = receiver.requests[0];
    const headers = Object.fromEntries(during.headers);
    new Webhook(oldSecret).verify(during.body, headers);
    new Webhook(endpoint.secret).verify(during.body, headers);

    const later = new Date(now.getTime() + 1001);
    await createDelivery(db, tenant, endpoint.id, later);
    await dispatchOnce(dispatcher(db), { now: later });
    const after = receiver.requests[1];
    assert.equal(after.headers.get("webhook-signature")!.split(" ").length, 1);
    await verifyWebhook({ headers: after.headers, body: after.body }, endpoint.secret, { now: later });
    await assert.rejects(
      verifyWebhook({ headers: after.headers, body: after.body }, oldSecret, { now: later }),
    );
  } finally {
    await receiver.close();
    await close();
  }
});
