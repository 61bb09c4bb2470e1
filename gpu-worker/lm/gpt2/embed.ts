/**
 * `embedTexts`: the edit pipeline's step 1 (DESIGN.md §1) — texts → GPT-2's tokenizer → batches → for every
 * block the masked mean of the residual stream after it (before the final LayerNorm), one [N, D] array per block.
 */
import { InputError } from "../../../shared/errors.ts";
import type { ModelFolder } from "../../../shared/model/folder.ts";
import { loadTokenizer } from "../../../shared/model/tokenizer.ts";
import { createGpt2Runner } from "./runner.ts";

export interface EmbedOptions {
  /** Tokens kept from the start of each text. */
  maxTokens: number;
  backend: "cpu" | "webgpu";
  /** Texts per forward pass (default 8). */
  batchSize?: number;
  /** Called after each batch with texts embedded so far and the total. */
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/** L arrays [N, D] row-major: embedding of text n after block l is out[l][n·D .. (n+1)·D]. */
export async function embedTexts(
  model: ModelFolder,
  texts: string[],
  options: EmbedOptions,
): Promise<Float32Array[]> {
  if (model.architecture.family !== "gpt2") {
    throw new InputError(
      `Cannot embed texts with '${model.dir}' as the model family must be gpt2 (the only forward pass profs runs): current value is ${model.architecture.family}`,
    );
  }
  options.signal?.throwIfAborted();
  const tokenizer = await loadTokenizer(model.dir);
  const runner = await createGpt2Runner(model, { backend: options.backend, tokenizer });
  try {
    return await runner.embed(texts, options);
  } finally {
    runner.dispose();
  }
}
