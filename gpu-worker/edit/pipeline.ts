/**
 * The one ProFS edit pipeline (docs/ARCHITECTURE.md §3), used by `profs edit` and by the worker:
 * load model → embeddings (from a file, or by running the model over preference pairs) → per layer the toxic
 * subspace → stream the edited model out → model card, patch.safetensors, report.json.
 *
 * Everything that can be checked is checked before the long work, cheapest first: the output's parent (by creating
 * the partial output folder in it), the pairs or embeddings file (parsed; enough usable pairs for the rank), the
 * model's headers (layers, rank against the hidden size, embeddings' shape and pooling), the disk space for the
 * output, and — when the embeddings record one — the model's sha256, hashed before any subspace or write.
 *
 * Output goes to a sibling temporary directory renamed to `outDir` at the very end (with `overwrite`, swapped
 * with an existing `outDir` only then), so a failed or aborted edit leaves nothing behind. Every await that
 * could wait on another thread or on a device is raced against the abort signal, so an aborted edit settles.
 */
import { statfs } from "node:fs/promises";
import { basename, dirname, join, relative, resolve } from "node:path";
import { type BackendName, openBackend } from "../profs/select.ts";
import {
  checkRankForHiddenSize,
  EDIT_DEFAULTS,
  type LayerRange,
  resolveLayers,
} from "../../shared/contracts/edit_params.ts";
import { ConvergenceError, DiskSpaceError, InputError } from "../../shared/errors.ts";
import {
  checkEmbeddingsForModel,
  checkEmbeddingsSha256,
  type EmbeddingsFile,
  POOLING,
  writeEmbeddings,
} from "../../shared/formats/embeddings.ts";
import { type PatchLayer, type PatchMetadata, writePatch } from "../../shared/formats/patch.ts";
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
import { applyRemoved } from "../profs/cpu/projection.ts";
import { assembleReport, type EditReport, markToxicSides, topTokens, toxicProjections } from "./report.ts";
import { untilAborted } from "../../shared/abort.ts";
import { nextTurn } from "../runtime/next_turn.ts";
import { lineageOf, modelCard } from "./model_card.ts";
import { writeLoraAdapter } from "./lora.ts";
import { measureHeldOutMargin } from "../eval/margin_of_edit.ts";
import { writeModelFolder } from "./write_model.ts";
import type { StreamThreads } from "./stream_threads.ts";
import { layerSource, type Provenance, readEditData } from "./edit_data.ts";

export interface EditOptions {
  modelDir: string;
  outDir: string;
  /** Exactly one of `pairsFile` (JSONL) and `embeddingsFile` (safetensors). */
  pairsFile?: string;
  embeddingsFile?: string;
  /**
   * The pairs `embeddingsFile` was computed from, row for row (the worker's embeddings cache): their texts let an
   * edit from embeddings hold pairs out and measure the margin as the edit from the pairs would.
   */
  embeddingsPairsFile?: string;
  /**
   * Share of the sampled pairs held out from the subspace to measure the preference margin of base and edited
   * model (default EDIT_DEFAULTS.holdout; 0: none, every sampled pair finds the subspace).
   */
  holdout?: number;
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
  /** Replace an existing `outDir`, only once the new one is complete (default: an existing `outDir` is refused). */
  overwrite?: boolean;
  logger?: Logger;
  /**
   * The model's weights sha256 when the caller already knows it (the worker: the hash recorded at finalize), so
   * embeddings naming another model are refused without hashing first; the copy's own hash is checked at the end
   * either way.
   */
  modelSha256?: string;
  /**
   * The data as the user gave it, for the report and card (the worker: the dataset's id and sha256, and "pairs"
   * with `embeddingsCache: "hit"` when it passes cached embeddings of a pairs dataset). Without it the input
   * file is hashed and named by its base name.
   */
  provenance?: Provenance;
  /** Also write the edit as a PEFT LoRA adapter folder here (must not exist). */
  loraOut?: string;
  /** The base model's hub id for the cards and adapter config when its card and config do not name it. */
  baseModel?: string;
  /**
   * The memory budget in MiB that input-sized arrays (the pooled embeddings) must fit, checked before they are
   * allocated (runtime/memory_budget.ts): the worker passes PROFS_WORKER_MEMORY_MB; unset (the CLI, whose user
   * owns the machine) nothing is checked.
   */
  memoryMb?: number;
  /** Free bytes on the filesystem holding `path` (default: statfs); tests pass a fake. */
  freeBytes?: (path: string) => Promise<number>;
}

