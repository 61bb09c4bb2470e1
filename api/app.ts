/**
 * The HTTP API: `createApp(deps)` builds the Hono app — request ids, access log and metrics, one error handler,
 * the operational routes, the OpenAPI document, the web console and the API reference (api/console/), and
 * under `/v1` one sub-app per resource, every one behind Bearer API-key auth.
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import { requestId } from "hono/request-id";
import { watchJobChanges } from "../shared/db/index.ts";
import type { ApiDeps } from "./deps.ts";
import { consoleRoutes } from "./console/routes.tsx";
import { withRequestExamples } from "./openapi_examples.ts";
import type { ApiEnv } from "./env.ts";
import { errorHandler, notFoundHandler, problemResponse, validationHook } from "./errors.ts";
import { completeDocument } from "./openapi.ts";
import { createRequestMetrics } from "./metrics.ts";
import { createStreamLimiter } from "./stream_limiter.ts";
import { accessLog } from "./middleware/access_log.ts";
import { authenticate } from "./middleware/auth.ts";
import { datasetsRoutes } from "./routes/datasets.ts";
import { editsRoutes } from "./routes/edits.ts";
import { keysRoutes } from "./routes/keys.ts";
import { modelsRoutes } from "./routes/models.ts";
import { systemRoutes } from "./routes/system.ts";
import { checksRoutes } from "./routes/checks.ts";
import { toxicityRoutes } from "./routes/toxicity.ts";
import { triggerFireRoutes, triggersRoutes } from "./routes/triggers.ts";
import { webhookEndpointsRoutes } from "./routes/webhook_endpoints.ts";

export const API_VERSION = "1.0.0";

export function createApp(deps: ApiDeps): OpenAPIHono<ApiEnv> {
  const app = new OpenAPIHono<ApiEnv>({ defaultHook: validationHook });
  const metrics = createRequestMetrics();
  // One LISTEN for the app's lifetime (the database's close ends it): edits' cache and event streams follow it.
  const changes = watchJobChanges(deps.database, deps.logger);
  // Event streams and downloads of one tenant share one cap in this process.
  const streams = createStreamLimiter(deps.config.maxStreamsPerTenant);

  // Request ids from clients are kept when they are short tokens (hono's check), so a caller can correlate.
  app.use(requestId({ limitLength: 128 }));
  app.use(accessLog(deps.logger, metrics));
  app.onError(errorHandler(deps.logger));
  // A known path with a method it does not route → 405 with Allow (RFC 9110 §15.5.6); unknown paths, and a
  // routed method whose handler found nothing (e.g. a static file by an unknown name), → 404.
  app.notFound((c) => {
    const allowed = allowedMethods(app, c.req.path);
    if (allowed.length === 0 || allowed.includes(c.req.method)) return notFoundHandler(c);
    return problemResponse(c, 405, "method-not-allowed", `${c.req.path} allows ${allowed.join(", ")}`, {
      headers: { Allow: allowed.join(", ") },
    });
  });

  app.route("/", systemRoutes(deps, metrics));

  // Signed inbound webhooks carry no API key (the signature authenticates them): mounted before key auth.
  app.route("/v1/triggers", triggerFireRoutes(deps));
  app.use("/v1/*", authenticate(deps.verifyKey));
  app.route("/v1/models", modelsRoutes(deps));
  app.route("/v1/datasets", datasetsRoutes(deps));
  app.route("/v1/edits", editsRoutes(deps, changes, streams));
  app.route("/v1/checks", checksRoutes(deps, streams));
  app.route("/v1/toxicity", toxicityRoutes(deps));
  app.route("/v1/webhook-endpoints", webhookEndpointsRoutes(deps, deps.webhooks));
  app.route("/v1/triggers", triggersRoutes(deps));
  app.route("/v1/keys", keysRoutes(deps));

  app.openAPIRegistry.registerComponent("securitySchemes", "apiKey", {
    type: "http",
    scheme: "bearer",
    description: "an API key (`deno task profs keys create --tenant NAME`, or PROFS_BOOTSTRAP_KEY)",
  });
  const document = () =>
    completeDocument(
      app.getOpenAPI31Document({
        openapi: "3.1.0",
        info: {
          title: "profs API",
          version: API_VERSION,
          description:
            "Remove toxicity from language models by editing their weights with ProFS: upload a model " +
            "and preference pairs, start an edit, download the edited model.",
        },
        tags: [
          { name: "models", description: "Hugging Face model folders: upload or register, then finalize" },
          { name: "datasets", description: "preference pairs (JSONL) or precomputed embeddings" },
          { name: "edits", description: "ProFS edit jobs, their progress and artifacts" },
          { name: "webhooks", description: "signed event notifications to your URLs, with a delivery log" },
          { name: "triggers", description: "edit templates started by signed inbound webhooks" },
          {
            name: "checks",
            description: "evaluation jobs: toxicity, perplexity and KL of a model or an edit",
          },
          { name: "toxicity", description: "synchronous toxicity scores for texts (edge checks)" },
          { name: "keys", description: "API keys: mint, list, revoke (another tenant's need `admin`)" },
          { name: "system", description: "health, readiness and metrics" },
        ],
      }) as unknown as Record<string, unknown>,
      { publicUrl: Deno.env.get("PROFS_PUBLIC_URL") || undefined },
    );
  let cached: ReturnType<typeof document> | undefined;
  const openapi = () => cached ??= withRequestExamples(document());
  app.get("/openapi.json", (c) => c.json(openapi()));
  // The web console, `/` and the `/docs` reference (api/console/): pages and static files, no API key needed
  // to load them (the pages call the API with the key the user enters).
  app.route("/", consoleRoutes());
  return app;
}

/** The methods routed for `path` (HEAD with GET, as hono answers it), from the app's route table. */
function allowedMethods(app: OpenAPIHono<ApiEnv>, path: string): string[] {
  const methods = new Set<string>();
  for (const route of app.routes) {
    if (route.method === "ALL") continue; // middleware, not a route
    const pattern = new RegExp(
      "^" + route.path.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/:[^/]+/g, "[^/]+") + "/?$",
    );
    if (pattern.test(path)) methods.add(route.method);
  }
  if (methods.has("GET")) methods.add("HEAD");
  return [...methods].sort();
}
