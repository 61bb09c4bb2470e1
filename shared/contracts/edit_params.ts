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
  holdout: 0.2,
} as const;

/**
 * The held-out pairs: never used to find the subspace, they measure the edit's preference margin. At least
 * `min` are held out, and only when as many stay for the subspace; below `2 · min` usable pairs nothing is held
 * out (the edit still runs, with a warning). `maxShare` keeps most pairs for the subspace.
 */
export const HOLDOUT = { min: 16, maxShare: 0.5 } as const;

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
  holdout: z.number().min(0).max(HOLDOUT.maxShare).default(EDIT_DEFAULTS.holdout).meta({
    description:
      "share of the sampled pairs held out (seeded, never used to find the subspace) to measure the " +
      "preference margin of base and edited model; at least 16 pairs, and none below 32 usable pairs " +
      "(a warning says so); 0 turns the hold-out off and every sampled pair finds the subspace",
  }),
  base_model: z.string().min(1).max(200).regex(/^[^\s/][^\s]*$/).optional().meta({
    description: "the base model's hub id (e.g. `openai-community/gpt2`) for the model card's and LoRA " +
      "adapter's `base_model`, when the model folder's own card (base_model) and config (_name_or_path) do not " +
      "name it",
  }),
  check: z.boolean().optional().meta({
    description: "after the edit, check base and edited model (toxicity, perplexity, KL): figures in " +
      "`result.metrics`, charts in the report.html artifact",
  }),
}).meta({ id: "EditParams" });
/**
 * The parameters as the API shows them on an edit (output): every default applied and `layers` resolved, so
 * every field but the optional flags is required — while `EditParams` (input) keeps defaulted fields optional
 * for clients generated from the document.
 */
export const EditParamsView = z.object({
  layers: LayerRange,
  rank: z.int(),
  centering: z.boolean(),
  max_pairs: z.int(),
  seed: z.int(),
  max_tokens: z.int(),
  holdout: z.number().optional().meta({ description: "absent on edits created before the hold-out existed" }),
  base_model: z.string().optional(),
  check: z.boolean().optional(),
}).meta({ id: "EditParamsView" });

/** Validated parameters with defaults applied (`layers` may still be absent). */
export type EditParams = z.infer<typeof EditParams>;
/** What a client may send: every field optional. */
export type EditParamsInput = z.input<typeof EditParams>;

/** ⌊5L/12⌋:L — GPT-2 medium (L = 24) gives 10:24 as in the paper. */
export function defaultLayers(numLayers: number): LayerRange {
  return { from: Math.floor((5 * numLayers) / 12), to: numLayers };
}

/**
 * The layer range an edit of a model with `numLayers` blocks uses — the one place its rules live: the default
 * ⌊5L/12⌋:L, the schema's (whole numbers, from < to), and to ≤ L. Every caller (API, trigger, pipeline, CLI) ends
 * here; a range that breaks them is the user's error.
 */
export function resolveLayers(params: Pick<EditParams, "layers">, numLayers: number): LayerRange {
  const layers = params.layers ?? defaultLayers(numLayers);
  if (!LayerRange.safeParse(layers).success || layers.to > numLayers) {
    throw new InputError(
      `Cannot edit layers as they must be FROM:TO with 0 ≤ FROM < TO ≤ ${numLayers}: current value is ` +
        `${layers.from}:${layers.to} (the model has ${numLayers} blocks)`,
    );
  }
  return layers;
}

/**
 * How many of `usable` sampled pairs (both sides differ) are held out with share `share`: none when the share is 0
 * or fewer than 2 · HOLDOUT.min pairs are usable (too few to spare 16 and keep 16 for the subspace), otherwise
 * max(HOLDOUT.min, round(share · usable)). The one rule, for the pipeline's split and the API's rank check.
 */
export function heldOutCount(usable: number, share: number): number {
  if (share <= 0 || usable < 2 * HOLDOUT.min) return 0;
  return Math.max(HOLDOUT.min, Math.round(share * usable));
}

/**
 * An edit of rank k needs at least k usable pairs: T = (X⁺ − X⁻)/2 has one row per pair, so its rank — the
 * number of directions the data can name — is at most the number of pairs. Centering does not cost a pair: it
 * projects X⁺'s top direction out of the hidden space (a column operation, see checkRankForHiddenSize), it does
 * not subtract a mean row, so k pairs suffice and N = k is a valid, if noisy, edit. A pair whose two sides are
 * the same text has a zero row in T and does not count. Checked by the CLI before the model is read and by the
 * API (422) before a job is queued, so the user hears it at once instead of after the embedding.
 */
export function checkPairsForRank(o: {
  rank: number;
  /** Rows in the data (pairs, or embeddings' N). */
  available: number;
  maxPairs: number;
  /** Sampled pairs whose two sides are identical (known only for pairs read as text). */
  identical?: number;
  /** Sampled pairs held out for the margin (never used for the subspace). */
  heldOut?: number;
  /** How the message names the data, e.g. "the pairs file", "dataset 'x'". */
  source: string;
}): void {
  const sampled = Math.min(o.available, o.maxPairs);
  const usable = sampled - (o.identical ?? 0) - (o.heldOut ?? 0);
  if (usable >= o.rank) return;
  const why = [
    o.available > o.maxPairs ? `${sampled} after 'max_pairs' ${o.maxPairs}` : "",
    o.identical ? `${o.identical} with the same text on both sides` : "",
    o.heldOut ? `${o.heldOut} held out for the margin` : "",
  ].filter(Boolean).join(", ");
  throw new InputError(
    `Cannot edit with rank ${o.rank} as it needs at least ${o.rank} usable pairs (one per removed direction): ` +
      `${o.source} has ${usable}${why ? ` (${o.available} pairs; ${why})` : ""}; ` +
      `lower the rank to at most ${Math.max(usable, 1)}${o.heldOut ? ", lower 'holdout'" : ""} or add pairs`,
  );
}

