/**
 * One attempt of an import job (`POST /v1/models` with `source.hub`): the revision's file list from the Hugging
 * Face Hub (shared/model/hub.ts: HF_ENDPOINT, HF_TOKEN of the worker's environment), then each file streamed from
 * the Hub into the blob store exactly as an upload streams in — a `.safetensors` file through the same validator
 * (header, dtypes, shapes, offsets, no truncated or trailing bytes), a `.json` file parsed, each capped by the
 * API's limits (carried in the job's params), hashed on the way — with progress in bytes (stage `downloading`).
 * Then the folder is summarised as finalize does (shared/model/summary.ts, stage `validating`) and the model
 * becomes ready; a repo, revision or file the Hub refuses, or a folder no worker could use, fails the job with
 * the reason and marks the model invalid with it. An unreachable Hub or a 5xx is retried by the queue.
 *
 * It is I/O only: nothing runs in a compute thread, and the job publishes no artifacts (the model's files are
 * the output, recorded as model file rows).
 */
import { modelFileKey, modelPrefix } from "../../../shared/blobs/keys.ts";
import { withBlobFolder } from "../../../shared/blobs/folder.ts";
import { BlobTooLargeError } from "../../../shared/blobs/store.ts";
import { ImportParams } from "../../../shared/contracts/models.ts";
import {
  getModel,
  markModelReady,
  putModelFile,
  updateModel,
} from "../../../shared/db/repositories/models.ts";
import { errorMessage, InputError } from "../../../shared/errors.ts";
import { hubFile, hubRevision } from "../../../shared/model/hub.ts";
import { summarizeModelFolder } from "../../../shared/model/summary.ts";
import { safetensorsValidator } from "../../../shared/safetensors/stream_validator.ts";
import type { JobOutput, JobRun } from "./edit_job.ts";

/** A model folder's JSON files (config, tokenizer, index) are parsed whole; tokenizer.json is ~20 MB at most. */
const MAX_JSON_FILE_BYTES = 64 * 1024 * 1024;

export async function runImportJob(run: JobRun): Promise<JobOutput> {
  const { db, blobs, job, signal } = run;
  const parsed = ImportParams.safeParse(job.params);
  if (!parsed.success) {
    throw new InputError(`Cannot run the import as its parameters are invalid: ${parsed.error.message}`);
  }
  const params = parsed.data;
  const label = `'${params.hub}' at '${params.revision}'`;
  const model = job.modelId === null ? null : await getModel(db, job.tenantId, job.modelId);
  if (!model) throw new InputError(`Cannot import ${label} as its model was deleted`);

  try {
    const rev = await hubRevision(params.hub, params.revision, { signal });
    const stored: { name: string; sha256: string }[] = [];
    let fetched = 0;
    let total = 0;
    for (const [i, file] of rev.files.entries()) {
      signal.throwIfAborted();
      const response = await hubFile(rev, file, { signal });
      const declared = response.headers.has("content-length")
        ? Number(response.headers.get("content-length"))
        : null;
      // Bytes of the files so far plus this one: the total grows as each file announces its size.
      total = fetched + (declared ?? 0);
      const isJson = file.endsWith(".json");
      const cap = isJson ? Math.min(MAX_JSON_FILE_BYTES, params.max_file_bytes) : params.max_file_bytes;
      if (declared !== null && declared > cap) {
        await response.body?.cancel();
        throw new InputError(
          `Cannot import ${label} as ${file} must be at most ${cap} bytes: it is ${declared}`,
        );
      }
      const counted = response.body!.pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform(chunk, controller) {
            fetched += chunk.byteLength;
            run.onProgress("downloading", fetched, Math.max(total, fetched));
            controller.enqueue(chunk);
          },
        }),
      );
      const body = isJson
        ? await parsedJson(counted, file, cap)
        : file.endsWith(".safetensors")
        ? counted.pipeThrough(
          safetensorsValidator(file, declared, { maxHeaderBytes: params.max_header_bytes }),
        )
        : counted;
      const key = modelFileKey(model.id, file);
      const info = await blobs.put(key, body, { maxBytes: cap });
      const row = await putModelFile(db, job.tenantId, model.id, {
        filename: file,
        blobKey: key,
        size: info.size,
        sha256: info.sha256,
        status: "complete",
      });
      if (!row) {
        await blobs.delete(key);
        throw new InputError(`Cannot import ${label} as its model was deleted`);
      }
      stored.push({ name: file, sha256: info.sha256 });
      run.logger.info("imported file", { file, bytes: info.size, index: i + 1, of: rev.files.length });
    }
    run.onProgress("downloading", fetched, fetched);

    run.onProgress("validating", 0, 1);
    const summary = await withBlobFolder(
      blobs,
      modelPrefix(model.id),
      stored.map((f) => f.name),
      (dir) => summarizeModelFolder(dir, `model ${model.id}`, stored),
      `model '${model.id}'`,
    );
    const ready = await markModelReady(db, job.tenantId, model.id, stored, {
      architecture: summary.family,
      sha256: summary.sha256,
      summary,
    });
    if (ready === null) throw new InputError(`Cannot import ${label} as its model was deleted`);
    if (ready === "changed") {
      throw new Error(`the files of model '${model.id}' changed while it was validated`);
    }
    run.onProgress("validating", 1, 1);
    return {
      result: {
        model_id: model.id,
        hub: params.hub,
        revision: params.revision,
        sha: rev.sha,
        bytes: fetched,
      },
      artifacts: [],
    };
  } catch (error) {
    const reason = error instanceof BlobTooLargeError
      ? new InputError(
        `Cannot import ${label} as a file must be at most ${error.maxBytes} bytes: one is larger`,
      )
      : error instanceof InputError && !error.message.startsWith("Cannot import")
      ? new InputError(`Cannot import ${label}: ${error.message}`)
      : error;
    // The user's error: the same import fails the same way, so the model shows why (a retry needs a new model).
    if (reason instanceof InputError && !signal.aborted) {
      await updateModel(db, job.tenantId, model.id, {
        status: "invalid",
        summary: { errors: [reason.message] },
      })
        .catch((e) => run.logger.warn("could not mark the model invalid", { error: errorMessage(e) }));
    }
    throw reason;
  }
}

/** The whole JSON file (capped), parsed to prove it is JSON, as the bytes to store. */
async function parsedJson(body: ReadableStream<Uint8Array>, file: string, cap: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > cap) throw new BlobTooLargeError(cap);
    parts.push(chunk);
  }
  const bytes = new Uint8Array(await new Blob(parts as BlobPart[]).arrayBuffer());
  try {
    JSON.parse(new TextDecoder().decode(bytes));
  } catch (error) {
    throw new InputError(`${file} must be valid JSON: ${errorMessage(error)}`);
  }
  return bytes;
}
