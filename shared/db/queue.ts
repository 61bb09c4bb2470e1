/**
 * The job queue, on the `jobs` table (River's design on Postgres; no other broker).
 *
 * - Enqueue inside the caller's transaction, so a job exists exactly when the domain write that wants it does.
 * - A worker claims the oldest due job in one statement (`FOR UPDATE SKIP LOCKED`: concurrent claimers never
 *   wait on, or both take, the same row). The claim bumps `attempt` and issues a fresh lease token.
 * - Every later worker write (heartbeat, progress, complete, fail, cancel acknowledgement) is fenced by
 *   id + running + attempt + lease token and reports whether it matched a row. `false` / "lease_lost" means the
 *   job is no longer this worker's (its lease expired and the reaper re-queued it, or it was finished): the
 *   worker must drop its result and stop. So a stale worker can never overwrite a newer attempt.
 * - Cancellation is a request on the row: a queued job is canceled at once; a running job gets
 *   `cancel_requested_at`, which its worker sees in the answer to its next heartbeat.
 * - An attempt whose worker died (lease expired while running) or whose compute thread died is a lost attempt,
 *   marked `lost` on the event that ends it; a job that lost two attempts is failed as the user's error naming
 *   its input (poison.ts), so one poison job cannot take every worker down in turn.
 * - `onFinish(tx, job)` runs in the transaction that moves a job to a terminal state (the processes pass the
 *   webhook outbox write; this module knows nothing of webhooks).
 *
 * Times come from `now` when given (tests) and the host clock otherwise; hosts sharing a server are assumed
 * NTP-synchronised, which is far tighter than any lease.
 */
import { and, asc, eq, inArray, isNotNull, lte, type SQL, sql } from "drizzle-orm";
import { InputError } from "../errors.ts";
import type { Db } from "./database.ts";
import { artifacts, idempotencyKeys, type Job, jobEvents, type JobKind, jobs } from "./schema.ts";
import { decideRetry, DEFAULT_RETRY_POLICY, type RetryPolicy } from "./retry_policy.ts";
import { lastStage, type LostAttempt, type LostReason, POISON_LOST_ATTEMPTS, poisonError } from "./poison.ts";
import { inTenantScope, isUuid } from "./tenant_scope.ts";

export interface EnqueueInput {
  tenantId: string;
  kind: JobKind;
  params: unknown;
  modelId?: string | null;
  datasetId?: string | null;
  /** Claims allowed in all (first run included); default 3. */
  maxAttempts?: number;
  /** Not claimable before this time; default now. */
  runAfter?: Date;
}

export interface IdempotentEnqueueInput extends EnqueueInput {
  /** The client's Idempotency-Key. */
  key: string;
  /** A hash of the request it came with (method, route, canonical body). */
  requestHash: string;
}

/** A worker's hold on one attempt of one job; every fenced write carries it. */
export interface Lease {
  jobId: string;
  tenantId: string;
  attempt: number;
  token: string;
  owner: string;
}

export interface Claim {
  job: Job;
  lease: Lease;
  /** Earlier attempts of this job that were lost (their worker or compute thread died): the job may be poison. */
  lostAttempts: number;
}

/** How an attempt ended badly: its error for the user, whether to retry, and whether it was lost. */
export interface AttemptFailure {
  error: string;
  retryable: boolean;
  /** The attempt's compute died without a report (the worker counts a dead compute thread here). */
  lost?: LostReason;
}

export interface ClaimOptions {
  /** Who holds the lease (host:pid or a worker id), for logs and the reaper's error message. */
  owner: string;
  leaseMs: number;
  /** Only these kinds; default any. */
  kinds?: JobKind[];
  now?: Date;
}

export interface ArtifactInput {
  name: string;
  blobKey: string;
  size: number;
  sha256: string;
  contentType?: string;
}

type TerminalStatus = "succeeded" | "failed" | "canceled";

export type HeartbeatResult = { ok: true; cancelRequested: boolean; leaseExpiresAt: Date } | { ok: false };
export type FailOutcome = "retrying" | "failed" | "canceled" | "lease_lost";

