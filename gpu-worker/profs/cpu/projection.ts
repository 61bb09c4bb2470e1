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
 * the D axis in ascending order. The loops run over contiguous memory and keep several independent sums going
 * at once (two rows × two directions, or two directions over a row), which changes no sum: each is still added
 * up term by term in the same order.
 */
export function removedPart(weight: Matrix, basis: Matrix, orientation: Orientation): Matrix {
  checkShapes(weight, basis, orientation);
  const k = basis.cols;
  const w = weight.data;
  if (orientation === "d-cols") {
    const { rows, cols: d } = weight;
    const columns = basisColumns(basis); // V's columns [k][D]
    const out = new Float32Array(rows * k);
    // An odd last row or direction is paired with itself: computed twice, stored once.
    for (let r0 = 0; r0 < rows; r0 += 2) {
      const r1 = Math.min(r0 + 1, rows - 1), base0 = r0 * d, base1 = r1 * d;
      for (let j0 = 0; j0 < k; j0 += 2) {
        const j1 = Math.min(j0 + 1, k - 1), v0 = columns[j0], v1 = columns[j1];
        let s00 = 0, s01 = 0, s10 = 0, s11 = 0;
        for (let c = 0; c < d; c++) {
          const x0 = w[base0 + c], x1 = w[base1 + c], y0 = v0[c], y1 = v1[c];
          s00 += x0 * y0;
          s01 += x0 * y1;
          s10 += x1 * y0;
          s11 += x1 * y1;
        }
        out[r0 * k + j0] = s00;
        out[r0 * k + j1] = s01;
        out[r1 * k + j0] = s10;
        out[r1 * k + j1] = s11;
      }
    }
    return { rows, cols: k, data: out };
  }
  const v = basis.data;
  const { rows: d, cols } = weight;
  const sums = Array.from({ length: k }, () => new Float64Array(cols)); // removed's rows
  for (let r = 0; r < d; r++) {
    const base = r * cols;
    for (let j = 0; j < k; j += 2) {
      const s0 = sums[j], a0 = v[r * k + j];
      if (j + 1 === k) {
        for (let c = 0; c < cols; c++) s0[c] += a0 * w[base + c];
        continue;
      }
      const s1 = sums[j + 1], a1 = v[r * k + j + 1];
      for (let c = 0; c < cols; c++) {
        const x = w[base + c];
        s0[c] += a0 * x;
        s1[c] += a1 * x;
      }
    }
  }
  const out = new Float32Array(k * cols);
  sums.forEach((row, j) => out.set(row, j * cols));
  return { rows: k, cols, data: out };
}

/**
 * W + sign · (removed Vᵀ) (d-cols) or W + sign · (V removed) (d-rows), each element evaluated in float64 and
 * rounded once: sign −1 makes the edit, +1 reverts it. Written to `out` (may be `weight.data`: each element is
 * read before it is written). Per element: s = 0, then s += the k products in order, then W + sign·s — the
 * same operations in the same order for every element, whatever the loops look like (so patches apply bit for
 * bit whatever computed them).
 *
 * Both orientations are one computation: row r of the result is W's row r plus sign · Σⱼ aⱼ uⱼ, with
 * coefficients aⱼ = removed[r, j] and vectors uⱼ = V's columns (d-cols), or aⱼ = V[r, j] and uⱼ = removed's
 * rows (d-rows), all widened to float64 (exact).
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
  const { rows, cols } = weight;
  if (out.length !== weight.data.length) {
    throw new RangeError(
      `Cannot apply the removed part as 'out' must hold ${weight.data.length} values: it holds ${out.length}`,
    );
  }
  let coefficients: Float32Array, vectors: Float64Array[];
  if (orientation === "d-cols") {
    if (removed.rows !== rows || removed.cols !== k) throw shapeError("removed", [rows, k], removed);
    [coefficients, vectors] = [removed.data, basisColumns(basis)];
  } else {
    if (removed.rows !== k || removed.cols !== cols) throw shapeError("removed", [k, cols], removed);
    const rowsOfRemoved = Array.from({ length: k }, (_, j) => {
      return new Float64Array(removed.data.subarray(j * cols, (j + 1) * cols));
    });
    [coefficients, vectors] = [basis.data, rowsOfRemoved];
  }
  addCombinations(weight.data, rows, cols, coefficients, vectors, sign, out);
  return { rows, cols, data: out };
}

/**
 * out[r, c] = w[r, c] + sign · s with s = 0 + a[r, 0]·u₀[c] + … + a[r, k−1]·u_{k−1}[c], added left to right in
 * float64. The first direction starts a float64 scratch row and the last one is added on the way out, so k ≤ 2
 * needs no pass over the scratch row of its own.
 */
function addCombinations(
  w: Float32Array,
  rows: number,
  cols: number,
  a: Float32Array,
  u: Float64Array[],
  sign: -1 | 1,
  out: Float32Array,
): void {
  const k = u.length;
  const s = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    const base = r * cols, ar = r * k;
    if (k === 1) {
      const a0 = a[ar], u0 = u[0];
      for (let c = 0; c < cols; c++) out[base + c] = w[base + c] + sign * (0 + a0 * u0[c]);
      continue;
    }
    const a0 = a[ar], u0 = u[0];
    for (let c = 0; c < cols; c++) s[c] = 0 + a0 * u0[c];
    for (let j = 1; j < k - 1; j++) {
      const aj = a[ar + j], uj = u[j];
      for (let c = 0; c < cols; c++) s[c] += aj * uj[c];
    }
    const last = a[ar + k - 1], ul = u[k - 1];
    for (let c = 0; c < cols; c++) out[base + c] = w[base + c] + sign * (s[c] + last * ul[c]);
  }
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
