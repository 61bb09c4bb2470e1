/**
 * /v1/models: create a model and stream its files in (`PUT …/files/{filename}`), register a folder already on
 * the server under a configured root, or import one from the Hugging Face Hub (`source.hub`: the model row and
 * an `import` job in one transaction; a worker fetches and finalizes it, gpu-worker/worker/jobs/import_job.ts);
 * finalize validates the folder with shared/model (config, tokenizer, tensors and shapes for a supported
 * architecture).
 */
import { realpath } from "node:fs/promises";
import { isAbsolute, resolve, sep } from "node:path";
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { pgText } from "../../shared/contracts/text.ts";
import {
  type ImportParams,
  MODEL_FILE_NAME,
  ModelCreate,
  ModelFile,
  type ModelImport,
  ModelPage,
  type ModelSummary,
  ModelView,
} from "../../shared/contracts/models.ts";
import { PageQuery } from "../../shared/contracts/pagination.ts";
import { withBlobFolder } from "../../shared/blobs/folder.ts";
import { modelFileKey, modelPrefix } from "../../shared/blobs/keys.ts";
import { BlobTooLargeError } from "../../shared/blobs/store.ts";
import type { Db, Job, Model } from "../../shared/db/index.ts";
import { latestModelJob } from "../../shared/db/repositories/jobs.ts";
import {
  claimModelFile,
  completeModelFile,
  createModel,
  getModel,
  listModelFiles,
  listModels,
  markModelReady,
  updateModel,
} from "../../shared/db/repositories/models.ts";
import { deleteUnlessInUse } from "../../shared/db/repositories/in_use.ts";
import { errorMessage, InputError } from "../../shared/errors.ts";
import { summarizeModelFolder } from "../../shared/model/summary.ts";
import type { ApiDeps } from "../deps.ts";
import type { ApiEnv } from "../env.ts";
import { ApiError, notFound, validationHook } from "../errors.ts";
import { requireScope } from "../middleware/auth.ts";
import { safetensorsValidator } from "../../shared/safetensors/stream_validator.ts";
import { isDiskSpace } from "../uploads/owned_blob.ts";
import { createKeyedQueue } from "../uploads/keyed_queue.ts";
import { declaredLength, IdParam, inUseConflict, jsonLimit, problems } from "./common.ts";

/** Small JSON files of a model folder are parsed before they are stored; tokenizer.json of big vocabularies is ~20 MB. */
const MAX_JSON_FILE_BYTES = 64 * 1024 * 1024;

const FileParams = IdParam.extend({
  filename: pgText(z.string()).meta({
    param: { name: "filename", in: "path" },
    example: "model.safetensors",
  }),
});

