/**
 * The numbers a check reports, as pure functions: toxicity of scored continuations, perplexity from token
 * log-probabilities, and KL divergence between next-token distributions. Accumulation is float64.
 */
import { InputError } from "../../shared/errors.ts";

export interface ToxicityStats {
  /** Mean score over texts. */
  mean: number;
  /** Fraction of texts scoring at least `threshold`. */
  shareToxic: number;
  threshold: number;
  count: number;
}

export function toxicityStats(scores: readonly number[], threshold: number): ToxicityStats {
  if (scores.length === 0) return { mean: 0, shareToxic: 0, threshold, count: 0 };
  let sum = 0;
  let toxic = 0;
  for (const s of scores) {
    sum += s;
    if (s >= threshold) toxic++;
  }
  return { mean: sum / scores.length, shareToxic: toxic / scores.length, threshold, count: scores.length };
}

/**
 * Corpus perplexity exp(−Σ log p / Σ n) over texts, each given as the sum of its token log-probabilities (natural
 * log) and how many tokens were predicted. Texts are pooled by token, not averaged per text, as language-model
 * evaluations (and the ProFS paper's) do.
 */
export function perplexity(
  texts: readonly { sum: number; count: number }[],
): { value: number; tokens: number } {
  let sum = 0;
  let tokens = 0;
  for (const t of texts) {
    sum += t.sum;
    tokens += t.count;
  }
  if (tokens === 0) {
    // The texts are the tenant's (a check's held-out set): one token each predicts nothing.
    throw new InputError(
      "Cannot compute perplexity as the held-out texts must give at least one predicted token (a text of two " +
        `or more tokens): the ${texts.length} text${texts.length === 1 ? "" : "s"} give none`,
    );
  }
  return { value: Math.exp(-sum / tokens), tokens };
}

/** log Σ exp(row), stable. `logits` [V] f32 (or a view of one row of [N, V]). */
export function logSumExp(logits: ArrayLike<number>): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  if (max === -Infinity) return -Infinity;
  let z = 0;
  for (let i = 0; i < logits.length; i++) z += Math.exp(logits[i] - max);
  return max + Math.log(z);
}

/**
 * KL(P ‖ Q) in nats between the softmax distributions of two logit vectors over the same vocabulary:
 * Σ p log(p / q), with P the reference (base model) and Q the model under test. `p` [V], `q` [V].
 */
export function klDivergence(p: ArrayLike<number>, q: ArrayLike<number>): number {
  if (p.length !== q.length) {
    throw new RangeError(`KL needs logits over the same vocabulary: ${p.length} vs ${q.length}`);
  }
  const zp = logSumExp(p);
  const zq = logSumExp(q);
  let kl = 0;
  for (let i = 0; i < p.length; i++) {
    const lp = p[i] - zp;
    if (lp === -Infinity) continue; // 0 · log 0 = 0
    kl += Math.exp(lp) * (lp - (q[i] - zq));
  }
  return Math.max(0, kl); // rounding can leave −1e-17 for equal inputs
}

/** KL of each row of two [N, V] logit matrices: reference `p`, model under test `q`. */
export function klDivergenceRows(p: Float32Array, q: Float32Array, vocab: number): number[] {
  if (p.length !== q.length || p.length % vocab !== 0) {
    throw new RangeError(`KL rows need two [N, ${vocab}] matrices: got ${p.length} and ${q.length} values`);
  }
  const out: number[] = [];
  for (let r = 0; r < p.length / vocab; r++) {
    out.push(klDivergence(p.subarray(r * vocab, (r + 1) * vocab), q.subarray(r * vocab, (r + 1) * vocab)));
  }
  return out;
}

export function mean(values: readonly number[]): number {
  return values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length;
}
