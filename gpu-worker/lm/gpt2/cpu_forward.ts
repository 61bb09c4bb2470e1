/**
 * GPT-2's forward pass on the CPU, in the order gpu_forward.ts composes the kernels: every dense product (QKV,
 * attention output, MLP in and out, the unembedding, and attention's scores and weighted values per head) goes
 * through a `Gemm` — OpenBLAS, multi-threaded, when the system has it (gpu-worker/blas/gemm.ts), else the
 * TypeScript twin — and the rest are the twins of cpu_ops.ts. Holds the whole model in memory as float32 (the
 * GPU path streams blocks).
 */
import { type Gemm, openGemm } from "../../blas/gemm.ts";
import { attentionBlasForward, linearForward, unembedBlasForward } from "./cpu_blas_ops.ts";
import type { Gpt2Config } from "./config.ts";
import type { Gpt2Engine, KvCache, StepRequest, StepResult } from "./engine.ts";
import type { StepRows } from "./rows.ts";
import type { Gpt2Weights } from "./weights.ts";
import {
  embeddingForward,
  kvWriteForward,
  layerNormForward,
  logProbForward,
  meanPoolForward,
} from "./cpu_ops.ts";

interface CpuKvCache extends KvCache {
  k: Float32Array[]; // L entries, each [S, C, D]
  v: Float32Array[]; // L entries, each [S, C, D]
}

/** Rows of logits computed at once for `logProbs`: [64, V] is 13 MB for GPT-2's vocabulary. */
const LOGPROB_CHUNK = 64;

export function createCpuEngine(
  config: Gpt2Config,
  weights: Gpt2Weights,
  gemm: Gemm = openGemm(),
): Gpt2Engine {
  const { numLayers: L, hiddenSize: D, numHeads: H, innerSize: I, vocabSize: V, layerNormEps: eps } = config;

  function createCache(slots: number, capacity: number): CpuKvCache {
    const size = slots * capacity * D;
    return {
      slots,
      capacity,
      k: Array.from({ length: L }, () => new Float32Array(size)),
      v: Array.from({ length: L }, () => new Float32Array(size)),
      dispose() {},
    };
  }

  // deno-lint-ignore require-await
  async function step(rows: StepRows, kv: KvCache, request: StepRequest): Promise<StepResult> {
    const cache = kv as CpuKvCache;
    const R = rows.ids.length;
    const x = new Float32Array(R * D); // residual stream
    const ln = new Float32Array(R * D);
    const qkv = new Float32Array(R * 3 * D);
    const att = new Float32Array(R * D);
    const fc = new Float32Array(R * I);
    const result: StepResult = {};
    if (request.pool) result.pooled = [];

    embeddingForward(x, rows.ids, rows.pos, weights.wte, weights.wpe, { rows: R, dim: D });
    for (let l = 0; l < L; l++) {
      const w = weights.blocks[l];
      layerNormForward(ln, x, w.ln1Gamma, w.ln1Beta, { rows: R, cols: D }, eps);
      linearForward(gemm, qkv, ln, w.attnW, w.attnB, { m: R, k: D, n: 3 * D }, "store");
      kvWriteForward(cache.k[l], cache.v[l], qkv, rows.seq, rows.pos, {
        rows: R,
        dim: D,
        capacity: cache.capacity,
      });
      attentionBlasForward(gemm, att, qkv, cache.k[l], cache.v[l], rows.seq, rows.keyCount, {
        rows: R,
        dim: D,
        heads: H,
        capacity: cache.capacity,
      });
      linearForward(gemm, x, att, w.attnProjW, w.attnProjB, { m: R, k: D, n: D }, "accumulate");
      layerNormForward(ln, x, w.ln2Gamma, w.ln2Beta, { rows: R, cols: D }, eps);
      linearForward(gemm, fc, ln, w.fcW, w.fcB, { m: R, k: D, n: I }, "gelu");
      linearForward(gemm, x, fc, w.projW, w.projB, { m: R, k: I, n: D }, "accumulate");
      if (request.pool) {
        const { numSeqs, tokens, lengths } = request.pool;
        const pooled = new Float32Array(numSeqs * D);
        meanPoolForward(pooled, x, lengths, { seqs: numSeqs, tokens, dim: D });
        result.pooled!.push(pooled);
      }
    }
    if (request.logitRows || request.logProbs) {
      layerNormForward(ln, x, weights.lnFGamma, weights.lnFBeta, { rows: R, cols: D }, eps);
    }
    if (request.logitRows) {
      const n = request.logitRows.length;
      result.logits = new Float32Array(n * V);
      unembedBlasForward(gemm, result.logits, ln, request.logitRows, weights.wte, {
        rows: n,
        dim: D,
        vocab: V,
      });
    }
    if (request.logProbs) {
      // LOGPROB_CHUNK rows of logits at a time: B·T rows × V would not fit memory for real vocabularies.
      const { rows: selected, targets } = request.logProbs;
      const logits = new Float32Array(Math.min(LOGPROB_CHUNK, selected.length) * V);
      result.logProbs = new Float32Array(selected.length);
      for (let start = 0; start < selected.length; start += LOGPROB_CHUNK) {
        const end = Math.min(start + LOGPROB_CHUNK, selected.length);
        const n = end - start;
        unembedBlasForward(gemm, logits, ln, selected.subarray(start, end), weights.wte, {
          rows: n,
          dim: D,
          vocab: V,
        });
        logProbForward(result.logProbs.subarray(start, end), logits, targets.subarray(start, end), {
          rows: n,
          vocab: V,
        });
      }
    }
    return result;
  }

  return {
    backend: "cpu",
    config,
    device: `cpu, ${gemm.name}`,
    maxRows: Infinity,
    createCache,
    step,
    dispose() {},
  };
}
