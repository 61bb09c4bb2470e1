/**
 * What the route definitions do not say about the HTTP contract, added to the generated OpenAPI 3.1 document in
 * one place (so route files keep their metadata short): an `operationId` per operation (derived from method and
 * path unless the route names one), `security: []` on the routes that take no API key, `servers`, the licence,
 * the headers the server really sends and reads, artifacts' real content types, the `webhooks` the service
 * sends, and the problem statuses the shared middleware can answer.
 */
// deno-lint-ignore-file no-explicit-any
import { WEBHOOK_EVENT_TYPES } from "../shared/webhooks/events.ts";

type Doc = Record<string, any>;

/** Artifact names → content type, as the worker publishes them (gpu-worker/worker/jobs/edit_job.ts). */
export const ARTIFACT_CONTENT_TYPES = [
  "application/octet-stream",
  "application/json",
  "text/markdown; charset=utf-8",
  "text/html; charset=utf-8",
  "application/x-tar",
];

const H = (description: string, schema: Doc = { type: "string" }) => ({ description, schema });

const HEADERS: Doc = {
  XRequestId: H(
    "the request's id (the client's X-Request-Id when it is a short token); in every problem+json",
  ),
  ETag: H("strong entity tag: the quoted sha256 of the artifact"),
  AcceptRanges: H("`bytes`: one range per request", { type: "string", enum: ["bytes"] }),
  ContentRange: H("`bytes first-last/size` (206), `bytes */size` (416)"),
  ContentDisposition: H('`attachment; filename="<name>"`'),
  IdempotentReplayed: H("`true` when this answer replays the job an earlier request with the key created", {
    type: "string",
    enum: ["true"],
  }),
  WWWAuthenticate: H("`Bearer` challenge (RFC 6750)"),
  CacheControl: H(
    "artifacts: `private, max-age=0, must-revalidate` (revalidate with If-None-Match); event streams: `no-cache`",
  ),
};

const ref = (name: string) => ({ $ref: `#/components/headers/${name}` });

const PARAMETERS: Doc = {
  Range: {
    name: "Range",
    in: "header",
    required: false,
    schema: { type: "string" },
    description: "one `bytes=` range (`a-b`, `a-`, `-n`)",
  },
  IfNoneMatch: {
    name: "If-None-Match",
    in: "header",
    required: false,
    schema: { type: "string" },
    description: "an ETag: 304 when it matches",
  },
  IfRange: {
    name: "If-Range",
    in: "header",
    required: false,
    schema: { type: "string" },
    description: "an ETag: Range is honoured only while it matches",
  },
  LastEventId: {
    name: "Last-Event-ID",
    in: "header",
    required: false,
    schema: { type: "string" },
    description: "SSE reconnect: events after this seq",
  },
  WebhookId: {
    name: "webhook-id",
    in: "header",
    required: true,
    schema: { type: "string" },
    description: "Standard Webhooks message id (replays answer with the first call's edit)",
  },
  WebhookTimestamp: {
    name: "webhook-timestamp",
    in: "header",
    required: true,
    schema: { type: "string" },
    description: "Unix seconds; refused when more than 5 minutes off",
  },
  WebhookSignature: {
    name: "webhook-signature",
    in: "header",
    required: true,
    schema: { type: "string" },
    description: "`v1,<base64 HMAC-SHA256>` of `{id}.{timestamp}.{body}` under the trigger's secret",
  },
};
const param = (name: string) => ({ $ref: `#/components/parameters/${name}` });

/** `POST /v1/edits/{id}/cancel` → `postV1EditsByIdCancel`. */
export function operationIdOf(method: string, path: string): string {
  const words = path.split("/").filter(Boolean).flatMap((segment) => {
    const p = /^\{(.+)\}$/.exec(segment);
    return p ? ["by", ...p[1].split(/[_-]/)] : segment.split(/[_-]/);
  });
  return method + words.map((w) => w[0].toUpperCase() + w.slice(1)).join("");
}

const PUBLIC = new Set(["GET /healthz", "GET /readyz", "GET /metrics", "POST /v1/triggers/{id}/fire"]);

export function completeDocument(doc: Doc, options: { publicUrl?: string } = {}): Doc {
  doc.servers = [{ url: options.publicUrl ?? "/", description: "this server" }];
  // The project's licence (LICENSE at the repository's root, package.json's "license").
  doc.info.license = { name: "Apache 2.0", identifier: "Apache-2.0" };
  doc.components ??= {};
  doc.components.headers = { ...doc.components.headers, ...HEADERS };
  doc.components.parameters = { ...doc.components.parameters, ...PARAMETERS };
  for (const [path, item] of Object.entries<Doc>(doc.paths)) {
    for (const [method, op] of Object.entries<Doc>(item)) {
      const key = `${method.toUpperCase()} ${path}`;
      op.operationId ??= operationIdOf(method, path);
      if (path.endsWith("/events")) {
        op.parameters = [...(op.parameters ?? []), param("LastEventId")];
        op.responses["422"] ??= problem(doc, "invalid query (e.g. after=-1)");
        op.responses["200"].headers = {
          ...op.responses["200"].headers,
          "Cache-Control": ref("CacheControl"),
        };
      }
      if (PUBLIC.has(key) || op.security === undefined) op.security = [];
      for (const [status, response] of Object.entries<Doc>(op.responses)) {
        response.headers = { "X-Request-Id": ref("XRequestId"), ...response.headers };
        if (status === "401" && !PUBLIC.has(key)) {
          response.headers["WWW-Authenticate"] = ref("WWWAuthenticate");
        }
      }
      if (path.endsWith("/artifacts/{name}")) artifactResponses(op);
      if (key === "POST /v1/edits" && op.responses["200"]) {
        op.responses["200"].headers["Idempotent-Replayed"] = ref("IdempotentReplayed");
      }
      if (key === "POST /v1/triggers/{id}/fire") {
        const named = new Set((op.parameters ?? []).map((p: Doc) => p.name?.toLowerCase()));
        for (const p of ["WebhookId", "WebhookTimestamp", "WebhookSignature"]) {
          if (!named.has(PARAMETERS[p].name)) op.parameters = [...(op.parameters ?? []), param(p)];
        }
      }
      if (key === "GET /metrics") {
        op.responses["200"].content = {
          "text/plain; version=0.0.4; charset=utf-8": { schema: { type: "string" } },
        };
      }
    }
  }
  requestDefaultsOptional(doc);
  doc.webhooks = { ...doc.webhooks, ...outboundWebhooks() };
  doc.components.schemas.WebhookEvent = WEBHOOK_EVENT_SCHEMA;
  return doc;
}

