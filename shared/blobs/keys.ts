/**
 * The blob store's key layout, in one place. Keys are `/`-separated; the first segment says what owns the bytes:
 *
 *   models/<model id>/<file name>                     uploaded model files (a model's folder is its prefix)
 *   datasets/<blob id>/pairs.jsonl | texts.jsonl | embeddings.safetensors
 *   embeddings/<blob id>/embeddings.safetensors       embeddings a worker computed and cached
 *   edits/<job id>/a<attempt>-<lease token prefix>/…  an edit attempt's outputs (published on success only;
 *                                                     `out/<file>` when written in place, shared/blobs/in_place.ts)
 *   checks/<job id>/a<attempt>-<lease token prefix>/… a check attempt's outputs
 *   tunes/<job id>/a<attempt>-<lease token prefix>/…  a tune attempt's outputs (tune.json, the chosen edit's files)
 *
 * Everything is found again through the database (model files, datasets, artifacts and the embedding cache
 * record their keys), never by listing.
 */

/** The top-level prefixes of jobs' outputs (`jobPrefix`): `<kind>s/<job id>/…`. */
export const JOB_ROOTS = ["edits", "checks", "tunes"] as const;

/** The top-level prefixes, for code that walks the whole store (tests, maintenance). */
export const BLOB_ROOTS = ["models", "datasets", "embeddings", ...JOB_ROOTS] as const;

/** A model's uploaded files live under this prefix, as a folder would. */
export function modelPrefix(modelId: string): string {
  return `models/${modelId}`;
}

export function modelFileKey(modelId: string, filename: string): string {
  return `${modelPrefix(modelId)}/${filename}`;
}

/** A new dataset file's key (a fresh id: a dataset's bytes never change once stored). */
export function newDatasetKey(filename: string): string {
  return `datasets/${crypto.randomUUID()}/${filename}`;
}

/** A new cached-embeddings file's key. */
export function newEmbeddingsKey(): string {
  return `embeddings/${crypto.randomUUID()}/embeddings.safetensors`;
}

/** Every attempt of a job publishes under this prefix. */
export function jobPrefix(job: { kind: string; id: string }): string {
  return `${job.kind}s/${job.id}`;
}

/**
 * The prefix private to one attempt of a job: a stale attempt's uploads can never land where a newer one
 * publishes, and a crashed attempt leaves at most one unreferenced prefix.
 */
export function attemptPrefix(
  job: { kind: string; id: string; attempt: number },
  leaseToken: string,
): string {
  return `${jobPrefix(job)}/a${job.attempt}-${leaseToken.slice(0, 8)}`;
}

/** The folder-like prefix a key sits in (`models/m1/config.json` → `models/m1`). */
export function parentPrefix(key: string): string {
  return key.slice(0, key.lastIndexOf("/"));
}
