/**
 * How generation picks the next token from a row of logits, shared by both engines: greedy (the first maximum),
 * or sampled — softmax of the logits over `temperature`, cut to the `topK` most likely tokens and then to the
 * smallest set whose probability reaches `topP`, drawn with a seeded generator (the same seed, prompts and batch
 * size give the same text). A temperature of 0 is greedy.
 */
import { InputError } from "../../shared/errors.ts";

/** The next token from `logits[offset .. offset + vocab)`. */
export type TokenPick = (logits: Float32Array, offset: number, vocab: number) => number;

export const greedyPick: TokenPick = (logits, offset, vocab) => {
  let best = 0; // the first maximum on ties
  for (let t = 1; t < vocab; t++) if (logits[offset + t] > logits[offset + best]) best = t;
  return best;
};

export interface SamplingOptions {
  /** > 0 samples; 0 is greedy */
  temperature: number;
  /** keep only the k most likely tokens (default all) */
  topK?: number;
  /** keep the smallest most-likely set whose probability reaches p (default 1) */
  topP?: number;
  /** seed of the generator (default 0) */
  seed?: number;
}

export function samplingPick(o: SamplingOptions): TokenPick {
  const { temperature, topK, topP = 1, seed = 0 } = o;
  if (!(Number.isFinite(temperature) && temperature >= 0)) {
    throw new InputError(
      `Cannot sample as 'temperature' must be a number ≥ 0: current value is ${temperature}`,
    );
  }
  if (topK !== undefined && !(Number.isInteger(topK) && topK >= 1)) {
    throw new InputError(`Cannot sample as 'topK' must be a positive integer: current value is ${topK}`);
  }
  if (!(topP > 0 && topP <= 1)) {
    throw new InputError(`Cannot sample as 'topP' must be in (0, 1]: current value is ${topP}`);
  }
  if (temperature === 0) return greedyPick;
  const random = mulberry32(seed);
  return (logits, offset, vocab) => {
    const order = Array.from({ length: vocab }, (_, t) => t)
      .sort((a, b) => logits[offset + b] - logits[offset + a] || a - b);
    const kept = order.slice(0, Math.min(topK ?? vocab, vocab));
    const top = logits[offset + kept[0]];
    const weights = kept.map((t) => Math.exp((logits[offset + t] - top) / temperature));
    const total = weights.reduce((a, b) => a + b, 0);
    // The nucleus: the most likely tokens until their share reaches topP (at least one).
    let n = 0;
    for (let share = 0; n < kept.length && (n === 0 || share < topP); n++) share += weights[n] / total;
    const mass = weights.slice(0, n).reduce((a, b) => a + b, 0);
    let r = random() * mass;
    for (let i = 0; i < n; i++) {
      r -= weights[i];
      if (r < 0) return kept[i];
    }
    return kept[n - 1];
  };
}

/** A small seeded generator of uniform numbers in [0, 1). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
