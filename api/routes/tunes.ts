/**
 * /v1/tunes: search layer ranges, ranks and centering for the edit that best trades the held-out preference
 * margin (or toxicity) against KL to the base model — `profs tune` as a job — then follow it (state, progress,
 * every finished trial as a `trial` event, as SSE or JSON), cancel it, and download the chosen edit's files,
 * tune.json and report.html. Tunes use the `edits:*` scopes: a tune reads models and datasets and produces an
 * edit. Idempotency-Key, events and downloads work as for /v1/edits.
 */
import { createHash } from "node:crypto";
import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import {
  checkPairsForRank,
  checkRankForHiddenSize,
  heldOutCount,
  HOLDOUT,
} from "../../shared/contracts/edit_params.ts";
import { Progress } from "../../shared/contracts/edits.ts";
import type { ModelSummary } from "../../shared/contracts/models.ts";
import {
  layerRangesOfGrid,
  TuneCreate,
  TuneJobParams,
  TuneListQuery,
  TunePage,
  TuneParams,
  type TuneResult,
  TuneView,
} from "../../shared/contracts/tunes.ts";
import { type Db, IdempotencyConflictError, type Job, type JobChanges } from "../../shared/db/index.ts";
import { getDataset } from "../../shared/db/repositories/datasets.ts";
import { listArtifacts, listJobs } from "../../shared/db/repositories/jobs.ts";
import { InputError } from "../../shared/errors.ts";
import type { ApiDeps } from "../deps.ts";
import type { ApiEnv } from "../env.ts";
import { ApiError, notFound, validationHook } from "../errors.ts";
import { requireScope } from "../middleware/auth.ts";
import { IdParam, jsonLimit, problems, refuseWithoutForward } from "./common.ts";
import {
  addArtifactRoute,
  addCancelRoute,
  addEventsRoute,
  findJob,
  IdempotencyHeader,
  type JobCollection,
} from "./job_routes.ts";
import { readyModel } from "./prepare_edit.ts";
import type { StreamLimiter } from "../stream_limiter.ts";

const TUNES: JobCollection = { kind: "tune", noun: "tune", tag: "tunes" };

