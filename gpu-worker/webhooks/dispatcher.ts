/**
 * The webhook dispatcher: drains the outbox (`webhook_deliveries`), one signed POST per due row, and records
 * every attempt in the delivery log (`webhook_delivery_attempts`: attempt number, start, duration, status code or
 * error; never the response body).
 *
 * Rows are claimed with a lease (`FOR UPDATE SKIP LOCKED`, a fresh token in `lease_owner`), so any number of
 * dispatchers — in-process in `serve`, or `profs dispatcher` processes — share the outbox without sending a row
 * twice at once. The result is written only while the lease is still ours; a dispatcher that dies mid-send leaves
 * the row to be claimed again when its lease expires, and the receiver sees the same `webhook-id` again
 * (at-least-once, as the Standard Webhooks scheme expects receivers to handle).
 *
 * `dispatchOnce({ now })` is the whole step with time passed in; `startDispatcher` only repeats it.
 */
import { and, asc, eq, inArray, isNull, lt, lte, or } from "drizzle-orm";
import type { Db } from "../../shared/db/database.ts";
import { webhookDeliveries, webhookDeliveryAttempts, webhookEndpoints } from "../../shared/db/schema.ts";
import type { Logger } from "../../shared/log.ts";
import { attemptDelivery, type AttemptOutcome, decideNext, DEFAULT_TIMEOUT_MS } from "./attempt.ts";
import type { DestinationPolicy } from "../../shared/webhooks/destination.ts";
import { webhookMessageId } from "../../shared/webhooks/events.ts";

export interface DispatcherOptions extends DestinationPolicy {
  db: Db;
  logger: Logger;
  /** Names this dispatcher in leases and logs. */
  owner: string;
  /** Per-attempt HTTP timeout; default 15 s. */
  timeoutMs?: number;
  /** How long a claim lasts; default the larger of 2 minutes and two timeouts plus 30 s. */
  leaseMs?: number;
  /** Rows claimed per step (sent concurrently); default 16. */
  batchSize?: number;
  /** Base URL that makes the payloads' relative links absolute (PROFS_PUBLIC_URL). */
  publicUrl?: string;
  /** Uniform [0, 1) draws for backoff jitter; Math.random by default. */
  random?: () => number;
  caCerts?: string[];
}

export interface DispatchReport {
  claimed: number;
  delivered: number;
  retrying: number;
  failed: number;
  /** Results dropped because another dispatcher took the row over meanwhile. */
  leaseLost: number;
}

interface Claimed {
  id: string;
  tenantId: string;
  endpointId: string;
  payload: unknown;
  attempts: number;
  leaseToken: string;
}

export async function dispatchOnce(options: DispatcherOptions, at: { now: Date }): Promise<DispatchReport> {
  const now = at.now;
  const report: DispatchReport = { claimed: 0, delivered: 0, retrying: 0, failed: 0, leaseLost: 0 };
  const claimed = await claimDue(options, now);
  report.claimed = claimed.length;
  if (claimed.length === 0) return report;
  const endpointRows = await options.db.select().from(webhookEndpoints)
    .where(inArray(webhookEndpoints.id, [...new Set(claimed.map((row) => row.endpointId))]));
  const endpoints = new Map(endpointRows.map((endpoint) => [endpoint.id, endpoint]));
  await Promise.all(claimed.map(async (row) => {
    const endpoint = endpoints.get(row.endpointId);
    if (!endpoint || endpoint.disabledAt) {
      const closed = await closeWithoutAttempt(
        options.db,
        row,
        now,
        endpoint?.disabledReason ?? "endpoint deleted",
      );
      if (closed) report.failed++;
      else report.leaseLost++;
      return;
    }
    const secrets = [endpoint.secret];
    if (
      endpoint.previousSecret && endpoint.previousSecretExpiresAt && endpoint.previousSecretExpiresAt > now
    ) {
      secrets.push(endpoint.previousSecret);
    }
    const attempt = row.attempts + 1;
    const outcome = await attemptDelivery({
      url: endpoint.url,
      secrets,
      messageId: webhookMessageId(row.id),
      body: wireBody(row.payload, options.publicUrl),
      now,
    }, options);
    const next = decideNext(outcome, attempt, now, (options.random ?? Math.random)());
    const recorded = await recordAttempt(options.db, row, attempt, outcome, next, now);
    const fields = {
      delivery_id: row.id,
      endpoint_id: row.endpointId,
      attempt,
      status_code: outcome.status,
      error: outcome.error,
      duration_ms: outcome.durationMs,
      next: next.kind,
    };
    if (!recorded) {
      report.leaseLost++;
      options.logger.warn("webhook result dropped: lease lost", fields);
      return;
    }
    if (next.kind === "delivered") report.delivered++;
    else if (next.kind === "retry") report.retrying++;
    else report.failed++;
    options.logger.info("webhook attempt", fields);
  }));
  return report;
}

