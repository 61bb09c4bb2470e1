/**
 * Webhook events and the outbox write. A job's terminal state change and the outbox rows announcing it commit
 * in one transaction (`enqueueJobWebhook(tx, job, now)` is called with the transaction that moves the job), so
 * a crash can lose neither: either both happened or neither did, and the dispatcher sends what is in the outbox.
 *
 * Payloads are small ("thin"): the type, when it happened, the object's id and status, and links to fetch the
 * rest with an API key. Links are stored relative (`/v1/edits/…`); the dispatcher prefixes PROFS_PUBLIC_URL.
 */
import { and, eq, isNull } from "drizzle-orm";
import type { Db } from "../db/database.ts";
import { type Job, webhookDeliveries, webhookEndpoints } from "../db/schema.ts";

export const WEBHOOK_EVENT_TYPES = [
  "edit.succeeded",
  "edit.failed",
  "edit.canceled",
  "check.completed",
] as const;
export type WebhookEventType = typeof WEBHOOK_EVENT_TYPES[number];

export interface WebhookEventPayload {
  type: WebhookEventType;
  /** When the event happened (ISO 8601); each attempt's own time is the `webhook-timestamp` header. */
  timestamp: string;
  data: {
    id: string;
    object: "edit" | "check";
    status: string;
    error?: string;
    links: Record<string, string>;
  };
}

/** The event a job's current state announces, or null (not terminal, or a Hub import: the model shows it). */
export function jobWebhookEventType(job: Pick<Job, "kind" | "status">): WebhookEventType | null {
  if (job.status !== "succeeded" && job.status !== "failed" && job.status !== "canceled") return null;
  if (job.kind === "import") return null;
  return job.kind === "check" ? "check.completed" : `edit.${job.status}`;
}

export function jobWebhookPayload(
  job: Pick<Job, "id" | "kind" | "status" | "error">,
  type: WebhookEventType,
  now: Date,
): WebhookEventPayload {
  const base = job.kind === "check" ? `/v1/checks/${job.id}` : `/v1/edits/${job.id}`;
  const links: Record<string, string> = { self: base };
  if (job.kind === "edit" && job.status === "succeeded") {
    links.patch = `${base}/artifacts/patch.safetensors`;
    links.report = `${base}/artifacts/report.json`;
  }
  return {
    type,
    timestamp: now.toISOString(),
    data: {
      id: job.id,
      object: job.kind === "check" ? "check" : "edit",
      status: job.status,
      // A short error line only; the full record is one GET away.
      ...(job.status === "failed" && job.error ? { error: job.error.slice(0, 500) } : {}),
      links,
    },
  };
}

/**
 * Writes one outbox row per enabled endpoint of the tenant subscribed to `payload.type`; returns how many.
 * Call it with the transaction that makes the change the event reports.
 */
export async function enqueueWebhookEvent(
  tx: Db,
  tenantId: string,
  payload: WebhookEventPayload,
  now: Date,
): Promise<number> {
  const endpoints = await tx.select({ id: webhookEndpoints.id, events: webhookEndpoints.events })
    .from(webhookEndpoints)
    .where(and(eq(webhookEndpoints.tenantId, tenantId), isNull(webhookEndpoints.disabledAt)));
  const subscribed = endpoints.filter((endpoint) => endpoint.events.includes(payload.type));
  if (subscribed.length === 0) return 0;
  await tx.insert(webhookDeliveries).values(subscribed.map((endpoint) => ({
    tenantId,
    endpointId: endpoint.id,
    eventType: payload.type,
    payload,
    nextAttemptAt: now,
  })));
  return subscribed.length;
}

/** The outbox write for a job that has just reached a terminal state (no-op for other states). */
export async function enqueueJobWebhook(
  tx: Db,
  job: Pick<Job, "id" | "tenantId" | "kind" | "status" | "error">,
  now: Date,
): Promise<number> {
  const type = jobWebhookEventType(job);
  return type ? await enqueueWebhookEvent(tx, job.tenantId, jobWebhookPayload(job, type, now), now) : 0;
}

/**
 * The job queue's `onFinish` hook (`createJobQueue({ onFinish: notifyJobFinished })`): runs in the transaction
 * that moves a job to succeeded, failed or canceled, at the time the job records as its finish.
 */
export async function notifyJobFinished(tx: Db, job: Job): Promise<void> {
  await enqueueJobWebhook(tx, job, job.finishedAt ?? new Date());
}

/** The `webhook-id` of a delivery: stable across retries and replays of the same outbox row. */
export function webhookMessageId(deliveryId: string): string {
  return "msg_" + deliveryId.replaceAll("-", "");
}
