/**
 * shared/db: the service's one durable source of truth (Postgres, embedded as PGlite or a server).
 *
 * - `openDatabase({ url?, dataDir?, maxConnections?, migrate? })` → `{ db, kind, listen, close }`: postgres.js when a
 *   URL (or `DATABASE_URL`) is given, else PGlite in `<PROFS_DATA_DIR or .data>/db` ("memory://" for tests).
 *   Pending migrations are applied on open under an advisory lock (`applyMigrations`).
 * - `schema.ts`: the Drizzle tables (tenants, api_keys, models, model_files, datasets, jobs, job_events,
 *   artifacts, embedding_cache, idempotency_keys, webhook_endpoints, webhook_deliveries,
 *   webhook_delivery_attempts, triggers, inbound_webhooks) and row types (`Job`, `Model`, …).
 * - `Db`: a Drizzle database or transaction; every repository/queue function takes one first, so callers can
 *   compose them in their own `db.transaction(...)`.
 * - `inTenantScope(db, tenantId, fn)`: runs `fn` under row-level security for that tenant (second boundary).
 * - `createJobQueue({ onFinish, retryPolicy? })`: enqueue / enqueueIdempotent / claim / heartbeat / progress /
 *   complete / fail / acknowledgeCancel / requestCancel / reapOnce (queue.ts; `decideRetry` in retry_policy.ts;
 *   the poison rule for jobs that lost two attempts in poison.ts).
 * - `watchJobChanges(database)` (job_changes.ts): one LISTEN per process on the job change feed (migration 0004),
 *   fanned out to caches and event streams; `database.listen(channel, …)` is the engine-neutral LISTEN under it.
 * - `repositories/`: tenant-taking CRUD for tenants, models (+ files), datasets, jobs (reads, events,
 *   artifacts) and the embedding cache; list calls page newest-first with opaque cursors (`page.ts`).
 * - API keys live in api/auth. infra/README.md ("Database") explains modes, migrations, RLS and the queue.
 */
export * from "./schema.ts";
export type { Database, DatabaseKind, Db } from "./database.ts";
export { MEMORY_DATA_DIR, openDatabase, type OpenDatabaseOptions } from "./connection.ts";
export { applyMigrations, type MigrationReport, MIGRATIONS_FOLDER } from "./migrate.ts";
export { inTenantScope, isUuid, TENANT_ROLE } from "./tenant_scope.ts";
export {
  type ChangeSignal,
  FEED_TRUST_MS,
  JOB_CHANGES_CHANNEL,
  type JobChanges,
  type JobChangeWatcher,
  watchJobChanges,
} from "./job_changes.ts";
export {
  type ArtifactInput,
  type AttemptFailure,
  type Claim,
  type ClaimOptions,
  createJobQueue,
  type EnqueueInput,
  type FailOutcome,
  type HeartbeatResult,
  IdempotencyConflictError,
  type IdempotentEnqueueInput,
  type JobQueue,
  type JobQueueOptions,
  type Lease,
  type ReapReport,
} from "./queue.ts";
export { type LostAttempt, type LostReason, POISON_LOST_ATTEMPTS, poisonError } from "./poison.ts";
export {
  backoffMs,
  decideRetry,
  DEFAULT_RETRY_POLICY,
  type RetryDecision,
  type RetryPolicy,
} from "./retry_policy.ts";
