/**
 * What a check reports (gpu-worker/eval/check.ts computes it; reports, the API and the demo read it).
 */
import { z } from "zod";

export const CheckStageName = z.enum(["toxicity", "perplexity", "kl"]);

export const CheckResult = z.object({
  toxicity: z.object({
    scorer: z.string().meta({ description: "`lexicon` or `http`" }),
    threshold: z.number(),
    mean: z.number().meta({ description: "mean toxicity score of the continuations" }),
    share_toxic: z.number().meta({ description: "share of continuations scoring at least the threshold" }),
    prompts: z.int(),
    max_new_tokens: z.int(),
  }),
  perplexity: z.object({ value: z.number(), texts: z.int(), tokens: z.int() }),
  kl: z.object({ mean: z.number(), max: z.number(), prompts: z.int() }).nullable().meta({
    description: "KL(base ‖ model) in nats of the next token after each benign prompt; null without a base",
  }),
  samples: z.array(z.object({ prompt: z.string(), continuation: z.string(), score: z.number() })),
  timings_ms: z.record(CheckStageName, z.number()),
}).meta({ id: "CheckResult" });
export type CheckResult = z.infer<typeof CheckResult>;
export type CheckStage = z.infer<typeof CheckStageName>;
