/**
 * The LM engine on the CPU, composed from ops.ts for any `LmFamily`:
 * - `embedSequences`: layer-major embedding extraction — every text passes block l before block l+1's tensors
 *   are read, so the host holds one block's weights plus the texts' residual streams (packed, no padding), and
 *   returns the masked mean of the residual after every block (before the final norm).
 * - `loadLmCpuModel`: the whole model resident (for checks: logits, log-probabilities, greedy generation with a
 *   KV cache).
 */
import { greedyPick, type TokenPick } from "../sampling.ts";
import { InputError } from "../../../shared/errors.ts";
import { checkContext, type LmFamily, rotaryInvFreq } from "../family.ts";
import type { Gemm } from "../../blas/gemm.ts";
import type { Matrix } from "../../../shared/formats/matrix.ts";
import { applyCorrection, correctionByLayer, type MlpCorrection } from "../correction.ts";
import {
  activationForward,
  attentionBlasForward,
  embeddingForward,
  kvWriteForward,
  layerNormForward,
  linearForward,
  logProbForward,
  meanPoolForward,
  rmsNormForward,
  rotaryForward,
  swigluForward,
} from "./ops.ts";
import {
  type BlockWeights,
  gatherRows,
  type HeadWeights,
  type LinearWeights,
  type LmSource,
  loadBlock,
  loadFinalNorm,
  loadHead,
  type NormWeights,
} from "./weights.ts";
import { nextTurn } from "../../runtime/next_turn.ts";

/** Where each of R rows sits: its position, its KV-store row, and the store rows it attends to. */
export interface RowLayout {
  rows: number; // R
  pos: Uint32Array; // [R]
  slot: Uint32Array; // [R] store row receiving this row's key and value
  keyStart: Uint32Array; // [R] store row of the row's sequence's position 0
  keyCount: Uint32Array; // [R] keys attended: causal ∧ not padding
}

/** A key/value store per block: [S, Hkv·hd] each. */
export interface KvStore {
  k: Float32Array[];
  v: Float32Array[];
}

export function createKvStore(family: LmFamily, rows: number): KvStore {
  const size = rows * family.numKvHeads * family.headDim;
  return {
    k: Array.from({ length: family.numLayers }, () => new Float32Array(size)),
    v: Array.from({ length: family.numLayers }, () => new Float32Array(size)),
  };
}

/** LayerNorm when the norm has a bias, else RMSNorm. */
function normForward(
  out: Float32Array,
  x: Float32Array,
  w: NormWeights,
  shape: { rows: number; cols: number },
  eps: number,
) {
  if (w.bias) layerNormForward(out, x, w.weight, w.bias, shape, eps);
  else rmsNormForward(out, x, w.weight, shape, eps);
}

/**
 * One block over R rows, x [R, D] updated in place: attention (norm → q/k/v → q/k norm → rotary → store → GQA →
 * o) and MLP (GELU/ReLU or SwiGLU), sequential or GPT-J parallel.
 */
