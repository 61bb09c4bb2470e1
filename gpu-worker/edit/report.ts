/**
 * The edit report (`report.json`): per edited layer the subspace's singular values, explained variance,
 * convergence, and the vocabulary tokens each removed direction points to, read through the unembedding.
 */
import type { ModelFolder } from "../../shared/model/folder.ts";
import { readableToken, type Tokenizer } from "../../shared/model/tokenizer.ts";
import { bytesPerElement, isFloatDType, toFloat32 } from "../../shared/safetensors/dtype.ts";
import { type Gemm, openGemm } from "../blas/gemm.ts";
import type { LayerSubspace, Matrix } from "../profs/backend.ts";
import type { ComputeBackend } from "../runtime/backends.ts";
import type { MarginSummary } from "../eval/margin.ts";

export const REPORT_FORMAT = "profs-report/1";

export interface ScoredToken {
  token: string;
  id: number;
  /** E·v: the token's unembedding row dotted with the direction. */
  score: number;
}

export interface DirectionTokens {
  /** Tokens with the largest E·v (the direction's positive side), best first. */
  positive: ScoredToken[];
  /** Tokens with the most negative E·v, most negative first. */
  negative: ScoredToken[];
  /**
   * The side the rejected (toxic) texts point to: the sign of mean(X⁻ − X⁺)·v over the layer's sampled pairs, so
   * its tokens are the ones the removed component raised. null when that mean is exactly 0 (or for reports
   * written before it was recorded).
   */
  toxicSide?: "positive" | "negative" | null;
  /** mean(X⁻ − X⁺)·v: how far, on average, a rejected text sits beyond its preferred one along v. */
  toxicProjection?: number;
}

export interface LayerReport {
  layer: number;
  tensor: string;
  singularValues: number[];
  explainedVariance: number[];
  iterations: number;
  residual: number;
  /** What the residual was held to (webgpu: f32's floor when above the parameter); absent before. */
  tolerance?: number;
  converged: boolean;
  /** Directions whose σ is above `noiseFloor` (≤ rank); absent in reports written before it existed. */
  effectiveRank?: number;
  /** σ₁·max(N, D)·ε_f32: singular values at or below it are rounding noise. */
  noiseFloor?: number;
  directions: DirectionTokens[];
}

export interface EditReport {
  format: typeof REPORT_FORMAT;
  createdAt: string;
  model: { sha256: string; family: string; numLayers: number; hiddenSize: number; weightFiles: string[] };
  editedModelSha256: string;
  params: {
    layers: { from: number; to: number };
    rank: number;
    centering: boolean;
    maxPairs: number;
    seed: number;
    /** Tokens per text when the pipeline embedded pairs; from the file's metadata (or null) for embeddings. */
    maxTokens: number | null;
    /** Share of the sampled pairs held out for the margin (absent in reports written before it existed). */
    holdout?: number;
    tolerance: number;
    maxIterations: number;
  };
  /**
   * The edit's data as the user gave it, by content, never by path: `kind` is what the user supplied (a pairs
   * dataset stays "pairs" when its embeddings came from the cache, with `embeddingsCache: "hit"`).
   */
  source: {
    kind: "pairs" | "embeddings";
    /** sha256 of the pairs JSONL or embeddings safetensors the user supplied. */
    sha256: string;
    /** The service's dataset id. */
    datasetId?: string;
    /** The file's base name (the command line; never a folder path). */
    file?: string;
    /** Service edits from pairs: whether the embeddings came from the cache. */
    embeddingsCache?: "hit" | "miss";
    pairsAvailable: number;
    pairsUsed: number;
    format?: string;
  };
  backend: ComputeBackend;
  /** Why that backend, e.g. "auto: the only WebGPU adapter, llvmpipe …, is a software one …". */
  backendReason?: string;
  layers: LayerReport[];
  /** The held-out preference margin (absent in reports written before it existed). */
  heldOut?: HeldOutReport;
  /** One line per problem the edit did not fail on (e.g. a rank above a block's effective rank). */
  warnings?: string[];
  /**
   * Wall time per stage; `write` starts once the model's headers are checked and runs alongside `embed` and
   * `subspace` (which includes the top tokens), so they overlap; `margin` (the held-out margin of both models)
   * follows them.
   */
  seconds: { embed: number; subspace: number; write: number; margin?: number; total: number };
}

