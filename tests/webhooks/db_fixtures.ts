/** An embedded database with one tenant, endpoints and outbox rows, for dispatcher and route tests. */
import type { Database, Db } from "../../shared/db/database.ts";
import { jobs, tenants, webhookDeliveries, webhookEndpoints } from "../../shared/db/schema.ts";
import { generateSecret } from "../../shared/webhooks/signature.ts";
import { freshDatabase } from "../db/harness.ts";

/** A fresh, migrated in-memory PGlite (restored from a migrated image: fast). */
export async function openTestDatabase(): Promise<Database> {
  return await freshDatabase("pglite");
}

export async function createTenant(db: Db, name = `t-${crypto.randomUUID()}`): Promise<string> {
  const [row] = await db.insert(tenants).values({ name }).returning({ id: tenants.id });
  return row.id;
}

export async function createEndpoint(
  db: Db,
  tenantId: string,
  url: string,
  events = ["edit.succeeded", "edit.failed", "edit.canceled", "check.completed"],
): Promise<{ id: string; secret: string }> {
  const secret = generateSecret();
  const [row] = await db.insert(webhookEndpoints).values({ tenantId, url, events, secret })
    .returning({ id: webhookEndpoints.id });
  return { id: row.id, secret };
}

export async function createDelivery(
  db: Db,
  tenantId: string,
  endpointId: string,
  now: Date,
): Promise<string> {
  const [row] = await db.insert(webhookDeliveries).values({
    tenantId,
    endpointId,
    eventType: "edit.succeeded",
    payload: {
      type: "edit.succeeded",
      timestamp: now.toISOString(),
      data: { id: "e1", object: "edit", status: "succeeded", links: { self: "/v1/edits/e1" } },
    },
    nextAttemptAt: now,
  }).returning({ id: webhookDeliveries.id });
  return row.id;
}

/** A running edit job (fields the queue would have set on a claim). */
export async function createRunningEdit(db: Db, tenantId: string): Promise<string> {
  const [row] = await db.insert(jobs).values({
    tenantId,
    kind: "edit",
    status: "running",
    params: {},
    attempt: 1,
    leaseOwner: "test",
    leaseToken: crypto.randomUUID(),
    leaseExpiresAt: new Date(Date.now() + 60_000),
    startedAt: new Date(),
    attemptedAt: new Date(),
  }).returning({ id: jobs.id });
  return row.id;
}
