/**
 * POST /v1/toxicity through HTTP (app.request), mounted the way api/app.ts mounts it: request ids, the one
 * error handler, an authenticated principal. Auth itself is the API's own middleware and tested there.
 */
import assert from "node:assert/strict";
import { OpenAPIHono } from "@hono/zod-openapi";
import { requestId } from "hono/request-id";
import type { ApiDeps } from "../../api/deps.ts";
import { DEFAULT_CONFIG } from "../../api/deps.ts";
import type { ApiEnv } from "../../api/env.ts";
import { errorHandler } from "../../api/errors.ts";
import { toxicityRoutes } from "../../api/routes/toxicity.ts";
import { silentLogger } from "../../shared/log.ts";
import { TOXICITY_MAX_TEXT_CHARS, TOXICITY_MAX_TEXTS } from "../../shared/toxicity/contract.ts";
import { createLexiconScorer } from "../../shared/toxicity/lexicon.ts";
import { ScorerError, type ToxicityScorer } from "../../shared/toxicity/scorer.ts";

function appWith(scorer: ToxicityScorer) {
  const deps = { logger: silentLogger, config: DEFAULT_CONFIG } as unknown as ApiDeps;
  const app = new OpenAPIHono<ApiEnv>();
  app.use(requestId());
  app.onError(errorHandler(silentLogger));
  app.use("*", async (c, next) => {
    c.set("principal", { tenantId: "t", keyId: "k", scopes: [] });
    await next();
  });
  app.route("/v1/toxicity", toxicityRoutes(deps, scorer));
  return app;
}

const post = (app: OpenAPIHono<ApiEnv>, body: unknown) =>
  app.request("/v1/toxicity", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });

Deno.test("POST /v1/toxicity scores each text in order with the lexicon scorer", async () => {
  const response = await post(appWith(createLexiconScorer()), {
    texts: ["have a nice day", "you bastard"],
  });
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), {
    scorer: "lexicon",
    threshold: 0.5,
    results: [
      { score: 0, toxic: false, terms: [] },
      { score: 0.75, toxic: true, terms: ["bastard"] },
    ],
  });
});

Deno.test("POST /v1/toxicity applies a caller's threshold", async () => {
  const response = await post(appWith(createLexiconScorer()), { texts: ["you bastard"], threshold: 0.8 });
  const body = await response.json();
  assert.equal(body.threshold, 0.8);
  assert.equal(body.results[0].toxic, false);
});

Deno.test("POST /v1/toxicity accepts exactly the bounds and rejects one over with 422", async () => {
  const app = appWith(createLexiconScorer());
  const atLimit = await post(app, { texts: Array(TOXICITY_MAX_TEXTS).fill("x".repeat(100)) });
  assert.equal(atLimit.status, 200);
  assert.equal((await atLimit.json()).results.length, TOXICITY_MAX_TEXTS);
  const longest = await post(app, { texts: ["x".repeat(TOXICITY_MAX_TEXT_CHARS)] });
  assert.equal(longest.status, 200);
  await longest.body?.cancel();
  for (
    const body of [
      { texts: Array(TOXICITY_MAX_TEXTS + 1).fill("x") },
      { texts: ["x".repeat(TOXICITY_MAX_TEXT_CHARS + 1)] },
      { texts: [] },
      { texts: [3] },
      { texts: ["x"], threshold: 2 },
      {},
    ]
  ) {
    const response = await post(app, body);
    assert.equal(response.status, 422, JSON.stringify(body).slice(0, 80));
    assert.equal(response.headers.get("content-type"), "application/problem+json");
    await response.body?.cancel();
  }
});

Deno.test("POST /v1/toxicity with malformed JSON → 400 problem", async () => {
  const response = await post(appWith(createLexiconScorer()), "{texts: [");
  assert.equal(response.status, 400);
  assert.equal(response.headers.get("content-type"), "application/problem+json");
  await response.body?.cancel();
});

Deno.test("POST /v1/toxicity answers 503 naming the failure when the HTTP scorer fails", async () => {
  const failing: ToxicityScorer = {
    name: "http",
    score: () =>
      Promise.reject(
        new ScorerError("Cannot score toxicity with http://x/ as it did not answer within 10 ms"),
      ),
  };
  const response = await post(appWith(failing), { texts: ["x"] });
  assert.equal(response.status, 503);
  const problem = await response.json();
  assert.match(problem.detail, /did not answer within 10 ms/);
  assert.ok(problem.request_id);
});

Deno.test("the API serves POST /v1/toxicity behind API-key auth and lists it in /openapi.json", async () => {
  const { createHarness } = await import("./harness.ts");
  const harness = await createHarness();
  try {
    const body = JSON.stringify({ texts: ["you bastard"] });
    const headers = { "content-type": "application/json" };
    const anonymous = await harness.app.request("/v1/toxicity", { method: "POST", headers, body });
    assert.equal(anonymous.status, 401);
    await anonymous.body?.cancel();
    const readOnly = await harness.app.request("/v1/toxicity", {
      method: "POST",
      headers: { ...headers, ...harness.readOnlyA },
      body,
    });
    assert.equal(readOnly.status, 200);
    assert.equal((await readOnly.json()).results[0].toxic, true);
    const openapi = await (await harness.app.request("/openapi.json")).json();
    assert.ok(openapi.paths["/v1/toxicity"]?.post, "documented in the OpenAPI document");
  } finally {
    await harness.close();
  }
});
