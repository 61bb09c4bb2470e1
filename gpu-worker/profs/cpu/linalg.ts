/**
 * Small dense float64 linear algebra for ProFS on the CPU: block products with the preference matrix,
 * Gram–Schmidt, an exact Jacobi eigensolver for small symmetric matrices (the b×b Rayleigh–Ritz step) and a
 * one-sided Jacobi SVD (test oracles), and principal angles between subspaces. All matrices are row-major
 * Float64Arrays with their shape in the comment. The large products (`timesTransposed`, `times`) run on a
 * `Gemm`'s dgemm (OpenBLAS) when the caller passes one, else on the TypeScript loops here (the oracle).
 */
import type { Gemm } from "../../blas/gemm.ts";
import type { Random } from "../random.ts";

/** a [m, n] · b [n, p] → [m, p] */
export function matmul(a: Float64Array, b: Float64Array, m: number, n: number, p: number): Float64Array {
  const out = new Float64Array(m * p);
  for (let i = 0; i < m; i++) {
    const row = i * p;
    for (let t = 0; t < n; t++) {
      const x = a[i * n + t];
      if (x === 0) continue;
      const brow = t * p;
      for (let j = 0; j < p; j++) out[row + j] += x * b[brow + j];
    }
  }
  return out;
}

/** aᵀ b for a [n, m], b [n, p] → [m, p] */
export function matmulTransposeA(
  a: Float64Array,
  b: Float64Array,
  n: number,
  m: number,
  p: number,
): Float64Array {
  const out = new Float64Array(m * p);
  for (let t = 0; t < n; t++) {
    const arow = t * m;
    const brow = t * p;
    for (let i = 0; i < m; i++) {
      const x = a[arow + i];
      if (x === 0) continue;
      const row = i * p;
      for (let j = 0; j < p; j++) out[row + j] += x * b[brow + j];
    }
  }
  return out;
}

/**
 * Orthonormalises the columns of q [rows, cols] in place: modified Gram–Schmidt, applied twice ("twice is
 * enough" for full float64 orthogonality). A column that vanishes (rank deficiency) is replaced by a random one.
 */
export function orthonormalizeColumns(q: Float64Array, rows: number, cols: number, random: Random): void {
  for (let j = 0; j < cols; j++) {
    for (let attempt = 0;; attempt++) {
      const before = columnNorm(q, rows, cols, j);
      for (let pass = 0; pass < 2; pass++) {
        for (let i = 0; i < j; i++) {
          let dot = 0;
          for (let r = 0; r < rows; r++) dot += q[r * cols + i] * q[r * cols + j];
          for (let r = 0; r < rows; r++) q[r * cols + j] -= dot * q[r * cols + i];
        }
      }
      const norm = columnNorm(q, rows, cols, j);
      // A column that lost all but ~1e-12 of its length lies in the span of the previous ones.
      if (norm > 1e-12 * before && norm > 0) {
        for (let r = 0; r < rows; r++) q[r * cols + j] /= norm;
        break;
      }
      if (attempt > 8) throw new Error(`cannot find ${cols} independent directions in ${rows} dimensions`);
      for (let r = 0; r < rows; r++) q[r * cols + j] = random.normal();
    }
  }
}

function columnNorm(q: Float64Array, rows: number, cols: number, j: number): number {
  let s = 0;
  for (let r = 0; r < rows; r++) s += q[r * cols + j] ** 2;
  return Math.sqrt(s);
}

export interface SymmetricEigen {
  /** Descending. */
  values: Float64Array;
  /** [n, n], column i is the eigenvector of values[i]. */
  vectors: Float64Array;
}

