/**
 * The database schema: one Drizzle definition that drizzle-kit turns into the SQL migrations in
 * infra/migrations/ (`deno task db:generate`), used unchanged on PGlite and on a Postgres server.
 *
 * Every row that belongs to a customer carries `tenant_id`; repositories filter on it on every call and Postgres
 * row-level security checks it again (see infra/migrations/0001_row_level_security.sql and tenant_scope.ts).
 * Sizes are bytes, hashes are lowercase hex sha256, times are timestamptz.
 *
 * This file imports only drizzle-orm so drizzle-kit (running under Node) can load it.
 */
import { sql } from "drizzle-orm";
import {
  bigint,
  bigserial,
  boolean,
  check,
  index,
  integer,
  jsonb,
  pgEnum,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";

const createdAt = () => timestamp("created_at", { withTimezone: true }).notNull().defaultNow();
const time = (name: string) => timestamp(name, { withTimezone: true });
const bytes = (name: string) => bigint(name, { mode: "number" });
const tenantId = () => uuid("tenant_id").notNull().references(() => tenants.id, { onDelete: "cascade" });

// ---------------------------------------------------------------------------------------------------------
// Tenants and API keys

export const tenants = pgTable("tenants", {
  id: uuid("id").primaryKey().defaultRandom(),
  name: text("name").notNull().unique(),
  createdAt: createdAt(),
});

/**
 * API keys are shown once and stored as sha256(key): keys carry 256 bits of entropy, so a fast hash is enough
 * (no password stretching needed). `publicId` is the short lookup id embedded in the key itself.
 */
export const apiKeys = pgTable("api_keys", {
  id: uuid("id").primaryKey().defaultRandom(),
  tenantId: tenantId(),
  publicId: text("public_id").notNull().unique(),
  secretHash: text("secret_hash").notNull(),
  name: text("name").notNull().default(""),
  scopes: text("scopes").array().notNull(),
  createdAt: createdAt(),
  lastUsedAt: time("last_used_at"),
  revokedAt: time("revoked_at"),
}, (t) => [index("api_keys_tenant_idx").on(t.tenantId)]);

// ---------------------------------------------------------------------------------------------------------
// Models and datasets

/** pending: files being uploaded; ready: finalize validated the folder; invalid: finalize found problems. */
export const modelStatus = pgEnum("model_status", ["pending", "ready", "invalid"]);

export const models = pgTable("models", {
  id: uuid("id").primaryKey().defaultRandom(),
  tenantId: tenantId(),
  name: text("name").notNull(),
  status: modelStatus("status").notNull().default("pending"),
  /** Set for a server-side folder registered under a configured root; null for uploaded models. */
  folderPath: text("folder_path"),
  architecture: text("architecture"),
  /** sha256 over the weight file(s) in index order (ModelFolder.sha256()), set by finalize. */
  sha256: text("sha256"),
  /** finalize's validation report: summary when ready, reasons when invalid. */
  summary: jsonb("summary"),
  createdAt: createdAt(),
  updatedAt: time("updated_at").notNull().defaultNow(),
}, (t) => [index("models_tenant_created_idx").on(t.tenantId, t.createdAt)]);

/** uploading: bytes arriving under a temporary name; complete: renamed into place with size and sha256 known. */
export const fileStatus = pgEnum("file_status", ["uploading", "complete"]);

export const modelFiles = pgTable("model_files", {
  id: uuid("id").primaryKey().defaultRandom(),
  tenantId: tenantId(),
  modelId: uuid("model_id").notNull().references(() => models.id, { onDelete: "cascade" }),
  filename: text("filename").notNull(),
  blobKey: text("blob_key").notNull(),
  size: bytes("size"),
  sha256: text("sha256"),
  status: fileStatus("status").notNull().default("uploading"),
  createdAt: createdAt(),
  updatedAt: time("updated_at").notNull().defaultNow(),
}, (t) => [
  uniqueIndex("model_files_model_filename_idx").on(t.modelId, t.filename),
  check(
    "model_files_complete_has_hash",
    sql`${t.status} <> 'complete' OR (${t.size} IS NOT NULL AND ${t.sha256} IS NOT NULL)`,
  ),
]);

/**
 * pairs: preference pairs (JSONL, stored normalised); embeddings: precomputed [L, N, D] safetensors; texts: JSONL
 * `{"text"}` lines, the prompts and texts of a check.
 */
export const datasetKind = pgEnum("dataset_kind", ["pairs", "embeddings", "texts"]);

export const datasets = pgTable("datasets", {
  id: uuid("id").primaryKey().defaultRandom(),
  tenantId: tenantId(),
  name: text("name").notNull(),
  kind: datasetKind("kind").notNull(),
  /** Detected input format, e.g. "preferred-rejected", "trl", "openai", "paper", "safetensors". */
  format: text("format").notNull(),
  rows: integer("rows").notNull(),
  size: bytes("size").notNull(),
  sha256: text("sha256").notNull(),
  blobKey: text("blob_key").notNull(),
  /** Format-specific facts, e.g. embeddings' layers/hidden size/model_sha256/pooling/max_tokens. */
  metadata: jsonb("metadata").notNull().default({}),
  createdAt: createdAt(),
}, (t) => [
  index("datasets_tenant_created_idx").on(t.tenantId, t.createdAt),
  check("datasets_rows_positive", sql`${t.rows} > 0`),
]);

// ---------------------------------------------------------------------------------------------------------
// Jobs: the queue

export const jobKind = pgEnum("job_kind", ["edit", "check", "import"]);

/**
 * A job's life: queued → running → succeeded | failed | canceled (running → queued again on a retry).
 *
 * - `queued`: waiting for `run_after`. Left by a worker's claim (→ running) or by the tenant's cancel
 *   (→ canceled).
 * - `running`: a worker holds the lease (owner, token, expiry). Left by that worker's complete (→ succeeded),
 *   fail (→ queued for a retry, or failed), or acknowledgement of a requested cancel (→ canceled); or by the
 *   reaper when the lease expires (→ queued with backoff, failed after max_attempts, canceled if requested).
 * - `succeeded`, `failed`, `canceled`: terminal; nothing moves a job out of them.
 */
export const JOB_STATUSES = ["queued", "running", "succeeded", "failed", "canceled"] as const;
export type JobStatus = typeof JOB_STATUSES[number];
export const jobStatus = pgEnum("job_status", JOB_STATUSES);

export const jobs = pgTable("jobs", {
  id: uuid("id").primaryKey().defaultRandom(),
  tenantId: tenantId(),
  kind: jobKind("kind").notNull(),
  status: jobStatus("status").notNull().default("queued"),
  params: jsonb("params").notNull(),
  modelId: uuid("model_id").references(() => models.id, { onDelete: "set null" }),
  datasetId: uuid("dataset_id").references(() => datasets.id, { onDelete: "set null" }),
  /** Latest progress report, e.g. {stage:"embedding", done:3, total:8}; the history is in job_events. */
  progress: jsonb("progress"),
  /** Number of claims so far; the current attempt while running. Fences every worker write. */
  attempt: integer("attempt").notNull().default(0),
  maxAttempts: integer("max_attempts").notNull().default(3),
  leaseOwner: text("lease_owner"),
  /** Fresh per claim: a worker's writes carry it, so a write from an expired lease matches no row. */
  leaseToken: uuid("lease_token"),
  leaseExpiresAt: time("lease_expires_at"),
  heartbeatAt: time("heartbeat_at"),
  runAfter: time("run_after").notNull().defaultNow(),
  cancelRequestedAt: time("cancel_requested_at"),
  result: jsonb("result"),
  /** The last attempt's error (user-readable); kept when a retry later succeeds. */
  error: text("error"),
  createdAt: createdAt(),
  updatedAt: time("updated_at").notNull().defaultNow(),
  /** First claim. */
  startedAt: time("started_at"),
  /** Current (or last) attempt's claim. */
  attemptedAt: time("attempted_at"),
  finishedAt: time("finished_at"),
}, (t) => [
  index("jobs_tenant_created_idx").on(t.tenantId, t.createdAt, t.id),
  index("jobs_queued_idx").on(t.runAfter, t.createdAt).where(sql`${t.status} = 'queued'`),
  index("jobs_running_lease_idx").on(t.leaseExpiresAt).where(sql`${t.status} = 'running'`),
  check(
    "jobs_finished_at_iff_terminal",
    sql`(${t.finishedAt} IS NOT NULL) = (${t.status} IN ('succeeded', 'failed', 'canceled'))`,
  ),
  check(
    "jobs_lease_iff_running",
    sql`(${t.status} = 'running') = (${t.leaseToken} IS NOT NULL AND ${t.leaseOwner} IS NOT NULL AND ${t.leaseExpiresAt} IS NOT NULL)`,
  ),
  check(
    "jobs_attempts_in_range",
    sql`${t.maxAttempts} >= 1 AND ${t.attempt} >= 0 AND ${t.attempt} <= ${t.maxAttempts}`,
  ),
  check("jobs_running_has_attempt", sql`${t.status} <> 'running' OR ${t.attempt} >= 1`),
  check("jobs_succeeded_has_result", sql`${t.status} <> 'succeeded' OR ${t.result} IS NOT NULL`),
  check("jobs_failed_has_error", sql`${t.status} <> 'failed' OR ${t.error} IS NOT NULL`),
]);

/** Append-only history of a job (state changes and progress); `id` orders them for SSE `Last-Event-ID`. */
export const jobEvents = pgTable("job_events", {
  id: bigserial("id", { mode: "number" }).primaryKey(),
  tenantId: tenantId(),
  jobId: uuid("job_id").notNull().references(() => jobs.id, { onDelete: "cascade" }),
  attempt: integer("attempt").notNull(),
  /** queued | started | progress | retrying | succeeded | failed | cancel_requested | canceled */
  type: text("type").notNull(),
  data: jsonb("data").notNull().default({}),
  createdAt: createdAt(),
}, (t) => [index("job_events_job_idx").on(t.jobId, t.id)]);

/** A job's outputs. Rows are inserted by the completing worker in the transaction that marks it succeeded. */
export const artifacts = pgTable("artifacts", {
  id: uuid("id").primaryKey().defaultRandom(),
  tenantId: tenantId(),
  jobId: uuid("job_id").notNull().references(() => jobs.id, { onDelete: "cascade" }),
  name: text("name").notNull(),
  blobKey: text("blob_key").notNull(),
  size: bytes("size").notNull(),
  sha256: text("sha256").notNull(),
  contentType: text("content_type").notNull().default("application/octet-stream"),
  createdAt: createdAt(),
}, (t) => [uniqueIndex("artifacts_job_name_idx").on(t.jobId, t.name)]);

/**
 * Embeddings computed by a worker, keyed by content so a new rank or layer range skips the forward pass.
 * The blob is the embeddings safetensors format (preferred/rejected [L, N, D] f32).
 */
export const embeddingCache = pgTable("embedding_cache", {
  id: uuid("id").primaryKey().defaultRandom(),
  tenantId: tenantId(),
  modelSha256: text("model_sha256").notNull(),
  datasetSha256: text("dataset_sha256").notNull(),
  pooling: text("pooling").notNull(),
  maxTokens: integer("max_tokens").notNull(),
  blobKey: text("blob_key").notNull(),
  size: bytes("size").notNull(),
  sha256: text("sha256").notNull(),
  createdAt: createdAt(),
}, (t) => [
  uniqueIndex("embedding_cache_key_idx").on(
    t.tenantId,
    t.modelSha256,
    t.datasetSha256,
    t.pooling,
    t.maxTokens,
  ),
]);

/**
 * Idempotency-Key records: the first request with a key creates the resource; a repeat with the same request
 * hash gets the same resource, a different hash is a conflict. Unique per tenant.
 */
export const idempotencyKeys = pgTable("idempotency_keys", {
  tenantId: tenantId(),
  key: text("key").notNull(),
  requestHash: text("request_hash").notNull(),
  /** e.g. "job" */
  resourceType: text("resource_type").notNull(),
  resourceId: uuid("resource_id").notNull(),
  createdAt: createdAt(),
}, (t) => [primaryKey({ columns: [t.tenantId, t.key] })]);

// ---------------------------------------------------------------------------------------------------------
// Webhooks: outbound endpoints and their outbox, inbound triggers

export const webhookEndpoints = pgTable("webhook_endpoints", {
  id: uuid("id").primaryKey().defaultRandom(),
  tenantId: tenantId(),
  url: text("url").notNull(),
  /** Event types delivered, e.g. {"edit.succeeded","edit.failed"}. */
  events: text("events").array().notNull(),
  /** `whsec_…` signing secret (needed in clear to sign). */
  secret: text("secret").notNull(),
  /** The secret before the last rotation, still used to sign (second signature) until it expires. */
  previousSecret: text("previous_secret"),
  previousSecretExpiresAt: time("previous_secret_expires_at"),
  description: text("description").notNull().default(""),
  /** Set when the receiver answered 410 Gone (or an operator disabled it); no deliveries while set. */
  disabledAt: time("disabled_at"),
  disabledReason: text("disabled_reason"),
  createdAt: createdAt(),
}, (t) => [index("webhook_endpoints_tenant_idx").on(t.tenantId)]);

/**
 * pending: waiting for `next_attempt_at` (the dispatcher claims it with a lease). Left by the dispatcher after an
 * attempt: 2xx → succeeded; other outcomes → pending again with backoff, or failed when retries are exhausted
 * or the endpoint is disabled.
 */
export const deliveryStatus = pgEnum("delivery_status", ["pending", "succeeded", "failed"]);

/** The outbox: a row is written in the transaction that changes the state it reports. */
export const webhookDeliveries = pgTable("webhook_deliveries", {
  /** Also the Standard Webhooks `webhook-id` (prefixed `msg_` on the wire), stable across retries. */
  id: uuid("id").primaryKey().defaultRandom(),
  tenantId: tenantId(),
  endpointId: uuid("endpoint_id").notNull().references(() => webhookEndpoints.id, { onDelete: "cascade" }),
  eventType: text("event_type").notNull(),
  payload: jsonb("payload").notNull(),
  status: deliveryStatus("status").notNull().default("pending"),
  attempts: integer("attempts").notNull().default(0),
  nextAttemptAt: time("next_attempt_at").notNull().defaultNow(),
  leaseOwner: text("lease_owner"),
  leaseExpiresAt: time("lease_expires_at"),
  lastAttemptAt: time("last_attempt_at"),
  lastStatusCode: integer("last_status_code"),
  lastError: text("last_error"),
  createdAt: createdAt(),
  finishedAt: time("finished_at"),
}, (t) => [
  index("webhook_deliveries_due_idx").on(t.nextAttemptAt).where(sql`${t.status} = 'pending'`),
  index("webhook_deliveries_endpoint_idx").on(t.endpointId, t.createdAt),
  check(
    "webhook_deliveries_finished_iff_done",
    sql`(${t.finishedAt} IS NOT NULL) = (${t.status} <> 'pending')`,
  ),
]);

/** One row per HTTP attempt of a delivery: the delivery log (no response bodies). */
export const webhookDeliveryAttempts = pgTable("webhook_delivery_attempts", {
  id: bigserial("id", { mode: "number" }).primaryKey(),
  tenantId: tenantId(),
  deliveryId: uuid("delivery_id").notNull().references(() => webhookDeliveries.id, { onDelete: "cascade" }),
  attempt: integer("attempt").notNull(),
  startedAt: time("started_at").notNull(),
  durationMs: integer("duration_ms").notNull(),
  statusCode: integer("status_code"),
  error: text("error"),
}, (t) => [index("webhook_delivery_attempts_delivery_idx").on(t.deliveryId, t.attempt)]);

/** A stored edit template fired by a signed inbound webhook. */
export const triggers = pgTable("triggers", {
  id: uuid("id").primaryKey().defaultRandom(),
  tenantId: tenantId(),
  name: text("name").notNull(),
  /** {model_id, dataset_id?, params} */
  template: jsonb("template").notNull(),
  /** `whsec_…` secret the sender signs with. */
  secret: text("secret").notNull(),
  enabled: boolean("enabled").notNull().default(true),
  createdAt: createdAt(),
  lastFiredAt: time("last_fired_at"),
}, (t) => [index("triggers_tenant_idx").on(t.tenantId)]);

/** `webhook-id`s already accepted per trigger: a replay returns the job it started instead of a new one. */
export const inboundWebhooks = pgTable("inbound_webhooks", {
  triggerId: uuid("trigger_id").notNull().references(() => triggers.id, { onDelete: "cascade" }),
  webhookId: text("webhook_id").notNull(),
  tenantId: tenantId(),
  jobId: uuid("job_id").references(() => jobs.id, { onDelete: "set null" }),
  receivedAt: time("received_at").notNull().defaultNow(),
}, (t) => [primaryKey({ columns: [t.triggerId, t.webhookId] })]);

export type Tenant = typeof tenants.$inferSelect;
export type ApiKey = typeof apiKeys.$inferSelect;
export type Model = typeof models.$inferSelect;
export type ModelFile = typeof modelFiles.$inferSelect;
export type Dataset = typeof datasets.$inferSelect;
export type Job = typeof jobs.$inferSelect;
export type JobKind = Job["kind"];
export type JobEvent = typeof jobEvents.$inferSelect;
export type Artifact = typeof artifacts.$inferSelect;
export type EmbeddingCacheEntry = typeof embeddingCache.$inferSelect;
export type WebhookEndpoint = typeof webhookEndpoints.$inferSelect;
export type WebhookDelivery = typeof webhookDeliveries.$inferSelect;
export type WebhookDeliveryAttempt = typeof webhookDeliveryAttempts.$inferSelect;
export type Trigger = typeof triggers.$inferSelect;
export type InboundWebhook = typeof inboundWebhooks.$inferSelect;
