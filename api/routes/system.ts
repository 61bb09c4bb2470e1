/** Operational routes, no auth: liveness, readiness (database reachable), Prometheus metrics. */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { count, isNotNull, sql } from "drizzle-orm";
import { jobs } from "../../shared/db/schema.ts";
import type { Db } from "../../shared/db/database.ts";
import type { ApiDeps } from "../deps.ts";
import type { ApiEnv } from "../env.ts";
import { ApiError, validationHook } from "../errors.ts";
import { JOB_DURATION_BUCKETS, type JobMetrics, renderJobMetrics, type RequestMetrics } from "../metrics.ts";

const READY_TIMEOUT_MS = 2000;

const Health = z.object({ status: z.string() }).meta({ id: "Health" });

export function systemRoutes(deps: ApiDeps, requestMetrics: RequestMetrics) {
  const app = new OpenAPIHono<ApiEnv>({ defaultHook: validationHook });
  const db = deps.database.db;

  app.openapi(
    createRoute({
      method: "get",
      path: "/healthz",
      tags: ["system"],
      summary: "Liveness: the process serves requests",
      responses: { 200: { description: "alive", content: { "application/json": { schema: Health } } } },
    }),
    (c) => c.json({ status: "ok" }, 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/readyz",
      tags: ["system"],
      summary: "Readiness: the database answers",
      responses: {
        200: { description: "ready", content: { "application/json": { schema: Health } } },
        503: { description: "the database is not reachable" },
      },
    }),
    async (c) => {
      try {
        await withTimeout(db.execute(sql`SELECT 1`), READY_TIMEOUT_MS);
      } catch (error) {
        deps.logger.warn("readiness check failed", { request_id: c.get("requestId"), error });
        throw new ApiError(503, "service-unavailable", "The database is not reachable");
      }
      return c.json({ status: "ready" }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/metrics",
      tags: ["system"],
      summary: "Prometheus metrics: requests, jobs by state, job durations",
      responses: { 200: { description: "Prometheus text format 0.0.4" } },
    }),
    async (c) => {
      const body = requestMetrics.render() + renderJobMetrics(await jobMetrics(db));
      return c.body(body, 200, { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" });
    },
  );

  return app;
}

/** Jobs of every tenant: the operator's view. */
export async function jobMetrics(db: Db): Promise<JobMetrics> {
  const byState = await db.select({ kind: jobs.kind, status: jobs.status, count: count() })
    .from(jobs).groupBy(jobs.kind, jobs.status);
  const seconds = sql`extract(epoch from ${jobs.finishedAt} - ${jobs.startedAt})`;
  const bucketColumns = Object.fromEntries(
    JOB_DURATION_BUCKETS.map((
      le,
      i,
    ) => [`b${i}`, sql<number>`(count(*) filter (where ${seconds} <= ${le}))::int`]),
  );
  const rows = await db.select({
    kind: jobs.kind,
    status: jobs.status,
    count: sql<number>`count(*)::int`,
    sum: sql<number>`coalesce(sum(${seconds}), 0)::float8`,
    ...bucketColumns,
  }).from(jobs).where(sql`${isNotNull(jobs.finishedAt)} and ${isNotNull(jobs.startedAt)}`)
    .groupBy(jobs.kind, jobs.status);
  return {
    byState: byState.map((r) => ({ kind: r.kind, status: r.status, count: Number(r.count) })),
    durations: rows.map((r) => {
      const row = r as Record<string, unknown>;
      return {
        kind: r.kind,
        status: r.status,
        count: Number(r.count),
        sum: Number(r.sum),
        buckets: JOB_DURATION_BUCKETS.map((_, i) => Number(row[`b${i}`])),
      };
    }),
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
