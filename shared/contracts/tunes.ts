/**
 * Tune jobs (`POST /v1/tunes`, `profs tune`'s parameters): a search over layer ranges × ranks 1..max_rank ×
 * centering for the edit that best trades the held-out preference margin (or the toxicity of challenge
 * continuations) against KL to the base model, which then runs as a normal edit. The worker runs runTune
 * (gpu-worker/tune/tune.ts); each finished trial is a `trial` event of the job, so a retried attempt resumes the
 * search without repeating one. Artifacts: the chosen edit's files, tune.json (every trial, the Pareto front,
 * the chosen point and the rule) and report.html (the Pareto chart and the trial table).
 */
import { z } from "zod";
import { pgText } from "./text.ts";
import { EDIT_LIMITS, EditParams, HOLDOUT, LayerRange } from "./edit_params.ts";
import { ArtifactLink, EditResult, JobError, JobStatus, Progress } from "./edits.ts";
import { InputError } from "../errors.ts";
import { pageOf, PageQuery } from "./pagination.ts";

/** Bounds that keep one tune in proportion; raise them here when a user needs more. */
export const TUNE_LIMITS = { maxRank: 64, grid: 64, trials: 10_000, seconds: 7 * 24 * 3600 } as const;
export const TUNE_PARAM_DEFAULTS = { max_rank: 8, centering: "both", objective: "margin" } as const;

/** A start (the range start:L) or a range, as `profs tune --layers-grid` lists them. */
export const LayersGridItem = z.union([
  z.int().min(0).meta({ description: "a start: the range start:L" }),
  LayerRange,
]).meta({ id: "LayersGridItem" });

const TuneParamsObject = z.strictObject({
  max_rank: z.int().min(1).max(TUNE_LIMITS.maxRank).default(TUNE_PARAM_DEFAULTS.max_rank)
    .meta({ description: "ranks 1..max_rank are searched" }),
  layers_grid: z.array(LayersGridItem).min(1).max(TUNE_LIMITS.grid).optional().meta({
    description:
      "layer ranges searched: starts (end = L) or {from, to}; default every start on models up to " +
      "12 blocks, else 12 evenly spread starts",
  }),
  centering: z.enum(["on", "off", "both"]).default(TUNE_PARAM_DEFAULTS.centering)
    .meta({ description: "centering settings searched" }),
  trials: z.int().min(1).max(TUNE_LIMITS.trials).optional()
    .meta({
      description: "stop after this many trials (resumed ones count); at most one of trials, time_seconds",
    }),
  time_seconds: z.number().positive().max(TUNE_LIMITS.seconds).optional()
    .meta({
      description: "stop starting trials after this many seconds of search (the final edit not counted)",
    }),
  max_kl: z.number().min(0).optional().meta({
    description:
      "choose the largest gain with KL ≤ max_kl nats (default: the smallest KL reaching ≥ 90% of " +
      "the best gain)",
  }),
  objective: z.enum(["margin", "toxicity"]).default(TUNE_PARAM_DEFAULTS.objective).meta({
    description: "what the Pareto front trades against KL: the held-out margin gain, or the toxicity " +
      "reduction of greedy continuations of the prompts (needs `prompts_dataset_id`)",
  }),
  holdout: EditParams.shape.holdout,
  max_pairs: EditParams.shape.max_pairs,
  seed: EditParams.shape.seed,
  max_tokens: EditParams.shape.max_tokens,
  base_model: EditParams.shape.base_model,
});
const oneBudget: [
  (p: { trials?: number; time_seconds?: number }) => boolean,
  { message: string; path: string[] },
] = [
  (p) => p.trials === undefined || p.time_seconds === undefined,
  { message: "at most one of 'trials' and 'time_seconds' may be given", path: ["time_seconds"] },
];

export const TuneParams = TuneParamsObject.refine(...oneBudget).meta({ id: "TuneParams" });
export type TuneParams = z.infer<typeof TuneParams>;
export type TuneParamsInput = z.input<typeof TuneParams>;

/**
 * `layers_grid` as layer ranges of a model with `numLayers` blocks: a start s is s:L; every range must fit
 * (0 ≤ from < to ≤ L); duplicates are dropped. A misfit is the user's error naming the item (as FROM:TO, the
 * flag's spelling, which the API's {from, to} reads as well).
 */
export function layerRangesOfGrid(
  grid: readonly z.infer<typeof LayersGridItem>[],
  numLayers: number,
): LayerRange[] {
  const ranges = new Map<string, LayerRange>();
  for (const item of grid) {
    const range = typeof item === "number" ? { from: item, to: numLayers } : item;
    if (!(range.from < range.to && range.to <= numLayers)) {
      const spelled = typeof item === "number" ? String(item) : `${item.from}:${item.to}`;
      throw new InputError(
        `Cannot tune layers ${spelled} as a layers grid item must be a start below ${numLayers} or FROM:TO ` +
          `with 0 ≤ FROM < TO ≤ ${numLayers} (the model has ${numLayers} blocks)`,
      );
    }
    ranges.set(`${range.from}:${range.to}`, range);
  }
  return [...ranges.values()];
}

