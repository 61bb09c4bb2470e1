/**
 * The held-out split of an edit's pairs: a seeded share of the sampled pairs never used to find the subspace, on
 * which the preference margin of the base and the edited model is measured (gpu-worker/eval/margin.ts). One seeded
 * permutation of the candidate rows is cut in two, so the held-out rows and the subspace's rows are disjoint by
 * construction; the count follows `heldOutCount` (shared/contracts/edit_params.ts).
 */
import { heldOutCount, HOLDOUT } from "../../shared/contracts/edit_params.ts";
import { InputError } from "../../shared/errors.ts";
import { createRandom, deriveSeed } from "../profs/random.ts";

export interface HoldoutSplit {
  /** Rows the subspace is found from (sorted): every sampled row that is not held out. */
  subspace: number[];
  /** Rows held out for the margin (sorted); empty when nothing is held out. */
  heldOut: number[];
  /** Why nothing is held out although a share was asked for (for the report's warnings). */
  skipped?: string;
}

/**
 * Splits `indices` (the rows left after the `max_pairs` sample) into held-out and subspace rows with `seed`. A
 * pair whose two sides are the same text (`identical`) is never held out (its margin is 0 by definition) and
 * stays with the subspace rows, where it adds nothing. With share 0, or fewer than 2 · HOLDOUT.min usable pairs,
 * nothing is held out and `skipped` says why (a share of 0 is the user's choice: no reason).
 */
export function splitHoldout(o: {
  indices: readonly number[];
  share: number;
  seed: number;
  identical?: (row: number) => boolean;
}): HoldoutSplit {
  if (!(o.share >= 0 && o.share <= HOLDOUT.maxShare)) {
    throw new InputError(
      `Cannot hold pairs out as 'holdout' must be a share from 0 to ${HOLDOUT.maxShare}: current value is ${o.share}`,
    );
  }
  const candidates = o.indices.filter((row) => !o.identical?.(row));
  const count = heldOutCount(candidates.length, o.share);
  if (count === 0) {
    const skipped = o.share === 0
      ? undefined
      : `No pairs were held out to measure the preference margin as it ` +
        `needs at least ${
          2 * HOLDOUT.min
        } usable pairs (${HOLDOUT.min} held out, the rest for the subspace): ` +
        `${candidates.length} ${
          candidates.length === 1 ? "is" : "are"
        } usable; every sampled pair found the subspace`;
    return { subspace: [...o.indices], heldOut: [], ...(skipped ? { skipped } : {}) };
  }
  // Partial Fisher–Yates on a stream of its own, so the hold-out does not shift the max_pairs sample's draws.
  const random = createRandom(deriveSeed(o.seed, "holdout"));
  const order = [...candidates];
  for (let i = 0; i < count; i++) {
    const j = i + random.int(order.length - i);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const heldOut = order.slice(0, count).sort((a, b) => a - b);
  const held = new Set(heldOut);
  return { subspace: o.indices.filter((row) => !held.has(row)), heldOut };
}