export type EditStage = "loading_model" | "embedding" | "svd" | "writing" | "margin";

export interface EditHooks {
  onProgress?: (stage: EditStage, done: number, total: number) => void;
  /**
   * Once, as the edited weights start streaming out: each weight file's path in the partial output folder and
   * the size it will have (the input's: same header, same dtypes). A reader may follow a file while it is
   * written (the worker streams it to S3 that way) below its watermark (`onWeightWritten`) — the file is not
   * written front to back — but it is complete only when the edit succeeds, and is removed when the edit fails.
   */
  onWeightFiles?: (files: WeightFile[]) => void;
  /** Weight file `name` is final below byte `upTo` (the writer's watermark; it only grows). */
  onWeightWritten?: (name: string, upTo: number) => void;
  /**
   * The stream's threads, started ahead by the caller (stream_threads.ts `startStreamThreads`: the worker's compute
   * thread starts them with itself); the edit uses them or not, and the caller ends them either way.
   */
  streamThreads?: StreamThreads;
  signal?: AbortSignal;
}

/** A weight file of the output while it is written (`EditHooks.onWeightFiles`). */
export interface WeightFile {
  name: string;
  path: string;
  size: number;
}

export interface EditOutcome {
  outDir: string;
  report: EditReport;
  /** Files written inside outDir: weights, model card, patch, report. */
  files: string[];
  /** sha256 of the files hashed while they were written (the weight files), by name. */
  fileSha256: Record<string, string>;
}

