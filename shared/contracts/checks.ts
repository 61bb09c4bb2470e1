/**
 * Parameters of a check job (kind "check"), shared by whoever enqueues one and the worker that runs it. The job's
 * `model_id` is the model checked; with `edit_id` (a succeeded edit of that model) the edited model is checked
 * too, against the base (before/after, KL to the base), and the edit's HTML report is written with the figures.
 */
import { z } from "zod";

export const CheckParams = z.strictObject({
  edit_id: z.string().min(1).max(100).optional()
    .meta({ description: "a succeeded edit of the model: check its output against the base model" }),
  max_new_tokens: z.int().min(1).max(256).default(10)
    .meta({ description: "greedy tokens generated per challenge prompt" }),
  threshold: z.number().min(0).max(1).optional()
    .meta({ description: "toxicity score from which a continuation counts as toxic (default the scorer's)" }),
  max_tokens: z.int().min(1).max(4096).default(128)
    .meta({ description: "tokens kept of each held-out text and benign prompt" }),
}).meta({ id: "CheckParams" });
export type CheckParams = z.infer<typeof CheckParams>;
