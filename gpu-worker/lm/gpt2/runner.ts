/**
 * One small API over a GPT-2 model on either backend: pooled per-block embeddings, next-token logits, greedy
 * generation with a KV cache, and per-text token log-probabilities (perplexity, KL). Texts are tokenized,
 * sorted by length so batches carry little padding, run in batches, and returned in the caller's order; the
 * row layout (rows.ts) makes every result independent of batch composition and padding.
 */
import { InputError } from "../../../shared/errors.ts";
import { type Gpt2Config, gpt2ConfigFrom } from "./config.ts";
import { createCpuEngine } from "./cpu_forward.ts";
import type { Gpt2Engine } from "./engine.ts";
import { decodeRows, prefillRows, type StepRows } from "./rows.ts";
import { type Gpt2Source, loadGpt2Weights } from "./weights.ts";
import type { ComputeBackend } from "../../runtime/backends.ts";

/** The part of shared/model/tokenizer.ts's `Tokenizer` the runner uses. */
export interface TextTokenizer {
  /** with `maxTokens`: at most that many ids, from a bounded prefix (shared/model/tokenizer.ts) */
  encode(text: string, maxTokens?: number): number[];
  decode(ids: number[]): string;
  eosTokenId: number | null;
}

export interface BatchOptions {
  /** Tokens kept from the start of each text (default 128, docs/ARCHITECTURE.md §3). */
  maxTokens?: number;
  /** Texts per forward pass. */
  batchSize?: number;
  /** Called after each batch with texts done so far and the total. */
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface GenerateOptions {
  maxNewTokens: number;
  /** Stop a sequence at the tokenizer's EOS token (not included in the output). */
  stopAtEos?: boolean;
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

export interface Gpt2Runner {
  readonly config: Gpt2Config;
  readonly backend: ComputeBackend;
  readonly device: string;
  /** L arrays [N, D]: masked mean of the residual stream after each block (before the final LayerNorm). */
  embed(texts: string[], options?: BatchOptions): Promise<Float32Array[]>;
  /** [N, V] next-token logits after each text's last token. */
  logits(texts: string[], options?: BatchOptions): Promise<Float32Array>;
  generate(prompts: string[], options: GenerateOptions): Promise<Generation[]>;
  logProbs(texts: string[], options?: BatchOptions): Promise<TextLogProbs[]>;
  dispose(): void;
}

export interface RunnerOptions {
  backend: ComputeBackend;
  tokenizer: TextTokenizer;
}

export const DEFAULT_MAX_TOKENS = 128;
export const DEFAULT_BATCH_SIZE = 8;

export async function createGpt2Runner(model: Gpt2Source, options: RunnerOptions): Promise<Gpt2Runner> {
  const config = gpt2ConfigFrom(model.config);
  let engine: Gpt2Engine;
  if (options.backend === "cpu") {
    engine = createCpuEngine(config, await loadGpt2Weights(model, config));
  } else {
    const { createGpuEngine } = await import("./gpu_forward.ts");
    engine = await createGpuEngine(config, model);
  }
  return runnerOver(engine, options.tokenizer);
}

/** The runner's logic over any engine (tests build engines from in-memory weights). */
export function runnerOver(engine: Gpt2Engine, tokenizer: TextTokenizer): Gpt2Runner {
  const config = engine.config;
  const { hiddenSize: D, vocabSize: V, numLayers: L } = config;

  function tokenize(texts: string[], maxTokens: number, what: string): number[][] {
    if (!Number.isInteger(maxTokens) || maxTokens < 1) {
      throw new InputError(
        `Cannot ${what} as 'maxTokens' must be a positive integer: current value is ${maxTokens}`,
      );
    }
    const limit = Math.min(maxTokens, config.maxPositions);
    return texts.map((text, i) => {
      const ids = tokenizer.encode(text, limit).slice(0, limit);
      if (ids.length === 0) throw new InputError(`Cannot ${what} as text ${i} has no tokens`);
      for (const id of ids) {
        if (id < 0 || id >= V) {
          throw new InputError(
            `Cannot ${what} as token ids must be below vocab_size ${V}: text ${i} has ${id}`,
          );
        }
      }
      return ids;
    });
  }

  function batchSizeOf(value: number | undefined, what: string): number {
    const size = value ?? DEFAULT_BATCH_SIZE;
    if (!Number.isInteger(size) || size < 1) {
      throw new InputError(
        `Cannot ${what} as 'batchSize' must be a positive integer: current value is ${size}`,
      );
    }
    return size;
  }

  /** Runs `each` over batches of text indices sorted by token count (least padding), reporting progress. */
  async function inBatches(
    sequences: number[][],
    options: { batchSize?: number; onProgress?: (done: number, total: number) => void; signal?: AbortSignal },
    what: string,
    each: (indices: number[]) => Promise<void>,
  ): Promise<void> {
    const size = batchSizeOf(options.batchSize, what);
    const order = sequences.map((_, i) => i).sort((a, b) =>
      sequences[a].length - sequences[b].length || a - b
    );
    let done = 0;
    for (let start = 0; start < order.length; start += size) {
      // A batch whose padded rows exceed what one step takes is split further (sorted, so the longest is last).
      const batch = order.slice(start, start + size);
      while (batch.length > 0) {
        options.signal?.throwIfAborted();
        let count = batch.length;
        while (count > 1 && count * sequences[batch[count - 1]].length > engine.maxRows) count--;
        const indices = batch.splice(0, count);
        await each(indices);
        done += indices.length;
        options.onProgress?.(done, order.length);
        // A macrotask turn between batches: on the cpu backend a batch never awaits real I/O, and whatever shares
        // this event loop (timers, a signal handler that aborts) runs only then. The worker runs the runner in a
        // thread (gpu-worker/worker/jobs/run_in_thread.ts), so its heartbeats never wait on a batch.
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
    }
  }

  async function embed(texts: string[], options: BatchOptions = {}): Promise<Float32Array[]> {
    const sequences = tokenize(texts, options.maxTokens ?? DEFAULT_MAX_TOKENS, "embed texts");
    const out = Array.from({ length: L }, () => new Float32Array(texts.length * D));
    await inBatches(sequences, options, "embed texts", async (indices) => {
      const rows = prefillRows(indices.map((i) => sequences[i]), config.maxPositions);
      const cache = engine.createCache(rows.numSeqs, rows.tokens);
      try {
        const { pooled } = await engine.step(rows, cache, { pool: rows });
        for (let l = 0; l < L; l++) {
          indices.forEach((i, b) => out[l].set(pooled![l].subarray(b * D, (b + 1) * D), i * D));
        }
      } finally {
        cache.dispose();
      }
    });
    return out;
  }

  async function logits(texts: string[], options: BatchOptions = {}): Promise<Float32Array> {
    const sequences = tokenize(texts, options.maxTokens ?? DEFAULT_MAX_TOKENS, "compute logits");
    const out = new Float32Array(texts.length * V);
    await inBatches(sequences, options, "compute logits", async (indices) => {
      const rows = prefillRows(indices.map((i) => sequences[i]), config.maxPositions);
      const last = Uint32Array.from(indices, (_, b) => b * rows.tokens + rows.lengths[b] - 1);
      const cache = engine.createCache(rows.numSeqs, rows.tokens);
      try {
        const result = await engine.step(rows, cache, { logitRows: last });
        indices.forEach((i, b) => out.set(result.logits!.subarray(b * V, (b + 1) * V), i * V));
      } finally {
        cache.dispose();
      }
    });
    return out;
  }

  async function logProbs(texts: string[], options: BatchOptions = {}): Promise<TextLogProbs[]> {
    const sequences = tokenize(texts, options.maxTokens ?? DEFAULT_MAX_TOKENS, "compute log-probabilities");
    const out: TextLogProbs[] = new Array(texts.length);
    await inBatches(sequences, options, "compute log-probabilities", async (indices) => {
      const rows = prefillRows(indices.map((i) => sequences[i]), config.maxPositions);
      const selected: number[] = [];
      const targets: number[] = [];
      indices.forEach((i, b) => {
        const s = sequences[i];
        for (let t = 0; t + 1 < s.length; t++) {
          selected.push(b * rows.tokens + t);
          targets.push(s[t + 1]);
        }
      });
      const cache = engine.createCache(rows.numSeqs, rows.tokens);
      try {
        const result = selected.length === 0 ? { logProbs: new Float32Array(0) } : await engine.step(
          rows,
          cache,
          { logProbs: { rows: Uint32Array.from(selected), targets: Int32Array.from(targets) } },
        );
        let offset = 0;
        for (const i of indices) {
          const count = sequences[i].length - 1;
          const tokenLogProbs = result.logProbs!.slice(offset, offset + count);
          offset += count;
          out[i] = { tokenLogProbs, sum: tokenLogProbs.reduce((a, b) => a + b, 0), count };
        }
      } finally {
        cache.dispose();
      }
    });
    return out;
  }

  async function generate(prompts: string[], options: GenerateOptions): Promise<Generation[]> {
    const { maxNewTokens, stopAtEos = true } = options;
    if (!Number.isInteger(maxNewTokens) || maxNewTokens < 0) {
      throw new InputError(
        `Cannot generate as 'maxNewTokens' must be a non-negative integer: current value is ${maxNewTokens}`,
      );
    }
    const eos = tokenizer.eosTokenId;
    // GPT-2 starts an empty prompt from <|endoftext|>, its document separator.
    const sequences = prompts.map((p, i) => {
      const ids = tokenizer.encode(p, config.maxPositions + 1);
      if (ids.length > 0) return ids;
      if (eos === null) throw new InputError(`Cannot generate from prompt ${i} as it has no tokens`);
      return [eos];
    });
    const out: Generation[] = new Array(prompts.length);
    await inBatches(sequences, options, "generate", async (indices) => {
      const prompt = indices.map((i) => sequences[i]);
      const capacity = Math.max(...prompt.map((s) => s.length)) + maxNewTokens;
      if (capacity > config.maxPositions) {
        throw new InputError(
          `Cannot generate as prompt tokens + 'maxNewTokens' must be at most n_positions (${config.maxPositions}): current value is ${capacity}`,
        );
      }
      const generated = indices.map(() => [] as number[]);
      const lengths = prompt.map((s) => s.length);
      let active = indices.map((_, b) => b).filter(() => maxNewTokens > 0);
      const cache = engine.createCache(indices.length, capacity);
      try {
        const rows = prefillRows(prompt, config.maxPositions);
        let stepRows: StepRows = rows;
        let logitRows = Uint32Array.from(active, (b) => b * rows.tokens + lengths[b] - 1);
        while (active.length > 0) {
          options.signal?.throwIfAborted();
          const { logits } = await engine.step(stepRows, cache, { logitRows });
          const next = active.map((_, i) => argmax(logits!, i * V, V));
          const still: number[] = [];
          const stillNext: number[] = [];
          active.forEach((b, i) => {
            if (stopAtEos && next[i] === eos) return;
            generated[b].push(next[i]);
            if (generated[b].length < maxNewTokens) {
              still.push(b);
              stillNext.push(next[i]);
            }
          });
          stepRows = decodeRows(still, stillNext, still.map((b) => lengths[b]));
          still.forEach((b) => lengths[b]++);
          logitRows = Uint32Array.from(still, (_, i) => i);
          active = still;
        }
      } finally {
        cache.dispose();
      }
      indices.forEach((i, b) => out[i] = { tokens: generated[b], text: tokenizer.decode(generated[b]) });
    });
    return out;
  }

  return {
    config,
    backend: engine.backend,
    device: engine.device,
    embed,
    logits,
    generate,
    logProbs,
    dispose: () => engine.dispose(),
  };
}

/** Index of the largest of values[offset .. offset+n) (the first on ties, so both backends pick alike). */
export function argmax(values: Float32Array, offset: number, n: number): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (values[offset + i] > values[offset + best]) best = i;
  return best;
}