export const PATCH_FILE = "patch.safetensors";
export const REPORT_FILE = "report.json";
export const CARD_FILE = "README.md";

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
  if (!options.overwrite) await assertAbsent(options.outDir, "--out");
  if (options.saveEmbeddings) await assertAbsent(options.saveEmbeddings, "--save-embeddings");
  if (options.loraOut) await assertAbsent(options.loraOut, "--lora-out");
  const rank = options.rank ?? EDIT_DEFAULTS.rank;
  const maxPairs = options.maxPairs ?? EDIT_DEFAULTS.max_pairs;
  const seed = options.seed ?? EDIT_DEFAULTS.seed;
  const maxTokens = options.maxTokens ?? EDIT_DEFAULTS.max_tokens;
  const holdout = options.holdout ?? EDIT_DEFAULTS.holdout;
  const subspaceParams: SubspaceParams = {
    rank,
    centering: options.centering ?? EDIT_DEFAULTS.centering,
    tolerance: options.tolerance ?? DEFAULT_SUBSPACE_PARAMS.tolerance,
    maxIterations: options.maxIterations ?? DEFAULT_SUBSPACE_PARAMS.maxIterations,
    seed,
  };
  if (options.overwrite) await checkOverwrite(options);

  onProgress?.("loading_model", 0, 1);
  // Creating the partial folder is the check that the output's parent exists and is writable.
  const tmpDir = await makePartialDir(options.outDir);
  let model: ModelFolder | undefined;
  let embeddings: EmbeddingsFile | undefined;
  let backend: ProfsBackend | undefined;
  const ownsBackend = typeof options.backend !== "object";
  let loraTmp: string | undefined;
  try {
    // The data before the model: a missing or malformed file, or fewer usable pairs than the rank, is refused
    // before anything model-sized is read.
    const data = await readEditData({
      pairsFile: options.pairsFile,
      embeddingsFile: options.embeddingsFile,
      embeddingsPairsFile: options.embeddingsPairsFile,
      rank,
      maxPairs,
      seed,
      holdout,
      provenance: options.provenance,
    });
    embeddings = data.embeddings;
    signal?.throwIfAborted();

    model = await openModelFolder(options.modelDir); // headers only
    const layers = resolveLayers({ layers: options.layers }, model.numLayers);
    checkRankForHiddenSize(rank, model.hiddenSize, subspaceParams.centering);
    if (embeddings) checkEmbeddingsForModel(embeddings, model);
    await checkDiskSpace(model, tmpDir, options.freeBytes ?? freeBytes);
    // Embeddings that name the weights they came from are checked against the model's sha256 here when the
    // caller knows it (the worker: the hash recorded at finalize), else by the copy, which hashes the input as
    // it reads it and ends the edit at its end (`onInputHashed` below), long before the edit would be done.
    // Hashing the model first instead cost a second read and hash: 5.3–6.3 s instead of 2.6 s for 1.35 GB.
    if (embeddings && options.modelSha256 !== undefined) {
      checkEmbeddingsSha256(embeddings, model.dir, options.modelSha256);
    }

    let backendReason = "an open backend given by the caller (the worker's)";
    if (typeof options.backend === "object") backend = options.backend;
    else ({ backend, decision: { reason: backendReason } } = await openBackend(options.backend ?? "auto"));
    const compute = backend; // for the closures below, which cannot see `backend` narrowed
    onProgress?.("loading_model", 1, 1);
    log.info("edit started", { model: model.dir, layers, rank, backend: backend.name, backendReason });

    // The model streams out from here on, while this thread embeds the pairs and computes the subspaces, in the
    // order their tensors appear in the weight files: one thread copies every other tensor and hashes the input
    // at once, another hashes the output behind it, and each edited tensor is written when its layer's subspace
    // is ready. Its progress is reported once the subspaces are done, so stages stay in order.
    const writeStarted = performance.now();
    const open = model;
    const order = storageOrder(open, layers);
    const subspaces = new Map(order.map((layer) => [layer, Promise.withResolvers<LayerSubspace>()]));
    // A failed subspace loop rejects the layers still pending, so no transform can wait for them forever.
    for (const pending of subspaces.values()) pending.promise.catch(() => {});
    /** Settles once every edited tensor is computed (and on its way back to the writing thread). */
    const allEdited = Promise.withResolvers<void>();
    let editsLeft = order.length;
    const patchLayers: PatchLayer[] = [];
    const orientation = open.architecture.orientation;
    let original = new Float32Array(0); // reused: the weight as read, for backends that edit their input in place
    /** W V or Vᵀ W: from the backend's own `removedPart` when it has one, else `project` on a copy of W. */
    const removedOf = async (projector: ProfsBackend, weight: Matrix, basis: Matrix) => {
      if (projector.removedPart) return await projector.removedPart(weight, basis, orientation);
      if (original.length < weight.data.length) original = new Float32Array(weight.data.length);
      const copy = original.subarray(0, weight.data.length);
      copy.set(weight.data);
      const handedOver = { rows: weight.rows, cols: weight.cols, data: copy };
      return (await projector.project(handedOver, basis, orientation)).removed;
    };
    const transforms = new Map(order.map((layer) => [open.mlpOutputName(layer), async (weight: Matrix) => {
      const subspace = await subspaces.get(layer)!.promise;
      const removed = await removedOf(compute, weight, subspace.basis);
      // The edit is W − removed·Vᵀ from the float32 `removed` and V stored in the patch, by the function
      // apply-patch runs: whichever backend computed `removed`, applying the patch repeats this bit for bit.
      applyRemoved(weight, subspace.basis, removed, orientation, -1, weight.data);
      patchLayers.push({ layer, basis: subspace.basis, removed });
      if (--editsLeft === 0) allEdited.resolve();
      return weight;
    }]));
    const stop = new AbortController(); // ends the stream if anything before its end fails
    const running = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
    let subspacesDone = false;
    let lastWritten: [number, number] | null = null;
    hooks.onWeightFiles?.(
      await Promise.all(open.weightFiles.map(async (file) => ({
        name: basename(file),
        path: join(tmpDir, basename(file)), // where the writing thread puts it
        size: (await Deno.stat(join(open.dir, file))).size,
      }))),
    );
    const writing = writeModelFolder(open, tmpDir, transforms, {
      threads: hooks.streamThreads,
      signal: running,
      // The copy hashed what it read, long before the transforms are done: weights replaced since the check
      // above stop the edit there.
      onInputHashed: (sha256) => {
        if (embeddings) checkEmbeddingsSha256(embeddings, open.dir, sha256);
      },
      onWritten: (file, upTo) => hooks.onWeightWritten?.(basename(open.weightFiles[file]), upTo),
      onTensor: (done, total) => {
        lastWritten = [done, total];
        if (subspacesDone) onProgress?.("writing", done, total);
      },
    });
    writing.catch((error) => stop.abort(error)); // a failed stream stops the rest with its error

    let embedSeconds = 0;
    let computed: Awaited<ReturnType<typeof layerSource>>["computed"];
    let subspaceStarted = 0;
    const byLayer: LayerSubspace[] = []; // index layer − from
    const toxicity: number[][] = []; // index layer − from: mean(X⁻ − X⁺)·v per direction
    let directions: Awaited<ReturnType<typeof topTokens>>;
    try {
      const embedStarted = performance.now();
      const layered = await untilAborted(
        layerSource(data, model, {
          all: options.saveEmbeddings !== undefined,
          maxTokens,
          backend: compute.name,
          signal: running,
          onProgress,
          memoryMb: options.memoryMb,
        }),
        running,
      );
      computed = layered.computed;
      embedSeconds = (performance.now() - embedStarted) / 1000;

      subspaceStarted = performance.now();
      for (const [i, layer] of order.entries()) {
        running.throwIfAborted();
        const { preferred, rejected } = await untilAborted(layered.source(layer), running);
        const subspace = await untilAborted(
          compute.toxicSubspace(preferred, rejected, subspaceParams),
          running,
        ).catch((error) => {
          throw error instanceof ConvergenceError ? error.inBlock(layer) : error;
        });
        subspaces.get(layer)!.resolve(subspace);
        // The writing thread's request for this layer's tensor is waiting in this thread's queue (the cpu
        // backend never gives the loop a turn): answer it now, so the output's hash moves on behind it.
        await nextTurn();
        byLayer[layer - layers.from] = subspace;
        toxicity[layer - layers.from] = toxicProjections(preferred, rejected, subspace.basis);
        onProgress?.("svd", i + 1, order.length);
      }
      // Every edited tensor goes back before the tokenizer (loaded only now, for the top tokens: 0.4 s of this
      // thread for GPT-2 medium), so the output's hash of everything behind the last one runs meanwhile.
      await untilAborted(allEdited.promise, running);
      const tokenizer = await untilAborted(loadTokenizer(model.dir), running);
      directions = await untilAborted(topTokens(open, tokenizer, byLayer.map((s) => s.basis)), running);
      directions = directions.map((d, i) => markToxicSides(d, toxicity[i]));
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
    log.info("model written", { threadSeconds: written.seconds, hashThreadSeconds: written.hashSeconds });
    patchLayers.sort((a, b) => a.layer - b.layer);
    const target = model.architecture.mlpOutput;
    if (options.saveEmbeddings && computed) {
      await writeEmbeddings(options.saveEmbeddings, {
        preferred: computed.map((l) => l.preferred.data),
        rejected: computed.map((l) => l.rejected.data),
        numPairs: computed[0].preferred.rows,
        hiddenSize: model.hiddenSize,
      }, { modelSha256: written.inputSha256, pooling: POOLING, maxTokens });
    }
    const patchMetadata: PatchMetadata = {
      family: model.architecture.family,
      baseModelSha256: written.inputSha256,
      editedModelSha256: written.outputSha256,
      target,
      orientation: model.architecture.orientation,
      rank,
      layers: patchLayers.map((l) => l.layer),
    };
    await writePatch(join(tmpDir, PATCH_FILE), { metadata: patchMetadata, layers: patchLayers });
    const marginStarted = performance.now();
    const margin = data.heldOut.length === 0 ? undefined : await measureHeldOutMargin(
      { baseDir: model.dir, editedDir: tmpDir, backend: backend.name, pairs: data.heldOut, maxTokens },
      { signal, onProgress: (done, total) => onProgress?.("margin", done, total) },
    );
    const report = assembleReport({
      model: open,
      written,
      params: {
        layers,
        rank,
        centering: subspaceParams.centering,
        maxPairs,
        seed,
        maxTokens: embeddings ? embeddings.metadata.maxTokens ?? null : maxTokens,
        holdout,
        tolerance: subspaceParams.tolerance,
        maxIterations: subspaceParams.maxIterations,
      },
      source: data.source,
      backend: backend.name,
      backendReason,
      subspaces: byLayer,
      directions,
      heldOut: {
        share: holdout,
        pairs: data.heldOut.length,
        rows: data.split.heldOut,
        ...(margin ?? {}),
        ...(data.split.skipped ? { skipped: data.split.skipped } : {}),
      },
      seconds: {
        embed: embedSeconds,
        subspace: subspaceSeconds,
        write: (marginStarted - writeStarted) / 1000,
        margin: (performance.now() - marginStarted) / 1000,
        total: (performance.now() - started) / 1000,
      },
    });
    for (const warning of report.warnings ?? []) log.warn(warning);
    const lineage = await lineageOf(model.dir, model.config, options.baseModel);
    await Deno.writeTextFile(join(tmpDir, CARD_FILE), modelCard(report, target, lineage));
    await Deno.writeTextFile(join(tmpDir, REPORT_FILE), JSON.stringify(report, null, 2) + "\n");
    signal?.throwIfAborted();
    if (options.loraOut) {
      loraTmp = `${options.loraOut.replace(/\/+$/, "")}.partial-${crypto.randomUUID().slice(0, 8)}`;
      await writeLoraAdapter(loraTmp, { metadata: patchMetadata, layers: patchLayers }, lineage);
    }
    await publish(tmpDir, options.outDir, options.overwrite ?? false);
    if (loraTmp) await Deno.rename(loraTmp, options.loraOut!);
    log.info("edit finished", { out: options.outDir, seconds: report.seconds.total });
    const files = [...Deno.readDirSync(options.outDir)].map((e) => e.name).sort();
    return { outDir: options.outDir, report, files, fileSha256: written.fileSha256 };
  } catch (error) {
    await Deno.remove(tmpDir, { recursive: true }).catch(() => {});
    if (loraTmp) await Deno.remove(loraTmp, { recursive: true }).catch(() => {});
    if (options.saveEmbeddings) await Deno.remove(options.saveEmbeddings).catch(() => {});
    throw error;
  } finally {
    await embeddings?.close();
    await model?.close();
    if (ownsBackend) backend?.dispose();
  }
}

