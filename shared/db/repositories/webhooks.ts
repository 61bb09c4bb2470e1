/**
 * Tenant-facing storage of webhook endpoints, their delivery log, triggers and received trigger calls. Every call
 * takes the tenant id and runs under row-level security for it (shared/db/tenant_scope.ts), like the other
 * repositories; the one exception is `findTriggerForFire`, which looks a trigger up by id alone because an
 * inbound call carries no API key — its signature, checked against the secret found here, is the authentication.
 */
import { and, asc, eq, inArray } from "drizzle-orm";
import type { Db } from "../database.ts";
import { afterCursor, newestFirst, type Page, type PageRequest, toPage } from "./page.ts";
import {
  inboundWebhooks,
  type Trigger,
  triggers,
  webhookDeliveries,
  type WebhookDelivery,
  type WebhookDeliveryAttempt,
  webhookDeliveryAttempts,
  type WebhookEndpoint,
  webhookEndpoints,
} from "../schema.ts";
import { inTenantScope, isUuid } from "../tenant_scope.ts";
import { generateSecret } from "../../webhooks/signature.ts";

/** After a rotation the old secret signs too for this long, so receivers can switch without losing messages. */
export const SECRET_ROTATION_GRACE_MS = 24 * 3600_000;

const endpointKeyset = {
  table: webhookEndpoints,
  id: webhookEndpoints.id,
  tenantId: webhookEndpoints.tenantId,
  createdAt: webhookEndpoints.createdAt,
};
const deliveryKeyset = {
  table: webhookDeliveries,
  id: webhookDeliveries.id,
  tenantId: webhookDeliveries.tenantId,
  createdAt: webhookDeliveries.createdAt,
};
const triggerKeyset = {
  table: triggers,
  id: triggers.id,
  tenantId: triggers.tenantId,
  createdAt: triggers.createdAt,
};

export function createEndpoint(
  db: Db,
  tenantId: string,
  input: { url: string; events: string[]; description: string },
): Promise<WebhookEndpoint> {
  return inTenantScope(db, tenantId, async (tx) => {
    const [row] = await tx.insert(webhookEndpoints).values({ tenantId, ...input, secret: generateSecret() })
      .returning();
    return row;
  });
}

export function getEndpoint(db: Db, tenantId: string, id: string): Promise<WebhookEndpoint | null> {
  if (!isUuid(id)) return Promise.resolve(null);
  return inTenantScope(db, tenantId, async (tx) => {
    const [row] = await tx.select().from(webhookEndpoints).where(mineEndpoint(tenantId, id));
    return row ?? null;
  });
}

export function listEndpoints(db: Db, tenantId: string, page: PageRequest): Promise<Page<WebhookEndpoint>> {
  return inTenantScope(db, tenantId, async (tx) => {
    const rows = await tx.select().from(webhookEndpoints)
      .where(and(eq(webhookEndpoints.tenantId, tenantId), afterCursor(endpointKeyset, tenantId, page.cursor)))
      .orderBy(...newestFirst(endpointKeyset)).limit(page.limit + 1);
    return toPage(rows, page.limit);
  });
}

/** Deleting an endpoint deletes its outbox rows and log (cascade): nothing more is sent to it. */
export function deleteEndpoint(db: Db, tenantId: string, id: string): Promise<boolean> {
  if (!isUuid(id)) return Promise.resolve(false);
  return inTenantScope(db, tenantId, async (tx) => {
    const rows = await tx.delete(webhookEndpoints).where(mineEndpoint(tenantId, id))
      .returning({ id: webhookEndpoints.id });
    return rows.length > 0;
  });
}

