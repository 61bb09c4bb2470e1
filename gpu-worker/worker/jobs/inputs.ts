/**
 * A job's inputs as local files: the pipeline reads folders and files, the blob store holds keys. A store with
 * local paths (a directory, also over a shared mount) is read in place; any other store is downloaded into the
 * attempt's scratch directory first.
 */
import { join } from "node:path";
import type { BlobStore } from "../../../shared/blobs/store.ts";
import type { Db } from "../../../shared/db/database.ts";
import { getDataset } from "../../../shared/db/repositories/datasets.ts";
import { getModel, listModelFiles } from "../../../shared/db/repositories/models.ts";
import type { Dataset, Model } from "../../../shared/db/schema.ts";
import { InputError } from "../../../shared/errors.ts";

/** The blob `key` as a local file: its own path when the store has one, else a download to `target`. */
export async function localBlob(
  blobs: BlobStore,
  key: string,
  target: string,
  what: string,
): Promise<string> {
  const local = blobs.localPath(key);
  if (local !== null) {
    if (await blobs.exists(key)) return local;
    throw new InputError(`Cannot read ${what} as its stored file is missing (it was deleted)`);
  }
  const blob = await blobs.get(key);
  if (!blob) throw new InputError(`Cannot read ${what} as its stored file is missing (it was deleted)`);
  await Deno.writeFile(target, blob.body);
  return target;
}

/** A ready model of the tenant and its folder on this machine. */
export async function resolveModel(
  db: Db,
  blobs: BlobStore,
  tenantId: string,
  modelId: string | null,
  scratch: string,
): Promise<{ model: Model; dir: string }> {
  const model = modelId === null ? null : await getModel(db, tenantId, modelId);
  if (!model) throw new InputError("Cannot run the job as its model was deleted");
  if (model.status !== "ready") {
    throw new InputError(`Cannot run the job as model '${model.id}' must be ready: it is ${model.status}`);
  }
  if (model.folderPath !== null) return { model, dir: model.folderPath };
  const files = await listModelFiles(db, tenantId, model.id);
  const inPlace = blobs.localPath(`models/${model.id}`);
  if (inPlace !== null && files.every((f) => blobs.localPath(f.blobKey) === join(inPlace, f.filename))) {
    for (const file of files) {
      if (!await blobs.exists(file.blobKey)) {
        throw new InputError(
          `Cannot read model '${model.id}' as its stored file '${file.filename}' is missing (it was deleted)`,
        );
      }
    }
    return { model, dir: inPlace };
  }
  const dir = join(scratch, "model");
  await Deno.mkdir(dir, { recursive: true });
  for (const file of files) {
    await localBlob(blobs, file.blobKey, join(dir, file.filename), `model file '${file.filename}'`);
  }
  return { model, dir };
}

export async function resolveDataset(
  db: Db,
  tenantId: string,
  datasetId: string | null,
): Promise<Dataset> {
  const dataset = datasetId === null ? null : await getDataset(db, tenantId, datasetId);
  if (!dataset) throw new InputError("Cannot run the job as its dataset was deleted");
  return dataset;
}
