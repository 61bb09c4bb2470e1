/**
 * The webgpu subspace iteration against the CPU oracle at every rank up to 64 and on the shapes where the block
 * (b = min(k + 8, N, D)) is the whole row or column space, on the factor model with a planted rank-k toxic
 * subspace (so the top-k subspace is well separated and both backends must find the same one), plus data whose
 * rank is below k (deflation, the noise-floor count) and the iteration cap as an error.
 */
import assert from "node:assert/strict";
import { ConvergenceError, InputError } from "../../../shared/errors.ts";
import {
  DEFAULT_SUBSPACE_PARAMS,
  type LayerSubspace,
  type Matrix,
  matrix,
  type SubspaceParams,
} from "../../../gpu-worker/profs/backend.ts";
import { createCpuBackend } from "../../../gpu-worker/profs/cpu/backend.ts";
import { webGpuBackend } from "../../../gpu-worker/profs/webgpu/backend.ts";
import { CHECK_EVERY } from "../../../gpu-worker/profs/webgpu/subspace.ts";
import { acquireGpu } from "../../../gpu-worker/runtime/gpu.ts";
import { gramCpu } from "../../../gpu-worker/kernels/gram.ts";
import { assertClose } from "../../helpers/assert_close.ts";
import { gpuAdapter, noGpu } from "../../helpers/env.ts";
import { factorModel, gaussianMatrix, largestAngle, orthonormal } from "./fixtures.ts";

const cpu = createCpuBackend();
const gpu = noGpu() ? null : await acquireGpu({ adapter: gpuAdapter! });
const webgpu = gpu ? webGpuBackend(gpu) : null;
const ignore = !webgpu;
globalThis.addEventListener("unload", () => webgpu?.dispose());

const PARAMS: SubspaceParams = DEFAULT_SUBSPACE_PARAMS;

/** The first `m` columns of a [d, k] basis. */
function leading(basis: Matrix, m: number): Float32Array {
  const out = new Float32Array(basis.rows * m);
  for (let r = 0; r < basis.rows; r++) {
    for (let j = 0; j < m; j++) out[r * m + j] = basis.data[r * basis.cols + j];
  }
  return out;
}

function assertSameSubspace(actual: LayerSubspace, expected: LayerSubspace, m: number, label: string): void {
  const d = actual.basis.rows, k = actual.basis.cols;
  const g = gramCpu(actual.basis.data, actual.basis.data, { r: d, ka: k, kb: k });
  // f32 basis: each Gram entry sums D products rounded at 2⁻²⁴.
  assertClose(g, g.map((_, i) => (Math.floor(i / k) === i % k ? 1 : 0)), {
    atol: 1e-5,
    label: `${label}: VᵀV`,
  });
  for (let i = 1; i < k; i++) {
    assert.ok(actual.singularValues[i - 1] >= actual.singularValues[i], `${label}: σ not descending`);
  }
  // Both converged (the CPU to 1e-6, webgpu to max(1e-6, ε·σ₁/σ_k) ≤ 1e-5 here, σ₁/σ_k ≤ ~70 by construction)
  // on a subspace separated from the rest by a gap of ≥ 10×: they agree far inside 1e-4 rad.
  const angle = largestAngle(leading(actual.basis, m), leading(expected.basis, m), d, m);
  assert.ok(angle < 1e-4, `${label}: largest principal angle to the cpu backend's ${angle}`);
  // σ from Rayleigh–Ritz on Ritz-ordered columns: relative accuracy ~f32 rounding times σ₁/σᵢ ≤ 1e-5.
  assertClose(actual.singularValues.slice(0, m), expected.singularValues.slice(0, m), {
    rtol: 1e-5,
    label: `${label}: σ`,
  });
}

for (const k of [1, 2, 8, 16, 32, 64]) {
  Deno.test({
    name: `webgpu finds the cpu backend's subspace at rank ${k}, in a similar number of steps`,
    ignore,
    async fn() {
      const n = 2 * k + 40, d = k + 24;
      const data = factorModel(n, d, k, 100 + k);
      const expected = await cpu.toxicSubspace(data.preferred, data.rejected, { ...PARAMS, rank: k });
      const actual = await webgpu!.toxicSubspace(data.preferred, data.rejected, { ...PARAMS, rank: k });
      assert.equal(actual.converged, true);
      assert.equal(actual.effectiveRank, k);
      assertSameSubspace(actual, expected, k, `k=${k}`);
      // Checks every CHECK_EVERY steps and converges when two consecutive ones agree; the CPU checks every step.
      assert.ok(
        actual.iterations <= Math.max(2 * expected.iterations, expected.iterations + 2 * CHECK_EVERY),
        `webgpu ${actual.iterations} steps, cpu ${expected.iterations}`,
      );
    },
  });
}

for (
  const [label, n, d, k] of [
    ["N < k + 8 (the block is the row space)", 12, 40, 8],
    ["D < k + 8 (the block is the column space)", 60, 12, 8],
    ["N = k", 8, 40, 8],
    ["N = 1, k = 1", 1, 20, 1],
  ] as Array<[string, number, number, number]>
) {
  Deno.test({
    name: `webgpu finds the cpu backend's subspace when ${label}`,
    ignore,
    async fn() {
      const data = factorModel(n, d, k, 7 * n + d);
      const expected = await cpu.toxicSubspace(data.preferred, data.rejected, { ...PARAMS, rank: k });
      const actual = await webgpu!.toxicSubspace(data.preferred, data.rejected, { ...PARAMS, rank: k });
      assert.equal(actual.converged, true);
      assert.equal(actual.effectiveRank, expected.effectiveRank);
      assertSameSubspace(actual, expected, expected.effectiveRank, label);
    },
  });
}