export function blockForward(
  gemm: Gemm,
  family: LmFamily,
  layer: number,
  w: BlockWeights,
  x: Float32Array, // [R, D]
  layout: RowLayout,
  kStore: Float32Array, // [S, Hkv·hd]
  vStore: Float32Array, // [S, Hkv·hd]
  invFreq: Float64Array | null, // [rotaryDim / 2]
  correction: Matrix | null = null, // V [D, k]: the MLP output loses span(V) (lm/correction.ts)
): void {
  const t = family.block(layer);
  const { rows: R } = layout;
  const { hiddenSize: D, numHeads: H, numKvHeads: Hkv, headDim: hd, intermediateSize: I } = family;
  const qDim = H * hd, kvDim = Hkv * hd;
  const h = new Float32Array(R * D);
  normForward(h, x, w.attnNorm, { rows: R, cols: D }, t.attnNorm.eps);
  let q: Float32Array, k: Float32Array, v: Float32Array;
  if (w.qkv.kind === "fused" && t.qkv.kind === "fused") {
    const qkv = new Float32Array(R * 3 * D); // columns q | k | v
    linearForward(gemm, qkv, h, w.qkv.qkv.weight, w.qkv.qkv.bias, shapeOf(R, t.qkv.qkv), t.qkv.qkv.layout);
    q = new Float32Array(R * D), k = new Float32Array(R * D), v = new Float32Array(R * D);
    for (let r = 0; r < R; r++) {
      q.set(qkv.subarray(r * 3 * D, r * 3 * D + D), r * D);
      k.set(qkv.subarray(r * 3 * D + D, r * 3 * D + 2 * D), r * D);
      v.set(qkv.subarray(r * 3 * D + 2 * D, (r + 1) * 3 * D), r * D);
    }
  } else if (w.qkv.kind === "separate" && t.qkv.kind === "separate") {
    q = new Float32Array(R * qDim), k = new Float32Array(R * kvDim), v = new Float32Array(R * kvDim);
    linear(gemm, q, h, w.qkv.q, R, t.qkv.q);
    linear(gemm, k, h, w.qkv.k, R, t.qkv.k);
    linear(gemm, v, h, w.qkv.v, R, t.qkv.v);
  } else throw new Error("block weights do not match the family's q/k/v layout");
  if (w.qNorm && t.qNorm) rmsNormForward(q, q, w.qNorm.weight, { rows: R * H, cols: hd }, t.qNorm.eps);
  if (w.kNorm && t.kNorm) rmsNormForward(k, k, w.kNorm.weight, { rows: R * Hkv, cols: hd }, t.kNorm.eps);
  if (family.positions.kind === "rotary") {
    const { rotaryDim, convention } = family.positions;
    rotaryForward(q, layout.pos, invFreq!, { rows: R, heads: H, headDim: hd, rotaryDim }, convention);
    rotaryForward(k, layout.pos, invFreq!, { rows: R, heads: Hkv, headDim: hd, rotaryDim }, convention);
  }
  kvWriteForward(kStore, vStore, k, v, layout.slot, { rows: R, kvDim });
  const att = new Float32Array(R * qDim);
  attentionBlasForward(gemm, att, q, kStore, vStore, layout.keyStart, layout.keyCount, {
    rows: R,
    heads: H,
    kvHeads: Hkv,
    headDim: hd,
  }, family.attention.scale);
  // Both branches land on the residual stream through the products' beta = 1 (no branch buffer, no add pass).
  linear(gemm, x, att, w.o, R, t.o, true);
  // GPT-J's parallel MLP reads the block's one norm (h, taken before attention); sequential blocks norm again.
  if (family.topology !== "parallel") normForward(h, x, w.mlpNorm!, { rows: R, cols: D }, t.mlpNorm!.eps);
  mlpForward(gemm, family, t, w, x, h, R, I, correction);
}

/** x [R, D] += down(act(up h)) or down(silu(gate h) · up h). */
function mlpForward(
  gemm: Gemm,
  family: LmFamily,
  t: ReturnType<LmFamily["block"]>,
  w: BlockWeights,
  x: Float32Array, // [R, D] residual stream, accumulated into
  h: Float32Array, // [R, D]
  R: number,
  I: number,
  correction: Matrix | null,
): void {
  const up = new Float32Array(R * I);
  linear(gemm, up, h, w.up, R, t.up);
  let a = up;
  if (w.gate && t.gate) {
    const gate = new Float32Array(R * I);
    linear(gemm, gate, h, w.gate, R, t.gate);
    swigluForward(gate, up, R * I);
    a = gate;
  } else activationForward(up, family.mlp.activation, R * I);
  if (!correction) return linear(gemm, x, a, w.down, R, t.down, true);
  // y = W·a without its bias, minus its part in span(V); then y and the bias land on the residual stream.
  const D = family.hiddenSize;
  const y = new Float32Array(R * D);
  linearForward(gemm, y, a, w.down.weight, null, shapeOf(R, t.down), t.down.layout);
  applyCorrection(gemm, y, R, correction);
  const bias = w.down.bias;
  for (let r = 0; r < R; r++) {
    const o = r * D;
    for (let d = 0; d < D; d++) x[o + d] += y[o + d] + (bias ? bias[d] : 0);
  }
}

