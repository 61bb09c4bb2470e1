/**
 * The thin kernels of ProFS (rows_dot, cols_dot, gram, rank_k_update, scale_add, row_sum_squares) against
 * their twins (gram_schmidt has its own file), on shapes that are not multiples of the workgroup or of 4,
 * degenerate 1×N / N×1 / k = 1 shapes, and one real GPT-2 medium c_proj shape (W [4096, 1024], k = 2).
 */
import { assertClose } from "../helpers/assert_close.ts";
import { noGpu } from "../helpers/env.ts";
import { colsDotCpu, encodeColsDot } from "../../gpu-worker/kernels/cols_dot.ts";
import { encodeGram, gramCpu } from "../../gpu-worker/kernels/gram.ts";
import {
  encodeRankKUpdate,
  type RankKShape,
  rankKUpdateCpu,
} from "../../gpu-worker/kernels/rank_k_update.ts";
import { encodeRowsDot, rowsDotCpu } from "../../gpu-worker/kernels/rows_dot.ts";
import { encodeScaleAdd, scaleAddCpu } from "../../gpu-worker/kernels/scale_add.ts";
import { encodeRowSumSquares, rowSumSquaresCpu } from "../../gpu-worker/kernels/row_sum_squares.ts";
import { matmulCpu } from "../../gpu-worker/kernels/matmul.ts";
import { randomArray, runKernel } from "./kernel_harness.ts";

// Inputs in [-1, 1); sums of up to ~1000 products: f32 accumulation error stays below 1e-4 absolute.
const TOL = { atol: 1e-4, rtol: 1e-5 };

const THIN: Array<[number, number, number]> = [
  [1, 37, 2], // a single row
  [37, 1, 2], // a single column
  [65, 131, 1], // k = 1, ragged
  [70, 64, 3], // aligned K, odd k
  [5, 9, 7], // k > 4: two column groups
];

Deno.test({
  name: "rows_dot matches its twin on ragged, degenerate and GPT-2 shapes",
  ignore: noGpu(),
  async fn() {
    for (const [m, k, kb] of [...THIN, [4096, 1024, 2] as [number, number, number]]) {
      const a = randomArray(m * k, m + k);
      const b = randomArray(k * kb, kb + 1);
      const { c } = await runKernel(
        { a, b },
        { c: m * kb },
        (gpu, batch, x) => encodeRowsDot(gpu, batch, { a: x.a, b: x.b, c: x.c }, { m, k, kb }),
      );
      assertClose(c, rowsDotCpu(a, b, { m, k, kb }), { ...TOL, label: `rows_dot ${m}×${k}·${k}×${kb}` });
    }
  },
});

Deno.test({
  name: "cols_dot matches its twin in both output layouts",
  ignore: noGpu(),
  async fn() {
    for (const [m, n, kb] of [...THIN, [1024, 4096, 2] as [number, number, number]]) {
      for (const transC of [false, true]) {
        const a = randomArray(m * n, m * 3 + n);
        const b = randomArray(m * kb, kb + 5);
        const shape = { m, n, kb, transC };
        const { c } = await runKernel(
          { a, b },
          { c: n * kb },
          (gpu, batch, x) => encodeColsDot(gpu, batch, { a: x.a, b: x.b, c: x.c }, shape),
        );
        assertClose(c, colsDotCpu(a, b, shape), { ...TOL, label: `cols_dot ${JSON.stringify(shape)}` });
      }
    }
  },
});

Deno.test("colsDotCpu equals the general product Aᵀ·B", () => {
  const [m, n, kb] = [7, 5, 3];
  const a = randomArray(m * n, 1);
  const b = randomArray(m * kb, 2);
  assertClose(colsDotCpu(a, b, { m, n, kb }), matmulCpu(a, b, { m: n, n: kb, k: m, transA: true }), {
    atol: 1e-6,
    label: "Aᵀ·B",
  });
});

Deno.test({
  name: "gram matches its twin for square and rectangular thin Grams",
  ignore: noGpu(),
  async fn() {
    for (const [r, ka, kb] of [[1, 1, 1], [1000, 2, 2], [257, 3, 5], [33, 1, 6]]) {
      const a = randomArray(r * ka, r + ka);
      const b = randomArray(r * kb, r + kb + 11);
      const { g } = await runKernel(
        { a, b },
        { g: ka * kb },
        (gpu, batch, x) => encodeGram(gpu, batch, { a: x.a, b: x.b, g: x.g }, { r, ka, kb }),
      );
      assertClose(g, gramCpu(a, b, { r, ka, kb }), { ...TOL, label: `gram ${r}×${ka}ᵀ·${r}×${kb}` });
    }
  },
});

Deno.test({
  name: "rank_k_update matches its twin with and without transposed B, β = 0 ignoring NaN in C",
  ignore: noGpu(),
  async fn() {
    const cases: RankKShape[] = [
      { m: 1, n: 37, ka: 2, transB: true, alpha: -1, beta: 1 },
      { m: 37, n: 1, ka: 1, transB: false, alpha: -1, beta: 1 },
      { m: 33, n: 17, ka: 3, transB: false, alpha: 0.5, beta: 2 },
      { m: 4096, n: 1024, ka: 2, transB: true, alpha: -1, beta: 1 }, // GPT-2 medium c_proj projection
    ];
    for (const shape of cases) {
      const c0 = randomArray(shape.m * shape.n, shape.m);
      const a = randomArray(shape.m * shape.ka, shape.n);
      const b = randomArray(shape.ka * shape.n, shape.ka + 3);
      const { c } = await runKernel(
        { a, b },
        { c: c0 },
        (gpu, batch, x) => encodeRankKUpdate(gpu, batch, { c: x.c, a: x.a, b: x.b }, shape),
      );
      assertClose(c, rankKUpdateCpu(c0.slice(), a, b, shape), {
        ...TOL,
        label: `rank_k ${JSON.stringify(shape)}`,
      });
    }
    const shape: RankKShape = { m: 5, n: 3, ka: 2, alpha: 1, beta: 0 };
    const a = randomArray(10, 1);
    const b = randomArray(6, 2);
    const { c } = await runKernel(
      { a, b },
      { c: new Float32Array(15).fill(NaN) },
      (gpu, batch, x) => encodeRankKUpdate(gpu, batch, { c: x.c, a: x.a, b: x.b }, shape),
    );
    assertClose(c, matmulCpu(a, b, { m: 5, n: 3, k: 2 }), { ...TOL, label: "β = 0 overwrites" });
  },
});

Deno.test({
  name: "scale_add and row_sum_squares match their twins on ragged lengths",
  ignore: noGpu(),
  async fn() {
    for (const [m, n] of [[1, 1], [3, 77], [500, 129]]) {
      const x = randomArray(m * n, m);
      const y = randomArray(m * n, n);
      const shape = { length: m * n, alpha: 0.5, beta: -0.5 };
      const { z } = await runKernel(
        { x, y },
        { z: m * n },
        (gpu, batch, b) => encodeScaleAdd(gpu, batch, { x: b.x, y: b.y, z: b.z }, shape),
      );
      assertClose(z, scaleAddCpu(x, y, shape), { atol: 1e-7, label: `scale_add ${m * n}` });
      const { s } = await runKernel(
        { x },
        { s: m },
        (gpu, batch, b) => encodeRowSumSquares(gpu, batch, { x: b.x, s: b.s }, { m, n }),
      );
      assertClose(s, rowSumSquaresCpu(x, { m, n }), { ...TOL, label: `row_sum_squares ${m}×${n}` });
    }
  },
});
