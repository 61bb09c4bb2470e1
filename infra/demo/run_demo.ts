/**
 * The demo, end to end: generate the planted demo model and its preference pairs, start the embedded service in
 * this process, upload both through the HTTP API, run an edit with default parameters, download the edited
 * model, check base and edited models (toxicity of challenge continuations, held-out perplexity, KL on benign
 * prompts), and write the HTML report beside the downloaded artifacts.
 *
 * Check jobs have no HTTP route yet, so the check runs here, in the demo's process, on the downloaded model with
 * the same code a check job runs (gpu-worker/eval).
 */
import { join } from "node:path";
import { type BackendName } from "../../gpu-worker/backend.ts";
import { evaluateEdit, type Evaluation, writeReportHtml } from "../../gpu-worker/eval/evaluate_edit.ts";
import { InputError } from "../../shared/errors.ts";
import { readPatch } from "../../shared/formats/patch.ts";
import type { Logger } from "../../shared/log.ts";
import type { EditReport } from "../../shared/profs/report.ts";
import { createLexiconScorer } from "../../shared/toxicity/lexicon.ts";
import {
  apiClient,
  downloadArtifacts,
  submitEdit,
  uploadDataset,
  uploadModelFolder,
  waitForEdit,
} from "./client.ts";
import { startEmbeddedService } from "./embedded_service.ts";
import { writeDemoModel, writeDemoPairs } from "./write_demo.ts";

export interface DemoOptions {
  /** Must not exist yet; receives model/, pairs.jsonl, edited/ (artifacts + report.html) and blobs/. */
  outDir: string;
  backend: BackendName;
  logger: Logger;
  /** One line per step, for the console. */
  say: (line: string) => void;
}

export interface DemoSummary {
  outDir: string;
  reportHtml: string;
  editedDir: string;
  editId: string;
  /** The compute backend the checks ran on. */
  checkBackend: "cpu" | "webgpu";
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
    const edit = await waitForEdit(client, submitted.id, {
      onProgress: (p) => {
        if (p.done === p.total || p.done === 0) say(`  ${p.stage} ${p.done}/${p.total}`);
      },
    });
    if (edit.status !== "succeeded") {
      throw new Error(`the demo edit ${edit.status}: ${edit.error?.message ?? "no error message"}`);
    }
    lap("edit");
    const editedDir = join(outDir, "edited");
    await downloadArtifacts(client, edit, editedDir);
    lap("download");

    const report = JSON.parse(await Deno.readTextFile(join(editedDir, "report.json"))) as EditReport;
    const patch = await readPatch(join(editedDir, "patch.safetensors"));
    const u = planted.toxicDirection;
    const recovery = patch.layers.map(({ layer, basis }) => {
      let cos = 0;
      for (let d = 0; d < u.length; d++) cos += basis.data[d * basis.cols] * u[d];
      return { layer, cos: Math.abs(cos) };
    });

    // The checks run on the CPU runner: for a model this small, greedy decoding on a software adapter is
    // dominated by per-step dispatch and readback (measured here: ~20× slower than the CPU twin), and the CPU
    // twin computes the same numbers (tests/gpt2 compares them). Check jobs of real models use the worker's
    // backend.
    const checkBackend = "cpu";
    say(`checking base and edited model (${checkBackend})…`);
    const evaluation = await evaluateEdit({
      baseDir: modelDir,
      editedDir,
      backend: checkBackend,
      scorer: createLexiconScorer(),
    });
    lap("check");
    const reportHtml = await writeReportHtml(
      editedDir,
      report,
      evaluation,
      "profs demo: planted toxic direction",
    );
    lap("report");
    const adapter = await adapterName();
    return {
      outDir,
      reportHtml,
      editedDir,
      editId: edit.id,
      checkBackend,
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
