/**
 * /v1/checks: evaluation jobs on a ready model or on a succeeded edit — toxicity of greedy
 * continuations of challenge prompts, perplexity on held-out text, KL to the base model on benign prompts. A
 * check publishes check.json (its figures) and, of an edit, report.html (the edit's report with before/after
 * charts). Prompts and texts are the tenant's `texts` datasets named in the params, else the built-in sets.
 * Checks use the `edits:*` scopes: they read models and edits and queue work like an edit does.
 */
import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { Progress } from "../../shared/contracts/edits.ts";
import { getJob, listArtifacts, listJobs } from "../../shared/db/repositories/jobs.ts";
import type { Db, Job } from "../../shared/db/index.ts";
import { CHECK_DATASETS, type CheckDatasetParam, CheckParams } from "../../shared/contracts/checks.ts";
import { getDataset } from "../../shared/db/repositories/datasets.ts";
import { getModel } from "../../shared/db/repositories/models.ts";
import {
  CheckCreate,
  type CheckJobResult,
  CheckListQuery,
  CheckPage,
  CheckView,
} from "../../shared/contracts/check_api.ts";
import { enqueueHolding, readyModel } from "./prepare_edit.ts";
import type { ApiDeps } from "../deps.ts";
import type { ApiEnv } from "../env.ts";
import { ApiError, notFound, validationHook } from "../errors.ts";
import { requireScope } from "../middleware/auth.ts";
import { IdParam, jsonLimit, problems, refuseWithoutForward } from "./common.ts";
import { addArtifactRoute, findJob, type JobCollection } from "./job_routes.ts";
import type { StreamLimiter } from "../stream_limiter.ts";

const CHECKS: JobCollection = { kind: "check", noun: "check", tag: "checks" };

export function checksRoutes(deps: ApiDeps, streams: StreamLimiter) {
  const app = new OpenAPIHono<ApiEnv>({ defaultHook: validationHook });
  const { db } = deps.database;
  const queue = deps.queue;
  const read = requireScope("checks:read");
  const write = requireScope("checks:write");

  app.openapi(
    createRoute({
      method: "post",
      path: "/",
      tags: ["checks"],
      summary: "Start a check of a model, or of an edit against its base model",
      security: [{ apiKey: [] }],
      middleware: [write, jsonLimit(deps)] as const,
      request: { body: { required: true, content: { "application/json": { schema: CheckCreate } } } },
      responses: {
        201: { description: "job created", content: { "application/json": { schema: CheckView } } },
        ...problems(400, 401, 403, 404, 409, 413, 415, 422),
      },
    }),
    async (c) => {
      const { tenantId } = c.get("principal");
      const body = c.req.valid("json");
      let modelId: string;
      if (body.edit_id !== undefined) {
        const edit = await getJob(db, tenantId, body.edit_id);
        if (!edit || edit.kind !== "edit") throw notFound("edit", body.edit_id);
        if (edit.status !== "succeeded") {
          throw new ApiError(
            409,
            "conflict",
            `Edit '${edit.id}' must have succeeded to be checked: it is ${edit.status}`,
          );
        }
        if (edit.modelId === null) {
          throw new ApiError(
            409,
            "conflict",
            `Edit '${edit.id}' cannot be checked as its base model was deleted`,
          );
        }
        modelId = edit.modelId;
        const base = await getModel(db, tenantId, modelId);
        if (base) refuseWithoutForward(base, "check", "edit_id");
      } else {
        const model = await readyModel(db, tenantId, body.model_id!);
        refuseWithoutForward(model, "check", "model_id");
        modelId = model.id;
      }
      await checkTextsDatasets(db, tenantId, body.params);
      const params: CheckParams = {
        ...body.params,
        ...(body.edit_id === undefined ? {} : { edit_id: body.edit_id }),
      };
      const datasetIds = Object.keys(CHECK_DATASETS).map((k) => body.params[k as CheckDatasetParam]);
      const job = await enqueueHolding(
        db,
        tenantId,
        { modelId, datasetIds },
        (tx) => queue.enqueue(tx, { tenantId, kind: "check", params, modelId }),
      );
      return c.json(await checkView(db, job), 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/{id}",
      tags: ["checks"],
      summary: "Get a check: status, progress, error, result and artifact links",
      security: [{ apiKey: [] }],
      middleware: [read] as const,
      request: { params: IdParam },
      responses: {
        200: { description: "the check", content: { "application/json": { schema: CheckView } } },
        ...problems(401, 403, 404),
      },
    }),
    async (c) => {
      const { tenantId } = c.get("principal");
      return c.json(await checkView(db, await findJob(db, tenantId, c.req.valid("param").id, CHECKS)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/",
      tags: ["checks"],
      summary: "List checks, newest first, optionally by status",
      security: [{ apiKey: [] }],
      middleware: [read] as const,
      request: { query: CheckListQuery },
      responses: {
        200: { description: "a page of checks", content: { "application/json": { schema: CheckPage } } },
        ...problems(401, 403, 422),
      },
    }),
    async (c) => {
      const { tenantId } = c.get("principal");
      const page = await listJobs(db, tenantId, { ...c.req.valid("query"), kind: "check" });
      const data = await Promise.all(page.items.map((job) => checkView(db, job)));
      return c.json({ data, next_cursor: page.nextCursor }, 200);
    },
  );

  addArtifactRoute(app, deps, streams, CHECKS, {
    read,
    summary: "Download a check's artifact (check.json; report.html for a check of an edit)",
    example: "report.html",
  });

  return app;
}

/** Each dataset the params name must be one of the tenant's `texts` datasets: 404 when absent, 422 of another kind. */
async function checkTextsDatasets(
  db: Db,
  tenantId: string,
  params: Partial<Record<CheckDatasetParam, string>>,
): Promise<void> {
  for (const [key, role] of Object.entries(CHECK_DATASETS) as [CheckDatasetParam, string][]) {
    const id = params[key];
    if (id === undefined) continue;
    const dataset = await getDataset(db, tenantId, id);
    if (!dataset) throw notFound("dataset", id);
    if (dataset.kind !== "texts") {
      const detail =
        `Cannot use dataset '${id}' as the ${role} as 'params.${key}' must name a texts dataset: it is ${dataset.kind}`;
      throw new ApiError(422, "validation-error", detail, {
        errors: [{ path: `params.${key}`, message: detail }],
      });
    }
  }
}

async function checkView(db: Db, job: Job): Promise<CheckView> {
  const self = `/v1/checks/${job.id}`;
  const { edit_id, ...params } = CheckParams.parse(job.params);
  const progress = Progress.safeParse(job.progress);
  const artifacts = job.status === "succeeded" ? await listArtifacts(db, job.tenantId, job.id) : [];
  return {
    id: job.id,
    object: "check",
    status: job.status,
    model_id: job.modelId,
    edit_id: edit_id ?? null,
    params,
    progress: progress.success ? progress.data : null,
    attempts: job.attempt,
    created_at: job.createdAt.toISOString(),
    finished_at: job.finishedAt?.toISOString() ?? null,
    error: job.error === null ? null : { message: job.error },
    result: (job.result ?? null) as CheckJobResult | null,
    artifacts: artifacts.map((a) => ({
      name: a.name,
      size: a.size,
      sha256: a.sha256,
      url: `${self}/artifacts/${encodeURIComponent(a.name)}`,
    })),
  };
}
