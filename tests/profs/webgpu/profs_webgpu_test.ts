/**
 * The webgpu ProFS backend against the CPU oracle (createCpuBackend) and against invariants: orthonormal
 * columns, descending singular values, the planted subspace of the factor model, exact SVD on small matrices,
 * principal angles rather than raw bases (signs and bases are not unique), and the projection's identities.
 */
import assert from "node:assert/strict";
import { InputError } from "../../../shared/errors.ts";
import {
  DEFAULT_SUBSPACE_PARAMS,
  type Matrix,
  matrix,
  type SubspaceParams,
} from "../../../gpu-worker/profs/backend.ts";
import { createCpuBackend } from "../../../gpu-worker/profs/cpu/backend.ts";
import { svd } from "../../../gpu-worker/profs/cpu/linalg.ts";
import { projectOut } from "../../../gpu-worker/profs/cpu/projection.ts";
import { createWebGpuBackend, webGpuBackend } from "../../../gpu-worker/profs/webgpu/backend.ts";
import { selectBackend } from "../../../gpu-worker/profs/select.ts";
import { acquireGpu } from "../../../gpu-worker/runtime/gpu.ts";
import { gramCpu } from "../../../gpu-worker/kernels/gram.ts";
import { rowsDotCpu } from "../../../gpu-worker/kernels/rows_dot.ts";
import { colsDotCpu } from "../../../gpu-worker/kernels/cols_dot.ts";
import { assertClose } from "../../helpers/assert_close.ts";
import { gpuAdapter, noGpu } from "../../helpers/env.ts";
import { factorModel, gaussianMatrix, largestAngle } from "./fixtures.ts";

const cpu = createCpuBackend();
const gpu = noGpu() ? null : await acquireGpu({ adapter: gpuAdapter! });
const webgpu = gpu ? webGpuBackend(gpu) : null;
const ignore = !webgpu;
globalThis.addEventListener("unload", () => webgpu?.dispose());

const PARAMS: SubspaceParams = { ...DEFAULT_SUBSPACE_PARAMS, tolerance: 1e-6 };

function assertOrthonormal(basis: Matrix, label: string): void {
  const g = gramCpu(basis.data, basis.data, { r: basis.rows, ka: basis.cols, kb: basis.cols });
  const identity = g.map((_, i) => (Math.floor(i / basis.cols) === i % basis.cols ? 1 : 0));
  // f32 basis: each Gram entry sums D products rounded at 2⁻²⁴; 1e-5 leaves room for D ≈ 1000.
  assertClose(g, identity, { atol: 1e-5, label: `${label}: VᵀV = I` });
}

function assertDescending(values: number[], label: string): void {
  for (let i = 1; i < values.length; i++) {
    assert.ok(values[i - 1] >= values[i], `${label}: σ not descending ${values}`);
  }
}

Deno.test({
  name: "webgpu finds the same toxic subspace as the cpu backend on the factor model (centering on)",
  ignore,
  async fn() {
    const n = 60, d = 47, k = 2;
    const data = factorModel(n, d, k, 3);
    const expected = await cpu.toxicSubspace(data.preferred, data.rejected, PARAMS);
    const actual = await webgpu!.toxicSubspace(data.preferred, data.rejected, PARAMS);
    assert.equal(actual.converged, true);
    assert.ok(actual.residual < PARAMS.tolerance);
    assertOrthonormal(actual.basis, "factor model");
    assertDescending(actual.singularValues, "factor model");
    // Both converged to a subspace change below 1e-6 in gaps of ~7×: they agree far inside 1e-4 rad.
    assert.ok(largestAngle(actual.basis.data, expected.basis.data, d, k) < 1e-4);
    // The planted B is recovered up to sampling noise: with 60 pairs the exact top-2 subspace of T sits ~0.11 rad
    // from B (the CPU backend's answer too), so 0.2 separates "found B" from "found something else".
    assert.ok(largestAngle(actual.basis.data, data.toxic, d, k) < 0.2);
    assertClose(actual.singularValues, expected.singularValues, { rtol: 1e-5, label: "σ" });
    assertClose(actual.explainedVariance, expected.explainedVariance, {
      rtol: 1e-4,
      label: "explained variance",
    });
    // Same sign convention: the bases themselves agree, not only their spans.
    assertClose(actual.basis.data, expected.basis.data, { atol: 1e-4, label: "V" });
  },
});