/** Cyclic Jacobi eigensolver for a symmetric a [n, n] (not modified); exact to float64 rounding. */
export function symmetricEigen(a: Float64Array, n: number): SymmetricEigen {
  const m = new Float64Array(a);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    let total = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        total += m[i * n + j] ** 2;
        if (i !== j) off += m[i * n + j] ** 2;
      }
    }
    if (off <= 1e-30 * total || off === 0) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q];
        if (apq === 0) continue;
        const theta = (m[q * n + q] - m[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) { // columns p, q
          const mkp = m[k * n + p];
          const mkq = m[k * n + q];
          m[k * n + p] = c * mkp - s * mkq;
          m[k * n + q] = s * mkp + c * mkq;
        }
        for (let k = 0; k < n; k++) { // rows p, q
          const mpk = m[p * n + k];
          const mqk = m[q * n + k];
          m[p * n + k] = c * mpk - s * mqk;
          m[q * n + k] = s * mpk + c * mqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p];
          const vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = [...Array(n).keys()].sort((i, j) => m[j * n + j] - m[i * n + i]);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  order.forEach((src, dst) => {
    values[dst] = m[src * n + src];
    for (let k = 0; k < n; k++) vectors[k * n + dst] = v[k * n + src];
  });
  return { values, vectors };
}

export interface Svd {
  /** [m, r] left singular vectors, r = min(m, n). */
  u: Float64Array;
  /** Descending, length r. */
  s: Float64Array;
  /** [n, r] right singular vectors. */
  v: Float64Array;
  rank: number;
}

/** Thin SVD of a [m, n] by one-sided Jacobi (Hestenes): slow, exact to float64 rounding; a test oracle. */
export function svd(a: Float64Array, m: number, n: number): Svd {
  if (m < n) {
    const t = transpose(a, m, n);
    const r = svd(t, n, m);
    return { u: r.v, s: r.s, v: r.u, rank: r.rank };
  }
  const u = new Float64Array(a); // [m, n], columns rotated until orthogonal
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let rotated = false;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        let alpha = 0, beta = 0, gamma = 0;
        for (let k = 0; k < m; k++) {
          const up = u[k * n + p], uq = u[k * n + q];
          alpha += up * up;
          beta += uq * uq;
          gamma += up * uq;
        }
        if (Math.abs(gamma) <= 1e-15 * Math.sqrt(alpha * beta) || gamma === 0) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        for (let k = 0; k < m; k++) {
          const up = u[k * n + p], uq = u[k * n + q];
          u[k * n + p] = c * up - s * uq;
          u[k * n + q] = s * up + c * uq;
        }
        for (let k = 0; k < n; k++) {
          const vp = v[k * n + p], vq = v[k * n + q];
          v[k * n + p] = c * vp - s * vq;
          v[k * n + q] = s * vp + c * vq;
        }
      }
    }
    if (!rotated) break;
  }
  const norms = [...Array(n).keys()].map((j) => columnNorm(u, m, n, j));
  const order = [...Array(n).keys()].sort((i, j) => norms[j] - norms[i]);
  const s = new Float64Array(n);
  const uo = new Float64Array(m * n);
  const vo = new Float64Array(n * n);
  let rank = 0;
  order.forEach((src, dst) => {
    s[dst] = norms[src];
    if (norms[src] > 1e-14 * norms[order[0]]) rank++;
    for (let k = 0; k < m; k++) uo[k * n + dst] = norms[src] > 0 ? u[k * n + src] / norms[src] : 0;
    for (let k = 0; k < n; k++) vo[k * n + dst] = v[k * n + src];
  });
  return { u: uo, s, v: vo, rank };
}

export function transpose(a: Float64Array, m: number, n: number): Float64Array {
  const t = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) t[j * m + i] = a[i * n + j];
  return t;
}

/**
 * Principal angles (radians, ascending) between the column spans of orthonormal a [d, k] and b [d, k]:
 * atan2(sin, cos) with the sines from the residual a − b(bᵀa) and the cosines from bᵀa, so small angles keep
 * their precision (acos of a cosine near 1 would lose half the digits).
 */
