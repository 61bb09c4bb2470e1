/**
 * ProFS step 5 (docs/ARCHITECTURE.md §3): remove span(V) from the D axis of the MLP output matrix W without forming the
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

/**
 * removed = W V [R, k] (d-cols) or Vᵀ W [k, C] (d-rows), rounded to float32. Each entry is one float64 sum over
 * the D axis in ascending order; the loops run over contiguous memory (one direction at a time over a row, V's
 * columns widened once), which changes no sum.
 */
export function removedPart(weight: Matrix, basis: Matrix, orientation: Orientation): Matrix {
  checkShapes(weight, basis, orientation);
  const k = basis.cols;
  const w = weight.data;
  if (orientation === "d-cols") {
    const { rows, cols: d } = weight;
    const columns = basisColumns(basis); // V's columns [k][D]
    const out = new Float32Array(rows * k);
    for (let r = 0; r < rows; r++) {
      const base = r * d;
      for (let j = 0; j < k; j++) {
        const vj = columns[j];
        let acc = 0;
        for (let c = 0; c < d; c++) acc += w[base + c] * vj[c];
        out[r * k + j] = acc;
      }
    }
    return { rows, cols: k, data: out };
  }
  const v = basis.data;
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
 * read before it is written). Per element: s = 0, then s += the k products in order, then W + sign·s — the
 * loops go a row at a time through a float64 scratch row so the inner loop is contiguous, with the same
 * operations in the same order for every element (so patches apply bit for bit whatever computed them).
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
  const s = new Float64Array(cols); // one row's sums
  if (orientation === "d-cols") {
    if (removed.rows !== rows || removed.cols !== k) throw shapeError("removed", [rows, k], removed);
    const columns = basisColumns(basis);
    for (let r = 0; r < rows; r++) {
      s.fill(0);
      for (let j = 0; j < k; j++) {
        const a = rm[r * k + j], vj = columns[j];
        for (let c = 0; c < cols; c++) s[c] += a * vj[c];
      }
      const base = r * cols;
      for (let c = 0; c < cols; c++) out[base + c] = w[base + c] + sign * s[c];
    }
  } else {
    if (removed.rows !== k || removed.cols !== cols) throw shapeError("removed", [k, cols], removed);
    for (let r = 0; r < rows; r++) {
      s.fill(0);
      for (let j = 0; j < k; j++) {
        const a = v[r * k + j], row = j * cols;
        for (let c = 0; c < cols; c++) s[c] += a * rm[row + c];
      }
      const base = r * cols;
      for (let c = 0; c < cols; c++) out[base + c] = w[base + c] + sign * s[c];
    }
  }
  return { rows, cols, data: out };
}

/** V [D, k]'s columns, each widened to float64 (exact). */
function basisColumns(basis: Matrix): Float64Array[] {
  const { rows: d, cols: k, data } = basis;
  return Array.from({ length: k }, (_, j) => {
    const column = new Float64Array(d);
    for (let c = 0; c < d; c++) column[c] = data[c * k + j];
    return column;
  });
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
