/**
 * One attempt of a check job: the issue-10 check runner (gpu-worker/eval) on the job's model, or — with
 * `edit_id` — on the base model and the edit's published output (before/after, KL to the base), which also
 * renders the edit's HTML report. The prompts and texts are the `texts` datasets the params name (read here, on
 * the main loop, and handed to the thread), else the check's built-in sets. The model compute runs in a thread (run_in_thread.ts), as an edit's does, so
 * heartbeats and cancellation keep running; this loop only resolves inputs, writes report.html and publishes.
 * Figures are the job's result; report/check files are its artifacts, published like an edit's (attempt-private
 * prefix, rows written on success).
 */
import { join } from "node:path";
import { CHECK_DATASETS, type CheckDatasetParam, CheckParams } from "../../../shared/contracts/checks.ts";
import { readTextsFile } from "../../../shared/formats/texts.ts";
import { localBlob, localBlobFolder } from "../../../shared/blobs/folder.ts";
import type { ArtifactInput } from "../../../shared/db/index.ts";
import { getDataset } from "../../../shared/db/repositories/datasets.ts";
import { getJob, listArtifacts } from "../../../shared/db/repositories/jobs.ts";
import { InputError } from "../../../shared/errors.ts";
import type { EditReport } from "../../edit/report.ts";
import type { CheckInputs, CheckStage } from "../../eval/check.ts";
import { writeReportHtml } from "../../eval/evaluate_edit.ts";
import type { JobOutput, JobRun } from "./edit_job.ts";
import { resolveModel } from "./inputs.ts";
import { runInThread } from "./run_in_thread.ts";
import type { ThreadCheckOptions } from "./thread_messages.ts";

export async function runCheckJob(run: JobRun): Promise<JobOutput> {
  const { db, blobs, job, scratch } = run;
  const parsed = CheckParams.safeParse(job.params);
  if (!parsed.success) {
    throw new InputError(`Cannot run the check as its parameters are invalid: ${parsed.error.message}`);
  }
  const params = parsed.data;
  const check: ThreadCheckOptions = {
    maxNewTokens: params.max_new_tokens,
    threshold: params.threshold,
    maxTokens: params.max_tokens,
  };
  const hooks = {
    signal: run.signal,
    onProgress: (_stage: CheckStage, done: number, total: number) =>
      run.onProgress("evaluating", done, total),
    logger: run.logger,
    ...run.thread,
  };
  const { dir: baseDir } = await resolveModel(db, blobs, job.tenantId, job.modelId, scratch);
  const inputs = await checkInputs(run, params);
  const outDir = join(scratch, "out");
  await Deno.mkdir(outDir);

  let result: unknown;
  if (params.edit_id === undefined) {
    const figures = await runInThread(
      "check-model",
      { modelDir: baseDir, backend: run.backend, inputs, check },
      hooks,
    );
    result = { check: figures };
  } else {
    const editedDir = await editOutput(run, params.edit_id);
    const evaluation = await runInThread(
      "evaluate-edit",
      { baseDir, editedDir, backend: run.backend, inputs, check },
      hooks,
    );
    const report = JSON.parse(await Deno.readTextFile(join(editedDir, "report.json"))) as EditReport;
    await writeReportHtml(outDir, report, evaluation);
    result = { edit_id: params.edit_id, ...evaluation };
  }
  await Deno.writeTextFile(join(outDir, "check.json"), JSON.stringify(result, null, 2) + "\n");

  const artifacts: ArtifactInput[] = [];
  const files = [...Deno.readDirSync(outDir)].map((e) => e.name).sort();
  for (const [i, name] of files.entries()) {
    const file = await Deno.open(join(outDir, name), { read: true });
    const info = await blobs.put(`${run.blobPrefix}/${name}`, file.readable);
    artifacts.push({
      name,
      blobKey: info.key,
      size: info.size,
      sha256: info.sha256,
      contentType: name.endsWith(".html") ? "text/html; charset=utf-8" : "application/json",
    });
    run.onProgress("publishing", i + 1, files.length);
  }
  return { result, artifacts };
}

/** The texts of each dataset the params name; the API checked them at submission, but they may have gone since. */
async function checkInputs(run: JobRun, params: CheckParams): Promise<CheckInputs> {
  const read = async (key: CheckDatasetParam): Promise<string[] | undefined> => {
    const id = params[key];
    if (id === undefined) return undefined;
    const role = CHECK_DATASETS[key];
    const dataset = await getDataset(run.db, run.job.tenantId, id);
    if (!dataset) throw new InputError(`Cannot read the ${role} as dataset '${id}' was deleted`);
    if (dataset.kind !== "texts") {
      throw new InputError(
        `Cannot use dataset '${id}' as the ${role} as '${key}' must name a texts dataset: it is ${dataset.kind}`,
      );
    }
    const file = await localBlob(
      run.blobs,
      dataset.blobKey,
      join(run.scratch, `${key}.jsonl`),
      `dataset '${id}'`,
    );
    return await readTextsFile(file, id);
  };
  return {
    challengePrompts: await read("challenge_dataset_id"),
    heldOutTexts: await read("heldout_dataset_id"),
    benignPrompts: await read("benign_dataset_id"),
  };
}

/** The edited model folder a succeeded edit published, on this machine. */
async function editOutput(run: JobRun, editId: string): Promise<string> {
  const { db, blobs, job } = run;
  const edit = await getJob(db, job.tenantId, editId);
  if (!edit || edit.kind !== "edit") {
    throw new InputError(`Cannot check edit '${editId}' as there is no such edit`);
  }
  if (edit.status !== "succeeded") {
    throw new InputError(`Cannot check edit '${editId}' as it must have succeeded: it is ${edit.status}`);
  }
  if (edit.modelId !== job.modelId) {
    throw new InputError(
      `Cannot check edit '${editId}' against model '${job.modelId}' as it edited another model`,
    );
  }
  const artifacts = await listArtifacts(db, job.tenantId, editId);
  return await localBlobFolder(
    blobs,
    artifacts.map((a) => ({ key: a.blobKey, name: a.name })),
    join(run.scratch, "edited"),
    `the output of edit '${editId}'`,
  );
}