/** k ≤ D, or k ≤ D − 1 with centering (the centered T lives in the D − 1 dimensions orthogonal to X⁺'s top one). */
export function checkRankForHiddenSize(rank: number, hiddenSize: number, centering: boolean): void {
  const max = centering ? hiddenSize - 1 : hiddenSize;
  if (rank > max) {
    throw new InputError(
      `Cannot edit with rank ${rank} as 'rank' must be at most ${max} for hidden size ${hiddenSize}` +
        `${centering ? " with centering (one direction goes to centering)" : ""}: current value is ${rank}`,
    );
  }
}

/**
 * The API's check of an edit against its dataset and model before a job is queued (POST /v1/edits, a trigger's
 * fire): enough rows for the rank after `max_pairs`, and a rank the hidden size allows. Identical-text pairs are
 * found only by the worker, which reads the texts.
 */
export function checkEditFitsData(
  params: Pick<EditParams, "rank" | "max_pairs" | "centering" | "holdout">,
  dataset: { id: string; rows: number; kind?: string },
  hiddenSize: number,
): void {
  // Embeddings carry no texts to measure a margin on: nothing is held out from them.
  const sampled = Math.min(dataset.rows, params.max_pairs);
  checkPairsForRank({
    rank: params.rank,
    available: dataset.rows,
    maxPairs: params.max_pairs,
    heldOut: dataset.kind === "embeddings"
      ? 0
      : heldOutCount(sampled, params.holdout ?? EDIT_DEFAULTS.holdout),
    source: `dataset '${dataset.id}'`,
  });
  checkRankForHiddenSize(params.rank, hiddenSize, params.centering);
}

/** "FROM:TO" (a command-line flag) → a LayerRange, by the schema's rules; the model's bound comes later. */
export function parseLayerRange(text: string, flag = "--layers"): LayerRange {
  const match = /^(\d+):(\d+)$/.exec(text.trim());
  const parsed = match ? LayerRange.safeParse({ from: Number(match[1]), to: Number(match[2]) }) : null;
  if (!parsed?.success) {
    throw new InputError(
      `Cannot parse '${flag}' as it must be FROM:TO with FROM < TO (e.g. 10:24): current value is '${text}'`,
    );
  }
  return parsed.data;
}

/** How `profs edit` spells the numeric parameters. */
const NUMBER_FLAGS = {
  rank: "--rank",
  max_pairs: "--max-pairs",
  seed: "--seed",
  max_tokens: "--max-tokens",
} as const;

/**
 * `profs edit`'s flags as EditParams, through the same schema the API validates with, so the command line and
 * `POST /v1/edits` accept exactly the same values; an error names the flag and its bounds.
 */
export function editParamsFromFlags(flags: {
  layers?: string;
  rank?: string;
  centering?: boolean;
  max_pairs?: string;
  seed?: string;
  max_tokens?: string;
  holdout?: string;
  base_model?: string;
  check?: boolean;
}): EditParams {
  const raw: Record<string, unknown> = {};
  if (flags.check !== undefined) raw.check = flags.check;
  if (flags.base_model !== undefined) {
    if (!EditParams.shape.base_model.unwrap().safeParse(flags.base_model).success) {
      throw new InputError(
        `Cannot edit as '--base-model' must be a hub id without spaces that does not start with '/', at most ` +
          `200 characters: current value is '${flags.base_model}'`,
      );
    }
    raw.base_model = flags.base_model;
  }
  if (flags.holdout !== undefined) {
    const n = /^(\d+(\.\d*)?|\.\d+)$/.test(flags.holdout.trim()) ? Number(flags.holdout) : NaN;
    if (!EditParams.shape.holdout.unwrap().safeParse(n).success) {
      throw new InputError(
        `Cannot edit as '--holdout' must be a share from 0 to ${HOLDOUT.maxShare} (0 turns the hold-out off): ` +
          `current value is '${flags.holdout}'`,
      );
    }
    raw.holdout = n;
  }
  if (flags.layers !== undefined) raw.layers = parseLayerRange(flags.layers);
  if (flags.centering !== undefined) raw.centering = flags.centering;
  for (const [key, flag] of Object.entries(NUMBER_FLAGS) as [keyof typeof NUMBER_FLAGS, string][]) {
    const text = flags[key];
    if (text === undefined) continue;
    const field = EditParams.shape[key].unwrap();
    const n = /^\d+$/.test(text.trim()) ? Number(text) : NaN;
    if (!field.safeParse(n).success) {
      throw new InputError(
        `Cannot edit as '${flag}' must be an integer from ${field.minValue} to ${field.maxValue}: ` +
          `current value is '${text}'`,
      );
    }
    raw[key] = n;
  }
  return EditParams.parse(raw);
}
