/**
 * Parameters of a check job (kind "check"), shared by whoever enqueues one and the worker that runs it. The job's
 * `model_id` is the model checked; with `edit_id` (a succeeded edit of that model) the edited model is checked
 * too, against the base (before/after, KL to the base), and the edit's HTML report is written with the figures.
 * The prompts and texts are `texts` datasets of the tenant when named, else the built-in sets
 * (gpu-worker/eval/default_prompts.ts).
 */
import { z } from "zod";
import { pgText } from "./text.ts";

const textsDataset = (use: string) =>
  pgText(z.string().min(1).max(100)).optional()
    .meta({ description: `a \`texts\` dataset: ${use} (default the built-in set)` });

/** The check's dataset parameters, with the role of each (error messages and the worker name them). */
export const CHECK_DATASETS = {
  challenge_dataset_id: "challenge prompts",
  heldout_dataset_id: "held-out texts",
  benign_dataset_id: "benign prompts",
} as const;
export type CheckDatasetParam = keyof typeof CHECK_DATASETS;

export const CheckParams = z.strictObject({
  edit_id: pgText(z.string().min(1).max(100)).optional()
    .meta({ description: "a succeeded edit of the model: check its output against the base model" }),
  max_new_tokens: z.int().min(1).max(256).default(10)
    .meta({ description: "greedy tokens generated per challenge prompt" }),
  threshold: z.number().min(0).max(1).optional()
    .meta({ description: "toxicity score from which a continuation counts as toxic (default the scorer's)" }),
  max_tokens: z.int().min(1).max(4096).default(128)
    .meta({ description: "tokens kept of each held-out text and benign prompt" }),
  challenge_dataset_id: textsDataset(
    "the challenge prompts whose greedy continuations are scored for toxicity",
  ),
  heldout_dataset_id: textsDataset("the held-out texts of the perplexity"),
  benign_dataset_id: textsDataset("the benign prompts of the KL to the base model (checks of an edit)"),
}).meta({ id: "CheckParams" });
export type CheckParams = z.infer<typeof CheckParams>;
