/**
 * The dense matrix every format and backend speaks (row-major float32), and where a model's hidden axis D sits in
 * the MLP output matrix that ProFS edits. Both sides use these: the formats (embeddings, patch), the model folder
 * (architectures) and the compute backends (gpu-worker/profs).
 */

/** Row-major float32 matrix: element (r, c) is data[r * cols + c]. */
export interface Matrix {
  rows: number;
  cols: number;
  data: Float32Array;
}

export function matrix(
  rows: number,
  cols: number,
  data: Float32Array = new Float32Array(rows * cols),
): Matrix {
  if (data.length !== rows * cols) {
    throw new RangeError(
      `Cannot make a ${rows}×${cols} matrix as data must have ${rows * cols} elements: has ${data.length}`,
    );
  }
  return { rows, cols, data };
}

/**
 * Where D sits in the MLP output ("value") matrix W:
 * - `d-cols`: W is [4D, D] (GPT-2 `mlp.c_proj.weight`) and the edit is W ← W − (W V) Vᵀ; removed = W V [4D, k].
 * - `d-rows`: W is [D, 4D] (`down_proj`, `fc_out`, `fc2`) and the edit is W ← W − V (Vᵀ W); removed = Vᵀ W [k, 4D].
 */
export type Orientation = "d-cols" | "d-rows";
