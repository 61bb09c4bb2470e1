/** The float64 b×b steps of the GPU subspace iteration (no GPU needed). */
import assert from "node:assert/strict";
import { largestSineFromGram, leadingColumns, rayleighRitz } from "../../../gpu-worker/profs/webgpu/ritz.ts";
import { gramCpu } from "../../../gpu-worker/kernels/gram.ts";
import { matmulCpu } from "../../../gpu-worker/kernels/matmul.ts";
import { largestAngleSine, symmetricEigen } from "../../../gpu-worker/profs/cpu/linalg.ts";
import { assertClose } from "../../helpers/assert_close.ts";
import { gaussianMatrix, orthonormal } from "./fixtures.ts";

Deno.test("rayleighRitz on a skewed basis returns orthonormal Ritz vectors of TᵀT by descending value", () => {
  const n = 30, d = 12, b = 5, k = 2;
  const t = gaussianMatrix(n, d, 3).data; // T [n, d]
  // Q spans a random 5-dim subspace but is not orthonormal: Q = O S with S upper triangular, far from I.
  const o = Float32Array.from(orthonormal(d, b, 4));
  const s = new Float32Array(b * b).map((_, i) => (Math.floor(i / b) <= i % b ? 1 + (i % 3) : 0));
  const q = matmulCpu(o, s, { m: d, n: b, k: b });
  const z = matmulCpu(t, q, { m: n, n: b, k: d });
  const ritz = rayleighRitz(gramCpu(z, z, { r: n, ka: b, kb: b }), gramCpu(q, q, { r: d, ka: b, kb: b }), b);
  const v = matmulCpu(q, leadingColumns(ritz.w, b, k), { m: d, n: k, k: b }); // [d, k]
  assertClose(gramCpu(v, v, { r: d, ka: k, kb: k }), [1, 0, 0, 1], { atol: 1e-5, label: "VᵀV" });
  assert.ok(ritz.values[0] >= ritz.values[1]);
  // The Ritz values are the eigenvalues of Oᵀ TᵀT O, whatever S was.
  const to = matmulCpu(t, o, { m: n, n: b, k: d });
  const exact = symmetricEigen(Float64Array.from(gramCpu(to, to, { r: n, ka: b, kb: b })), b);
  assertClose(ritz.values.slice(0, k), [...exact.values.subarray(0, k)], {
    rtol: 1e-5,
    label: "Ritz values",
  });
});

Deno.test("largestSineFromGram equals the sine of the largest principal angle", () => {
  const d = 20, k = 3;
  const a = orthonormal(d, k, 1);
  const b = orthonormal(d, k, 2);
  const bta = matmulCpu(Float32Array.from(b), Float32Array.from(a), { m: k, n: k, k: d, transA: true });
  const e = Float32Array.from(a); // E = A − B (Bᵀ A)
  const proj = matmulCpu(Float32Array.from(b), bta, { m: d, n: k, k });
  for (let i = 0; i < e.length; i++) e[i] -= proj[i];
  const sine = largestSineFromGram(gramCpu(e, e, { r: d, ka: k, kb: k }), k);
  assertClose([sine], [largestAngleSine(a, b, d, k)], { rtol: 1e-5, label: "sine" });
});
