/**
 * The LM engine on WebGPU, composed from an `LmFamily` (gpu-worker/lm/family.ts) and the kernels of
 * gpu-worker/kernels/. Runs are layer-major: every text goes through block l before block l + 1 is uploaded, so
 * the device holds one block's weights (in their stored dtype) plus the activations of the texts; the host holds
 * one tensor at a time. Texts are sorted by length and packed into chunks of at most `maxChunkRows` token rows
 * (each padded to its longest text); one block's passes over every chunk are recorded and submitted at once.
 * Chunks whose residual streams pass `maxResidualBytes` form further groups, each through every block. For checks,
 * `loadResident` keeps every weight on the device and generation uses a KV cache per block.
 *
 * A block, as the straight list of passes (norm → q, k, v → [q/k norm] → [rotary] → attention → o → residual
 * → norm → MLP → residual; GPT-J's parallel block shares one norm and adds both branches):
 *   h = norm1(x)                               [R, D]
 *   q, k, v = h·Wqᵀ (+b), h·Wkᵀ (+b), h·Wvᵀ (+b) [R, H·hd], [R, Hkv·hd] ×2
 *   att = attention(q, k, v) (causal, per text)  [R, H·hd]
 *   x += att·Woᵀ (+b);  x += down(act(up(norm2(x))))
 * Padding rows (past a text's length) are computed and ignored: causal attention never lets a real row see them
 * and the masked mean skips them.
 */
import { greedyPick, type TokenPick } from "../sampling.ts";
import { CapacityError, InputError } from "../../../shared/errors.ts";
import { toFloat32 } from "../../../shared/safetensors/dtype.ts";
import { encodeActivation } from "../../kernels/activation.ts";
import { encodeAttention } from "../../kernels/attention.ts";
import { encodeBiasAdd } from "../../kernels/bias_add.ts";
import { encodeEmbedRows } from "../../kernels/embed_rows.ts";
import { encodeKvWrite } from "../../kernels/kv_write.ts";
import { encodeLayerNorm } from "../../kernels/layer_norm.ts";
import { encodeLinear, type WeightDtype, weightWords } from "../../kernels/linear.ts";
import { encodeLogProb, logProbCpu } from "../../kernels/log_prob.ts";
import { encodeMeanPool } from "../../kernels/mean_pool.ts";
import { encodeRankKUpdate } from "../../kernels/rank_k_update.ts";
import { encodeResidualAdd } from "../../kernels/residual_add.ts";
import { encodeRowsDot } from "../../kernels/rows_dot.ts";
import { encodeRmsNorm } from "../../kernels/rms_norm.ts";
import { encodeRotary, rotaryTable } from "../../kernels/rotary.ts";
import { acquireGpu, type ComputeBatch, type Gpu } from "../../runtime/mod.ts";
import { checkContext, type LmFamily, rotaryInvFreq } from "../family.ts";
import { correctionByLayer, type MlpCorrection } from "../correction.ts";
import {
  blockBytes,
  type DeviceBlock,
  type DeviceLinear,
  type DeviceNorm,
  DeviceWeights,
  headBytes,
  type WeightSource,
} from "./weights.ts";

export interface WebGpuLmOptions {
  /** Use this device (tests share one); the engine then leaves it open on dispose. */
  gpu?: Gpu;
  /** Token rows per chunk (default: as many as keep each activation under 256 MiB and one binding). */
  maxChunkRows?: number;
  /**
   * Residual streams kept on the device at once (default 1 GiB): more texts run as further groups, each through
   * every block (so every weight is read once per group).
   */
  maxResidualBytes?: number;
  /** Refuse a run whose estimated device memory (one block + activations) exceeds this many bytes. */
  deviceBudgetBytes?: number;
  /** Named in errors. */
  model?: string;
  /** Largest storage binding to use (default: the adapter's); tests force the head and tables into slices. */
  maxBindingBytes?: number;
}

export interface EmbedOptions {
  /** Blocks whose output is pooled (default: all). */
  layers?: number[];
  /** Also return every block's hidden states per text (tests). */
  hidden?: boolean;
  /** Called after each block: texts × blocks done / L, and the number of texts. */
  onProgress?: (done: number, total: number) => void;
  /** Checked before each block is read. */
  signal?: AbortSignal;
}

export interface EmbedResult {
  /** Per requested layer, the masked mean [N, D] of its block output, texts in input order. */
  pooled: Float32Array[];
  /** hidden[l][n]: text n's output of block l, [T_n, D] (with `hidden`). */
  hidden?: Float32Array[][];
}

export interface WebGpuLm {
  readonly family: LmFamily;
  readonly device: string;
  /** Largest device memory the engine held in a run (its own buffers: weights, activations, tables). */
  readonly peakDeviceBytes: number;
  embed(texts: number[][], options?: EmbedOptions): Promise<EmbedResult>;
  /** Next-token logits after each text's last token, [N, V]. */
  lastLogits(texts: number[][]): Promise<Float32Array>;
  /** log p(ids[t+1] | ids[..t]) for t = 0..T_n − 2, per text. */
  logProbs(texts: number[][]): Promise<Float32Array[]>;
  /**
   * `steps` greedy tokens after each prompt (no stop token). With the whole model resident (when it fits the
   * device budget, or without one) and a KV cache: one prefill, then one batch per token. Otherwise each step
   * re-runs the prompts and the tokens so far streaming the blocks: steps × (a prefill + reading every weight).
   * With `eos`, a sequence stops at that token (not included) and generation ends when every sequence has.
   * `onToken` hears each token as it is picked (every sequence, every step: the runner's `tokenReporter` drops a
   * sequence's `eos` and what follows); `pick` chooses it from the logits (default greedy, lm/sampling.ts).
   */
  generate(
    prompts: number[][],
    steps: number,
    eos?: number | null,
    onToken?: (sequence: number, token: number) => void,
    pick?: TokenPick,
  ): Promise<number[][]>;
  /**
   * Keeps every weight on the device from now on (checks: many logits, log-probs and generation calls), when it
   * fits the device budget; false (and nothing loaded) when it does not. Embedding runs stay layer-major either way.
   */
  loadResident(): Promise<boolean>;
  /**
   * Later `lastLogits`, `logProbs` and `generate` runs remove span(V_l) from the MLP output of each corrected
   * block (lm/correction.ts), as the model edited with those bases would; `embed` runs the stored model.
   */
  setCorrection(correction: MlpCorrection | null): void;
  /** Releases the device (and the resident weights). */
  dispose(): void;
}

