/**
 * The one ProFS edit pipeline (DESIGN.md §1), used by `profs edit` and by the worker:
 * load model → embeddings (from a file, or by running the model over preference pairs) → per layer the toxic
 * subspace → stream the edited model out → model card, patch.safetensors, report.json.
 *
 * Output goes to a sibling temporary directory renamed to `outDir` at the very end, so a failed or aborted edit
 * leaves nothing behind.
 */
import { join } from "node:path";
import { type BackendName, selectBackend } from "../profs/select.ts";
import { defaultLayers, EDIT_DEFAULTS, type LayerRange } from "../../shared/contracts/edit_params.ts";
import { readPreferenceFile } from "../../shared/formats/preference.ts";
import { sampleIndices } from "./sample.ts";
import { ConvergenceError, InputError } from "../../shared/errors.ts";
import {
  checkEmbeddingsForModel,
  checkEmbeddingsSha256,
  type EmbeddingsFile,
  openEmbeddings,
  POOLING,
  selectRows,
  writeEmbeddings,
} from "../../shared/formats/embeddings.ts";
import { type PatchLayer, writePatch } from "../../shared/formats/patch.ts";
import { type ModelFolder, openModelFolder } from "../../shared/model/folder.ts";
import { loadTokenizer } from "../../shared/model/tokenizer.ts";
import { type Logger, silentLogger } from "../../shared/log.ts";
import {
  DEFAULT_SUBSPACE_PARAMS,
  type LayerSubspace,
  type Matrix,
  type ProfsBackend,
  type SubspaceParams,
} from "../profs/backend.ts";
import { type EditReport, layerReport, REPORT_FORMAT, subspaceWarnings, topTokens } from "./report.ts";
import { modelCard } from "./model_card.ts";
import { writeModelFolder } from "./write_model.ts";

export interface EditOptions {
  modelDir: string;
  outDir: string;
  /** Exactly one of `pairsFile` (JSONL) and `embeddingsFile` (safetensors). */
  pairsFile?: string;
  embeddingsFile?: string;
  /** Half-open block range; default ⌊5L/12⌋:L. */
  layers?: LayerRange;
  rank?: number;
  centering?: boolean;
  maxPairs?: number;
  seed?: number;
  maxTokens?: number;
  /** Subspace iteration stopping rule (defaults: DEFAULT_SUBSPACE_PARAMS). */
  tolerance?: number;
  maxIterations?: number;
  /** A backend name, or an already open backend (the worker keeps one per process). */
  backend?: BackendName | ProfsBackend;
  /** Also write the embeddings computed from `pairsFile` here. */
  saveEmbeddings?: string;
  logger?: Logger;
}

export type EditStage = "loading_model" | "embedding" | "svd" | "writing";

