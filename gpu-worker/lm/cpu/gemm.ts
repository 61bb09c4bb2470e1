/**
 * The `Gemm` interface of gpu-worker/blas/gemm.ts (branch cpu-blas) with a naive plain-TypeScript body, so the
 * LM engine is written against the interface before that branch lands; replaced by `openGemm()` once merged.
 */

export interface GemmArgs<T> {
  transA: boolean;
  transB: boolean;
  m: number;
  n: number;
  k: number;
  alpha?: number;
  a: T;
  aOffset?: number;
  lda: number;
  b: T;
  bOffset?: number;
  ldb: number;
  beta?: number;
  c: T;
  cOffset?: number;
  ldc: number;
}

export interface Gemm {
  readonly name: string;
  /** C[m,n] = alpha·op(A)·op(B) + beta·C, row-major, op(X) = Xᵀ when the flag is set. */
  sgemm(o: GemmArgs<Float32Array>): void;
  dgemm(o: GemmArgs<Float64Array>): void;
}

/** Naive loops accumulating in float64: the oracle. */
export function typescriptGemm(): Gemm {
  function gemm(o: GemmArgs<Float32Array> | GemmArgs<Float64Array>): void {
    const { transA, transB, m, n, k, a, b, c, lda, ldb, ldc } = o;
    const alpha = o.alpha ?? 1, beta = o.beta ?? 0;
    const ao = o.aOffset ?? 0, bo = o.bOffset ?? 0, co = o.cOffset ?? 0;
    const acc = new Float64Array(n);
    for (let i = 0; i < m; i++) {
      acc.fill(0);
      for (let p = 0; p < k; p++) {
        const x = transA ? a[ao + p * lda + i] : a[ao + i * lda + p];
        if (x === 0) continue;
        if (transB) { for (let j = 0; j < n; j++) acc[j] += x * b[bo + j * ldb + p]; }
        else {
          const row = bo + p * ldb;
          for (let j = 0; j < n; j++) acc[j] += x * b[row + j];
        }
      }
      const row = co + i * ldc;
      for (let j = 0; j < n; j++) c[row + j] = alpha * acc[j] + (beta === 0 ? 0 : beta * c[row + j]);
    }
  }
  return { name: "typescript", sgemm: gemm, dgemm: gemm };
}

/** The engine's products: the plain-TypeScript loops until gpu-worker/blas/ (OpenBLAS) is merged. */
export function cpuGemm(): Gemm {
  return typescriptGemm();
}
