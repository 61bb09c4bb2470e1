/**
 * /v1/datasets: preference pairs as JSONL (streamed; every line parsed by shared/formats as it arrives; the shape
 * detected), a check's texts as JSONL (`{"text"}` lines, parsed the same way) or precomputed embeddings as
 * safetensors. A bad upload stores nothing: the bytes go to a temporary
 * blob that is renamed into place only when every line was valid.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import {
  DatasetPage,
  DatasetUploadQuery,
  DatasetView,
  type EmbeddingsInfo,
} from "../../shared/contracts/datasets.ts";
import type { FieldError } from "../../shared/contracts/problem.ts";
import { PageQuery } from "../../shared/contracts/pagination.ts";
import { withBlobFolder } from "../../shared/blobs/folder.ts";
import { newDatasetKey, parentPrefix } from "../../shared/blobs/keys.ts";
import { BlobTooLargeError } from "../../shared/blobs/store.ts";
import type { Dataset } from "../../shared/db/index.ts";
import { createDataset, getDataset, listDatasets } from "../../shared/db/repositories/datasets.ts";
import { LineSplitter, LineTooLong } from "../../shared/formats/line_splitter.ts";
import { PreferenceParser } from "../../shared/formats/preference.ts";
import { TextsParser } from "../../shared/formats/texts.ts";
import { InputError } from "../../shared/errors.ts";
import { deleteUnlessInUse } from "../../shared/db/repositories/in_use.ts";
import { openSafetensors } from "../../shared/safetensors/reader.ts";
import type { ApiDeps } from "../deps.ts";
import type { ApiEnv } from "../env.ts";
import { ApiError, notFound, validationHook } from "../errors.ts";
import { requireScope } from "../middleware/auth.ts";
import { safetensorsValidator } from "../../shared/safetensors/stream_validator.ts";
import { isDiskSpace, recordOrRemove } from "../uploads/owned_blob.ts";
import { declaredLength, IdParam, inUseConflict, problems } from "./common.ts";

/** A 422 lists at most this many bad lines (the count of all of them is in the detail). */
const MAX_REPORTED_LINES = 20;

const FILE_NAMES = {
  pairs: "pairs.jsonl",
  texts: "texts.jsonl",
  embeddings: "embeddings.safetensors",
} as const;

