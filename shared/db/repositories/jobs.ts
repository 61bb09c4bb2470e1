/**
 * Tenant-facing reads of jobs, their events and artifacts (writes go through the queue, queue.ts). Every call
 * takes the tenant id and runs under row-level security for it.
 */
import { and, asc, eq, gt } from "drizzle-orm";
import type { Db } from "../database.ts";
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