export function principalAngles(a: Float64Array, b: Float64Array, d: number, k: number): number[] {
  const bta = matmulTransposeA(b, a, d, k, k); // [k, k]
  const cosines = [...svd(bta, k, k).s].sort((x, y) => y - x);
  const r = matmul(b, bta, d, k, k);
  for (let i = 0; i < r.length; i++) r[i] = a[i] - r[i];
  const sines = [...svd(r, d, k).s].sort((x, y) => x - y);
  return cosines.map((c, i) => Math.atan2(sines[i], c));
}

/**
 * Sine of the largest principal angle between orthonormal a [d, k] and b [d, k]: ‖a − b(bᵀa)‖₂. Computed from the
 * residual rather than as √(1 − cos²) so small angles keep their precision (the convergence test needs ~1e-7).
 */
export function largestAngleSine(a: Float64Array, b: Float64Array, d: number, k: number): number {
  const bta = matmulTransposeA(b, a, d, k, k); // [k, k]
  const r = matmul(b, bta, d, k, k); // [d, k]
  for (let i = 0; i < r.length; i++) r[i] = a[i] - r[i];
  const gram = matmulTransposeA(r, r, d, k, k); // rᵀr [k, k]
  const { values } = symmetricEigen(gram, k);
  return Math.sqrt(Math.max(0, values[0]));
}

/**
 * Row-layout twins of the helpers above for the subspace iteration's hot loop: a block of b vectors of length d
 * stored as rows [b, d] keeps every inner loop contiguous and d long (column layout would make it b ≈ 10 long).
 */

/** Orthonormalises the rows of q [rows, cols] in place (modified Gram–Schmidt twice; vanished rows re-drawn). */
export function orthonormalizeRows(q: Float64Array, rows: number, cols: number, random: Random): void {
  for (let j = 0; j < rows; j++) {
    const row = q.subarray(j * cols, (j + 1) * cols);
    for (let attempt = 0;; attempt++) {
      const before = Math.sqrt(dot(row, row));
      for (let pass = 0; pass < 2; pass++) {
        for (let i = 0; i < j; i++) {
          axpy(-dot(q.subarray(i * cols, (i + 1) * cols), row), q, i * cols, row, cols);
        }
      }
      const norm = Math.sqrt(dot(row, row));
      // A row that lost all but ~1e-12 of its length lies in the span of the previous ones.
      if (norm > 1e-12 * before && norm > 0) {
        for (let c = 0; c < cols; c++) row[c] /= norm;
        break;
      }
      if (attempt > 8) throw new Error(`cannot find ${rows} independent directions in ${cols} dimensions`);
      for (let c = 0; c < cols; c++) row[c] = random.normal();
    }
  }
}

/** Sine of the largest principal angle between the row spans of a [k, d] and b [k, d] (orthonormal rows). */
export function largestAngleSineRows(a: Float64Array, b: Float64Array, k: number, d: number): number {
  const r = new Float64Array(a); // a − (a bᵀ) b
  for (let i = 0; i < k; i++) {
    const ai = a.subarray(i * d, (i + 1) * d);
    const ri = r.subarray(i * d, (i + 1) * d);
    for (let j = 0; j < k; j++) axpy(-dot(ai, b.subarray(j * d, (j + 1) * d)), b, j * d, ri, d);
  }
  const gram = new Float64Array(k * k);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      gram[i * k + j] = dot(r.subarray(i * d, (i + 1) * d), r.subarray(j * d, (j + 1) * d));
    }
  }
  return Math.sqrt(Math.max(0, symmetricEigen(gram, k).values[0]));
}

export function dot(x: Float64Array, y: Float64Array): number {
  // Four independent accumulators: a single running sum is bound by the latency of one add per element; this
  // is the inner loop of every CPU subspace step (about 2.5× faster on V8, measured by tests/bench).
  const n = x.length;
  const end = n - (n % 4);
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (let i = 0; i < end; i += 4) {
    s0 += x[i] * y[i];
    s1 += x[i + 1] * y[i + 1];
    s2 += x[i + 2] * y[i + 2];
    s3 += x[i + 3] * y[i + 3];
  }
  for (let i = end; i < n; i++) s0 += x[i] * y[i];
  return (s0 + s1) + (s2 + s3);
}

