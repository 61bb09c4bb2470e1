/**
 * Applies a patch.safetensors to its base model (reproducing the edited model bit for bit whichever backend made
 * the edit: the edit itself writes `applyRemoved` of the float32 basis and removed part the patch stores) or, with
 * `revert`, removes it from the edited model (restoring the base to float32 rounding). Refuses a model whose weights hash or tensor shapes do not match the patch. Writes to a temporary
 * sibling directory renamed at the end, like `runEdit`.
 */
import { InputError } from "../../shared/errors.ts";
import { readPatch } from "../../shared/formats/patch.ts";
import { openModelFolder } from "../../shared/model/folder.ts";
import type { Matrix } from "../profs/backend.ts";
import { applyRemoved } from "../profs/cpu/projection.ts";
import { type TensorTransform, writeModelFolder } from "./write_model.ts";

export interface ApplyPatchOptions {
  modelDir: string;
  patchFile: string;
  outDir: string;
  revert?: boolean;
  /** Aborting stops the write and removes the partial output. */
  signal?: AbortSignal;
}

export interface ApplyPatchOutcome {
  outDir: string;
  /** sha256 of the written weights; for an apply on the backend that made the edit, the edited model's. */
  outputSha256: string;
  /** The hash the patch records for the model this run produced (edited for apply, base for revert). */
  expectedSha256: string;
}

export async function applyPatch(options: ApplyPatchOptions): Promise<ApplyPatchOutcome> {
  const patch = await readPatch(options.patchFile);
  const meta = patch.metadata;
  try {
    await Deno.lstat(options.outDir);
    throw new InputError(`Cannot write to '--out' as it must not exist yet: '${options.outDir}' exists`);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const model = await openModelFolder(options.modelDir);
  const tmpDir = `${options.outDir.replace(/\/+$/, "")}.partial-${crypto.randomUUID().slice(0, 8)}`;
  try {
    const refuse = (rule: string) =>
      new InputError(`Cannot ${options.revert ? "revert" : "apply"} patch '${options.patchFile}' as ${rule}`);
    if (model.architecture.family !== meta.family || model.architecture.orientation !== meta.orientation) {
      throw refuse(
        `the model must be a ${meta.family} (${meta.orientation}) model: '${options.modelDir}' is ${model.architecture.family}`,
      );
    }
    const needed = options.revert ? meta.editedModelSha256 : meta.baseModelSha256;
    const sha = await model.sha256();
    if (sha !== needed) {
      throw refuse(
        `the model's weights must have sha256 ${needed} (the ${
          options.revert ? "edited" : "base"
        } model it was made ${options.revert ? "as" : "from"}): '${options.modelDir}' has ${sha}`,
      );
    }
    const transforms = new Map<string, TensorTransform>();
    for (const layer of patch.layers) {
      if (layer.layer >= model.numLayers) {
        throw refuse(`its layers must exist in the model: layer ${layer.layer} of ${model.numLayers}`);
      }
      const name = model.mlpOutputName(layer.layer);
      const [rows, cols] = model.tensorInfo(name).shape;
      checkPatchShapes(layer.basis, layer.removed, rows, cols, meta.orientation, meta.rank, name, refuse);
      const sign = options.revert ? 1 : -1;
      transforms.set(
        name,
        (weight: Matrix) =>
          Promise.resolve(
            applyRemoved(weight, layer.basis, layer.removed, meta.orientation, sign, weight.data),
          ),
      );
    }
    const written = await writeModelFolder(model, tmpDir, transforms, { signal: options.signal });
    options.signal?.throwIfAborted();
    await Deno.rename(tmpDir, options.outDir);
    return {
      outDir: options.outDir,
      outputSha256: written.outputSha256,
      expectedSha256: options.revert ? meta.baseModelSha256 : meta.editedModelSha256,
    };
  } catch (error) {
    await Deno.remove(tmpDir, { recursive: true }).catch(() => {});
    throw error;
  } finally {
    await model.close();
  }
}

/** The patch's basis and removed part fit the model tensor `name` [rows, cols]. */
export function checkPatchShapes(
  basis: Matrix,
  removed: Matrix,
  rows: number,
  cols: number,
  orientation: "d-cols" | "d-rows",
  rank: number,
  name: string,
  refuse: (rule: string) => InputError,
): void {
  const d = orientation === "d-cols" ? cols : rows;
  const expectedRemoved = orientation === "d-cols" ? [rows, rank] : [rank, cols];
  if (basis.rows !== d || basis.cols !== rank) {
    throw refuse(`its basis for '${name}' must be [${d}, ${rank}]: it is [${basis.rows}, ${basis.cols}]`);
  }
  if (removed.rows !== expectedRemoved[0] || removed.cols !== expectedRemoved[1]) {
    throw refuse(
      `its removed part for '${name}' (${rows}×${cols}) must be [${expectedRemoved}]: it is [${removed.rows}, ${removed.cols}]`,
    );
  }
}
