import assert from "node:assert/strict";
import { eq } from "drizzle-orm";
import { Webhook } from "standardwebhooks";
import { dispatchOnce } from "../../gpu-worker/webhooks/dispatcher.ts";
import { jobs, webhookDeliveries, webhookEndpoints } from "../../shared/db/schema.ts";
import { createDataset } from "../../shared/db/repositories/datasets.ts";
import { createModel, updateModel } from "../../shared/db/repositories/models.ts";
import { silentLogger } from "../../shared/log.ts";
import { parseAllowlist } from "../../shared/webhooks/address_policy.ts";
import { generateMessageId, signWebhook } from "../../shared/webhooks/signature.ts";
import { createHarness, type Harness, json } from "../api/harness.ts";
import { startReceiver } from "./receiver.ts";

// A public address literal: registration needs no DNS, and nothing is ever sent to it in these tests.
const PUBLIC_URL = "https://93.184.215.14/hooks/profs";

async function post(h: Harness, path: string, body: unknown, headers: Record<string, string> = h.keyA) {
  return await h.app.request(path, {
    method: "POST",
    headers: { ...headers, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

async function createEndpointViaApi(h: Harness, url = PUBLIC_URL, events = ["edit.succeeded"]) {
  const response = await post(h, "/v1/webhook-endpoints", { url, events });
  assert.equal(response.status, 201, await response.clone().text());
  return await json(response) as { id: string; secret: string; url: string };
}

Deno.test("webhook endpoints: create shows the secret once; list and get never do", async () => {
  const h = await createHarness();
  try {
    const created = await createEndpointViaApi(h, PUBLIC_URL, ["edit.succeeded", "edit.failed"]);
    assert.match(created.secret, /^whsec_/);
    assert.equal(created.url, PUBLIC_URL);
    const got = await json(await h.app.request(`/v1/webhook-endpoints/${created.id}`, { headers: h.keyA }));
    assert.equal(got.secret, undefined);
    assert.deepEqual(got.events, ["edit.succeeded", "edit.failed"]);
    assert.equal(got.disabled, false);
    const list = await json(await h.app.request("/v1/webhook-endpoints", { headers: h.keyA }));
    const data = list.data as Record<string, unknown>[];
    assert.equal(data.length, 1);
    assert.equal(data[0].secret, undefined);
    assert.equal(list.next_cursor, null);
    const paths = (await json(await h.app.request("/openapi.json"))).paths as Record<string, unknown>;
    for (
      const path of [
        "/v1/webhook-endpoints",
        "/v1/webhook-endpoints/{id}/deliveries",
        "/v1/webhook-endpoints/{id}/deliveries/{delivery_id}/replay",
        "/v1/triggers",
        "/v1/triggers/{id}/fire",
      ]
    ) assert.ok(path in paths, `OpenAPI documents ${path}`);
  } finally {
    await h.close();
  }
});

Deno.test("webhook endpoints: private, credentialed and non-http URLs are refused with 422 and nothing stored", async () => {
  const h = await createHarness();
  try {
    for (
      const url of [
        "http://127.0.0.1:8080/hook",
        "http://2130706433/",
        "http://0x7f.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://[fd00::1]/",
        "https://user:pass@93.184.215.14/",
        "ftp://93.184.215.14/",
      ]
    ) {
      const response = await post(h, "/v1/webhook-endpoints", { url, events: ["edit.succeeded"] });
      assert.equal(response.status, 422, url);
      assert.equal(response.headers.get("content-type"), "application/problem+json");
    }
    const unknownEvent = await post(h, "/v1/webhook-endpoints", {
      url: PUBLIC_URL,
      events: ["edit.started"],
    });
    assert.equal(unknownEvent.status, 422);
    const rows = await h.database.db.select().from(webhookEndpoints);
    assert.equal(rows.length, 0);
  } finally {
    await h.close();
  }
});

Deno.test("webhook endpoints: rotate keeps the old secret co-signing; enable clears a 410 disable; delete removes", async () => {
  const h = await createHarness();
  try {
    const created = await createEndpointViaApi(h);
    const rotated = await json(await post(h, `/v1/webhook-endpoints/${created.id}/rotate-secret`, {}));
    assert.match(rotated.secret as string, /^whsec_/);
    assert.notEqual(rotated.secret, created.secret);
    assert.ok(Date.parse(rotated.previous_secret_expires_at as string) > Date.now() + 23 * 3600_000);
    const [row] = await h.database.db.select().from(webhookEndpoints).where(
      eq(webhookEndpoints.id, created.id),
    );
    assert.equal(row.previousSecret, created.secret);
    await h.database.db.update(webhookEndpoints).set({ disabledAt: new Date(), disabledReason: "410" })
      .where(eq(webhookEndpoints.id, created.id));
    const disabled = await json(
      await h.app.request(`/v1/webhook-endpoints/${created.id}`, { headers: h.keyA }),
    );
    assert.deepEqual([disabled.disabled, disabled.disabled_reason], [true, "410"]);
    const enabled = await json(await post(h, `/v1/webhook-endpoints/${created.id}/enable`, {}));
    assert.deepEqual([enabled.disabled, enabled.disabled_reason], [false, null]);
    const deleted = await h.app.request(`/v1/webhook-endpoints/${created.id}`, {
      method: "DELETE",
      headers: h.keyA,
    });
    assert.equal(deleted.status, 204);
    assert.equal(
      (await h.app.request(`/v1/webhook-endpoints/${created.id}`, { headers: h.keyA })).status,
      404,
    );
  } finally {
    await h.close();
  }
});

Deno.test("webhook endpoints: another tenant's endpoint is a 404 on every route; read-only keys cannot write", async () => {
  const h = await createHarness();
  try {
    const created = await createEndpointViaApi(h);
    const base = `/v1/webhook-endpoints/${created.id}`;
    for (
      const [method, path] of [
        ["GET", base],
        ["DELETE", base],
        ["POST", `${base}/rotate-secret`],
        ["POST", `${base}/enable`],
        ["GET", `${base}/deliveries`],
        ["POST", `${base}/deliveries/${crypto.randomUUID()}/replay`],
      ]
    ) {
      const response = await h.app.request(path, { method, headers: h.keyB });
      assert.equal(response.status, 404, `${method} ${path}`);
    }
    const list = await json(await h.app.request("/v1/webhook-endpoints", { headers: h.keyB }));
    assert.deepEqual(list.data, []);
    const readOnly = await post(
      h,
      "/v1/webhook-endpoints",
      { url: PUBLIC_URL, events: ["edit.failed"] },
      h.readOnlyA,
    );
    assert.equal(readOnly.status, 403);
    assert.equal((await h.app.request("/v1/webhook-endpoints")).status, 401);
  } finally {
    await h.close();
  }
});

Deno.test("delivery log lists attempts with status codes and timings; replay sends the event again", async () => {
  const h = await createHarness();
  const statuses = [500, 200, 200];
  const receiver = startReceiver(() =>
    new Response("a body that is never stored", { status: statuses.shift() })
  );
  try {
    const db = h.database.db;
    // Stored directly: the API refuses loopback URLs unless PROFS_WEBHOOK_ALLOWLIST names them.
    const [endpoint] = await db.insert(webhookEndpoints).values({
      tenantId: h.tenantA,
      url: `${receiver.url}/hook`,
      events: ["edit.succeeded"],
      secret:
        (await json(await post(h, "/v1/webhook-endpoints", { url: PUBLIC_URL, events: ["edit.failed"] })))
          .secret as string,
    }).returning();
    const t0 = new Date();
    const [delivery] = await db.insert(webhookDeliveries).values({
      tenantId: h.tenantA,
      endpointId: endpoint.id,
      eventType: "edit.succeeded",
      payload: { type: "edit.succeeded", data: { id: "x" } },
      nextAttemptAt: t0,
    }).returning();
    const options = {
      db,
      logger: silentLogger,
      owner: "t",
      allowlist: parseAllowlist("127.0.0.1"),
      random: () => 0,
    };
    await dispatchOnce(options, { now: t0 });
    const [afterFirst] = await db.select().from(webhookDeliveries).where(
      eq(webhookDeliveries.id, delivery.id),
    );
    await dispatchOnce(options, { now: afterFirst.nextAttemptAt });

    const log = await json(
      await h.app.request(`/v1/webhook-endpoints/${endpoint.id}/deliveries`, { headers: h.keyA }),
    );
    const [entry] = log.data as Record<string, unknown>[];
    assert.equal(entry.status, "succeeded");
    assert.equal(entry.attempts, 2);
    assert.equal(entry.webhook_id, receiver.requests[0].headers.get("webhook-id"));
    const attempts = entry.attempt_log as Record<string, unknown>[];
    assert.deepEqual(attempts.map((a) => a.status_code), [500, 200]);
    for (const attempt of attempts) assert.equal(typeof attempt.duration_ms, "number");
    assert.ok(!JSON.stringify(log).includes("never stored"), "response bodies are not in the log");

    const replay = await h.app.request(
      `/v1/webhook-endpoints/${endpoint.id}/deliveries/${delivery.id}/replay`,
      { method: "POST", headers: h.keyA },
    );
    assert.equal(replay.status, 202);
    const replayed = await json(replay);
    assert.notEqual(replayed.webhook_id, entry.webhook_id);
    assert.equal(replayed.status, "pending");
    await dispatchOnce(options, { now: new Date() });
    assert.equal(receiver.requests.length, 3);
    assert.equal(receiver.requests[2].headers.get("webhook-id"), replayed.webhook_id);
    assert.equal(receiver.requests[2].body, receiver.requests[1].body);
  } finally {
    await receiver.close();
    await h.close();
  }
});

async function readyModelAndDataset(h: Harness) {
  const db = h.database.db;
  const model = await createModel(db, h.tenantA, { name: "m", status: "ready" });
  await updateModel(db, h.tenantA, model.id, {
    summary: { family: "gpt2", num_layers: 12, hidden_size: 768, orientation: "d-cols" },
  });
  const dataset = await createDataset(db, h.tenantA, {
    name: "pairs",
    kind: "pairs",
    format: "preferred-rejected",
    rows: 10,
    size: 100,
    sha256: "0".repeat(64),
    blobKey: "datasets/x",
  });
  return { modelId: model.id, datasetId: dataset.id };
}

async function fire(h: Harness, triggerId: string, secret: string, body: string, id = generateMessageId()) {
  const signed = await signWebhook({ id, timestamp: new Date(), body }, [secret]);
  return await h.app.request(`/v1/triggers/${triggerId}/fire`, {
    method: "POST",
    headers: { ...signed, "content-type": "application/json" },
    body,
  });
}

async function jobCount(h: Harness): Promise<number> {
  return (await h.database.db.select({ id: jobs.id }).from(jobs)).length;
}

Deno.test("triggers: a signed fire starts an edit from the template; the same webhook-id again returns it", async () => {
  const h = await createHarness();
  try {
    const { modelId, datasetId } = await readyModelAndDataset(h);
    const created = await post(h, "/v1/triggers", {
      name: "nightly",
      template: { model_id: modelId, dataset_id: datasetId, params: { rank: 3 } },
    });
    assert.equal(created.status, 201);
    const trigger = await json(created) as { id: string; secret: string };
    assert.match(trigger.secret, /^whsec_/);
    assert.equal(
      (await json(await h.app.request(`/v1/triggers/${trigger.id}`, { headers: h.keyA }))).secret,
      undefined,
    );

    const body = JSON.stringify({ params: { max_pairs: 50 } });
    const id = generateMessageId();
    const first = await fire(h, trigger.id, trigger.secret, body, id);
    assert.equal(first.status, 202, await first.clone().text());
    const fired = await json(first) as { edit_id: string; replayed: boolean };
    assert.equal(fired.replayed, false);
    const [job] = await h.database.db.select().from(jobs).where(eq(jobs.id, fired.edit_id));
    assert.equal(job.tenantId, h.tenantA);
    assert.equal(job.modelId, modelId);
    assert.equal(job.datasetId, datasetId);
    const params = job.params as Record<string, unknown>;
    assert.deepEqual([params.rank, params.max_pairs, params.layers], [3, 50, { from: 5, to: 12 }]);

    const again = await fire(h, trigger.id, trigger.secret, body, id);
    assert.equal(again.status, 202);
    assert.deepEqual(await json(again), { ...fired, replayed: true, status: "queued" } as unknown);
    assert.equal(await jobCount(h), 1);

    // The same id fired concurrently still makes no second job.
    const racing = generateMessageId();
    const results = await Promise.all(
      Array.from({ length: 5 }, () => fire(h, trigger.id, trigger.secret, "", racing)),
    );
    const editIds = new Set(await Promise.all(results.map(async (r) => (await json(r)).edit_id)));
    assert.equal(editIds.size, 1);
    assert.equal(await jobCount(h), 2);
  } finally {
    await h.close();
  }
});

Deno.test("triggers: a bad signature, a stale timestamp or no signature is a 401 and starts nothing", async () => {
  const h = await createHarness();
  try {
    const { modelId, datasetId } = await readyModelAndDataset(h);
    const trigger = await json(
      await post(h, "/v1/triggers", { name: "t", template: { model_id: modelId, dataset_id: datasetId } }),
    ) as { id: string; secret: string };
    const body = "{}";
    const path = `/v1/triggers/${trigger.id}/fire`;
    const wrongSecret = await fire(
      h,
      trigger.id,
      "whsec_" + btoa("not the trigger's secret, 32 bytes"),
      body,
    );
    assert.equal(wrongSecret.status, 401);
    const stale = await signWebhook(
      { id: generateMessageId(), timestamp: new Date(Date.now() - 301_000), body },
      [trigger.secret],
    );
    const staleResponse = await h.app.request(path, { method: "POST", headers: { ...stale }, body });
    assert.equal(staleResponse.status, 401);
    assert.match((await json(staleResponse)).detail as string, /old/);
    const signed = await signWebhook({ id: generateMessageId(), timestamp: new Date(), body }, [
      trigger.secret,
    ]);
    const tampered = await h.app.request(path, { method: "POST", headers: { ...signed }, body: '{"x":1}' });
    assert.equal(tampered.status, 401);
    const unsigned = await h.app.request(path, { method: "POST", headers: h.keyA, body });
    assert.equal(unsigned.status, 401, "an API key does not replace the signature");
    assert.equal(await jobCount(h), 0);
    // The package's own signer produces what the route accepts.
    const id = generateMessageId();
    const now = new Date();
    const packageSigned = await h.app.request(path, {
      method: "POST",
      headers: {
        "webhook-id": id,
        "webhook-timestamp": String(Math.floor(now.getTime() / 1000)),
        "webhook-signature": new Webhook(trigger.secret).sign(id, now, body),
      },
      body,
    });
    assert.equal(packageSigned.status, 202);
    assert.equal(await jobCount(h), 1);
  } finally {
    await h.close();
  }
});

Deno.test("triggers: fire overrides are validated after merging; unknown trigger is 404; tenants are separate", async () => {
  const h = await createHarness();
  try {
    const { modelId, datasetId } = await readyModelAndDataset(h);
    const trigger = await json(
      await post(h, "/v1/triggers", { name: "t", template: { model_id: modelId } }),
    ) as {
      id: string;
      secret: string;
    };
    const noDataset = await fire(h, trigger.id, trigger.secret, "");
    assert.equal(noDataset.status, 422);
    const badRank = await fire(
      h,
      trigger.id,
      trigger.secret,
      JSON.stringify({ dataset_id: datasetId, params: { rank: 0 } }),
    );
    assert.equal(badRank.status, 422);
    assert.match(JSON.stringify(await json(badRank)), /params\.rank/);
    const unknownKey = await fire(
      h,
      trigger.id,
      trigger.secret,
      JSON.stringify({ dataset_id: datasetId, model_id: "x" }),
    );
    assert.equal(unknownKey.status, 422);
    const malformed = await fire(h, trigger.id, trigger.secret, "{not json");
    assert.equal(malformed.status, 400);
    const otherDataset = await fire(
      h,
      trigger.id,
      trigger.secret,
      JSON.stringify({ dataset_id: crypto.randomUUID() }),
    );
    assert.equal(otherDataset.status, 404);
    const tooManyLayers = await fire(
      h,
      trigger.id,
      trigger.secret,
      JSON.stringify({ dataset_id: datasetId, params: { layers: { from: 0, to: 13 } } }),
    );
    assert.equal(tooManyLayers.status, 422);
    assert.equal(await jobCount(h), 0);
    assert.equal((await fire(h, crypto.randomUUID(), trigger.secret, "")).status, 404);
    assert.equal((await h.app.request(`/v1/triggers/${trigger.id}`, { headers: h.keyB })).status, 404);
    assert.equal(
      (await post(h, "/v1/triggers", { name: "t", template: { model_id: modelId } }, h.keyB)).status,
      404,
      "tenant B cannot build a trigger on tenant A's model",
    );
    const deleted = await h.app.request(`/v1/triggers/${trigger.id}`, { method: "DELETE", headers: h.keyA });
    assert.equal(deleted.status, 204);
    assert.equal((await fire(h, trigger.id, trigger.secret, "")).status, 404);
  } finally {
    await h.close();
  }
});