export function tunesRoutes(deps: ApiDeps, changes: JobChanges, streams: StreamLimiter) {
  const app = new OpenAPIHono<ApiEnv>({ defaultHook: validationHook });
  const { db } = deps.database;
  const queue = deps.queue;
  const read = requireScope("edits:read");
  const write = requireScope("edits:write");

  app.openapi(
    createRoute({
      method: "post",
      path: "/",
      tags: ["tunes"],
      summary:
        "Start a tune: search for the edit with the best margin (or toxicity) for its KL, then make it",
      security: [{ apiKey: [] }],
      middleware: [write, jsonLimit(deps)] as const,
      request: {
        headers: IdempotencyHeader,
        body: { required: true, content: { "application/json": { schema: TuneCreate } } },
      },
      responses: {
        201: { description: "job created", content: { "application/json": { schema: TuneView } } },
        200: {
          description: "the job an earlier request with this Idempotency-Key created",
          content: { "application/json": { schema: TuneView } },
        },
        ...problems(400, 401, 403, 404, 409, 413, 415, 422),
      },
    }),
    async (c) => {
      const { tenantId } = c.get("principal");
      const body = c.req.valid("json");
      const key = c.req.valid("header")["idempotency-key"];
      const input = await prepareTune(db, tenantId, body);
      if (key === undefined) return c.json(await tuneView(db, await queue.enqueue(db, input)), 201);
      const requestHash = createHash("sha256")
        .update(JSON.stringify({ route: "POST /v1/tunes", ...input, tenantId: undefined }))
        .digest("hex");
      try {
        const { job, created } = await queue.enqueueIdempotent(db, { ...input, key, requestHash });
        const view = await tuneView(db, job);
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
      tags: ["tunes"],
      summary: "Get a tune: status, progress, error, result (the chosen point, the front) and artifact links",
      security: [{ apiKey: [] }],
      middleware: [read] as const,
      request: { params: IdParam },
      responses: {
        200: { description: "the tune", content: { "application/json": { schema: TuneView } } },
        ...problems(401, 403, 404),
      },
    }),
    async (c) => {
      const { tenantId } = c.get("principal");
      return c.json(await tuneView(db, await findJob(db, tenantId, c.req.valid("param").id, TUNES)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/",
      tags: ["tunes"],
      summary: "List tunes, newest first, optionally by status",
      security: [{ apiKey: [] }],
      middleware: [read] as const,
      request: { query: TuneListQuery },
      responses: {
        200: { description: "a page of tunes", content: { "application/json": { schema: TunePage } } },
        ...problems(401, 403, 422),
      },
    }),
    async (c) => {
      const { tenantId } = c.get("principal");
      const page = await listJobs(db, tenantId, { ...c.req.valid("query"), kind: "tune" });
      const data = await Promise.all(page.items.map((job) => tuneView(db, job)));
      return c.json({ data, next_cursor: page.nextCursor }, 200);
    },
  );

  addCancelRoute(app, deps, TUNES, {
    write,
    summary: "Cancel a tune: a queued one at once, a running one at its worker's next heartbeat",
    schema: TuneView,
    view: tuneView,
  });

  addEventsRoute(app, { db, changes, streams }, TUNES, {
    read,
    summary: "Progress and trial events: Server-Sent Events (Accept: text/event-stream) or JSON",
    description: "As for edits; a tune adds one `trial` event per finished trial (its layers, rank, " +
      "centering, margin, KL, perplexity and toxicity), recorded as it finishes, so a retried attempt " +
      "resumes the search without repeating one.",
  });

  addArtifactRoute(app, deps, streams, TUNES, {
    read,
    summary: "Download an artifact (tune.json, report.html, the chosen edit's model files, patch, report)",
    example: "tune.json",
  });

  return app;
}

/**
 * Checks a tune's model, datasets and parameters before a job is queued: a ready model profs can run forward;
 * a pairs dataset; texts datasets for the prompts and benign texts; the layer grid within the model's blocks;
 * the largest rank within the hidden size. Each refusal is the status the route documents (404, 409, 422).
 */
async function prepareTune(db: Db, tenantId: string, body: TuneCreate) {
  const model = await readyModel(db, tenantId, body.model_id);
  refuseWithoutForward(model, "tune", "model_id");
  const dataset = await getDataset(db, tenantId, body.dataset_id);
  if (!dataset) throw notFound("dataset", body.dataset_id);
  if (dataset.kind !== "pairs") {
    throw fieldError(
      "dataset_id",
      `Cannot tune with dataset '${dataset.id}' as it must be pairs: it is ${dataset.kind}`,
    );
  }
  for (const field of ["prompts_dataset_id", "benign_dataset_id"] as const) {
    const id = body[field];
    if (id === undefined) continue;
    const texts = await getDataset(db, tenantId, id);
    if (!texts) throw notFound("dataset", id);
    if (texts.kind !== "texts") {
      throw fieldError(
        field,
        `Cannot use dataset '${id}' as '${field}' must name a texts dataset: it is ${texts.kind}`,
      );
    }
  }
  const summary = model.summary as ModelSummary;
  const params = body.params;
  // The search measures every candidate on held-out pairs: a dataset too small to hold any out, or a holdout of
  // 0, is refused now rather than by the worker (identical-text pairs are found only there, from the texts).
  const sampled = Math.min(dataset.rows, params.max_pairs);
  const heldOut = heldOutCount(sampled, params.holdout);
  if (heldOut === 0) {
    throw fieldError(
      params.holdout === 0 ? "params.holdout" : "dataset_id",
      `Cannot tune as it measures each candidate on held-out pairs: ${
        params.holdout === 0
          ? "'holdout' must be above 0"
          : `dataset '${dataset.id}' must have at least ${
            2 * HOLDOUT.min
          } pairs (after 'max_pairs') to hold ` +
            `${HOLDOUT.min} out: it has ${sampled}`
      }`,
    );
  }
  check("params.max_rank", () =>
    checkPairsForRank({
      rank: params.max_rank,
      available: dataset.rows,
      maxPairs: params.max_pairs,
      heldOut,
      source: `dataset '${dataset.id}'`,
    }));
  check(
    "params.layers_grid",
    () => params.layers_grid && layerRangesOfGrid(params.layers_grid, summary.num_layers),
  );
  check(
    "params.max_rank",
    () => checkRankForHiddenSize(params.max_rank, summary.hidden_size, params.centering !== "off"),
  );
  const jobParams: TuneJobParams = {
    ...params,
    ...(body.prompts_dataset_id ? { prompts_dataset_id: body.prompts_dataset_id } : {}),
    ...(body.benign_dataset_id ? { benign_dataset_id: body.benign_dataset_id } : {}),
  };
  return { tenantId, kind: "tune" as const, params: jobParams, modelId: model.id, datasetId: dataset.id };
}

function check(path: string, fn: () => unknown): void {
  try {
    fn();
  } catch (error) {
    if (error instanceof InputError) throw fieldError(path, error.message);
    throw error;
  }
}

function fieldError(path: string, message: string): ApiError {
  return new ApiError(422, "validation-error", message, { errors: [{ path, message }] });
}

async function tuneView(db: Db, job: Job): Promise<TuneView> {
  const self = `/v1/tunes/${job.id}`;
  const { prompts_dataset_id, benign_dataset_id, ...params } = TuneJobParams.parse(job.params);
  const progress = job.progress === null ? null : Progress.safeParse(job.progress);
  const artifacts = job.status === "succeeded" ? await listArtifacts(db, job.tenantId, job.id) : [];
  return {
    id: job.id,
    object: "tune",
    status: job.status,
    model_id: job.modelId,
    dataset_id: job.datasetId,
    prompts_dataset_id: prompts_dataset_id ?? null,
    benign_dataset_id: benign_dataset_id ?? null,
    params: TuneParams.parse(params),
    progress: progress?.success ? progress.data : null,
    attempts: job.attempt,
    max_attempts: job.maxAttempts,
    cancel_requested: job.cancelRequestedAt !== null,
    created_at: job.createdAt.toISOString(),
    started_at: job.startedAt?.toISOString() ?? null,
    finished_at: job.finishedAt?.toISOString() ?? null,
    error: job.error === null ? null : { message: job.error },
    result: (job.result ?? null) as TuneResult | null,
    artifacts: artifacts.map((a) => ({
      name: a.name,
      size: a.size,
      sha256: a.sha256,
      url: `${self}/artifacts/${encodeURIComponent(a.name)}`,
    })),
    links: { self, events: `${self}/events`, cancel: `${self}/cancel` },
  };
}
