/**
 * The routes every job collection (/v1/edits, /v1/tunes, /v1/checks) shares, in one place: finding a job of the
 * collection's kind as the tenant may see it, its cancel, its progress events (job_events.ts), the download of
 * an artifact (downloads.ts), and the Idempotency-Key header of its create route. Each collection adds its own create, get and list routes, whose views differ.
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { JobEventList } from "../../shared/contracts/edits.ts";
import { pgText } from "../../shared/contracts/text.ts";
import type { Db, Job, JobChanges } from "../../shared/db/index.ts";
import { getArtifact, getJob } from "../../shared/db/repositories/jobs.ts";
import type { ApiDeps } from "../deps.ts";
import type { ApiEnv } from "../env.ts";
import { ApiError, notFound } from "../errors.ts";
import type { StreamLimiter } from "../stream_limiter.ts";
import { IdParam, problems } from "./common.ts";
import { ARTIFACT_RESPONSES, downloadArtifact } from "./downloads.ts";
import { jobEventsAnswer } from "./job_events.ts";

export const IdempotencyHeader = z.object({
  "idempotency-key": pgText(z.string().min(1).max(255)).optional().meta({
    description: "a client-chosen key: repeating the request with the same key returns the same job",
  }),
});

/** Most events one JSON answer holds (`limit`'s default and cap); `has_more` says when more follow. */
const EVENTS_PAGE = 1_000;

export const EventsQuery = z.object({
  after: z.coerce.number().int().min(0).optional()
    .meta({ description: "only events with seq greater than this (JSON; SSE clients send Last-Event-ID)" }),
  limit: z.coerce.number().int().min(1).max(EVENTS_PAGE).default(EVENTS_PAGE)
    .meta({ description: "most events in one JSON answer (SSE streams them all)" }),
});

/** One job collection: the kind of its jobs, the noun its messages use, its OpenAPI tag. */
export interface JobCollection {
  kind: Job["kind"];
  /** "edit": in 404s ("No edit with id …") and stream names */
  noun: string;
  /** "edits" */
  tag: string;
}

/** The job `id` of the collection's kind as `tenantId` may see it, else a 404 naming the collection's noun. */
export async function findJob(db: Db, tenantId: string, id: string, of: JobCollection): Promise<Job> {
  const job = await getJob(db, tenantId, id);
  if (!job || job.kind !== of.kind) throw notFound(of.noun, id);
  return job;
}

/** `GET /{id}/events`: the job's progress events as SSE or JSON (job_events.ts). */
export function addEventsRoute(
  app: OpenAPIHono<ApiEnv>,
  deps: { db: Db; changes: JobChanges; streams: StreamLimiter },
  of: JobCollection,
  doc: { read: MiddlewareHandler<ApiEnv>; summary: string; description: string },
): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/{id}/events",
      tags: [of.tag],
      summary: doc.summary,
      description: doc.description,
      security: [{ apiKey: [] }],
      middleware: [doc.read] as const,
      request: { params: IdParam, query: EventsQuery },
      responses: {
        200: {
          description: "events",
          content: {
            "application/json": { schema: JobEventList },
            "text/event-stream": { schema: z.string() },
          },
        },
        ...problems(401, 403, 404, 429),
      },
    }),
    async (c) => {
      const { tenantId } = c.get("principal");
      const { id } = c.req.valid("param");
      return await jobEventsAnswer(c, {
        ...deps,
        tenantId,
        find: () => findJob(deps.db, tenantId, id, of),
        what: `${of.noun} '${id}'`,
        query: c.req.valid("query"),
      });
    },
  );
}

/** `GET /{id}/artifacts/{name}`: one artifact of the job, streamed with Range and ETag (downloads.ts). */
export function addArtifactRoute(
  app: OpenAPIHono<ApiEnv>,
  deps: ApiDeps,
  streams: StreamLimiter,
  of: JobCollection,
  doc: { read: MiddlewareHandler<ApiEnv>; summary: string; example: string },
): void {
  const params = IdParam.extend({
    name: pgText(z.string()).meta({ param: { name: "name", in: "path" }, example: doc.example }),
  });
  app.openapi(
    createRoute({
      method: "get",
      path: "/{id}/artifacts/{name}",
      tags: [of.tag],
      summary: doc.summary,
      description: "Streamed, with Content-Length, ETag (the sha256) and Range (one range, RFC 9110 §14).",
      security: [{ apiKey: [] }],
      middleware: [doc.read] as const,
      request: { params },
      responses: ARTIFACT_RESPONSES,
    }),
    async (c) => {
      const { tenantId } = c.get("principal");
      const { id, name } = c.req.valid("param");
      const job = await findJob(deps.database.db, tenantId, id, of);
      const artifact = await getArtifact(deps.database.db, tenantId, job.id, name);
      if (!artifact) throw notFound("artifact", `${id}/${name}`);
      return await downloadArtifact(deps, c, artifact, streams);
    },
  );
}

/**
 * `POST /{id}/cancel`: a queued job at once, a running one at its worker's next heartbeat; a finished one is a
 * 409. Answers with the job's view (`view`, documented by `schema`); `canceled` runs before it is read (a cache
 * to drop).
 */
export function addCancelRoute<S extends z.ZodType>(
  app: OpenAPIHono<ApiEnv>,
  deps: ApiDeps,
  of: JobCollection,
  doc: {
    write: MiddlewareHandler<ApiEnv>;
    summary: string;
    schema: S;
    view: (db: Db, job: Job) => Promise<z.infer<S>>;
    canceled?: (id: string) => void;
  },
): void {
  const { db } = deps.database;
  app.openapi(
    createRoute({
      method: "post",
      path: "/{id}/cancel",
      tags: [of.tag],
      summary: doc.summary,
      security: [{ apiKey: [] }],
      middleware: [doc.write] as const,
      request: { params: IdParam },
      responses: {
        200: {
          description: "canceled, or cancel requested (cancel_requested: true)",
          content: { "application/json": { schema: doc.schema } },
        },
        ...problems(401, 403, 404, 409),
      },
    }),
    async (c) => {
      const { tenantId } = c.get("principal");
      const { id } = c.req.valid("param");
      await findJob(db, tenantId, id, of);
      const job = await deps.queue.requestCancel(db, tenantId, id);
      doc.canceled?.(id);
      if (!job) throw notFound(of.noun, id);
      if (job.status === "succeeded" || job.status === "failed") {
        const noun = of.noun[0].toUpperCase() + of.noun.slice(1);
        throw new ApiError(
          409,
          "conflict",
          `${noun} '${id}' already finished (${job.status}); nothing to cancel`,
        );
      }
      return c.json(await doc.view(db, job), 200);
    },
  );
}