/** Which texts a chunk holds: B texts (longest first) padded to `tokens` rows each. */
interface ChunkPlan {
  texts: number[]; // indices into the run's texts
  tokens: number; // T: the chunk's longest text
  rows: number; // B·T
  first: number; // position of texts[0] in the sorted order (its pooled row)
}

interface Chunk extends ChunkPlan, RowSet {
  lengths: GPUBuffer; // [B] u32
}

/** Rows on the device: B texts of `tokens` rows (prefill), or one row per sequence (decode). */
interface RowSet {
  rows: number;
  tokens: number; // rows per text without a cache
  x: GPUBuffer; // [rows, D]
  seq: GPUBuffer; // [rows] u32
  pos: GPUBuffer; // [rows] u32
  keyCount: GPUBuffer; // [rows] u32
}

/** One block's KV cache: [S, capacity, Hkv·hd] keys and values. */
interface KvSlot {
  k: GPUBuffer;
  v: GPUBuffer;
  capacity: number;
}

type Rope = { p: Extract<LmFamily["positions"], { kind: "rotary" }>; positions: number; table: GPUBuffer };

type Temps = {
  h: GPUBuffer;
  q: GPUBuffer;
  k: GPUBuffer;
  v: GPUBuffer;
  qn: GPUBuffer | null;
  kn: GPUBuffer | null;
  att: GPUBuffer;
  branch: GPUBuffer;
  mlp: GPUBuffer;
  up: GPUBuffer;
  gate: GPUBuffer | null;
  z: GPUBuffer; // [R, k] the MLP output's coordinates in a correction's basis
};

/** A corrected block's basis on the device: V [D, k]. */
type DeviceCorrection = { basis: GPUBuffer; k: number };

/** The final norm and the output head in row slices ([outF, D] each, starting at vocabulary row starts[i]). */
interface DeviceHead {
  norm: DeviceNorm;
  slices: DeviceLinear[];
  starts: number[];
}

/** Rows start .. start + rows of a [V, D] table in its dtype (one binding). */
type TableSlice = { buffer: GPUBuffer; dtype: WeightDtype; start: number; rows: number };

type Want = {
  pool: number[];
  hidden: boolean;
  logits: "last" | "all" | null;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
};

