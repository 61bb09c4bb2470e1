/**
 * Datasets as the API shows them: preference pairs (JSONL) or precomputed embeddings (safetensors) for edits;
 * texts (JSONL) for checks' prompts and held-out texts.
 */
import { z } from "zod";
import { pgText } from "./text.ts";
import { pageOf } from "./pagination.ts";

export const DatasetKind = z.enum(["pairs", "embeddings", "texts"]).meta({ id: "DatasetKind" });
export type DatasetKind = z.infer<typeof DatasetKind>;

export const DatasetUploadQuery = z.object({
  name: pgText(z.string().trim().min(1).max(200)),
  kind: DatasetKind.default("pairs").meta({
    description: "pairs: JSONL, one preference pair per line; embeddings: safetensors with `preferred` and " +
      '`rejected` float32 [L, N, D]; texts: JSONL, one {"text": "..."} per line (a check\'s prompts or ' +
      "held-out texts)",
  }),
});

export const EmbeddingsInfo = z.object({
  num_layers: z.int().min(1),
  rows: z.int().min(1),
  hidden_size: z.int().min(1),
  model_sha256: z.string().nullable(),
  pooling: z.string().nullable(),
  max_tokens: z.int().nullable(),
}).meta({ id: "EmbeddingsInfo" });
export type EmbeddingsInfo = z.infer<typeof EmbeddingsInfo>;

export const DatasetView = z.object({
  id: z.string(),
  object: z.literal("dataset"),
  name: z.string(),
  kind: DatasetKind,
  format: z.string().meta({ description: "detected format of the pairs, or `embeddings`, or `texts`" }),
  rows: z.int().min(0),
  size: z.int().min(0),
  sha256: z.string(),
  embeddings: EmbeddingsInfo.nullable(),
  created_at: z.string(),
}).meta({ id: "Dataset" });
export type DatasetView = z.infer<typeof DatasetView>;

export const DatasetPage = pageOf(DatasetView, "DatasetPage");
