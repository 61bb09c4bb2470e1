/**
 * The checks' view of any family on the CPU: pooled embeddings (layer-major), next-token logits, per-token
 * log-probabilities and greedy generation with a KV cache, over texts tokenized with the family's special tokens.
 * `LmRunner` is the surface gpu-worker/eval runs its checks on; webgpu/runner.ts gives the same over the WebGPU
 * engine.
 *
 * Generation, logits and log-probabilities keep the whole model resident as float32 when it fits half the
 * machine's memory, and otherwise stream it from the folder once per forward step (loadLmCpuModel).
 */
import { greedyPick, type SamplingOptions, samplingPick, type TokenPick } from "./sampling.ts";
import { type Gemm, openGemm } from "../blas/gemm.ts";
import { InputError } from "../../shared/errors.ts";
import { embedSequences, type LmCpuModel, loadLmCpuModel } from "./cpu/forward.ts";
import type { LmSource } from "./cpu/weights.ts";
import type { LmFamily } from "./family.ts";
import type { ComputeBackend } from "../runtime/backends.ts";
import { encodeTexts } from "./tokens.ts";
import { correctionByLayer, type MlpCorrection } from "./correction.ts";
import { nextTurn } from "../runtime/next_turn.ts";

export const DEFAULT_MAX_TOKENS = 128;
export const DEFAULT_BATCH_SIZE = 8;

/** The part of shared/model/tokenizer.ts's `Tokenizer` a runner uses. */
export interface TextTokenizer {
  /** With `maxTokens`, tokenizes only a bounded prefix (a poison text costs what a short one does). */
  encode(text: string, maxTokens?: number): number[];
  decode(ids: number[]): string;
  eosTokenId: number | null;
}