export interface JobQueueOptions {
  /**
   * Runs inside the transaction that moves a job to succeeded, failed or canceled. Required, so no queue built
   * anywhere can finish a job without deciding what that announces: the processes pass the webhook outbox write
   * (`notifyJobFinished`, shared/webhooks/events.ts); the database layer itself knows nothing of webhooks.
   */
  onFinish: (tx: Db, job: Job) => Promise<void>;
  retryPolicy?: RetryPolicy;
  /** Source of jitter in [0, 1); default Math.random. */
  random?: () => number;
}

/** Same Idempotency-Key, different request: the client reused a key by mistake (HTTP 409/422). */
export class IdempotencyConflictError extends InputError {
  override name = "IdempotencyConflictError";
  constructor(readonly key: string) {
    super(
      `Cannot reuse Idempotency-Key '${key}' as it must name the same request: it was first used with a different one`,
    );
  }
}

export type JobQueue = ReturnType<typeof createJobQueue>;

export function createJobQueue(options: JobQueueOptions) {
  const policy = options.retryPolicy ?? DEFAULT_RETRY_POLICY;
  const random = options.random ?? Math.random;
  const onFinish = options.onFinish;

  return {
    /** Adds a queued job (and its `queued` event); pass the caller's transaction to tie it to a domain write. */
    enqueue(db: Db, input: EnqueueInput): Promise<Job> {
      return inTenantScope(db, input.tenantId, (tx) => insertJob(tx, input, crypto.randomUUID()));
    },

    /**
     * Enqueue once per (tenant, Idempotency-Key): the first request creates the job; a repeat of the same
     * request returns it (`created: false`); a different request with the key throws IdempotencyConflictError.
     * Concurrent identical requests create one job: the key's primary key serialises them, and the loser reads
     * the winner's row once it commits.
     */
    enqueueIdempotent(db: Db, input: IdempotentEnqueueInput): Promise<{ job: Job; created: boolean }> {
      return inTenantScope(db, input.tenantId, async (tx) => {
        const jobId = crypto.randomUUID();
        const inserted = await tx.insert(idempotencyKeys).values({
          tenantId: input.tenantId,
          key: input.key,
          requestHash: input.requestHash,
          resourceType: "job",
          resourceId: jobId,
        }).onConflictDoNothing().returning({ key: idempotencyKeys.key });
        if (inserted.length) return { job: await insertJob(tx, input, jobId), created: true };

        const [existing] = await tx.select().from(idempotencyKeys)
          .where(and(eq(idempotencyKeys.tenantId, input.tenantId), eq(idempotencyKeys.key, input.key)));
        if (existing.requestHash !== input.requestHash || existing.resourceType !== "job") {
          throw new IdempotencyConflictError(input.key);
        }
        const [job] = await tx.select().from(jobs)
          .where(and(eq(jobs.tenantId, input.tenantId), eq(jobs.id, existing.resourceId)));
        if (!job) throw new IdempotencyConflictError(input.key);
        return { job, created: false };
      });
    },

    /**
     * Takes the oldest due job, or null when none is due. One UPDATE … WHERE id = (SELECT … LIMIT 1 SKIP LOCKED):
     * a scalar subquery runs once, whereas Postgres may re-run an `IN (…)` subquery per row and so claim (and
     * strand) several jobs in one statement.
     */
    claim(db: Db, claim: ClaimOptions): Promise<Claim | null> {
      const now = claim.now ?? new Date();
      const due = db.select({ id: jobs.id }).from(jobs)
        .where(and(
          eq(jobs.status, "queued"),
          lte(jobs.runAfter, now),
          claim.kinds ? inArray(jobs.kind, claim.kinds) : undefined,
        ))
        .orderBy(asc(jobs.runAfter), asc(jobs.createdAt))
        .limit(1)
        .for("update", { skipLocked: true });
      const token = crypto.randomUUID();
      return db.transaction(async (tx) => {
        const [job] = await tx.update(jobs).set({
          status: "running",
          attempt: sql`${jobs.attempt} + 1`,
          leaseOwner: claim.owner,
          leaseToken: token,
          leaseExpiresAt: new Date(now.getTime() + claim.leaseMs),
          heartbeatAt: now,
          attemptedAt: now,
          startedAt: sql`coalesce(${jobs.startedAt}, ${now.toISOString()}::timestamptz)`,
          updatedAt: now,
        }).where(and(eq(jobs.id, sql`(${due})`), eq(jobs.status, "queued"))).returning();
        if (!job) return null;
        const lostAttempts = await countLost(tx, job.id);
        await addEvent(
          tx,
          job,
          "started",
          { owner: claim.owner, ...(lostAttempts ? { lostAttempts } : {}) },
          now,
        );
        return { job, lease: leaseOf(job), lostAttempts };
      });
    },

    /**
     * Extends the lease and tells the worker whether a cancel was requested; `ok: false` = lease lost. A late
     * heartbeat (lease expired, reaper not yet run) still succeeds: nobody else holds the job yet.
     */
    async heartbeat(db: Db, lease: Lease, opts: { leaseMs: number; now?: Date }): Promise<HeartbeatResult> {
      const now = opts.now ?? new Date();
      const [row] = await db.update(jobs).set({
        heartbeatAt: now,
        leaseExpiresAt: new Date(now.getTime() + opts.leaseMs),
        updatedAt: now,
      }).where(fence(lease)).returning({
        cancelRequestedAt: jobs.cancelRequestedAt,
        leaseExpiresAt: jobs.leaseExpiresAt,
      });
      if (!row) return { ok: false };
      return {
        ok: true,
        cancelRequested: row.cancelRequestedAt !== null,
        leaseExpiresAt: row.leaseExpiresAt!,
      };
    },

    /** Records progress (latest on the job, history as an event); false = lease lost. */
    progress(
      db: Db,
      lease: Lease,
      progress: Record<string, unknown>,
      opts: { now?: Date } = {},
    ): Promise<boolean> {
      const now = opts.now ?? new Date();
      return db.transaction(async (tx) => {
        const [job] = await tx.update(jobs).set({ progress, updatedAt: now }).where(fence(lease)).returning();
        if (!job) return false;
        await addEvent(tx, job, "progress", progress, now);
        return true;
      });
    },

    /**
     * Marks the attempt succeeded with its result and publishes its artifacts in the same transaction (so
     * artifacts appear exactly when the job succeeds); false = lease lost, nothing written.
     */
    complete(
      db: Db,
      lease: Lease,
      outcome: { result: unknown; artifacts?: ArtifactInput[] },
      opts: { now?: Date } = {},
    ): Promise<boolean> {
      const now = opts.now ?? new Date();
      return db.transaction(async (tx) => {
        const job = await finish(tx, "succeeded", fence(lease), { result: outcome.result ?? {} }, {}, now, {
          async before(job) {
            if (!outcome.artifacts?.length) return;
            await tx.insert(artifacts).values(outcome.artifacts.map((a) => ({
              tenantId: job.tenantId,
              jobId: job.id,
              name: a.name,
              blobKey: a.blobKey,
              size: a.size,
              sha256: a.sha256,
              contentType: a.contentType ?? "application/octet-stream",
            })));
          },
        });
        return job !== null;
      });
    },

    /**
     * Ends the attempt with an error: re-queued with backoff when `retryable` and attempts remain, otherwise
     * failed (canceled instead when a cancel was requested meanwhile).
     */
    fail(
      db: Db,
      lease: Lease,
      failure: AttemptFailure,
      opts: { now?: Date } = {},
    ): Promise<FailOutcome> {
      const now = opts.now ?? new Date();
      return db.transaction(async (tx) => {
        const [current] = await tx.select().from(jobs).where(fence(lease)).for("update");
        if (!current) return "lease_lost";
        return await endAttempt(tx, current, failure, now);
      });
    },

    /** The worker saw a requested cancel (via heartbeat) and stopped: → canceled. False = lease lost. */
    acknowledgeCancel(db: Db, lease: Lease, opts: { now?: Date } = {}): Promise<boolean> {
      const now = opts.now ?? new Date();
      return db.transaction(async (tx) => {
        const where = and(fence(lease), isNotNull(jobs.cancelRequestedAt));
        return (await finish(tx, "canceled", where, {}, {}, now)) !== null;
      });
    },

    /**
     * The tenant asks to cancel: a queued job is canceled now; a running one gets `cancel_requested_at` (its
     * worker stops at the next heartbeat); a finished one is returned unchanged. Null when the tenant has no such
     * job.
     */
    requestCancel(db: Db, tenantId: string, jobId: string, opts: { now?: Date } = {}): Promise<Job | null> {
      if (!isUuid(jobId)) return Promise.resolve(null);
      const now = opts.now ?? new Date();
      const mine = and(eq(jobs.tenantId, tenantId), eq(jobs.id, jobId));
      return inTenantScope(db, tenantId, async (tx) => {
        const canceled = await finish(
          tx,
          "canceled",
          and(mine, eq(jobs.status, "queued")),
          {
            cancelRequestedAt: now,
          },
          {},
          now,
        );
        if (canceled) return canceled;
        const [requested] = await tx.update(jobs).set({
          cancelRequestedAt: sql`coalesce(${jobs.cancelRequestedAt}, ${now.toISOString()}::timestamptz)`,
          updatedAt: now,
        }).where(and(mine, eq(jobs.status, "running"))).returning();
        if (requested) {
          await addEvent(tx, requested, "cancel_requested", {}, now);
          return requested;
        }
        const [finished] = await tx.select().from(jobs).where(mine);
        return finished ?? null;
      });
    },

    /**
     * The reaper's pass: every running job whose lease expired before `now` is re-queued with backoff, failed
     * once it used its attempts (with the lease expiry as its error), or canceled if a cancel was requested.
     * Safe to run from every worker at once (SKIP LOCKED).
     */
    reapOnce(db: Db, opts: { now?: Date; limit?: number } = {}): Promise<ReapReport> {
      const now = opts.now ?? new Date();
      return db.transaction(async (tx) => {
        const expired = await tx.select().from(jobs)
          .where(
            and(eq(jobs.status, "running"), sql`${jobs.leaseExpiresAt} < ${now.toISOString()}::timestamptz`),
          )
          .orderBy(asc(jobs.leaseExpiresAt))
          .limit(opts.limit ?? 100)
          .for("update", { skipLocked: true });
        const report: ReapReport = { requeued: [], failed: [], canceled: [] };
        for (const job of expired) {
          const error = `Worker '${job.leaseOwner}' stopped heartbeating: its lease expired at ` +
            `${job.leaseExpiresAt!.toISOString()} (attempt ${job.attempt} of ${job.maxAttempts})`;
          const outcome = await endAttempt(tx, job, { error, retryable: true, lost: "lease_expired" }, now);
          if (outcome === "retrying") report.requeued.push(job.id);
          else if (outcome === "failed") report.failed.push(job.id);
          else if (outcome === "canceled") report.canceled.push(job.id);
        }
        return report;
      });
    },
  };

  /**
   * Moves a locked running job out of its attempt after an error; shared by fail() and the reaper. A lost
   * attempt is marked on the ending event; the one that makes `POISON_LOST_ATTEMPTS` fails the job as the
   * user's error (poison.ts).
   */
  async function endAttempt(
    tx: Db,
    current: Job,
    failure: AttemptFailure,
    now: Date,
  ): Promise<FailOutcome> {
    const held = and(eq(jobs.id, current.id), eq(jobs.attempt, current.attempt), eq(jobs.status, "running"));
    const lost: LostAttempt | undefined = failure.lost && { reason: failure.lost, stage: lastStage(current) };
    const marks = lost ? { lost } : {};
    if (current.cancelRequestedAt) {
      await finish(tx, "canceled", held, { error: failure.error }, { error: failure.error, ...marks }, now);
      return "canceled";
    }
    if (lost) {
      const earlier = await lostAttempts(tx, current.id);
      if (earlier.length + 1 >= POISON_LOST_ATTEMPTS) {
        failure = { error: poisonError(current, [...earlier, lost]), retryable: false };
      }
    }
    const decision = decideRetry({
      attempt: current.attempt,
      maxAttempts: current.maxAttempts,
      retryable: failure.retryable,
      now,
      random: random(),
    }, policy);
    if (decision.action === "retry") {
      const [job] = await tx.update(jobs).set({
        status: "queued",
        error: failure.error,
        runAfter: decision.runAfter,
        updatedAt: now,
        ...NO_LEASE,
      }).where(held).returning();
      await addEvent(
        tx,
        job,
        "retrying",
        { error: failure.error, run_after: decision.runAfter, ...marks },
        now,
      );
      return "retrying";
    }
    await finish(tx, "failed", held, { error: failure.error }, { error: failure.error, ...marks }, now);
    return "failed";
  }

  /**
   * The one way into a terminal state (succeeded, failed, canceled), used by every transition above: sets the
   * status with `finished_at` and no lease (the invariants the CHECK constraints hold), runs `before` (e.g. the
   * artifacts a success publishes), records the event and runs `onFinish`, all in `tx`. Null when `where`
   * matched no row (the job is not, or no longer, in the state the caller expected).
   */
  async function finish(
    tx: Db,
    status: TerminalStatus,
    where: SQL | undefined,
    set: Partial<typeof jobs.$inferInsert>,
    eventData: Record<string, unknown>,
    now: Date,
    hooks: { before?: (job: Job) => Promise<void> } = {},
  ): Promise<Job | null> {
    const [job] = await tx.update(jobs).set({ ...set, status, finishedAt: now, updatedAt: now, ...NO_LEASE })
      .where(where).returning();
    if (!job) return null;
    await hooks.before?.(job);
    await addEvent(tx, job, status, eventData, now);
    await onFinish(tx, job);
    return job;
  }
}