export function modelsRoutes(deps: ApiDeps) {
  const app = new OpenAPIHono<ApiEnv>({ defaultHook: validationHook });
  const { db } = deps.database;
  const read = requireScope("models:read");
  const write = requireScope("models:write");
  const publishQueue = createKeyedQueue();

  app.openapi(
    createRoute({
      method: "post",
      path: "/",
      tags: ["models"],
      summary: "Create a model to upload files into, register a server-side folder, or import from the Hub",
      description: '`{"name"}` creates a pending model for `PUT …/files/{filename}` + finalize; `{"name", ' +
        '"path"}` registers a server folder (ready at once); `{"source": {"hub": "org/name", ' +
        '"revision": "main"}}` creates a pending model and queues its import: a worker fetches config, ' +
        "tokenizer and safetensors through the Hub's HTTP API, validates them like an upload and finalizes the " +
        "model; its `import` field shows the progress (bytes) and, on failure, the reason (a missing repo, a " +
        "gated one without HF_TOKEN, an invalid file).",
      security: [{ apiKey: [] }],
      middleware: [write, jsonLimit(deps)] as const,
      request: { body: { required: true, content: { "application/json": { schema: ModelCreate } } } },
      responses: {
        201: { description: "created", content: { "application/json": { schema: ModelView } } },
        ...problems(400, 401, 403, 413, 415, 422),
      },
    }),
    async (c) => {
      const { tenantId } = c.get("principal");
      const body = c.req.valid("json");
      if (body.source !== undefined) {
        const { hub, revision } = body.source;
        const params: ImportParams = {
          hub,
          revision,
          max_file_bytes: deps.config.maxModelFileBytes,
          max_header_bytes: deps.config.maxHeaderBytes,
        };
        const [model, job] = await db.transaction(async (tx) => {
          const model = await createModel(tx, tenantId, { name: body.name ?? hub });
          const job = await deps.queue.enqueue(tx, { tenantId, kind: "import", params, modelId: model.id });
          return [model, job] as const;
        });
        return c.json(modelView(model, [], job), 201);
      }
      const name = body.name!; // the contract requires a name without a source
      if (body.path === undefined) {
        return c.json(modelView(await createModel(db, tenantId, { name }), []), 201);
      }
      const dir = await checkUnderRoots(body.path, deps.config.modelRoots);
      const summary = await validateFolder(dir, body.path, null);
      const created = await createModel(db, tenantId, { name, folderPath: dir, status: "ready" });
      const row = await updateModel(db, tenantId, created.id, {
        architecture: summary.family,
        sha256: summary.sha256,
        summary,
      });
      return c.json(modelView(row ?? created, []), 201);
    },
  );

  app.openapi(
    createRoute({
      method: "put",
      path: "/{id}/files/{filename}",
      tags: ["models"],
      summary: "Upload one file of the model folder (raw body, streamed)",
      description:
        "The body is the file's bytes (`curl -T file`). It is hashed and size-checked while streaming; " +
        "a .safetensors file is validated as it arrives and a .json file must parse. The file appears only when " +
        "complete and valid; a failed upload stores nothing. Uploading a file again replaces it; uploads of the same " +
        "file are serialised (the recorded sha256 and size are always of the bytes stored); one that waits more " +
        "than 3 s for another API process's upload of the file is a 409. A full disk is a 507.",
      security: [{ apiKey: [] }],
      middleware: [write] as const,
      request: {
        params: FileParams,
        body: {
          required: true,
          content: { "application/octet-stream": { schema: z.string().meta({ format: "binary" }) } },
        },
      },
      responses: {
        201: { description: "stored", content: { "application/json": { schema: ModelFile } } },
        ...problems(401, 403, 404, 409, 413, 422, 507),
      },
    }),
    async (c) => {
      const { tenantId } = c.get("principal");
      const { id, filename } = c.req.valid("param");
      const model = await getModel(db, tenantId, id);
      if (!model) throw notFound("model", id);
      if (model.folderPath !== null) {
        throw new ApiError(
          409,
          "conflict",
          `Model '${id}' is a registered server folder; its files cannot be uploaded`,
        );
      }
      if (model.status === "ready") {
        throw new ApiError(
          409,
          "conflict",
          `Model '${id}' is finalized; create a new model to change its files`,
        );
      }
      if (await latestModelJob(db, tenantId, model.id, "import")) {
        throw new ApiError(
          409,
          "conflict",
          `Model '${id}' is imported from the Hub; its files cannot be uploaded`,
        );
      }
      if (!MODEL_FILE_NAME.test(filename)) {
        throw new ApiError(
          422,
          "validation-error",
          `Cannot store file as its name must match ${MODEL_FILE_NAME}`,
          {
            errors: [{
              path: "filename",
              message: `must match ${MODEL_FILE_NAME}: current value is ${filename}`,
            }],
          },
        );
      }
      const declared = declaredLength(c.req.raw);
      const isJson = filename.endsWith(".json");
      const cap = isJson
        ? Math.min(MAX_JSON_FILE_BYTES, deps.config.maxModelFileBytes)
        : deps.config.maxModelFileBytes;
      if (declared !== null && declared > cap) throw tooLarge(cap);
      const key = modelFileKey(model.id, filename);
      // One writer per file: once its bytes are staged, an upload waits for this process's earlier uploads of
      // the file, claims the file's row with the staged hash and size before they are renamed under the key, and
      // marks it complete only while that claim is still its own.
      const held: { release?: () => void } = {};
      const claim = async (staged: { size: number; sha256: string }) => {
        held.release = await publishQueue(key);
        await claimFile(db, tenantId, model.id, { filename, blobKey: key, ...staged });
      };
      try {
        const info = await storeUpload(async () => {
          if (isJson) {
            const text = await readCapped(c.req.raw.body, cap);
            try {
              JSON.parse(text);
            } catch (error) {
              throw new InputError(
                `Cannot store '${filename}' as it must be valid JSON: ${errorMessage(error)}`,
              );
            }
            return await deps.blobs.put(key, new TextEncoder().encode(text), {
              maxBytes: cap,
              beforePublish: claim,
            });
          }
          let body = c.req.raw.body ?? ReadableStream.from<Uint8Array>([]);
          if (filename.endsWith(".safetensors")) {
            body = body.pipeThrough(safetensorsValidator(filename, declared, deps.config));
          }
          return await deps.blobs.put(key, body, { maxBytes: cap, beforePublish: claim });
        });
        const row = await completeModelFile(db, tenantId, model.id, {
          filename,
          size: info.size,
          sha256: info.sha256,
        });
        if (!row) {
          if (!await getModel(db, tenantId, model.id)) {
            // The model was deleted while its file streamed in: drop the orphaned blob.
            await deps.blobs.delete(key);
            throw notFound("model", id);
          }
          throw overtaken(filename, id);
        }
        return c.json({ name: filename, size: info.size, sha256: info.sha256 }, 201);
      } finally {
        held.release?.();
      }
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/{id}/finalize",
      tags: ["models"],
      summary: "Validate the uploaded folder → ready with a summary, or 422 with the reasons",
      security: [{ apiKey: [] }],
      middleware: [write] as const,
      request: { params: IdParam },
      responses: {
        200: { description: "ready", content: { "application/json": { schema: ModelView } } },
        ...problems(401, 403, 404, 409, 422),
      },
    }),
    async (c) => {
      const { tenantId } = c.get("principal");
      const { id } = c.req.valid("param");
      const model = await getModel(db, tenantId, id);
      if (!model) throw notFound("model", id);
      const files = await listFiles(db, tenantId, model.id);
      const imported = await latestModelJob(db, tenantId, model.id, "import");
      if (model.status === "ready") return c.json(modelView(model, files, imported), 200);
      if (imported) {
        throw new ApiError(
          409,
          "conflict",
          `Model '${id}' is imported from the Hub: its import finalizes it (import ${imported.status})`,
        );
      }
      let summary: ModelSummary;
      try {
        summary = await withBlobFolder(
          deps.blobs,
          modelPrefix(model.id),
          files.map((f) => f.name),
          (dir) => validateFolder(dir, `model ${model.id}`, files),
          `model '${model.id}'`,
        );
      } catch (error) {
        if (error instanceof ApiError && error.type === "invalid-model") {
          await updateModel(db, tenantId, model.id, {
            status: "invalid",
            summary: { errors: [error.detail] },
          });
        }
        throw error;
      }
      const row = await markModelReady(db, tenantId, model.id, files, {
        architecture: summary.family,
        sha256: summary.sha256,
        summary,
      });
      if (!row) throw notFound("model", id);
      if (row === "changed") {
        throw new ApiError(
          409,
          "conflict",
          `Cannot finalize model '${id}' as a file was uploaded while it was being validated: finalize it again`,
        );
      }
      return c.json(modelView(row, files), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/{id}",
      tags: ["models"],
      summary: "Get a model",
      security: [{ apiKey: [] }],
      middleware: [read] as const,
      request: { params: IdParam },
      responses: {
        200: { description: "the model", content: { "application/json": { schema: ModelView } } },
        ...problems(401, 403, 404),
      },
    }),
    async (c) => {
      const { tenantId } = c.get("principal");
      const { id } = c.req.valid("param");
      const model = await getModel(db, tenantId, id);
      if (!model) throw notFound("model", id);
      return c.json(await fullView(db, tenantId, model), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/",
      tags: ["models"],
      summary: "List models, newest first",
      security: [{ apiKey: [] }],
      middleware: [read] as const,
      request: { query: PageQuery },
      responses: {
        200: { description: "a page of models", content: { "application/json": { schema: ModelPage } } },
        ...problems(401, 403, 422),
      },
    }),
    async (c) => {
      const { tenantId } = c.get("principal");
      const page = await listModels(db, tenantId, c.req.valid("query"));
      const data = await Promise.all(page.items.map((m) => fullView(db, tenantId, m)));
      const next = page.nextCursor;
      return c.json({ data, next_cursor: next }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/{id}",
      tags: ["models"],
      summary: "Delete a model and its uploaded files (a registered folder is left on disk)",
      security: [{ apiKey: [] }],
      middleware: [write] as const,
      request: { params: IdParam },
      responses: { 204: { description: "deleted" }, ...problems(401, 403, 404, 409) },
    }),
    async (c) => {
      const { tenantId } = c.get("principal");
      const { id } = c.req.valid("param");
      const model = await getModel(db, tenantId, id);
      if (!model) throw notFound("model", id);
      // Its own import does not hold a model: canceled here, its worker stops at the next heartbeat and any
      // file it still stores finds no model (and is dropped with the prefix below, or by the blob janitor).
      const imported = await latestModelJob(db, tenantId, model.id, "import");
      if (imported && (imported.status === "queued" || imported.status === "running")) {
        await deps.queue.requestCancel(db, tenantId, imported.id);
      }
      const outcome = await deleteUnlessInUse(db, tenantId, "model", id, imported?.id);
      if (!outcome) throw notFound("model", id);
      if ("busy" in outcome) throw inUseConflict("model", id, outcome.busy);
      // A crash before this leaves the files unreferenced: the blob janitor removes them after its grace period.
      await deps.blobs.deletePrefix(modelPrefix(outcome.deleted.id));
      return c.body(null, 204);
    },
  );

  return app;
}

