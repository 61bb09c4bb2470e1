/**
 * The tiny b×b steps of the GPU subspace iteration, in float64 on the CPU: Rayleigh-Ritz on a basis that is
 * only orthonormal to f32 accuracy, and the sine of the largest principal angle from a residual's Gram.
 */
import { symmetricEigen } from "../cpu/linalg.ts";

export interface RitzResult {
  /** [b, b] coefficients: Q W has orthonormal columns (in exact arithmetic given G) ordered by Ritz value. */
  w: Float64Array;
  /** The b Ritz values of TᵀT (σ²), descending. */
  values: number[];
}

/**
 * Rayleigh-Ritz for the generalized problem H w = λ G w, with H = (T Q)ᵀ(T Q) and G = QᵀQ [b, b]:
 * G = L Lᵀ (Cholesky, float64), C = L⁻¹ H L⁻ᵀ = U Λ Uᵀ, W = L⁻ᵀ U. Using G rather than assuming QᵀQ = I makes V
 * orthonormal to float64 rounding of G, whatever the f32 orthonormalisation left behind.
 */
export function rayleighRitz(h: Float32Array, g: Float32Array, b: number): RitzResult {
  const l = choleskyLower(symmetrize(g, b), b) ?? identity(b);
  const linv = invertLower(l, b);
  const c = multiply(multiply(linv, symmetrize(h, b), b, b, b), transpose(linv, b), b, b, b);
  const eig = symmetricEigen(symmetrize(c, b), b);
  const w = multiply(transpose(linv, b), eig.vectors, b, b, b); // L⁻ᵀ U [b, b]
  return { w, values: [...eig.values].map((v) => Math.max(0, v)) };
}

/** The first `k` columns of w [b, b], and zeros in columns `m` … k−1: [b, k]. */
export function leadingColumns(w: Float64Array, b: number, k: number, m = k): Float32Array {
  const out = new Float32Array(b * k);
  for (let r = 0; r < b; r++) for (let j = 0; j < m; j++) out[r * k + j] = w[r * b + j];
  return out;
}

/** ‖E‖₂ from EᵀE [k, k]: the sine of the largest principal angle when E = V_prev − V (Vᵀ V_prev). */
export function largestSineFromGram(ete: Float32Array, k: number): number {
  const { values } = symmetricEigen(symmetrize(ete, k), k);
  return Math.sqrt(Math.max(0, values[0]));
}

function symmetrize(a: ArrayLike<number>, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[i * n + j] = (a[i * n + j] + a[j * n + i]) / 2;
  return out;
}

function choleskyLower(a: Float64Array, n: number): Float64Array | null {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = a[i * n + j];
      for (let p = 0; p < j; p++) sum -= l[i * n + p] * l[j * n + p];
      if (i === j) {
        if (!(sum > 0)) return null;
        l[i * n + i] = Math.sqrt(sum);
      } else {
        l[i * n + j] = sum / l[j * n + j];
      }
    }
  }
  return l;
}

function invertLower(l: Float64Array, n: number): Float64Array {
  const inv = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    inv[j * n + j] = 1 / l[j * n + j];
    for (let i = j + 1; i < n; i++) {
      let sum = 0;
      for (let p = j; p < i; p++) sum += l[i * n + p] * inv[p * n + j];
      inv[i * n + j] = -sum / l[i * n + i];
    }
  }
  return inv;
}

function identity(n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) out[i * n + i] = 1;
  return out;
}

function transpose(a: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[j * n + i] = a[i * n + j];
  return out;
}

/** a [m, p] · b [p, q] */
function multiply(a: Float64Array, b: Float64Array, m: number, p: number, q: number): Float64Array {
  const out = new Float64Array(m * q);
  for (let i = 0; i < m; i++) {
    for (let t = 0; t < p; t++) {
      const x = a[i * p + t];
      for (let j = 0; j < q; j++) out[i * q + j] += x * b[t * q + j];
    }
  }
  return out;
}
