/**
 * Where an edit's embeddings come from (the first half of `runEdit`): the data, read and checked before the
 * model is opened — pairs (JSONL) or an embeddings file, sampled with the seed, enough usable pairs for the rank —
 * and then, with the model open, a per-layer source of the sampled pairs' pooled embeddings: read from the file a
 * layer at a time, or computed by running the model over both sides of the pairs.
 */
import { basename } from "node:path";
import { checkPairsForRank } from "../../shared/contracts/edit_params.ts";
import { type EmbeddingsFile, openEmbeddings, selectRows } from "../../shared/formats/embeddings.ts";
import type { Matrix } from "../../shared/formats/matrix.ts";
import { readPreferenceFile } from "../../shared/formats/preference.ts";
import { hashFiles, type ModelFolder } from "../../shared/model/folder.ts";
import type { ComputeBackend } from "../runtime/backends.ts";
import { checkMemoryBudget } from "../runtime/memory_budget.ts";
import type { EditReport } from "./report.ts";
import { sampleIndices } from "./sample.ts";

/** The data as the user gave it (the worker: the dataset's id and sha256, and whether the cache served it). */
export interface Provenance {
  kind: "pairs" | "embeddings";
  datasetId: string;
  sha256: string;
  embeddingsCache?: "hit" | "miss";
}

export interface EditData {
  /** Open when the edit reads an embeddings file; the caller closes it. */
  embeddings?: EmbeddingsFile;
  /** The sampled pairs, when the edit runs the model over them. */
  pairs?: { preferred: string; rejected: string }[];
  /** Rows of the data the edit uses (sampled with the seed; pairs stay aligned). */
  indices: number[];
  source: EditReport["source"];
}

/** Per-layer pooled embeddings of the sampled pairs: preferred, rejected [N, D]. */
export type LayerSource = (layer: number) => Promise<{ preferred: Matrix; rejected: Matrix }>;

/**
 * Reads exactly one of `pairsFile` and `embeddingsFile` (headers only for embeddings), samples `maxPairs` rows
 * with `seed` and refuses fewer usable pairs than `rank` — all before anything model-sized is read.
 */
export async function readEditData(o: {
  pairsFile?: string;
  embeddingsFile?: string;
  rank: number;
  maxPairs: number;
  seed: number;
  provenance?: Provenance;
}): Promise<EditData> {
  const { rank, maxPairs, seed } = o;
  if (o.embeddingsFile !== undefined) {
    const embeddings = await openEmbeddings(o.embeddingsFile);
    try {
      const indices = sampleIndices(embeddings.numPairs, maxPairs, seed);
      checkPairsForRank({ rank, available: embeddings.numPairs, maxPairs, source: "the embeddings" });
      const source = {
        ...await provenance(o.provenance, o.embeddingsFile, "embeddings"),
        pairsAvailable: embeddings.numPairs,
        pairsUsed: indices.length,
      };
      return { embeddings, indices, source };
    } catch (error) {
      await embeddings.close();
      throw error;
    }
  }
  const data = await readPreferenceFile(o.pairsFile!);
  const indices = sampleIndices(data.pairs.length, maxPairs, seed);
  const pairs = indices.map((i) => data.pairs[i]);
  checkPairsForRank({
    rank,
    available: data.pairs.length,
    maxPairs,
    // A pair with the same text on both sides has a zero difference: it adds nothing to T's rank.
    identical: pairs.filter((p) => p.preferred === p.rejected).length,
    source: "the pairs file",
  });
  const source = {
    ...await provenance(o.provenance, o.pairsFile!, "pairs"),
    pairsAvailable: data.pairs.length,
    pairsUsed: pairs.length,
    format: data.format,
  };
  return { pairs, indices, source };
}

/**
 * The per-layer source for the subspace loop: the embeddings file's rows (read one layer at a time), or the
 * model run over both sides of the pairs now (`computed`, every layer, for `--save-embeddings`).
 */
export async function layerSource(
  data: EditData,
  model: ModelFolder,
  o: {
    maxTokens: number;
    backend: ComputeBackend;
    signal?: AbortSignal;
    onProgress?: (stage: "embedding", done: number, total: number) => void;
    /** The memory budget in MiB the embeddings must fit (runtime/memory_budget.ts); unset: not checked. */
    memoryMb?: number;
  },
): Promise<{ source: LayerSource; computed?: { preferred: Matrix; rejected: Matrix }[] }> {
  const { embeddings, indices } = data;
  if (embeddings) {
    return {
      source: async (layer) => {
        const { preferred, rejected } = await embeddings.readLayer(layer);
        return { preferred: selectRows(preferred, indices), rejected: selectRows(rejected, indices) };
      },
    };
  }
  const computed = await embedPairs(model, data.pairs!, o);
  return { source: (layer) => Promise.resolve(computed[layer]), computed };
}

/** The report's source: as the caller states it (the worker), else the file's sha256 and base name. */
async function provenance(
  given: Provenance | undefined,
  file: string,
  kind: "pairs" | "embeddings",
): Promise<Pick<EditReport["source"], "kind" | "sha256" | "datasetId" | "file" | "embeddingsCache">> {
  if (given) {
    return {
      kind: given.kind,
      sha256: given.sha256,
      datasetId: given.datasetId,
      ...(given.embeddingsCache ? { embeddingsCache: given.embeddingsCache } : {}),
    };
  }
  return { kind, sha256: await hashFiles([file]), file: basename(file) };
}

/** Runs the model over both sides of the pairs in one call (shared batches) and splits per layer. */
async function embedPairs(
  model: ModelFolder,
  pairs: { preferred: string; rejected: string }[],
  o: {
    maxTokens: number;
    backend: ComputeBackend;
    signal?: AbortSignal;
    onProgress?: (stage: "embedding", done: number, total: number) => void;
    memoryMb?: number;
  },
): Promise<{ preferred: Matrix; rejected: Matrix }[]> {
  const { embedTexts } = await import("../lm/embed.ts");
  const n = pairs.length;
  const d = model.hiddenSize;
  // Both sides at every block, then split per side: twice 2·N·L·D floats at the peak.
  if (o.memoryMb !== undefined) {
    checkMemoryBudget(
      2 * 2 * n * model.numLayers * d * 4,
      `the embeddings of ${n} pairs (${model.numLayers} blocks × hidden size ${d})`,
      "use fewer pairs ('max_pairs')",
      o.memoryMb,
    );
  }
  const texts = [...pairs.map((p) => p.preferred), ...pairs.map((p) => p.rejected)];
  const perLayer = await embedTexts(model, texts, {
    maxTokens: o.maxTokens,
    backend: o.backend,
    signal: o.signal,
    onProgress: (done, total) => o.onProgress?.("embedding", done, total),
  });
  return perLayer.map((all) => ({
    preferred: { rows: n, cols: d, data: all.slice(0, n * d) },
    rejected: { rows: n, cols: d, data: all.slice(n * d, 2 * n * d) },
  }));
}
