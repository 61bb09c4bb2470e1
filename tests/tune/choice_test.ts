/**
 * The tune's choice as pure functions: the Pareto front of gain against KL, the default rule (smallest KL among
 * the trials reaching ≥ 90% of the best gain), the `max_kl` rule, deterministic ties, and the search space.
 */
import assert from "node:assert/strict";
import { candidateKey, candidates, defaultRanges } from "../../gpu-worker/tune/candidates.ts";
import { layerRangesOfGrid, tuneParamsFromFlags } from "../../shared/contracts/tunes.ts";
import { chooseTrial, paretoFront, type Scored } from "../../gpu-worker/tune/choice.ts";

const t = (key: string, gain: number, kl: number, rank = 1, blocks = 1): Scored => ({
  key,
  gain,
  kl,
  rank,
  blocks,
});

Deno.test("the Pareto front holds exactly the trials no other beats on both gain and KL, by increasing KL", () => {
  const trials = [
    t("a", 1, 0.1),
    t("b", 2, 0.2),
    t("c", 1.5, 0.3),
    t("d", 3, 0.5),
    t("e", 0.5, 0.05),
    t("f", 2, 0.4),
  ];
  assert.deepEqual(paretoFront(trials).map((s) => s.key), ["e", "a", "b", "d"]);
  for (const p of paretoFront(trials)) {
    assert.ok(!trials.some((o) => o.gain >= p.gain && o.kl <= p.kl && (o.gain > p.gain || o.kl < p.kl)));
  }
});

Deno.test("the default rule takes the smallest KL among the trials reaching 90% of the best gain", () => {
  const trials = [t("best", 1.0, 0.5), t("close", 0.91, 0.1), t("far", 0.89, 0.01), t("worse", 0.95, 0.2)];
  const choice = chooseTrial(trials, { objective: "margin gain" });
  assert.equal(choice.key, "close");
  assert.ok(Math.abs(choice.threshold.gain! - 0.9) < 1e-12);
  assert.match(choice.rule, /smallest KL .* ≥ 90% of the best margin gain \(1\)/);
});

Deno.test("ties go to the lower rank, then fewer blocks, then the key", () => {
  const trials = [t("z", 1, 0.1, 2, 1), t("y", 1, 0.1, 1, 3), t("x", 1, 0.1, 1, 2), t("w", 1, 0.1, 1, 2)];
  assert.equal(chooseTrial(trials, { objective: "gain" }).key, "w");
  assert.equal(chooseTrial([...trials].reverse(), { objective: "gain" }).key, "w");
});

Deno.test("with max_kl the rule takes the largest gain within it, and refuses when nothing is", () => {
  const trials = [t("a", 1, 0.3), t("b", 0.8, 0.1), t("c", 0.5, 0.05)];
  assert.equal(chooseTrial(trials, { objective: "gain", maxKl: 0.2 }).key, "b");
  assert.equal(chooseTrial(trials, { objective: "gain", maxKl: 0.05 }).key, "c");
  assert.throws(
    () => chooseTrial(trials, { objective: "gain", maxKl: 0.01 }),
    /no trial kept KL .* 0\.01: the smallest was 0\.05/,
  );
});

Deno.test("with no positive gain the best trial is the bar", () => {
  const trials = [t("a", -0.1, 0.1), t("b", -0.05, 0.3)];
  assert.equal(chooseTrial(trials, { objective: "gain" }).key, "b");
});

Deno.test("the search space: ranges × ranks × centering, every candidate once, in a seeded order", () => {
  const ranges = defaultRanges(4);
  assert.deepEqual(ranges, [{ from: 0, to: 4 }, { from: 1, to: 4 }, { from: 2, to: 4 }, { from: 3, to: 4 }]);
  const a = candidates({ ranges, maxRank: 3, centering: [true, false], seed: 1 });
  const b = candidates({ ranges, maxRank: 3, centering: [true, false], seed: 1 });
  const c = candidates({ ranges, maxRank: 3, centering: [true, false], seed: 2 });
  assert.equal(a.length, 4 * 3 * 2);
  assert.equal(new Set(a.map(candidateKey)).size, a.length);
  assert.deepEqual(a.map(candidateKey), b.map(candidateKey));
  assert.notDeepEqual(a.map(candidateKey), c.map(candidateKey));
  assert.deepEqual(defaultRanges(48).map((r) => r.from), [0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 44]);
});

Deno.test("--layers-grid takes starts and FROM:TO ranges, the model bounds them, and an error names the item", () => {
  const grid = tuneParamsFromFlags({ layers_grid: "0, 2,1:3,2" }).layers_grid!;
  assert.deepEqual(grid, [0, 2, { from: 1, to: 3 }, 2]);
  assert.deepEqual(layerRangesOfGrid(grid, 4), [{ from: 0, to: 4 }, { from: 2, to: 4 }, { from: 1, to: 3 }]);
  const fits = (text: string) =>
    layerRangesOfGrid(tuneParamsFromFlags({ layers_grid: text }).layers_grid!, 4);
  assert.throws(
    () => fits("0,5"),
    /InputError: Cannot tune layers 5 as .* start below 4 or FROM:TO with 0 ≤ FROM < TO ≤ 4/,
  );
  assert.throws(() => fits("1:5"), /InputError: Cannot tune layers 1:5 as /);
  assert.throws(
    () => fits("3:2"),
    /'--layers-grid' must be 1 to 64 layer starts .*: current value is '3:2'$/,
  );
  assert.throws(() => fits("a"), /'--layers-grid' must be .*: current value is 'a'$/);
  assert.throws(
    () => fits(Array.from({ length: 65 }, (_, i) => i % 4).join(",")),
    /'--layers-grid' must be 1 to 64 layer starts/,
  );
});
