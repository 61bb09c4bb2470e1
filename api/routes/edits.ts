/**
 * /v1/edits: submit a ProFS edit (a job on the queue), follow it (state, progress, events as SSE or JSON),
 * cancel it, and download what it produced. The event stream is job_events.ts, the downloads downloads.ts.
 */
import { createHash } from "node:crypto";
import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import type { Context, TypedResponse } from "hono";
import {
  EditCreate,
  EditListQuery,
  EditPage,
  type EditResult,
  EditView,
  Progress,
} from "../../shared/contracts/edits.ts";
import {
  type Artifact,
  type Db,
  FEED_TRUST_MS,
  IdempotencyConflictError,
  isUuid,
  type Job,
  type JobChanges,
} from "../../shared/db/index.ts";
import { getJobsWithArtifacts, listArtifacts, listJobs } from "../../shared/db/repositories/jobs.ts";
import { enqueueHolding, prepareEdit } from "./prepare_edit.ts";
import type { ApiDeps } from "../deps.ts";
import type { ApiEnv } from "../env.ts";
import { ApiError, notFound, validationHook } from "../errors.ts";
import { requireScope } from "../middleware/auth.ts";
import { createChangeCache } from "../change_cache.ts";
import { createReadBatcher } from "../read_batcher.ts";
import {
  addArtifactRoute,
  addCancelRoute,
  addEventsRoute,
  IdempotencyHeader,
  type JobCollection,
} from "./job_routes.ts";
import type { StreamLimiter } from "../stream_limiter.ts";
import { IdParam, jsonLimit, problems } from "./common.ts";

/**
 * Most edits whose view GET /v1/edits/{id} keeps between polls: a view with a large result (per-layer spectra
 * and top tokens) is tens of kB, so this bounds the cache to some tens of MB.
 */
const CACHED_EDITS = 1_000;

/** An edit as GET /v1/edits/{id} caches it: the job and its view (and, once the view is final, its JSON). */
interface CachedEdit {
  job: Job;
  view: EditView;
  /** the view as JSON, once the job finished: from then on its view no longer depends on the clock */
  body?: string;
}

const EDITS: JobCollection = { kind: "edit", noun: "edit", tag: "edits" };

