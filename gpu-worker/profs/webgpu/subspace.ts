/**
 * Top-k right singular vectors of a matrix T [n, d] resident on the GPU, by block subspace iteration
 * (ProFS steps 3-4). The iteration loop never leaves the GPU: each step is Z = T Q, Y = Tᵀ Z and CholeskyQR2 of Y
 * with the b×b factorisation done by a one-invocation kernel, all recorded into one submission per block of
 * CHECK_EVERY steps. A round trip costs ~11 ms in Deno, so each block ends with a single readback of b×b
 * matrices (H = ZᵀZ, G = QᵀQ, and the k×k residual Gram of the previous check), and the float64 work happens
 * on the CPU: Rayleigh-Ritz (ritz.ts) and the convergence test.
 *
 * Convergence: V_j = top-k Ritz vectors at check j; the residual is ‖V_{j−1} − V_j (V_jᵀ V_{j−1})‖₂, the sine of
 * the largest principal angle between consecutive checks (CHECK_EVERY steps apart, so it bounds the per-step
 * change from above). It is computed from the difference on the GPU, not as √(1 − cos²), so small angles keep
 * their digits. The block is b = k + OVERSAMPLING columns like the CPU backend (same seed, same start), so the
 * rate is (σ_{b+1}/σ_k)² per step.
 */
import { createRandom } from "../random.ts";
import { OVERSAMPLING } from "../cpu/subspace.ts";
import type { SubspaceParams } from "../backend.ts";
import type { ComputeBatch, Gpu, ReadRegion } from "../../runtime/gpu.ts";
import { encodeCholeskyQr } from "../../kernels/cholesky_qr.ts";
import { encodeColsDot } from "../../kernels/cols_dot.ts";
import { encodeGram } from "../../kernels/gram.ts";
import { encodeRankKUpdate } from "../../kernels/rank_k_update.ts";
import { encodeRowsDot } from "../../kernels/rows_dot.ts";
import { largestSineFromGram, rayleighRitz } from "./ritz.ts";

/** Steps between convergence checks (one readback each). */
export const CHECK_EVERY = 5;

export interface GpuTopSingular {
  /** V [d, k] f32, orthonormal columns by descending σ (pooled: the caller releases it). */
  basis: GPUBuffer;
  /** σ₁ ≥ … ≥ σ_k. */
  values: number[];
  /** Steps run to produce `basis`. */
  iterations: number;
  residual: number;
  converged: boolean;
  /** The regions of `firstReads`, read back with the first check. */
  firstValues: Float32Array[];
}

