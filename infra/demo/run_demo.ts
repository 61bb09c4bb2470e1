/**
 * The demo, end to end: generate the planted demo model and its preference pairs, start the embedded service in
 * this process, and through its HTTP API upload both, run an edit with default parameters, run a check of the
 * edit (toxicity of challenge continuations, held-out perplexity, KL on benign prompts, base vs edited), and
 * download the edited model and the check's HTML report.
 */
import { join } from "node:path";
import { type BackendName } from "../../gpu-worker/profs/select.ts";
import type { Evaluation } from "../../gpu-worker/eval/evaluate_edit.ts";
import { InputError } from "../../shared/errors.ts";
import { readPatch } from "../../shared/formats/patch.ts";
import type { Logger } from "../../shared/log.ts";
import type { EditReport } from "../../gpu-worker/edit/report.ts";
import {
  apiClient,
  type CheckView,
  downloadArtifacts,
  type EditView,
  submitCheck,
  submitEdit,
  uploadDataset,
  uploadModelFolder,
  waitForJob,
} from "./client.ts";
import { startEmbeddedService } from "./embedded_service.ts";
import { pairsJsonl, writeDemoModel, writeDemoPairs } from "./write_demo.ts";
import { buildTriggerPairs } from "./data.ts";
import { DEFAULT_BENIGN_PROMPTS, DEFAULT_HELD_OUT_TEXTS } from "../../gpu-worker/eval/default_prompts.ts";

export interface DemoOptions {
  /** Must not exist yet; receives model/, pairs.jsonl, edited/ (artifacts + report.html) and blobs/. */
  outDir: string;
  backend: BackendName;
  logger: Logger;
  /** One line per step, for the console. */
  say: (line: string) => void;
}

export interface DemoSummary {
  /** The next step: `profs tune` on the demo model with its trigger pairs and benign texts. */
  tuneCommand: string;
  outDir: string;
  reportHtml: string;
  editedDir: string;
  editId: string;
  /** The WebGPU adapter the worker could use (null without one). */
  adapter: string | null;
  report: EditReport;
  evaluation: Evaluation;
  /** |cos| between the first removed direction and the planted one, per edited layer. */
  recovery: { layer: number; cos: number }[];
  /** Wall seconds per demo step. */
  seconds: Record<string, number>;
}

export async function runDemo(options: DemoOptions): Promise<DemoSummary> {
  const { outDir, say } = options;
  try {
    await Deno.mkdir(outDir, { recursive: false });
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    throw new InputError(`Cannot run the demo as '--out' must not exist yet: '${outDir}' exists`);
  }
  const seconds: Record<string, number> = {};
  let mark = performance.now();
  const lap = (name: string) => {
    const now = performance.now();
    seconds[name] = (now - mark) / 1000;
    mark = now;
  };

  const modelDir = join(outDir, "model");
  await Deno.mkdir(modelDir);
  const planted = await writeDemoModel(modelDir);
  const pairsFile = join(outDir, "pairs.jsonl");
  const pairs = await writeDemoPairs(pairsFile);
  // For `profs tune` afterwards: trigger pairs (the planted MLPs' behaviour moves their margin) and benign texts.
  const tunePairs = join(outDir, "tune-pairs.jsonl");
  await Deno.writeTextFile(tunePairs, pairsJsonl(buildTriggerPairs()));
  const benign = join(outDir, "benign.jsonl");
  await Deno.writeTextFile(
    benign,
    [...DEFAULT_BENIGN_PROMPTS, ...DEFAULT_HELD_OUT_TEXTS].map((text) => JSON.stringify({ text })).join(
      "\n",
    ) + "\n",
  );
  say(
    `demo model: tiny GPT-2 (${planted.config.n_layer} blocks, D = ${planted.config.n_embd}, GPT-2 vocabulary) ` +
      `with a planted toxic direction in blocks ${planted.plantedLayers.from}:${planted.plantedLayers.to}; ` +
      `${pairs.length} preference pairs`,
  );
  lap("generate");

  const service = await startEmbeddedService({
    blobDir: join(outDir, "blobs"),
    backend: options.backend,
    logger: options.logger,
  });
  try {
    say(`embedded service listening on ${service.url} (PGlite in memory, in-process worker)`);
    lap("start service");
    const client = apiClient(service.url, service.apiKey);
    const modelId = await uploadModelFolder(client, modelDir, "demo-planted-gpt2");
    const datasetId = await uploadDataset(client, pairsFile, "demo-pairs");
    say(`uploaded model ${modelId} and dataset ${datasetId} through the HTTP API`);
    lap("upload");

    const submitted = await submitEdit(client, { model_id: modelId, dataset_id: datasetId });
    say(`edit ${submitted.id} submitted (defaults: layers ⌊5L/12⌋:L, rank 2, centering on)`);
    const progress = (p: { stage: string; done: number; total: number }) => {
      if (p.done === p.total || p.done === 0) say(`  ${p.stage} ${p.done}/${p.total}`);
    };
    const edit = await waitForJob<EditView>(client, `/v1/edits/${submitted.id}`, { onProgress: progress });
    if (edit.status !== "succeeded") {
      throw new Error(`the demo edit ${edit.status}: ${edit.error?.message ?? "no error message"}`);
    }
    lap("edit");
    const editedDir = join(outDir, "edited");
    await downloadArtifacts(client, edit, editedDir);
    lap("download");

    const queued = await submitCheck(client, edit.id);
    say(`check ${queued.id} submitted: base vs edited model`);
    const check = await waitForJob<CheckView>(client, `/v1/checks/${queued.id}`, { onProgress: progress });
    if (check.status !== "succeeded") {
      throw new Error(`the demo check ${check.status}: ${check.error?.message ?? "no error message"}`);
    }
    const checkDir = join(outDir, "check");
    await downloadArtifacts(client, check, checkDir);
    const evaluation = check.result as Evaluation;
    lap("check");

    const report = JSON.parse(await Deno.readTextFile(join(editedDir, "report.json"))) as EditReport;
    const patch = await readPatch(join(editedDir, "patch.safetensors"));
    const u = planted.toxicDirection;
    const recovery = patch.layers.map(({ layer, basis }) => {
      let cos = 0;
      for (let d = 0; d < u.length; d++) cos += basis.data[d * basis.cols] * u[d];
      return { layer, cos: Math.abs(cos) };
    });
    const reportHtml = join(checkDir, "report.html");
    const adapter = await adapterName();
    return {
      outDir,
      tuneCommand: `deno task profs tune --model ${modelDir} --pairs ${tunePairs} --benign ${benign} ` +
        `--out ${join(outDir, "tuned")}`,
      reportHtml,
      editedDir,
      editId: edit.id,
      adapter,
      report,
      evaluation,
      recovery,
      seconds,
    };
  } finally {
    await service.close();
  }
}

async function adapterName(): Promise<string | null> {
  const adapter = await navigator.gpu?.requestAdapter();
  if (!adapter) return null;
  const info = adapter.info;
  return info.description || info.device || info.vendor || "unknown";
}