function shapeOf(rows: number, t: { inFeatures: number; outFeatures: number }) {
  return { rows, inFeatures: t.inFeatures, outFeatures: t.outFeatures };
}

function linear(
  gemm: Gemm,
  out: Float32Array,
  x: Float32Array,
  w: LinearWeights,
  rows: number,
  t: { inFeatures: number; outFeatures: number; layout: "out-in" | "in-out" },
  accumulate = false,
) {
  linearForward(gemm, out, x, w.weight, w.bias, shapeOf(rows, t), t.layout, accumulate);
}

/** Token ids of packed sequences with each row's position; ids checked against V. */
function packed(family: LmFamily, sequences: number[][]) {
  const starts = new Uint32Array(sequences.length);
  const counts = new Uint32Array(sequences.length);
  let total = 0;
  sequences.forEach((s, i) => {
    if (s.length === 0) throw new InputError(`Cannot run the model on text ${i} as it has no tokens`);
    starts[i] = total;
    counts[i] = s.length;
    total += s.length;
  });
  const ids = new Int32Array(total);
  const pos = new Uint32Array(total);
  sequences.forEach((s, i) =>
    s.forEach((id, t) => {
      if (!Number.isInteger(id) || id < 0 || id >= family.vocabSize) {
        throw new InputError(
          `Cannot run the model on text ${i} as token ids must be below vocab_size ${family.vocabSize}: it has ${id}`,
        );
      }
      ids[starts[i] + t] = id;
      pos[starts[i] + t] = t;
    })
  );
  return { starts, counts, ids, pos, total };
}

/** Rows [first, first + rows) of a packed batch attending within their own sequence, store rows = batch rows. */
function packedLayout(
  seqs: { starts: Uint32Array; counts: Uint32Array },
  pos: Uint32Array,
  from: number,
  to: number, // sequences [from, to)
): RowLayout {
  const first = seqs.starts[from];
  const rows = seqs.starts[to - 1] + seqs.counts[to - 1] - first;
  const layout: RowLayout = {
    rows,
    pos: pos.subarray(first, first + rows),
    slot: new Uint32Array(rows),
    keyStart: new Uint32Array(rows),
    keyCount: new Uint32Array(rows),
  };
  for (let i = from; i < to; i++) {
    for (let t = 0; t < seqs.counts[i]; t++) {
      const r = seqs.starts[i] - first + t;
      layout.slot[r] = r;
      layout.keyStart[r] = seqs.starts[i] - first;
      layout.keyCount[r] = t + 1;
    }
  }
  return layout;
}

/** The first token rows of each embedding: token embedding plus learned positions when the family has them. */
async function embedRows(
  source: LmSource,
  family: LmFamily,
  ids: Int32Array,
  pos: Uint32Array,
): Promise<Float32Array> {
  const D = family.hiddenSize;
  const x = await gatherRows(source, family.embedTokens, ids, { rows: family.vocabSize, dim: D });
  if (family.positions.kind === "learned") {
    const p = family.positions;
    const needed = Math.max(0, ...pos) + p.offset + 1;
    const table = await source.readRows(p.tensor, 0, Math.min(needed, p.rows));
    for (let r = 0; r < ids.length; r++) {
      const o = (pos[r] + p.offset) * D;
      for (let d = 0; d < D; d++) x[r * D + d] += table[o + d];
    }
  }
  return x;
}