Deno.test({
  name: "webgpu matches the exact SVD of T on odd sizes without centering, with k = 3",
  ignore,
  async fn() {
    const n = 41, d = 23, k = 3;
    const preferred = gaussianMatrix(n, d, 7);
    const rejected = matrix(n, d); // T = X⁺ / 2
    const params = { ...PARAMS, rank: k, centering: false };
    const actual = await webgpu!.toxicSubspace(preferred, rejected, params);
    const exact = svd(Float64Array.from(preferred.data, (x) => x / 2), n, d);
    const exactBasis = new Float64Array(d * k);
    for (let r = 0; r < d; r++) for (let j = 0; j < k; j++) exactBasis[r * k + j] = exact.v[r * d + j];
    assert.equal(actual.converged, true);
    assertOrthonormal(actual.basis, "gaussian");
    assertDescending(actual.singularValues, "gaussian");
    assertClose(actual.singularValues, [...exact.s.subarray(0, k)], { rtol: 1e-5, label: "σ vs exact SVD" });
    assert.ok(largestAngle(actual.basis.data, exactBasis, d, k) < 1e-4);
    let total = 0;
    for (const s of exact.s) total += s * s;
    assertClose(actual.explainedVariance, [...exact.s.subarray(0, k)].map((s) => (s * s) / total), {
      rtol: 1e-4,
      label: "explained variance",
    });
  },
});

Deno.test({
  name: "webgpu handles degenerate shapes: one pair (1×D) and one hidden unit (N×1)",
  ignore,
  async fn() {
    const row = gaussianMatrix(1, 9, 5);
    const one = await webgpu!.toxicSubspace(row, matrix(1, 9), { ...PARAMS, rank: 1, centering: false });
    const norm = Math.hypot(...row.data);
    const expected = row.data.map((x) => x / norm);
    const sign = Math.sign(
      expected[expected.reduce((best, x, i) => Math.abs(x) > Math.abs(expected[best]) ? i : best, 0)],
    );
    assertClose(one.basis.data, expected.map((x) => sign * x), { atol: 1e-6, label: "1×D basis" });
    assertClose(one.singularValues, [norm / 2], { rtol: 1e-6, label: "1×D σ" });

    const column = gaussianMatrix(7, 1, 6);
    const unit = await webgpu!.toxicSubspace(column, matrix(7, 1), { ...PARAMS, rank: 1, centering: false });
    assert.deepEqual([...unit.basis.data], [1]);
    assertClose(unit.explainedVariance, [1], { rtol: 1e-6, label: "N×1 explained variance" });
  },
});

Deno.test({
  name: "webgpu rejects what the cpu backend rejects, with the same message",
  ignore,
  async fn() {
    const same = gaussianMatrix(5, 4, 1);
    for (
      const [preferred, rejected, params] of [
        [same, same, PARAMS], // every difference is zero
        [same, gaussianMatrix(5, 4, 2), { ...PARAMS, rank: 4 }], // rank > D − 1 with centering
        [same, gaussianMatrix(4, 4, 2), PARAMS], // shapes differ
      ] as Array<[Matrix, Matrix, SubspaceParams]>
    ) {
      const cpuError = await cpu.toxicSubspace(preferred, rejected, params).then(() => null, (e) => e);
      assert.ok(cpuError instanceof InputError);
      await assert.rejects(
        webgpu!.toxicSubspace(preferred, rejected, params),
        (error: unknown) => error instanceof InputError && error.message === cpuError.message,
      );
    }
  },
});

for (const orientation of ["d-cols", "d-rows"] as const) {
  Deno.test({
    name: `webgpu projection (${orientation}) matches the cpu backend and leaves W orthogonal to V`,
    ignore,
    async fn() {
      const d = 37, k = 2, other = 4 * d + 3;
      const weight = orientation === "d-cols" ? gaussianMatrix(other, d, 11) : gaussianMatrix(d, other, 11);
      const subspace = await cpu.toxicSubspace(gaussianMatrix(20, d, 1), gaussianMatrix(20, d, 2), PARAMS);
      const expected = projectOut(weight, subspace.basis, orientation);
      const actual = await webgpu!.project(weight, subspace.basis, orientation);
      // "Edited weights within 1e-4 relative" (issue 4), relative to the weight's scale (entries ~1).
      assertClose(actual.edited.data, expected.edited.data, { atol: 1e-4, rtol: 1e-4, label: "edited" });
      assertClose(actual.removed.data, expected.removed.data, { atol: 1e-4, rtol: 1e-4, label: "removed" });
      assert.deepEqual([actual.removed.rows, actual.removed.cols], [
        expected.removed.rows,
        expected.removed.cols,
      ]);
      const residual = orientation === "d-cols"
        ? rowsDotCpu(actual.edited.data, subspace.basis.data, { m: other, k: d, kb: k }) // (W − W V Vᵀ) V
        : colsDotCpu(actual.edited.data, subspace.basis.data, { m: d, n: other, kb: k }); // Vᵀ (W − V Vᵀ W)
      assertClose(residual, new Float32Array(residual.length), { atol: 1e-5, label: "edited · V" });
    },
  });
}

Deno.test({
  name: "createWebGpuBackend and selectBackend('webgpu') give the webgpu backend when an adapter exists",
  ignore,
  async fn() {
    const created = await createWebGpuBackend();
    assert.equal(created?.name, "webgpu");
    created!.dispose();
    const selected = await selectBackend("webgpu");
    assert.equal(selected.name, "webgpu");
    selected.dispose();
  },
});