/**
 * The pairs held out from the subspace and the preference margin on them (gpu-worker/eval/margin.ts): per pair the
 * mean per-token log-likelihood of the preferred text minus the rejected one, in nats per token, summarised as the
 * mean margin and the share of pairs above 0, for the base and the edited model.
 */
export interface HeldOutReport {
  /** The share asked for (`holdout`). */
  share: number;
  /** Pairs held out. */
  pairs: number;
  /** Their rows in the data (sorted), disjoint from the rows that found the subspace. */
  rows: number[];
  base?: MarginSummary;
  edited?: MarginSummary;
  /** Why nothing was held out although a share was asked for. */
  skipped?: string;
}

/**
 * report.json from what the pipeline measured: the model's identity, the parameters, the data as the user gave
 * it, the backend, per block its subspace and the tokens of each removed direction, the warnings they raise
 * (subspaceWarnings), and the stage timings.
 */
export function assembleReport(o: {
  model: ModelFolder;
  written: { inputSha256: string; outputSha256: string };
  params: EditReport["params"];
  source: EditReport["source"];
  backend: ComputeBackend;
  backendReason?: string;
  /** Index layer − params.layers.from. */
  subspaces: LayerSubspace[];
  directions: DirectionTokens[][];
  heldOut?: HeldOutReport;
  seconds: EditReport["seconds"];
}): EditReport {
  const from = o.params.layers.from;
  const layers = o.subspaces.map((s, i) =>
    layerReport(from + i, o.model.mlpOutputName(from + i), s, o.directions[i])
  );
  return {
    format: REPORT_FORMAT,
    createdAt: new Date().toISOString(),
    model: {
      sha256: o.written.inputSha256,
      family: o.model.architecture.family,
      numLayers: o.model.numLayers,
      hiddenSize: o.model.hiddenSize,
      weightFiles: o.model.weightFiles,
    },
    editedModelSha256: o.written.outputSha256,
    params: o.params,
    source: o.source,
    backend: o.backend,
    backendReason: o.backendReason,
    layers,
    ...(o.heldOut ? { heldOut: o.heldOut } : {}),
    warnings: [
      ...subspaceWarnings(layers),
      ...heldOutWarnings(o.heldOut, o.source),
    ],
    seconds: o.seconds,
  };
}

export function layerReport(
  layer: number,
  tensor: string,
  subspace: LayerSubspace,
  directions: DirectionTokens[],
): LayerReport {
  return {
    layer,
    tensor,
    singularValues: subspace.singularValues,
    explainedVariance: subspace.explainedVariance,
    iterations: subspace.iterations,
    residual: subspace.residual,
    tolerance: subspace.tolerance,
    converged: subspace.converged,
    effectiveRank: subspace.effectiveRank,
    noiseFloor: subspace.noiseFloor,
    directions,
  };
}

/**
 * mean over pairs of (x⁻ − x⁺)·v for each column v of basis [D, k]; preferred, rejected [N, D]. The data that
 * decides which side of a direction is toxic: singular vectors have no sign of their own.
 */
export function toxicProjections(preferred: Matrix, rejected: Matrix, basis: Matrix): number[] {
  const { rows: n, cols: d } = preferred;
  const k = basis.cols;
  const mean = new Float64Array(d); // mean(X⁻ − X⁺) [D]
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < d; c++) mean[c] += rejected.data[i * d + c] - preferred.data[i * d + c];
  }
  return Array.from({ length: k }, (_, j) => {
    let s = 0;
    for (let c = 0; c < d; c++) s += mean[c] * basis.data[c * k + j];
    return s / n;
  });
}

/** The directions with their toxic side set from `projections` (toxicProjections, one per direction). */
export function markToxicSides(directions: DirectionTokens[], projections: number[]): DirectionTokens[] {
  return directions.map((d, j) => ({
    ...d,
    toxicSide: projections[j] > 0 ? "positive" : projections[j] < 0 ? "negative" : null,
    toxicProjection: projections[j],
  }));
}

