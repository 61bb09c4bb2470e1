import assert from "node:assert/strict";
import { createRandom } from "../../../gpu-worker/profs/random.ts";
import { DEFAULT_SUBSPACE_PARAMS, type Matrix, matrix } from "../../../gpu-worker/profs/backend.ts";
import { createCpuBackend } from "../../../gpu-worker/profs/cpu/backend.ts";
import {
  matmulTransposeA,
  orthonormalizeColumns,
  principalAngles,
  svd,
} from "../../../gpu-worker/profs/cpu/linalg.ts";
import {
  countAboveFloor,
  GRAM_SWITCH_ITERATIONS,
  relativeNoiseFloor,
  topRightSingularVectors,
  toxicSubspaceCpu,
} from "../../../gpu-worker/profs/cpu/subspace.ts";
import { ConvergenceError, InputError } from "../../../shared/errors.ts";
import { assertClose } from "../../helpers/assert_close.ts";

const params = { ...DEFAULT_SUBSPACE_PARAMS, tolerance: 1e-9 };

function randomMatrix(rows: number, cols: number, seed: number): Float64Array {
  const r = createRandom(seed);
  return Float64Array.from({ length: rows * cols }, () => r.normal());
}

function orthonormal(rows: number, cols: number, seed: number): Float64Array {
  const q = randomMatrix(rows, cols, seed);
  orthonormalizeColumns(q, rows, cols, createRandom(seed));
  return q;
}

/**
 * The paper's factor model (Uppaal et al. §3): every embedding is a shared mean direction (stopwords, context)
 * plus a per-pair context component plus noise; rejected texts add a toxic component B f with B [D, k]
 * orthonormal. So T = (X⁺ − X⁻)/2 is −B f/2 plus noise and its top-k right singular vectors span B.
 */
function factorModel(n: number, d: number, k: number, seed: number, noise = 0.05) {
  const random = createRandom(seed);
  // The model's assumption: the shared mean direction is orthogonal to the toxic subspace.
  const directions = orthonormal(d, 1 + k, seed + 1); // [μ̂ | B]
  const mean = Float64Array.from({ length: d }, (_, c) => 8 * directions[c * (1 + k)]);
  const toxic = Float64Array.from(
    { length: d * k },
    (_, i) => directions[Math.floor(i / k) * (1 + k) + 1 + (i % k)],
  );
  const context = orthonormal(d, 6, seed + 3); // C [D, 6]
  const preferred = new Float32Array(n * d);
  const rejected = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const g = Array.from({ length: 6 }, () => random.normal());
    const f = Array.from({ length: k }, (_, j) => (k - j + 1) * (1 + 0.3 * random.normal()));
    for (let c = 0; c < d; c++) {
      let shared = mean[c];
      for (let j = 0; j < 6; j++) shared += context[c * 6 + j] * g[j];
      let tox = 0;
      for (let j = 0; j < k; j++) tox += toxic[c * k + j] * f[j];
      preferred[i * d + c] = shared + noise * random.normal();
      rejected[i * d + c] = shared + tox + noise * random.normal();
    }
  }
  return { preferred: matrix(n, d, preferred), rejected: matrix(n, d, rejected), toxic };
}

function preferenceMatrix(p: Matrix, r: Matrix): Float64Array {
  return Float64Array.from(p.data, (x, i) => (x - r.data[i]) / 2);
}

Deno.test("subspace iteration matches the exact SVD on a random matrix (odd sizes)", () => {
  const n = 41, d = 23, k = 3;
  const t = randomMatrix(n, d, 7);
  const got = topRightSingularVectors(t, n, d, k, params);
  const exact = svd(t, n, d);
  const exactTop = new Float64Array(d * k);
  for (let r = 0; r < d; r++) for (let j = 0; j < k; j++) exactTop[r * k + j] = exact.v[r * d + j];
  assert.ok(got.converged);
  // Converged to sin θ < 1e-9; float64 rounding adds ~1e-14.
  assert.ok(Math.max(...principalAngles(got.basis, exactTop, d, k)) < 1e-8);
  assertClose(got.values, exact.s.slice(0, k), { rtol: 1e-12, label: "singular values" });
});

Deno.test("with fewer rows than columns and slow convergence, the Gram-space iteration matches the exact SVD", () => {
  const n = 20, d = 61, k = 3;
  const t = randomMatrix(n, d, 8); // a flat random spectrum: far more than GRAM_SWITCH_ITERATIONS steps
  const got = topRightSingularVectors(t, n, d, k, params);
  assert.ok(got.iterations > GRAM_SWITCH_ITERATIONS, `${got.iterations} iterations`);
  assert.ok(got.converged);
  const exact = svd(t, n, d);
  const exactTop = new Float64Array(d * k);
  for (let r = 0; r < d; r++) {
    for (let j = 0; j < k; j++) exactTop[r * k + j] = exact.v[r * exact.s.length + j];
  }
  // Converged in the N-dimensional row space to 1e-9; mapping through Tᵀ keeps that up to σ₁/σ_k ≈ 1.5.
  assert.ok(Math.max(...principalAngles(got.basis, exactTop, d, k)) < 1e-8);
  assertClose(got.values, exact.s.slice(0, k), { rtol: 1e-12, label: "singular values" });
});

