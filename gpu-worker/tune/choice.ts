/**
 * Which trial a tune chooses, as pure functions: the Pareto front of gain (held-out margin gain, or toxicity
 * reduction) against KL to the base model, and the documented rule —
 * - default: the smallest KL among the trials reaching at least 90% of the best gain;
 * - with `maxKl`: the largest gain among the trials whose KL is at most `maxKl`.
 * Ties go to the lower rank, then the fewer edited blocks, then the key, so the choice is deterministic.
 */
import { InputError } from "../../shared/errors.ts";

/** What the choice reads of a trial. */
export interface Scored {
  key: string;
  gain: number;
  kl: number;
  rank: number;
  blocks: number;
}

export const GAIN_SHARE = 0.9;

export interface Choice {
  key: string;
  rule: string;
  /** The gain a trial had to reach (default rule) or the KL it had to stay under (`maxKl`). */
  threshold: { gain?: number; kl?: number };
}

/** Keys of the trials no other trial beats on both gain (higher) and KL (lower), by increasing KL. */
export function paretoFront<T extends Scored>(trials: readonly T[]): T[] {
  const sorted = [...trials].sort((a, b) => a.kl - b.kl || b.gain - a.gain || tieBreak(a, b));
  const front: T[] = [];
  let best = -Infinity;
  for (const t of sorted) {
    if (t.gain > best) {
      front.push(t);
      best = t.gain;
    }
  }
  return front;
}

function tieBreak(a: Scored, b: Scored): number {
  return a.rank - b.rank || a.blocks - b.blocks || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
}

export function chooseTrial(trials: readonly Scored[], o: { maxKl?: number; objective: string }): Choice {
  if (trials.length === 0) throw new InputError("Cannot choose an edit as no trial finished");
  if (o.maxKl !== undefined) {
    const within = trials.filter((t) => t.kl <= o.maxKl!);
    if (within.length === 0) {
      const least = Math.min(...trials.map((t) => t.kl));
      throw new InputError(
        `Cannot choose an edit as no trial kept KL to the base at or below '--max-kl' ${o.maxKl}: the smallest was ${
          least.toPrecision(3)
        } nats`,
      );
    }
    const best = [...within].sort((a, b) => b.gain - a.gain || a.kl - b.kl || tieBreak(a, b))[0];
    return {
      key: best.key,
      rule: `the largest ${o.objective} among the trials with KL to the base ≤ max_kl = ${o.maxKl} nats`,
      threshold: { kl: o.maxKl },
    };
  }
  const top = Math.max(...trials.map((t) => t.gain));
  // With no positive gain, 90% of the best would sit above it: then the best itself is the bar.
  const bar = top > 0 ? GAIN_SHARE * top : top;
  const reaching = trials.filter((t) => t.gain >= bar);
  const best = [...reaching].sort((a, b) => a.kl - b.kl || b.gain - a.gain || tieBreak(a, b))[0];
  return {
    key: best.key,
    rule:
      `the smallest KL to the base among the trials reaching ≥ ${
        GAIN_SHARE * 100
      }% of the best ${o.objective}` +
      ` (${formatGain(top)})`,
    threshold: { gain: bar },
  };
}

function formatGain(v: number): string {
  return Number(v.toPrecision(4)).toString();
}
