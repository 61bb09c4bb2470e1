import assert from "node:assert/strict";
import { eq } from "drizzle-orm";
import { dispatchOnce } from "../../gpu-worker/webhooks/dispatcher.ts";
import { jobs, webhookDeliveries, webhookDeliveryAttempts } from "../../shared/db/schema.ts";
import { createDataset } from "../../shared/db/repositories/datasets.ts";
import { createModel, updateModel } from "../../shared/db/repositories/models.ts";
import { silentLogger } from "../../shared/log.ts";
import { parseAllowlist } from "../../shared/webhooks/address_policy.ts";
import { generateMessageId, signWebhook } from "../../shared/webhooks/signature.ts";
import { createHarness } from "../api/harness.ts";
import { createServerDatabase, dropServerDatabase, engineTests } from "../db/harness.ts";
import { createDelivery, createEndpoint, createTenant } from "./db_fixtures.ts";
import { startReceiver } from "./receiver.ts";
import { noPostgres, testDatabaseUrl } from "../helpers/env.ts";

engineTests(
  "four dispatchers draining one outbox at once send every message exactly once",
  async ({ db }) => {
    const receiver = startReceiver();
    try {
      const tenant = await createTenant(db);
      const endpoint = await createEndpoint(db, tenant, receiver.url);
      const now = new Date();
      const ids = [];
      for (let i = 0; i < 20; i++) ids.push(await createDelivery(db, tenant, endpoint.id, now));
      const options = (owner: string) => ({
        db,
        logger: silentLogger,
        owner,
        allowlist: parseAllowlist("127.0.0.1"),
        batchSize: 4,
      });
      const drain = async (owner: string) => {
        while ((await dispatchOnce(options(owner), { now })).claimed > 0) { /* until nothing is due */ }
      };
      await Promise.all(["a", "b", "c", "d"].map(drain));
      const seen = receiver.requests.map((r) => r.headers.get("webhook-id"));
      assert.equal(seen.length, 20);
      assert.equal(new Set(seen).size, 20);
      const delivered = await db.select().from(webhookDeliveries).where(
        eq(webhookDeliveries.status, "succeeded"),
      );
      assert.equal(delivered.length, 20);
      assert.equal((await db.select().from(webhookDeliveryAttempts)).length, 20);
    } finally {
      await receiver.close();
    }
  },
  { maxConnections: 8 },
);

for (const engine of ["pglite", "postgres"] as const) {
  Deno.test({
    name: `ten concurrent fires with one webhook-id start one edit [${engine}]`,
    ignore: engine === "postgres" && noPostgres(),
    async fn() {
      const url = engine === "postgres" && testDatabaseUrl ? await createServerDatabase() : undefined;
      const h = await createHarness({ url });
      try {
        const db = h.database.db;
        const model = await createModel(db, h.tenantA, { name: "m", status: "ready" });
        await updateModel(db, h.tenantA, model.id, {
          summary: { family: "gpt2", num_layers: 4, hidden_size: 8, orientation: "d-cols" },
        });
        const dataset = await createDataset(db, h.tenantA, {
          name: "d",
          kind: "pairs",
          format: "preferred-rejected",
          rows: 8, // at least the default rank's pairs: fewer is refused at the fire (422)
          size: 1,
          sha256: "0".repeat(64),
          blobKey: "datasets/d",
        });
        const created = await h.app.request("/v1/triggers", {
          method: "POST",
          headers: { ...h.keyA, "content-type": "application/json" },
          body: JSON.stringify({ name: "t", template: { model_id: model.id, dataset_id: dataset.id } }),
        });
        const trigger = await created.json() as { id: string; secret: string };
        const id = generateMessageId();
        const responses = await Promise.all(Array.from({ length: 10 }, async () => {
          const headers = await signWebhook({ id, timestamp: new Date(), body: "" }, [trigger.secret]);
          return await h.app.request(`/v1/triggers/${trigger.id}/fire`, {
            method: "POST",
            headers: { ...headers },
          });
        }));
        const bodies = await Promise.all(
          responses.map(async (r) => ({ http: r.status, ...(await r.json()) })),
        );
        assert.deepEqual(new Set(bodies.map((b) => b.http)), new Set([202]));
        assert.equal(new Set(bodies.map((b) => b.edit_id)).size, 1);
        assert.equal(bodies.filter((b) => b.replayed === false).length, 1);
        assert.equal((await db.select().from(jobs)).length, 1);
      } finally {
        await h.close();
        if (url) await dropServerDatabase(url);
      }
    },
  });
}
