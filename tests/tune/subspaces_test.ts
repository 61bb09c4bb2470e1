/**
 * Nested ranks: the first k columns of one rank-k_max decomposition are the rank-k subspace a plain edit
 * computes (to the iteration's tolerance), because both backends order the basis by descending singular value.
 */
import assert from "node:assert/strict";
import { createCpuBackend } from "../../gpu-worker/profs/cpu/backend.ts";
import { principalAngles } from "../../gpu-worker/profs/cpu/linalg.ts";
import { DEFAULT_SUBSPACE_PARAMS, type Matrix } from "../../gpu-worker/profs/backend.ts";
import { leadingColumns, nestedSubspaces } from "../../gpu-worker/tune/subspaces.ts";
import { createRandom } from "../../gpu-worker/profs/random.ts";

const N = 40, D = 24;

/** Pairs whose difference holds 6 directions with well separated strengths, plus noise. */
function layer(seed: number): { preferred: Matrix; rejected: Matrix } {
  const random = createRandom(seed);
  const preferred = new Float32Array(N * D), rejected = new Float32Array(N * D);
  const directions = Array.from({ length: 6 }, () => Float64Array.from({ length: D }, () => random.normal()));
  for (let i = 0; i < N; i++) {
    for (let d = 0; d < D; d++) {
      const common = 3 + 0.3 * random.normal();
      preferred[i * D + d] = common + 0.01 * random.normal();
      rejected[i * D + d] = common + 0.01 * random.normal();
    }
    directions.forEach((v, j) => {
      const a = (6 - j) * random.normal();
      for (let d = 0; d < D; d++) rejected[i * D + d] += a * v[d] / Math.sqrt(D);
    });
  }
  return { preferred: { rows: N, cols: D, data: preferred }, rejected: { rows: N, cols: D, data: rejected } };
}

Deno.test("the first k columns of a rank-8 decomposition span the rank-k subspace of a rank-k run", async () => {
  const backend = createCpuBackend();
  const layers = [layer(1), layer(2)];
  for (const centering of [true, false]) {
    const nested = await nestedSubspaces(backend, (l) => Promise.resolve(layers[l]), {
      layers: [0, 1],
      centering: [centering],
      params: { ...DEFAULT_SUBSPACE_PARAMS, rank: 8 },
    });
    for (const l of [0, 1]) {
      const full = nested.full.get(`${l}/c${centering ? 1 : 0}`)!;
      // Ordered by singular value, as the prefix rule needs.
      for (let i = 1; i < full.singularValues.length; i++) {
        assert.ok(full.singularValues[i] <= full.singularValues[i - 1]);
      }
      for (const k of [1, 2, 3, 5]) {
        const direct = await backend.toxicSubspace(layers[l].preferred, layers[l].rejected, {
          ...DEFAULT_SUBSPACE_PARAMS,
          rank: k,
          centering,
        });
        const prefix = nested.basis(l, centering, k);
        assert.equal(prefix.cols, k);
        const angles = principalAngles(
          Float64Array.from(prefix.data),
          Float64Array.from(direct.basis.data),
          D,
          k,
        );
        assert.ok(Math.max(...angles) < 1e-4, `layer ${l} centering ${centering} k ${k}: ${angles}`);
      }
    }
  }
});

Deno.test("leadingColumns copies the first k columns of a row-major basis", () => {
  const basis = { rows: 2, cols: 3, data: Float32Array.from([1, 2, 3, 4, 5, 6]) };
  assert.deepEqual([...leadingColumns(basis, 2).data], [1, 2, 4, 5]);
  assert.equal(leadingColumns(basis, 3), basis);
  assert.throws(() => leadingColumns(basis, 4), RangeError);
});
