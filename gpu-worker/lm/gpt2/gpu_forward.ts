/**
 * GPT-2's forward pass on WebGPU: the kernels of kernels.ts composed in the same order as cpu_forward.ts composes
 * their twins. Weights are streamed to the device one tensor at a time (host memory holds at most one tensor, or
 * one slice of the token embedding when the folder can read rows), and the token embedding is split into slices
 * that each fit one storage binding. A step records every dispatch into one batch and submits once; logits are
 * computed in row groups small enough for one binding.
 */
import { InputError } from "../../../shared/errors.ts";
import { acquireGpu, type Gpu } from "../../runtime/mod.ts";
import type { Gpt2Config } from "./config.ts";
import type { Gpt2Engine, KvCache, StepRequest, StepResult } from "./engine.ts";
import {
  encodeAttention,
  encodeEmbedding,
  encodeKvWrite,
  encodeLayerNorm,
  encodeLogProb,
  encodeMatmul,
  encodeMeanPool,
  encodeResidual,
  encodeUnembed,
  type Gpt2Kernels,
  loadGpt2Kernels,
  type WteSlice,
} from "./kernels.ts";
import type { StepRows } from "./rows.ts";
import { type Gpt2Block, type Gpt2Source, loadGpt2Block, readShaped } from "./weights.ts";

type DeviceBlock = { [K in keyof Gpt2Block]: GPUBuffer };

interface GpuKvCache extends KvCache {
  k: GPUBuffer[]; // L entries, each [S, C, D]
  v: GPUBuffer[];
}

export interface GpuEngineOptions {
  /** Use this device (tests share one); the engine then leaves it open on dispose. */
  gpu?: Gpu;
  /** Rows per token-embedding slice (default: as many as one storage binding holds); tests force splits. */
  wteSliceRows?: number;
  /** Rows of logits per unembedding group (default: as many as one storage binding holds); tests force groups. */
  logitGroupRows?: number;
}

/** A folder that can read a row range of a tensor (shared/model/folder.ts) streams the embedding slices. */
type RowSource = Gpt2Source & {
  readRows?(name: string, start: number, count: number): Promise<Float32Array>;
};