async function claimDue(options: DispatcherOptions, now: Date): Promise<Claimed[]> {
  const d = webhookDeliveries;
  const leaseToken = `${options.owner}/${crypto.randomUUID()}`;
  // The lease must outlast an attempt, or a slow receiver would get the message twice at once.
  const leaseMs = options.leaseMs ??
    Math.max(120_000, 2 * (options.timeoutMs ?? DEFAULT_TIMEOUT_MS) + 30_000);
  const leaseExpiresAt = new Date(now.getTime() + leaseMs);
  return await options.db.transaction(async (tx) => {
    const due = await tx.select({ id: d.id }).from(d)
      .where(and(
        eq(d.status, "pending"),
        lte(d.nextAttemptAt, now),
        or(isNull(d.leaseExpiresAt), lt(d.leaseExpiresAt, now)),
      ))
      .orderBy(asc(d.nextAttemptAt))
      .limit(options.batchSize ?? 16)
      .for("update", { skipLocked: true });
    if (due.length === 0) return [];
    const rows = await tx.update(d).set({ leaseOwner: leaseToken, leaseExpiresAt })
      .where(inArray(d.id, due.map((row) => row.id)))
      .returning({
        id: d.id,
        tenantId: d.tenantId,
        endpointId: d.endpointId,
        payload: d.payload,
        attempts: d.attempts,
      });
    return rows.map((row) => ({ ...row, leaseToken }));
  });
}

/** Our lease on the row is still the current one: the guard on every write after a claim. */
function stillOurs(row: Claimed) {
  return and(
    eq(webhookDeliveries.id, row.id),
    eq(webhookDeliveries.status, "pending"),
    eq(webhookDeliveries.leaseOwner, row.leaseToken),
  );
}

async function recordAttempt(
  db: Db,
  row: Claimed,
  attempt: number,
  outcome: AttemptOutcome,
  next: ReturnType<typeof decideNext>,
  now: Date,
): Promise<boolean> {
  const done = next.kind !== "retry";
  return await db.transaction(async (tx) => {
    const updated = await tx.update(webhookDeliveries).set({
      attempts: attempt,
      status: next.kind === "delivered" ? "succeeded" : done ? "failed" : "pending",
      nextAttemptAt: next.kind === "retry" ? next.at : now,
      lastAttemptAt: now,
      lastStatusCode: outcome.status,
      lastError: outcome.error ??
        (next.kind === "delivered" ? null : `receiver answered ${outcome.status}`),
      leaseOwner: null,
      leaseExpiresAt: null,
      finishedAt: done ? now : null,
    }).where(stillOurs(row)).returning({ id: webhookDeliveries.id });
    if (updated.length === 0) return false;
    await tx.insert(webhookDeliveryAttempts).values({
      tenantId: row.tenantId,
      deliveryId: row.id,
      attempt,
      startedAt: now,
      durationMs: outcome.durationMs,
      statusCode: outcome.status,
      error: outcome.error,
    });
    if (next.kind === "disable-endpoint") {
      await tx.update(webhookEndpoints).set({
        disabledAt: now,
        disabledReason: "the receiver answered 410 Gone",
      }).where(and(eq(webhookEndpoints.id, row.endpointId), isNull(webhookEndpoints.disabledAt)));
    }
    return true;
  });
}

async function closeWithoutAttempt(db: Db, row: Claimed, now: Date, reason: string): Promise<boolean> {
  const updated = await db.update(webhookDeliveries).set({
    status: "failed",
    lastError: `not sent: ${reason}`,
    leaseOwner: null,
    leaseExpiresAt: null,
    finishedAt: now,
  }).where(stillOurs(row)).returning({ id: webhookDeliveries.id });
  return updated.length > 0;
}

/**
 * The POST body for a stored payload: `type`, `timestamp`, `data` first (jsonb storage reorders keys), and links,
 * stored relative to the API root, made absolute when the public base URL is known. Deterministic, so every
 * retry of a message carries the same body.
 */
export function wireBody(payload: unknown, publicUrl: string | undefined): string {
  if (!payload || typeof payload !== "object" || Array.isArray(payload)) return JSON.stringify(payload);
  const { type, timestamp, data, ...rest } = payload as Record<string, unknown>;
  let body: unknown = data;
  const links = (data as { links?: Record<string, string> } | undefined)?.links;
  if (publicUrl && links) {
    const base = publicUrl.replace(/\/+$/, "");
    const absolute = Object.fromEntries(
      Object.entries(links).map(([name, link]) => [name, link.startsWith("/") ? base + link : link]),
    );
    body = { ...(data as object), links: absolute };
  }
  const { id, object, status, ...more } = (body ?? {}) as Record<string, unknown>;
  const orderedData = body === undefined ? undefined : { id, object, status, ...more };
  return JSON.stringify({ type, timestamp, data: orderedData, ...rest });
}

export interface RunningDispatcher {
  /** Resolves once the step in progress (if any) has finished. */
  stop(): Promise<void>;
}

/**
 * Repeats `dispatchOnce` every `pollMs` (default 1 s), immediately again while steps find work. Errors (e.g.
 * the database briefly unreachable) are logged and the loop goes on.
 */
export function startDispatcher(options: DispatcherOptions & { pollMs?: number }): RunningDispatcher {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let current: Promise<void> = Promise.resolve();
  const step = async () => {
    let busy = false;
    try {
      const report = await dispatchOnce(options, { now: new Date() });
      busy = report.claimed === (options.batchSize ?? 16);
    } catch (error) {
      options.logger.error("webhook dispatch step failed", { error });
    }
    if (!stopped) timer = setTimeout(() => current = step(), busy ? 0 : options.pollMs ?? 1000);
  };
  current = step();
  return {
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await current;
    },
  };
}
