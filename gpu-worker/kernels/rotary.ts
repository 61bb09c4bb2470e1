/**
 * rotary: rotary position embedding in place on the first `rotaryDim` columns of each head (shaders/rotary.wgsl),
 * half-split (`rotate_half`: Llama, Mistral, Qwen) or interleaved every-two (GPT-J). Angles come from a cos/sin
 * table built on the host (`rotaryTable`) from the inverse frequencies (lm/family.ts `rotaryInvFreq`: rope_theta
 * and rope_scaling of type linear or llama3), so the shader knows nothing about scalings.
 */
import type { ComputeBatch, Gpu } from "../runtime/gpu.ts";
import { loadShader } from "../runtime/shader_source.ts";
import { packUniform } from "../runtime/uniform.ts";
import { checkDims, checkLength } from "./dims.ts";

export interface RotaryShape {
  rows: number;
  heads: number;
  headDim: number;
  /** Even, ≤ headDim (GPT-J's rotary_dim, partial_rotary_factor · headDim, or headDim). */
  rotaryDim: number;
  /** Rows of the table: every pos must be below. */
  positions: number;
  /** GPT-J's every-two pairs (2i, 2i+1) instead of Llama's halves (i, i + rotaryDim/2). */
  interleaved: boolean;
}

/** table [positions, rotaryDim]: cos(p·invFreq[i]) in columns 0..half, sin in half..rotaryDim (float64 angles). */
export function rotaryTable(invFreq: ArrayLike<number>, positions: number): Float32Array {
  const half = invFreq.length;
  const table = new Float32Array(positions * 2 * half);
  for (let p = 0; p < positions; p++) {
    for (let i = 0; i < half; i++) {
      table[p * 2 * half + i] = Math.cos(p * invFreq[i]);
      table[p * 2 * half + half + i] = Math.sin(p * invFreq[i]);
    }
  }
  return table;
}

/** x [R, heads·headDim], pos [R], table [positions, rotaryDim] → rotated copy of x. */
export function rotaryCpu(
  x: Float32Array,
  pos: Uint32Array,
  table: Float32Array,
  shape: RotaryShape,
): Float32Array {
  const { rows, heads, headDim, rotaryDim, positions, interleaved } = shape;
  checkRotary(shape);
  checkLength("rotary", "x", x, rows * heads * headDim);
  checkLength("rotary", "pos", pos, rows);
  checkLength("rotary", "table", table, positions * rotaryDim);
  const out = x.slice();
  const half = rotaryDim / 2;
  for (let r = 0; r < rows; r++) {
    if (pos[r] >= positions) {
      throw new RangeError(`Cannot rotate as each position must be < ${positions}: row ${r} has ${pos[r]}`);
    }
    for (let h = 0; h < heads; h++) {
      const base = (r * heads + h) * headDim;
      for (let i = 0; i < half; i++) {
        const c = table[pos[r] * rotaryDim + i];
        const s = table[pos[r] * rotaryDim + half + i];
        const ia = interleaved ? base + 2 * i : base + i;
        const ib = interleaved ? base + 2 * i + 1 : base + i + half;
        const [a, b] = [x[ia], x[ib]];
        out[ia] = a * c - b * s;
        out[ib] = b * c + a * s;
      }
    }
  }
  return out;
}

/** Records the rotation of x in place. */
export async function encodeRotary(
  gpu: Gpu,
  batch: ComputeBatch,
  buffers: { x: GPUBuffer; pos: GPUBuffer; table: GPUBuffer },
  shape: RotaryShape,
): Promise<void> {
  const { rows, heads, headDim, rotaryDim, positions, interleaved } = shape;
  checkRotary(shape);
  const pipeline = await gpu.pipeline({
    kernel: "rotary",
    code: await loadShader("rotary"),
    constants: { INTERLEAVED: interleaved ? 1 : 0 },
  });
  const uniform = gpu.uniform(
    packUniform([["u32", rows], ["u32", heads], ["u32", headDim], ["u32", rotaryDim], ["u32", positions]]),
  );
  const groups = Math.min(Math.ceil((rows * heads * rotaryDim) / 2 / 256), 65535);
  batch.dispatch("rotary", pipeline, [uniform, buffers.x, buffers.pos, buffers.table], [groups], {
    ...shape,
  });
}

function checkRotary(shape: RotaryShape): void {
  const { rows, heads, headDim, rotaryDim, positions } = shape;
  checkDims("rotary", { rows, heads, headDim, rotaryDim, positions });
  if (rotaryDim % 2 !== 0 || rotaryDim > headDim) {
    throw new RangeError(
      `Cannot rotate as 'rotaryDim' must be even and ≤ headDim (${headDim}): current value is ${rotaryDim}`,
    );
  }
}
