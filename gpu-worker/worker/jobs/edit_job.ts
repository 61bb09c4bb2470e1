/**
 * One attempt of an edit job: the job's model and dataset as local files → `runEdit` (the very pipeline of
 * `profs edit`, in its own thread) → with `check`, the evaluation of base and edited model (in its own thread
 * too) and report.html → every output file a blob under an attempt-private prefix. The caller publishes them
 * (artifact rows) in the transaction that marks the job succeeded, so a crash at any point leaves no visible
 * artifact; a stale prefix is only ever garbage, removed by the next success.
 *
 * With a local blob store the edit writes straight into that prefix (`<prefix>/out/`, shared/blobs/in_place.ts)
 * and publishing only makes the files durable: the weights are never copied a second time, and their sha256 is
 * the one the writing thread computed on the way. With S3 the edit writes to scratch and each file is uploaded.
 *
 * Embeddings are cached per (model sha256, dataset sha256, pooling, max_tokens): a pairs dataset embedded whole
 * (rows ≤ max_pairs, so nothing was sampled away) is stored once, and later edits with any rank, layer range or
 * sample size read the cached file instead of running the model — the same float32 inputs, the same result.
 */
import { join } from "node:path";
import { localBlob } from "../../../shared/blobs/folder.ts";
import { adoptInPlace, inPlaceFolder } from "../../../shared/blobs/in_place.ts";
import { newEmbeddingsKey, parentPrefix } from "../../../shared/blobs/keys.ts";
import type { BlobInfo, BlobStore } from "../../../shared/blobs/store.ts";
import { EditParams } from "../../../shared/contracts/edit_params.ts";
import type { EditResult, HeldOutResult } from "../../../shared/contracts/edits.ts";
import type { ArtifactInput, Db, Job } from "../../../shared/db/index.ts";
import { findCachedEmbeddings, saveCachedEmbeddings } from "../../../shared/db/repositories/embeddings.ts";
import { CapacityError, DiskSpaceError, InputError } from "../../../shared/errors.ts";
import { POOLING } from "../../../shared/formats/embeddings.ts";
import type { Logger } from "../../../shared/log.ts";
import { directionSides, type EditReport, type HeldOutReport } from "../../edit/report.ts";
import type { MarginSummary } from "../../eval/margin.ts";
import type { EditStage, WeightFile } from "../../edit/pipeline.ts";
import type { TuneStage } from "../../tune/tune.ts";
import { followFile, syncWhileWritten } from "./follow_file.ts";
import { resolveDataset, resolveModel } from "./inputs.ts";
import { evaluationMetrics, REPORT_HTML_FILE, writeReportHtml } from "../../eval/evaluate_edit.ts";
import { type ComputeThread, runInThread, startComputeThread } from "./run_in_thread.ts";
import { workerMemoryMb } from "../../runtime/memory_budget.ts";
import { LORA_TAR_FILE, writeTarOfFolder } from "../../edit/lora.ts";
import type { ComputeBackend } from "../../runtime/backends.ts";

export interface JobRun {
  db: Db;
  blobs: BlobStore;
  logger: Logger;
  job: Job;
  /** Blob prefix private to this attempt (`edits/<job>/a<attempt>-<token>`). */
  blobPrefix: string;
  /** Empty directory of this attempt, removed by the caller. */
  scratch: string;
  /** The compute backend this worker resolved (auto → webgpu when an adapter exists). */
  backend: ComputeBackend;
  signal: AbortSignal;
  onProgress: (
    stage: EditStage | "publishing" | "evaluating" | "downloading" | "validating" | TuneStage,
    done: number,
    total: number,
  ) => void;
  /** The compute threads' memory budget and watchdog (run_in_thread.ts). */
  thread: { memoryMb?: number; silenceMs?: number };
  /**
   * A compute thread for the job's task, heap capped at `thread.memoryMb`: the worker's spare one, started while
   * it waited for work (its modules and an edit's stream threads are up by the time a job comes), else a new one
   * (the default).
   */
  computeThread?: () => ComputeThread;
  /** Records an event of this attempt (a tune's finished trial), fenced by its lease; false = lease lost. */
  recordEvent: (type: string, data: Record<string, unknown>) => Promise<boolean>;
}

export interface JobOutput {
  result: unknown;
  artifacts: ArtifactInput[];
}

const CONTENT_TYPES: Record<string, string> = {
  ".json": "application/json",
  ".md": "text/markdown; charset=utf-8",
  ".html": "text/html; charset=utf-8",
  ".safetensors": "application/octet-stream",
  ".tar": "application/x-tar",
};

