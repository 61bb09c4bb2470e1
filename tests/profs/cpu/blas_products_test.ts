/**
 * The CPU ProFS stage with its products on OpenBLAS's dgemm finds the same subspace as with the TypeScript loops:
 * same singular values to float64 rounding of the iteration, principal angles at the convergence tolerance.
 */
import assert from "node:assert/strict";
import { typescriptGemm } from "../../../gpu-worker/blas/gemm.ts";
import { DEFAULT_SUBSPACE_PARAMS } from "../../../gpu-worker/profs/backend.ts";
import { createCpuBackend } from "../../../gpu-worker/profs/cpu/backend.ts";
import { principalAngles, times, timesTransposed } from "../../../gpu-worker/profs/cpu/linalg.ts";
import { toxicSubspaceCpu } from "../../../gpu-worker/profs/cpu/subspace.ts";
import { createRandom } from "../../../gpu-worker/profs/random.ts";
import { assertClose } from "../../helpers/assert_close.ts";
import { blasGemm, noBlas } from "../../helpers/env.ts";
import { factorModel } from "../webgpu/fixtures.ts";

const params = { ...DEFAULT_SUBSPACE_PARAMS, rank: 3, tolerance: 1e-9 };

Deno.test({
  name: "toxicSubspaceCpu on OpenBLAS dgemm equals the TypeScript loops' subspace (N < D and N > D)",
  ignore: noBlas(),
  fn() {
    for (const [n, d] of [[60, 97], [130, 33]]) {
      const data = factorModel(n, d, 3, 5);
      const plain = toxicSubspaceCpu(data.preferred, data.rejected, params);
      const blas = toxicSubspaceCpu(data.preferred, data.rejected, { ...params, gemm: blasGemm });
      assert.ok(plain.converged && blas.converged);
      // Both stop at sin θ ≤ 1e-9 from the exact subspace; the values then agree to about that squared.
      assertClose(blas.singularValues, plain.singularValues, { rtol: 1e-9, label: `σ N=${n} D=${d}` });
      const angles = principalAngles(
        Float64Array.from(blas.basis.data),
        Float64Array.from(plain.basis.data),
        d,
        params.rank,
      );
      // float32 bases (rounded from float64) of the same subspace: angles at float32 rounding.
      assert.ok(Math.max(...angles) < 1e-6, `largest principal angle ${Math.max(...angles)}`);
    }
  },
});

Deno.test("the CPU backend runs its products on the gemm it is given", async () => {
  const calls: string[] = [];
  const twin = typescriptGemm();
  const counting = {
    ...twin,
    dgemm: (o: Parameters<typeof twin.dgemm>[0]) => (calls.push("d"), twin.dgemm(o)),
  };
  const data = factorModel(20, 16, 2, 9);
  const backend = createCpuBackend({ gemm: counting });
  const result = await backend.toxicSubspace(data.preferred, data.rejected, params);
  assert.ok(result.converged);
  assert.ok(calls.length > 0, "dgemm was called");
});

Deno.test("timesTransposed and times on a gemm equal the TypeScript products on odd shapes", () => {
  const random = createRandom(3);
  const fill = (n: number) => Float64Array.from({ length: n }, () => random.normal());
  for (const gemm of noBlas() ? [typescriptGemm()] : [typescriptGemm(), blasGemm]) {
    for (const [m, p, len] of [[1, 1, 1], [3, 5, 7], [10, 17, 129]]) {
      const a = fill(m * len), b = fill(p * len), bt = fill(len * p);
      // float64 sums of len products of O(1) values: 1e-12 relative covers any summation order.
      assertClose(timesTransposed(gemm, a, m, b, p, len), timesTransposed(undefined, a, m, b, p, len), {
        atol: 1e-12 * len,
        label: `${gemm.name} a bᵀ ${m}×${p}×${len}`,
      });
      const expected = new Float64Array(m * p);
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < p; j++) {
          for (let t = 0; t < len; t++) expected[i * p + j] += a[i * len + t] * bt[t * p + j];
        }
      }
      assertClose(times(gemm, a, m, bt, len, p), expected, { atol: 1e-12 * len, label: `${gemm.name} a b` });
    }
  }
});