export function editsRoutes(deps: ApiDeps, changes: JobChanges, streams: StreamLimiter) {
  const app = new OpenAPIHono<ApiEnv>({ defaultHook: validationHook });
  const { db } = deps.database;
  const queue = deps.queue;
  const read = requireScope("edits:read");
  const write = requireScope("edits:write");
  // Polls of different jobs of one tenant that miss the cache together: one statement (job and artifacts,
  // row-level security included) per batch.
  const jobReads = createReadBatcher((tenantId: string, ids: string[]) =>
    getJobsWithArtifacts(db, tenantId, ids)
  );
  // Polls of a job that did not change since the last one cost no statement: the change feed drops a job's entry
  // when its row, artifacts or events change.
  const edits = createChangeCache<CachedEdit>({
    enabled: () => changes.live,
    maxAgeMs: FEED_TRUST_MS,
    maxEntries: CACHED_EDITS,
  });
  changes.watchAll({ onChange: (id) => edits.invalidate(id), onReset: () => edits.clear() });
  const readEdit = (
    tenantId: string,
    id: string,
  ): CachedEdit | Promise<CachedEdit | undefined> | undefined => {
    if (!isUuid(id)) return undefined;
    const key = id.toLowerCase();
    return edits.get(tenantId, key) ?? edits.load(tenantId, key, async () => {
      const found = await jobReads.read(tenantId, key);
      if (!found || found.job.kind !== "edit") return undefined;
      const view = renderEditView(found.job, found.artifacts);
      return { job: found.job, view, body: found.job.finishedAt ? JSON.stringify(view) : undefined };
    });
  };

  app.openapi(
    createRoute({
      method: "post",
      path: "/",
      tags: ["edits"],
      summary: "Start an edit: a job that edits a ready model with a dataset",
      security: [{ apiKey: [] }],
      middleware: [write, jsonLimit(deps)] as const,
      request: {
        headers: IdempotencyHeader,
        body: { required: true, content: { "application/json": { schema: EditCreate } } },
      },
      responses: {
        201: { description: "job created", content: { "application/json": { schema: EditView } } },
        200: {
          description: "the job an earlier request with this Idempotency-Key created",
          content: { "application/json": { schema: EditView } },
        },
        ...problems(400, 401, 403, 404, 409, 413, 415, 422),
      },
    }),
    async (c) => {
      const { tenantId } = c.get("principal");
      const body = c.req.valid("json");
      const key = c.req.valid("header")["idempotency-key"];
      const input = await prepareEdit(db, tenantId, body);
      const uses = { modelId: input.modelId, datasetIds: [input.datasetId] };
      if (key === undefined) {
        const job = await enqueueHolding(db, tenantId, uses, (tx) => queue.enqueue(tx, input));
        return c.json(await editView(db, job), 201);
      }
      const requestHash = createHash("sha256")
        .update(
          JSON.stringify({
            route: "POST /v1/edits",
            model_id: input.modelId,
            dataset_id: input.datasetId,
            params: input.params,
          }),
        )
        .digest("hex");
      try {
        const { job, created } = await enqueueHolding(
          db,
          tenantId,
          uses,
          (tx) => queue.enqueueIdempotent(tx, { ...input, key, requestHash }),
        );
        const view = await editView(db, job);
        if (created) return c.json(view, 201);
        c.header("Idempotent-Replayed", "true");
        return c.json(view, 200);
      } catch (error) {
        if (error instanceof IdempotencyConflictError) {
          throw new ApiError(422, "idempotency-key-reused", error.message);
        }
        throw error;
      }
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/{id}",
      tags: ["edits"],
      summary: "Get an edit: status, progress, attempts, timings, error, result and artifact links",
      security: [{ apiKey: [] }],
      middleware: [read] as const,
      request: { params: IdParam },
      responses: {
        200: { description: "the edit", content: { "application/json": { schema: EditView } } },
        ...problems(401, 403, 404),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const edit = await readEdit(c.get("principal").tenantId, id);
      if (!edit) throw notFound("edit", id);
      if (edit.body !== undefined) return finishedView(c, edit.body);
      return c.json({ ...edit.view, timings: timings(edit.job, new Date()) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/",
      tags: ["edits"],
      summary: "List edits, newest first, optionally by status",
      security: [{ apiKey: [] }],
      middleware: [read] as const,
      request: { query: EditListQuery },
      responses: {
        200: { description: "a page of edits", content: { "application/json": { schema: EditPage } } },
        ...problems(401, 403, 422),
      },
    }),
    async (c) => {
      const { tenantId } = c.get("principal");
      const query = c.req.valid("query");
      const page = await listJobs(db, tenantId, { ...query, kind: "edit" });
      const data = await Promise.all(page.items.map((job) => editView(db, job)));
      return c.json({ data, next_cursor: page.nextCursor }, 200);
    },
  );

  addCancelRoute(app, deps, EDITS, {
    write,
    summary: "Cancel an edit: a queued one at once, a running one at its worker's next heartbeat",
    schema: EditView,
    view: editView,
    // This process's next read must see the cancel even before the feed reports it.
    canceled: (id) => edits.invalidate(id.toLowerCase()),
  });

  addEventsRoute(app, { db, changes, streams }, EDITS, {
    read,
    summary: "Progress events: Server-Sent Events (Accept: text/event-stream) or JSON",
    description: "SSE: every event so far (after Last-Event-ID when reconnecting), then new ones as they " +
      "happen; the stream ends after the job's terminal event. Each SSE event has `id` = seq, `event` = type " +
      "and `data` = the JobEvent as JSON; a tenant holds at most PROFS_MAX_STREAMS_PER_TENANT streams and " +
      "downloads at once (429 with Retry-After beyond). JSON: the events so far (after `?after=`, at most `limit`; " +
      "`has_more` when more follow).",
  });

  addArtifactRoute(app, deps, streams, EDITS, {
    read,
    summary: "Download an artifact (edited model files, patch.safetensors, report.json, README.md)",
    example: "patch.safetensors",
  });

  return app;
}

function seconds(from: Date | null, to: Date | null): number | null {
  return from && to ? Math.max(0, (to.getTime() - from.getTime()) / 1000) : null;
}

async function editView(db: Db, job: Job): Promise<EditView> {
  const artifacts = job.status === "succeeded" ? await listArtifacts(db, job.tenantId, job.id) : [];
  return renderEditView(job, artifacts);
}

/** A finished edit's cached view, already JSON, answered as `c.json` would answer it. */
function finishedView(c: Context<ApiEnv>, body: string): TypedResponse<EditView, 200, "json"> {
  return c.body(body, 200, { "Content-Type": "application/json" }) as unknown as TypedResponse<
    EditView,
    200,
    "json"
  >;
}

/** How long the job waited and ran so far (until `now` while it waits or runs). */
function timings(job: Job, now: Date): EditView["timings"] {
  return {
    queued_seconds: seconds(job.createdAt, job.attemptedAt ?? (job.finishedAt ?? now)),
    running_seconds: seconds(job.attemptedAt, job.finishedAt ?? (job.status === "running" ? now : null)),
  };
}

/** The edit as the API shows it; artifacts are listed only once the job succeeded (they are its outputs). */
function renderEditView(job: Job, jobArtifacts: Artifact[]): EditView {
  const self = `/v1/edits/${job.id}`;
  const artifacts = job.status === "succeeded" ? jobArtifacts : [];
  // A queued job has no progress yet: skip the parse (a failed zod parse builds an error object per poll).
  const progress = job.progress === null ? null : Progress.safeParse(job.progress);
  return {
    id: job.id,
    object: "edit",
    status: job.status,
    model_id: job.modelId,
    dataset_id: job.datasetId,
    params: job.params as EditView["params"],
    progress: progress?.success ? progress.data : null,
    attempts: job.attempt,
    max_attempts: job.maxAttempts,
    cancel_requested: job.cancelRequestedAt !== null,
    created_at: job.createdAt.toISOString(),
    started_at: job.startedAt?.toISOString() ?? null,
    finished_at: job.finishedAt?.toISOString() ?? null,
    timings: timings(job, new Date()),
    error: job.error === null ? null : { message: job.error },
    result: (job.result ?? null) as EditResult | null,
    artifacts: artifacts.map((a) => ({
      name: a.name,
      size: a.size,
      sha256: a.sha256,
      url: `${self}/artifacts/${encodeURIComponent(a.name)}`,
    })),
    links: { self, events: `${self}/events`, cancel: `${self}/cancel` },
  };
}