export async function runEditJob(run: JobRun): Promise<JobOutput> {
  // The edit's thread loads its modules while the inputs are resolved; runInThread ends it, or the finally.
  const thread = run.computeThread?.() ?? startComputeThread(run.thread.memoryMb ?? workerMemoryMb());
  try {
    return await editJob(run, thread);
  } finally {
    thread.terminate().catch(() => {});
  }
}

async function editJob(run: JobRun, thread: ComputeThread): Promise<JobOutput> {
  const { db, blobs, job, scratch } = run;
  const parsed = EditParams.safeParse(job.params);
  if (!parsed.success) {
    throw new InputError(`Cannot run the edit as its parameters are invalid: ${parsed.error.message}`);
  }
  const params = parsed.data;
  const { model, dir: modelDir } = await resolveModel(db, blobs, job.tenantId, job.modelId, scratch);
  const dataset = await resolveDataset(db, job.tenantId, job.datasetId);
  if (dataset.kind === "texts") {
    throw new InputError(
      `Cannot edit with dataset '${dataset.id}' as it must be pairs or embeddings: it is texts`,
    );
  }
  const datasetFile = await localBlob(
    blobs,
    dataset.blobKey,
    join(scratch, dataset.kind === "pairs" ? "pairs.jsonl" : "embeddings.safetensors"),
    `dataset '${dataset.id}'`,
  );

  let pairsFile: string | undefined;
  let embeddingsFile: string | undefined;
  let embeddingsPairsFile: string | undefined;
  let saveEmbeddings: string | undefined;
  let embeddingsCache: "hit" | "miss" | undefined;
  const cacheKey = model.sha256 === null ? null : {
    modelSha256: model.sha256,
    datasetSha256: dataset.sha256,
    pooling: POOLING,
    maxTokens: params.max_tokens,
  };
  if (dataset.kind === "embeddings") {
    embeddingsFile = datasetFile;
  } else {
    const cached = cacheKey && await findCachedEmbeddings(db, job.tenantId, cacheKey);
    if (cached && await blobs.exists(cached.blobKey)) {
      embeddingsFile = await localBlob(
        blobs,
        cached.blobKey,
        join(scratch, "cached.safetensors"),
        "cached embeddings",
      );
      run.logger.info("embeddings from cache", { job: job.id, blob: cached.blobKey });
      embeddingsCache = "hit";
      embeddingsPairsFile = datasetFile; // the cached rows are the dataset's, row for row: its texts for the hold-out
    } else {
      embeddingsCache = "miss";
      pairsFile = datasetFile;
      if (cacheKey && dataset.rows <= params.max_pairs) {
        saveEmbeddings = join(scratch, "embeddings.safetensors");
      }
    }
  }

  // In place: `<prefix>/out` (runEdit's partial folder `out.partial-…` beside it is in the prefix too, so a
  // failed or abandoned attempt's deletePrefix removes both).
  const outPrefix = `${run.blobPrefix}/out`;
  const inPlace = inPlaceFolder(blobs, outPrefix);
  const outDir = inPlace ?? join(scratch, "out");
  if (inPlace) await Deno.mkdir(inPlaceFolder(blobs, run.blobPrefix)!, { recursive: true });
  // The weight files while the edit writes them: without a local folder (S3) each is uploaded as it grows
  // (followFile), a multipart upload that completes, with the writer's hash, only once the edit succeeded; in
  // place each is flushed to disk as it grows, so that publishing's fsync has only the tail left to write.
  // The writer's watermark per file (EditHooks.onWeightWritten): the bytes below it are final, for the upload or
  // the flush that follows the file.
  const marks = new Map<string, number>();
  const markOf = (name: string) => marks.get(name) ?? 0;
  const streaming = inPlace ? null : streamWeights(blobs, run.blobPrefix, run.signal, markOf);
  const flushing = new AbortController();
  const flushes: Promise<void>[] = [];
  const flushWhileWritten = (files: WeightFile[]) => {
    for (const file of files) {
      const final = () => markOf(file.name);
      flushes.push(syncWhileWritten(file.path, file.size, flushing.signal, { final }));
    }
  };
  const outcome = await runInThread("edit", {
    modelDir,
    outDir,
    pairsFile,
    embeddingsFile,
    embeddingsPairsFile,
    holdout: params.holdout,
    layers: params.layers,
    rank: params.rank,
    centering: params.centering,
    maxPairs: params.max_pairs,
    seed: params.seed,
    maxTokens: params.max_tokens,
    backend: run.backend,
    saveEmbeddings,
    loraOut: join(scratch, "lora"),
    baseModel: params.base_model,
    // The report names the data as the user gave it (a pairs dataset stays pairs on a cache hit), never a path.
    provenance: { kind: dataset.kind, datasetId: dataset.id, sha256: dataset.sha256, embeddingsCache },
    modelSha256: model.sha256 ?? undefined, // finalized: embeddings are checked against it without hashing first
    memoryMb: run.thread.memoryMb ?? workerMemoryMb(),
  }, {
    signal: streaming?.signal ?? run.signal,
    onProgress: run.onProgress,
    logger: run.logger,
    ...run.thread,
    onWeightFiles: streaming?.start ?? flushWhileWritten,
    onWeightWritten: (name, upTo) => marks.set(name, Math.max(upTo, markOf(name))),
    thread,
  }).finally(async () => {
    flushing.abort();
    await Promise.all(flushes);
  }).then((outcome) => {
    streaming?.written(outcome);
    return outcome;
  }, (error) => {
    streaming?.failed(error);
    throw hideLocalPaths(error, [[modelDir, `model '${model.id}'`], [
      datasetFile,
      `dataset '${dataset.id}'`,
    ]]);
  });
  const uploaded = await streaming?.uploaded;

  // The edit must be of the weights that were finalized (validated, summarised, shown to the user): the copy
  // hashed what it read, so weights replaced since — by hand, or by an upload that raced the finalize — fail the
  // job here instead of being published as an edit of that model.
  if (model.sha256 !== null && outcome.report.model.sha256 !== model.sha256) {
    throw new InputError(
      `Cannot publish the edit as model '${model.id}' changed after it was finalized: its weights hash to ` +
        `${outcome.report.model.sha256}, finalized as ${model.sha256}; upload and finalize it again`,
    );
  }

  let metrics: Record<string, number> | undefined;
  if (params.check) {
    const evaluation = await runInThread(
      "evaluate-edit",
      { baseDir: modelDir, editedDir: outDir, backend: run.backend, inputs: {}, check: {} },
      {
        signal: run.signal,
        onProgress: (_stage, done, total) => run.onProgress("evaluating", done, total),
        logger: run.logger,
        ...run.thread,
      },
    );
    await writeReportHtml(outDir, outcome.report, evaluation);
    outcome.files.push(REPORT_HTML_FILE);
    metrics = evaluationMetrics(evaluation);
  }

  // The edit as a PEFT LoRA adapter, one artifact: `tar xf lora.tar` gives the adapter folder `lora/`.
  await writeTarOfFolder(join(outDir, LORA_TAR_FILE), join(scratch, "lora"), "lora");
  outcome.files.push(LORA_TAR_FILE);

  const artifacts: ArtifactInput[] = [];
  const files = outcome.files;
  for (const [i, name] of files.entries()) {
    run.signal.throwIfAborted();
    const info = uploaded?.get(name) ??
      (inPlace
        ? await adoptInPlace(blobs, `${outPrefix}/${name}`, outcome.fileSha256[name])
        : await blobs.put(`${run.blobPrefix}/${name}`, (await Deno.open(join(outDir, name))).readable));
    artifacts.push({
      name,
      blobKey: info.key,
      size: info.size,
      sha256: info.sha256,
      contentType: contentType(name),
    });
    run.onProgress("publishing", i + 1, files.length);
  }
  if (saveEmbeddings && cacheKey) await cacheEmbeddings(run, cacheKey, saveEmbeddings);
  return { result: { ...editResult(outcome.report), ...(metrics ? { metrics } : {}) }, artifacts };
}

