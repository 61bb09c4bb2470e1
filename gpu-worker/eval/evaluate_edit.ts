/**
 * The evaluation stage of an edit (and the body of a check job): the same check on the base model ("before")
 * and on the edited one ("after", with KL against the base), then the HTML report next to report.json; or the
 * check of one model alone. Models stay open only for the duration of the call.
 */
import { join } from "node:path";
import type { CheckResult } from "../../shared/contracts/check_result.ts";
import { openModelFolder } from "../../shared/model/folder.ts";
import { loadTokenizer } from "../../shared/model/tokenizer.ts";
import type { EditReport } from "../edit/report.ts";
import { renderReportHtml } from "../report/html.ts";
import type { ToxicityScorer } from "../../shared/toxicity/scorer.ts";
import { lmFamilyFrom } from "../lm/family.ts";
import { createLmCpuRunner, type LmRunner } from "../lm/runner.ts";
import { createLmWebGpuRunner } from "../lm/webgpu/runner.ts";
import { folderSource } from "../lm/webgpu/weights.ts";
import { type CheckInputs, type CheckOptions, runCheck } from "./check.ts";
import type { ComputeBackend } from "../runtime/backends.ts";

export const REPORT_HTML_FILE = "report.html";

export interface Evaluation {
  before: CheckResult;
  after: CheckResult;
}

export interface EvaluateOptions {
  baseDir: string;
  editedDir: string;
  backend: ComputeBackend;
  scorer: ToxicityScorer;
  inputs?: CheckInputs;
  check?: CheckOptions;
}

export async function evaluateEdit(options: EvaluateOptions): Promise<Evaluation> {
  const base = await openRunner(options.baseDir, options.backend);
  try {
    const before = await runCheck(base, null, options.scorer, options.inputs, options.check);
    const edited = await openRunner(options.editedDir, options.backend);
    try {
      const after = await runCheck(edited, base, options.scorer, options.inputs, options.check);
      return { before, after };
    } finally {
      edited.dispose();
    }
  } finally {
    base.dispose();
  }
}

/** The check of one model alone (no base, so no KL): the body of a check job without an edit. */
export async function checkModel(options: {
  dir: string;
  backend: ComputeBackend;
  scorer: ToxicityScorer;
  inputs?: CheckInputs;
  check?: CheckOptions;
}): Promise<CheckResult> {
  const runner = await openRunner(options.dir, options.backend);
  try {
    return await runCheck(runner, null, options.scorer, options.inputs, options.check);
  } finally {
    runner.dispose();
  }
}

/** Writes report.html into an edit's output folder (beside its report.json); returns its path. */
export async function writeReportHtml(
  outDir: string,
  report: EditReport,
  evaluation?: Evaluation,
  title?: string,
): Promise<string> {
  const path = join(outDir, REPORT_HTML_FILE);
  await Deno.writeTextFile(path, renderReportHtml({ report, evaluation, title }));
  return path;
}

/**
 * A runner that also closes its model folder when disposed (both engines stream blocks from it): every family,
 * GPT-2 included, on the LM engine of the chosen backend.
 */
export async function openRunner(
  dir: string,
  backend: ComputeBackend,
): Promise<LmRunner> {
  const folder = await openModelFolder(dir);
  try {
    const family = lmFamilyFrom(folder.config, `model '${dir}'`);
    const tokenizer = await loadTokenizer(dir);
    const runner = backend === "webgpu"
      ? await createLmWebGpuRunner(folderSource(folder), family, tokenizer, { model: `model '${dir}'` })
      : await createLmCpuRunner(folder, family, tokenizer);
    return {
      ...runner,
      dispose: () => {
        runner.dispose();
        folder.close().catch(() => {});
      },
    };
  } catch (error) {
    await folder.close();
    throw error;
  }
}

/** An evaluation as the flat figures of an edit's `result.metrics` (shared/contracts/edits.ts). */
export function evaluationMetrics({ before, after }: Evaluation): Record<string, number> {
  return {
    toxicity_share_before: before.toxicity.share_toxic,
    toxicity_share_after: after.toxicity.share_toxic,
    toxicity_mean_before: before.toxicity.mean,
    toxicity_mean_after: after.toxicity.mean,
    perplexity_before: before.perplexity.value,
    perplexity_after: after.perplexity.value,
    ...(after.kl ? { kl_mean: after.kl.mean, kl_max: after.kl.max } : {}),
  };
}
