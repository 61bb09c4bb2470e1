/**
 * GPT-2's forward pass on the CPU: the twins of cpu_ops.ts composed in the same order as gpu_forward.ts composes
 * the kernels. Holds the whole model in memory as float32 (the fallback path; the GPU path streams blocks).
 */
import type { Gpt2Config } from "./config.ts";
import type { Gpt2Engine, KvCache, StepRequest, StepResult } from "./engine.ts";
import type { StepRows } from "./rows.ts";
import type { Gpt2Weights } from "./weights.ts";
import {
  attentionForward,
  embeddingForward,
  kvWriteForward,
  layerNormForward,
  logProbForward,
  matmulForward,
  meanPoolForward,
  residualForward,
  unembedForward,
} from "./cpu_ops.ts";

interface CpuKvCache extends KvCache {
  k: Float32Array[]; // L entries, each [S, C, D]
  v: Float32Array[]; // L entries, each [S, C, D]
}

export function createCpuEngine(config: Gpt2Config, weights: Gpt2Weights): Gpt2Engine {
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
    const branch = new Float32Array(R * D);
    const fc = new Float32Array(R * I);
    const result: StepResult = {};
    if (request.pool) result.pooled = [];

    embeddingForward(x, rows.ids, rows.pos, weights.wte, weights.wpe, { rows: R, dim: D });
    for (let l = 0; l < L; l++) {
      const w = weights.blocks[l];
      layerNormForward(ln, x, w.ln1Gamma, w.ln1Beta, { rows: R, cols: D }, eps);
      matmulForward(qkv, ln, w.attnW, w.attnB, { m: R, k: D, n: 3 * D }, false);
      kvWriteForward(cache.k[l], cache.v[l], qkv, rows.seq, rows.pos, {
        rows: R,
        dim: D,
        capacity: cache.capacity,
      });
      attentionForward(att, qkv, cache.k[l], cache.v[l], rows.seq, rows.keyCount, {
        rows: R,
        dim: D,
        heads: H,
        capacity: cache.capacity,
      });
      matmulForward(branch, att, w.attnProjW, w.attnProjB, { m: R, k: D, n: D }, false);
      residualForward(x, branch, R * D);
      layerNormForward(ln, x, w.ln2Gamma, w.ln2Beta, { rows: R, cols: D }, eps);
      matmulForward(fc, ln, w.fcW, w.fcB, { m: R, k: D, n: I }, true);
      matmulForward(branch, fc, w.projW, w.projB, { m: R, k: I, n: D }, false);
      residualForward(x, branch, R * D);
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
      unembedForward(result.logits, ln, request.logitRows, weights.wte, { rows: n, dim: D, vocab: V });
    }
    if (request.logProbs) {
      // One row of logits at a time: B·T rows × V would not fit memory for real vocabularies.
      const { rows: selected, targets } = request.logProbs;
      const logits = new Float32Array(V);
      result.logProbs = new Float32Array(selected.length);
      selected.forEach((_, i) => {
        unembedForward(logits, ln, selected.subarray(i, i + 1), weights.wte, { rows: 1, dim: D, vocab: V });
        logProbForward(result.logProbs!.subarray(i, i + 1), logits, targets.subarray(i, i + 1), {
          rows: 1,
          vocab: V,
        });
      });
    }
    return result;
  }

  return { backend: "cpu", config, device: "cpu", maxRows: Infinity, createCache, step, dispose() {} };
}
