/**
 * /v1/webhook-endpoints: where a tenant's job notifications go. Registering checks the URL with the SSRF guard
 * (the dispatcher checks it again before every send); the `whsec_` secret appears only in the create and
 * rotate responses. Each endpoint's delivery log lists messages with every attempt (time, duration, status or
 * error; response bodies are never stored), and a message can be replayed.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { pgText } from "../../shared/contracts/text.ts";
import { pageOf, PageQuery } from "../../shared/contracts/pagination.ts";
import type { WebhookEndpoint } from "../../shared/db/schema.ts";
import { resolveDestination, type ResolveHost } from "../../shared/webhooks/destination.ts";
import {
  DeliveryView,
  WebhookEndpointCreate,
  WebhookEndpointView,
  WebhookEndpointWithSecret,
} from "../../shared/contracts/webhooks.ts";
import { type WebhookConfig, webhookConfigFromEnv } from "../../shared/webhooks/config.ts";
import { type WebhookEventType, webhookMessageId } from "../../shared/webhooks/events.ts";
import {
  createEndpoint,
  deleteEndpoint,
  type DeliveryWithAttempts,
  enableEndpoint,
  getEndpoint,
  listDeliveries,
  listEndpoints,
  replayDelivery,
  rotateEndpointSecret,
} from "../../shared/db/repositories/webhooks.ts";
import { generateSecret } from "../../shared/webhooks/signature.ts";
import type { ApiDeps } from "../deps.ts";
import type { ApiEnv } from "../env.ts";
import { notFound, validationHook } from "../errors.ts";
import { requireScope } from "../middleware/auth.ts";
import { IdParam, iso, jsonLimit, problems } from "./common.ts";

const EndpointPage = pageOf(WebhookEndpointView, "WebhookEndpointPage");
const DeliveryPage = pageOf(DeliveryView, "WebhookDeliveryPage");
const DeliveryParams = IdParam.extend({
  delivery_id: pgText(z.string()).meta({ param: { name: "delivery_id", in: "path" } }),
});

export interface WebhookRouteOptions extends Partial<WebhookConfig> {
  /** DNS for the registration check; the system resolver by default (tests pass a table). */
  resolve?: ResolveHost;
  now?: () => Date;
}

