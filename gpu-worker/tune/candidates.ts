/**
 * The search space of a tune, as pure functions: every candidate edit (a layer range × a rank 1..k_max × centering
 * on or off), a stable key per candidate (what a trial store records, so a resumed search knows what is done), and
 * the seeded order trials run in — a shuffle, so a trial or time budget samples the whole space evenly instead of
 * exhausting the first layer range.
 */
import type { LayerRange } from "../../shared/contracts/edit_params.ts";
import { createRandom, deriveSeed } from "../profs/random.ts";

export interface Candidate {
  layers: LayerRange;
  rank: number;
  centering: boolean;
}

/** The starts of the default grid when the model has more blocks than this: this many, evenly spread. */
export const DEFAULT_GRID_STARTS = 12;

/** "from:to/r<k>/c<1|0>": one candidate, one key. */
export function candidateKey(c: Candidate): string {
  return `${c.layers.from}:${c.layers.to}/r${c.rank}/c${c.centering ? 1 : 0}`;
}

/** Every start 0..L−1 for a small model; otherwise `maxStarts` starts spread evenly over 0..L−1 (end = L). */
export function defaultRanges(numLayers: number, maxStarts: number = DEFAULT_GRID_STARTS): LayerRange[] {
  const count = Math.min(numLayers, maxStarts);
  const starts = new Set<number>();
  for (let i = 0; i < count; i++) starts.add(Math.floor((i * numLayers) / count));
  return [...starts].map((from) => ({ from, to: numLayers }));
}

/**
 * ranges × ranks 1..maxRank × centering, in the seeded order trials run in. The settings are parseTuneParams'
 * (shared/contracts/tunes.ts): at least one range, maxRank ≥ 1.
 */
export function candidates(o: {
  ranges: readonly LayerRange[];
  maxRank: number;
  centering: readonly boolean[];
  seed: number;
}): Candidate[] {
  const all: Candidate[] = [];
  for (const layers of o.ranges) {
    for (let rank = 1; rank <= o.maxRank; rank++) {
      for (const centering of new Set(o.centering)) all.push({ layers, rank, centering });
    }
  }
  const random = createRandom(deriveSeed(o.seed, "tune order"));
  for (let i = all.length - 1; i > 0; i--) { // Fisher–Yates
    const j = random.int(i + 1);
    [all[i], all[j]] = [all[j], all[i]];
  }
  return all;
}
