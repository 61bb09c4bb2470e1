/**
 * /v1/triggers: stored edit templates that a customer's pipeline fires with a signed inbound webhook.
 *
 * - `triggersRoutes` (behind API-key auth): create → `{id, secret}` (secret shown once), list, get, delete.
 * - `triggerFireRoutes` (mounted *before* API-key auth): `POST /v1/triggers/{id}/fire` is authenticated only by
 *   a Standard Webhooks signature made with the trigger's secret, over the exact body bytes; a timestamp more
 *   than 5 minutes off the server clock is refused, and a repeated `webhook-id` returns the edit its first call
 *   started instead of starting another (202 either way, `replayed` tells which).
 */
import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { EditParams } from "../../shared/contracts/edit_params.ts";
import { pageOf, PageQuery } from "../../shared/contracts/pagination.ts";
import type { Db } from "../../shared/db/database.ts";
import type { Trigger } from "../../shared/db/schema.ts";
import { getDataset } from "../../shared/db/repositories/datasets.ts";
import { getJob } from "../../shared/db/repositories/jobs.ts";
import { getModel } from "../../shared/db/repositories/models.ts";
import {
  TriggerCreate,
  TriggerFire,
  TriggerFired,
  TriggerTemplate,
  TriggerView,
  TriggerWithSecret,
} from "../../shared/contracts/webhooks.ts";
import {
  createTrigger,
  deleteTrigger,
  findTriggerForFire,
  fireTriggerOnce,
  getTrigger,
  listTriggers,
  ReplayedWithoutJobError,
} from "../../shared/db/repositories/webhooks.ts";
import { generateSecret, verifyWebhook, WebhookSignatureError } from "../../shared/webhooks/signature.ts";
import { enqueueHolding, prepareEdit } from "./prepare_edit.ts";
import type { ApiDeps } from "../deps.ts";
import type { ApiEnv } from "../env.ts";
import { ApiError, fieldErrors, notFound, validationHook } from "../errors.ts";
import { requireScope } from "../middleware/auth.ts";
import { IdParam, jsonLimit, problems, refuseTextsForEdit } from "./common.ts";

const TriggerPage = pageOf(TriggerView, "TriggerPage");

export interface TriggerRouteOptions {
  now?: () => Date;
}