/** The layers in the order their edited tensors are stored (e.g. h.10 … h.19 before h.2 … in sorted files). */
function storageOrder(model: ModelFolder, layers: LayerRange): number[] {
  const position = new Map(model.tensorNames().map((name, i) => [name, i]));
  const all = Array.from({ length: layers.to - layers.from }, (_, i) => layers.from + i);
  return all.sort((a, b) => position.get(model.mlpOutputName(a))! - position.get(model.mlpOutputName(b))!);
}

async function assertAbsent(path: string, option: string): Promise<void> {
  if (await exists(path)) {
    throw new InputError(
      `Cannot write to '${option}' as it must not exist yet (or pass '--overwrite'): '${path}' exists`,
    );
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    // A path under a file does not exist either; creating the partial folder then says why.
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) return false;
    throw error;
  }
}

/** `--overwrite` replaces the output folder only: never the model or a data file the edit reads. */
async function checkOverwrite(options: EditOptions): Promise<void> {
  if (!await exists(options.outDir)) return;
  const out = await Deno.realPath(options.outDir);
  const inputs = [options.modelDir, options.pairsFile, options.embeddingsFile].filter((p) => p !== undefined);
  for (const input of inputs) {
    const path = await Deno.realPath(input).catch(() => resolve(input));
    const rel = relative(out, path);
    if (rel === "" || (!rel.startsWith("..") && !rel.startsWith("/"))) {
      throw new InputError(
        `Cannot overwrite '--out' as it must not hold an input of the edit: '${input}' is in '${options.outDir}'`,
      );
    }
  }
}