export interface BatchOptions {
  /** Tokens kept from the start of each text, special tokens included (default 128, capped at the context). */
  maxTokens?: number;
  /** Texts per forward pass (logits, log-probs, generation; embedding packs texts by its own row budget). */
  batchSize?: number;
  /** Called as the work advances with texts done so far and the total. */
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface GenerateOptions {
  maxNewTokens: number;
  /** Stop a sequence at the tokenizer's EOS token (not included in the output). */
  stopAtEos?: boolean;
  /**
   * Hears each new token of each prompt as the engine picks it, in order (a stopping EOS and anything after it
   * are not reported): the tokens reported for a prompt are exactly its `Generation.tokens`.
   */
  onToken?: (prompt: number, token: number) => void;
  /** Sample instead of the greedy pick (lm/sampling.ts: temperature, top-k, top-p, seed). */
  sampling?: SamplingOptions;
  batchSize?: number;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface Generation {
  tokens: number[]; // new tokens only
  text: string; // decoded new tokens
}

export interface TextLogProbs {
  /** log p(token t | tokens < t) for t = 1..n-1 (the first token has no context). */
  tokenLogProbs: Float32Array;
  /** Sum of tokenLogProbs; perplexity = exp(−sum / count). */
  sum: number;
  count: number;
}

/** Any family on either backend, as the checks see it. */
export interface LmRunner {
  readonly config: { numLayers: number; hiddenSize: number; vocabSize: number; maxPositions: number };
  readonly backend: ComputeBackend;
  readonly device: string;
  /** L arrays [N, D]: masked mean of the residual stream after each block (before the final norm). */
  embed(texts: string[], options?: BatchOptions): Promise<Float32Array[]>;
  /** [N, V] next-token logits after each text's last token. */
  logits(texts: string[], options?: BatchOptions): Promise<Float32Array>;
  generate(prompts: string[], options: GenerateOptions): Promise<Generation[]>;
  logProbs(texts: string[], options?: BatchOptions): Promise<TextLogProbs[]>;
  /**
   * Later `logits`, `logProbs` and `generate` calls run with this rank-k MLP correction (lm/correction.ts: the
   * forward pass of the model edited with these bases, without writing it); null runs the model as stored.
   * `embed` always runs the stored model.
   */
  setCorrection(correction: MlpCorrection | null): void;
  dispose(): void;
}

/**
 * Runs `each` over batches of indices (in order), with progress, the signal checked and a macrotask turn between
 * batches (both engines' runners).
 */
export async function inBatches(
  n: number,
  options: { batchSize?: number; onProgress?: (done: number, total: number) => void; signal?: AbortSignal },
  each: (indices: number[]) => Promise<void>,
) {
  const size = options.batchSize ?? DEFAULT_BATCH_SIZE;
  if (!Number.isInteger(size) || size < 1) {
    throw new InputError(
      `Cannot run the model as 'batchSize' must be a positive integer: current value is ${size}`,
    );
  }
  for (let start = 0; start < n; start += size) {
    options.signal?.throwIfAborted();
    const indices = Array.from({ length: Math.min(size, n - start) }, (_, i) => start + i);
    await each(indices);
    options.onProgress?.(start + indices.length, n);
    await nextTurn();
  }
}

/** What an engine's greedy generation is, on either backend (cpu/forward.ts, webgpu/engine.ts). */
export type EngineGenerate = (
  prompts: number[][],
  steps: number,
  eos: number | null,
  onToken?: (row: number, token: number) => void,
  pick?: TokenPick,
) => Promise<number[][]>;

/**
 * `LmRunner.generate` for both engines: each prompt tokenized once (the family's leading special tokens, then
 * the text), batches with progress and the signal, the engine's tokens reported as they come (`onToken`) and
 * decoded once at the end.
 */
export async function generateWith(
  tokenizer: TextTokenizer,
  family: LmFamily,
  prompts: string[],
  options: GenerateOptions,
  engine: EngineGenerate,
): Promise<Generation[]> {
  const { maxNewTokens, stopAtEos = true } = options;
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 0) {
    throw new InputError(
      `Cannot generate as 'maxNewTokens' must be a non-negative integer: current value is ${maxNewTokens}`,
    );
  }
  const eos = tokenizer.eosTokenId;
  // An empty prompt starts from the family's first special token, else (GPT-2 style) from end-of-text.
  const ids = prompts.map((p, i) => {
    const s = [...family.prependTokens, ...tokenizer.encode(p, family.maxPositions + 1)];
    if (s.length > 0) return s;
    if (eos === null) throw new InputError(`Cannot generate from prompt ${i} as it has no tokens`);
    return [eos];
  });
  const stop = stopAtEos ? eos : null;
  // One generator per call: the same seed, prompts and batch size draw the same tokens.
  const pick = options.sampling ? samplingPick(options.sampling) : greedyPick;
  const out: Generation[] = [];
  await inBatches(prompts.length, options, async (indices) => {
    const generated = await engine(
      indices.map((i) => ids[i]),
      maxNewTokens,
      stop,
      tokenReporter(indices, stop, options.onToken),
      pick,
    );
    for (const g of generated) out.push({ tokens: g, text: tokenizer.decode(g) });
  });
  return out;
}

/**
 * The engines' per-token reports as the runner's `onToken` hears them, for both engines: a batch row becomes its
 * prompt's index, and each sequence falls silent at its first `eos` (the engine may keep computing a batch in
 * lock step after one sequence stopped). Undefined when nobody listens.
 */
export function tokenReporter(
  indices: number[],
  eos: number | null,
  onToken?: (prompt: number, token: number) => void,
): ((row: number, token: number) => void) | undefined {
  if (!onToken) return undefined;
  const stopped = new Set<number>();
  return (row, token) => {
    if (stopped.has(row)) return;
    if (eos !== null && token === eos) stopped.add(row);
    else onToken(indices[row], token);
  };
}

// deno-lint-ignore require-await -- async like createLmWebGpuRunner, so callers treat both alike
export async function createLmCpuRunner(
  source: LmSource,
  family: LmFamily,
  tokenizer: TextTokenizer,
  options: { gemm?: Gemm } = {},
): Promise<LmRunner & { backend: "cpu" }> {
  const gemm = options.gemm ?? openGemm();
  let model: LmCpuModel | null = null;
  let correction: MlpCorrection | null = null;
  const resident = async () => {
    if (!model) {
      model = await loadLmCpuModel(source, family, gemm);
      model.setCorrection(correction);
    }
    return model;
  };
  const { vocabSize: V } = family;
  const tokens = (texts: string[], maxTokens = DEFAULT_MAX_TOKENS) =>
    encodeTexts(tokenizer, family, texts, Math.min(maxTokens, family.maxPositions));

  return {
    config: family,
    backend: "cpu",
    device: `cpu (${gemm.name})`,
    async embed(texts, options = {}) {
      return await embedSequences(source, family, tokens(texts, options.maxTokens), {
        gemm,
        onProgress: options.onProgress,
        signal: options.signal,
      });
    },
    async logits(texts, options = {}) {
      const m = await resident();
      const ids = tokens(texts, options.maxTokens);
      const out = new Float32Array(texts.length * V);
      await inBatches(texts.length, options, async (indices) => {
        const logits = await m.lastLogits(indices.map((i) => ids[i]));
        out.set(logits, indices[0] * V);
      });
      return out;
    },
    async logProbs(texts, options = {}) {
      const m = await resident();
      const ids = tokens(texts, options.maxTokens);
      const out: TextLogProbs[] = [];
      await inBatches(texts.length, options, async (indices) => {
        for (const tokenLogProbs of await m.logProbs(indices.map((i) => ids[i]))) {
          out.push({
            tokenLogProbs,
            sum: tokenLogProbs.reduce((a, b) => a + b, 0),
            count: tokenLogProbs.length,
          });
        }
      });
      return out;
    },
    async generate(prompts, options) {
      const m = await resident();
      return await generateWith(tokenizer, family, prompts, options, m.generate);
    },
    setCorrection(next) {
      correctionByLayer(next, family); // checked now, whether or not the model is loaded yet
      correction = next;
      model?.setCorrection(next);
    },
    dispose() {
      model = null;
    },
  };
}