const DatasetId = pgText(z.string().min(1).max(100));

export const TuneCreate = z.strictObject({
  model_id: DatasetId.meta({ description: "a ready model" }),
  dataset_id: DatasetId.meta({ description: "a pairs dataset: a seeded share is held out for the margin" }),
  prompts_dataset_id: DatasetId.optional().meta({
    description:
      "a texts dataset of challenge prompts: adds the toxicity of greedy continuations to every trial",
  }),
  benign_dataset_id: DatasetId.optional().meta({
    description: "a texts dataset for KL to the base and perplexity (default: the held-out preferred texts)",
  }),
  params: TuneParams.default(TuneParams.parse({})),
}).refine((b) => b.params.objective !== "toxicity" || b.prompts_dataset_id !== undefined, {
  message: "the toxicity objective needs 'prompts_dataset_id'",
  path: ["prompts_dataset_id"],
}).meta({ id: "TuneCreate" });
export type TuneCreate = z.infer<typeof TuneCreate>;

/** What the job row holds as params: the request's params and the datasets beyond the pairs. */
export const TuneJobParams = TuneParamsObject.extend({
  prompts_dataset_id: z.string().optional(),
  benign_dataset_id: z.string().optional(),
}).refine(...oneBudget);
export type TuneJobParams = z.infer<typeof TuneJobParams>;

/** Stages in order; `trials` counts finished trials of the candidates the budget allows. */
export const TUNE_STAGES = [
  "loading_model",
  "embedding",
  "svd",
  "baseline",
  "trials",
  "editing",
  "publishing",
] as const;

const Point = z.object({
  key: z.string().meta({ description: "from:to/r<rank>/c<1|0>" }),
  layers: LayerRange,
  rank: z.int(),
  centering: z.boolean(),
  margin_gain: z.number().meta({ description: "held-out mean margin minus the base model's, nats/token" }),
  accuracy: z.number().meta({ description: "held-out preference accuracy" }),
  kl: z.number().meta({ description: "mean KL to the base model on the benign prompts, nats" }),
  perplexity: z.number(),
  toxicity: z.number().nullable().meta({
    description: "share of toxic continuations, when prompts were given",
  }),
}).meta({ id: "TunePoint" });
export type TunePoint = z.infer<typeof Point>;

export const TuneResult = z.object({
  chosen: Point,
  rule: z.string().meta({ description: "how the chosen point was picked from the front" }),
  front: z.array(z.string()).meta({ description: "keys of the Pareto front, by increasing KL" }),
  default: Point.nullable().meta({ description: "the default edit's trial, when it was searched" }),
  base: z.object({
    margin: z.number(),
    accuracy: z.number(),
    perplexity: z.number(),
    toxicity: z.number().nullable(),
  }),
  trials: z.int().meta({ description: "trials in the search (resumed ones included)" }),
  candidates: z.int(),
  resumed: z.int().meta({ description: "trials recorded by an earlier attempt and not run again" }),
  trials_per_second: z.number(),
  edit: EditResult.meta({ description: "the chosen edit, as an edit's result shows it" }),
}).meta({ id: "TuneResult" });
export type TuneResult = z.infer<typeof TuneResult>;

export const TuneView = z.object({
  id: z.string(),
  object: z.literal("tune"),
  status: JobStatus,
  model_id: z.string().nullable().meta({ description: "null once the model was deleted" }),
  dataset_id: z.string().nullable().meta({ description: "null once the dataset was deleted" }),
  prompts_dataset_id: z.string().nullable(),
  benign_dataset_id: z.string().nullable(),
  params: TuneParams,
  progress: Progress.nullable(),
  attempts: z.int().min(0),
  max_attempts: z.int().min(1),
  cancel_requested: z.boolean(),
  created_at: z.string(),
  started_at: z.string().nullable(),
  finished_at: z.string().nullable(),
  error: JobError.nullable(),
  result: TuneResult.nullable(),
  artifacts: z.array(ArtifactLink),
  links: z.object({ self: z.string(), events: z.string(), cancel: z.string() }),
}).meta({ id: "Tune" });
export type TuneView = z.infer<typeof TuneView>;

export const TunePage = pageOf(TuneView, "TunePage");
export const TuneListQuery = PageQuery.extend({ status: JobStatus.optional() });