export async function createWebGpuLm(
  family: LmFamily,
  source: WeightSource,
  options: WebGpuLmOptions = {},
): Promise<WebGpuLm> {
  const acquired = options.gpu ?? await acquireGpu();
  if (!acquired) {
    throw new InputError(
      "Cannot use '--backend webgpu' as no WebGPU adapter was found (install mesa-vulkan-drivers for a software one)",
    );
  }
  const gpu: Gpu = acquired;
  const owned = !options.gpu;
  const model = options.model ?? "the model";
  const { numLayers: L, hiddenSize: D, numHeads: H, numKvHeads: KVH, headDim: hd, intermediateSize: I } =
    family;
  const V = family.vocabSize;
  const maxBinding = Math.min(
    gpu.adapter.limits.maxStorageBufferBindingSize,
    gpu.adapter.limits.maxBufferSize,
    options.maxBindingBytes ?? Infinity,
  );
  const widest = Math.max(D, H * hd, I);
  const maxChunkRows = Math.max(
    1,
    Math.min(options.maxChunkRows ?? Infinity, Math.floor(Math.min(maxBinding, 256 << 20) / (4 * widest))),
  );
  const maxResidualBytes = options.maxResidualBytes ?? 1 << 30;
  let peak = 0;
  let corrected = new Map<number, DeviceCorrection>();
  let correctionRank = 1; // the widest corrected basis (the z scratch's width)
  /**
   * With a correction, every chunk's residual stream entering the first corrected block f is the stored model's:
   * kept on the device per group of texts (their ids) and f, so the next correction starting at f resumes there
   * instead of embedding and running blocks 0..f−1 again (a tune's trials run the same texts). At most
   * PREFIX_BYTES; released with the engine.
   */
  const prefixes = new Map<string, GPUBuffer[]>();
  let prefixBytes = 0;
  /** The whole model on the device once `loadResident` (or a generation that fits) has put it there. */
  let resident: {
    weights: DeviceWeights;
    blocks: DeviceBlock[];
    head: DeviceHead;
    embedding: TableSlice[];
  } | null = null;

  /** Buffers held by one run, counted for the peak. */
  class Held {
    readonly buffers: GPUBuffer[] = [];
    bytes = 0;
    storage(bytes: number, label: string): GPUBuffer {
      return this.#add(gpu.storage(bytes, label));
    }
    upload(data: Float32Array | Uint32Array, label: string): GPUBuffer {
      return this.#add(gpu.upload(data, label));
    }
    #add(buffer: GPUBuffer): GPUBuffer {
      this.buffers.push(buffer);
      this.bytes += buffer.size;
      return buffer;
    }
    release() {
      gpu.release(...this.buffers);
      this.buffers.length = 0;
      this.bytes = 0;
    }
  }

  async function run(
    texts: number[][],
    want: Want,
  ): Promise<{ pooled: Float32Array[]; hidden: Float32Array[][]; logits: Float32Array | null }> {
    checkTexts(texts);
    const N = texts.length;
    const order = texts.map((_, i) => i).sort((a, b) => texts[b].length - texts[a].length || a - b);
    const maxT = texts[order[0]].length;
    const held = new Held();
    const weights = new DeviceWeights(gpu, source, model);
    try {
      // Chunks of texts, longest first, each padded to its first (longest) text; groups of chunks whose residual
      // streams fit maxResidualBytes, each group passing through every block before the next starts.
      const groups: ChunkPlan[][] = [[]];
      let groupBytes = 0;
      for (let s = 0; s < N;) {
        const T = texts[order[s]].length;
        const count = Math.max(1, Math.min(N - s, Math.floor(maxChunkRows / T)));
        const plan = { texts: order.slice(s, s + count), tokens: T, rows: count * T, first: s };
        const bytes = plan.rows * D * 4;
        if (groupBytes > 0 && groupBytes + bytes > maxResidualBytes) {
          groups.push([]);
          groupBytes = 0;
        }
        groups[groups.length - 1].push(plan);
        groupBytes += bytes;
        s += count;
      }
      const R = Math.max(...groups.flat().map((c) => c.rows));
      const temp = temps(held, R);
      // One [N, D] buffer per pooled block (texts in sorted order), each well inside one binding.
      const pooled = want.pool.map((l) => held.storage(N * D * 4, `pooled ${l}`));
      const rope = family.positions.kind === "rotary"
        ? {
          p: family.positions,
          positions: maxT,
          table: held.upload(rotaryTable(rotaryInvFreq(family.positions), maxT), "rotary"),
        }
        : null;
      // Still to come per group: its residual streams, its ids and the token and position rows it uses.
      const largest = Math.max(...groups.map((g) => g.reduce((sum, c) => sum + c.rows, 0)));
      checkBudget(held.bytes + largest * (4 * D + 16) + 4 * D * (largest + maxT), want);

      const hidden: Float32Array[][] = want.hidden ? Array.from({ length: L }, () => new Array(N)) : [];
      const logits = want.logits
        ? new Float32Array(want.logits === "last" ? N * V : texts.reduce((n, ids) => n + ids.length - 1, 0))
        : null;
      let done = 0; // texts × blocks passed, over L
      for (const group of groups) {
        const g = new Held();
        try {
          const chunks = group.map((plan) => materialize(plan, texts, g));
          const f = want.logits && corrected.size > 0 ? Math.min(...corrected.keys()) : 0;
          const key = f > 0
            ? `${f}|${group.map((c) => c.texts.map((n) => texts[n].join(",")).join(";")).join("|")}`
            : "";
          const cached = f > 0 ? prefixes.get(key) : undefined;
          if (cached) {
            const batch = gpu.batch("resume");
            chunks.forEach((c, i) => batch.copy(cached[i], c.x, c.rows * D * 4));
            await batch.submit();
          } else await embedTokens(texts, chunks, g);
          const groupTexts = group.reduce((n, c) => n + c.texts.length, 0);
          for (let l = cached ? f : 0; l < L; l++) {
            const bytes = chunks.reduce((sum, c) => sum + c.rows * D * 4, 0);
            if (l === f && f > 0 && !cached && prefixBytes + bytes <= PREFIX_BYTES) {
              const copies = chunks.map((c) => gpu.storage(c.rows * D * 4, `prefix ${f}`));
              const batch = gpu.batch("keep prefix");
              chunks.forEach((c, i) => batch.copy(c.x, copies[i], c.rows * D * 4));
              await batch.submit();
              prefixes.set(key, copies);
              prefixBytes += bytes;
            }
            want.signal?.throwIfAborted();
            const w = resident?.blocks[l] ?? await weights.block(family, l);
            peak = Math.max(peak, held.bytes + g.bytes + weights.bytes + (resident?.weights.bytes ?? 0));
            const batch = gpu.batch(`block ${l}`);
            for (const c of chunks) {
              await encodeBlock(batch, w, c, temp, rope, null, want.logits ? corrected.get(l) : undefined);
              const slot = want.pool.indexOf(l);
              if (slot >= 0) {
                await encodeMeanPool(gpu, batch, { x: c.x, lengths: c.lengths, out: pooled[slot] }, {
                  seqs: c.texts.length,
                  tokens: c.tokens,
                  dim: D,
                  outRow: c.first,
                });
              }
            }
            await batch.submit();
            weights.release();
            if (want.hidden) await readHidden(texts, chunks, hidden[l]);
            done += groupTexts;
            want.onProgress?.(Math.floor(done / L), N);
          }
          if (want.logits) await head(texts, chunks, want.logits, held.bytes + g.bytes, temp.h, logits!);
        } finally {
          g.release();
        }
      }
      const sorted = await gpu.read(pooled.map((buffer) => ({ buffer, length: N * D })), "pooled");
      const pooledRows = sorted.map((rows) => {
        const out = new Float32Array(N * D);
        order.forEach((n, s) => out.set(rows.subarray(s * D, (s + 1) * D), n * D));
        return out;
      });
      return { pooled: pooledRows, hidden, logits };
    } finally {
      weights.release();
      held.release();
    }
  }

  /** A chunk's rows on the device: its residual stream and the per-row indices attention and pooling read. */
  function materialize(plan: ChunkPlan, texts: number[][], held: Held): Chunk {
    const { rows, tokens: T } = plan;
    const seq = new Uint32Array(rows);
    const pos = new Uint32Array(rows);
    for (let r = 0; r < rows; r++) [seq[r], pos[r]] = [Math.floor(r / T), r % T];
    return {
      ...plan,
      x: held.storage(rows * D * 4, "x"),
      seq: held.upload(seq, "seq"),
      pos: held.upload(pos, "pos"),
      keyCount: held.upload(pos.map((t) => t + 1), "keyCount"),
      lengths: held.upload(Uint32Array.from(plan.texts, (n) => texts[n].length), "lengths"),
    };
  }

  /** Activations of one block over up to R rows, reused by every chunk (passes run in order). */
  function temps(held: Held, R: number): Temps {
    return {
      h: held.storage(R * D * 4, "h"),
      q: held.storage(R * H * hd * 4, "q"),
      k: held.storage(R * KVH * hd * 4, "k"),
      v: held.storage(R * KVH * hd * 4, "v"),
      qn: family.block(0).qNorm ? held.storage(R * H * hd * 4, "q normed") : null,
      kn: family.block(0).kNorm ? held.storage(R * KVH * hd * 4, "k normed") : null,
      att: held.storage(R * H * hd * 4, "attention"),
      branch: held.storage(R * D * 4, "branch"),
      mlp: held.storage(R * D * 4, "mlp"),
      up: held.storage(R * I * 4, "up"),
      gate: family.mlp.gated ? held.storage(R * I * 4, "gate") : null,
      z: held.storage(R * correctionRank * 4, "correction coordinates"),
    };
  }

  /**
   * Records one block over `c.rows` rows, c.x [R, D] updated in place. Without a cache the rows are B texts of
   * c.tokens rows each and attend within their text; with one, each row's key and value are first written at
   * (seq, pos) of the cache and attention reads the cache.
   */
  async function encodeBlock(
    batch: ComputeBatch,
    w: DeviceBlock,
    c: RowSet,
    t: Temps,
    rope: Rope | null,
    cache: KvSlot | null,
    correction?: DeviceCorrection,
  ) {
    const rows = c.rows;
    await norm(batch, w.attnNorm, c.x, t.h, rows);
    await linear(batch, w.q, t.h, t.q, rows);
    await linear(batch, w.k, t.h, t.k, rows);
    await linear(batch, w.v, t.h, t.v, rows);
    let [q, k] = [t.q, t.k];
    if (w.qNorm && w.kNorm) {
      await norm(batch, w.qNorm, q, t.qn!, rows * H);
      await norm(batch, w.kNorm, k, t.kn!, rows * KVH);
      [q, k] = [t.qn!, t.kn!];
    }
    if (rope) {
      const base = {
        rows,
        headDim: hd,
        rotaryDim: rope.p.rotaryDim,
        positions: rope.positions,
        interleaved: rope.p.convention === "interleaved",
      };
      await encodeRotary(gpu, batch, { x: q, pos: c.pos, table: rope.table }, { ...base, heads: H });
      await encodeRotary(gpu, batch, { x: k, pos: c.pos, table: rope.table }, { ...base, heads: KVH });
    }
    let kv = { kCache: k, vCache: t.v, capacity: c.tokens };
    if (cache) {
      const shape = { rows, width: KVH * hd, capacity: cache.capacity };
      await encodeKvWrite(gpu, batch, { src: k, seq: c.seq, pos: c.pos, cache: cache.k }, shape);
      await encodeKvWrite(gpu, batch, { src: t.v, seq: c.seq, pos: c.pos, cache: cache.v }, shape);
      kv = { kCache: cache.k, vCache: cache.v, capacity: cache.capacity };
    }
    await encodeAttention(gpu, batch, { q, ...kv, seq: c.seq, keyCount: c.keyCount, out: t.att }, {
      rows,
      heads: H,
      kvHeads: KVH,
      headDim: hd,
      capacity: kv.capacity,
      scale: family.attention.scale,
    });
    await linear(batch, w.o, t.att, t.branch, rows);
    if (family.topology === "sequential") {
      await encodeResidualAdd(gpu, batch, { x: c.x, y: t.branch }, { length: rows * D });
      await norm(batch, w.mlpNorm!, c.x, t.h, rows);
    }
    await linear(batch, w.up, t.h, t.up, rows);
    if (w.gate) {
      await linear(batch, w.gate, t.h, t.gate!, rows);
      await encodeActivation(gpu, batch, { x: t.gate!, up: t.up }, { length: rows * I, kind: "swiglu" });
    } else {
      const kind = family.mlp.activation === "relu" ? "relu" : "gelu_tanh";
      await encodeActivation(gpu, batch, { x: t.up }, { length: rows * I, kind });
    }
    const act = w.gate ? t.gate! : t.up;
    if (!correction) await linear(batch, w.down, act, t.mlp, rows);
    else {
      // y = W·a without its bias, y ← y − (y V) Vᵀ, then the bias: the edited matrix's output (lm/correction.ts).
      await linear(batch, w.down, act, t.mlp, rows, false);
      const { basis, k } = correction;
      await encodeRowsDot(gpu, batch, { a: t.mlp, b: basis, c: t.z }, { m: rows, k: D, kb: k });
      await encodeRankKUpdate(gpu, batch, { c: t.mlp, a: t.z, b: basis }, {
        m: rows,
        n: D,
        ka: k,
        transB: true,
        alpha: -1,
        beta: 1,
      });
      if (w.down.bias) {
        await encodeBiasAdd(gpu, batch, { x: t.mlp, bias: w.down.bias }, { rows, cols: w.down.outF });
      }
    }
    if (family.topology === "parallel") {
      await encodeResidualAdd(gpu, batch, { x: c.x, y: t.branch }, { length: rows * D });
    }
    await encodeResidualAdd(gpu, batch, { x: c.x, y: t.mlp }, { length: rows * D });
  }

  function checkTexts(texts: number[][]): void {
    if (texts.length === 0) {
      throw new InputError("Cannot run the model as there must be at least one text: got none");
    }
    texts.forEach((ids, n) => {
      if (ids.length === 0) {
        throw new InputError(`Cannot run ${model} as every text must have a token: text ${n} has none`);
      }
      checkContext(family, ids.length, model);
      for (const id of ids) {
        if (!(Number.isInteger(id) && id >= 0 && id < V)) {
          throw new InputError(
            `Cannot run ${model} as token ids must be integers in [0, ${V}): text ${n} has ${id}`,
          );
        }
      }
    });
  }

  /**
   * Refuses a run, before any block is read, whose device memory — the activations and tables already allocated
   * plus the largest block (or the final norm and head) in its stored dtype — would pass the budget.
   */
  function checkBudget(activations: number, want: Want): void {
    const budget = options.deviceBudgetBytes;
    if (budget === undefined) return;
    let weights = 0;
    for (let l = 0; l < L; l++) weights = Math.max(weights, blockBytes(family, source, l));
    if (want.logits) weights = Math.max(weights, headBytes(family, source));
    if (weights + activations > budget) {
      throw new CapacityError(
        "device_memory",
        `Cannot run ${model} as one block (${weights} bytes) plus activations (${activations} bytes) must fit the device budget of ${budget} bytes: use fewer or shorter texts`,
      );
    }
  }

  async function norm(batch: ComputeBatch, n: DeviceNorm, x: GPUBuffer, out: GPUBuffer, rows: number) {
    if (n.kind === "rmsnorm") {
      await encodeRmsNorm(gpu, batch, { x, weight: n.weight, out }, { rows, cols: n.size, eps: n.eps });
    } else {
      await encodeLayerNorm(gpu, batch, { x, gamma: n.weight, beta: n.bias!, out }, {
        rows,
        cols: n.size,
        eps: n.eps,
      });
    }
  }

  async function linear(
    batch: ComputeBatch,
    l: DeviceLinear,
    x: GPUBuffer,
    y: GPUBuffer,
    rows: number,
    withBias = true,
  ) {
    await encodeLinear(gpu, batch, { x, w: l.w, y }, {
      m: rows,
      n: l.outF,
      k: l.inF,
      dtype: l.dtype,
      layout: l.layout,
    });
    if (l.bias && withBias) await encodeBiasAdd(gpu, batch, { x: y, bias: l.bias }, { rows, cols: l.outF });
  }

  /** x of every chunk ← token embeddings (+ learned positions), from a compact table of the ids in use. */
  async function embedTokens(texts: number[][], chunks: Chunk[], held: Held): Promise<void> {
    const name = family.embedTokens;
    const dtype = new DeviceWeights(gpu, source, model).check(name, [V, D]) as WeightDtype;
    const rowBytes = D * (dtype === "F32" ? 4 : 2);
    const used = [...new Set(chunks.flatMap((c) => c.texts.flatMap((n) => texts[n])))].sort((a, b) => a - b);
    const index = new Map(used.map((id, i) => [id, i]));
    const table = new Uint8Array(used.length * rowBytes);
    for (let i = 0; i < used.length; i++) {
      table.set(
        await source.bytes(name, { begin: used[i] * rowBytes, end: (used[i] + 1) * rowBytes }),
        i * rowBytes,
      );
    }
    const tableBuffer = held.upload(weightWords(table), "token rows");
    let positions: { buffer: GPUBuffer; dtype: WeightDtype; rows: number } | null = null;
    if (family.positions.kind === "learned") {
      const p = family.positions;
      const pd = new DeviceWeights(gpu, source, model).check(p.tensor, [p.rows, D]) as WeightDtype;
      const bytes = D * (pd === "F32" ? 4 : 2);
      const maxT = Math.max(...chunks.map((c) => c.tokens));
      const rows = await source.bytes(p.tensor, { begin: p.offset * bytes, end: (p.offset + maxT) * bytes });
      positions = { buffer: held.upload(weightWords(rows), "position rows"), dtype: pd, rows: maxT };
    }
    const batch = gpu.batch("embed");
    for (const c of chunks) {
      const ids = new Uint32Array(c.rows);
      c.texts.forEach((n, b) => texts[n].forEach((id, t) => ids[b * c.tokens + t] = index.get(id)!));
      const idBuffer = held.upload(ids, "ids");
      await encodeEmbedRows(gpu, batch, { ids: idBuffer, table: tableBuffer, out: c.x }, {
        rows: c.rows,
        dim: D,
        dtype,
        tableRows: used.length,
        accumulate: false,
      });
      if (positions) {
        await encodeEmbedRows(gpu, batch, { ids: c.pos, table: positions.buffer, out: c.x }, {
          rows: c.rows,
          dim: D,
          dtype: positions.dtype,
          tableRows: positions.rows,
          accumulate: true,
        });
      }
    }
    await batch.submit();
  }

  /** hidden[n] ← text n's rows of the residual stream, for the texts of `chunks`. */
  async function readHidden(texts: number[][], chunks: Chunk[], hidden: Float32Array[]): Promise<void> {
    const values = await gpu.read(chunks.map((c) => ({ buffer: c.x, length: c.rows * D })), "hidden");
    chunks.forEach((c, i) =>
      c.texts.forEach((n, b) =>
        hidden[n] = values[i].slice(b * c.tokens * D, (b * c.tokens + texts[n].length) * D)
      )
    );
  }

  /**
   * Final norm and output head over the selected rows: "last" → logits [N, V] after each text's last token;
   * "all" → log p(next token) at every position but the last, concatenated text by text.
   */
  async function head(
    texts: number[][],
    chunks: Chunk[],
    mode: "last" | "all",
    heldBytes: number,
    h: GPUBuffer,
    out: Float32Array,
  ): Promise<void> {
    const weights = new DeviceWeights(gpu, source, model);
    try {
      const outHead = resident?.head ?? await loadHead(weights);
      peak = Math.max(peak, heldBytes + weights.bytes + (resident?.weights.bytes ?? 0));
      const lastOffsets: number[] = [];
      let offset = 0;
      for (const ids of texts) {
        lastOffsets.push(offset);
        offset += mode === "last" ? 1 : ids.length - 1;
      }
      const groupRows = Math.max(1, Math.floor(Math.min(maxBinding, 256 << 20) / (4 * V)));
      for (const c of chunks) {
        // (chunk row, output index) of every selected row of this chunk.
        const picks: Array<[number, number, number]> = []; // [row in chunk, out index, target]
        c.texts.forEach((n, b) => {
          const T = texts[n].length;
          if (mode === "last") picks.push([b * c.tokens + T - 1, n, 0]);
          else {for (let t = 0; t < T - 1; t++) {
              picks.push([b * c.tokens + t, lastOffsets[n] + t, texts[n][t + 1]]);
            }}
        });
        if (picks.length === 0) continue;
        const batch = gpu.batch("final norm");
        await norm(batch, outHead.norm, c.x, h, c.rows);
        await batch.submit();
        for (let s = 0; s < picks.length; s += groupRows) {
          const group = picks.slice(s, s + groupRows);
          const g = new Held();
          try {
            const rows = g.upload(Uint32Array.from(group, (p) => p[0]), "picked rows");
            const x = g.storage(group.length * D * 4, "picked");
            const batch = gpu.batch("head");
            await encodeEmbedRows(gpu, batch, { ids: rows, table: h, out: x }, {
              rows: group.length,
              dim: D,
              dtype: "F32",
              tableRows: c.rows,
              accumulate: false,
            });
            if (mode === "all" && outHead.slices.length === 1) {
              // The whole vocabulary in one binding: log-softmax on the device, read back one value per row.
              const logits = g.storage(group.length * V * 4, "logits");
              await linear(batch, outHead.slices[0], x, logits, group.length);
              const targets = g.upload(Uint32Array.from(group, (p) => p[2]), "targets");
              const lp = g.storage(group.length * 4, "log-probs");
              await encodeLogProb(gpu, batch, { logits, targets, out: lp }, { rows: group.length, vocab: V });
              await batch.submit();
              const [values] = await gpu.read([{ buffer: lp, length: group.length }], "log-probs");
              group.forEach((p, i) => out[p[1]] = values[i]);
            } else {
              const logits = await headLogits(batch, outHead, x, group.length, g);
              if (mode === "last") {
                group.forEach((p, i) => out.set(logits.subarray(i * V, (i + 1) * V), p[1] * V));
              } else {
                const targets = Uint32Array.from(group, (p) => p[2]);
                logProbCpu(logits, targets, { rows: group.length, vocab: V }).forEach((v, i) =>
                  out[group[i][1]] = v
                );
              }
            }
            peak = Math.max(peak, heldBytes + weights.bytes + (resident?.weights.bytes ?? 0) + g.bytes);
          } finally {
            g.release();
          }
        }
      }
    } finally {
      weights.release();
    }
  }

  /** The final norm and the output head [V, D] (out_in) in row slices that each fit one binding. */
  async function loadHead(weights: DeviceWeights): Promise<DeviceHead> {
    const name = family.head.weight;
    const dtype = weights.check(name, [V, D]) as WeightDtype;
    const rowBytes = D * (dtype === "F32" ? 4 : 2);
    // A slice's logits [rows ≤ 64 per group, slice] must fit one binding too.
    const per = Math.max(
      1,
      Math.min(V, Math.floor(maxBinding / rowBytes), Math.floor(maxBinding / (4 * 64))),
    );
    const bias = family.head.bias
      ? toFloat32(await source.bytes(family.head.bias), weights.check(family.head.bias, [V]))
      : null;
    const slices: DeviceLinear[] = [];
    const starts: number[] = [];
    for (let start = 0; start < V; start += per) {
      const rows = Math.min(per, V - start);
      const bytes = await source.bytes(name, { begin: start * rowBytes, end: (start + rows) * rowBytes });
      slices.push({
        w: weights.upload(weightWords(bytes), `${name}[${start}..]`),
        dtype,
        layout: "out_in",
        inF: D,
        outF: rows,
        bias: bias
          ? weights.upload(bias.slice(start, start + rows), `${family.head.bias}[${start}..]`)
          : null,
      });
      starts.push(start);
    }
    return { norm: await weights.norm(family.finalNorm), slices, starts };
  }

  /** Records the head over x [n, D] (already normed) into per-slice buffers, submits, returns logits [n, V]. */
  async function headLogits(batch: ComputeBatch, head: DeviceHead, x: GPUBuffer, n: number, held: Held) {
    const outs = head.slices.map((slice) => held.storage(n * slice.outF * 4, "logits"));
    for (let i = 0; i < head.slices.length; i++) await linear(batch, head.slices[i], x, outs[i], n);
    await batch.submit();
    const values = await gpu.read(
      outs.map((buffer, i) => ({ buffer, length: n * head.slices[i].outF })),
      "logits",
    );
    const logits = new Float32Array(n * V);
    values.forEach((v, i) => {
      const width = head.slices[i].outF;
      for (let r = 0; r < n; r++) logits.set(v.subarray(r * width, (r + 1) * width), r * V + head.starts[i]);
    });
    return logits;
  }

  /** Device bytes of the whole model as `generateCached` holds it (every block, head, token table). */
  function residentBytes(): number {
    let bytes = headBytes(family, source);
    for (let l = 0; l < L; l++) bytes += blockBytes(family, source, l);
    // The token table is uploaded on its own even when tied to the head (their row slices differ).
    const info = source.info(family.embedTokens);
    return bytes + V * D * (info.dtype === "F32" ? 4 : 2);
  }

  /**
   * Greedy generation with the whole model resident and a KV cache per block: one prefill over the padded
   * prompts (their padding rows write cache positions that real tokens overwrite before they are read), then
   * one batch per new token for every sequence at once (embed → blocks → final norm → head), reading back
   * only the logits of B rows.
   */
  async function generateCached(
    prompts: number[][],
    steps: number,
    eos: number | null,
    onToken: ((sequence: number, token: number) => void) | undefined,
    pick: TokenPick,
  ): Promise<number[][]> {
    const B = prompts.length;
    const Tp = Math.max(...prompts.map((p) => p.length));
    const C = Tp + steps;
    const held = new Held();
    const weights = new DeviceWeights(gpu, source, model);
    try {
      const { blocks, head: outHead, embedding } = resident!;
      const positions = family.positions.kind === "learned"
        ? await positionRows(weights, family.positions, C)
        : null;
      const rope = family.positions.kind === "rotary"
        ? {
          p: family.positions,
          positions: C,
          table: held.upload(rotaryTable(rotaryInvFreq(family.positions), C), "rotary"),
        }
        : null;
      const caches: KvSlot[] = blocks.map(() => ({
        k: held.storage(B * C * KVH * hd * 4, "k cache"),
        v: held.storage(B * C * KVH * hd * 4, "v cache"),
        capacity: C,
      }));
      const t = temps(held, B * Tp);
      const seqs = prompts.map((p) => [...p]);

      const step = async (rows: RowSet, ids: GPUBuffer, picks: Uint32Array) => {
        const g = new Held();
        try {
          const batch = gpu.batch("generate");
          for (const slice of embedding) {
            await encodeEmbedRows(gpu, batch, { ids, table: slice.buffer, out: rows.x }, {
              rows: rows.rows,
              dim: D,
              dtype: slice.dtype,
              start: slice.start,
              tableRows: slice.rows,
              accumulate: false,
            });
          }
          if (positions) {
            await encodeEmbedRows(gpu, batch, { ids: rows.pos, table: positions.buffer, out: rows.x }, {
              rows: rows.rows,
              dim: D,
              dtype: positions.dtype,
              tableRows: positions.rows,
              accumulate: true,
            });
          }
          for (let l = 0; l < L; l++) {
            await encodeBlock(batch, blocks[l], rows, t, rope, caches[l], corrected.get(l));
          }
          await norm(batch, outHead.norm, rows.x, t.h, rows.rows);
          const picked = g.storage(B * D * 4, "picked");
          await encodeEmbedRows(gpu, batch, { ids: g.upload(picks, "picks"), table: t.h, out: picked }, {
            rows: B,
            dim: D,
            dtype: "F32",
            tableRows: rows.rows,
            accumulate: false,
          });
          const logits = await headLogits(batch, outHead, picked, B, g);
          peak = Math.max(peak, held.bytes + weights.bytes + resident!.weights.bytes + g.bytes);
          seqs.forEach((ids, b) => {
            const best = pick(logits, b * V, V);
            ids.push(best);
            onToken?.(b, best);
          });
        } finally {
          g.release();
        }
      };

      // Prefill: B prompts padded to Tp (padding id 0, never attended by a real row).
      const R = B * Tp;
      const pos = Uint32Array.from({ length: R }, (_, r) => r % Tp);
      const prefill: RowSet = {
        rows: R,
        tokens: Tp,
        x: held.storage(R * D * 4, "x"),
        seq: held.upload(Uint32Array.from({ length: R }, (_, r) => Math.floor(r / Tp)), "seq"),
        pos: held.upload(pos, "pos"),
        keyCount: held.upload(pos.map((p) => p + 1), "keyCount"),
      };
      const ids = held.upload(
        Uint32Array.from({ length: R }, (_, r) => prompts[Math.floor(r / Tp)][r % Tp] ?? 0),
        "ids",
      );
      await step(prefill, ids, Uint32Array.from(prompts, (p, b) => b * Tp + p.length - 1));

      const decode: RowSet = {
        rows: B,
        tokens: 1,
        x: held.storage(B * D * 4, "x"),
        seq: held.upload(Uint32Array.from({ length: B }, (_, b) => b), "seq"),
        pos: held.storage(B * 4, "pos"),
        keyCount: held.storage(B * 4, "keyCount"),
      };
      const lastIds = held.storage(B * 4, "ids");
      for (let s = 1; s < steps && !finished(seqs, prompts, eos); s++) {
        const at = Uint32Array.from(prompts, (p) => p.length + s - 1);
        gpu.write(decode.pos, at);
        gpu.write(decode.keyCount, at.map((p) => p + 1));
        gpu.write(lastIds, Uint32Array.from(seqs, (ids) => ids[ids.length - 1]));
        await step(decode, lastIds, Uint32Array.from({ length: B }, (_, b) => b));
      }
      return untilEos(seqs, prompts, eos);
    } finally {
      weights.release();
      held.release();
    }
  }

  /** A [rows, D] table in its dtype in row slices that each fit one binding. */
  async function tableSlices(weights: DeviceWeights, name: string, rows: number) {
    const dtype = weights.check(name, [rows, D]) as WeightDtype;
    const rowBytes = D * (dtype === "F32" ? 4 : 2);
    const per = Math.max(1, Math.min(rows, Math.floor(maxBinding / rowBytes)));
    const slices: TableSlice[] = [];
    for (let start = 0; start < rows; start += per) {
      const n = Math.min(per, rows - start);
      const bytes = await source.bytes(name, { begin: start * rowBytes, end: (start + n) * rowBytes });
      slices.push({
        buffer: weights.upload(weightWords(bytes), `${name}[${start}..]`),
        dtype,
        start,
        rows: n,
      });
    }
    return slices;
  }

  /** Rows offset .. offset + count of a learned position table, so row t is position t. */
  async function positionRows(
    weights: DeviceWeights,
    p: Extract<LmFamily["positions"], { kind: "learned" }>,
    count: number,
  ) {
    const dtype = weights.check(p.tensor, [p.rows, D]) as WeightDtype;
    const rowBytes = D * (dtype === "F32" ? 4 : 2);
    const bytes = await source.bytes(p.tensor, {
      begin: p.offset * rowBytes,
      end: (p.offset + count) * rowBytes,
    });
    return { buffer: weights.upload(weightWords(bytes), "position rows"), dtype, rows: count };
  }

  async function loadResident(): Promise<boolean> {
    if (resident) return true;
    const budget = options.deviceBudgetBytes;
    if (budget !== undefined && residentBytes() > budget) return false;
    const weights = new DeviceWeights(gpu, source, model);
    try {
      const blocks: DeviceBlock[] = [];
      for (let l = 0; l < L; l++) blocks.push(await weights.block(family, l));
      const head = await loadHead(weights);
      const embedding = await tableSlices(weights, family.embedTokens, V);
      resident = { weights, blocks, head, embedding };
      peak = Math.max(peak, weights.bytes);
      return true;
    } catch (error) {
      weights.release();
      throw error;
    }
  }

  const engine: WebGpuLm = {
    family,
    device: gpu.adapter.description,
    get peakDeviceBytes() {
      return peak;
    },
    async embed(texts, o = {}) {
      const layers = o.layers ?? Array.from({ length: L }, (_, l) => l);
      for (const l of layers) {
        if (!(Number.isInteger(l) && l >= 0 && l < L)) {
          throw new InputError(
            `Cannot embed as each layer must be an integer in [0, ${L}): current value is ${l}`,
          );
        }
      }
      const r = await run(texts, {
        pool: layers,
        hidden: o.hidden ?? false,
        logits: null,
        onProgress: o.onProgress,
        signal: o.signal,
      });
      return {
        pooled: r.pooled,
        hidden: o.hidden ? r.hidden : undefined,
      };
    },
    async lastLogits(texts) {
      return (await run(texts, { pool: [], hidden: false, logits: "last" })).logits!;
    },
    async logProbs(texts) {
      const all = (await run(texts, { pool: [], hidden: false, logits: "all" })).logits!;
      let offset = 0;
      return texts.map((ids) => all.slice(offset, offset += ids.length - 1));
    },
    async generate(prompts, steps, eos = null, onToken, pick = greedyPick) {
      checkTexts(prompts);
      if (!(Number.isInteger(steps) && steps >= 0)) {
        throw new RangeError(
          `Cannot generate as 'steps' must be a non-negative integer: current value is ${steps}`,
        );
      }
      if (steps === 0) return prompts.map(() => []);
      for (const p of prompts) checkContext(family, p.length + steps, model);
      const B = prompts.length;
      const Tp = Math.max(...prompts.map((p) => p.length));
      const cache = 2 * L * B * (Tp + steps) * KVH * hd * 4;
      const activations = 4 * B * Tp * (4 * D + 3 * H * hd + 2 * KVH * hd + 2 * I);
      const budget = options.deviceBudgetBytes;
      if (resident || budget === undefined || residentBytes() + cache + activations <= budget) {
        await engine.loadResident();
        return generateCached(prompts, steps, eos, onToken, pick);
      }
      // The model does not fit: stream the blocks, re-running the prompts and the tokens so far at each step.
      const seqs = prompts.map((p) => [...p]);
      for (let s = 0; s < steps && !finished(seqs, prompts, eos); s++) {
        const logits = await engine.lastLogits(seqs);
        seqs.forEach((ids, n) => {
          const best = pick(logits, n * V, V);
          ids.push(best);
          onToken?.(n, best);
        });
      }
      return untilEos(seqs, prompts, eos);
    },
    loadResident,
    setCorrection(correction) {
      const next = correctionByLayer(correction, family);
      for (const c of corrected.values()) gpu.release(c.basis);
      corrected = new Map(
        [...next].map(([l, b]) => [l, { basis: gpu.upload(b.data, `correction ${l}`), k: b.cols }]),
      );
      correctionRank = Math.max(1, ...[...next.values()].map((b) => b.cols));
    },
    dispose() {
      for (const c of corrected.values()) gpu.release(c.basis);
      corrected.clear();
      for (const buffers of prefixes.values()) gpu.release(...buffers);
      prefixes.clear();
      resident?.weights.release();
      resident = null;
      if (owned) gpu.dispose();
    },
  };
  return engine;
}

/** Most bytes of residual streams kept on the device for corrected runs to resume from. */
const PREFIX_BYTES = 256 << 20;

/** Every sequence has produced `eos` after its prompt (never, without one). */
function finished(seqs: number[][], prompts: number[][], eos: number | null): boolean {
  return eos !== null && seqs.every((ids, n) => ids.indexOf(eos, prompts[n].length) >= 0);
}

/** The new tokens of each sequence, cut before its first `eos`. */
function untilEos(seqs: number[][], prompts: number[][], eos: number | null): number[][] {
  return seqs.map((ids, n) => {
    const fresh = ids.slice(prompts[n].length);
    const stop = eos === null ? -1 : fresh.indexOf(eos);
    return stop < 0 ? fresh : fresh.slice(0, stop);
  });
}