/** A new secret signs from now on; the old one co-signs for SECRET_ROTATION_GRACE_MS. */
export function rotateEndpointSecret(
  db: Db,
  tenantId: string,
  id: string,
  now: Date,
): Promise<WebhookEndpoint | null> {
  if (!isUuid(id)) return Promise.resolve(null);
  return inTenantScope(db, tenantId, async (tx) => {
    const [current] = await tx.select().from(webhookEndpoints).where(mineEndpoint(tenantId, id)).for(
      "update",
    );
    if (!current) return null;
    const [row] = await tx.update(webhookEndpoints).set({
      secret: generateSecret(),
      previousSecret: current.secret,
      previousSecretExpiresAt: new Date(now.getTime() + SECRET_ROTATION_GRACE_MS),
    }).where(mineEndpoint(tenantId, id)).returning();
    return row;
  });
}

/** Re-enables an endpoint the dispatcher disabled (410 Gone); messages already failed stay failed. */
export function enableEndpoint(db: Db, tenantId: string, id: string): Promise<WebhookEndpoint | null> {
  if (!isUuid(id)) return Promise.resolve(null);
  return inTenantScope(db, tenantId, async (tx) => {
    const [row] = await tx.update(webhookEndpoints).set({ disabledAt: null, disabledReason: null })
      .where(mineEndpoint(tenantId, id)).returning();
    return row ?? null;
  });
}

export interface DeliveryWithAttempts extends WebhookDelivery {
  attemptLog: WebhookDeliveryAttempt[];
}

/** An endpoint's deliveries, newest first, each with its attempts in order. */
export function listDeliveries(
  db: Db,
  tenantId: string,
  endpointId: string,
  page: PageRequest,
): Promise<Page<DeliveryWithAttempts>> {
  return inTenantScope(db, tenantId, async (tx) => {
    const rows = await tx.select().from(webhookDeliveries)
      .where(and(
        eq(webhookDeliveries.tenantId, tenantId),
        eq(webhookDeliveries.endpointId, endpointId),
        afterCursor(deliveryKeyset, tenantId, page.cursor),
      ))
      .orderBy(...newestFirst(deliveryKeyset)).limit(page.limit + 1);
    const { items, nextCursor } = toPage(rows, page.limit);
    const attempts = items.length === 0 ? [] : await tx.select().from(webhookDeliveryAttempts)
      .where(and(
        eq(webhookDeliveryAttempts.tenantId, tenantId),
        inArray(webhookDeliveryAttempts.deliveryId, items.map((row) => row.id)),
      ))
      .orderBy(asc(webhookDeliveryAttempts.deliveryId), asc(webhookDeliveryAttempts.attempt));
    return {
      items: items.map((row) => ({ ...row, attemptLog: attempts.filter((a) => a.deliveryId === row.id) })),
      nextCursor,
    };
  });
}

/**
 * Sends a delivery's event again as a new message (new `webhook-id`, fresh retry schedule) to its endpoint;
 * null when the tenant has no such delivery on that endpoint.
 */
export function replayDelivery(
  db: Db,
  tenantId: string,
  endpointId: string,
  deliveryId: string,
  now: Date,
): Promise<DeliveryWithAttempts | null> {
  if (!isUuid(endpointId) || !isUuid(deliveryId)) return Promise.resolve(null);
  return inTenantScope(db, tenantId, async (tx) => {
    const [original] = await tx.select().from(webhookDeliveries).where(and(
      eq(webhookDeliveries.tenantId, tenantId),
      eq(webhookDeliveries.endpointId, endpointId),
      eq(webhookDeliveries.id, deliveryId),
    ));
    if (!original) return null;
    const [copy] = await tx.insert(webhookDeliveries).values({
      tenantId,
      endpointId,
      eventType: original.eventType,
      payload: original.payload,
      nextAttemptAt: now,
    }).returning();
    return { ...copy, attemptLog: [] };
  });
}

export function createTrigger(
  db: Db,
  tenantId: string,
  input: { name: string; template: unknown },
): Promise<Trigger> {
  return inTenantScope(db, tenantId, async (tx) => {
    const [row] = await tx.insert(triggers).values({ tenantId, ...input, secret: generateSecret() })
      .returning();
    return row;
  });
}

