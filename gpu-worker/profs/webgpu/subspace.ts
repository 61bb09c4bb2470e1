/**
 * Top-k right singular vectors of a matrix T [n, d] resident on the GPU, by block subspace iteration with
 * Rayleigh–Ritz (ProFS steps 3-4), the algorithm of the CPU oracle (shared/profs/subspace.ts) arranged so that
 * the loop never waits on the GPU: each step is Z = T Q, Y = Tᵀ Z and Q ← gram_schmidt(Y), all recorded into one
 * submission per CHECK_EVERY steps. A round trip costs ~11 ms in Deno, so each check reads back only b×b
 * matrices (H = ZᵀZ and G = QᵀQ for the current Q, and the k×k residual Gram of the previous two checks), and
 * the float64 work happens on the CPU: Rayleigh–Ritz (ritz.ts) and the convergence test. The next submission
 * starts by rotating Q onto its Ritz vectors (Q ← Q W), so the block's columns stay ordered by σ: Gram–Schmidt
 * then takes little from the small columns, and H's entries are accurate relative to σᵢσⱼ rather than σ₁²,
 * which keeps f32 from blurring directions whose σ is far below σ₁ (the failure of the CholeskyQR2 this
 * replaced: its Gram squared the block's condition, (σ₁/σ_b)⁴ in all, beyond f32 from rank ~8 on real data).
 *
 * Convergence: V_j = top Ritz vectors at check j, restricted to the top m = min(k, effective rank) (Ritz values
 * above the noise floor; the others are arbitrary directions that never settle); the residual is
 * ‖V_{j−1} − V_j (V_jᵀ V_{j−1})‖₂, the sine of the largest principal angle between consecutive checks
 * (CHECK_EVERY steps apart, so it bounds the per-step change from above). It is computed from the difference on
 * the GPU, not as √(1 − cos²), so small angles keep their digits. It is held to `params.tolerance` or, when
 * larger, to what f32 can reach (`f32Tolerance`). The block is b = min(k + OVERSAMPLING, n, d)
 * columns like the CPU backend (same seed, same start), so the rate is (σ_{b+1}/σ_k)² per step; b = n or d
 * (fewer pairs or hidden units than k + 8) makes the block the whole row or column space, exact after a step.
 */
import { createRandom } from "../random.ts";
import {
  countAboveFloor,
  F32_EPSILON,
  filterDegree,
  OVERSAMPLING,
  relativeNoiseFloor,
} from "../cpu/subspace.ts";
import type { SubspaceParams } from "../backend.ts";
import type { ComputeBatch, Gpu, ReadRegion } from "../../runtime/gpu.ts";
import { encodeColsDot } from "../../kernels/cols_dot.ts";
import { encodeGram } from "../../kernels/gram.ts";
import { encodeGramSchmidt } from "../../kernels/gram_schmidt.ts";
import { encodeRankKUpdate } from "../../kernels/rank_k_update.ts";
import { encodeRowsDot } from "../../kernels/rows_dot.ts";
import { encodeScaleAdd } from "../../kernels/scale_add.ts";
import { largestSineFromGram, leadingColumns, rayleighRitz } from "./ritz.ts";

/** Steps between convergence checks (one readback each) while no Chebyshev filter applies. */
export const CHECK_EVERY = 5;

/**
 * Largest growth a filter gives the top Ritz value (the CPU allows 1e6): every column is f32, so a wanted column
 * that grows far less than the top one keeps ~log10(1/ε) − log10(growth·error) digits through Gram–Schmidt.
 */
const F32_FILTER_GROWTH = Math.log(1e4);

export interface GpuTopSingular {
  /** V [d, k] f32, orthonormal columns by descending σ (pooled: the caller releases it). */
  basis: GPUBuffer;
  /** σ₁ ≥ … ≥ σ_k. */
  values: number[];
  /** Steps run to produce `basis` (all steps run when not converged). */
  iterations: number;
  residual: number;
  /** What the residual was held to: `params.tolerance`, or f32's floor for these σ when larger. */
  tolerance: number;
  converged: boolean;
  /** How many of the k σ stand above the noise floor (`relativeNoiseFloor`). */
  effectiveRank: number;
  /** The regions of `firstReads`, read back with the first check. */
  firstValues: Float32Array[];
}

/** A Rayleigh–Ritz result waiting to be applied to the block at the start of the next submission. */
interface Check {
  /** [b, b] rotation onto the Ritz vectors. */
  w: Float64Array;
  /** All b Ritz values (σ²), descending. */
  values: number[];
  iterations: number;
  /** Top Ritz vectors compared for convergence: min(k, those above the noise floor). */
  m: number;
}

/** The largest f32 floor honoured: past it a subspace is too ill-defined to call converged. */
const MAX_F32_TOLERANCE = 1e-2;