export interface EmbedOptions {
  gemm: Gemm;
  /** Most rows one block call takes (bounds the MLP's [rows, I] activations); a longer text runs alone. */
  maxRows?: number;
  /**
   * Most bytes of residual streams held at once (default 1 GiB): texts beyond it form another group, which runs
   * through all blocks again (each group reads the weights once). A text longer than the budget runs alone.
   */
  maxResidualBytes?: number;
  /** Called as blocks finish: texts×blocks done / L, and the number of texts. */
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
  /** Called with each block's index before it is read (tests count what is resident). */
  onBlock?: (layer: number) => void;
  /**
   * Called after block l with a group's packed residual streams [rows, D]: its text i (text firstText + i of the
   * call) at rows starts[i] .. starts[i] + counts[i].
   */
  onBlockOutput?: (
    layer: number,
    x: Float32Array,
    starts: Uint32Array,
    counts: Uint32Array,
    firstText: number,
  ) => void;
}

export const DEFAULT_MAX_RESIDUAL_BYTES = 1 << 30;

/**
 * L arrays [N, D]: the mean over each text's tokens (special tokens included, no padding exists in the packed
 * layout) of the residual stream after block l. Layer-major: block l's tensors are read, every text of the group
 * passes it, and they are dropped before block l+1 is read; host memory is one block's weights, the group's
 * residual streams (≤ maxResidualBytes) and one chunk's activations.
 */
export async function embedSequences(
  source: LmSource,
  family: LmFamily,
  sequences: number[][],
  options: EmbedOptions,
): Promise<Float32Array[]> {
  const { numLayers: L, hiddenSize: D } = family;
  const N = sequences.length;
  checkContext(family, Math.max(1, ...sequences.map((s) => s.length)));
  const out = Array.from({ length: L }, () => new Float32Array(N * D));
  const budgetRows = Math.max(
    1,
    Math.floor((options.maxResidualBytes ?? DEFAULT_MAX_RESIDUAL_BYTES) / (4 * D)),
  );
  for (let from = 0; from < N;) {
    let to = from + 1, rows = sequences[from].length;
    while (to < N && rows + sequences[to].length <= budgetRows) rows += sequences[to++].length;
    await embedGroup(source, family, sequences.slice(from, to), from, N, out, options);
    from = to;
  }
  return out;
}

/** One group of texts (text `first` onwards of the call's `total`) through every block; pooled rows into `out`. */
async function embedGroup(
  source: LmSource,
  family: LmFamily,
  sequences: number[][],
  first: number,
  total: number,
  out: Float32Array[],
  options: EmbedOptions,
): Promise<void> {
  const { gemm, maxRows = 512 } = options;
  const { numLayers: L, hiddenSize: D } = family;
  const N = sequences.length;
  const seqs = packed(family, sequences);
  const x = await embedRows(source, family, seqs.ids, seqs.pos); // [rows, D] residual streams, packed
  const invFreq = family.positions.kind === "rotary" ? rotaryInvFreq(family.positions) : null;
  const chunks: [number, number][] = []; // consecutive texts whose rows fit maxRows (a long text alone)
  for (let from = 0; from < N;) {
    let to = from + 1;
    while (to < N && seqs.starts[to] + seqs.counts[to] - seqs.starts[from] <= maxRows) to++;
    chunks.push([from, to]);
    from = to;
  }
  const kvDim = family.numKvHeads * family.headDim;
  for (let l = 0; l < L; l++) {
    options.signal?.throwIfAborted();
    options.onBlock?.(l);
    let w: BlockWeights | null = await loadBlock(source, family, l);
    for (const [from, to] of chunks) {
      options.signal?.throwIfAborted();
      const layout = packedLayout(seqs, seqs.pos, from, to);
      const row = seqs.starts[from];
      const k = new Float32Array(layout.rows * kvDim), v = new Float32Array(layout.rows * kvDim);
      const xs = x.subarray(row * D, (row + layout.rows) * D);
      blockForward(gemm, family, l, w, xs, layout, k, v, invFreq);
      options.onProgress?.(first + Math.floor((l * N + to) / L), total);
      // A macrotask turn between chunks, so timers and signal handlers sharing this event loop run.
      await nextTurn();
    }
    w = null; // block l is dropped before block l+1 is read
    options.onBlockOutput?.(l, x, seqs.starts, seqs.counts, first);
    meanPoolForward(out[l].subarray(first * D, (first + N) * D), x, seqs.starts, seqs.counts, {
      seqs: N,
      dim: D,
    });
  }
}