/** Creates `OUT.partial-xxxxxxxx` beside `OUT`; a missing or read-only parent is the user's error, said now. */
async function makePartialDir(outDir: string): Promise<string> {
  const tmpDir = `${outDir.replace(/\/+$/, "")}.partial-${crypto.randomUUID().slice(0, 8)}`;
  try {
    await Deno.mkdir(tmpDir);
  } catch (error) {
    if (
      error instanceof Deno.errors.NotFound || error instanceof Deno.errors.PermissionDenied ||
      error instanceof Deno.errors.NotADirectory
    ) {
      throw new InputError(
        `Cannot write to '--out' as its parent folder must exist and be writable: '${dirname(outDir)}' (${
          (error as Error).message
        })`,
      );
    }
    throw error;
  }
  return tmpDir;
}

/** Free bytes for an unprivileged writer on the filesystem holding `path`. */
export async function freeBytes(path: string): Promise<number> {
  const fs = await statfs(path);
  return fs.bavail * fs.bsize;
}

/**
 * The output needs the weight files' size again (same files, same dtypes) plus the patch: per edited block one
 * float32 basis [D, k] and removed part (≤ rows·k) — bounded here by 1% of the weights plus 16 MB of slack for the
 * small files, card and report.
 */
async function checkDiskSpace(
  model: ModelFolder,
  dir: string,
  free: (path: string) => Promise<number>,
): Promise<void> {
  let weights = 0;
  for (const file of model.weightFiles) weights += (await Deno.stat(join(model.dir, file))).size;
  const needed = Math.ceil(weights * 1.01) + (16 << 20);
  const available = await free(dir);
  if (available < needed) {
    throw new DiskSpaceError(
      `Cannot write the edited model as the output's filesystem must have ${gigabytes(needed)} free ` +
        `(the model's weights, the patch and the small files): it has ${gigabytes(available)} in '${
          dirname(dir)
        }'`,
    );
  }
}

function gigabytes(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
}

/** Renames the finished folder to `outDir`; with `overwrite`, the old `outDir` goes only once the new one is in. */
async function publish(tmpDir: string, outDir: string, overwrite: boolean): Promise<void> {
  if (!await exists(outDir)) return await Deno.rename(tmpDir, outDir);
  if (!overwrite) await assertAbsent(outDir, "--out");
  const old = `${outDir}.replaced-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.rename(outDir, old);
  try {
    await Deno.rename(tmpDir, outDir);
  } catch (error) {
    await Deno.rename(old, outDir); // put the old output back: nothing was replaced
    throw error;
  }
  await Deno.remove(old, { recursive: true });
}
