/**
 * The checks' view of any family on WebGPU — the surface of lm/runner.ts (`LmRunner`) over the WebGPU LM
 * engine: pooled embeddings (layer-major, streamed), next-token logits, per-token log-probabilities and greedy
 * generation. Logits, log-probs and generation keep the whole model resident on the device (weights in their
 * stored dtype) when it fits the device budget, with a KV cache for generation; otherwise each call streams the
 * blocks (generation then costs a full prefill and a read of every weight per new token).
 */
import type { Gpu } from "../../runtime/mod.ts";
import type { LmFamily } from "../family.ts";
import {
  DEFAULT_MAX_TOKENS,
  generateWith,
  inBatches,
  type LmRunner,
  type TextLogProbs,
  type TextTokenizer,
} from "../runner.ts";
import { encodeTexts } from "../tokens.ts";
import { createWebGpuLm } from "./engine.ts";
import type { WeightSource } from "./weights.ts";

export type LmWebGpuRunner = LmRunner & { readonly backend: "webgpu" };

export async function createLmWebGpuRunner(
  source: WeightSource,
  family: LmFamily,
  tokenizer: TextTokenizer,
  options: { gpu?: Gpu; deviceBudgetBytes?: number; model?: string } = {},
): Promise<LmWebGpuRunner> {
  const engine = await createWebGpuLm(family, source, options);
  const V = family.vocabSize;
  const tokens = (texts: string[], maxTokens = DEFAULT_MAX_TOKENS) =>
    encodeTexts(tokenizer, family, texts, Math.min(maxTokens, family.maxPositions));

  return {
    config: family,
    backend: "webgpu",
    device: engine.device,
    async embed(texts, o = {}) {
      const { pooled } = await engine.embed(tokens(texts, o.maxTokens), {
        onProgress: o.onProgress,
        signal: o.signal,
      });
      return pooled;
    },
    async logits(texts, o = {}) {
      await engine.loadResident();
      const ids = tokens(texts, o.maxTokens);
      const out = new Float32Array(texts.length * V);
      await inBatches(texts.length, o, async (indices) => {
        out.set(await engine.lastLogits(indices.map((i) => ids[i])), indices[0] * V);
      });
      return out;
    },
    async logProbs(texts, o = {}) {
      await engine.loadResident();
      const ids = tokens(texts, o.maxTokens);
      const out: TextLogProbs[] = [];
      await inBatches(texts.length, o, async (indices) => {
        for (const tokenLogProbs of await engine.logProbs(indices.map((i) => ids[i]))) {
          out.push({
            tokenLogProbs,
            sum: tokenLogProbs.reduce((a, b) => a + b, 0),
            count: tokenLogProbs.length,
          });
        }
      });
      return out;
    },
    async generate(prompts, o) {
      return await generateWith(tokenizer, family, prompts, o, engine.generate);
    },
    setCorrection(correction) {
      engine.setCorrection(correction);
    },
    dispose() {
      engine.dispose();
    },
  };
}