export function datasetsRoutes(deps: ApiDeps) {
  const app = new OpenAPIHono<ApiEnv>({ defaultHook: validationHook });
  const { db } = deps.database;
  const read = requireScope("datasets:read");
  const write = requireScope("datasets:write");

  app.openapi(
    createRoute({
      method: "post",
      path: "/",
      tags: ["datasets"],
      summary: "Upload a dataset: preference pairs or texts (JSONL), or precomputed embeddings (safetensors)",
      description:
        "The body is the file (`curl --data-binary @pairs.jsonl`). JSONL: one pair per line in any of " +
        "the shapes {preferred, rejected}, {prompt, chosen, rejected} (TRL), {input, preferred_output, " +
        "non_preferred_output} (OpenAI) or {unpert_gen_text, pert_gen_text} (the paper), all lines the same shape. " +
        'Texts (`kind=texts`, a check\'s prompts or held-out texts): JSONL, one {"text": "..."} per line. ' +
        "Embeddings (`kind=embeddings`): safetensors with `preferred` and `rejected` float32 [L, N, D].",
      security: [{ apiKey: [] }],
      middleware: [write] as const,
      request: {
        query: DatasetUploadQuery,
        body: {
          required: true,
          content: {
            "application/x-ndjson": { schema: z.string() },
            "application/octet-stream": { schema: z.string().meta({ format: "binary" }) },
          },
        },
      },
      responses: {
        201: { description: "stored", content: { "application/json": { schema: DatasetView } } },
        ...problems(401, 403, 413, 422, 507),
      },
    }),
    async (c) => {
      const { tenantId } = c.get("principal");
      const { name, kind } = c.req.valid("query");
      const cap = kind === "embeddings" ? deps.config.maxEmbeddingsBytes : deps.config.maxPairsBytes;
      const declared = declaredLength(c.req.raw);
      if (declared !== null && declared > cap) throw tooLarge(cap);
      const body = c.req.raw.body ?? ReadableStream.from<Uint8Array>([]);
      const key = newDatasetKey(FILE_NAMES[kind]);

      if (kind !== "embeddings") {
        const check = jsonlValidator(
          name,
          kind === "pairs" ? pairsParser(name) : textsParser(name),
          deps.config.maxLineBytes,
        );
        const info = await store(() =>
          deps.blobs.put(key, body.pipeThrough(check.stream), { maxBytes: cap })
        );
        const dataset = await recordOrRemove(deps.blobs, key, () =>
          createDataset(db, tenantId, {
            name,
            kind,
            format: check.result().format,
            rows: check.result().rows,
            size: info.size,
            sha256: info.sha256,
            blobKey: key,
            metadata: {},
          }));
        return c.json(datasetView(dataset), 201);
      }

      const info = await store(() =>
        deps.blobs.put(key, body.pipeThrough(safetensorsValidator(name, declared, deps.config)), {
          maxBytes: cap,
        })
      );
      const dataset = await recordOrRemove(deps.blobs, key, async () => {
        const embeddings: EmbeddingsInfo = await withBlobFolder(
          deps.blobs,
          parentPrefix(key),
          ["embeddings.safetensors"],
          (dir) => readEmbeddingsInfo(`${dir}/embeddings.safetensors`, name),
        );
        return await createDataset(db, tenantId, {
          name,
          kind,
          format: "embeddings",
          rows: embeddings.rows,
          size: info.size,
          sha256: info.sha256,
          blobKey: key,
          metadata: embeddings,
        });
      });
      return c.json(datasetView(dataset), 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/{id}",
      tags: ["datasets"],
      summary: "Get a dataset",
      security: [{ apiKey: [] }],
      middleware: [read] as const,
      request: { params: IdParam },
      responses: {
        200: { description: "the dataset", content: { "application/json": { schema: DatasetView } } },
        ...problems(401, 403, 404),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const dataset = await getDataset(db, c.get("principal").tenantId, id);
      if (!dataset) throw notFound("dataset", id);
      return c.json(datasetView(dataset), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/",
      tags: ["datasets"],
      summary: "List datasets, newest first",
      security: [{ apiKey: [] }],
      middleware: [read] as const,
      request: { query: PageQuery },
      responses: {
        200: { description: "a page of datasets", content: { "application/json": { schema: DatasetPage } } },
        ...problems(401, 403, 422),
      },
    }),
    async (c) => {
      const page = await listDatasets(db, c.get("principal").tenantId, c.req.valid("query"));
      return c.json({ data: page.items.map(datasetView), next_cursor: page.nextCursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/{id}",
      tags: ["datasets"],
      summary: "Delete a dataset (finished edits that used it keep their results)",
      security: [{ apiKey: [] }],
      middleware: [write] as const,
      request: { params: IdParam },
      responses: { 204: { description: "deleted" }, ...problems(401, 403, 404, 409) },
    }),
    async (c) => {
      const { tenantId } = c.get("principal");
      const { id } = c.req.valid("param");
      const outcome = await deleteUnlessInUse(db, tenantId, "dataset", id);
      if (!outcome) throw notFound("dataset", id);
      if ("busy" in outcome) throw inUseConflict("dataset", id, outcome.busy);
      // A crash before this leaves the file unreferenced: the blob janitor removes it after its grace period.
      await deps.blobs.deletePrefix(parentPrefix(outcome.deleted.blobKey));
      return c.body(null, 204);
    },
  );

  return app;
}

function tooLarge(cap: number): ApiError {
  return new ApiError(413, "payload-too-large", `The dataset must be at most ${cap} bytes`);
}

/** The bad lines of a JSONL upload, carried through the blob store's put to the route. */
class BadLinesError extends InputError {
  constructor(readonly lines: FieldError[], readonly total: number) {
    super(
      `The dataset has ${total} bad line${total === 1 ? "" : "s"}; nothing was stored` +
        (total > lines.length ? ` (the first ${lines.length} are listed)` : ""),
    );
  }
}

async function store<T>(put: () => Promise<T>): Promise<T> {
  try {
    return await put();
  } catch (error) {
    if (error instanceof BlobTooLargeError) throw tooLarge(error.maxBytes);
    if (isDiskSpace(error)) throw error;
    if (error instanceof BadLinesError) {
      throw new ApiError(422, "invalid-dataset", error.message, { errors: error.lines });
    }
    if (error instanceof InputError) {
      throw new ApiError(422, "invalid-dataset", error.message, {
        errors: [{ path: "body", message: error.message }],
      });
    }
    throw error;
  }
}

/** A JSONL parser of shared/formats, seen by the upload: lines in, the detected format and row count out. */
interface JsonlParser {
  push(chunk: string): void;
  finish(): { format: string; rows: number };
}

function pairsParser(source: string): JsonlParser {
  const parser = new PreferenceParser(source);
  return {
    push: (chunk) => parser.push(chunk),
    finish: () => {
      const data = parser.finish();
      return { format: data.format, rows: data.pairs.length };
    },
  };
}

function textsParser(source: string): JsonlParser {
  const parser = new TextsParser(source);
  return {
    push: (chunk) => parser.push(chunk),
    finish: () => ({ format: "texts", rows: parser.finish().length }),
  };
}

/**
 * Passes the bytes through and feeds them, line by line, to a shared/formats parser. Each line is fed on its own so
 * one bad line does not hide the next ones: the stream fails at its end with every bad line (up to
 * MAX_REPORTED_LINES), which makes the blob store drop the temporary file. Lines come from the shared
 * LineSplitter (linear in the input); one over `maxLineBytes` is a bad line, dropped as it streams.
 */
function jsonlValidator(source: string, parser: JsonlParser, maxLineBytes: number) {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const lines = new LineSplitter({ maxLineBytes });
  const bad: FieldError[] = [];
  let badCount = 0;
  let lineNo = 0;
  let outcome: { format: string; rows: number } | null = null;

  const refuse = (message: string) => {
    badCount++;
    if (bad.length < MAX_REPORTED_LINES) bad.push({ path: `line ${lineNo}`, message });
  };
  const feed = (line: string | LineTooLong) => {
    lineNo++;
    if (line instanceof LineTooLong) {
      // The parser still counts the line (as a blank one), so its line numbers stay the upload's.
      parser.push("\n");
      return refuse(
        `Cannot read '${source}' as line ${lineNo} must be at most ${maxLineBytes} bytes ` +
          `(PROFS_MAX_LINE_BYTES): it has ${line.bytes}`,
      );
    }
    try {
      parser.push(line + "\n");
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      refuse(error.message);
    }
  };
  const decode = (chunk?: Uint8Array) => {
    try {
      return chunk ? decoder.decode(chunk, { stream: true }) : decoder.decode();
    } catch {
      throw new InputError(
        `Cannot read '${source}' as it must be UTF-8 text: bytes near line ${lineNo + 1} are not`,
      );
    }
  };

  const stream = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      for (const line of lines.push(decode(chunk))) feed(line);
      controller.enqueue(chunk);
    },
    flush() {
      for (const line of lines.push(decode())) feed(line);
      for (const line of lines.end()) feed(line);
      if (badCount > 0) throw new BadLinesError(bad, badCount);
      outcome = parser.finish();
    },
  });
  return {
    stream,
    result: () => {
      if (!outcome) throw new Error("jsonlValidator: result read before the stream ended");
      return outcome;
    },
  };
}