/**
 * The residual an f32 iteration can reach for the top m directions, from the block's σ (descending, all b):
 * 4·ε·σ₁·σ_m / (√d·(σ_m² − σ_{m+1}²)), ε = 2⁻²³ (σ_{m+1} = 0 when the block is the whole space), at most 1e-2;
 * 0 when m = 0. Why: one step computes Tᵀ(T q_m) to about ε·σ₁·σ_m (the rounding of the products, the columns
 * ordered by σ), an error spread over the d coordinates, so about ε·σ₁·σ_m/√d of it falls on the direction
 * that competes with q_m; the top-m subspace moves by that over the eigengap σ_m² − σ_{m+1}² (Davis–Kahan), so
 * iterates jitter by that much however long the loop runs. Measured stagnation: 1/10 to 1/25 of the bound on the
 * demo model's embeddings (k = 2 … 32, the factor 4 included), 1/3 on a flat spectrum (σⱼ = 1 − 0.001j, k = 2).
 */
export function f32Tolerance(sigma: number[], m: number, d: number): number {
  if (m === 0) return 0;
  const gap = sigma[m - 1] ** 2 - (m < sigma.length ? sigma[m] ** 2 : 0);
  if (!(gap > 0)) return MAX_F32_TOLERANCE;
  return Math.min(MAX_F32_TOLERANCE, (4 * F32_EPSILON * sigma[0] * sigma[m - 1]) / (Math.sqrt(d) * gap));
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
  const floor = relativeNoiseFloor(n, d);
  const random = createRandom(params.seed);
  const start = new Float32Array(d * b); // [d, b] Gaussian, the CPU backend's start
  for (let i = 0; i < start.length; i++) start[i] = random.normal();
  const seed = params.seed >>> 0; // of gram_schmidt's replacement columns

  let q = gpu.upload(start, "Q"); // [d, b] orthonormal after the first step
  let y = gpu.storage(d * b * 4, "Y"); // [d, b] Tᵀ T Q, then orthonormalised (swapped with Q)
  const z = gpu.storage(n * b * 4, "Z"); // [n, b]
  const g = gpu.storage(b * b * 4, "G"); // [b, b] QᵀQ
  const h = gpu.storage(b * b * 4, "H"); // [b, b] ZᵀZ
  const wAll = gpu.storage(b * b * 4, "W"); // [b, b] Ritz rotation
  const wTop = gpu.storage(b * k * 4, "Wtop"); // [b, k] its first k columns
  const wCompared = gpu.storage(b * k * 4, "Wcmp"); // [b, k] its first m columns, zeros after
  const v = gpu.storage(d * k * 4, "V"); // [d, k] the result
  const vCompared = gpu.storage(d * k * 4, "Vcmp"); // [d, k] top m Ritz vectors, zero columns after
  const vPrev = gpu.storage(d * k * 4, "Vprev"); // [d, k] Vcmp of the previous check
  const m = gpu.storage(k * k * 4, "M"); // [k, k]
  const e = gpu.storage(d * k * 4, "E"); // [d, k]
  const ete = gpu.storage(k * k * 4, "EtE"); // [k, k]
  const ay = gpu.storage(d * b * 4, "AY"); // [d, b] Tᵀ T Y_j in a Chebyshev filter
  const mixed = gpu.storage(d * b * 4, "Ymix"); // [d, b] (4/θ)·A Y_j − 2 Y_j
  let spare = gpu.storage(d * b * 4, "Yspare"); // [d, b] the filter's third iterate
  const scratch = [z, g, h, wAll, wTop, wCompared, vCompared, vPrev, m, e, ete, ay, mixed];

  const step = async (batch: ComputeBatch) => {
    await encodeRowsDot(gpu, batch, { a: t, b: q, c: z }, { m: n, k: d, kb: b });
    await encodeColsDot(gpu, batch, { a: t, b: z, c: y }, { m: n, n: d, kb: b });
    await encodeGramSchmidt(gpu, batch, { q: y }, { rows: d, k: b, seed });
    [q, y] = [y, q];
  };
  const applyA = async (batch: ComputeBatch, from: GPUBuffer, to: GPUBuffer) => {
    await encodeRowsDot(gpu, batch, { a: t, b: from, c: z }, { m: n, k: d, kb: b });
    await encodeColsDot(gpu, batch, { a: t, b: z, c: to }, { m: n, n: d, kb: b });
  };
  const combine = async (
    batch: ComputeBatch,
    x: GPUBuffer,
    y: GPUBuffer,
    to: GPUBuffer,
    alpha: number,
    beta: number,
  ) => {
    await encodeScaleAdd(gpu, batch, { x, y, z: to }, { length: d * b, alpha, beta });
  };
  // Chebyshev filter of `degree` ≥ 2 damping [0, θ] (the CPU's, shared/profs: Y₀ = Q, Y₁ = (2/θ)·A Q − Q,
  // Y_{j+1} = (4/θ)·A Y_j − 2 Y_j − Y_{j−1}), then Q ← gram_schmidt(Y_p). Y rotates through q, y and spare.
  const filter = async (batch: ComputeBatch, degree: number, theta: number) => {
    let before = q, current = y, next = spare;
    await applyA(batch, q, ay);
    await combine(batch, ay, q, current, 2 / theta, -1);
    for (let j = 1; j < degree; j++) {
      await applyA(batch, current, ay);
      await combine(batch, ay, current, mixed, 4 / theta, -2);
      await combine(batch, mixed, before, next, 1, -1);
      [before, current, next] = [current, next, before];
    }
    await encodeGramSchmidt(gpu, batch, { q: current }, { rows: d, k: b, seed });
    [q, y, spare] = [current, before, next];
  };
  const rotate = async (batch: ComputeBatch, to: GPUBuffer, w: GPUBuffer, cols: number) => {
    await encodeRankKUpdate(gpu, batch, { c: to, a: q, b: w }, { m: d, n: cols, ka: b, alpha: 1, beta: 0 });
  };

  try {
    let iterations = 0;
    let firstValues: Float32Array[] | null = null;
    let pending: Check | null = null;
    let current: Check | null = null; // the check whose V is held in `v`
    let residual = Infinity;
    for (;;) {
      const batch = gpu.batch("subspace_iteration");
      let compared: "gpu" | "none" | "zero" = "none";
      if (pending) {
        gpu.write(wAll, Float32Array.from(pending.w));
        gpu.write(wTop, leadingColumns(pending.w, b, k));
        gpu.write(wCompared, leadingColumns(pending.w, b, k, pending.m));
        await rotate(batch, v, wTop, k);
        await rotate(batch, vCompared, wCompared, k);
        await rotate(batch, y, wAll, b);
        [q, y] = [y, q];
        if (current && current.m === pending.m) {
          if (pending.m === 0) {
            compared = "zero"; // T = 0: nothing to converge
          } else {
            // E = V_prev − V (Vᵀ V_prev), then EᵀE: its largest eigenvalue is sin² of the largest angle.
            await encodeGram(gpu, batch, { a: vCompared, b: vPrev, g: m }, { r: d, ka: k, kb: k });
            batch.copy(vPrev, e, d * k * 4);
            await encodeRankKUpdate(gpu, batch, { c: e, a: vCompared, b: m }, {
              m: d,
              n: k,
              ka: k,
              alpha: -1,
              beta: 1,
            });
            await encodeGram(gpu, batch, { a: e, b: e, g: ete }, { r: d, ka: k, kb: k });
            compared = "gpu";
          }
        }
        batch.copy(vCompared, vPrev, d * k * 4);
        current = pending;
        pending = null;
      }
      const remaining = params.maxIterations - iterations;
      const degree: number = current && remaining > 0
        ? filterDegree(current.values, remaining, F32_FILTER_GROWTH)
        : 1;
      const steps: number = degree > 1 ? degree : Math.min(CHECK_EVERY, remaining);
      if (degree > 1) await filter(batch, degree, current!.values[b - 1]);
      else for (let s = 0; s < steps; s++) await step(batch);
      iterations += steps;
      if (steps > 0) {
        await encodeRowsDot(gpu, batch, { a: t, b: q, c: z }, { m: n, k: d, kb: b });
        await encodeGram(gpu, batch, { a: z, b: z, g: h }, { r: n, ka: b, kb: b });
        await encodeGram(gpu, batch, { a: q, b: q, g }, { r: d, ka: b, kb: b });
      }
      await batch.submit();

      const regions: ReadRegion[] = [];
      if (steps > 0) regions.push({ buffer: h, length: b * b }, { buffer: g, length: b * b });
      if (compared === "gpu") regions.push({ buffer: ete, length: k * k });
      if (!firstValues) regions.push(...firstReads);
      const values = await gpu.read(regions, "subspace_check");
      let next = 0;
      const ritz = steps > 0 ? rayleighRitz(values[next++], values[next++], b) : null;
      if (compared === "gpu") residual = largestSineFromGram(values[next++], k);
      if (compared === "zero") residual = 0;
      firstValues ??= values.slice(next);

      const block = current ? current.values.map((value) => Math.sqrt(value)) : [];
      const sigma = block.slice(0, k);
      const tolerance = current
        ? Math.max(params.tolerance, f32Tolerance(block, current.m, d))
        : params.tolerance;
      const converged = compared !== "none" && residual < tolerance;
      if (converged || steps === 0) {
        return {
          basis: v,
          values: sigma,
          iterations: converged ? current!.iterations : iterations,
          residual,
          tolerance,
          converged,
          effectiveRank: countAboveFloor(sigma, floor),
          firstValues,
        };
      }
      const ritzSigma = ritz!.values.slice(0, k).map((value) => Math.sqrt(value));
      pending = { w: ritz!.w, values: ritz!.values, iterations, m: countAboveFloor(ritzSigma, floor) };
    }
  } catch (error) {
    gpu.release(v);
    throw error;
  } finally {
    gpu.release(q, y, spare, ...scratch);
  }
}
