/**
 * Tenant-facing reads of jobs, their events and artifacts (writes go through the queue, queue.ts). Every call
 * takes the tenant id and runs under row-level security for it.
 */
import { and, asc, desc, eq, getTableColumns, getTableName, gt, type Table } from "drizzle-orm";
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

/** A job with its artifacts (in name order), as `getJobWithArtifacts` and `getJobsWithArtifacts` return it. */
export interface JobWithArtifacts {
  job: Job;
  artifacts: Artifact[];
}

/**
 * A job and its artifacts in one statement: the function `profs_tenant_jobs` (migration 0003) switches to
 * the tenant's row-level-security scope and reads both, so this costs one round trip where `getJob` +
 * `listArtifacts` cost two transactions. Null for another tenant's job or a non-uuid id.
 */
export async function getJobWithArtifacts(
  db: Db,
  tenantId: string,
  id: string,
): Promise<JobWithArtifacts | null> {
  return (await getJobsWithArtifacts(db, tenantId, [id])).get(id.toLowerCase()) ?? null;
}

/**
 * Several jobs of one tenant with their artifacts, in the same single statement as `getJobWithArtifacts`; the map
 * holds the ids the tenant owns, keyed by the id as Postgres writes it (lower case); others' ids, unknown ids and
 * non-uuids are absent.
 */
export async function getJobsWithArtifacts(
  db: Db,
  tenantId: string,
  ids: string[],
): Promise<Map<string, JobWithArtifacts>> {
  if (!isUuid(tenantId)) throw new Error(`getJobsWithArtifacts: tenant id must be a uuid, got '${tenantId}'`);
  const found = new Map<string, JobWithArtifacts>();
  const wanted = ids.filter(isUuid);
  if (wanted.length === 0) return found;
  // A uuid[] literal as text ('{id,id}'): the ids are checked uuids, and one text parameter binds the same way
  // on both drivers.
  const text = await queryFirstValue(db, "SELECT profs_tenant_jobs($1, $2::uuid[])", [
    tenantId,
    `{${wanted.join(",")}}`,
  ]);
  if (typeof text !== "string") {
    throw new Error(
      `getJobsWithArtifacts: profs_tenant_jobs returned ${typeof text}, not text, for ${ids.length} ids`,
    );
  }
  for (
    const entry of JSON.parse(text) as {
      job: Record<string, unknown>;
      artifacts: Record<string, unknown>[];
    }[]
  ) {
    const job = readJobJson(entry.job);
    found.set(job.id, {
      job,
      artifacts: entry.artifacts.map(readArtifactJson),
    });
  }
  return found;
}

/**
 * A row as Postgres's row_to_json writes it (column names as keys, JSON values) → the row type Drizzle's select
 * returns, through each column's own decoder: timestamps become Dates, bigints numbers. json/jsonb values are
 * already decoded (decoding them again would break a stored JSON string).
 */
function jsonRowReader<T extends Table>(table: T): (json: Record<string, unknown>) => T["$inferSelect"] {
  const columns = Object.entries(getTableColumns(table)).map(([key, column]) => ({
    key,
    name: column.name,
    decode: column.dataType === "json" ? null : (value: unknown) => column.mapFromDriverValue(value),
  }));
  return (json) => {
    const row: Record<string, unknown> = {};
    for (const { key, name, decode } of columns) {
      const value = json[name];
      if (value === undefined) {
        throw new Error(`Cannot read a ${getTableName(table)} row as column '${name}' is missing from it`);
      }
      row[key] = value === null || decode === null ? value : decode(value);
    }
    return row as T["$inferSelect"];
  };
}

const readJobJson = jsonRowReader(jobs);
const readArtifactJson = jsonRowReader(artifacts);

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

/** The newest job of `kind` on a model (its Hub import), or null. */
export function latestModelJob(
  db: Db,
  tenantId: string,
  modelId: string,
  kind: JobKind,
): Promise<Job | null> {
  if (!isUuid(modelId)) return Promise.resolve(null);
  return inTenantScope(db, tenantId, async (tx) => {
    const [job] = await tx.select().from(jobs)
      .where(and(eq(jobs.tenantId, tenantId), eq(jobs.modelId, modelId), eq(jobs.kind, kind)))
      .orderBy(desc(jobs.createdAt)).limit(1);
    return job ?? null;
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