export async function createGpuEngine(
  config: Gpt2Config,
  source: RowSource,
  options: GpuEngineOptions = {},
): Promise<Gpt2Engine> {
  const acquired = options.gpu ?? await acquireGpu();
  if (!acquired) {
    throw new InputError(
      "Cannot use '--backend webgpu' as no WebGPU adapter was found (install mesa-vulkan-drivers for a software one)",
    );
  }
  const gpu: Gpu = acquired;
  const owned = !options.gpu;
  const held: GPUBuffer[] = [];
  const upload = (data: Float32Array, label: string) => {
    const buffer = gpu.upload(data, label);
    held.push(buffer);
    return buffer;
  };
  try {
    return await build();
  } catch (error) {
    gpu.release(...held);
    if (owned) gpu.dispose();
    throw error;
  }

  async function build(): Promise<Gpt2Engine> {
    const { numLayers: L, hiddenSize: D, numHeads: H, innerSize: I, vocabSize: V, layerNormEps: eps } =
      config;
    const kernels: Gpt2Kernels = await loadGpt2Kernels(gpu);
    const maxBinding = Math.min(
      gpu.adapter.limits.maxStorageBufferBindingSize,
      gpu.adapter.limits.maxBufferSize,
    );
    const sliceRows = Math.min(options.wteSliceRows ?? Infinity, Math.floor(maxBinding / (D * 4)), V);

    const wte: WteSlice[] = [];
    const fullWte = source.readRows ? null : await readShaped(source, "wte.weight", [V, D]);
    for (let start = 0; start < V; start += sliceRows) {
      const rows = Math.min(sliceRows, V - start);
      const data = fullWte
        ? fullWte.subarray(start * D, (start + rows) * D)
        : await source.readRows!("wte.weight", start, rows);
      if (data.length !== rows * D) {
        throw new InputError(
          `Cannot load GPT-2 tensor 'wte.weight' as rows ${start}..${start + rows} must hold ${
            rows * D
          } values: have ${data.length}`,
        );
      }
      wte.push({ buffer: upload(data, `wte[${start}..]`), start, rows });
    }
    const wpe = upload(await readShaped(source, "wpe.weight", [config.maxPositions, D]), "wpe");
    const lnFGamma = upload(await readShaped(source, "ln_f.weight", [D]), "ln_f.weight");
    const lnFBeta = upload(await readShaped(source, "ln_f.bias", [D]), "ln_f.bias");
    const blocks: DeviceBlock[] = [];
    for (let l = 0; l < L; l++) {
      const host = await loadGpt2Block(source, config, l);
      const device = {} as DeviceBlock;
      for (const key of Object.keys(host) as (keyof Gpt2Block)[]) {
        device[key] = upload(host[key], `h.${l}.${key}`);
      }
      blocks.push(device);
    }

    function createCache(slots: number, capacity: number): GpuKvCache {
      const bytes = slots * capacity * D * 4;
      const k = Array.from({ length: L }, (_, l) => gpu.storage(bytes, `k cache ${l}`));
      const v = Array.from({ length: L }, (_, l) => gpu.storage(bytes, `v cache ${l}`));
      return { slots, capacity, k, v, dispose: () => gpu.release(...k, ...v) };
    }

    async function step(rows: StepRows, kv: KvCache, request: StepRequest): Promise<StepResult> {
      const cache = kv as GpuKvCache;
      const g = gpu;
      const R = rows.ids.length;
      const temps: GPUBuffer[] = [];
      const temp = (bytes: number, label: string) => {
        const buffer = g.storage(bytes, label);
        temps.push(buffer);
        return buffer;
      };
      const tempUpload = (data: Int32Array | Uint32Array, label: string) => {
        const buffer = g.upload(data, label);
        temps.push(buffer);
        return buffer;
      };
      try {
        const ids = tempUpload(rows.ids, "ids");
        const seq = tempUpload(rows.seq, "seq");
        const pos = tempUpload(rows.pos, "pos");
        const keyCount = tempUpload(rows.keyCount, "keyCount");
        const x = temp(R * D * 4, "x"); // residual stream [R, D]
        const ln = temp(R * D * 4, "ln");
        const qkv = temp(R * 3 * D * 4, "qkv");
        const att = temp(R * D * 4, "att");
        const branch = temp(R * D * 4, "branch");
        const fc = temp(R * I * 4, "fc");
        const pool = request.pool;
        const pooled = pool ? temp(L * pool.numSeqs * D * 4, "pooled") : null;
        const lengths = pool ? tempUpload(pool.lengths, "lengths") : null;
        const shape = { rows: R, dim: D, capacity: cache.capacity };

        const batch = g.batch("gpt2 step");
        encodeEmbedding(kernels, batch, x, ids, pos, wte, wpe, { rows: R, dim: D });
        for (let l = 0; l < L; l++) {
          const w = blocks[l];
          encodeLayerNorm(kernels, batch, ln, x, w.ln1Gamma, w.ln1Beta, { rows: R, cols: D }, eps);
          encodeMatmul(kernels, batch, qkv, ln, w.attnW, w.attnB, { m: R, k: D, n: 3 * D }, false);
          encodeKvWrite(kernels, batch, cache.k[l], cache.v[l], qkv, seq, pos, shape);
          encodeAttention(kernels, batch, att, qkv, cache.k[l], cache.v[l], seq, keyCount, {
            ...shape,
            heads: H,
          });
          encodeMatmul(kernels, batch, branch, att, w.attnProjW, w.attnProjB, { m: R, k: D, n: D }, false);
          encodeResidual(kernels, batch, x, branch, R * D);
          encodeLayerNorm(kernels, batch, ln, x, w.ln2Gamma, w.ln2Beta, { rows: R, cols: D }, eps);
          encodeMatmul(kernels, batch, fc, ln, w.fcW, w.fcB, { m: R, k: D, n: I }, true);
          encodeMatmul(kernels, batch, branch, fc, w.projW, w.projB, { m: R, k: I, n: D }, false);
          encodeResidual(kernels, batch, x, branch, R * D);
          if (pool) {
            encodeMeanPool(kernels, batch, pooled!, x, lengths!, {
              seqs: pool.numSeqs,
              tokens: pool.tokens,
              dim: D,
              layer: l,
            });
          }
        }
        const wantsLogits = request.logitRows !== undefined || request.logProbs !== undefined;
        if (wantsLogits) encodeLayerNorm(kernels, batch, ln, x, lnFGamma, lnFBeta, { rows: R, cols: D }, eps);
        await batch.submit();

        const result: StepResult = {};
        if (pool) {
          const [all] = await g.read([{ buffer: pooled!, length: L * pool.numSeqs * D }], "gpt2 pooled");
          const size = pool.numSeqs * D;
          result.pooled = Array.from({ length: L }, (_, l) => all.slice(l * size, (l + 1) * size));
        }
        if (request.logitRows) result.logits = await unembedRows(ln, request.logitRows, null);
        if (request.logProbs) {
          result.logProbs = await unembedRows(ln, request.logProbs.rows, request.logProbs.targets);
        }
        return result;
      } finally {
        g.release(...temps);
      }
    }

    /** Logits [N, V] of the selected rows, or, with targets, their log-probabilities [N], in binding-sized groups. */
    async function unembedRows(
      xf: GPUBuffer, // [R, D] final-LayerNorm output
      selected: Uint32Array, // [N]
      targets: Int32Array | null, // [N]
    ): Promise<Float32Array> {
      const g = gpu;
      const n = selected.length;
      const out = new Float32Array(targets ? n : n * V);
      const groupRows = Math.max(
        1,
        Math.min(Math.floor(maxBinding / (V * 4)), options.logitGroupRows ?? 4096),
      );
      for (let start = 0; start < n; start += groupRows) {
        const count = Math.min(groupRows, n - start);
        const temps: GPUBuffer[] = [];
        try {
          const rowIndex = g.upload(selected.subarray(start, start + count), "rowIndex");
          temps.push(rowIndex);
          const logits = g.storage(count * V * 4, "logits");
          temps.push(logits);
          const batch = g.batch("gpt2 unembed");
          encodeUnembed(kernels, batch, logits, xf, rowIndex, wte, { rows: count, dim: D, vocab: V });
          if (targets) {
            const target = g.upload(targets.subarray(start, start + count), "targets");
            const logProbs = g.storage(count * 4, "logProbs");
            temps.push(target, logProbs);
            encodeLogProb(kernels, batch, logProbs, logits, target, { rows: count, vocab: V });
            await batch.submit();
            const [values] = await g.read([{ buffer: logProbs, length: count }], "gpt2 log-probs");
            out.set(values, start);
          } else {
            await batch.submit();
            const [values] = await g.read([{ buffer: logits, length: count * V }], "gpt2 logits");
            out.set(values, start * V);
          }
        } finally {
          g.release(...temps);
        }
      }
      return out;
    }

    return {
      backend: "webgpu",
      config,
      device: gpu.adapter.description,
      // The widest activation is [R, max(3D, I)]; per-row kernels dispatch one workgroup per row.
      maxRows: Math.min(Math.floor(maxBinding / (4 * Math.max(3 * D, I))), 65535),
      createCache,
      step,
      dispose() {
        gpu.release(...held);
        if (owned) gpu.dispose();
      },
    };
  }
}