/**
 * How long a claim on a model file (between its row saying `uploading` and the bytes being renamed under the
 * key: milliseconds) holds off another writer before it counts as abandoned by a process that died.
 */
const FILE_CLAIM_STALE_MS = 60_000;
/**
 * How long an upload waits out another process's claim on the same file (retrying with growing pauses, 10 ms to
 * 320 ms) before it answers 409.
 */
const FILE_CLAIM_WAIT_MS = 3_000;

/**
 * Claims a model file for the staged bytes (shared/db `claimModelFile`): waits out another process's claim on
 * the same file for up to FILE_CLAIM_WAIT_MS, then 409; 404 when the model is gone.
 */
async function claimFile(
  db: Db,
  tenantId: string,
  modelId: string,
  file: { filename: string; blobKey: string; size: number; sha256: string },
): Promise<void> {
  const deadline = Date.now() + FILE_CLAIM_WAIT_MS;
  for (let pause = 10;; pause = Math.min(2 * pause, 320)) {
    const claimed = await claimModelFile(db, tenantId, modelId, file, FILE_CLAIM_STALE_MS);
    if (claimed === null) throw notFound("model", modelId);
    if (claimed !== "busy") return;
    if (Date.now() + pause > deadline) throw overtaken(file.filename, modelId);
    await new Promise((resolve) => setTimeout(resolve, pause));
  }
}

