/**
 * Tenant-facing reads of jobs, their events and artifacts (writes go through the queue, queue.ts). Every call
 * takes the tenant id and runs under row-level security for it.
 */
import { and, asc, eq, getTableColumns, gt, type Table } from "drizzle-orm";
import type { Db } from "../database.ts";
import { queryFirstValue } from "../driver_query.ts";
import {
  type Artifact,
  artifacts,
  type Job,
  type JobEvent,
  jobEvents,
  type JobKind,
  jobs,
  type JobStatus,
} from "../schema.ts";
import { inTenantScope, isUuid } from "../tenant_scope.ts";
import { afterCursor, newestFirst, type Page, type PageRequest, toPage } from "./page.ts";

const keyset = { table: jobs, id: jobs.id, tenantId: jobs.tenantId, createdAt: jobs.createdAt };

export function getJob(db: Db, tenantId: string, id: string): Promise<Job | null> {
  if (!isUuid(id)) return Promise.resolve(null);
  return inTenantScope(db, tenantId, async (tx) => {
    const [job] = await tx.select().from(jobs).where(and(eq(jobs.tenantId, tenantId), eq(jobs.id, id)));
    return job ?? null;
  });
}

/**
 * A job and its artifacts (in name order) in one statement: the function `profs_tenant_job` of migration
 * 0003_tenant_job_read switches to the tenant's row-level-security scope and reads both, so this costs one round
 * trip where `getJob` + `listArtifacts` cost two transactions. Null for another tenant's job or a non-uuid id.
 */
export async function getJobWithArtifacts(
  db: Db,
  tenantId: string,
  id: string,
): Promise<{ job: Job; artifacts: Artifact[] } | null> {
  if (!isUuid(tenantId)) throw new Error(`getJobWithArtifacts: tenant id must be a uuid, got '${tenantId}'`);
  if (!isUuid(id)) return null;
  const text = await queryFirstValue(db, "SELECT profs_tenant_job($1, $2)", [tenantId, id]);
  if (text === null || text === undefined) return null;
  if (typeof text !== "string") {
    throw new Error(`getJobWithArtifacts: profs_tenant_job returned ${typeof text} for job ${id}, not text`);
  }
  const found = JSON.parse(text) as { job: Record<string, unknown>; artifacts: Record<string, unknown>[] };
  return {
    job: fromJsonRow(jobs, found.job),
    artifacts: found.artifacts.map((artifact) => fromJsonRow(artifacts, artifact)),
  };
}

/**
 * A row as Postgres's row_to_json writes it (column names as keys, JSON values) → the row type Drizzle's select
 * returns, through each column's own decoder: timestamps become Dates, bigints numbers. json/jsonb values are
 * already decoded (decoding them again would break a stored JSON string).
 */
function fromJsonRow<T extends Table>(table: T, json: Record<string, unknown>): T["$inferSelect"] {
  const row: Record<string, unknown> = {};
  for (const [key, column] of Object.entries(getTableColumns(table))) {
    if (!(column.name in json)) {
      throw new Error(
        `fromJsonRow: column '${column.name}' is missing from the row (is migration 0003 current?)`,
      );
    }
    const value = json[column.name];
    row[key] = value === null || column.dataType === "json" ? value : column.mapFromDriverValue(value);
  }
  return row as T["$inferSelect"];
}

export function listJobs(
  db: Db,
  tenantId: string,
  page: PageRequest & { kind?: JobKind; status?: JobStatus },
): Promise<Page<Job>> {
  return inTenantScope(db, tenantId, async (tx) => {
    const rows = await tx.select().from(jobs)
      .where(and(
        eq(jobs.tenantId, tenantId),
        page.kind ? eq(jobs.kind, page.kind) : undefined,
        page.status ? eq(jobs.status, page.status) : undefined,
        afterCursor(keyset, tenantId, page.cursor),
      ))
      .orderBy(...newestFirst(keyset)).limit(page.limit + 1);
    return toPage(rows, page.limit);
  });
}

/** Events of a job in order, after event id `afterId` (SSE Last-Event-ID); empty for another tenant's job. */
export function listJobEvents(
  db: Db,
  tenantId: string,
  jobId: string,
  opts: { afterId?: number; limit?: number } = {},
): Promise<JobEvent[]> {
  if (!isUuid(jobId)) return Promise.resolve([]);
  return inTenantScope(db, tenantId, (tx) =>
    tx.select().from(jobEvents)
      .where(and(
        eq(jobEvents.tenantId, tenantId),
        eq(jobEvents.jobId, jobId),
        opts.afterId !== undefined ? gt(jobEvents.id, opts.afterId) : undefined,
      ))
      .orderBy(asc(jobEvents.id)).limit(opts.limit ?? 1000));
}

/** Published artifacts of a job (present only once it succeeded). */
export function listArtifacts(db: Db, tenantId: string, jobId: string): Promise<Artifact[]> {
  if (!isUuid(jobId)) return Promise.resolve([]);
  return inTenantScope(db, tenantId, (tx) =>
    tx.select().from(artifacts)
      .where(and(eq(artifacts.tenantId, tenantId), eq(artifacts.jobId, jobId)))
      .orderBy(asc(artifacts.name)));
}

export function getArtifact(db: Db, tenantId: string, jobId: string, name: string): Promise<Artifact | null> {
  if (!isUuid(jobId)) return Promise.resolve(null);
  return inTenantScope(db, tenantId, async (tx) => {
    const [artifact] = await tx.select().from(artifacts)
      .where(and(eq(artifacts.tenantId, tenantId), eq(artifacts.jobId, jobId), eq(artifacts.name, name)));
    return artifact ?? null;
  });
}
