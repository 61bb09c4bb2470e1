/**
 * Patch file (DESIGN.md §3): a tiny safetensors holding, per edited layer, `layers.{l}.basis` V [D, k] and
 * `layers.{l}.removed` (W V [R, k] for d-cols, Vᵀ W [k, C] for d-rows), so the edit can be applied to the base
 * model or reverted from the edited one. Metadata says which model and tensors it belongs to.
 */
import { InputError } from "../errors.ts";
import type { Matrix, Orientation } from "../../gpu-worker/profs/backend.ts";
import { fromFloat32 } from "../safetensors/dtype.ts";
import { openSafetensors } from "../safetensors/reader.ts";
import { writeSafetensorsFile } from "../safetensors/writer.ts";

export const PATCH_FORMAT = "profs-patch/1";

export interface PatchMetadata {
  family: string;
  /** sha256 of the base model's weight files (applying needs this model). */
  baseModelSha256: string;
  /** sha256 of the edited model's weight files (reverting needs this model). */
  editedModelSha256: string;
  /** Canonical name pattern of the edited tensors, `{l}` = layer. */
  target: string;
  orientation: Orientation;
  rank: number;
  layers: number[];
}

export interface PatchLayer {
  layer: number;
  basis: Matrix;
  removed: Matrix;
}

export interface Patch {
  metadata: PatchMetadata;
  layers: PatchLayer[];
}

export async function writePatch(path: string, patch: Patch): Promise<void> {
  const m = patch.metadata;
  const metadata = {
    format: PATCH_FORMAT,
    family: m.family,
    base_model_sha256: m.baseModelSha256,
    edited_model_sha256: m.editedModelSha256,
    target: m.target,
    orientation: m.orientation,
    rank: String(m.rank),
    layers: JSON.stringify(m.layers),
  };
  await writeSafetensorsFile(
    path,
    patch.layers.flatMap((l) => [
      {
        name: `layers.${l.layer}.basis`,
        dtype: "F32" as const,
        shape: [l.basis.rows, l.basis.cols],
        data: fromFloat32(l.basis.data, "F32"),
      },
      {
        name: `layers.${l.layer}.removed`,
        dtype: "F32" as const,
        shape: [l.removed.rows, l.removed.cols],
        data: fromFloat32(l.removed.data, "F32"),
      },
    ]),
    metadata,
  );
}

/** Reads and validates a patch file (small: read whole). */
export async function readPatch(path: string): Promise<Patch> {
  const fail = (rule: string) => new InputError(`Cannot read patch '${path}' as ${rule}`);
  const reader = await openSafetensors(path);
  try {
    const raw = reader.header.metadata;
    if (raw.format !== PATCH_FORMAT) {
      throw fail(
        `its metadata 'format' must be '${PATCH_FORMAT}': current value is '${raw.format ?? "(none)"}'`,
      );
    }
    for (
      const key of [
        "family",
        "base_model_sha256",
        "edited_model_sha256",
        "target",
        "orientation",
        "rank",
        "layers",
      ]
    ) {
      if (raw[key] === undefined) throw fail(`its metadata must have '${key}'`);
    }
    if (raw.orientation !== "d-cols" && raw.orientation !== "d-rows") {
      throw fail(
        `its metadata 'orientation' must be d-cols or d-rows: current value is '${raw.orientation}'`,
      );
    }
    const rank = Number(raw.rank);
    let layers: unknown;
    try {
      layers = JSON.parse(raw.layers);
    } catch {
      layers = null;
    }
    if (
      !Array.isArray(layers) || !layers.every((l) => Number.isInteger(l) && l >= 0) || layers.length === 0
    ) {
      throw fail(
        `its metadata 'layers' must be a JSON list of layer indices: current value is '${raw.layers}'`,
      );
    }
    if (!Number.isInteger(rank) || rank < 1) {
      throw fail(`its metadata 'rank' must be a positive integer: '${raw.rank}'`);
    }
    const expected = (layers as number[]).flatMap((l) => [`layers.${l}.basis`, `layers.${l}.removed`]).sort();
    const names = reader.header.tensors.map((t) => t.name).sort();
    if (expected.join() !== names.join()) {
      throw fail(
        `it must hold exactly a basis and a removed tensor per listed layer: it has ${names.join(", ")}`,
      );
    }
    const out: PatchLayer[] = [];
    for (const layer of layers as number[]) {
      const basis = await readMatrix(reader, `layers.${layer}.basis`, fail);
      const removed = await readMatrix(reader, `layers.${layer}.removed`, fail);
      if (basis.cols !== rank) {
        throw fail(`'layers.${layer}.basis' must have ${rank} columns: it has ${basis.cols}`);
      }
      out.push({ layer, basis, removed });
    }
    return {
      metadata: {
        family: raw.family,
        baseModelSha256: raw.base_model_sha256,
        editedModelSha256: raw.edited_model_sha256,
        target: raw.target,
        orientation: raw.orientation,
        rank,
        layers: layers as number[],
      },
      layers: out,
    };
  } finally {
    await reader.close();
  }
}

async function readMatrix(
  reader: Awaited<ReturnType<typeof openSafetensors>>,
  name: string,
  fail: (rule: string) => InputError,
): Promise<Matrix> {
  const t = reader.entry(name)!;
  if (t.dtype !== "F32" || t.shape.length !== 2) throw fail(`'${name}' must be an F32 matrix`);
  return { rows: t.shape[0], cols: t.shape[1], data: await reader.readFloat32(name) };
}
