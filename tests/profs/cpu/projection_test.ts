import assert from "node:assert/strict";
import { createRandom } from "../../../gpu-worker/profs/random.ts";
import { type Matrix, matrix } from "../../../gpu-worker/profs/backend.ts";
import { createCpuBackend } from "../../../gpu-worker/profs/cpu/backend.ts";
import { orthonormalizeColumns } from "../../../gpu-worker/profs/cpu/linalg.ts";
import { applyRemoved, projectOut } from "../../../gpu-worker/profs/cpu/projection.ts";
import { assertClose } from "../../helpers/assert_close.ts";

function randomMatrix(rows: number, cols: number, seed: number): Matrix {
  const r = createRandom(seed);
  return matrix(rows, cols, Float32Array.from({ length: rows * cols }, () => 0.02 * r.normal()));
}

function basis(d: number, k: number, seed: number): Matrix {
  const q = Float64Array.from({ length: d * k }, createRandom(seed).normal);
  orthonormalizeColumns(q, d, k, createRandom(seed));
  return matrix(d, k, Float32Array.from(q));
}

function transposed(m: Matrix): Matrix {
  const out = new Float32Array(m.data.length);
  for (let r = 0; r < m.rows; r++) {
    for (let c = 0; c < m.cols; c++) out[c * m.rows + r] = m.data[r * m.cols + c];
  }
  return matrix(m.cols, m.rows, out);
}

/** The naive oracle: form P = I − V Vᵀ [D, D] in float64 and multiply W [R, D] · P. */
function naiveProjection(w: Matrix, v: Matrix): Float64Array {
  const d = w.cols, k = v.cols;
  const p = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < d; j++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += v.data[i * k + t] * v.data[j * k + t];
      p[i * d + j] = (i === j ? 1 : 0) - s;
    }
  }
  const out = new Float64Array(w.rows * d);
  for (let r = 0; r < w.rows; r++) {
    for (let j = 0; j < d; j++) {
      let s = 0;
      for (let i = 0; i < d; i++) s += w.data[r * d + i] * p[i * d + j];
      out[r * d + j] = s;
    }
  }
  return out;
}

// Shapes that break naive kernels: odd sizes, k = 1, and a GPT-2-like [4D, D] (the naive D×D oracle is too slow
// for a real GPT-2 layer in a unit test).
for (const [rows, d, k] of [[4 * 7, 7, 1], [33, 13, 3], [384, 96, 2]]) {
  Deno.test(`projection of a ${rows}×${d} weight (d-cols, k=${k}) equals W(I − VVᵀ) and kills V`, () => {
    const w = randomMatrix(rows, d, rows + d);
    const v = basis(d, k, d);
    const { edited, removed } = projectOut(w, v, "d-cols");
    assert.deepEqual([removed.rows, removed.cols], [rows, k]);
    // Both sides are float64 sums rounded once to float32: they differ by about an ulp of |W| ≈ 0.02 (1e-9).
    assertClose(edited.data, naiveProjection(w, v), { atol: 1e-8, rtol: 1e-6, label: "edited" });
    const residual = projectOut(edited, v, "d-cols").removed; // (W − WVVᵀ)V = 0
    assertClose(residual.data, new Float32Array(rows * k), { atol: 1e-8, label: "edited · V" });
  });
}

Deno.test("d-rows projection is the transpose of d-cols projection", () => {
  const w = randomMatrix(52, 13, 3); // [4D, D]
  const v = basis(13, 2, 4);
  const cols = projectOut(w, v, "d-cols");
  const rows = projectOut(transposed(w), v, "d-rows");
  assert.deepEqual(rows.edited.data, transposed(cols.edited).data);
  assert.deepEqual(rows.removed.data, transposed(cols.removed).data);
});

Deno.test("re-applying the removed part reproduces the edit bit for bit and reverting restores W", () => {
  for (const orientation of ["d-cols", "d-rows"] as const) {
    const w = orientation === "d-cols" ? randomMatrix(40, 10, 5) : randomMatrix(10, 40, 5);
    const v = basis(10, 2, 6);
    const { edited, removed } = projectOut(w, v, orientation);
    assert.deepEqual(applyRemoved(w, v, removed, orientation, -1).data, edited.data, orientation);
    const reverted = applyRemoved(edited, v, removed, orientation, 1);
    // Two float32 roundings of values ≈ 0.02: within a couple of ulps (ulp ≈ 2e-9).
    assertClose(reverted.data, w.data, { atol: 1e-8, label: `${orientation} revert` });
  }
});

Deno.test("the cpu backend projects in place, bit for bit the same as into a fresh array", async () => {
  for (const orientation of ["d-cols", "d-rows"] as const) {
    const w = orientation === "d-cols" ? randomMatrix(40, 10, 7) : randomMatrix(10, 40, 7);
    const v = basis(10, 2, 8);
    const expected = projectOut(w, v, orientation); // fresh output; w untouched
    const handedOver = matrix(w.rows, w.cols, w.data.slice());
    const { edited, removed } = await createCpuBackend().project(handedOver, v, orientation);
    assert.equal(edited.data, handedOver.data, `${orientation}: edited shares the weight's storage`);
    assert.deepEqual(edited.data, expected.edited.data, orientation);
    assert.deepEqual(removed.data, expected.removed.data, orientation);
  }
  assert.throws(
    () => projectOut(randomMatrix(4, 3, 1), basis(3, 1, 1), "d-cols", new Float32Array(11)),
    /'out' must hold 12 values: it holds 11/,
  );
});

Deno.test("a basis with the wrong number of rows is refused", async () => {
  await assert.rejects(
    createCpuBackend().project(randomMatrix(8, 4, 1), basis(5, 1, 1), "d-cols"),
    /must have 4 rows/,
  );
});
