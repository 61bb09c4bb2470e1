/**
 * POST /v1/toxicity: synchronous toxicity scores for a few texts, cheap enough for a gateway to call on every
 * message. Input is bounded (shared/toxicity/contract.ts) so a request stays fast; any API key may call it.
 * The scorer is the built-in lexicon one unless PROFS_TOXICITY_URL names an HTTP classifier; when that service
 * fails, the answer is a 503 that says why.
 */
import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { ToxicityRequest, ToxicityResponse } from "../../shared/toxicity/contract.ts";
import { scorerFromEnv } from "../../shared/toxicity/from_env.ts";
import {
  DEFAULT_TOXICITY_THRESHOLD,
  ScorerError,
  type ToxicityScorer,
} from "../../shared/toxicity/scorer.ts";
import type { ApiDeps } from "../deps.ts";
import type { ApiEnv } from "../env.ts";
import { ApiError, validationHook } from "../errors.ts";
import { jsonLimit, problems } from "./common.ts";

export function toxicityRoutes(deps: ApiDeps, scorer: ToxicityScorer = scorerFromEnv()) {
  const app = new OpenAPIHono<ApiEnv>({ defaultHook: validationHook });
  app.openapi(
    createRoute({
      method: "post",
      path: "/",
      tags: ["toxicity"],
      summary: "Score texts for toxicity (synchronous)",
      security: [{ apiKey: [] }],
      middleware: [jsonLimit(deps)] as const,
      request: { body: { required: true, content: { "application/json": { schema: ToxicityRequest } } } },
      responses: {
        200: {
          description: "one result per text, in order",
          content: { "application/json": { schema: ToxicityResponse } },
        },
        ...problems(400, 401, 413, 415, 422, 503),
      },
    }),
    async (c) => {
      const { texts, threshold = DEFAULT_TOXICITY_THRESHOLD } = c.req.valid("json");
      let scores;
      try {
        scores = await scorer.score(texts, { signal: c.req.raw.signal });
      } catch (error) {
        if (!(error instanceof ScorerError)) throw error;
        deps.logger.warn("toxicity scorer failed", { request_id: c.get("requestId"), error });
        throw new ApiError(503, "service-unavailable", error.message);
      }
      return c.json({
        scorer: scorer.name,
        threshold,
        results: scores.map((s) => ({ score: s.score, toxic: s.score >= threshold, terms: s.terms })),
      }, 200);
    },
  );
  return app;
}
