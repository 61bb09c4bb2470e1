/**
 * The lexicon toxicity scorer's speed, the figure behind "fast enough for the edge": texts per second of
 * `score()` on sentences of ~15 words (one in four with a profanity), and the latency of one POST /v1/toxicity
 * of 20 texts through the route (in-process, no network).
 *
 *   deno task bench toxicity
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import { type ApiDeps, DEFAULT_CONFIG } from "../../api/deps.ts";
import type { ApiEnv } from "../../api/env.ts";
import { toxicityRoutes } from "../../api/routes/toxicity.ts";
import { silentLogger } from "../../shared/log.ts";
import { createLexiconScorer } from "../../shared/toxicity/lexicon.ts";

const clean = "the weather in the mountains was calm and we walked to the lake before lunch today";
const rude = "shut up you stupid bastard, nobody wants to hear your opinion about the lake today";
const texts = Array.from({ length: 1000 }, (_, i) => (i % 4 === 0 ? rude : clean) + ` ${i}`);
const scorer = createLexiconScorer();
await scorer.score(texts.slice(0, 50)); // warm-up: the matcher's regular expressions compile lazily

let started = performance.now();
const rounds = 5;
for (let r = 0; r < rounds; r++) await scorer.score(texts);
const perText = (performance.now() - started) / (rounds * texts.length);
console.log(
  `lexicon scorer: ${(1000 / perText).toFixed(0)} texts/s (${(perText * 1000).toFixed(1)} µs per text)`,
);

const app = new OpenAPIHono<ApiEnv>();
app.use("*", async (c, next) => {
  c.set("principal", { tenantId: "t", keyId: "k", scopes: [] });
  await next();
});
app.route(
  "/v1/toxicity",
  toxicityRoutes({ logger: silentLogger, config: DEFAULT_CONFIG } as unknown as ApiDeps, scorer),
);
const body = JSON.stringify({ texts: texts.slice(0, 20) });
const request = () =>
  app.request("/v1/toxicity", { method: "POST", headers: { "content-type": "application/json" }, body });
await (await request()).json();
const latencies: number[] = [];
for (let i = 0; i < 500; i++) {
  started = performance.now();
  await (await request()).json();
  latencies.push(performance.now() - started);
}
latencies.sort((a, b) => a - b);
const at = (q: number) => latencies[Math.floor(q * (latencies.length - 1))].toFixed(2);
console.log(`POST /v1/toxicity, 20 texts, in-process: p50 ${at(0.5)} ms, p99 ${at(0.99)} ms`);
