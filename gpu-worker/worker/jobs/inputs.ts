/**
 * A job's inputs as local files: the pipeline reads folders and files, the blob store holds keys
 * (shared/blobs/folder.ts reads them in place or downloads them into the attempt's scratch directory).
 */
import { join } from "node:path";
import { localBlobFolder } from "../../../shared/blobs/folder.ts";
import type { BlobStore } from "../../../shared/blobs/store.ts";
import type { Db } from "../../../shared/db/database.ts";
import { getDataset } from "../../../shared/db/repositories/datasets.ts";
import { getModel, listModelFiles } from "../../../shared/db/repositories/models.ts";
import type { Dataset, Model } from "../../../shared/db/schema.ts";
import { InputError } from "../../../shared/errors.ts";

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
  const dir = await localBlobFolder(
    blobs,
    files.map((f) => ({ key: f.blobKey, name: f.filename })),
    join(scratch, "model"),
    `model '${model.id}'`,
  );
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
