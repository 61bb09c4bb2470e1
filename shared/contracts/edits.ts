/**
 * Edit jobs as the API shows them and as the worker reports them: status, progress, result, events.
 *
 * Job states (docs/ARCHITECTURE.md §5): `queued → running → succeeded | failed | canceled`. A job is at-least-once: a
 * lease may expire and put a running job back to queued with attempts + 1.
 */
import { z } from "zod";
import { pgText } from "./text.ts";
import { EditParams, EditParamsView } from "./edit_params.ts";
import { pageOf, PageQuery } from "./pagination.ts";

export const JOB_STATUSES = ["queued", "running", "succeeded", "failed", "canceled"] as const;
export const JobStatus = z.enum(JOB_STATUSES).meta({ id: "JobStatus" });
export type JobStatus = z.infer<typeof JobStatus>;
export const TERMINAL_STATUSES: readonly JobStatus[] = ["succeeded", "failed", "canceled"];

export const EditCreate = z.strictObject({
  model_id: pgText(z.string().min(1).max(100)),
  dataset_id: pgText(z.string().min(1).max(100)),
  params: EditParams.default(EditParams.parse({})),
}).meta({ id: "EditCreate" });
export type EditCreate = z.infer<typeof EditCreate>;

/** Stages in the order a worker goes through them (issue 8); `done`/`total` count items within a stage. */
export const EDIT_STAGES = [
  "loading_model",
  "embedding",
  "svd", // per layer: centering, then the subspace iteration
  "writing", // per tensor: edited ones are projected as they stream out
  "margin", // per held-out text, base model then edited model: the preference margin
  "publishing", // per output file, into the blob store
  "evaluating", // check jobs
] as const;

export const Progress = z.object({
  stage: z.string().meta({ description: `one of ${EDIT_STAGES.join(", ")}` }),
  done: z.int().min(0),
  total: z.int().min(0),
}).meta({ id: "Progress" });
export type Progress = z.infer<typeof Progress>;

export const TopToken = z.object({ token: z.string(), score: z.number() });

export const LayerResult = z.object({
  layer: z.int().min(0),
  singular_values: z.array(z.number()).meta({ description: "top singular values of the (centered) T_l" }),
  explained_variance: z.array(z.number())
    .meta({ description: "per removed direction, its share of T_l's squared Frobenius norm" }),
  top_tokens: z.array(z.array(TopToken))
    .meta({
      description:
        "per removed direction, the tokens of its toxic side: the side the rejected texts point to " +
        "(sign of mean(x⁻ − x⁺)·v), so the tokens the removed component raised; `toxic_sides` says which sign",
    }),
  opposite_tokens: z.array(z.array(TopToken)).optional()
    .meta({ description: "per removed direction, the tokens of its other side" }),
  toxic_sides: z.array(z.enum(["+", "−"]).nullable()).optional()
    .meta({
      description: "per removed direction, the sign of unembedding · v on its toxic side (null: the data " +
        "points to neither side; top_tokens are then the + side)",
    }),
  effective_rank: z.int().min(0).optional()
    .meta({
      description:
        "singular values of T_l above its noise floor (σ₁·max(N, D)·2⁻²³); a rank above it removes " +
        "arbitrary directions (see `warnings`)",
    }),
}).meta({ id: "LayerResult" });
export type LayerResult = z.infer<typeof LayerResult>;

export const MarginSummaryView = z.object({
  pairs: z.int().min(0).meta({
    description: "held-out pairs counted (a side of one token predicts nothing)",
  }),
  mean_margin: z.number().meta({
    description: "mean over pairs of the mean per-token log-likelihood of the preferred text minus that of " +
      "the rejected text, in nats per token",
  }),
  accuracy: z.number().min(0).max(1).meta({ description: "share of pairs whose margin is above 0" }),
}).meta({ id: "MarginSummary" });
export type MarginSummaryView = z.infer<typeof MarginSummaryView>;

export const HeldOutResult = z.object({
  share: z.number().meta({ description: "the `holdout` share asked for" }),
  pairs: z.int().min(0).meta({ description: "pairs held out: never used to find the subspace" }),
  base: MarginSummaryView.optional().meta({ description: "the base model on the held-out pairs" }),
  edited: MarginSummaryView.optional().meta({ description: "the edited model on the held-out pairs" }),
  skipped: z.string().optional().meta({
    description: "why no pair was held out (too few pairs, embeddings)",
  }),
}).meta({ id: "HeldOutResult" });
export type HeldOutResult = z.infer<typeof HeldOutResult>;

export const EditResult = z.object({
  layers: z.array(LayerResult),
  warnings: z.array(z.string()).optional()
    .meta({
      description:
        "what the edit did not fail on but you should know, e.g. a rank above a block's effective rank",
    }),
  num_pairs: z.int().min(0).optional().meta({ description: "pairs that found the subspace" }),
  held_out: HeldOutResult.optional().meta({
    description: "the preference margin of base and edited model on the pairs held out from the subspace",
  }),
  model_sha256: z.string().optional(),
  metrics: z.record(z.string(), z.number()).optional()
    .meta({ description: "evaluation figures when the worker computed them (toxicity, perplexity, ...)" }),
}).meta({ id: "EditResult" });
export type EditResult = z.infer<typeof EditResult>;

export const JobError = z.object({
  message: z.string(),
  code: z.string().optional().meta({
    description: "e.g. bad_model, out_of_memory, device_lost, lease_expired",
  }),
}).meta({ id: "JobError" });
export type JobError = z.infer<typeof JobError>;

export const ArtifactLink = z.object({
  name: z.string(),
  size: z.int().min(0),
  sha256: z.string().nullable(),
  url: z.string(),
}).meta({ id: "ArtifactLink" });
export type ArtifactLink = z.infer<typeof ArtifactLink>;

export const EditView = z.object({
  id: z.string(),
  object: z.literal("edit"),
  status: JobStatus,
  model_id: z.string().nullable().meta({ description: "null once the model was deleted" }),
  dataset_id: z.string().nullable().meta({ description: "null once the dataset was deleted" }),
  params: EditParamsView,
  progress: Progress.nullable(),
  attempts: z.int().min(0),
  max_attempts: z.int().min(1),
  cancel_requested: z.boolean(),
  created_at: z.string(),
  started_at: z.string().nullable(),
  finished_at: z.string().nullable(),
  timings: z.object({
    queued_seconds: z.number().nullable().meta({
      description: "from creation until the last attempt started",
    }),
    running_seconds: z.number().nullable().meta({
      description: "of the last attempt, so far if still running",
    }),
  }),
  error: JobError.nullable(),
  result: EditResult.nullable(),
  artifacts: z.array(ArtifactLink),
  links: z.object({ self: z.string(), events: z.string(), cancel: z.string() }),
}).meta({ id: "Edit" });
export type EditView = z.infer<typeof EditView>;

export const EditPage = pageOf(EditView, "EditPage");

export const EditListQuery = PageQuery.extend({ status: JobStatus.optional() });

export const JobEvent = z.object({
  seq: z.int().min(1).meta({ description: "increasing per job; the SSE event id" }),
  type: z.string().meta({
    description: "queued, started, progress, retry, cancel_requested, succeeded, failed, canceled",
  }),
  at: z.string(),
  data: z.record(z.string(), z.unknown()),
}).meta({ id: "JobEvent" });
export type JobEvent = z.infer<typeof JobEvent>;

export const JobEventList = z.object({
  data: z.array(JobEvent),
  status: JobStatus,
  has_more: z.boolean().meta({ description: "more events follow: ask again with `after` = the last seq" }),
}).meta({ id: "JobEventList" });
