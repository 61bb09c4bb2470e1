/**
 * linear: y [M, N] = x [M, K] · op(W) with W in its stored dtype (shaders/linear.wgsl): every linear layer of the
 * LM engine and its output head. W is uploaded as stored — F32, or F16/BF16 packed two per u32 word — and
 * widened to f32 in the shader, so a BF16 model costs 2 bytes a weight on the device on any adapter.
 */
import type { ComputeBatch, Gpu } from "../runtime/gpu.ts";
import { loadShader } from "../runtime/shader_source.ts";
import { packUniform } from "../runtime/uniform.ts";
import { checkDims, checkLength, spreadGrid } from "./dims.ts";

/** safetensors dtypes a weight may be stored in on the device. */
export type WeightDtype = "F32" | "F16" | "BF16";

export interface LinearShape {
  m: number;
  n: number;
  k: number;
  dtype: WeightDtype;
  /** "out_in": W [N, K] (nn.Linear), y = x·Wᵀ; "in_out": W [K, N] (GPT-2's Conv1D), y = x·W. */
  layout: "out_in" | "in_out";
}

const DTYPE_CODE: Record<WeightDtype, number> = { F32: 0, F16: 1, BF16: 2 };

/** Most rows the few_rows entry point takes (shaders/linear.wgsl FEW); more use the register-tiled main. */
export const LINEAR_FEW_ROWS = 8;

/** u32 words holding `count` elements of `dtype` (16-bit elements two per word, the last word zero-padded). */
export function weightWordCount(dtype: WeightDtype, count: number): number {
  return dtype === "F32" ? count : Math.ceil(count / 2);
}

/**
 * A tensor's stored little-endian bytes as u32 words for upload, without copying when they are already
 * 4-byte aligned and a whole number of words.
 */
export function weightWords(bytes: Uint8Array): Uint32Array {
  if (bytes.byteOffset % 4 === 0 && bytes.byteLength % 4 === 0) {
    return new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  }
  const words = new Uint32Array(Math.ceil(bytes.byteLength / 4));
  new Uint8Array(words.buffer).set(bytes);
  return words;
}

/** The f32 value of element e of `words` holding `dtype` (the shader's w_at). */
export function weightAt(words: Uint32Array, dtype: WeightDtype, e: number): number {
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  if (dtype === "F32") {
    u32[0] = words[e];
    return f32[0];
  }
  const bits = (e & 1 ? words[e >>> 1] >>> 16 : words[e >>> 1]) & 0xffff;
  if (dtype === "F16") return new Float16Array(Uint16Array.of(bits).buffer)[0];
  u32[0] = bits << 16;
  return f32[0];
}

/** x [M, K], w (words of W [N, K] or [K, N] in dtype) → y [M, N]; float64 sums of the widened weights. */
export function linearCpu(x: Float32Array, w: Uint32Array, shape: LinearShape): Float32Array {
  const { m, n, k, dtype, layout } = shape;
  checkLinear(shape);
  checkLength("linear", "x", x, m * k);
  checkLength("linear", "w (u32 words)", w, weightWordCount(dtype, n * k));
  const wf = new Float64Array(n * k);
  for (let e = 0; e < n * k; e++) wf[e] = weightAt(w, dtype, e);
  const y = new Float32Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let p = 0; p < k; p++) sum += x[i * k + p] * (layout === "out_in" ? wf[j * k + p] : wf[p * n + j]);
      y[i * n + j] = sum;
    }
  }
  return y;
}

/** Records y = x · op(W). */
export async function encodeLinear(
  gpu: Gpu,
  batch: ComputeBatch,
  buffers: { x: GPUBuffer; w: GPUBuffer; y: GPUBuffer },
  shape: LinearShape,
): Promise<void> {
  const { m, n, k, dtype, layout } = shape;
  checkLinear(shape);
  // Up to 8 rows (decode, picked rows for the head): one pass over W without the 64-row tile's padding.
  const few = m <= LINEAR_FEW_ROWS;
  const pipeline = await gpu.pipeline({
    kernel: "linear",
    code: await loadShader("linear"),
    entryPoint: few ? "few_rows" : "main",
    constants: { OUT_IN: layout === "out_in" ? 1 : 0, DTYPE: DTYPE_CODE[dtype] },
  });
  // Whole-vector loads need the operand's stored width (x: K; W: K for out_in, N for in_out) to be a multiple of 4.
  const alignedW = (layout === "out_in" ? k : n) % 4 === 0;
  const uniform = gpu.uniform(packUniform([
    ["u32", m],
    ["u32", n],
    ["u32", k],
    ["u32", k % 4 === 0 ? 1 : 0],
    ["u32", alignedW ? 1 : 0],
  ]));
  const grid: [number, number] = few
    ? spreadGrid(Math.ceil(n / 4), gpu.adapter.limits.maxComputeWorkgroupsPerDimension)
    : [Math.ceil(n / 64), Math.ceil(m / 64)];
  batch.dispatch(
    few ? "linear(few rows)" : "linear",
    pipeline,
    [uniform, buffers.x, buffers.w, buffers.y],
    grid,
    {
      m,
      n,
      k,
      dtype,
      layout,
    },
  );
}

/** FLOPs of one product (multiply and add counted separately), for GFLOP/s figures. */
export function linearFlops(shape: { m: number; n: number; k: number }): number {
  return 2 * shape.m * shape.n * shape.k;
}

function checkLinear(shape: LinearShape): void {
  const { m, n, k, dtype, layout } = shape;
  checkDims("linear", { m, n, k });
  if (!(dtype in DTYPE_CODE)) {
    throw new RangeError(`Cannot multiply as 'dtype' must be F32, F16 or BF16: current value is ${dtype}`);
  }
  if (layout !== "out_in" && layout !== "in_out") {
    throw new RangeError(`Cannot multiply as 'layout' must be out_in or in_out: current value is ${layout}`);
  }
}