/** The direction's sides as shown to users: the toxic one first, marked; "+"/"−" name the sign of E·v. */
export function directionSides(
  d: DirectionTokens,
): { sign: "+" | "−"; toxic: boolean; tokens: ScoredToken[] }[] {
  const positive = { sign: "+" as const, toxic: d.toxicSide === "positive", tokens: d.positive };
  const negative = { sign: "−" as const, toxic: d.toxicSide === "negative", tokens: d.negative };
  return d.toxicSide === "negative" ? [negative, positive] : [positive, negative];
}

/**
 * A warning per block whose rank exceeds its effective rank: the directions past it stand at the noise floor,
 * so they are arbitrary (another backend or seed removes other ones) and the edit removes more than the data
 * support.
 */
export function subspaceWarnings(layers: LayerReport[]): string[] {
  return layers.flatMap((l) => {
    const rank = l.singularValues.length;
    if (l.effectiveRank === undefined || l.effectiveRank >= rank) return [];
    return [
      `block ${l.layer}: rank ${rank} is above the data's effective rank ${l.effectiveRank} (σ${
        l.effectiveRank + 1
      }…σ${rank} ≤ noise floor ${l.noiseFloor?.toExponential(2)}): the last ${
        rank - l.effectiveRank
      } removed ` +
      `direction(s) are arbitrary; use rank ${Math.max(1, l.effectiveRank)} or more varied pairs`,
    ];
  });
}

/**
 * What the hold-out says the user should know: too few pairs to hold any out (for pairs; embeddings alone carry
 * no texts, which `heldOut.skipped` records without a warning), or an edit that lowered the held-out margin.
 */
export function heldOutWarnings(
  heldOut: HeldOutReport | undefined,
  source: Pick<EditReport["source"], "kind">,
): string[] {
  if (!heldOut) return [];
  if (heldOut.skipped) return source.kind === "pairs" ? [heldOut.skipped] : [];
  const { base, edited } = heldOut;
  if (!base || !edited || edited.pairs === 0 || edited.meanMargin >= base.meanMargin) return [];
  return [
    `the edit lowered the preference margin on the ${edited.pairs} held-out pairs from ${
      base.meanMargin.toFixed(4)
    } to ${edited.meanMargin.toFixed(4)} nats/token: it does not separate these pairs better than the base ` +
    `model; try other layers, a lower rank, or more pairs`,
  ];
}

/**
 * Rows of the unembedding streamed per chunk, so a 50k×1024 matrix never sits in memory whole; small enough that
 * a chunk's scoring (~20 ms for 28 directions at D = 1024) does not hold up the edit's writing thread, which
 * waits on this thread for each edited tensor.
 */
const ROWS_PER_CHUNK = 512;

/**
 * scores [rows, c] = e [rows, D] · vᵀ for directions v [c, D]. Blocks of 2 rows × 4 directions keep eight
 * independent sums and load each element of e and v once per block, so the loop is not one long chain of
 * dependent adds.
 */
function scoreRows(
  e: Float32Array,
  rows: number,
  v: Float64Array,
  c: number,
  d: number,
  scores: Float64Array,
) {
  const dot = (r: number, col: number) => {
    let s = 0;
    for (let t = 0; t < d; t++) s += e[r * d + t] * v[col * d + t];
    return s;
  };
  const pairs = rows - (rows % 2), quads = c - (c % 4);
  for (let r = 0; r < pairs; r += 2) {
    const e0 = r * d, e1 = e0 + d;
    for (let col = 0; col < quads; col += 4) {
      const v0 = col * d, v1 = v0 + d, v2 = v1 + d, v3 = v2 + d;
      let a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;
      for (let t = 0; t < d; t++) {
        const x = e[e0 + t], y = e[e1 + t];
        const w0 = v[v0 + t], w1 = v[v1 + t], w2 = v[v2 + t], w3 = v[v3 + t];
        a0 += x * w0;
        a1 += x * w1;
        a2 += x * w2;
        a3 += x * w3;
        b0 += y * w0;
        b1 += y * w1;
        b2 += y * w2;
        b3 += y * w3;
      }
      const o = r * c + col;
      scores[o] = a0;
      scores[o + 1] = a1;
      scores[o + 2] = a2;
      scores[o + 3] = a3;
      scores[o + c] = b0;
      scores[o + c + 1] = b1;
      scores[o + c + 2] = b2;
      scores[o + c + 3] = b3;
    }
    for (let col = quads; col < c; col++) {
      scores[r * c + col] = dot(r, col);
      scores[(r + 1) * c + col] = dot(r + 1, col);
    }
  }
  for (let r = pairs; r < rows; r++) for (let col = 0; col < c; col++) scores[r * c + col] = dot(r, col);
}