/**
 * Defaulted fields of request bodies stay optional for generated clients. openapi-typescript (by default,
 * `defaultNonNullable`) makes a property with a `default` required — right for answers, where the server fills
 * it in, wrong for requests: `{"rank": 2}` or a webhook endpoint without `description` would not type-check. So
 * in every schema a request body reaches (inline or through `$ref`; request and answer schemas are separate
 * components, e.g. EditParams and EditParamsView) the default moves into the property's description.
 */
function requestDefaultsOptional(doc: Doc): void {
  const seen = new Set<string>();
  const visit = (schema: Doc | undefined): void => {
    if (!schema || typeof schema !== "object") return;
    if (typeof schema.$ref === "string") {
      const name = schema.$ref.replace("#/components/schemas/", "");
      if (seen.has(name)) return;
      seen.add(name);
      return visit(doc.components.schemas[name]);
    }
    for (const property of Object.values<Doc>(schema.properties ?? {})) {
      if ("default" in property) {
        const note = `default ${JSON.stringify(property.default)}`;
        property.description = property.description ? `${property.description} (${note})` : note;
        delete property.default;
      }
      visit(property);
    }
    for (const key of ["items", "additionalProperties", "not"]) visit(schema[key]);
    for (const key of ["anyOf", "oneOf", "allOf", "prefixItems"]) (schema[key] ?? []).forEach(visit);
  };
  for (const item of Object.values<Doc>(doc.paths)) {
    for (const op of Object.values<Doc>(item)) {
      for (const media of Object.values<Doc>(op.requestBody?.content ?? {})) visit(media.schema);
    }
  }
}

function problem(doc: Doc, description: string): Doc {
  const existing = Object.values<Doc>(doc.paths).flatMap((i) => Object.values<Doc>(i))
    .map((o) => o.responses?.["422"]).find((r) => r?.content);
  return { description, content: existing?.content ?? {} };
}

function artifactResponses(op: Doc): void {
  op.parameters = [...(op.parameters ?? []), param("Range"), param("IfNoneMatch"), param("IfRange")];
  const binary = { schema: { type: "string", format: "binary" } };
  const content = Object.fromEntries(ARTIFACT_CONTENT_TYPES.map((t) => [t, binary]));
  const common = {
    ETag: ref("ETag"),
    "Accept-Ranges": ref("AcceptRanges"),
    "Content-Disposition": ref("ContentDisposition"),
    "Cache-Control": ref("CacheControl"),
  };
  op.responses["200"] = {
    ...op.responses["200"],
    content,
    headers: { ...op.responses["200"].headers, ...common },
  };
  op.responses["206"] = {
    ...op.responses["206"],
    content,
    headers: { ...op.responses["206"].headers, ...common, "Content-Range": ref("ContentRange") },
  };
  op.responses["304"].headers = {
    ...op.responses["304"].headers,
    ETag: ref("ETag"),
    "Cache-Control": ref("CacheControl"),
  };
  if (op.responses["416"]) {
    op.responses["416"].headers = { ...op.responses["416"].headers, "Content-Range": ref("ContentRange") };
  }
}

const WEBHOOK_EVENT_SCHEMA = {
  type: "object",
  required: ["type", "timestamp", "data"],
  properties: {
    type: { type: "string", enum: [...WEBHOOK_EVENT_TYPES] },
    timestamp: { type: "string", format: "date-time" },
    data: {
      type: "object",
      required: ["id", "object", "status", "links"],
      properties: {
        id: { type: "string" },
        object: { type: "string", enum: ["edit", "check"] },
        status: { type: "string" },
        error: { type: "string", description: "one line, edit.failed only" },
        links: { type: "object", additionalProperties: { type: "string" } },
      },
    },
  },
};

/** The notifications the service POSTs to registered endpoints, signed with Standard Webhooks headers. */
function outboundWebhooks(): Doc {
  return Object.fromEntries(WEBHOOK_EVENT_TYPES.map((type) => [type, {
    post: {
      operationId: operationIdOf("on", type.replace(".", "-")),
      summary: `${type}: sent to endpoints subscribed to it`,
      tags: ["webhooks"],
      security: [], // authenticated by the webhook-signature header, not an API key
      parameters: [param("WebhookId"), param("WebhookTimestamp"), param("WebhookSignature")],
      requestBody: {
        required: true,
        content: { "application/json": { schema: { $ref: "#/components/schemas/WebhookEvent" } } },
      },
      responses: {
        "2XX": { description: "delivered" },
        "410": { description: "gone: the endpoint is disabled" },
        default: { description: "retried with backoff" },
      },
    },
  }]));
}
