/**
 * linear.wgsl (the register-tiled product reading F32, F16 or BF16 weights as stored) against its twin, for both
 * weight layouts (nn.Linear [out, in], Conv1D [in, out]), on ragged, degenerate and odd-element-count shapes.
 */
import assert from "node:assert/strict";
import { assertClose } from "../helpers/assert_close.ts";
import { noGpu } from "../helpers/env.ts";
import {
  encodeLinear,
  linearCpu,
  type LinearShape,
  weightAt,
  type WeightDtype,
} from "../../gpu-worker/kernels/linear.ts";
import { matmulCpu } from "../../gpu-worker/kernels/matmul.ts";
import { randomArray, testGpu } from "./kernel_harness.ts";
import { storedWords } from "./stored_words.ts";

const SHAPES: Array<[number, number, number]> = [
  [1, 37, 5], // T = 1 (few_rows), odd N·K: a half-filled last 16-bit word
  [8, 67, 130], // the most rows few_rows takes, K past one 64-thread stride
  [9, 5, 3], // the fewest rows the tiled kernel takes
  [67, 70, 33], // ragged everywhere, K not a multiple of 4
  [5, 3, 1], // K = 1
  [70, 12, 128], // aligned K: whole-word loads, two row tiles
  [3, 130, 20], // aligned K, N past one column tile
];
const DTYPES: WeightDtype[] = ["F32", "F16", "BF16"];

Deno.test("weightAt decodes f16 and bf16 halves in element order", () => {
  const values = Float32Array.of(1.5, -2, 0.25);
  for (const dtype of DTYPES) {
    const words = storedWords(values, dtype);
    assert.deepEqual([0, 1, 2].map((e) => weightAt(words, dtype, e)), [1.5, -2, 0.25], dtype);
  }
  assert.equal(storedWords(values, "BF16").length, 2, "three bf16 values take two words");
});

Deno.test("linearCpu equals matmulCpu on the widened weights in both layouts", () => {
  const [m, n, k] = [4, 5, 3];
  const x = randomArray(m * k, 1);
  const w = randomArray(n * k, 2);
  for (const dtype of DTYPES) {
    const words = storedWords(w, dtype);
    const widened = Float32Array.from({ length: n * k }, (_, e) => weightAt(words, dtype, e));
    const outIn = linearCpu(x, words, { m, n, k, dtype, layout: "out_in" });
    assertClose(outIn, matmulCpu(x, widened, { m, n, k, transB: true }), {
      atol: 1e-6,
      label: `${dtype} out_in`,
    });
    const inOut = linearCpu(x, words, { m, n, k, dtype, layout: "in_out" });
    assertClose(inOut, matmulCpu(x, widened, { m, n, k }), { atol: 1e-6, label: `${dtype} in_out` });
  }
});

for (const dtype of DTYPES) {
  Deno.test({
    name: `linear reads ${dtype} weights in both layouts and matches its twin on ragged shapes`,
    ignore: noGpu(),
    async fn() {
      const gpu = await testGpu();
      for (const layout of ["out_in", "in_out"] as const) {
        for (const [m, n, k] of SHAPES) {
          const shape: LinearShape = { m, n, k, dtype, layout };
          const x = randomArray(m * k, m * 100 + k);
          const w = storedWords(randomArray(n * k, n * 100 + k + 1), dtype);
          const xb = gpu.upload(x, "x");
          const wb = gpu.upload(w, "w");
          const yb = gpu.storage(m * n * 4, "y");
          try {
            const batch = gpu.batch("linear test");
            await encodeLinear(gpu, batch, { x: xb, w: wb, y: yb }, shape);
            await batch.submit();
            const [y] = await gpu.read([{ buffer: yb, length: m * n }]);
            // The twin widens the same stored bits, so only f32 accumulation differs: k ≤ 128 products of
            // values in [-1, 1) stay within 1e-5.
            assertClose(y, linearCpu(x, w, shape), { atol: 1e-5, rtol: 1e-5, label: JSON.stringify(shape) });
          } finally {
            gpu.release(xb, wb, yb);
          }
        }
      }
    },
  });
}

Deno.test("linear refuses an unknown dtype with the rule and the value", () => {
  assert.throws(
    () =>
      linearCpu(new Float32Array(1), new Uint32Array(1), {
        m: 1,
        n: 1,
        k: 1,
        dtype: "F64" as WeightDtype,
        layout: "out_in",
      }),
    /'dtype' must be F32, F16 or BF16: current value is F64/,
  );
});
