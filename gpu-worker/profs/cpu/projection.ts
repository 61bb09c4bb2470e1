/**
 * ProFS step 5 (DESIGN.md §1): remove span(V) from the D axis of the MLP output matrix W without forming the
 * D×D projector, and the inverse used to revert a patch. Products accumulate in float64; `removed` is rounded to
 * float32 first and the edit is computed from that rounded value, so applying a stored patch repeats the edit
 * bit for bit.
 */
import type { Matrix, Orientation, Projection } from "../backend.ts";

/**
 * W ← W − (W V) Vᵀ (d-cols, W [R, D]) or W ← W − V (Vᵀ W) (d-rows, W [D, C]); V [D, k]. The edited values go
 * to `out` (a fresh array by default; `weight.data` itself edits in place, as removed is computed first).
 */
export function projectOut(
  weight: Matrix,
  basis: Matrix,
  orientation: Orientation,
  out?: Float32Array,
): Projection {
  checkShapes(weight, basis, orientation);
  const removed = removedPart(weight, basis, orientation);
  return { edited: applyRemoved(weight, basis, removed, orientation, -1, out), removed };
}

/** removed = W V [R, k] (d-cols) or Vᵀ W [k, C] (d-rows), rounded to float32. */
export function removedPart(weight: Matrix, basis: Matrix, orientation: Orientation): Matrix {
  const k = basis.cols;
  const v = basis.data;
  const w = weight.data;
  if (orientation === "d-cols") {
    const { rows, cols: d } = weight;
    const out = new Float32Array(rows * k);
    const acc = new Float64Array(k);
    for (let r = 0; r < rows; r++) {
      acc.fill(0);
      const base = r * d;
      for (let c = 0; c < d; c++) {
        const x = w[base + c];
        for (let j = 0; j < k; j++) acc[j] += x * v[c * k + j];
      }
      for (let j = 0; j < k; j++) out[r * k + j] = acc[j];
    }
    return { rows, cols: k, data: out };
  }
  const { rows: d, cols } = weight;
  const acc = new Float64Array(k * cols);
  for (let r = 0; r < d; r++) {
    const base = r * cols;
    for (let j = 0; j < k; j++) {
      const vj = v[r * k + j];
      const row = j * cols;
      for (let c = 0; c < cols; c++) acc[row + c] += vj * w[base + c];
    }
  }
  return { rows: k, cols, data: Float32Array.from(acc) };
}

/**
 * W + sign · (removed Vᵀ) (d-cols) or W + sign · (V removed) (d-rows), each element evaluated in float64 and
 * rounded once: sign −1 makes the edit, +1 reverts it. Written to `out` (may be `weight.data`: each element is
 * read before it is written).
 */
export function applyRemoved(
  weight: Matrix,
  basis: Matrix,
  removed: Matrix,
  orientation: Orientation,
  sign: -1 | 1,
  out: Float32Array = new Float32Array(weight.data.length),
): Matrix {
  checkShapes(weight, basis, orientation);
  const k = basis.cols;
  const v = basis.data;
  const w = weight.data;
  const rm = removed.data;
  if (out.length !== w.length) {
    throw new RangeError(
      `Cannot apply the removed part as 'out' must hold ${w.length} values: it holds ${out.length}`,
    );
  }
  const { rows, cols } = weight;
  if (orientation === "d-cols") {
    if (removed.rows !== rows || removed.cols !== k) throw shapeError("removed", [rows, k], removed);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        let s = 0;
        for (let j = 0; j < k; j++) s += rm[r * k + j] * v[c * k + j];
        out[r * cols + c] = w[r * cols + c] + sign * s;
      }
    }
  } else {
    if (removed.rows !== k || removed.cols !== cols) throw shapeError("removed", [k, cols], removed);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        let s = 0;
        for (let j = 0; j < k; j++) s += v[r * k + j] * rm[j * cols + c];
        out[r * cols + c] = w[r * cols + c] + sign * s;
      }
    }
  }
  return { rows, cols, data: out };
}

function checkShapes(weight: Matrix, basis: Matrix, orientation: Orientation): void {
  const d = orientation === "d-cols" ? weight.cols : weight.rows;
  if (basis.rows !== d) {
    throw new RangeError(
      `Cannot project as the basis must have ${d} rows (the ${orientation} axis of a ${weight.rows}×${weight.cols} weight): it has ${basis.rows}`,
    );
  }
}

function shapeError(label: string, expected: number[], actual: Matrix): RangeError {
  return new RangeError(
    `Cannot apply the removed part as '${label}' must be ${
      expected.join("×")
    }: it is ${actual.rows}×${actual.cols}`,
  );
}