/** What each parameter must be, for an error that names the rule (the schema above, in words). */
const RULES: Record<keyof TuneParams, string> = {
  max_rank: `an integer from 1 to ${TUNE_LIMITS.maxRank}`,
  layers_grid: `1 to ${TUNE_LIMITS.grid} layer starts or FROM:TO ranges with FROM < TO (e.g. 0,4,2:10)`,
  centering: "on, off or both",
  trials: `an integer from 1 to ${TUNE_LIMITS.trials}`,
  time_seconds: `seconds above 0 and at most ${TUNE_LIMITS.seconds} (${TUNE_LIMITS.seconds / 86_400} days)`,
  max_kl: "a non-negative number (nats)",
  objective: "margin or toxicity",
  holdout: `a share from 0 to ${HOLDOUT.maxShare} (0 turns the hold-out off)`,
  max_pairs: `an integer from 1 to ${EDIT_LIMITS.max_pairs}`,
  seed: `an integer from 0 to ${EDIT_LIMITS.seed}`,
  max_tokens: `an integer from 1 to ${EDIT_LIMITS.max_tokens}`,
  base_model: "a hub id without spaces that does not start with '/', at most 200 characters",
};

/** How a surface spells a parameter and its current value in an error. */
interface ParamSpelling {
  name(key: keyof TuneParams): string;
  value(key: keyof TuneParams): string;
}

/**
 * `raw` as TuneParams, by the schema the API validates with — the one check of tune parameters for every caller
 * that is not the API itself (runTune, the CLIs through tuneParamsFromFlags). The first bad parameter is the
 * user's error in one line, with its rule and current value, spelled as the API's keys unless `spelling` says.
 */
export function parseTuneParams(raw: Record<string, unknown>, spelling?: ParamSpelling): TuneParams {
  const parsed = TuneParams.safeParse(raw);
  if (parsed.success) return parsed.data;
  const spell: ParamSpelling = spelling ?? { name: (key) => key, value: (key) => JSON.stringify(raw[key]) };
  const issue = parsed.error.issues[0];
  const key = issue.path[0];
  if (issue.code === "unrecognized_keys") {
    throw new InputError(`Cannot tune as ${issue.keys.map((k) => `'${k}'`).join(", ")} is not a parameter`);
  }
  if (issue.code === "custom" && key === "time_seconds" && issue.path.length === 1) {
    const [trials, time] = [spell.name("trials"), spell.name("time_seconds")];
    throw new InputError(`Cannot tune as at most one of '${trials}' and '${time}' may be given`);
  }
  if (typeof key === "string" && key in RULES) {
    const k = key as keyof TuneParams;
    throw new InputError(
      `Cannot tune as '${spell.name(k)}' must be ${RULES[k]}: current value is ${spell.value(k)}`,
    );
  }
  throw new InputError(`Cannot tune as its parameters are invalid: ${issue.message}`);
}

/** The flag of each parameter, as `profs tune` and `profs tunes create` spell it. */
const FLAGS: Record<keyof TuneParams, string> = {
  max_rank: "--max-rank",
  layers_grid: "--layers-grid",
  centering: "--centering",
  trials: "--trials",
  time_seconds: "--time",
  max_kl: "--max-kl",
  objective: "--objective",
  holdout: "--holdout",
  max_pairs: "--max-pairs",
  seed: "--seed",
  max_tokens: "--max-tokens",
  base_model: "--base-model",
};

/** Flags as text, by parameter (`time_seconds` is `--time`). */
export type TuneFlags = Partial<Record<keyof TuneParams, string>>;

/**
 * `profs tune`'s and `profs tunes create`'s flags as TuneParams, through parseTuneParams — so both commands and
 * `POST /v1/tunes` accept exactly the same values with the same limits; an error names the flag, its rule and
 * the text given. `layers_grid` is "0,2,4" (starts) or "2:10,4:12" (ranges); the model's block count bounds it
 * later (layerRangesOfGrid: on the service at submission, in runTune offline).
 */
export function tuneParamsFromFlags(flags: TuneFlags): TuneParams {
  const spelling: ParamSpelling = { name: (key) => FLAGS[key], value: (key) => `'${flags[key]}'` };
  const fail = (key: keyof TuneParams) =>
    new InputError(
      `Cannot tune as '${FLAGS[key]}' must be ${RULES[key]}: current value is ${spelling.value(key)}`,
    );
  const raw: Record<string, unknown> = {};
  for (const [key, text] of Object.entries(flags) as [keyof TuneParams, string | undefined][]) {
    if (text === undefined) continue;
    switch (key) {
      case "max_rank":
      case "trials":
      case "max_pairs":
      case "seed":
      case "max_tokens":
        if (!/^\d+$/.test(text.trim())) throw fail(key);
        raw[key] = Number(text);
        break;
      case "time_seconds":
      case "max_kl":
      case "holdout":
        if (!/^(\d+(\.\d*)?|\.\d+)$/.test(text.trim())) throw fail(key);
        raw[key] = Number(text);
        break;
      case "layers_grid":
        raw[key] = text.split(",").map((item) => {
          const m = /^\s*(\d+)(?::(\d+))?\s*$/.exec(item);
          if (!m) throw fail(key);
          return m[2] === undefined ? Number(m[1]) : { from: Number(m[1]), to: Number(m[2]) };
        });
        break;
      default:
        raw[key] = text;
    }
  }
  return parseTuneParams(raw, spelling);
}
