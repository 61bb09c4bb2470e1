/**
 * The held-out split (gpu-worker/edit/holdout.ts): disjoint from the subspace's rows by construction, together
 * exactly the sampled rows, deterministic per seed, sized by `heldOutCount`'s rule, and never holding out a pair
 * with the same text on both sides.
 */
import assert from "node:assert/strict";
import { splitHoldout } from "../../gpu-worker/edit/holdout.ts";
import { sampleIndices } from "../../gpu-worker/edit/sample.ts";
import { heldOutCount, HOLDOUT } from "../../shared/contracts/edit_params.ts";
import { InputError } from "../../shared/errors.ts";

Deno.test("splitHoldout: held-out and subspace rows are disjoint, cover the sample, and follow the count rule", () => {
  for (const [n, maxPairs, share] of [[96, 500, 0.2], [1000, 500, 0.2], [40, 500, 0.5], [300, 120, 0.1]]) {
    for (const seed of [0, 1, 12345]) {
      const indices = sampleIndices(n, maxPairs, seed);
      const split = splitHoldout({ indices, share, seed });
      const held = new Set(split.heldOut);
      assert.equal(held.size, split.heldOut.length, "no row held out twice");
      assert.ok(
        split.subspace.every((row) => !held.has(row)),
        `n=${n} seed=${seed}: a held-out row found the subspace`,
      );
      assert.deepEqual([...split.subspace, ...split.heldOut].sort((a, b) => a - b), indices);
      assert.equal(split.heldOut.length, Math.max(HOLDOUT.min, Math.round(share * indices.length)));
      assert.deepEqual(split.heldOut, [...split.heldOut].sort((a, b) => a - b));
      assert.equal(split.skipped, undefined);
    }
  }
});

Deno.test("splitHoldout: the same seed gives the same split, another seed another one", () => {
  const indices = sampleIndices(500, 500, 3);
  const a = splitHoldout({ indices, share: 0.2, seed: 3 });
  assert.deepEqual(splitHoldout({ indices, share: 0.2, seed: 3 }), a);
  assert.notDeepEqual(splitHoldout({ indices, share: 0.2, seed: 4 }).heldOut, a.heldOut);
});

Deno.test("splitHoldout: pairs with identical sides are never held out and stay with the subspace rows", () => {
  const indices = Array.from({ length: 60 }, (_, i) => i);
  const identical = (row: number) => row % 3 === 0; // 20 of 60: 40 usable
  const split = splitHoldout({ indices, share: 0.5, seed: 1, identical });
  assert.equal(split.heldOut.length, heldOutCount(40, 0.5));
  assert.ok(split.heldOut.every((row) => !identical(row)));
  assert.ok(indices.filter(identical).every((row) => split.subspace.includes(row)));
});

Deno.test("splitHoldout: too few usable pairs hold nothing out and say why; share 0 holds nothing out silently", () => {
  const indices = Array.from({ length: 2 * HOLDOUT.min - 1 }, (_, i) => i);
  const small = splitHoldout({ indices, share: 0.2, seed: 0 });
  assert.deepEqual(small.heldOut, []);
  assert.deepEqual(small.subspace, indices);
  assert.match(small.skipped ?? "", /needs at least 32 usable pairs .*: 31 are usable/);
  const off = splitHoldout({ indices: sampleIndices(500, 500, 0), share: 0, seed: 0 });
  assert.deepEqual(off.heldOut, []);
  assert.equal(off.subspace.length, 500);
  assert.equal(off.skipped, undefined);
  // The smallest file that holds out: 16 held out, 16 left for the subspace.
  const edge = splitHoldout({ indices: Array.from({ length: 32 }, (_, i) => i), share: 0.2, seed: 0 });
  assert.equal(edge.heldOut.length, 16);
  assert.equal(edge.subspace.length, 16);
});

Deno.test("splitHoldout: a share outside [0, 0.5] is the user's error", () => {
  assert.throws(() => splitHoldout({ indices: [0, 1], share: 0.6, seed: 0 }), InputError);
  assert.throws(() => splitHoldout({ indices: [0, 1], share: -0.1, seed: 0 }), InputError);
  assert.throws(() => splitHoldout({ indices: [0, 1], share: NaN, seed: 0 }), InputError);
});
