/**
 * `embedTexts`: the edit pipeline's step 1 for every family — texts → the model's tokens (with its special
 * tokens) → per block the masked mean of the residual stream after it (before the final norm), one [N, D] array
 * per block. Runs the layer-major LM engine (memory: one block's weights plus the texts' activations) on the CPU
 * (lm/cpu/) or, with `backend: "webgpu"`, on the device with the weights in their stored dtype (lm/webgpu/).
 */
import type { ModelFolder } from "../../shared/model/folder.ts";
import { loadTokenizer } from "../../shared/model/tokenizer.ts";
import { embedSequences } from "./cpu/forward.ts";
import { openGemm } from "../blas/gemm.ts";
import { lmFamilyFrom } from "./family.ts";
import { encodeTexts } from "./tokens.ts";

export interface EmbedOptions {
  /** Tokens kept from the start of each text, special tokens included (capped at the model's positions). */
  maxTokens: number;
  backend: "cpu" | "webgpu";
  /** Called as the work advances with texts embedded so far (blocks × texts / L) and the total. */
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/** L arrays [N, D] row-major: embedding of text n after block l is out[l][n·D .. (n+1)·D]. */
export async function embedTexts(
  model: ModelFolder,
  texts: string[],
  options: EmbedOptions,
): Promise<Float32Array[]> {
  const family = lmFamilyFrom(model.config, `model '${model.dir}'`); // refuses unsupported configs before any work
  options.signal?.throwIfAborted();
  const tokenizer = await loadTokenizer(model.dir);
  const sequences = encodeTexts(tokenizer, family, texts, Math.min(options.maxTokens, family.maxPositions));
  if (options.backend === "webgpu") {
    const { createWebGpuLm } = await import("./webgpu/engine.ts");
    const { folderSource } = await import("./webgpu/weights.ts");
    const engine = await createWebGpuLm(family, folderSource(model), { model: `model '${model.dir}'` });
    try {
      const { pooled } = await engine.embed(sequences, {
        onProgress: options.onProgress,
        signal: options.signal,
      });
      return pooled;
    } finally {
      engine.dispose();
    }
  }
  return await embedSequences(model, family, sequences, {
    gemm: openGemm(),
    onProgress: options.onProgress,
    signal: options.signal,
  });
}
