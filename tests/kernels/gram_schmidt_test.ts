/**
 * gram_schmidt against its twin and against its invariants (orthonormal columns, same leading span) on the
 * blocks that broke the one-invocation CholeskyQR it replaces: columns scaled over 20 orders of magnitude,
 * columns in the span of earlier ones (rank below K), zero columns, K = R, ragged sizes and the widest blocks.
 */
import assert from "node:assert/strict";
import { assertClose } from "../helpers/assert_close.ts";
import { noGpu } from "../helpers/env.ts";
import { encodeGramSchmidt, gramSchmidtCpu, noise } from "../../gpu-worker/kernels/gram_schmidt.ts";
import { gramCpu } from "../../gpu-worker/kernels/gram.ts";
import { randomArray, runKernel } from "./kernel_harness.ts";

function identity(k: number): number[] {
  return Array.from({ length: k * k }, (_, i) => (Math.floor(i / k) === i % k ? 1 : 0));
}

/** Blocks [R, K] named by what makes them hard. */
function blocks(): Array<{ label: string; rows: number; k: number; q: Float32Array }> {
  const scaled = randomArray(300 * 12, 1); // column j scaled by 10^(4 − 2j): 1e4 … 1e-18
  for (let r = 0; r < 300; r++) for (let j = 0; j < 12; j++) scaled[r * 12 + j] *= 10 ** (4 - 2 * j);
  const dependent = randomArray(70 * 9, 2); // columns 3..8 are combinations of columns 0..2 (rank 3 < K = 9)
  for (let r = 0; r < 70; r++) {
    for (let j = 3; j < 9; j++) {
      dependent[r * 9 + j] = dependent[r * 9 + (j % 3)] * (j + 1) - dependent[r * 9];
    }
  }
  const zeros = randomArray(33 * 5, 3); // columns 1 and 4 are zero
  for (let r = 0; r < 33; r++) zeros[r * 5 + 1] = zeros[r * 5 + 4] = 0;
  return [
    { label: "ragged 257×10", rows: 257, k: 10, q: randomArray(257 * 10, 4) },
    { label: "square 16×16", rows: 16, k: 16, q: randomArray(16 * 16, 5) },
    { label: "one column 5×1", rows: 5, k: 1, q: randomArray(5, 6) },
    { label: "scaled 1e4…1e-18", rows: 300, k: 12, q: scaled },
    { label: "rank 3 of 9", rows: 70, k: 9, q: dependent },
    { label: "zero columns", rows: 33, k: 5, q: zeros },
    // k = 64's block (b = 72) on a D = 88 model and on a long D: one dispatch for the whole block came back
    // unfinished on lavapipe from column ~47 (D = 2000) or ~67 (D = 88) on; one dispatch per column does not.
    { label: "k = 64 block 88×72", rows: 88, k: 72, q: randomArray(88 * 72, 8) },
    { label: "k = 64 block 2000×72", rows: 2000, k: 72, q: randomArray(2000 * 72, 9) },
  ];
}

Deno.test("gram_schmidt's twin returns orthonormal columns whose leading spans match the input's", () => {
  for (const { label, rows, k, q } of blocks()) {
    const out = gramSchmidtCpu(q, { rows, k, seed: 7 });
    // f32 output of a float64 computation: each Gram entry carries ~R·2⁻²⁴ rounding.
    assertClose(gramCpu(out, out, { r: rows, ka: k, kb: k }), identity(k), { atol: 1e-5, label });
    // Column 0 is the input's column 0, normalised (when it is not zero).
    let norm = 0;
    for (let r = 0; r < rows; r++) norm += q[r * k] ** 2;
    const first = Array.from({ length: rows }, (_, r) => q[r * k] / Math.sqrt(norm));
    assertClose(Array.from({ length: rows }, (_, r) => out[r * k]), first, {
      atol: 1e-6,
      label: `${label} col 0`,
    });
  }
});

Deno.test("gram_schmidt keeps a column 1e-20 the size of the others and replaces dependent ones", () => {
  const { rows, k, q } = blocks()[3];
  const out = gramSchmidtCpu(q, { rows, k, seed: 7 });
  // The last column (scale 1e-18) is orthogonalised against columns 1e4…1e-16 and survives: its own direction
  // minus its projections, not a replacement.
  let dot = 0;
  for (let r = 0; r < rows; r++) dot += out[r * k + 11] * noise(r, 11, 1, 7);
  assert.ok(Math.abs(dot) < 0.3, `column 11 looks like a replacement (· noise = ${dot})`);
  const dependent = blocks()[4];
  const rank3 = gramSchmidtCpu(dependent.q, { rows: dependent.rows, k: dependent.k, seed: 7 });
  assertClose(gramCpu(rank3, rank3, { r: 70, ka: 9, kb: 9 }), identity(9), { atol: 1e-5, label: "rank 3" });
});

Deno.test({
  name: "gram_schmidt matches its twin on scaled, rank-deficient, zero-column, square and ragged blocks",
  ignore: noGpu(),
  async fn() {
    for (const { label, rows, k, q } of blocks()) {
      const shape = { rows, k, seed: 7 };
      const { q: gpu } = await runKernel(
        {},
        { q },
        (g, batch, x) => encodeGramSchmidt(g, batch, { q: x.q }, shape),
      );
      // Orthonormal to f32 rounding summed over R rows.
      assertClose(gramCpu(gpu, gpu, { r: rows, ka: k, kb: k }), identity(k), {
        atol: 2e-5,
        label: `${label}: QᵀQ`,
      });
      // Same columns as the twin: f32 against float64 Gram–Schmidt of the same input (and the same replacement
      // vectors), to a few hundred ulps of the unit-length columns.
      assertClose(gpu, gramSchmidtCpu(q, shape), { atol: 2e-4, label: `${label}: vs twin` });
    }
  },
});

Deno.test("gram_schmidt refuses more columns than rows", () => {
  assert.throws(
    () => gramSchmidtCpu(new Float32Array(6), { rows: 2, k: 3, seed: 0 }),
    /'k' must be at most 'rows'/,
  );
});