interface WeightStreaming {
  /** The edit's signal: the attempt's, also aborted by a failed upload (with its error). */
  signal: AbortSignal;
  /** Starts uploading the files (EditHooks.onWeightFiles). */
  start(files: WeightFile[]): void;
  /** The edit succeeded: its files are whole, in `outDir`, with these hashes (by name). */
  written(outcome: { outDir: string; fileSha256: Record<string, string> }): void;
  /** The edit failed: the uploads are abandoned, storing nothing. */
  failed(error: unknown): void;
  /** Each uploaded file's blob info by name, once every upload completed. */
  uploaded: Promise<Map<string, BlobInfo>>;
}

/**
 * Uploads an edit's weight files to `prefix/<name>` while the edit writes them, all at once (a sharded model's
 * later files are waited for as they appear). Each upload completes only with the writer's hash, so only after
 * the edit succeeded; the edit's output folder is renamed into place at its end, so a file not yet opened by
 * then is followed at its final path. `mark(name)`: the writer's watermark of a file, up to which its upload
 * may read.
 */
function streamWeights(
  blobs: BlobStore,
  prefix: string,
  attempt: AbortSignal,
  mark: (name: string) => number,
): WeightStreaming {
  const uploadFailed = new AbortController();
  const signal = AbortSignal.any([attempt, uploadFailed.signal]);
  const writer = new AbortController(); // the edit's failure, for the followers
  const following = AbortSignal.any([signal, writer.signal]);
  const done = Promise.withResolvers<{ outDir: string; fileSha256: Record<string, string> }>();
  const started = Promise.withResolvers<WeightFile[]>();
  let outDir: string | null = null;
  done.promise.then((outcome) => outDir = outcome.outDir, () => {});
  started.promise.catch(() => {});
  const uploaded = started.promise.then(async (files) => {
    const infos = await Promise.all(files.map((file) => {
      const path = () => outDir === null ? file.path : join(outDir, file.name);
      const sha256 = done.promise.then((outcome) => outcome.fileSha256[file.name]);
      const final = () => outDir === null ? mark(file.name) : file.size; // whole once the edit succeeded
      return blobs.put(`${prefix}/${file.name}`, followFile(path, file.size, following, { final }), {
        sha256,
      });
    }));
    return new Map(infos.map((info, i) => [files[i].name, info]));
  });
  uploaded.catch((error) => uploadFailed.abort(error));
  return {
    signal,
    start: started.resolve,
    written: (outcome) => {
      started.reject(new Error("the edit announced no weight files")); // no effect once started
      done.resolve(outcome);
    },
    failed: (error) => {
      writer.abort(error);
      started.reject(error);
      done.reject(error);
    },
    uploaded,
  };
}