Deno.test({
  name: "webgpu and cpu reject N < k with the same message",
  ignore,
  async fn() {
    const data = factorModel(6, 30, 2, 1);
    const params = { ...PARAMS, rank: 8 };
    const cpuError = await cpu.toxicSubspace(data.preferred, data.rejected, params).then(
      () => null,
      (e) => e,
    );
    assert.ok(cpuError instanceof InputError);
    assert.match(cpuError.message, /'rank' must be an integer from 1 to 6 \(pairs: 6/);
    await assert.rejects(
      webgpu!.toxicSubspace(data.preferred, data.rejected, params),
      (error: unknown) => error instanceof InputError && error.message === cpuError.message,
    );
  },
});

Deno.test({
  name: "webgpu deflates data of rank 3 asked for rank 8: same top 3 as cpu, the rest at the noise floor",
  ignore,
  async fn() {
    const n = 50, d = 40;
    const data = factorModel(n, d, 3, 5, 0); // no noise: T = −B f / 2 has rank 3 up to f32 rounding
    const params = { ...PARAMS, rank: 8 };
    const expected = await cpu.toxicSubspace(data.preferred, data.rejected, params);
    const actual = await webgpu!.toxicSubspace(data.preferred, data.rejected, params);
    for (const [name, result] of [["cpu", expected], ["webgpu", actual]] as const) {
      assert.equal(result.converged, true, name);
      assert.equal(result.effectiveRank, 3, `${name}: ${result.singularValues}`);
      for (const s of result.singularValues.slice(3)) assert.ok(s <= result.noiseFloor, `${name}: σ ${s}`);
    }
    assertSameSubspace(actual, expected, 3, "rank 3 of 8");
  },
});

Deno.test({
  name: "webgpu fails with a ConvergenceError naming the iterations and the residual at its cap",
  ignore,
  async fn() {
    const data = { preferred: gaussianMatrix(30, 20, 1), rejected: gaussianMatrix(30, 20, 2) };
    await assert.rejects(
      webgpu!.toxicSubspace(data.preferred, data.rejected, { ...PARAMS, rank: 4, maxIterations: 3 }),
      (error: unknown) =>
        error instanceof ConvergenceError && error.details.iterations === 3 &&
        error.details.residual > error.details.tolerance &&
        /within 3 iterations: the residual .* is (\d\.\d+e[-+]\d+|Infinity)/.test(error.message),
    );
  },
});

Deno.test({
  name: "webgpu on all-zero columns and duplicated pairs stays finite and orthonormal",
  ignore,
  async fn() {
    const n = 20, d = 16;
    const base = gaussianMatrix(5, d, 3).data;
    const preferred = new Float32Array(n * d); // 4 copies of 5 rows, column 0 always zero
    for (let i = 0; i < n; i++) for (let c = 1; c < d; c++) preferred[i * d + c] = base[(i % 5) * d + c];
    const params = { ...PARAMS, rank: 6, centering: false };
    const rejected = matrix(n, d);
    const expected = await cpu.toxicSubspace(matrix(n, d, preferred), rejected, params);
    const actual = await webgpu!.toxicSubspace(matrix(n, d, preferred), rejected, params);
    assert.equal(expected.effectiveRank, 5);
    assert.equal(actual.effectiveRank, 5);
    assert.ok(actual.basis.data.every(Number.isFinite));
    assertSameSubspace(actual, expected, 5, "duplicated pairs");
  },
});

Deno.test({
  name: "webgpu's Chebyshev filter converges on a 0.1% gap in about as many applications as the cpu backend",
  ignore,
  async fn() {
    // σⱼ = 2(1 − 0.001·j): plain steps would need ~3000 applications to 1e-6; the CPU's filter takes 85.
    const n = 40, d = 40, k = 2;
    const u = orthonormal(n, n, 3), v = orthonormal(d, d, 4);
    const t = new Float32Array(n * d);
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < d; c++) {
        let s = 0;
        for (let j = 0; j < n; j++) s += u[i * n + j] * (1 - 0.001 * j) * v[c * d + j];
        t[i * d + c] = 2 * s; // T = X⁺/2 with X⁻ = 0
      }
    }
    const params = { ...PARAMS, rank: k, centering: false, maxIterations: 5000 };
    const expected = await cpu.toxicSubspace(matrix(n, d, t), matrix(n, d), params);
    const actual = await webgpu!.toxicSubspace(matrix(n, d, t), matrix(n, d), params);
    assert.ok(
      actual.iterations <= 1.5 * expected.iterations + 10,
      `${actual.iterations} vs ${expected.iterations}`,
    );
    // The f32 floor for a 0.1% eigengap is ~4e-5 (f32Tolerance): both sit within it of the exact subspace.
    const angle = largestAngle(actual.basis.data, expected.basis.data, d, k);
    assert.ok(angle < 1e-4, `largest principal angle ${angle}`);
    assert.ok(actual.tolerance > PARAMS.tolerance && actual.residual < actual.tolerance);
  },
});