/** Checks an embeddings file (`preferred`, `rejected`: F32 [L, N, D], equal shapes) and reads its facts. */
async function readEmbeddingsInfo(path: string, source: string): Promise<EmbeddingsInfo> {
  const reader = await openSafetensors(path);
  try {
    const preferred = reader.entry("preferred");
    const rejected = reader.entry("rejected");
    const rule = (why: string) =>
      new ApiError(422, "invalid-dataset", `Cannot use '${source}' as embeddings: ${why}`, {
        errors: [{ path: "body", message: why }],
      });
    if (!preferred || !rejected) throw rule("it must have tensors 'preferred' and 'rejected'");
    for (const t of [preferred, rejected]) {
      if (t.dtype !== "F32" || t.shape.length !== 3 || t.shape.some((n) => n < 1)) {
        throw rule(`'${t.name}' must be F32 [L, N, D]: it is ${t.dtype} [${t.shape.join(", ")}]`);
      }
    }
    if (preferred.shape.join() !== rejected.shape.join()) {
      throw rule(
        `'preferred' [${preferred.shape}] and 'rejected' [${rejected.shape}] must have the same shape`,
      );
    }
    const meta = reader.header.metadata;
    const maxTokens = meta.max_tokens === undefined ? null : Number(meta.max_tokens);
    return {
      num_layers: preferred.shape[0],
      rows: preferred.shape[1],
      hidden_size: preferred.shape[2],
      model_sha256: meta.model_sha256 ?? null,
      pooling: meta.pooling ?? null,
      max_tokens: Number.isSafeInteger(maxTokens) ? maxTokens : null,
    };
  } finally {
    await reader.close();
  }
}

function datasetView(row: Dataset): DatasetView {
  return {
    id: row.id,
    object: "dataset",
    name: row.name,
    kind: row.kind,
    format: row.format,
    rows: row.rows,
    size: row.size,
    sha256: row.sha256,
    embeddings: row.kind === "embeddings" ? row.metadata as EmbeddingsInfo : null,
    created_at: row.createdAt.toISOString(),
  };
}