/**
 * For each basis V [D, k], each column v: the `count` tokens with the largest and smallest E·v, E the output
 * head [vocab, D] (GPT-2: the tied wte). All bases share one pass over E, scored on `gemm`'s dgemm (OpenBLAS by
 * default; null for the TypeScript loop of scoreRows).
 */
export async function topTokens(
  model: ModelFolder,
  tokenizer: Tokenizer,
  bases: Matrix[],
  count = 10,
  gemm: Gemm | null = openGemm(),
): Promise<DirectionTokens[][]> {
  const name = model.unembeddingName();
  const [vocab, d] = model.tensorInfo(name).shape;
  const columns = bases.flatMap((b) => Array.from({ length: b.cols }, (_, j) => ({ b, j })));
  const c = columns.length;
  const v = new Float64Array(c * d); // all directions as rows [c, D], so the inner loop runs over D contiguously
  columns.forEach(({ b, j }, col) => {
    for (let r = 0; r < d; r++) v[col * d + r] = b.data[r * b.cols + j];
  });
  const scores = new Float64Array(vocab * c); // [vocab, c]
  const info = model.tensorInfo(name);
  if (!isFloatDType(info.dtype)) throw new Error(`'${name}' must be a float tensor: it is ${info.dtype}`);
  const dtype = info.dtype;
  const reader = model.reader(info.file);
  const rowBytes = d * bytesPerElement(dtype);
  const buffer = new Uint8Array(ROWS_PER_CHUNK * rowBytes); // reused: the head is read once, chunk by chunk
  const e64 = new Float64Array(gemm ? ROWS_PER_CHUNK * d : 0);
  for (let start = 0; start < vocab; start += ROWS_PER_CHUNK) {
    const rows = Math.min(ROWS_PER_CHUNK, vocab - start);
    const bytes = await reader.readBytes(info.name, {
      begin: start * rowBytes,
      end: (start + rows) * rowBytes,
    }, buffer);
    const e = dtype === "F32" ? new Float32Array(bytes.buffer, 0, rows * d) : toFloat32(bytes, dtype); // [rows, D]
    if (gemm) {
      // scores [rows, c] = e · vᵀ on dgemm (OpenBLAS): the head widened to float64 per chunk (exact), so only
      // the summation order differs from scoreRows.
      for (let i = 0; i < rows * d; i++) e64[i] = e[i];
      gemm.dgemm({
        transA: false,
        transB: true,
        m: rows,
        n: c,
        k: d,
        a: e64,
        lda: d,
        b: v,
        ldb: d,
        c: scores,
        cOffset: start * c,
        ldc: c,
      });
    } else scoreRows(e, rows, v, c, d, scores.subarray(start * c, (start + rows) * c));
  }
  const perColumn = columns.map((_, col) => {
    const scored = (id: number) => ({ token: readableToken(tokenizer, id), id, score: scores[id * c + col] });
    return {
      positive: extremes(scores, c, col, vocab, count, 1).map(scored),
      negative: extremes(scores, c, col, vocab, count, -1).map(scored),
    };
  });
  let next = 0;
  return bases.map((b) => perColumn.slice(next, next += b.cols));
}

/**
 * The `count` ids of [0, n) with the largest sign·scores[id·stride + offset] (ties: the lower id first), best
 * first, in one pass over the scores.
 */
function extremes(
  scores: Float64Array,
  stride: number,
  offset: number,
  n: number,
  count: number,
  sign: 1 | -1,
): number[] {
  const best: number[] = [], keys: number[] = [];
  for (let id = 0; id < n; id++) {
    const key = sign * scores[id * stride + offset];
    if (best.length === count && !(key > keys[count - 1])) continue;
    let i = Math.min(best.length, count - 1);
    for (; i > 0 && key > keys[i - 1]; i--) [best[i], keys[i]] = [best[i - 1], keys[i - 1]];
    [best[i], keys[i]] = [id, key];
  }
  return best;
}