export function webhookEndpointsRoutes(deps: ApiDeps, options: WebhookRouteOptions = {}) {
  const app = new OpenAPIHono<ApiEnv>({ defaultHook: validationHook });
  const { db } = deps.database;
  const allowlist = options.allowlist ?? webhookConfigFromEnv().allowlist;
  const now = options.now ?? (() => new Date());
  const read = requireScope("webhooks:read");
  const write = requireScope("webhooks:write");
  const security = [{ apiKey: [] }];
  const tags = ["webhooks"];

  app.openapi(
    createRoute({
      method: "post",
      path: "/",
      tags,
      security,
      summary: "Register a URL for event notifications; the response holds its signing secret, shown once",
      middleware: [write, jsonLimit(deps)] as const,
      request: {
        body: { required: true, content: { "application/json": { schema: WebhookEndpointCreate } } },
      },
      responses: {
        201: {
          description: "created",
          content: { "application/json": { schema: WebhookEndpointWithSecret } },
        },
        ...problems(400, 401, 403, 413, 415, 422),
      },
    }),
    async (c) => {
      const body = c.req.valid("json");
      // Throws UnsafeDestinationError (an InputError → 422) for private, credentialed or non-http(s) URLs.
      const destination = await resolveDestination(body.url, { allowlist, resolve: options.resolve });
      const row = await createEndpoint(db, c.get("principal").tenantId, {
        url: destination.url.href,
        events: body.events,
        description: body.description,
        secret: generateSecret(),
      });
      return c.json({ ...endpointView(row), secret: row.secret }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/",
      tags,
      security,
      summary: "List webhook endpoints, newest first",
      middleware: [read] as const,
      request: { query: PageQuery },
      responses: {
        200: { description: "a page", content: { "application/json": { schema: EndpointPage } } },
        ...problems(401, 403, 422),
      },
    }),
    async (c) => {
      const page = await listEndpoints(db, c.get("principal").tenantId, c.req.valid("query"));
      return c.json({ data: page.items.map(endpointView), next_cursor: page.nextCursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/{id}",
      tags,
      security,
      summary: "Get a webhook endpoint (without its secret)",
      middleware: [read] as const,
      request: { params: IdParam },
      responses: {
        200: {
          description: "the endpoint",
          content: { "application/json": { schema: WebhookEndpointView } },
        },
        ...problems(401, 403, 404),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const row = await getEndpoint(db, c.get("principal").tenantId, id);
      if (!row) throw notFound("webhook endpoint", id);
      return c.json(endpointView(row), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/{id}",
      tags,
      security,
      summary: "Delete a webhook endpoint, its pending messages and its delivery log",
      middleware: [write] as const,
      request: { params: IdParam },
      responses: { 204: { description: "deleted" }, ...problems(401, 403, 404) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      if (!await deleteEndpoint(db, c.get("principal").tenantId, id)) throw notFound("webhook endpoint", id);
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/{id}/rotate-secret",
      tags,
      security,
      summary: "Replace the signing secret; the old one keeps co-signing for 24 hours",
      middleware: [write] as const,
      request: { params: IdParam },
      responses: {
        200: {
          description: "the endpoint with its new secret (shown once)",
          content: { "application/json": { schema: WebhookEndpointWithSecret } },
        },
        ...problems(401, 403, 404),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const row = await rotateEndpointSecret(db, c.get("principal").tenantId, id, generateSecret(), now());
      if (!row) throw notFound("webhook endpoint", id);
      return c.json({ ...endpointView(row), secret: row.secret }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/{id}/enable",
      tags,
      security,
      summary: "Re-enable an endpoint that was disabled because its receiver answered 410 Gone",
      middleware: [write] as const,
      request: { params: IdParam },
      responses: {
        200: {
          description: "the endpoint",
          content: { "application/json": { schema: WebhookEndpointView } },
        },
        ...problems(401, 403, 404, 422),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const tenantId = c.get("principal").tenantId;
      const current = await getEndpoint(db, tenantId, id);
      if (!current) throw notFound("webhook endpoint", id);
      await resolveDestination(current.url, { allowlist, resolve: options.resolve });
      const row = await enableEndpoint(db, tenantId, id);
      if (!row) throw notFound("webhook endpoint", id);
      return c.json(endpointView(row), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/{id}/deliveries",
      tags,
      security,
      summary: "The delivery log: messages to this endpoint, newest first, each with its attempts",
      middleware: [read] as const,
      request: { params: IdParam, query: PageQuery },
      responses: {
        200: { description: "a page", content: { "application/json": { schema: DeliveryPage } } },
        ...problems(401, 403, 404, 422),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const tenantId = c.get("principal").tenantId;
      if (!await getEndpoint(db, tenantId, id)) throw notFound("webhook endpoint", id);
      const page = await listDeliveries(db, tenantId, id, c.req.valid("query"));
      return c.json({ data: page.items.map(deliveryView), next_cursor: page.nextCursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/{id}/deliveries/{delivery_id}/replay",
      tags,
      security,
      summary: "Send a message's event again, as a new message with its own webhook-id",
      middleware: [write] as const,
      request: { params: DeliveryParams },
      responses: {
        202: {
          description: "the new message, queued",
          content: { "application/json": { schema: DeliveryView } },
        },
        ...problems(401, 403, 404),
      },
    }),
    async (c) => {
      const { id, delivery_id } = c.req.valid("param");
      const row = await replayDelivery(db, c.get("principal").tenantId, id, delivery_id, now());
      if (!row) throw notFound("webhook delivery", delivery_id);
      return c.json(deliveryView(row), 202);
    },
  );

  return app;
}

export function endpointView(row: WebhookEndpoint): WebhookEndpointView {
  return {
    id: row.id,
    object: "webhook_endpoint",
    url: row.url,
    events: row.events as WebhookEventType[],
    description: row.description,
    disabled: row.disabledAt !== null,
    disabled_reason: row.disabledReason,
    created_at: row.createdAt.toISOString(),
    previous_secret_expires_at: iso(row.previousSecretExpiresAt),
  };
}

export function deliveryView(row: DeliveryWithAttempts): DeliveryView {
  return {
    id: row.id,
    object: "webhook_delivery",
    webhook_id: webhookMessageId(row.id),
    endpoint_id: row.endpointId,
    event_type: row.eventType as WebhookEventType,
    status: row.status,
    attempts: row.attempts,
    next_attempt_at: row.status === "pending" ? row.nextAttemptAt.toISOString() : null,
    last_status_code: row.lastStatusCode,
    last_error: row.lastError,
    created_at: row.createdAt.toISOString(),
    finished_at: iso(row.finishedAt),
    payload: row.payload,
    attempt_log: row.attemptLog.map((attempt) => ({
      attempt: attempt.attempt,
      started_at: attempt.startedAt.toISOString(),
      duration_ms: attempt.durationMs,
      status_code: attempt.statusCode,
      error: attempt.error,
    })),
  };
}
