/**
 * How long one attempt of a job may run before the worker stops it and fails the job (never retried: the same
 * job on the same kind of worker would run as long again). Every attempt has a limit, so no job stays "running"
 * forever whatever its code waits on.
 *
 * The default is sized from the work the job asks for — generous, since a limit that stops a healthy job is
 * worse than a stuck job that ends late:
 * - 30 min for everything a job does once (downloads, loading, copying and hashing a model of some GB, uploads);
 * - 60 s per edited block (its subspace; seconds on a GPU, tens on a software adapter at a high rank);
 * - 2 s per pair the edit may embed (`max_pairs`: both texts of a pair through the model; ~0.2 s on the CPU
 *   backend for GPT-2 medium at 128 tokens, so a 10× margin);
 * - 15 min more when the edit also runs a check (two models over the prompts and held-out texts); a check job
 *   gets the base plus that;
 * - a tune: twice the base (the search's setup, then the chosen edit), 2 s per pair, and its search budget —
 *   `time_seconds`, else 60 s per trial it may run (`trials`, else every candidate of its grid; 12 starts when
 *   the grid is the model's default).
 * PROFS_JOB_MAX_SECONDS (or the worker's `maxJobSeconds`) replaces the default with one limit for every job.
 */
import { EditParams, LayerRange } from "../../../shared/contracts/edit_params.ts";
import type { Job } from "../../../shared/db/index.ts";
import { TuneJobParams } from "../../../shared/contracts/tunes.ts";
import { InputError } from "../../../shared/errors.ts";

export const JOB_TIME = {
  baseSeconds: 1800,
  perLayerSeconds: 60,
  perPairSeconds: 2,
  checkSeconds: 900,
  perTrialSeconds: 60,
} as const;

export const JOB_MAX_SECONDS_ENV = "PROFS_JOB_MAX_SECONDS";

/** The default limit of `job`, in seconds (see above). */
export function defaultJobSeconds(job: Pick<Job, "kind" | "params">): number {
  if (job.kind === "tune") return defaultTuneSeconds(job.params);
  if (job.kind !== "edit") return JOB_TIME.baseSeconds + JOB_TIME.checkSeconds;
  const parsed = EditParams.safeParse(job.params);
  if (!parsed.success) return JOB_TIME.baseSeconds; // the job fails on its parameters at once anyway
  const params = parsed.data;
  // The API stores the resolved range; a job without one (older rows) gets the largest models' block count.
  const layers: LayerRange = params.layers ?? { from: 0, to: 96 };
  return JOB_TIME.baseSeconds + JOB_TIME.perLayerSeconds * (layers.to - layers.from) +
    JOB_TIME.perPairSeconds * params.max_pairs + (params.check ? JOB_TIME.checkSeconds : 0);
}

function defaultTuneSeconds(raw: unknown): number {
  const parsed = TuneJobParams.safeParse(raw);
  if (!parsed.success) return JOB_TIME.baseSeconds; // the job fails on its parameters at once anyway
  const p = parsed.data;
  const candidates = (p.layers_grid?.length ?? 12) * p.max_rank * (p.centering === "both" ? 2 : 1);
  const search = p.time_seconds ?? JOB_TIME.perTrialSeconds * Math.min(p.trials ?? candidates, candidates);
  return 2 * JOB_TIME.baseSeconds + JOB_TIME.perPairSeconds * p.max_pairs + Math.ceil(search);
}

/** PROFS_JOB_MAX_SECONDS as a number of seconds, or undefined when unset; anything else is a setup error. */
export function jobSecondsFromEnv(
  env: { get(name: string): string | undefined } = Deno.env,
): number | undefined {
  const value = env.get(JOB_MAX_SECONDS_ENV);
  if (value === undefined || value === "") return undefined;
  return checkJobSeconds(Number(value), JOB_MAX_SECONDS_ENV, value);
}

export function checkJobSeconds(seconds: number, option: string, raw: unknown = seconds): number {
  if (!Number.isFinite(seconds) || seconds <= 0) {
    throw new InputError(
      `Cannot start a worker as '${option}' must be a positive number of seconds: current value is '${raw}'`,
    );
  }
  return seconds;
}

/** The reason an attempt is aborted with when it runs past its limit; its message is the job's error. */
export class TimeLimitExceeded extends Error {
  override name = "TimeLimitExceeded";
  constructor(readonly seconds: number, readonly source: string) {
    super(
      `Cannot finish the job as it ran past its time limit of ${
        formatSeconds(seconds)
      } (${source}); it was ` +
        `stopped and will not be retried: use fewer pairs or layers, or raise ${JOB_MAX_SECONDS_ENV}`,
    );
  }
}

function formatSeconds(seconds: number): string {
  return seconds >= 120 ? `${seconds} s (${(seconds / 60).toFixed(1)} min)` : `${seconds} s`;
}
