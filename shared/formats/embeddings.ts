/**
 * Embeddings file (DESIGN.md §3): safetensors with `preferred` and `rejected`, float32 [L, N, D] — the pooled
 * residual stream after each block for each pair — and optional metadata `model_sha256`, `pooling`,
 * `max_tokens`, checked against the model when present. Read one layer at a time (a [N, D] slice).
 */
import { InputError } from "../errors.ts";
import type { ModelFolder } from "../model/folder.ts";
import type { Matrix } from "../../gpu-worker/profs/backend.ts";
import { fromFloat32 } from "../safetensors/dtype.ts";
import { openSafetensors, type SafetensorsReader } from "../safetensors/reader.ts";
import { createSafetensorsWriter, layoutFor } from "../safetensors/writer.ts";

/** The only pooling profs computes: mean over a text's real tokens (DESIGN.md §1 step 1). */
export const POOLING = "masked-mean";

export interface EmbeddingsMetadata {
  modelSha256?: string;
  pooling?: string;
  maxTokens?: number;
}

export interface EmbeddingsFile {
  readonly path: string;
  readonly numLayers: number;
  readonly numPairs: number;
  readonly hiddenSize: number;
  readonly metadata: EmbeddingsMetadata;
  /** Layer l's pooled embeddings: preferred, rejected [N, D]. */
  readLayer(layer: number): Promise<{ preferred: Matrix; rejected: Matrix }>;
  close(): Promise<void>;
}

export async function openEmbeddings(path: string): Promise<EmbeddingsFile> {
  const reader = await openSafetensors(path);
  try {
    return describe(reader, path);
  } catch (error) {
    await reader.close();
    throw error;
  }
}

function describe(reader: SafetensorsReader, path: string): EmbeddingsFile {
  const fail = (rule: string) => new InputError(`Cannot read embeddings file '${path}' as ${rule}`);
  const names = reader.header.tensors.map((t) => t.name).sort();
  if (names.join(",") !== "preferred,rejected") {
    throw fail(
      `it must hold exactly the tensors 'preferred' and 'rejected': it has ${names.join(", ") || "none"}`,
    );
  }
  const p = reader.entry("preferred")!;
  const r = reader.entry("rejected")!;
  for (const t of [p, r]) {
    if (t.dtype !== "F32" || t.shape.length !== 3) {
      throw fail(`'${t.name}' must be F32 [L, N, D]: it is ${t.dtype} [${t.shape.join(", ")}]`);
    }
  }
  if (p.shape.join() !== r.shape.join()) {
    throw fail(`'preferred' and 'rejected' must have the same shape: [${p.shape}] vs [${r.shape}]`);
  }
  const [numLayers, numPairs, hiddenSize] = p.shape;
  if (numPairs === 0) throw fail("it must hold at least one pair");
  const raw = reader.header.metadata;
  const metadata: EmbeddingsMetadata = {};
  if (raw.model_sha256 !== undefined) metadata.modelSha256 = raw.model_sha256;
  if (raw.pooling !== undefined) metadata.pooling = raw.pooling;
  if (raw.max_tokens !== undefined) {
    const n = Number(raw.max_tokens);
    if (!Number.isSafeInteger(n) || n < 1 || String(n) !== raw.max_tokens) {
      throw fail(`metadata 'max_tokens' must be a positive integer: current value is '${raw.max_tokens}'`);
    }
    metadata.maxTokens = n;
  }
  return {
    path,
    numLayers,
    numPairs,
    hiddenSize,
    metadata,
    async readLayer(layer) {
      if (!Number.isInteger(layer) || layer < 0 || layer >= numLayers) {
        throw new RangeError(`layer ${layer} is outside the embeddings' ${numLayers} layers`);
      }
      const [pd, rd] = await Promise.all([
        reader.readRowsFloat32("preferred", layer, 1),
        reader.readRowsFloat32("rejected", layer, 1),
      ]);
      return {
        preferred: { rows: numPairs, cols: hiddenSize, data: pd },
        rejected: { rows: numPairs, cols: hiddenSize, data: rd },
      };
    },
    close: () => reader.close(),
  };
}

/** Refuses embeddings whose shape or pooling do not fit the model (the sha256 is `checkEmbeddingsSha256`). */
export function checkEmbeddingsForModel(embeddings: EmbeddingsFile, model: ModelFolder): void {
  if (embeddings.numLayers !== model.numLayers || embeddings.hiddenSize !== model.hiddenSize) {
    throw mismatch(
      embeddings,
      model.dir,
      `their shape [L, N, D] must have L = ${model.numLayers} and D = ${model.hiddenSize}: it is [${embeddings.numLayers}, ${embeddings.numPairs}, ${embeddings.hiddenSize}]`,
    );
  }
  if (embeddings.metadata.pooling !== undefined && embeddings.metadata.pooling !== POOLING) {
    throw mismatch(
      embeddings,
      model.dir,
      `their pooling must be '${POOLING}': current value is '${embeddings.metadata.pooling}'`,
    );
  }
}

/** Refuses embeddings recorded for other weights (when the file records a model_sha256). */
export function checkEmbeddingsSha256(
  embeddings: EmbeddingsFile,
  modelDir: string,
  modelSha256: string,
): void {
  const recorded = embeddings.metadata.modelSha256;
  if (recorded !== undefined && recorded !== modelSha256) {
    throw mismatch(
      embeddings,
      modelDir,
      `their model_sha256 must match the model's weights (${modelSha256}): current value is ${recorded}`,
    );
  }
}

function mismatch(embeddings: EmbeddingsFile, modelDir: string, rule: string): InputError {
  return new InputError(`Cannot use embeddings '${embeddings.path}' with model '${modelDir}' as ${rule}`);
}

/** Writes per-layer [N, D] arrays as an embeddings file, one layer at a time. */
export async function writeEmbeddings(
  path: string,
  data: { preferred: Float32Array[]; rejected: Float32Array[]; numPairs: number; hiddenSize: number },
  metadata: EmbeddingsMetadata,
): Promise<void> {
  const shape = [data.preferred.length, data.numPairs, data.hiddenSize];
  const meta: Record<string, string> = { pooling: metadata.pooling ?? POOLING };
  if (metadata.modelSha256) meta.model_sha256 = metadata.modelSha256;
  if (metadata.maxTokens) meta.max_tokens = String(metadata.maxTokens);
  const writer = await createSafetensorsWriter(
    path,
    layoutFor([{ name: "preferred", dtype: "F32", shape }, { name: "rejected", dtype: "F32", shape }], meta),
  );
  try {
    for (const side of ["preferred", "rejected"] as const) {
      for (const layer of data[side]) {
        if (layer.length !== data.numPairs * data.hiddenSize) {
          throw new RangeError(
            `each layer of '${side}' must have ${data.numPairs}×${data.hiddenSize} values`,
          );
        }
        if (layer.length > 0) await writer.write(side, fromFloat32(layer, "F32"));
      }
    }
  } catch (error) {
    await writer.abort();
    await Deno.remove(path).catch(() => {});
    throw error;
  }
  await writer.close();
}

/** The rows `indices` of m [N, D] → [indices.length, D]. */
export function selectRows(m: Matrix, indices: number[]): Matrix {
  if (indices.length === m.rows) return m;
  const out = new Float32Array(indices.length * m.cols);
  indices.forEach((r, i) => out.set(m.data.subarray(r * m.cols, (r + 1) * m.cols), i * m.cols));
  return { rows: indices.length, cols: m.cols, data: out };
}
