/**
 * `POST /v1/toxicity`: request and response schemas (shared by the API route, its OpenAPI document and
 * clients) and the input bounds that keep the endpoint synchronous and cheap.
 */
import { z } from "zod";

export const TOXICITY_MAX_TEXTS = 100;
export const TOXICITY_MAX_TEXT_CHARS = 10_000;

export const ToxicityRequest = z.object({
  texts: z.array(z.string().max(TOXICITY_MAX_TEXT_CHARS)).min(1).max(TOXICITY_MAX_TEXTS).meta({
    description: `1 to ${TOXICITY_MAX_TEXTS} texts of at most ${TOXICITY_MAX_TEXT_CHARS} characters each`,
    example: ["have a nice day", "shut up, you bastard"],
  }),
  threshold: z.number().min(0).max(1).optional().meta({
    description: "score at or above which a text counts as toxic (default 0.5)",
  }),
}).meta({ id: "ToxicityRequest" });
export type ToxicityRequest = z.infer<typeof ToxicityRequest>;

export const ToxicityResult = z.object({
  score: z.number().min(0).max(1),
  toxic: z.boolean(),
  terms: z.array(z.string()).meta({ description: "matched lexicon terms (lexicon scorer only)" }),
}).meta({ id: "ToxicityResult" });

export const ToxicityResponse = z.object({
  scorer: z.string().meta({
    description: "`lexicon` (built in) or `http` (PROFS_TOXICITY_URL)",
    example: "lexicon",
  }),
  threshold: z.number(),
  results: z.array(ToxicityResult),
}).meta({ id: "ToxicityResponse" });
export type ToxicityResponse = z.infer<typeof ToxicityResponse>;