export interface ReapReport {
  requeued: string[];
  failed: string[];
  canceled: string[];
}

const NO_LEASE = { leaseOwner: null, leaseToken: null, leaseExpiresAt: null } as const;

function fence(lease: Lease) {
  return and(
    eq(jobs.id, lease.jobId),
    eq(jobs.status, "running"),
    eq(jobs.attempt, lease.attempt),
    eq(jobs.leaseToken, lease.token),
  );
}

/** The lost attempts recorded on a job's events (`data.lost`), oldest first. */
async function lostAttempts(tx: Db, jobId: string): Promise<LostAttempt[]> {
  const rows = await tx.select({ lost: sql<LostAttempt>`${jobEvents.data} -> 'lost'` }).from(jobEvents)
    .where(and(eq(jobEvents.jobId, jobId), sql`${jobEvents.data} -> 'lost' is not null`))
    .orderBy(asc(jobEvents.id));
  return rows.map((r) => r.lost);
}

async function countLost(tx: Db, jobId: string): Promise<number> {
  return (await lostAttempts(tx, jobId)).length;
}

function leaseOf(job: Job): Lease {
  return {
    jobId: job.id,
    tenantId: job.tenantId,
    attempt: job.attempt,
    token: job.leaseToken!,
    owner: job.leaseOwner!,
  };
}

async function insertJob(tx: Db, input: EnqueueInput, id: string): Promise<Job> {
  const [job] = await tx.insert(jobs).values({
    id,
    tenantId: input.tenantId,
    kind: input.kind,
    params: input.params,
    modelId: input.modelId ?? null,
    datasetId: input.datasetId ?? null,
    maxAttempts: input.maxAttempts ?? 3,
    ...(input.runAfter ? { runAfter: input.runAfter } : {}),
  }).returning();
  await addEvent(tx, job, "queued", {}, job.createdAt);
  return job;
}

async function addEvent(tx: Db, job: Job, type: string, data: unknown, now: Date): Promise<void> {
  await tx.insert(jobEvents).values({
    tenantId: job.tenantId,
    jobId: job.id,
    attempt: job.attempt,
    type,
    data: data ?? {},
    createdAt: now,
  });
}
