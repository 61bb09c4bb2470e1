/**
 * `embedTexts`: the edit pipeline's step 1 for every family — texts → the model's tokens (with its special
 * tokens) → per block the masked mean of the residual stream after it (before the final norm), one [N, D] array
 * per block. Runs the layer-major LM engine on the CPU (memory: one block's weights plus the texts' activations);
 * GPT-2 with `backend: "webgpu"` keeps its WGSL forward pass (gpu-worker/lm/gpt2/) until the GPU LM engine replaces it.
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
  if (options.backend === "webgpu" && family.family === "gpt2") {
    const gpt2 = await import("./gpt2/embed.ts");
    return await gpt2.embedTexts(model, texts, options);
  }
  const tokenizer = await loadTokenizer(model.dir);
  const sequences = encodeTexts(tokenizer, family, texts, Math.min(options.maxTokens, family.maxPositions));
  return await embedSequences(model, family, sequences, {
    gemm: openGemm(),
    onProgress: options.onProgress,
    signal: options.signal,
  });
}
