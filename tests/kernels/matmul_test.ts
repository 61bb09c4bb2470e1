/** matmul.wgsl against its twin on tile multiples, ragged edges, degenerate shapes and all four transposes. */
import { assertClose } from "../helpers/assert_close.ts";
import { noGpu } from "../helpers/env.ts";
import { encodeMatmul, matmulCpu, type MatmulShape } from "../../gpu-worker/kernels/matmul.ts";
import { randomArray, runKernel } from "./kernel_harness.ts";
import assert from "node:assert/strict";

const SHAPES: Array<[number, number, number]> = [
  [64, 64, 16], // exactly one tile and one K slice
  [67, 70, 33], // ragged in every dimension, not multiples of 4
  [1, 37, 5], // 1×N output
  [37, 1, 5], // N×1 output
  [9, 8, 1], // K = 1
  [130, 12, 128], // several row tiles, aligned
  [20, 256, 2], // thin K, wide N
];

Deno.test("matmulCpu matches a hand-computed 2×2 product in every transpose form", () => {
  const a = Float32Array.of(1, 2, 3, 4); // [[1, 2], [3, 4]]
  const b = Float32Array.of(5, 6, 7, 8); // [[5, 6], [7, 8]]
  const shape = { m: 2, n: 2, k: 2 };
  assert.deepEqual([...matmulCpu(a, b, shape)], [19, 22, 43, 50]);
  assert.deepEqual([...matmulCpu(a, b, { ...shape, transA: true })], [26, 30, 38, 44]);
  assert.deepEqual([...matmulCpu(a, b, { ...shape, transB: true })], [17, 23, 39, 53]);
  assert.deepEqual([...matmulCpu(a, b, { ...shape, transA: true, transB: true })], [23, 31, 34, 46]);
});

for (const transA of [false, true]) {
  for (const transB of [false, true]) {
    Deno.test({
      name: `matmul${transA ? " Aᵀ" : " A"}${
        transB ? "·Bᵀ" : "·B"
      } matches its twin on ragged and degenerate shapes`,
      ignore: noGpu(),
      async fn() {
        for (const [m, n, k] of SHAPES) {
          const shape: MatmulShape = { m, n, k, transA, transB };
          const a = randomArray(m * k, m * 1000 + k);
          const b = randomArray(k * n, n * 1000 + k + 7);
          const { c } = await runKernel(
            { a, b },
            { c: m * n },
            (gpu, batch, buffers) =>
              encodeMatmul(gpu, batch, { a: buffers.a, b: buffers.b, c: buffers.c }, shape),
          );
          // Inputs in [-1, 1): each output sums k products, f32 rounding grows like k·2⁻²⁴ (1e-5 covers k ≤ 128).
          assertClose(c, matmulCpu(a, b, shape), {
            atol: 1e-5,
            rtol: 1e-5,
            label: `c ${JSON.stringify(shape)}`,
          });
        }
      },
    });
  }
}

Deno.test({
  name: "matmul rejects a zero dimension with the rule and the value",
  ignore: noGpu(),
  async fn() {
    await assert.rejects(
      runKernel(
        { a: new Float32Array(4), b: new Float32Array(4) },
        { c: 4 },
        (gpu, batch, buffers) =>
          encodeMatmul(gpu, batch, { a: buffers.a, b: buffers.b, c: buffers.c }, { m: 2, n: 2, k: 0 }),
      ),
      /'k' must be a positive integer: current value is 0/,
    );
  },
});
