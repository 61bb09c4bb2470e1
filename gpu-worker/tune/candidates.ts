/**
 * The search space of a tune, as pure functions: every candidate edit (a layer range × a rank 1..k_max × centering
 * on or off), a stable key per candidate (what a trial store records, so a resumed search knows what is done), and
 * the seeded order trials run in — a shuffle, so a trial or time budget samples the whole space evenly instead of
 * exhausting the first layer range.
 */
import { InputError } from "../../shared/errors.ts";
import type { LayerRange } from "../../shared/contracts/edit_params.ts";
import { createRandom, deriveSeed } from "../profs/random.ts";

export interface Candidate {
  layers: LayerRange;
  rank: number;
  centering: boolean;
}

export const TUNE_DEFAULTS = {
  maxRank: 8,
  centering: [true, false] as readonly boolean[],
  /** The starts of the default grid when the model has more blocks than this: this many, evenly spread. */
  maxStarts: 12,
} as const;

/** "from:to/r<k>/c<1|0>": one candidate, one key. */
export function candidateKey(c: Candidate): string {
  return `${c.layers.from}:${c.layers.to}/r${c.rank}/c${c.centering ? 1 : 0}`;
}

/** Every start 0..L−1 for a small model; otherwise `maxStarts` starts spread evenly over 0..L−1 (end = L). */
export function defaultRanges(numLayers: number, maxStarts: number = TUNE_DEFAULTS.maxStarts): LayerRange[] {
  const count = Math.min(numLayers, maxStarts);
  const starts = new Set<number>();
  for (let i = 0; i < count; i++) starts.add(Math.floor((i * numLayers) / count));
  return [...starts].map((from) => ({ from, to: numLayers }));
}

/**
 * The layer ranges of `--layers-grid`: comma-separated items, each a start (end = L) or a FROM:TO range, e.g.
 * "0,2,4" or "2:10,4:12". Checked against the model's block count; duplicates dropped.
 */
export function parseLayersGrid(text: string, numLayers: number): LayerRange[] {
  const fail = (item: string) =>
    new InputError(
      `Cannot tune as '--layers-grid' must list starts or FROM:TO ranges with 0 ≤ FROM < TO ≤ ${numLayers}, ` +
        `separated by commas: '${item}' is not one`,
    );
  const ranges = new Map<string, LayerRange>();
  for (const raw of text.split(",")) {
    const item = raw.trim();
    const m = /^(\d+)(?::(\d+))?$/.exec(item);
    if (!m) throw fail(item);
    const from = Number(m[1]), to = m[2] === undefined ? numLayers : Number(m[2]);
    if (!(from < to && to <= numLayers)) throw fail(item);
    ranges.set(`${from}:${to}`, { from, to });
  }
  return [...ranges.values()];
}

/** ranges × ranks 1..maxRank × centering, in the seeded order trials run in. */
export function candidates(o: {
  ranges: readonly LayerRange[];
  maxRank: number;
  centering: readonly boolean[];
  seed: number;
}): Candidate[] {
  if (!Number.isInteger(o.maxRank) || o.maxRank < 1) {
    throw new InputError(
      `Cannot tune as '--max-rank' must be a positive integer: current value is ${o.maxRank}`,
    );
  }
  if (o.ranges.length === 0 || o.centering.length === 0) {
    throw new InputError("Cannot tune as there must be at least one layer range and one centering setting");
  }
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
