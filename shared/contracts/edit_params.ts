/**
 * Parameters of a ProFS edit, shared by the API (`POST /v1/edits`), the worker and the CLI (`profs edit`).
 * Defaults are docs/ARCHITECTURE.md §3: rank k = 2, at most 500 pairs, centering on, 128 tokens per text, and layers
 * ⌊5L/12⌋:L — which depends on the model, so `layers` stays optional here and `resolveLayers` fills it in once
 * the model's block count L is known.
 */
import { z } from "zod";
import { InputError } from "../errors.ts";

export const LayerRange = z.strictObject({
  from: z.int().min(0).meta({ description: "first edited block (inclusive)" }),
  to: z.int().min(1).meta({ description: "end of the range (exclusive)" }),
}).refine((r) => r.from < r.to, { message: "'from' must be less than 'to'", path: ["to"] })
  .meta({ id: "LayerRange", description: "half-open block range from:to" });
export type LayerRange = z.infer<typeof LayerRange>;

export const EDIT_DEFAULTS = {
  rank: 2,
  centering: true,
  max_pairs: 500,
  seed: 0,
  max_tokens: 128,
} as const;

/** Upper bounds that keep one job's memory and time in proportion; raise them here when a user needs more. */
export const EDIT_LIMITS = { rank: 64, max_pairs: 100_000, max_tokens: 4096, seed: 2 ** 32 - 1 } as const;

export const EditParams = z.strictObject({
  layers: LayerRange.optional().meta({
    description: "edited blocks; default ⌊5L/12⌋:L for a model with L blocks",
  }),
  rank: z.int().min(1).max(EDIT_LIMITS.rank).default(EDIT_DEFAULTS.rank)
    .meta({ description: "dimension k of the removed subspace per layer" }),
  centering: z.boolean().default(EDIT_DEFAULTS.centering)
    .meta({ description: "project the top direction of the preferred embeddings out of T first" }),
  max_pairs: z.int().min(1).max(EDIT_LIMITS.max_pairs).default(EDIT_DEFAULTS.max_pairs)
    .meta({ description: "at most this many pairs, sampled with `seed`; pairs stay aligned" }),
  seed: z.int().min(0).max(EDIT_LIMITS.seed).default(EDIT_DEFAULTS.seed),
  max_tokens: z.int().min(1).max(EDIT_LIMITS.max_tokens).default(EDIT_DEFAULTS.max_tokens)
    .meta({ description: "texts are truncated to this many tokens before embedding" }),
  check: z.boolean().optional().meta({
    description: "after the edit, check base and edited model (toxicity, perplexity, KL): figures in " +
      "`result.metrics`, charts in the report.html artifact",
  }),
}).meta({ id: "EditParams" });
/** Validated parameters with defaults applied (`layers` may still be absent). */
export type EditParams = z.infer<typeof EditParams>;
/** What a client may send: every field optional. */
export type EditParamsInput = z.input<typeof EditParams>;

/** ⌊5L/12⌋:L — GPT-2 medium (L = 24) gives 10:24 as in the paper. */
export function defaultLayers(numLayers: number): LayerRange {
  return { from: Math.floor((5 * numLayers) / 12), to: numLayers };
}

/** The layer range an edit of a model with `numLayers` blocks uses; a range past the last block is the user's error. */
export function resolveLayers(params: Pick<EditParams, "layers">, numLayers: number): LayerRange {
  const layers = params.layers ?? defaultLayers(numLayers);
  if (layers.to > numLayers) {
    throw new InputError(
      `Cannot edit layers ${layers.from}:${layers.to} as 'layers.to' must be at most the model's block count ` +
        `${numLayers}: current value is ${layers.to}`,
    );
  }
  return layers;
}