export function triggersRoutes(deps: ApiDeps) {
  const app = new OpenAPIHono<ApiEnv>({ defaultHook: validationHook });
  const { db } = deps.database;
  // Creating a trigger lets signed calls start edits later, so it needs the right to start edits now.
  // A trigger starts edits, so creating one needs edits:write as well.
  const write = [requireScope("triggers:write"), requireScope("edits:write")] as const;
  const read = requireScope("triggers:read");
  const security = [{ apiKey: [] }];
  const tags = ["triggers"];

  app.openapi(
    createRoute({
      method: "post",
      path: "/",
      tags,
      security,
      summary:
        "Store an edit template to be fired by signed webhooks; the response holds its secret, shown once",
      middleware: [...write, jsonLimit(deps)] as const,
      request: { body: { required: true, content: { "application/json": { schema: TriggerCreate } } } },
      responses: {
        201: { description: "created", content: { "application/json": { schema: TriggerWithSecret } } },
        ...problems(400, 401, 403, 404, 413, 415, 422),
      },
    }),
    async (c) => {
      const { tenantId } = c.get("principal");
      const body = c.req.valid("json");
      const model = await getModel(db, tenantId, body.template.model_id);
      if (!model) throw notFound("model", body.template.model_id);
      if (body.template.dataset_id !== undefined) {
        const dataset = await getDataset(db, tenantId, body.template.dataset_id);
        if (!dataset) throw notFound("dataset", body.template.dataset_id);
        refuseTextsForEdit(dataset);
      }
      const row = await createTrigger(db, tenantId, {
        name: body.name,
        template: body.template,
        secret: generateSecret(),
      });
      return c.json({ ...triggerView(row), secret: row.secret }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/",
      tags,
      security,
      summary: "List triggers, newest first",
      middleware: [read] as const,
      request: { query: PageQuery },
      responses: {
        200: { description: "a page", content: { "application/json": { schema: TriggerPage } } },
        ...problems(401, 403, 422),
      },
    }),
    async (c) => {
      const page = await listTriggers(db, c.get("principal").tenantId, c.req.valid("query"));
      return c.json({ data: page.items.map(triggerView), next_cursor: page.nextCursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/{id}",
      tags,
      security,
      summary: "Get a trigger (without its secret)",
      middleware: [read] as const,
      request: { params: IdParam },
      responses: {
        200: { description: "the trigger", content: { "application/json": { schema: TriggerView } } },
        ...problems(401, 403, 404),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const row = await getTrigger(db, c.get("principal").tenantId, id);
      if (!row) throw notFound("trigger", id);
      return c.json(triggerView(row), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/{id}",
      tags,
      security,
      summary: "Delete a trigger; later fire calls answer 404",
      middleware: [write[0]] as const,
      request: { params: IdParam },
      responses: { 204: { description: "deleted" }, ...problems(401, 403, 404) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      if (!await deleteTrigger(db, c.get("principal").tenantId, id)) throw notFound("trigger", id);
      return c.body(null, 204);
    },
  );

  return app;
}

/** The unauthenticated-by-key half: mount at /v1/triggers before the API-key middleware. */
export function triggerFireRoutes(deps: ApiDeps, options: TriggerRouteOptions = {}) {
  const app = new OpenAPIHono<ApiEnv>({ defaultHook: validationHook });
  const { db } = deps.database;
  const queue = deps.queue;
  const now = options.now ?? (() => new Date());

  // Documented here, handled below with app.post: a body validator would parse the JSON before the signature
  // could be checked over the exact bytes that were signed.
  app.openAPIRegistry.registerPath({
    method: "post",
    path: "/{id}/fire",
    tags: ["triggers"],
    summary: "Fire a trigger: start an edit from its template (signed with the trigger's secret; no API key)",
    description:
      "Authenticated by Standard Webhooks headers `webhook-id`, `webhook-timestamp` (Unix seconds, " +
      "within 5 minutes of the server clock) and `webhook-signature` (`v1,<base64 HMAC-SHA256>` of " +
      "`{id}.{timestamp}.{body}` under the trigger's `whsec_` secret). The body may be empty. A repeated " +
      "`webhook-id` returns the edit the first call started.",
    // No API key: the signature authenticates the call (an empty list overrides any default security).
    security: [],
    request: {
      params: IdParam,
      body: { required: false, content: { "application/json": { schema: TriggerFire } } },
    },
    responses: {
      202: {
        description: "edit queued (or found)",
        content: { "application/json": { schema: TriggerFired } },
      },
      ...problems(400, 401, 404, 409, 413, 422),
    },
  });

  app.post("/:id/fire", jsonLimit(deps), async (c) => {
    const id = c.req.param("id");
    const trigger = await findTriggerForFire(db, id);
    if (!trigger) throw new ApiError(404, "not-found", `No trigger with id '${id}' exists`);
    const body = await c.req.text();
    const at = now();
    let webhookId: string;
    try {
      webhookId = (await verifyWebhook({ headers: c.req.raw.headers, body }, trigger.secret, { now: at })).id;
    } catch (error) {
      if (!(error instanceof WebhookSignatureError)) throw error;
      throw new ApiError(401, "unauthorized", error.message, {
        headers: { "WWW-Authenticate": 'Signature realm="profs-triggers", scheme="standard-webhooks-v1"' },
      });
    }
    const fire = parseFireBody(body);
    try {
      const { jobId, replayed } = await fireTriggerOnce(db, trigger, webhookId, at, async (tx) => {
        const input = await prepareFire(tx, trigger, fire);
        const uses = { modelId: input.modelId, datasetIds: [input.datasetId] };
        return (await enqueueHolding(tx, trigger.tenantId, uses, (held) => queue.enqueue(held, input))).id;
      });
      const job = await getJob(db, trigger.tenantId, jobId);
      return c.json({
        edit_id: jobId,
        status: job?.status ?? "queued",
        replayed,
        links: { edit: `/v1/edits/${jobId}` },
      }, 202);
    } catch (error) {
      if (error instanceof ReplayedWithoutJobError) throw new ApiError(409, "conflict", error.message);
      throw error;
    }
  });

  return app;
}

function parseFireBody(text: string): TriggerFire {
  if (text.trim() === "") return {};
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ApiError(400, "malformed-json", "The request body is not valid JSON");
  }
  const parsed = TriggerFire.safeParse(json);
  if (!parsed.success) {
    const errors = fieldErrors(parsed.error, "");
    throw new ApiError(
      422,
      "validation-error",
      `The request body is not valid: ${errors.map((e) => `${e.path || "(root)"}: ${e.message}`).join("; ")}`,
      { errors },
    );
  }
  return parsed.data;
}

/** The same checks as POST /v1/edits, on the template merged with the call's dataset and parameter overrides. */
async function prepareFire(tx: Db, trigger: Trigger, fire: TriggerFire) {
  const template = TriggerTemplate.parse(trigger.template);
  const tenantId = trigger.tenantId;
  const datasetId = fire.dataset_id ?? template.dataset_id;
  if (datasetId === undefined) {
    throw new ApiError(
      422,
      "validation-error",
      "Cannot fire the trigger as it has no dataset: name 'dataset_id'",
      {
        errors: [{ path: "dataset_id", message: "required: the template names no dataset" }],
      },
    );
  }
  const merged = EditParams.safeParse({ ...template.params, ...fire.params });
  if (!merged.success) {
    const errors = fieldErrors(merged.error, "params");
    throw new ApiError(
      422,
      "validation-error",
      `The parameters are not valid: ${errors.map((e) => `${e.path}: ${e.message}`).join("; ")}`,
      { errors },
    );
  }
  return await prepareEdit(tx, tenantId, {
    model_id: template.model_id,
    dataset_id: datasetId,
    params: merged.data,
  });
}

export function triggerView(row: Trigger): TriggerView {
  return {
    id: row.id,
    object: "trigger",
    name: row.name,
    template: TriggerTemplate.parse(row.template),
    created_at: row.createdAt.toISOString(),
    last_fired_at: row.lastFiredAt ? row.lastFiredAt.toISOString() : null,
    links: { fire: `/v1/triggers/${row.id}/fire` },
  };
}