Deno.test("toxicSubspace recovers a planted toxic subspace from factor-model data", () => {
  const d = 48, k = 2;
  const data = factorModel(300, d, k, 11);
  const result = toxicSubspaceCpu(data.preferred, data.rejected, DEFAULT_SUBSPACE_PARAMS);
  assert.ok(result.converged);
  assert.deepEqual([result.basis.rows, result.basis.cols], [d, k]);
  const angles = principalAngles(Float64Array.from(result.basis.data), data.toxic, d, k);
  // noise 0.05 per coordinate against factors of size ~2-3: the estimate is within a few degrees.
  assert.ok(Math.max(...angles) < 0.05, `largest principal angle ${Math.max(...angles)} rad`);
  assert.ok(result.singularValues[0] >= result.singularValues[1]);
  const explained = result.explainedVariance.reduce((a, b) => a + b, 0);
  assert.ok(explained > 0.9 && explained <= 1 + 1e-12, `explained variance ${explained}`);
});

Deno.test("the basis is orthonormal and its values match the exact SVD of the centered T", () => {
  const n = 60, d = 20, k = 3;
  const data = factorModel(n, d, k, 21, 0.3);
  const result = toxicSubspaceCpu(data.preferred, data.rejected, { ...params, rank: k });
  const v = Float64Array.from(result.basis.data);
  assertClose(matmulTransposeA(v, v, d, k, k), [1, 0, 0, 0, 1, 0, 0, 0, 1], { atol: 1e-6, label: "VᵀV" });
  // Oracle: μ from an exact SVD of X⁺, T(I − μμᵀ), exact SVD.
  const x = Float64Array.from(data.preferred.data);
  const mu = svd(x, n, d).v.filter((_, i) => i % d === 0); // first column of V [d, d]
  const t = preferenceMatrix(data.preferred, data.rejected);
  for (let i = 0; i < n; i++) {
    let dot = 0;
    for (let c = 0; c < d; c++) dot += t[i * d + c] * mu[c];
    for (let c = 0; c < d; c++) t[i * d + c] -= dot * mu[c];
  }
  const exact = svd(t, n, d);
  assertClose(result.singularValues, exact.s.slice(0, k), { rtol: 1e-9, label: "σ" });
  const top = new Float64Array(d * k);
  for (let r = 0; r < d; r++) for (let j = 0; j < k; j++) top[r * k + j] = exact.v[r * d + j];
  // The basis is stored as float32: angles down to ~1e-7.
  const angle = Math.max(...principalAngles(v, top, d, k));
  assert.ok(angle < 1e-6, `largest principal angle ${angle}`);
});

for (const [n, d] of [[80, 32], [20, 64]]) {
  Deno.test(`flipping the labels of some pairs leaves the SVD step unchanged (N=${n}, D=${d})`, () => {
    const data = factorModel(n, d, 2, 31);
    const flippedP = Float32Array.from(data.preferred.data);
    const flippedR = Float32Array.from(data.rejected.data);
    const random = createRandom(5);
    for (let i = 0; i < n; i++) {
      if (random.next() < 0.3) {
        flippedP.set(data.rejected.data.subarray(i * d, (i + 1) * d), i * d);
        flippedR.set(data.preferred.data.subarray(i * d, (i + 1) * d), i * d);
      }
    }
    const noCentering = { ...DEFAULT_SUBSPACE_PARAMS, centering: false };
    const original = toxicSubspaceCpu(data.preferred, data.rejected, noCentering);
    const flipped = toxicSubspaceCpu(matrix(n, d, flippedP), matrix(n, d, flippedR), noCentering);
    // A flip negates a row of T; TᵀT, the iteration and the signs fixed at the end are unchanged, bit for bit.
    assert.deepEqual(flipped.basis.data, original.basis.data);
    assert.deepEqual(flipped.singularValues, original.singularValues);
  });
}

