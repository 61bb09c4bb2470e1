/**
 * Check jobs as the API shows them: `POST /v1/checks` on a ready model, or on a succeeded edit (then the base
 * model is checked too and the edited one is compared with it: KL, and report.html with before/after charts).
 * The job's own parameters are shared/contracts/checks.ts (what the worker reads); prompts and texts are the
 * `texts` datasets they name, else the built-in sets (gpu-worker/eval/default_prompts.ts).
 */
import { z } from "zod";
import { pgText } from "./text.ts";
import { CheckParams } from "./checks.ts";
import { ArtifactLink, JobError, JobStatus, Progress } from "./edits.ts";
import { pageOf, PageQuery } from "./pagination.ts";
import { CheckResult } from "./check_result.ts";

const CheckOptions = CheckParams.omit({ edit_id: true });

export const CheckCreate = z.strictObject({
  model_id: pgText(z.string().min(1).max(100)).optional().meta({ description: "check this ready model" }),
  edit_id: pgText(z.string().min(1).max(100)).optional()
    .meta({ description: "check this succeeded edit's model against its base model" }),
  params: CheckOptions.default(CheckOptions.parse({})),
}).refine((b) => (b.model_id === undefined) !== (b.edit_id === undefined), {
  message: "exactly one of 'model_id' and 'edit_id' must be given",
  path: ["model_id"],
}).meta({ id: "CheckCreate" });
export type CheckCreate = z.infer<typeof CheckCreate>;

/** What the worker stores (gpu-worker/worker/jobs/check_job.ts): one check, or base and edited model side by side. */
export const CheckJobResult = z.union([
  z.object({ check: CheckResult }),
  z.object({ edit_id: z.string(), before: CheckResult, after: CheckResult }),
]).meta({ id: "CheckJobResult" });
export type CheckJobResult = z.infer<typeof CheckJobResult>;

export const CheckView = z.object({
  id: z.string(),
  object: z.literal("check"),
  status: JobStatus,
  model_id: z.string().nullable(),
  edit_id: z.string().nullable(),
  params: CheckOptions,
  progress: Progress.nullable(),
  attempts: z.int().min(0),
  created_at: z.string(),
  finished_at: z.string().nullable(),
  error: JobError.nullable(),
  result: CheckJobResult.nullable(),
  artifacts: z.array(ArtifactLink),
}).meta({ id: "Check" });
export type CheckView = z.infer<typeof CheckView>;

export const CheckPage = pageOf(CheckView, "CheckPage");
export const CheckListQuery = PageQuery.extend({ status: JobStatus.optional() });