/** Stores freshly computed embeddings; when another worker cached the same key first, its copy wins. */
async function cacheEmbeddings(
  run: JobRun,
  key: { modelSha256: string; datasetSha256: string; pooling: string; maxTokens: number },
  path: string,
): Promise<void> {
  const blobKey = newEmbeddingsKey();
  const file = await Deno.open(path, { read: true });
  const info = await run.blobs.put(blobKey, file.readable);
  const entry = await saveCachedEmbeddings(run.db, run.job.tenantId, key, {
    blobKey,
    size: info.size,
    sha256: info.sha256,
  });
  if (entry.blobKey !== blobKey) await run.blobs.deletePrefix(parentPrefix(blobKey));
}

/** The API's view of the report (shared/contracts/edits.ts EditResult). */
export function editResult(report: EditReport): EditResult {
  return {
    layers: report.layers.map((layer) => ({
      layer: layer.layer,
      singular_values: layer.singularValues,
      explained_variance: layer.explainedVariance,
      top_tokens: layer.directions.map((d) => tokens(directionSides(d)[0].tokens)),
      opposite_tokens: layer.directions.map((d) => tokens(directionSides(d)[1].tokens)),
      toxic_sides: layer.directions.map((d) => {
        const first = directionSides(d)[0];
        return first.toxic ? first.sign : null;
      }),
      effective_rank: layer.effectiveRank,
    })),
    warnings: report.warnings?.length ? report.warnings : undefined,
    num_pairs: report.source.pairsUsed,
    ...(report.heldOut ? { held_out: heldOutResult(report.heldOut) } : {}),
    model_sha256: report.model.sha256,
  };
}

function heldOutResult(h: HeldOutReport): HeldOutResult {
  const view = (m: MarginSummary) => ({ pairs: m.pairs, mean_margin: m.meanMargin, accuracy: m.accuracy });
  return {
    share: h.share,
    pairs: h.pairs,
    ...(h.base ? { base: view(h.base) } : {}),
    ...(h.edited ? { edited: view(h.edited) } : {}),
    ...(h.skipped ? { skipped: h.skipped } : {}),
  };
}

function tokens(list: { token: string; score: number }[]): { token: string; score: number }[] {
  return list.map(({ token, score }) => ({ token, score }));
}

export function contentType(name: string): string {
  const dot = name.lastIndexOf(".");
  return CONTENT_TYPES[dot < 0 ? "" : name.slice(dot)] ?? "application/octet-stream";
}

/** Server paths mean nothing to the user (and are not theirs to see): name the model or dataset instead. */
export function hideLocalPaths(error: unknown, paths: [string, string][]): unknown {
  if (!(error instanceof InputError)) return error;
  let message = error.message;
  for (const [path, name] of paths) message = message.replaceAll(`'${path}'`, name).replaceAll(path, name);
  if (message === error.message) return error;
  // The same class with the paths named: classification goes by class (job_error.ts).
  if (error instanceof CapacityError) return new CapacityError(error.resource, message, { cause: error });
  if (error instanceof DiskSpaceError) return new DiskSpaceError(message, { cause: error });
  return new InputError(message, { cause: error });
}