function overtaken(filename: string, modelId: string): ApiError {
  return new ApiError(
    409,
    "conflict",
    `Cannot store '${filename}' of model '${modelId}' as another upload of the same file is being stored: ` +
      `upload it again once that one has finished`,
  );
}

function tooLarge(cap: number): ApiError {
  return new ApiError(413, "payload-too-large", `The upload must be at most ${cap} bytes`);
}

/** Runs a blob put and maps what can go wrong with the client's bytes to 4xx; nothing was stored in those cases. */
async function storeUpload<T>(put: () => Promise<T>): Promise<T> {
  try {
    return await put();
  } catch (error) {
    if (error instanceof BlobTooLargeError) throw tooLarge(error.maxBytes);
    if (isDiskSpace(error)) throw error;
    if (error instanceof InputError) throw new ApiError(422, "invalid-upload", error.message);
    throw error;
  }
}

async function readCapped(body: ReadableStream<Uint8Array> | null, cap: number): Promise<string> {
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body ?? []) {
    size += chunk.byteLength;
    if (size > cap) throw new BlobTooLargeError(cap);
    parts.push(chunk);
  }
  return new TextDecoder().decode(await new Blob(parts as BlobPart[]).arrayBuffer());
}

/**
 * The folder's real path when it lies inside one of the roots. Checked twice: on the path as written (so a
 * tenant learns nothing about the filesystem outside the roots, not even whether a path exists) and after
 * resolving symlinks (so a link inside a root cannot lead out of it).
 */