/** t [n, d] f32 on the GPU → its top-k right singular vectors. */
export async function topRightSingularGpu(
  gpu: Gpu,
  t: GPUBuffer,
  shape: { n: number; d: number; k: number },
  params: Pick<SubspaceParams, "tolerance" | "maxIterations" | "seed">,
  firstReads: ReadRegion[] = [],
): Promise<GpuTopSingular> {
  const { n, d, k } = shape;
  const b = Math.min(k + OVERSAMPLING, n, d);
  const random = createRandom(params.seed);
  const start = new Float32Array(d * b); // [d, b] Gaussian, the CPU backend's start
  for (let i = 0; i < start.length; i++) start[i] = random.normal();

  const q = gpu.upload(start, "Q"); // [d, b]
  const q1 = gpu.storage(d * b * 4, "Q1"); // [d, b] after the first CholeskyQR pass
  const z = gpu.storage(n * b * 4, "Z"); // [n, b]
  const y = gpu.storage(d * b * 4, "Y"); // [d, b]
  const g = gpu.storage(b * b * 4, "G"); // [b, b]
  const h = gpu.storage(b * b * 4, "H"); // [b, b]
  const rinv = gpu.storage(b * b * 4, "Rinv"); // [b, b]
  const w = gpu.storage(b * k * 4, "W"); // [b, k] Ritz coefficients
  const v = gpu.storage(d * k * 4, "V"); // [d, k]
  const vPrev = gpu.storage(d * k * 4, "Vprev"); // [d, k]
  const m = gpu.storage(k * k * 4, "M"); // [k, k]
  const e = gpu.storage(d * k * 4, "E"); // [d, k]
  const ete = gpu.storage(k * k * 4, "EtE"); // [k, k]
  const scratch = [q, q1, z, y, g, h, rinv, w, vPrev, m, e, ete];

  const orthonormalize = async (batch: ComputeBatch, from: GPUBuffer, to: GPUBuffer) => {
    await encodeGram(gpu, batch, { a: from, b: from, g }, { r: d, ka: b, kb: b });
    await encodeCholeskyQr(gpu, batch, { g, rinv }, { rows: d, k: b });
    await encodeRankKUpdate(gpu, batch, { c: to, a: from, b: rinv }, {
      m: d,
      n: b,
      ka: b,
      alpha: 1,
      beta: 0,
    });
  };

  try {
    let iterations = 0;
    let firstValues: Float32Array[] | null = null;
    let pending: { w: Float32Array; values: number[]; iterations: number } | null = null;
    let current: { values: number[]; iterations: number } | null = null; // the V_j held in `v` and `vPrev`
    let residual = Infinity;
    for (;;) {
      const batch = gpu.batch("subspace_iteration");
      let compared = false;
      if (pending) {
        gpu.write(w, pending.w);
        await encodeRankKUpdate(gpu, batch, { c: v, a: q, b: w }, { m: d, n: k, ka: b, alpha: 1, beta: 0 });
        if (current) {
          // E = V_prev − V (Vᵀ V_prev), then EᵀE: its largest eigenvalue is sin² of the largest angle.
          await encodeGram(gpu, batch, { a: v, b: vPrev, g: m }, { r: d, ka: k, kb: k });
          batch.copy(vPrev, e, d * k * 4);
          await encodeRankKUpdate(gpu, batch, { c: e, a: v, b: m }, {
            m: d,
            n: k,
            ka: k,
            alpha: -1,
            beta: 1,
          });
          await encodeGram(gpu, batch, { a: e, b: e, g: ete }, { r: d, ka: k, kb: k });
          compared = true;
        }
        batch.copy(v, vPrev, d * k * 4);
        current = { values: pending.values, iterations: pending.iterations };
        pending = null;
      }
      const steps = Math.min(CHECK_EVERY, params.maxIterations - iterations);
      for (let s = 0; s < steps; s++) {
        await encodeRowsDot(gpu, batch, { a: t, b: q, c: z }, { m: n, k: d, kb: b });
        await encodeColsDot(gpu, batch, { a: t, b: z, c: y }, { m: n, n: d, kb: b });
        await orthonormalize(batch, y, q1);
        await orthonormalize(batch, q1, q);
      }
      iterations += steps;
      if (steps > 0) {
        await encodeRowsDot(gpu, batch, { a: t, b: q, c: z }, { m: n, k: d, kb: b });
        await encodeGram(gpu, batch, { a: z, b: z, g: h }, { r: n, ka: b, kb: b });
        await encodeGram(gpu, batch, { a: q, b: q, g }, { r: d, ka: b, kb: b });
      }
      await batch.submit();

      const regions: ReadRegion[] = [];
      if (steps > 0) regions.push({ buffer: h, length: b * b }, { buffer: g, length: b * b });
      if (compared) regions.push({ buffer: ete, length: k * k });
      if (!firstValues) regions.push(...firstReads);
      const values = await gpu.read(regions, "subspace_check");
      let next = 0;
      const ritz = steps > 0 ? rayleighRitz(values[next++], values[next++], b, k) : null;
      if (compared) residual = largestSineFromGram(values[next++], k);
      firstValues ??= values.slice(next);

      if ((compared && residual < params.tolerance) || steps === 0) {
        return {
          basis: v,
          values: current!.values.map((value) => Math.sqrt(Math.max(0, value))),
          iterations: current!.iterations,
          residual,
          converged: residual < params.tolerance,
          firstValues,
        };
      }
      pending = { w: Float32Array.from(ritz!.w), values: ritz!.values, iterations };
    }
  } catch (error) {
    gpu.release(v);
    throw error;
  } finally {
    gpu.release(...scratch);
  }
}
