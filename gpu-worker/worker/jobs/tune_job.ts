/**
 * One attempt of a tune job: the job's model, pairs and texts datasets as local files → `runTune` (the engine of
 * `profs tune`, in its own thread) → the chosen edit's files, tune.json, report.html and the LoRA adapter as
 * blobs under the attempt's private prefix, published by the caller with the job's success.
 *
 * Trials survive the attempt: each finished trial comes back from the thread as a `record` message and is written
 * as a `trial` event of the job (fenced by the lease) as soon as it arrives; a later attempt (a crashed worker's
 * retry) loads those events and the search skips them. A trial whose message was still on its way when the worker
 * died runs again; no recorded trial does.
 */
import { join } from "node:path";
import { localBlob } from "../../../shared/blobs/folder.ts";
import { TuneJobParams, type TunePoint, type TuneResult } from "../../../shared/contracts/tunes.ts";
import type { EditResult } from "../../../shared/contracts/edits.ts";
import type { ArtifactInput } from "../../../shared/db/index.ts";
import { getDataset } from "../../../shared/db/repositories/datasets.ts";
import { listJobEvents } from "../../../shared/db/repositories/jobs.ts";
import { InputError } from "../../../shared/errors.ts";
import { readTextsFile } from "../../../shared/formats/texts.ts";
import type { TrialRecord, TuneDocument } from "../../tune/tune.ts";
import { LORA_TAR_FILE, writeTarOfFolder } from "../../edit/lora.ts";
import { contentType, editResult, hideLocalPaths, type JobOutput, type JobRun } from "./edit_job.ts";
import { resolveDataset, resolveModel } from "./inputs.ts";
import { runInThread } from "./run_in_thread.ts";

/** The event type a finished trial is recorded as. */
export const TRIAL_EVENT = "trial";

export async function runTuneJob(run: JobRun): Promise<JobOutput> {
  const { db, blobs, job, scratch } = run;
  const parsed = TuneJobParams.safeParse(job.params);
  if (!parsed.success) {
    throw new InputError(`Cannot run the tune as its parameters are invalid: ${parsed.error.message}`);
  }
  // The datasets beyond the pairs are inputs here; the rest is the search's settings, as runTune takes them.
  const { prompts_dataset_id, benign_dataset_id, ...params } = parsed.data;
  const { model, dir: modelDir } = await resolveModel(db, blobs, job.tenantId, job.modelId, scratch);
  const dataset = await resolveDataset(db, job.tenantId, job.datasetId);
  if (dataset.kind !== "pairs") {
    throw new InputError(
      `Cannot tune with dataset '${dataset.id}' as it must be pairs: it is ${dataset.kind}`,
    );
  }
  const pairsFile = await localBlob(
    blobs,
    dataset.blobKey,
    join(scratch, "pairs.jsonl"),
    `dataset '${dataset.id}'`,
  );
  const challengePrompts = await texts(run, prompts_dataset_id, "challenge prompts");
  const benign = await texts(run, benign_dataset_id, "benign texts");

  const recorded = await recordedTrials(run);
  if (recorded.length) run.logger.info("tune resumes", { job: job.id, recordedTrials: recorded.length });
  // Trials are written one after another, in the order they finished; the result waits for the last write.
  let writes: Promise<void> = Promise.resolve();
  let lost = false;
  const onRecord = (record: unknown) => {
    writes = writes.then(async () => {
      if (lost) return;
      if (!await run.recordEvent(TRIAL_EVENT, record as Record<string, unknown>)) lost = true;
    });
  };

  const outDir = join(scratch, "out");
  const { document, edit } = await runInThread("tune", {
    modelDir,
    pairsFile,
    outDir,
    challengePrompts,
    benignPrompts: benign,
    benignTexts: benign,
    params,
    backend: run.backend,
    modelSha256: model.sha256 ?? undefined,
    loraOut: join(scratch, "lora"),
    recorded,
  }, {
    signal: run.signal,
    onProgress: run.onProgress,
    logger: run.logger,
    onRecord,
  }).catch((error) => {
    throw hideLocalPaths(error, [[modelDir, `model '${model.id}'`], [pairsFile, `dataset '${dataset.id}'`]]);
  });
  await writes;
  run.signal.throwIfAborted();

  await writeTarOfFolder(join(outDir, LORA_TAR_FILE), join(scratch, "lora"), "lora");
  const files = [...Deno.readDirSync(outDir)].filter((e) => e.isFile).map((e) => e.name).sort();
  const artifacts: ArtifactInput[] = [];
  for (const [i, name] of files.entries()) {
    run.signal.throwIfAborted();
    const file = await Deno.open(join(outDir, name), { read: true });
    const info = await blobs.put(`${run.blobPrefix}/${name}`, file.readable);
    artifacts.push({
      name,
      blobKey: info.key,
      size: info.size,
      sha256: info.sha256,
      contentType: contentType(name),
    });
    run.onProgress("publishing", i + 1, files.length);
  }
  return { result: tuneResult(document, editResult(edit.report)), artifacts };
}

/** The API's view of tune.json (shared/contracts/tunes.ts TuneResult). */
export function tuneResult(doc: TuneDocument, edit: EditResult): TuneResult {
  const byKey = new Map(doc.trials.map((t) => [t.key, t]));
  const defaultTrial = byKey.get(doc.defaultKey);
  return {
    chosen: point(doc.chosen.trial),
    rule: doc.rule.text,
    front: doc.front,
    default: defaultTrial ? point(defaultTrial) : null,
    base: doc.base,
    trials: doc.trials.length,
    candidates: doc.search.candidates,
    resumed: doc.search.resumed,
    trials_per_second: doc.search.trialsPerSecond,
    edit,
  };
}

function point(t: TrialRecord): TunePoint {
  return {
    key: t.key,
    layers: t.layers,
    rank: t.rank,
    centering: t.centering,
    margin_gain: t.margin.gain,
    accuracy: t.margin.accuracy,
    kl: t.kl,
    perplexity: t.perplexity,
    toxicity: t.toxicity?.shareToxic ?? null,
  };
}

/** Every trial an earlier attempt of this job recorded (its `trial` events, in order). */
async function recordedTrials(run: JobRun): Promise<TrialRecord[]> {
  const trials: TrialRecord[] = [];
  let after = 0;
  for (;;) {
    const page = await listJobEvents(run.db, run.job.tenantId, run.job.id, { afterId: after, limit: 1000 });
    for (const event of page) {
      if (event.type === TRIAL_EVENT) trials.push(event.data as TrialRecord);
    }
    if (page.length < 1000) return trials;
    after = page[page.length - 1].id;
  }
}

/** A texts dataset's texts; the API checked the kind at submission, but the dataset may have gone since. */
async function texts(run: JobRun, id: string | undefined, role: string): Promise<string[] | undefined> {
  if (id === undefined) return undefined;
  const dataset = await getDataset(run.db, run.job.tenantId, id);
  if (!dataset) throw new InputError(`Cannot read the ${role} as dataset '${id}' was deleted`);
  if (dataset.kind !== "texts") {
    throw new InputError(
      `Cannot use dataset '${id}' as the ${role} as it must be texts: it is ${dataset.kind}`,
    );
  }
  const file = await localBlob(
    run.blobs,
    dataset.blobKey,
    join(run.scratch, `${id}.jsonl`),
    `dataset '${id}'`,
  );
  return await readTextsFile(file, id);
}