export interface EditHooks {
  onProgress?: (stage: EditStage, done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface EditOutcome {
  outDir: string;
  report: EditReport;
  /** Files written inside outDir: weights, model card, patch, report. */
  files: string[];
}

export const PATCH_FILE = "patch.safetensors";
export const REPORT_FILE = "report.json";
export const CARD_FILE = "README.md";

/** Per-layer pooled embeddings of the sampled pairs: preferred, rejected [N, D]. */
type LayerSource = (layer: number) => Promise<{ preferred: Matrix; rejected: Matrix }>;

export async function runEdit(options: EditOptions, hooks: EditHooks = {}): Promise<EditOutcome> {
  const started = performance.now();
  const log = options.logger ?? silentLogger;
  const { signal, onProgress } = hooks;
  if ((options.pairsFile === undefined) === (options.embeddingsFile === undefined)) {
    throw new InputError("Cannot edit as exactly one of '--pairs' and '--embeddings' must be given");
  }
  if (options.saveEmbeddings !== undefined && options.pairsFile === undefined) {
    throw new InputError(
      "Cannot save embeddings as '--save-embeddings' needs '--pairs' (they are computed from pairs)",
    );
  }
  await assertAbsent(options.outDir, "--out");
  if (options.saveEmbeddings) await assertAbsent(options.saveEmbeddings, "--save-embeddings");
  const rank = options.rank ?? EDIT_DEFAULTS.rank;
  const maxPairs = options.maxPairs ?? EDIT_DEFAULTS.max_pairs;
  const seed = options.seed ?? EDIT_DEFAULTS.seed;
  const maxTokens = options.maxTokens ?? EDIT_DEFAULTS.max_tokens;
  const subspaceParams: SubspaceParams = {
    rank,
    centering: options.centering ?? EDIT_DEFAULTS.centering,
    tolerance: options.tolerance ?? DEFAULT_SUBSPACE_PARAMS.tolerance,
    maxIterations: options.maxIterations ?? DEFAULT_SUBSPACE_PARAMS.maxIterations,
    seed,
  };

  onProgress?.("loading_model", 0, 1);
  const model = await openModelFolder(options.modelDir);
  let embeddings: EmbeddingsFile | undefined;
  let backend: ProfsBackend | undefined;
  const ownsBackend = typeof options.backend !== "object";
  const tmpDir = `${options.outDir}.partial-${crypto.randomUUID().slice(0, 8)}`;
  try {
    const layers = checkLayers(options.layers ?? defaultLayers(model.numLayers), model.numLayers);
    const tokenizer = await loadTokenizer(model.dir); // needed for the report: fail before any heavy work
    backend = typeof options.backend === "object"
      ? options.backend
      : await selectBackend(options.backend ?? "auto");
    onProgress?.("loading_model", 1, 1);
    log.info("edit started", { model: model.dir, layers, rank, backend: backend.name });

    const embedStarted = performance.now();
    let source: LayerSource;
    let computed: { preferred: Matrix; rejected: Matrix }[] | undefined;
    let sourceInfo: EditReport["source"];
    if (options.embeddingsFile !== undefined) {
      embeddings = await openEmbeddings(options.embeddingsFile);
      checkEmbeddingsForModel(embeddings, model); // the sha256 is checked once the copy has hashed the model
      const indices = sampleIndices(embeddings.numPairs, maxPairs, seed);
      const file = embeddings;
      source = async (layer) => {
        const { preferred, rejected } = await file.readLayer(layer);
        return { preferred: selectRows(preferred, indices), rejected: selectRows(rejected, indices) };
      };
      sourceInfo = {
        kind: "embeddings",
        path: options.embeddingsFile,
        pairsAvailable: embeddings.numPairs,
        pairsUsed: indices.length,
      };
    } else {
      const data = await readPreferenceFile(options.pairsFile!);
      const indices = sampleIndices(data.pairs.length, maxPairs, seed);
      const pairs = indices.map((i) => data.pairs[i]);
      const perLayer = await embedPairs(model, pairs, maxTokens, backend.name, hooks);
      computed = perLayer;
      source = (layer) => Promise.resolve(perLayer[layer]);
      sourceInfo = {
        kind: "pairs",
        path: options.pairsFile!,
        pairsAvailable: data.pairs.length,
        pairsUsed: pairs.length,
        format: data.format,
      };
    }
    const embedSeconds = (performance.now() - embedStarted) / 1000;

    // The model streams out (another thread copies and hashes it) while this thread computes the subspaces, in
    // the order their tensors appear in the weight files: the stream waits at an edited tensor only until that
    // layer's subspace is ready. Its progress is reported once the subspaces are done, so stages stay in order.
    const writeStarted = performance.now();
    const order = storageOrder(model, layers);
    const subspaces = new Map(order.map((layer) => [layer, Promise.withResolvers<LayerSubspace>()]));
    // A failed subspace loop rejects the layers still pending, so no transform can wait for them forever.
    for (const pending of subspaces.values()) pending.promise.catch(() => {});
    const patchLayers: PatchLayer[] = [];
    const open = backend;
    const transforms = new Map(order.map((layer) => [model.mlpOutputName(layer), async (weight: Matrix) => {
      const subspace = await subspaces.get(layer)!.promise;
      const { edited, removed } = await open.project(weight, subspace.basis, model.architecture.orientation);
      patchLayers.push({ layer, basis: subspace.basis, removed });
      return edited;
    }]));
    const stop = new AbortController(); // ends the stream if the subspaces fail
    let subspacesDone = false;
    let lastWritten: [number, number] | null = null;
    const writing = writeModelFolder(model, tmpDir, transforms, {
      signal: signal ? AbortSignal.any([signal, stop.signal]) : stop.signal,
      onTensor: (done, total) => {
        lastWritten = [done, total];
        if (subspacesDone) onProgress?.("writing", done, total);
      },
    });
    writing.catch((error) => stop.abort(error)); // a failed stream stops the subspace loop with its error

    const subspaceStarted = performance.now();
    const byLayer: LayerSubspace[] = []; // index layer − from
    let directions: Awaited<ReturnType<typeof topTokens>>;
    try {
      for (const [i, layer] of order.entries()) {
        stop.signal.throwIfAborted();
        signal?.throwIfAborted();
        const { preferred, rejected } = await source(layer);
        const subspace = await backend.toxicSubspace(preferred, rejected, subspaceParams).catch((error) => {
          throw error instanceof ConvergenceError ? error.inBlock(layer) : error;
        });
        subspaces.get(layer)!.resolve(subspace);
        byLayer[layer - layers.from] = subspace;
        onProgress?.("svd", i + 1, order.length);
      }
      directions = await topTokens(model, tokenizer, byLayer.map((s) => s.basis));
    } catch (error) {
      for (const pending of subspaces.values()) pending.reject(error);
      stop.abort(error);
      await writing.catch(() => {}); // the writing thread is gone before the folder is removed
      throw error;
    }
    const subspaceSeconds = (performance.now() - subspaceStarted) / 1000;
    subspacesDone = true;
    if (lastWritten) onProgress?.("writing", ...(lastWritten as [number, number]));
    const written = await writing;
    patchLayers.sort((a, b) => a.layer - b.layer);
    const target = model.architecture.mlpOutput;
    if (embeddings) checkEmbeddingsSha256(embeddings, model.dir, written.inputSha256);
    if (options.saveEmbeddings && computed) {
      await writeEmbeddings(options.saveEmbeddings, {
        preferred: computed.map((l) => l.preferred.data),
        rejected: computed.map((l) => l.rejected.data),
        numPairs: computed[0].preferred.rows,
        hiddenSize: model.hiddenSize,
      }, { modelSha256: written.inputSha256, pooling: POOLING, maxTokens });
    }
    await writePatch(join(tmpDir, PATCH_FILE), {
      metadata: {
        family: model.architecture.family,
        baseModelSha256: written.inputSha256,
        editedModelSha256: written.outputSha256,
        target,
        orientation: model.architecture.orientation,
        rank,
        layers: patchLayers.map((l) => l.layer),
      },
      layers: patchLayers,
    });
    const layerReports = byLayer.map((s, i) =>
      layerReport(layers.from + i, model.mlpOutputName(layers.from + i), s, directions[i])
    );
    for (const warning of subspaceWarnings(layerReports)) log.warn(warning);
    const report: EditReport = {
      format: REPORT_FORMAT,
      createdAt: new Date().toISOString(),
      model: {
        sha256: written.inputSha256,
        family: model.architecture.family,
        numLayers: model.numLayers,
        hiddenSize: model.hiddenSize,
        weightFiles: model.weightFiles,
      },
      editedModelSha256: written.outputSha256,
      params: {
        layers,
        rank,
        centering: subspaceParams.centering,
        maxPairs,
        seed,
        maxTokens: embeddings ? embeddings.metadata.maxTokens ?? null : maxTokens,
        tolerance: subspaceParams.tolerance,
        maxIterations: subspaceParams.maxIterations,
      },
      source: sourceInfo,
      backend: backend.name,
      layers: layerReports,
      warnings: subspaceWarnings(layerReports),
      seconds: {
        embed: embedSeconds,
        subspace: subspaceSeconds,
        write: (performance.now() - writeStarted) / 1000,
        total: (performance.now() - started) / 1000,
      },
    };
    await Deno.writeTextFile(join(tmpDir, CARD_FILE), modelCard(report, target));
    await Deno.writeTextFile(join(tmpDir, REPORT_FILE), JSON.stringify(report, null, 2) + "\n");
    signal?.throwIfAborted();
    await assertAbsent(options.outDir, "--out");
    await Deno.rename(tmpDir, options.outDir);
    log.info("edit finished", { out: options.outDir, seconds: report.seconds.total });
    const files = [...Deno.readDirSync(options.outDir)].map((e) => e.name).sort();
    return { outDir: options.outDir, report, files };
  } catch (error) {
    await Deno.remove(tmpDir, { recursive: true }).catch(() => {});
    if (options.saveEmbeddings) await Deno.remove(options.saveEmbeddings).catch(() => {});
    throw error;
  } finally {
    await embeddings?.close();
    await model.close();
    if (ownsBackend) backend?.dispose();
  }
}

/** Runs the model over both sides of the pairs in one call (shared batches) and splits per layer. */
async function embedPairs(
  model: ModelFolder,
  pairs: { preferred: string; rejected: string }[],
  maxTokens: number,
  backend: "cpu" | "webgpu",
  hooks: EditHooks,
): Promise<{ preferred: Matrix; rejected: Matrix }[]> {
  const { embedTexts } = await import("../lm/gpt2/embed.ts");
  const n = pairs.length;
  const d = model.hiddenSize;
  const texts = [...pairs.map((p) => p.preferred), ...pairs.map((p) => p.rejected)];
  const perLayer = await embedTexts(model, texts, {
    maxTokens,
    backend,
    signal: hooks.signal,
    onProgress: (done, total) => hooks.onProgress?.("embedding", done, total),
  });
  return perLayer.map((all) => ({
    preferred: { rows: n, cols: d, data: all.slice(0, n * d) },
    rejected: { rows: n, cols: d, data: all.slice(n * d, 2 * n * d) },
  }));
}

/** The layers in the order their edited tensors are stored (e.g. h.10 … h.19 before h.2 … in sorted files). */
function storageOrder(model: ModelFolder, layers: LayerRange): number[] {
  const position = new Map(model.tensorNames().map((name, i) => [name, i]));
  const all = Array.from({ length: layers.to - layers.from }, (_, i) => layers.from + i);
  return all.sort((a, b) => position.get(model.mlpOutputName(a))! - position.get(model.mlpOutputName(b))!);
}

function checkLayers(layers: LayerRange, numLayers: number): LayerRange {
  const { from, to } = layers;
  if (!Number.isInteger(from) || !Number.isInteger(to) || from < 0 || from >= to || to > numLayers) {
    throw new InputError(
      `Cannot edit layers as '--layers' must be FROM:TO with 0 ≤ FROM < TO ≤ ${numLayers}: current value is ${from}:${to}`,
    );
  }
  return layers;
}

async function assertAbsent(path: string, option: string): Promise<void> {
  try {
    await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  throw new InputError(`Cannot write to '${option}' as it must not exist yet: '${path}' exists`);
}
