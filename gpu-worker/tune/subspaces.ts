/**
 * Nested subspaces: one decomposition per (block, centering) at rank k_max, and the first k columns of its basis
 * for every rank k ≤ k_max — so a search over ranks costs one subspace iteration per block and setting, not one
 * per candidate.
 *
 * Why the prefix is the rank-k subspace: a backend returns V's columns ordered by descending singular value
 * (`LayerSubspace.basis`, both backends), so columns 1..k span the top-k right singular subspace of the same T.
 * The rank-k_max iteration (block k_max + 8) and a rank-k one (block k + 8) converge to the same top-k subspace
 * whenever σ_k > σ_{k+1}, each to its tolerance (the larger block only speeds the top columns up). They can differ
 * only where σ_k = σ_{k+1} to within that tolerance — and there the top-k subspace itself is not determined by T
 * (any rotation inside the tied pair is as valid), so no ordering of candidates depends on which one is taken.
 * The chosen edit is written by runEdit at rank k, as a plain edit would be; its subspace equals the prefix the
 * trial measured to the iteration's tolerance (tests/tune/subspaces_test.ts).
 */
import { ConvergenceError } from "../../shared/errors.ts";
import type { LayerSubspace, Matrix, ProfsBackend, SubspaceParams } from "../profs/backend.ts";
import type { LayerSource } from "../edit/edit_data.ts";

export interface NestedSubspaces {
  /** V [D, k]: the first k columns of the block's rank-k_max basis for this centering setting. */
  basis(layer: number, centering: boolean, k: number): Matrix;
  /** The rank-k_max decompositions, by "layer/c<0|1>". */
  readonly full: ReadonlyMap<string, LayerSubspace>;
}

/** The first k columns of a [D, K] row-major basis. */
export function leadingColumns(basis: Matrix, k: number): Matrix {
  if (!(Number.isInteger(k) && k >= 1 && k <= basis.cols)) {
    throw new RangeError(`Cannot take ${k} columns of a basis with ${basis.cols}`);
  }
  if (k === basis.cols) return basis;
  const data = new Float32Array(basis.rows * k);
  for (let r = 0; r < basis.rows; r++) {
    data.set(basis.data.subarray(r * basis.cols, r * basis.cols + k), r * k);
  }
  return { rows: basis.rows, cols: k, data };
}

export async function nestedSubspaces(
  backend: ProfsBackend,
  source: LayerSource,
  o: {
    layers: readonly number[];
    centering: readonly boolean[];
    params: Omit<SubspaceParams, "centering">; // rank = k_max
    signal?: AbortSignal;
    onProgress?: (done: number, total: number) => void;
  },
): Promise<NestedSubspaces> {
  const full = new Map<string, LayerSubspace>();
  const settings = [...new Set(o.centering)];
  const total = o.layers.length * settings.length;
  for (const layer of o.layers) {
    o.signal?.throwIfAborted();
    const { preferred, rejected } = await source(layer);
    for (const centering of settings) {
      const subspace = await backend.toxicSubspace(preferred, rejected, { ...o.params, centering }).catch(
        (error) => {
          throw error instanceof ConvergenceError ? error.inBlock(layer) : error;
        },
      );
      full.set(`${layer}/c${centering ? 1 : 0}`, subspace);
      o.onProgress?.(full.size, total);
    }
  }
  return {
    full,
    basis(layer, centering, k) {
      const subspace = full.get(`${layer}/c${centering ? 1 : 0}`);
      if (!subspace) {
        throw new RangeError(`no subspace was computed for block ${layer}, centering ${centering}`);
      }
      return leadingColumns(subspace.basis, k);
    },
  };
}
