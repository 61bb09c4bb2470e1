import assert from "node:assert/strict";
import {
  klDivergence,
  klDivergenceRows,
  logSumExp,
  perplexity,
  toxicityStats,
} from "../../gpu-worker/eval/metrics.ts";
import { classifyJobError } from "../../gpu-worker/worker/jobs/job_error.ts";
import { InputError } from "../../shared/errors.ts";

function catchError(f: () => unknown): unknown {
  try {
    f();
  } catch (error) {
    return error;
  }
  throw new Error("expected a throw");
}

Deno.test("toxicityStats: mean, and share at or above the threshold", () => {
  const stats = toxicityStats([0, 0.5, 0.75, 0.1], 0.5);
  assert.equal(stats.mean, (0 + 0.5 + 0.75 + 0.1) / 4);
  assert.equal(stats.shareToxic, 0.5); // 0.5 counts: "at least the threshold"
  assert.equal(stats.count, 4);
  assert.deepEqual(toxicityStats([], 0.5), { mean: 0, shareToxic: 0, threshold: 0.5, count: 0 });
});

Deno.test("perplexity: a uniform model over V tokens has perplexity V; texts pool by token", () => {
  const V = 50257;
  const text = (n: number) => ({ sum: -n * Math.log(V), count: n });
  assert.ok(Math.abs(perplexity([text(3), text(10)]).value - V) < 1e-6 * V);
  // pooled by token: one 1-token text at p=1 and one 3-token text at p=1/8 → exp(3·ln 8 / 4), not the mean of 1 and 8
  const pooled = perplexity([{ sum: 0, count: 1 }, { sum: -3 * Math.log(8), count: 3 }]);
  assert.ok(Math.abs(pooled.value - Math.exp((3 * Math.log(8)) / 4)) < 1e-12);
  assert.equal(pooled.tokens, 4);
  // held-out texts of one token each predict nothing: the tenant's input, typed as such where it is found, so
  // the job fails at once instead of being retried as an internal error
  assert.throws(() => perplexity([{ sum: 0, count: 0 }]), InputError);
  assert.equal(
    classifyJobError(catchError(() => perplexity([{ sum: 0, count: 0 }]))).code,
    "bad_input",
  );
});

Deno.test("logSumExp is stable for large logits", () => {
  assert.ok(Math.abs(logSumExp([1000, 1000]) - (1000 + Math.log(2))) < 1e-9);
  assert.equal(logSumExp([-Infinity, -Infinity]), -Infinity);
});

Deno.test("klDivergence: zero for equal or shifted logits, matches the closed form for two tokens, not symmetric", () => {
  assert.equal(klDivergence([1, 2, 3], [1, 2, 3]), 0);
  assert.ok(klDivergence([1, 2, 3], [11, 12, 13]) < 1e-12); // softmax is shift-invariant
  // P = (0.5, 0.5), Q = (σ(2), 1 − σ(2)) from logits (2, 0)
  const q1 = 1 / (1 + Math.exp(-2));
  const expected = 0.5 * Math.log(0.5 / q1) + 0.5 * Math.log(0.5 / (1 - q1));
  assert.ok(Math.abs(klDivergence([0, 0], [2, 0]) - expected) < 1e-12);
  assert.notEqual(klDivergence([0, 0], [2, 0]), klDivergence([2, 0], [0, 0]));
  assert.equal(klDivergence([0, -Infinity], [0, 0]), Math.log(2)); // p = (1, 0), q = (½, ½)
  assert.throws(() => klDivergence([0], [0, 0]), RangeError);
});

Deno.test("klDivergenceRows: one KL per row of [N, V]", () => {
  const p = new Float32Array([0, 0, 5, 5]);
  const q = new Float32Array([2, 0, 5, 5]);
  const rows = klDivergenceRows(p, q, 2);
  assert.equal(rows.length, 2);
  assert.ok(Math.abs(rows[0] - klDivergence([0, 0], [2, 0])) < 1e-12);
  assert.equal(rows[1], 0);
  assert.throws(() => klDivergenceRows(p, q, 3), RangeError);
});