export function getTrigger(db: Db, tenantId: string, id: string): Promise<Trigger | null> {
  if (!isUuid(id)) return Promise.resolve(null);
  return inTenantScope(db, tenantId, async (tx) => {
    const [row] = await tx.select().from(triggers).where(
      and(eq(triggers.tenantId, tenantId), eq(triggers.id, id)),
    );
    return row ?? null;
  });
}

export function listTriggers(db: Db, tenantId: string, page: PageRequest): Promise<Page<Trigger>> {
  return inTenantScope(db, tenantId, async (tx) => {
    const rows = await tx.select().from(triggers)
      .where(and(eq(triggers.tenantId, tenantId), afterCursor(triggerKeyset, tenantId, page.cursor)))
      .orderBy(...newestFirst(triggerKeyset)).limit(page.limit + 1);
    return toPage(rows, page.limit);
  });
}

export function deleteTrigger(db: Db, tenantId: string, id: string): Promise<boolean> {
  if (!isUuid(id)) return Promise.resolve(false);
  return inTenantScope(db, tenantId, async (tx) => {
    const rows = await tx.delete(triggers).where(and(eq(triggers.tenantId, tenantId), eq(triggers.id, id)))
      .returning({ id: triggers.id });
    return rows.length > 0;
  });
}

/** The enabled trigger with this id, whatever its tenant (an inbound call has no API key); null if none. */
export async function findTriggerForFire(db: Db, id: string): Promise<Trigger | null> {
  if (!isUuid(id)) return null;
  const [row] = await db.select().from(triggers).where(and(eq(triggers.id, id), eq(triggers.enabled, true)));
  return row ?? null;
}

/**
 * Records inbound call `webhookId` for `trigger` and runs `start` (which enqueues the edit, in this transaction)
 * only the first time: a repeat of the id returns the job the first call started (`replayed: true`). Concurrent
 * repeats serialise on the (trigger, webhook id) primary key, so one job is created. If `start` throws, nothing
 * is recorded and the same id may be sent again.
 */
export function fireTriggerOnce(
  db: Db,
  trigger: Trigger,
  webhookId: string,
  now: Date,
  start: (tx: Db) => Promise<string>,
): Promise<{ jobId: string; replayed: boolean }> {
  return inTenantScope(db, trigger.tenantId, async (tx) => {
    const inserted = await tx.insert(inboundWebhooks).values({
      triggerId: trigger.id,
      webhookId,
      tenantId: trigger.tenantId,
      receivedAt: now,
    }).onConflictDoNothing().returning({ webhookId: inboundWebhooks.webhookId });
    const key = and(eq(inboundWebhooks.triggerId, trigger.id), eq(inboundWebhooks.webhookId, webhookId));
    if (inserted.length === 0) {
      const [seen] = await tx.select({ jobId: inboundWebhooks.jobId }).from(inboundWebhooks).where(key);
      if (seen?.jobId) return { jobId: seen.jobId, replayed: true };
      // The edit it started was deleted since: the id stays spent, there is nothing to return but the fact.
      throw new ReplayedWithoutJobError(webhookId);
    }
    const jobId = await start(tx);
    await tx.update(inboundWebhooks).set({ jobId }).where(key);
    await tx.update(triggers).set({ lastFiredAt: now }).where(eq(triggers.id, trigger.id));
    return { jobId, replayed: false };
  });
}

export class ReplayedWithoutJobError extends Error {
  override name = "ReplayedWithoutJobError";
  constructor(readonly webhookId: string) {
    super(`The webhook-id '${webhookId}' was already used and the edit it started no longer exists`);
  }
}

function mineEndpoint(tenantId: string, id: string) {
  return and(eq(webhookEndpoints.tenantId, tenantId), eq(webhookEndpoints.id, id));
}
