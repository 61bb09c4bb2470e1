/**
 * The poison rule: an attempt that ends without its worker reporting — the lease expired while it ran (the
 * worker process died: out of memory, kill -9, a lost machine) or its compute thread died — is a lost attempt,
 * recorded as `lost` in the data of the job event that ends it (`retrying` or `failed`). A job that lost
 * `POISON_LOST_ATTEMPTS` attempts is failed as the user's error instead of being handed to a third worker: the
 * same input stopping two workers is far likelier to be the input than two unrelated machine failures. Its error
 * names the input and the limits that bound it. Pure wording; queue.ts counts and decides.
 */
import type { Job } from "./schema.ts";

/** Lost attempts after which a job fails as the user's error. */
export const POISON_LOST_ATTEMPTS = 2;

/** Why an attempt was lost. */
export type LostReason = "lease_expired" | "thread_lost";

/** What a lost attempt's event records (`data.lost`). */
export interface LostAttempt {
  reason: LostReason;
  /** The stage the attempt last reported (job.progress.stage), when it reported one. */
  stage?: string;
}

/** The stage a job last reported, from its `progress` column. */
export function lastStage(job: Pick<Job, "progress">): string | undefined {
  const progress = job.progress as { stage?: unknown } | null;
  return typeof progress?.stage === "string" ? progress.stage : undefined;
}

/**
 * The error of a job failed by the poison rule: which input (the dataset, or the model when the attempts died
 * loading or writing it), where they died, and the limits a user can lower.
 */
export function poisonError(
  job: Pick<Job, "datasetId" | "modelId" | "kind" | "params">,
  lost: LostAttempt[],
) {
  const stages = [...new Set(lost.map((l) => l.stage).filter((s) => s !== undefined))];
  const modelStage = stages.length > 0 && stages.every((s) => s === "loading_model" || s === "writing");
  const input = job.datasetId !== null && !modelStage
    ? `its dataset '${job.datasetId}'`
    : job.modelId !== null
    ? `its model '${job.modelId}'`
    : "its input";
  const params = (job.params ?? {}) as Record<string, unknown>;
  const setting = (
    name: string,
  ) => (params[name] === undefined ? `'${name}'` : `'${name}' = ${params[name]}`);
  const where = stages.length > 0 ? ` while ${stages.join(" / ")}` : "";
  return `Cannot run the job as it stopped ${lost.length} workers (each attempt ended without a report${where}): ` +
    `${input} likely needs more memory than a worker allows (the compute thread's budget, ` +
    `PROFS_WORKER_MEMORY_MB; each text is read up to max_tokens × 64 characters); use fewer pairs ` +
    `(${setting("max_pairs")}), shorter texts (${setting("max_tokens")}) or a smaller ${
      input.includes("model") ? "model" : "dataset"
    }`;
}