/** y += alpha · x[offset .. offset + n) */
export function axpy(alpha: number, x: Float64Array, offset: number, y: Float64Array, n: number): void {
  for (let i = 0; i < n; i++) y[i] += alpha * x[offset + i];
}

/**
 * c [m, p] with c[i, j] = a_i · b_j for rows a [m, len] and b [p, len] (a bᵀ). Two rows of each operand at a
 * time: four dot products share each load, which roughly halves the memory traffic of one `dot` per pair.
 * With `symmetric` (a and b the same matrix) only j ≥ i is computed and mirrored.
 */
export function multiplyTransposed(
  a: Float64Array,
  m: number,
  b: Float64Array,
  p: number,
  len: number,
  symmetric = false,
): Float64Array {
  const c = new Float64Array(m * p);
  for (let i = 0; i < m; i += 2) {
    const i1 = Math.min(i + 1, m - 1); // an odd last row pairs with itself
    const a0 = i * len, a1 = i1 * len;
    for (let j = symmetric ? i : 0; j < p; j += 2) {
      const j1 = Math.min(j + 1, p - 1);
      const b0 = j * len, b1 = j1 * len;
      // Two accumulators per pair (even and odd t) so that consecutive adds do not wait on each other.
      let s00 = 0, s01 = 0, s10 = 0, s11 = 0, e00 = 0, e01 = 0, e10 = 0, e11 = 0;
      const end = len - (len % 2);
      for (let t = 0; t < end; t += 2) {
        const x0 = a[a0 + t], x1 = a[a1 + t], y0 = b[b0 + t], y1 = b[b1 + t];
        s00 += x0 * y0;
        s01 += x0 * y1;
        s10 += x1 * y0;
        s11 += x1 * y1;
        const u0 = a[a0 + t + 1], u1 = a[a1 + t + 1], v0 = b[b0 + t + 1], v1 = b[b1 + t + 1];
        e00 += u0 * v0;
        e01 += u0 * v1;
        e10 += u1 * v0;
        e11 += u1 * v1;
      }
      if (end < len) {
        const x0 = a[a0 + end], x1 = a[a1 + end], y0 = b[b0 + end], y1 = b[b1 + end];
        s00 += x0 * y0;
        s01 += x0 * y1;
        s10 += x1 * y0;
        s11 += x1 * y1;
      }
      s00 += e00;
      s01 += e01;
      s10 += e10;
      s11 += e11;
      c[i * p + j] = s00;
      c[i * p + j1] = s01;
      c[i1 * p + j] = s10;
      c[i1 * p + j1] = s11;
      if (symmetric) {
        c[j * p + i] = s00;
        c[j1 * p + i] = s01;
        c[j * p + i1] = s10;
        c[j1 * p + i1] = s11;
      }
    }
  }
  return c;
}

/** c [m, p] = a [m, len] · b [p, len]ᵀ: dgemm on `gemm` when given, else `multiplyTransposed`. */
export function timesTransposed(
  gemm: Gemm | undefined,
  a: Float64Array,
  m: number,
  b: Float64Array,
  p: number,
  len: number,
  symmetric = false,
): Float64Array {
  if (!gemm) return multiplyTransposed(a, m, b, p, len, symmetric);
  const c = new Float64Array(m * p);
  gemm.dgemm({ transA: false, transB: true, m, n: p, k: len, a, lda: len, b, ldb: len, c, ldc: p });
  return c;
}

/** c [m, p] = a [m, len] · b [len, p] on `gemm`'s dgemm. */
export function times(
  gemm: Gemm,
  a: Float64Array,
  m: number,
  b: Float64Array,
  len: number,
  p: number,
): Float64Array {
  const c = new Float64Array(m * p);
  gemm.dgemm({ transA: false, transB: false, m, n: p, k: len, a, lda: len, b, ldb: p, c, ldc: p });
  return c;
}
