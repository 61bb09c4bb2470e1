/**
 * The LM engine's linear layer (shaders/linear.wgsl): GFLOP/s of y = x·Wᵀ with W stored F32, F16 and BF16 (and
 * y = x·W for Conv1D's layout in F32), next to the f32 `matmul` kernel it derives from, on the available WebGPU
 * adapter, printed with its name. Default: M = 256 rows (texts × tokens) through a 1024 → 1024 layer, small enough
 * for lavapipe; on a real GPU set LINEAR_BENCH_SIZE=4096 (M = N = K) or LINEAR_BENCH_SHAPE=M,N,K.
 *
 *   deno task bench linear
 */
import { acquireGpu, type ComputeBatch } from "../../gpu-worker/runtime/mod.ts";
import {
  encodeLinear,
  linearFlops,
  type LinearShape,
  type WeightDtype,
} from "../../gpu-worker/kernels/linear.ts";
import { encodeMatmul } from "../../gpu-worker/kernels/matmul.ts";

const gpu = await acquireGpu();
if (!gpu) {
  console.log("linear: skipped (no WebGPU adapter)");
  Deno.exit(0);
}
const size = Number(Deno.env.get("LINEAR_BENCH_SIZE") ?? 0);
const [m, n, k] = Deno.env.get("LINEAR_BENCH_SHAPE")?.split(",").map(Number) ??
  (size ? [size, size, size] : [256, 1024, 1024]);
console.log(
  `adapter: ${gpu.adapter.description}${gpu.adapter.software ? " (software)" : ""}; M=${m} N=${n} K=${k}`,
);

const x = gpu.storage(m * k * 4, "x");
const w = gpu.storage(n * k * 4, "w"); // large enough for every dtype; contents irrelevant to the timing
const y = gpu.storage(m * n * 4, "y");
const random = new Uint32Array(n * k).map((_, i) => (0x3c00 + (i % 512)) * 0x10001); // small finite halves
gpu.write(w, random);
gpu.write(x, new Float32Array(m * k).fill(0.01));

/** Median seconds of `reps` submissions of `record`, after one warm-up. */
async function time(
  record: (batch: ComputeBatch) => Promise<void>,
  reps: number,
): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i <= reps; i++) {
    const batch = gpu!.batch("bench");
    await record(batch);
    const start = performance.now();
    await batch.submit();
    await gpu!.finish();
    if (i > 0) times.push((performance.now() - start) / 1000);
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
}

const reps = gpu.adapter.software ? 3 : 20;
const flops = linearFlops({ m, n, k });
const report = (label: string, seconds: number) =>
  console.log(
    `${label.padEnd(26)} ${(flops / seconds / 1e9).toFixed(1).padStart(9)} GFLOP/s  (${
      (seconds * 1e3).toFixed(2)
    } ms)`,
  );

const cases: Array<[WeightDtype, LinearShape["layout"]]> = [["F32", "out_in"], ["F16", "out_in"], [
  "BF16",
  "out_in",
], [
  "F32",
  "in_out",
]];
for (const [dtype, layout] of cases) {
  const shape: LinearShape = { m, n, k, dtype, layout };
  report(
    `linear ${dtype} ${layout}`,
    await time((batch) => encodeLinear(gpu, batch, { x, w, y }, shape), reps),
  );
}
report(
  "matmul f32 (x·Wᵀ)",
  await time((batch) => encodeMatmul(gpu, batch, { a: x, b: w, c: y }, { m, n, k, transB: true }), reps),
);
gpu.dispose();
