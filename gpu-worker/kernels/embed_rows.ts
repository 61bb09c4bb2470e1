/**
 * embed_rows: out [R, D] (= or +=) rows ids[r] of an embedding table stored in its dtype (shaders/embed_rows.wgsl),
 * one dispatch per row slice of the table (`start`, `tableRows`) so a vocabulary larger than one binding works.
 */
import type { ComputeBatch, Gpu } from "../runtime/gpu.ts";
import { loadShader } from "../runtime/shader_source.ts";
import { packUniform } from "../runtime/uniform.ts";
import { checkDims, checkLength } from "./dims.ts";
import { weightAt, type WeightDtype, weightWordCount } from "./linear.ts";

export interface EmbedRowsShape {
  rows: number;
  dim: number;
  dtype: WeightDtype;
  /** First table row held by this slice (default 0). */
  start?: number;
  /** Rows in this slice. */
  tableRows: number;
  /** Add into out (positions after tokens) instead of overwriting it. */
  accumulate: boolean;
}

/** Applies one slice to out [R, D] in place (and returns it); ids outside the slice leave their row as it is. */
export function embedRowsCpu(
  out: Float32Array,
  ids: Uint32Array,
  table: Uint32Array,
  shape: EmbedRowsShape,
): Float32Array {
  const { rows, dim, dtype, start = 0, tableRows, accumulate } = shape;
  checkDims("embed_rows", { rows, dim, tableRows });
  checkLength("embed_rows", "out", out, rows * dim);
  checkLength("embed_rows", "ids", ids, rows);
  checkLength("embed_rows", "table (u32 words)", table, weightWordCount(dtype, tableRows * dim));
  for (let r = 0; r < rows; r++) {
    const local = ids[r] - start;
    if (local < 0 || local >= tableRows) continue;
    for (let d = 0; d < dim; d++) {
      const v = weightAt(table, dtype, local * dim + d);
      out[r * dim + d] = accumulate ? out[r * dim + d] + v : v;
    }
  }
  return out;
}

export async function encodeEmbedRows(
  gpu: Gpu,
  batch: ComputeBatch,
  buffers: { ids: GPUBuffer; table: GPUBuffer; out: GPUBuffer },
  shape: EmbedRowsShape,
): Promise<void> {
  const { rows, dim, dtype, start = 0, tableRows, accumulate } = shape;
  checkDims("embed_rows", { rows, dim, tableRows });
  const code = { F32: 0, F16: 1, BF16: 2 }[dtype];
  if (code === undefined) {
    throw new RangeError(`Cannot embed as 'dtype' must be F32, F16 or BF16: current value is ${dtype}`);
  }
  const pipeline = await gpu.pipeline({
    kernel: "embed_rows",
    code: await loadShader("embed_rows"),
    constants: { DTYPE: code },
  });
  const uniform = gpu.uniform(
    packUniform([["u32", rows], ["u32", dim], ["u32", start], ["u32", tableRows], [
      "u32",
      accumulate ? 1 : 0,
    ]]),
  );
  const groups = Math.min(Math.ceil((rows * dim) / 256), 65535);
  batch.dispatch("embed_rows", pipeline, [uniform, buffers.ids, buffers.table, buffers.out], [groups], {
    ...shape,
  });
}