/**
 * The model for checks: logits, log-probabilities and greedy generation with a KV cache. Resident (every tensor
 * read once, as float32) when it fits `maxResidentBytes`; otherwise streamed — each forward step (one prefill, one
 * per generated token) reads every block, the token rows and the head again from the folder, so generating n
 * tokens reads the model n + 1 times (disk-bound: for a 14 GB BF16 model, seconds per token at best).
 */
export interface LmCpuModel {
  readonly family: LmFamily;
  readonly resident: boolean;
  /** [N, V] next-token logits after each sequence's last token. */
  lastLogits(sequences: number[][]): Promise<Float32Array>;
  /** Per sequence: log p(s[t+1] | s[..t]) for t = 0..len−2. */
  logProbs(sequences: number[][]): Promise<Float32Array[]>;
  /**
   * `maxNewTokens` tokens per prompt, greedy unless `pick` says otherwise (lm/sampling.ts); stops a prompt at
   * `stopAt` when given, not included; `onToken` hears each token as it is picked.
   */
  generate(
    prompts: number[][],
    maxNewTokens: number,
    stopAt?: number | null,
    onToken?: (sequence: number, token: number) => void,
    pick?: TokenPick,
  ): Promise<number[][]>;
  /** Every later call runs with this MLP correction (lm/correction.ts); null runs the model as stored. */
  setCorrection(correction: MlpCorrection | null): void;
}

export interface ModelOptions {
  /** Most float32 bytes kept resident (default: half the machine's memory); a larger model is streamed. */
  maxResidentBytes?: number;
}

/** Most bytes of residual streams kept for corrected runs to resume from (loadLmCpuModel's prefix cache). */
const PREFIX_BYTES = 256 << 20;
/** Rows of the head per streamed product: 4,096 rows of a 4,096-wide head are 64 MiB of float32. */
const HEAD_CHUNK_ROWS = 4096;
/** Rows whose logits are formed at once for log-probabilities: bounds [rows, V] (64 × 128k × 4 B = 32 MiB). */
const LOGIT_ROWS = 64;

/** float32 bytes of every tensor the forward pass reads. */
export function residentBytes(family: LmFamily): number {
  const { vocabSize: V, hiddenSize: D } = family;
  const linear = (t: { inFeatures: number; outFeatures: number; bias: string | null }) =>
    t.inFeatures * t.outFeatures + (t.bias ? t.outFeatures : 0);
  const norm = (n: { size: number; bias: string | null } | null) => n ? n.size * (n.bias ? 2 : 1) : 0;
  let floats = V * D + (family.head.tied ? 0 : V * D) + (family.head.bias ? V : 0) + norm(family.finalNorm);
  if (family.positions.kind === "learned") floats += family.positions.rows * D;
  for (let l = 0; l < family.numLayers; l++) {
    const b = family.block(l);
    const qkv = b.qkv.kind === "fused"
      ? linear(b.qkv.qkv)
      : linear(b.qkv.q) + linear(b.qkv.k) + linear(b.qkv.v);
    floats += qkv + linear(b.o) + linear(b.up) + linear(b.down) + (b.gate ? linear(b.gate) : 0) +
      norm(b.attnNorm) + norm(b.mlpNorm) + norm(b.qNorm) + norm(b.kNorm);
  }
  return 4 * floats;
}

function defaultResidentBudget(): number {
  try {
    return Deno.systemMemoryInfo().total / 2;
  } catch {
    return Infinity; // no --allow-sys: assume it fits, as before
  }
}