Deno.test("centering removes X⁺'s top direction from the toxic subspace", () => {
  const n = 50, d = 16;
  const data = factorModel(n, d, 2, 41);
  const result = toxicSubspaceCpu(data.preferred, data.rejected, params);
  const mu = topRightSingularVectors(Float64Array.from(data.preferred.data), n, d, 1, params).basis;
  for (let j = 0; j < 2; j++) {
    let dot = 0;
    for (let c = 0; c < d; c++) dot += result.basis.data[c * 2 + j] * mu[c];
    assert.ok(Math.abs(dot) < 1e-6, `direction ${j} · μ = ${dot}`);
  }
});

Deno.test("a small spectral gap takes many iterations and hitting the cap is reported", () => {
  // Singular values 1, 0.999, 0.998, ...: the top-1 direction converges slowly.
  const n = 30, d = 30;
  const u = orthonormal(n, n, 1), v = orthonormal(d, d, 2);
  const t = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < d; c++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += u[i * n + j] * (1 - 0.001 * j) * v[c * d + j];
      t[i * d + c] = s;
    }
  }
  const capped = topRightSingularVectors(t, n, d, 1, { ...params, maxIterations: 3 });
  assert.equal(capped.iterations, 3);
  assert.equal(capped.converged, false);
  assert.ok(capped.residual > params.tolerance);
  const full = topRightSingularVectors(t, n, d, 1, { ...params, tolerance: 1e-7, maxIterations: 100000 });
  assert.ok(full.converged);
  assert.ok(full.iterations > 3, `${full.iterations} iterations`);
});

Deno.test("Chebyshev-filtered steps converge on a 2% gap in a small fraction of the plain power steps", () => {
  // σ_j = 1 − 0.001·j: with k = 2 and a block of 10, plain steps shrink the error by σ²₁₀/σ²₁ ≈ 0.982 each, so
  // reaching 1e-9 takes about 900 of them (measured: 879); the filter needs about 120 applications of TᵀT.
  const n = 40, d = 40, k = 2;
  const u = orthonormal(n, n, 3), v = orthonormal(d, d, 4);
  const sigma = Array.from({ length: n }, (_, j) => 1 - 0.001 * j);
  const t = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < d; c++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += u[i * n + j] * sigma[j] * v[c * d + j];
      t[i * d + c] = s;
    }
  }
  const got = topRightSingularVectors(t, n, d, k, { ...params, maxIterations: 100000 });
  assert.ok(got.converged);
  assert.ok(got.iterations < 300, `${got.iterations} applications`);
  const exactTop = new Float64Array(d * k);
  for (let r = 0; r < d; r++) for (let j = 0; j < k; j++) exactTop[r * k + j] = v[r * d + j];
  // Converged to 1e-9 between iterates; the 1e-3 gap between σ₁ and σ₂ costs at most a factor ~1e3 within span.
  assert.ok(Math.max(...principalAngles(got.basis, exactTop, d, k)) < 1e-6);
  assertClose(got.values, sigma.slice(0, k), { rtol: 1e-10, label: "singular values" });
});

