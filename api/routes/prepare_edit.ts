/**
 * The one place an edit's inputs are checked before a job is queued, for `POST /v1/edits` and a trigger's fire
 * (and the model half, `readyModel`, for `POST /v1/checks`): the model exists and is ready; the dataset exists
 * and is pairs or embeddings; a model whose forward pass profs cannot run takes neither pairs nor a check; the layer range fits the model; embeddings fit the model (layers, hidden size,
 * model sha256); there are enough pairs for the rank and the rank fits the hidden size. Each refusal is the
 * status the routes document (404, 409, 422 naming the field), so both ways in answer alike.
 */
import { checkEditFitsData, type EditParams, resolveLayers } from "../../shared/contracts/edit_params.ts";
import type { ModelSummary } from "../../shared/contracts/models.ts";
import type { Db } from "../../shared/db/database.ts";
import { getDataset } from "../../shared/db/repositories/datasets.ts";
import { getModel } from "../../shared/db/repositories/models.ts";
import { lockForJob } from "../../shared/db/repositories/in_use.ts";
import { inTenantScope } from "../../shared/db/tenant_scope.ts";
import { InputError } from "../../shared/errors.ts";
import { embeddingsMisfit } from "../../shared/formats/embeddings.ts";
import { ApiError, notFound } from "../errors.ts";
import { refuseTextsForEdit, refuseWithoutForward } from "./common.ts";

/** The model, when it exists for this tenant and is ready (404 / 409 otherwise). */
export async function readyModel(db: Db, tenantId: string, modelId: string) {
  const model = await getModel(db, tenantId, modelId);
  if (!model) throw notFound("model", modelId);
  if (model.status !== "ready") {
    throw new ApiError(
      409,
      "conflict",
      `Model '${model.id}' must be ready (finalized): it is ${model.status}`,
    );
  }
  return model;
}

/**
 * Runs `enqueue` in one transaction that holds the job's model (and datasets) `FOR SHARE` and finds the model
 * still ready: a concurrent delete (shared/db/repositories/in_use.ts) either waits and then refuses with 409
 * because this job uses the model, or deletes first and this answers 404 — never a 204 and a 201 together.
 */
export function enqueueHolding<T>(
  db: Db,
  tenantId: string,
  uses: { modelId: string; datasetIds?: (string | null | undefined)[] },
  enqueue: (tx: Db) => Promise<T>,
): Promise<T> {
  return inTenantScope(db, tenantId, async (tx) => {
    const model = await lockForJob(tx, tenantId, "model", uses.modelId);
    if (!model) throw notFound("model", uses.modelId);
    if (model.status !== "ready") {
      throw new ApiError(
        409,
        "conflict",
        `Model '${model.id}' must be ready (finalized): it is ${model.status}`,
      );
    }
    for (const id of uses.datasetIds ?? []) {
      if (id && !await lockForJob(tx, tenantId, "dataset", id)) throw notFound("dataset", id);
    }
    return await enqueue(tx);
  });
}

/** Checks an edit's model, dataset and (already schema-valid) parameters; returns the job to enqueue. */
export async function prepareEdit(
  db: Db,
  tenantId: string,
  input: { model_id: string; dataset_id: string; params: EditParams },
) {
  const model = await readyModel(db, tenantId, input.model_id);
  const dataset = await getDataset(db, tenantId, input.dataset_id);
  if (!dataset) throw notFound("dataset", input.dataset_id);
  refuseTextsForEdit(dataset);
  if (dataset.kind !== "embeddings") refuseWithoutForward(model, "edit from pairs", "dataset_id");
  if (input.params?.check) refuseWithoutForward(model, "check an edit", "params.check");
  const summary = model.summary as ModelSummary;
  const layers = fieldError("params.layers", () => resolveLayers(input.params, summary.num_layers));
  checkEmbeddingsFit(dataset.metadata as Record<string, unknown>, dataset.kind, summary);
  fieldError("params.rank", () => checkEditFitsData(input.params, dataset, summary.hidden_size));
  return {
    tenantId,
    kind: "edit" as const,
    params: { ...input.params, layers },
    modelId: model.id,
    datasetId: dataset.id,
  };
}

/** An InputError from a shared rule → 422 naming `path`. */
function fieldError<T>(path: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (!(error instanceof InputError)) throw error;
    throw new ApiError(422, "validation-error", error.message, {
      errors: [{ path, message: error.message }],
    });
  }
}

/** Precomputed embeddings must fit the model (shared/formats/embeddings.ts's rule, on the dataset's metadata). */
function checkEmbeddingsFit(metadata: Record<string, unknown>, kind: string, model: ModelSummary): void {
  if (kind !== "embeddings") return;
  const problems = embeddingsMisfit({
    numLayers: Number(metadata.num_layers),
    hiddenSize: Number(metadata.hidden_size),
    modelSha256: typeof metadata.model_sha256 === "string" ? metadata.model_sha256 : undefined,
  }, { numLayers: model.num_layers, hiddenSize: model.hidden_size, sha256: model.sha256 });
  if (problems.length) {
    const detail = `Cannot edit with these embeddings as they must come from this model: ${
      problems.join("; ")
    }`;
    throw new ApiError(422, "validation-error", detail, {
      errors: [{ path: "dataset_id", message: detail }],
    });
  }
}
