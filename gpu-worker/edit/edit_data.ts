/**
 * Where an edit's embeddings come from (the first half of `runEdit`): the data, read and checked before the
 * model is opened — pairs (JSONL) or an embeddings file, sampled with the seed, split into the pairs that find the
 * subspace and those held out for the margin (holdout.ts), enough usable pairs for the rank — and then, with the model open, a per-layer source of the sampled pairs' pooled embeddings: read from the file a
 * layer at a time, or computed by running the model over both sides of the pairs.
 */
import { basename } from "node:path";
import { checkPairsForRank } from "../../shared/contracts/edit_params.ts";
import { InputError } from "../../shared/errors.ts";
import { type EmbeddingsFile, openEmbeddings, selectRows } from "../../shared/formats/embeddings.ts";
import type { Matrix } from "../../shared/formats/matrix.ts";
import { readPreferenceFile } from "../../shared/formats/preference.ts";
import { hashFiles, type ModelFolder } from "../../shared/model/folder.ts";
import type { ComputeBackend } from "../runtime/backends.ts";
import { checkMemoryBudget } from "../runtime/memory_budget.ts";
import type { EditReport } from "./report.ts";
import { sampleIndices } from "./sample.ts";
import { type HoldoutSplit, splitHoldout } from "./holdout.ts";

type Pair = { preferred: string; rejected: string };

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
  /** The pairs that find the subspace, when the edit runs the model over them. */
  pairs?: Pair[];
  /** Rows of the data that find the subspace (sampled with the seed, held-out rows removed; pairs stay aligned). */
  indices: number[];
  /** The held-out pairs (texts), disjoint from `indices`; empty when nothing is held out. */
  heldOut: Pair[];
  /** Pairs input: every sampled pair (held-out ones included) in row order, for `--save-embeddings`. */
  sampledPairs?: Pair[];
  /** The split's rows (`subspace` = `indices`) and why nothing was held out, if so. */
  split: HoldoutSplit & { share: number };
  source: EditReport["source"];
}

/** Per-layer pooled embeddings of the sampled pairs: preferred, rejected [N, D]. */
export type LayerSource = (layer: number) => Promise<{ preferred: Matrix; rejected: Matrix }>;

/**
 * Reads exactly one of `pairsFile` and `embeddingsFile` (headers only for embeddings), samples `maxPairs` rows
 * with `seed`, holds out a `holdout` share of them (pairs only: embeddings carry no texts to measure a margin on,
 * unless `embeddingsPairsFile` gives the pairs they were computed from, row for row) and refuses fewer usable
 * pairs than `rank` for the subspace — all before anything model-sized is read.
 */