export async function loadLmCpuModel(
  source: LmSource,
  family: LmFamily,
  gemm: Gemm,
  options: ModelOptions = {},
): Promise<LmCpuModel> {
  const { numLayers: L, hiddenSize: D, vocabSize: V } = family;
  const resident = residentBytes(family) <= (options.maxResidentBytes ?? defaultResidentBudget());
  const finalNorm = await loadFinalNorm(source, family);
  const blocks: BlockWeights[] = [];
  let head: HeadWeights | null = null;
  let embed: Float32Array | null = null;
  let positions: Float32Array | null = null;
  if (resident) {
    for (let l = 0; l < L; l++) blocks.push(await loadBlock(source, family, l));
    head = await loadHead(source, family);
    embed = await source.readTensor(family.embedTokens);
    if (family.positions.kind === "learned") positions = await source.readTensor(family.positions.tensor);
  }
  const invFreq = family.positions.kind === "rotary" ? rotaryInvFreq(family.positions) : null;
  let corrected = new Map<number, Matrix>();
  let firstCorrected = 0; // blocks before it run as stored, whatever the correction
  /**
   * With a correction, the residual stream entering its first corrected block f is the stored model's: kept per
   * batch of fresh sequences (by their ids and positions) and f, so the next correction starting at f resumes
   * there instead of running blocks 0..f−1 again (a tune's trials run the same texts). Bounded by PREFIX_BYTES.
   */
  const prefixes = new Map<string, Float32Array>();
  let prefixBytes = 0;

  /** Runs rows through every block and returns the final-normed states of `wanted` rows [n, D]. */
  async function run(
    ids: Int32Array,
    layout: RowLayout,
    store: KvStore,
    wanted: Uint32Array,
    fresh = false, // the rows are whole sequences from position 0 (no earlier context in the store)
  ): Promise<Float32Array> {
    const f = fresh ? firstCorrected : 0;
    const key = f > 0 ? `${f}|${ids.join(",")}|${layout.pos.join(",")}` : "";
    const cached = f > 0 ? prefixes.get(key) : undefined;
    let x: Float32Array;
    if (cached) x = cached.slice();
    else if (embed) {
      x = new Float32Array(layout.rows * D);
      const p = family.positions.kind === "learned"
        ? { table: positions!, pos: layout.pos, offset: family.positions.offset }
        : null;
      embeddingForward(x, ids, embed, p, { rows: layout.rows, dim: D });
    } else x = await embedRows(source, family, ids, layout.pos);
    for (let l = cached ? f : 0; l < L; l++) {
      if (l === f && f > 0 && !cached && prefixBytes + x.byteLength <= PREFIX_BYTES) {
        prefixes.set(key, x.slice());
        prefixBytes += x.byteLength;
      }
      const w = blocks[l] ?? await loadBlock(source, family, l); // streamed: read, used, dropped
      blockForward(gemm, family, l, w, x, layout, store.k[l], store.v[l], invFreq, corrected.get(l) ?? null);
    }
    const picked = new Float32Array(wanted.length * D);
    wanted.forEach((r, i) => picked.set(x.subarray(r * D, (r + 1) * D), i * D));
    const normed = new Float32Array(wanted.length * D);
    normForward(normed, picked, finalNorm, { rows: wanted.length, cols: D }, family.finalNorm.eps);
    return normed;
  }

  /** logits [n, V] = h [n, D] · headᵀ + bias, the head resident or streamed in row chunks. */
  async function logitsOf(h: Float32Array, n: number): Promise<Float32Array> {
    const logits = new Float32Array(n * V);
    if (head) {
      linearForward(
        gemm,
        logits,
        h,
        head.weight,
        head.bias,
        { rows: n, inFeatures: D, outFeatures: V },
        "out-in",
      );
      return logits;
    }
    const bias = family.head.bias ? await source.readTensor(family.head.bias) : null;
    for (let start = 0; start < V; start += HEAD_CHUNK_ROWS) {
      const rows = Math.min(HEAD_CHUNK_ROWS, V - start);
      const w = await source.readRows(family.head.weight, start, rows); // [rows, D]
      gemm.sgemm({
        transA: false,
        transB: true,
        m: n,
        n: rows,
        k: D,
        a: h,
        lda: D,
        b: w,
        ldb: D,
        c: logits,
        cOffset: start,
        ldc: V,
      });
    }
    if (bias) { for (let i = 0; i < n; i++) for (let v = 0; v < V; v++) logits[i * V + v] += bias[v]; }
    return logits;
  }

  function prefill(sequences: number[][]) {
    checkContext(family, Math.max(1, ...sequences.map((s) => s.length)));
    const seqs = packed(family, sequences);
    const layout = packedLayout(seqs, seqs.pos, 0, sequences.length);
    return { seqs, layout, store: createKvStore(family, seqs.total) };
  }

  return {
    family,
    resident,
    setCorrection(correction) {
      corrected = correctionByLayer(correction, family);
      firstCorrected = corrected.size > 0 ? Math.min(...corrected.keys()) : 0;
    },
    async lastLogits(sequences) {
      const { seqs, layout, store } = prefill(sequences);
      const last = Uint32Array.from(sequences, (_, i) => seqs.starts[i] + seqs.counts[i] - 1);
      return await logitsOf(await run(seqs.ids, layout, store, last, true), sequences.length);
    },
    async logProbs(sequences) {
      const { seqs, layout, store } = prefill(sequences);
      // Rows predicting a next token (every row but each sequence's last), and that token.
      const rows: number[] = [], targets: number[] = [];
      sequences.forEach((s, i) => {
        for (let t = 0; t + 1 < s.length; t++) {
          rows.push(seqs.starts[i] + t);
          targets.push(s[t + 1]);
        }
      });
      const h = await run(seqs.ids, layout, store, Uint32Array.from(rows), true);
      const all = new Float32Array(rows.length);
      for (let first = 0; first < rows.length; first += LOGIT_ROWS) {
        const n = Math.min(LOGIT_ROWS, rows.length - first);
        const logits = await logitsOf(h.subarray(first * D, (first + n) * D), n);
        logProbForward(
          all.subarray(first, first + n),
          logits,
          Int32Array.from(targets.slice(first, first + n)),
          {
            rows: n,
            vocab: V,
          },
        );
      }
      let offset = 0;
      return sequences.map((s) => all.slice(offset, offset += s.length - 1));
    },
    async generate(prompts, maxNewTokens, stopAt = null, onToken, pick = greedyPick) {
      const capacity = Math.max(1, ...prompts.map((p) => p.length)) + maxNewTokens;
      checkContext(family, capacity);
      const seqs = packed(family, prompts);
      const store = createKvStore(family, prompts.length * capacity);
      // Prefill: sequence i's position t lives at store row i·capacity + t.
      const layout = packedLayout(seqs, seqs.pos, 0, prompts.length);
      prompts.forEach((p, i) =>
        p.forEach((_, t) => {
          const r = seqs.starts[i] + t;
          layout.slot[r] = i * capacity + t;
          layout.keyStart[r] = i * capacity;
        })
      );
      const out = prompts.map(() => [] as number[]);
      const lengths = prompts.map((p) => p.length);
      let active = maxNewTokens > 0 ? prompts.map((_, i) => i) : [];
      let ids = seqs.ids;
      let stepLayout = layout;
      let wanted = Uint32Array.from(prompts, (_, i) => seqs.starts[i] + seqs.counts[i] - 1);
      while (active.length > 0) {
        const logits = await logitsOf(await run(ids, stepLayout, store, wanted), active.length);
        const still: number[] = [];
        const next: number[] = [];
        active.forEach((i, a) => {
          const best = pick(logits, a * V, V);
          if (stopAt !== null && best === stopAt) return;
          out[i].push(best);
          onToken?.(i, best);
          if (out[i].length < maxNewTokens) {
            still.push(i);
            next.push(best);
          }
        });
        ids = Int32Array.from(next);
        stepLayout = {
          rows: still.length,
          pos: Uint32Array.from(still, (i) => lengths[i]),
          slot: Uint32Array.from(still, (i) => i * capacity + lengths[i]),
          keyStart: Uint32Array.from(still, (i) => i * capacity),
          keyCount: Uint32Array.from(still, (i) => lengths[i] + 1),
        };
        still.forEach((i) => lengths[i]++);
        wanted = Uint32Array.from(still, (_, a) => a);
        active = still;
      }
      return out;
    },
  };
}
