import assert from "node:assert/strict";
import { createRandom } from "../../../gpu-worker/profs/random.ts";
import {
  largestAngleSine,
  largestAngleSineRows,
  matmul,
  matmulTransposeA,
  multiplyTransposed,
  orthonormalizeColumns,
  orthonormalizeRows,
  principalAngles,
  svd,
  symmetricEigen,
  transpose,
} from "../../../gpu-worker/profs/cpu/linalg.ts";
import { assertClose } from "../../helpers/assert_close.ts";

function randomMatrix(rows: number, cols: number, seed: number): Float64Array {
  const r = createRandom(seed);
  return Float64Array.from({ length: rows * cols }, () => r.normal());
}

function assertOrthonormalColumns(q: Float64Array, rows: number, cols: number, label: string) {
  const gram = matmulTransposeA(q, q, rows, cols, cols);
  const identity = new Float64Array(cols * cols).map((_, i) => (i % (cols + 1) === 0 ? 1 : 0));
  // float64 Gram–Schmidt twice: orthogonal to a few ulps of 1.
  assertClose(gram, identity, { atol: 1e-13, label: `${label} QᵀQ = I` });
}

Deno.test("symmetricEigen: A V = V Λ with orthonormal V and descending Λ", () => {
  const n = 7;
  const b = randomMatrix(n, n, 1);
  const a = matmulTransposeA(b, b, n, n, n); // symmetric positive semi-definite
  for (let i = 0; i < n; i++) a[i * n + i] -= 3; // and indefinite
  const { values, vectors } = symmetricEigen(a, n);
  for (let i = 1; i < n; i++) assert.ok(values[i - 1] >= values[i], "descending");
  assertOrthonormalColumns(vectors, n, n, "eigenvectors");
  const av = matmul(a, vectors, n, n, n);
  const vl = vectors.map((x, i) => x * values[i % n]);
  assertClose(av, vl, { atol: 1e-12, label: "A V = V Λ" });
});

for (const [m, n] of [[9, 5], [5, 9], [1, 4], [6, 6]]) {
  Deno.test(`svd of a ${m}×${n} matrix reconstructs it with orthonormal factors`, () => {
    const a = randomMatrix(m, n, m * 10 + n);
    const { u, s, v } = svd(a, m, n);
    const r = Math.min(m, n);
    for (let i = 1; i < r; i++) assert.ok(s[i - 1] >= s[i]);
    assertOrthonormalColumns(u, m, r, "U");
    assertOrthonormalColumns(v, n, r, "V");
    const us = u.map((x, i) => x * s[i % r]);
    assertClose(matmul(us, transpose(v, n, r), m, r, n), a, { atol: 1e-12, label: "U S Vᵀ = A" });
  });
}

Deno.test("svd reports the rank of a rank-deficient matrix", () => {
  const left = randomMatrix(8, 2, 3);
  const right = randomMatrix(2, 6, 4);
  const { rank, s } = svd(matmul(left, right, 8, 2, 6), 8, 6);
  assert.equal(rank, 2);
  assert.ok(s[2] < 1e-12 * s[0]);
});

Deno.test("orthonormalizeColumns replaces a dependent column by an independent one", () => {
  const rows = 6, cols = 3;
  const q = randomMatrix(rows, cols, 5);
  for (let r = 0; r < rows; r++) q[r * cols + 2] = 2 * q[r * cols] - q[r * cols + 1];
  orthonormalizeColumns(q, rows, cols, createRandom(9));
  assertOrthonormalColumns(q, rows, cols, "Q");
});

Deno.test("principal angles and the largest-angle sine agree on a known rotation", () => {
  // span{e0, e1} vs span{e0, cos θ e1 + sin θ e2}: angles 0 and θ.
  const theta = 1e-4;
  const a = new Float64Array([1, 0, 0, 1, 0, 0]); // [3, 2]
  const b = new Float64Array([1, 0, 0, Math.cos(theta), 0, Math.sin(theta)]);
  const angles = principalAngles(a, b, 3, 2);
  assertClose(angles, [0, theta], { atol: 1e-8, label: "angles" });
  // The residual form keeps small angles to full relative precision.
  assertClose([largestAngleSine(a, b, 3, 2)], [Math.sin(theta)], { rtol: 1e-10, label: "sine" });
});

Deno.test("row-layout helpers agree with the column-layout ones", () => {
  const d = 11, k = 3;
  const a = randomMatrix(d, k, 21);
  orthonormalizeColumns(a, d, k, createRandom(1));
  const rows = transpose(randomMatrix(d, k, 21), d, k); // same start, rows [k, d]
  orthonormalizeRows(rows, k, d, createRandom(1));
  assertClose(rows, transpose(a, d, k), { atol: 1e-14, label: "Gram–Schmidt rows vs columns" });
  const b = randomMatrix(d, k, 22);
  orthonormalizeColumns(b, d, k, createRandom(2));
  assertClose(
    [largestAngleSineRows(transpose(a, d, k), transpose(b, d, k), k, d)],
    [largestAngleSine(a, b, d, k)],
    { rtol: 1e-12, label: "sine" },
  );
});

Deno.test("multiplyTransposed is a bᵀ for odd and even shapes, and its symmetric form a aᵀ", () => {
  for (const [m, p, len] of [[5, 3, 7], [4, 6, 8], [1, 1, 1], [3, 1, 2]]) {
    const a = randomMatrix(m, len, m + p);
    const b = randomMatrix(p, len, len);
    // a bᵀ = (aᵀ)ᵀ bᵀ with aᵀ [len, m] and bᵀ [len, p]
    const expected = matmulTransposeA(transpose(a, m, len), transpose(b, p, len), len, m, p);
    assertClose(multiplyTransposed(a, m, b, p, len), expected, {
      atol: 1e-12,
      label: `[${m}, ${p}, ${len}]`,
    });
    const gram = matmulTransposeA(transpose(a, m, len), transpose(a, m, len), len, m, m);
    assertClose(multiplyTransposed(a, m, a, m, len, true), gram, {
      atol: 1e-12,
      label: `a aᵀ [${m}, ${len}]`,
    });
  }
});