async function checkUnderRoots(path: string, roots: string[]): Promise<string> {
  const refuse = (why: string) =>
    new ApiError(
      403,
      "forbidden",
      `Cannot register '${path}' as it must be a folder under a configured root: ${why}`,
    );
  if (roots.length === 0) throw refuse("this server has no PROFS_MODEL_ROOTS");
  const inside = (candidate: string, rootList: string[]) =>
    rootList.some((root) =>
      candidate === root || candidate.startsWith(root.endsWith(sep) ? root : root + sep)
    );
  if (!isAbsolute(path) || !inside(resolve(path), roots.map((r) => resolve(r)))) {
    throw refuse("it lies outside every root");
  }
  const real = await realpath(path).catch(() => null);
  if (real === null) throw refuse("it does not exist");
  const realRoots = (await Promise.all(roots.map((r) => realpath(r).catch(() => null)))).filter((r) =>
    r !== null
  );
  if (!inside(real, realRoots)) throw refuse("it lies outside every root once its links are resolved");
  return real;
}

/**
 * Opens the folder as the worker will (shared/model/summary.ts) and summarises it; a folder the worker could not
 * use is a 422 whose reason names the problem (the server-side path replaced by `label`).
 */
async function validateFolder(
  dir: string,
  label: string,
  uploaded: { name: string; sha256: string }[] | null,
): Promise<ModelSummary> {
  try {
    return await summarizeModelFolder(dir, label, uploaded);
  } catch (error) {
    if (!(error instanceof InputError)) throw error;
    throw new ApiError(422, "invalid-model", error.message, {
      errors: [{ path: "folder", message: error.message }],
    });
  }
}

async function listFiles(db: Db, tenantId: string, modelId: string): Promise<ModelFile[]> {
  const rows = await listModelFiles(db, tenantId, modelId);
  return rows.filter((f) => f.status === "complete")
    .map((f) => ({ name: f.filename, size: f.size ?? 0, sha256: f.sha256 ?? "" }));
}

async function fullView(db: Db, tenantId: string, row: Model): Promise<ModelView> {
  const [files, imported] = await Promise.all([
    listFiles(db, tenantId, row.id),
    row.folderPath === null ? latestModelJob(db, tenantId, row.id, "import") : null,
  ]);
  return modelView(row, files, imported);
}

function modelView(row: Model, files: ModelFile[], imported: Job | null = null): ModelView {
  const stored = (row.summary ?? null) as (ModelSummary & { errors?: string[] }) | null;
  return {
    id: row.id,
    object: "model",
    name: row.name,
    status: row.status,
    source: imported ? "hub" : row.folderPath === null ? "upload" : "folder",
    files,
    summary: row.status === "ready" ? stored : null,
    errors: row.status === "invalid" ? stored?.errors ?? [] : [],
    import: imported ? importView(imported) : null,
    created_at: row.createdAt.toISOString(),
  };
}

function importView(job: Job): ModelImport {
  const params = job.params as Partial<ImportParams>;
  const progress = job.progress as ModelImport["progress"] | null;
  return {
    hub: params.hub ?? "",
    revision: params.revision ?? "",
    job_id: job.id,
    status: job.status,
    progress: progress ?? null,
    error: job.error,
  };
}
