/**
 * ProFS stages on GPT-2 medium shapes (N = 500 pairs, D = 1024, layers 10:24 → 14 edited layers, k = 2, MLP
 * output weights W [4096, 1024] "d-cols"): centering + toxic subspace (`toxicSubspace`) and projection (`project`)
 * for the cpu and webgpu backends, and in the same run the reference algorithm in PyTorch
 * (tests/bench/reference_profs.py: two full SVDs per layer plus the dense D×D projector product, all cores).
 * Also the tiled matmul kernel's GFLOP/s next to the adapter's name.
 *
 * The embeddings follow the paper's factor model (a planted toxic subspace), so the subspace iteration sees a
 * realistic spectral gap; the reference's cost does not depend on the values. On a software adapter (lavapipe,
 * ~1 GFLOP/s) the webgpu stages run on one layer and the 14-layer figure is that time × 14, printed as such.
 *
 *   deno task bench profs_stages
 */
import { DEFAULT_SUBSPACE_PARAMS, type Matrix, type ProfsBackend } from "../../gpu-worker/profs/backend.ts";
import { createCpuBackend } from "../../gpu-worker/profs/cpu/backend.ts";
import { webGpuBackend } from "../../gpu-worker/profs/webgpu/backend.ts";
import { acquireGpu, type Gpu } from "../../gpu-worker/runtime/gpu.ts";
import { encodeMatmul, matmulFlops } from "../../gpu-worker/kernels/matmul.ts";
import { factorModel, gaussianMatrix } from "../profs/webgpu/fixtures.ts";

/** The Python that has torch: Debian's python3-torch by default, another (e.g. a GPU image's) by $PROFS_PYTHON. */
const PYTHON = Deno.env.get("PROFS_PYTHON") ?? "/usr/bin/python3";
const N = 500, D = 1024, LAYERS = 14, K = 2, ROWS = 4 * D;
const PARAMS = { ...DEFAULT_SUBSPACE_PARAMS, rank: K };

interface LayerInput {
  preferred: Matrix;
  rejected: Matrix;
  weight: Matrix;
}

interface StageTimes {
  subspaceS: number;
  projectionS: number;
  layers: number;
  iterations: number[];
}

function makeLayers(count: number): LayerInput[] {
  return Array.from({ length: count }, (_, l) => {
    const { preferred, rejected } = factorModel(N, D, K, 100 + l);
    return { preferred, rejected, weight: gaussianMatrix(ROWS, D, 200 + l, 0.02) };
  });
}

async function timeStages(backend: ProfsBackend, layers: LayerInput[]): Promise<StageTimes> {
  const times: StageTimes = { subspaceS: 0, projectionS: 0, layers: layers.length, iterations: [] };
  for (const layer of layers) {
    let start = performance.now();
    const subspace = await backend.toxicSubspace(layer.preferred, layer.rejected, PARAMS);
    times.subspaceS += (performance.now() - start) / 1000;
    if (!subspace.converged) throw new Error(`${backend.name}: subspace iteration did not converge`);
    times.iterations.push(subspace.iterations);
    start = performance.now();
    await backend.project(layer.weight, subspace.basis, "d-cols");
    times.projectionS += (performance.now() - start) / 1000;
  }
  return times;
}

async function matmulGflops(gpu: Gpu): Promise<{ size: number; gflops: number }> {
  const size = gpu.adapter.software ? 512 : 4096;
  const reps = gpu.adapter.software ? 2 : 10;
  const shape = { m: size, n: size, k: size };
  const a = gpu.upload(gaussianMatrix(size, size, 1).data);
  const b = gpu.upload(gaussianMatrix(size, size, 2).data);
  const c = gpu.storage(size * size * 4);
  const warm = gpu.batch("matmul_warmup");
  await encodeMatmul(gpu, warm, { a, b, c }, shape);
  await warm.submit();
  await gpu.finish();
  const batch = gpu.batch("matmul_bench");
  for (let i = 0; i < reps; i++) await encodeMatmul(gpu, batch, { a, b, c }, shape);
  const start = performance.now();
  await batch.submit();
  await gpu.finish();
  const seconds = (performance.now() - start) / 1000;
  gpu.release(a, b, c);
  return { size, gflops: (matmulFlops(shape) * reps) / seconds / 1e9 };
}

async function pytorchReference(): Promise<Record<string, number | string>> {
  const script = new URL("./reference_profs.py", import.meta.url).pathname;
  const output = await new Deno.Command(PYTHON, {
    args: [script, "--n", `${N}`, "--d", `${D}`, "--layers", `${LAYERS}`, "--k", `${K}`, "--rows", `${ROWS}`],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!output.success) throw new Error(`reference_profs.py failed with exit code ${output.code}`);
  const lines = new TextDecoder().decode(output.stdout).trim().split("\n");
  return JSON.parse(lines[lines.length - 1]);
}

const fmt = (seconds: number) => `${seconds.toFixed(3)} s`;

console.log(`ProFS stages: N=${N} D=${D} layers=${LAYERS} k=${K} W=[${ROWS}, ${D}]`);
const layers = makeLayers(LAYERS);

const reference = await pytorchReference();
const referenceS = reference.total_s as number;
console.log(
  `pytorch reference (torch ${reference.torch}, ${reference.threads} threads): ${fmt(referenceS)} ` +
    `(centering SVD ${fmt(reference.centering_s as number)}, SVD ${fmt(reference.svd_s as number)}, ` +
    `D×D projector ${fmt(reference.projection_s as number)})`,
);

const cpu = await timeStages(createCpuBackend(), layers);
const cpuS = cpu.subspaceS + cpu.projectionS;
console.log(
  `cpu backend: ${fmt(cpuS)} (centering+subspace ${fmt(cpu.subspaceS)}, projection ${
    fmt(cpu.projectionS)
  }; ` +
    `iterations ${cpu.iterations.join(",")}) → reference/cpu = ${(referenceS / cpuS).toFixed(2)}×`,
);

const gpu = await acquireGpu();
if (!gpu) {
  console.log("webgpu backend: no WebGPU adapter, skipped");
} else {
  const { size, gflops } = await matmulGflops(gpu);
  console.log(
    `matmul ${size}×${size}×${size} on ${gpu.adapter.description}${
      gpu.adapter.software ? " (software)" : ""
    }: ` +
      `${gflops.toFixed(2)} GFLOP/s`,
  );
  const backend = webGpuBackend(gpu);
  const measured = await timeStages(backend, gpu.adapter.software ? layers.slice(0, 1) : layers);
  const scale = LAYERS / measured.layers;
  const gpuS = (measured.subspaceS + measured.projectionS) * scale;
  console.log(
    `webgpu backend: ${fmt(gpuS)}${
      scale > 1 ? ` (= ${measured.layers} layer × ${scale}, software adapter)` : ""
    } ` +
      `(centering+subspace ${fmt(measured.subspaceS * scale)}, projection ${
        fmt(measured.projectionS * scale)
      }; ` +
      `iterations ${measured.iterations.join(",")}) → reference/webgpu = ${
        (referenceS / gpuS).toFixed(2)
      }×, ` +
      `cpu/webgpu = ${(cpuS / gpuS).toFixed(2)}×`,
  );
  backend.dispose();
}