export async function readEditData(o: {
  pairsFile?: string;
  embeddingsFile?: string;
  /** The pairs `embeddingsFile` was computed from, row for row (the worker's embeddings cache): their texts. */
  embeddingsPairsFile?: string;
  rank: number;
  maxPairs: number;
  seed: number;
  /** Share of the sampled pairs held out (0: none). */
  holdout: number;
  provenance?: Provenance;
}): Promise<EditData> {
  const { rank, maxPairs, seed, holdout: share } = o;
  if (o.embeddingsFile !== undefined) {
    const embeddings = await openEmbeddings(o.embeddingsFile);
    try {
      const sampled = sampleIndices(embeddings.numPairs, maxPairs, seed);
      const texts = o.embeddingsPairsFile === undefined
        ? undefined
        : await pairsOfEmbeddings(o.embeddingsPairsFile, embeddings.numPairs);
      const split: HoldoutSplit = texts
        ? splitHoldout({ indices: sampled, share, seed, identical: (row) => isIdentical(texts[row]) })
        : { subspace: sampled, heldOut: [], ...(share > 0 ? { skipped: NO_TEXTS } : {}) };
      checkPairsForRank({
        rank,
        available: embeddings.numPairs,
        maxPairs,
        identical: texts ? split.subspace.filter((row) => isIdentical(texts[row])).length : undefined,
        heldOut: split.heldOut.length,
        source: "the embeddings",
      });
      const source = {
        ...await provenance(o.provenance, o.embeddingsFile, "embeddings"),
        pairsAvailable: embeddings.numPairs,
        pairsUsed: split.subspace.length,
      };
      return {
        embeddings,
        indices: split.subspace,
        heldOut: texts ? split.heldOut.map((row) => texts[row]) : [],
        split: { ...split, share },
        source,
      };
    } catch (error) {
      await embeddings.close();
      throw error;
    }
  }
  const data = await readPreferenceFile(o.pairsFile!);
  const sampled = sampleIndices(data.pairs.length, maxPairs, seed);
  const split = splitHoldout({
    indices: sampled,
    share,
    seed,
    identical: (row) => isIdentical(data.pairs[row]),
  });
  const pairs = split.subspace.map((i) => data.pairs[i]);
  checkPairsForRank({
    rank,
    available: data.pairs.length,
    maxPairs,
    // A pair with the same text on both sides has a zero difference: it adds nothing to T's rank.
    identical: pairs.filter(isIdentical).length,
    heldOut: split.heldOut.length,
    source: "the pairs file",
  });
  const source = {
    ...await provenance(o.provenance, o.pairsFile!, "pairs"),
    pairsAvailable: data.pairs.length,
    pairsUsed: pairs.length,
    format: data.format,
  };
  return {
    pairs,
    indices: split.subspace,
    heldOut: split.heldOut.map((row) => data.pairs[row]),
    sampledPairs: sampled.map((row) => data.pairs[row]),
    split: { ...split, share },
    source,
  };
}

const NO_TEXTS =
  "No pairs were held out to measure the preference margin as the edit reads embeddings, which " +
  "carry no texts; every sampled pair found the subspace";

function isIdentical(pair: Pair): boolean {
  return pair.preferred === pair.rejected;
}

/** The pairs behind an embeddings file, which must have one pair per embeddings row. */
async function pairsOfEmbeddings(file: string, rows: number): Promise<Pair[]> {
  const { pairs } = await readPreferenceFile(file);
  if (pairs.length !== rows) {
    throw new InputError(
      `Cannot hold pairs out as the embeddings must come from the pairs file row for row: the embeddings have ` +
        `${rows} rows, the pairs file ${pairs.length} pairs`,
    );
  }
  return pairs;
}

/**
 * The per-layer source for the subspace loop: the embeddings file's rows (read one layer at a time), or the
 * model run over both sides of the pairs now. With `all`, every sampled pair is embedded, the held-out ones too,
 * and `computed` holds them all in row order (for `--save-embeddings` and the worker's cache, whose files must
 * not depend on the hold-out); the source still gives only the subspace's rows.
 */
export async function layerSource(
  data: EditData,
  model: ModelFolder,
  o: {
    all?: boolean;
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
  if (!o.all || data.heldOut.length === 0) {
    const computed = await embedPairs(model, data.pairs!, o);
    return { source: (layer) => Promise.resolve(computed[layer]), computed };
  }
  const computed = await embedPairs(model, data.sampledPairs!, o);
  const position = new Map(
    data.split.subspace.concat(data.split.heldOut).sort((a, b) => a - b).map((row, i) => [row, i]),
  );
  const rows = indices.map((row) => position.get(row)!);
  return {
    source: (layer) =>
      Promise.resolve({
        preferred: selectRows(computed[layer].preferred, rows),
        rejected: selectRows(computed[layer].rejected, rows),
      }),
    computed,
  };
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
  // The stage starts now, before the engine's modules load and the texts are tokenized: a job's progress (and
  // the poison rule, which blames the input of the stage an attempt died in) says so from the start.
  o.onProgress?.("embedding", 0, 2 * n);
  const { embedTexts } = await import("../lm/embed.ts");
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