Deno.test("bad inputs to toxicSubspace are clear errors", () => {
  const a = matrix(3, 4, new Float32Array(12).fill(1));
  assert.throws(
    () => toxicSubspaceCpu(a, matrix(3, 5), params),
    /must have the same shape: \[3, 4\] vs \[3, 5\]/,
  );
  assert.throws(
    () => toxicSubspaceCpu(a, a, { ...params, rank: 4 }),
    /'rank' must be an integer from 1 to 3/,
  );
  assert.throws(() => toxicSubspaceCpu(a, a, params), /must differ: every pair's difference is zero/);
});

Deno.test("the CPU backend implements the contract", async () => {
  const backend = createCpuBackend({ gemm: null });
  assert.equal(backend.name, "cpu");
  const data = factorModel(40, 12, 2, 51);
  const result = await backend.toxicSubspace(data.preferred, data.rejected, params);
  assert.deepEqual(result, toxicSubspaceCpu(data.preferred, data.rejected, params));
  backend.dispose();
});

/** Top-k columns of the exact SVD's V [d, ·] of the centered T (the oracle for the degenerate shapes). */
function exactCenteredTop(p: Matrix, r: Matrix, k: number): { v: Float64Array; s: number[] } {
  const { rows: n, cols: d } = p;
  const x = Float64Array.from(p.data);
  const vx = svd(x, n, d);
  const mu = Float64Array.from({ length: d }, (_, c) => vx.v[c * vx.s.length]);
  const t = preferenceMatrix(p, r);
  for (let i = 0; i < n; i++) {
    let dot = 0;
    for (let c = 0; c < d; c++) dot += t[i * d + c] * mu[c];
    for (let c = 0; c < d; c++) t[i * d + c] -= dot * mu[c];
  }
  const exact = svd(t, n, d);
  const width = exact.s.length;
  const v = new Float64Array(d * k);
  for (let c = 0; c < d; c++) for (let j = 0; j < k; j++) v[c * k + j] = exact.v[c * width + j];
  return { v, s: [...exact.s.subarray(0, k)] };
}

for (
  const [label, n, d, k] of [
    ["N < k + 8", 12, 40, 8],
    ["D < k + 8", 60, 12, 8],
    ["N = k", 8, 40, 8],
  ] as Array<[string, number, number, number]>
) {
  Deno.test(`toxicSubspace matches the exact SVD when ${label} (the block is the whole row or column space)`, () => {
    const data = factorModel(n, d, k, 7 * n + d);
    const result = toxicSubspaceCpu(data.preferred, data.rejected, { ...params, rank: k });
    const exact = exactCenteredTop(data.preferred, data.rejected, k);
    assert.ok(result.converged);
    assert.equal(result.effectiveRank, k);
    // Float64 throughout, the basis stored as float32: angles down to ~1e-7.
    const angle = Math.max(...principalAngles(Float64Array.from(result.basis.data), exact.v, d, k));
    assert.ok(angle < 1e-6, `largest principal angle ${angle}`);
    assertClose(result.singularValues, exact.s, { rtol: 1e-9, label: "σ" });
  });
}

Deno.test("toxicSubspace refuses N < k before iterating", () => {
  const data = factorModel(6, 30, 2, 1);
  assert.throws(
    () => toxicSubspaceCpu(data.preferred, data.rejected, { ...params, rank: 8 }),
    (e: unknown) =>
      e instanceof InputError && /'rank' must be an integer from 1 to 6 \(pairs: 6/.test(e.message),
  );
});

Deno.test("a rank above the data's rank converges on the directions above the noise floor and counts them", () => {
  const n = 50, d = 40;
  const data = factorModel(n, d, 3, 5, 0); // no noise: T = −B f / 2, rank 3 up to float32 rounding
  const result = toxicSubspaceCpu(data.preferred, data.rejected, { ...params, rank: 8, centering: false });
  assert.ok(result.converged);
  assert.equal(result.effectiveRank, 3, `σ ${result.singularValues}`);
  // The floor is σ₁·max(N, D)·2⁻²³; the planted σ₃ is far above it and σ₄… are float32 rounding, far below.
  assertClose([result.noiseFloor], [result.singularValues[0] * 50 * 2 ** -23], {
    rtol: 1e-12,
    label: "floor",
  });
  for (const s of result.singularValues.slice(3)) assert.ok(s <= result.noiseFloor, `σ ${s}`);
  const top3 = new Float64Array(d * 3);
  for (let c = 0; c < d; c++) for (let j = 0; j < 3; j++) top3[c * 3 + j] = result.basis.data[c * 8 + j];
  // T is B f / 2 up to the float32 rounding of the embeddings (~1e-7 relative).
  assert.ok(Math.max(...principalAngles(top3, data.toxic, d, 3)) < 1e-5);
});

Deno.test("countAboveFloor and relativeNoiseFloor follow the matrix_rank rule", () => {
  assert.equal(relativeNoiseFloor(96, 64), 96 * 2 ** -23);
  assert.equal(countAboveFloor([10, 1, 1e-3, 1e-5, 0], 1e-5), 3); // 1e-5 is not above 10·1e-5
  assert.equal(countAboveFloor([0, 0], 1e-5), 0);
  assert.equal(countAboveFloor([], 1e-5), 0);
});

Deno.test("hitting maxIterations is a ConvergenceError naming the iterations, the residual and the tolerance", () => {
  const data = factorModel(40, 30, 4, 9, 0.3);
  assert.throws(
    () =>
      toxicSubspaceCpu(data.preferred, data.rejected, {
        ...params,
        rank: 4,
        centering: false,
        maxIterations: 2,
      }),
    (e: unknown) =>
      e instanceof ConvergenceError && e instanceof InputError && e.details.iterations === 2 &&
      e.details.residual > 1e-9 && e.details.tolerance === 1e-9 &&
      /^Cannot compute the toxic subspace \(rank 4\) as the subspace iteration must converge within 2 iterations: the residual .* is \d\.\d\de-\d+, the tolerance 1\.00e-9/
        .test(e.message),
  );
  // The centering's own iteration names itself.
  assert.throws(
    () => toxicSubspaceCpu(data.preferred, data.rejected, { ...params, tolerance: 1e-300, maxIterations: 3 }),
    (e: unknown) => e instanceof ConvergenceError && /centering direction/.test(e.message),
  );
  // inBlock adds the block to the message and keeps the details.
  const error = new ConvergenceError({ what: "x", iterations: 5, residual: 0.5, tolerance: 1e-6 }).inBlock(7);
  assert.match(error.message, /^Cannot compute x of block 7 as .* within 5 iterations: .* is 5\.00e-1/);
});
