/**
 * Seeded choice of at most `maxPairs` of N pairs. The same indices select both sides, so pairs stay aligned
 * (the reference loader samples the two sides independently; DESIGN.md §1 makes that a deliberate difference).
 */
import { InputError } from "../../shared/errors.ts";
import { createRandom } from "../profs/random.ts";

/** Sorted indices of the pairs to keep: all of them when n ≤ maxPairs, else a seeded uniform subset. */
export function sampleIndices(n: number, maxPairs: number, seed: number): number[] {
  if (!Number.isInteger(maxPairs) || maxPairs < 1) {
    throw new InputError(
      `Cannot sample pairs as '--max-pairs' must be a positive integer: current value is ${maxPairs}`,
    );
  }
  const all = Array.from({ length: n }, (_, i) => i);
  if (n <= maxPairs) return all;
  const random = createRandom(seed);
  for (let i = 0; i < maxPairs; i++) { // partial Fisher–Yates
    const j = i + random.int(n - i);
    [all[i], all[j]] = [all[j], all[i]];
  }
  return all.slice(0, maxPairs).sort((a, b) => a - b);
}

export function samplePairs<T>(pairs: T[], maxPairs: number, seed: number): T[] {
  return sampleIndices(pairs.length, maxPairs, seed).map((i) => pairs[i]);
}
