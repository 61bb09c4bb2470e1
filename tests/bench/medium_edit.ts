/**
 * The edit both `edit_memory` and `hosted` measure: a generated GPT-2-medium-shaped model (24 layers, D = 1024,
 * random weights, ~1.35 GB F32) and generated embeddings of 500 pairs stamped with the weights' sha256, edited at
 * layers 10:24 with rank 2.
 */
import { join } from "node:path";
import { writeSyntheticEmbeddings } from "../fixtures/synthetic_embeddings.ts";
import { writeTinyGpt2 } from "../fixtures/tiny_gpt2.ts";
import { hashFiles } from "../../shared/model/folder.ts";

export const SHAPE = { layers: 24, hidden: 1024, heads: 16, positions: 1024 };
export const PAIRS = 500;
export const LAYERS = { from: 10, to: 24 };
export const RANK = 2;

/**
 * Writes the model folder `dir/model` and `dir/embeddings.safetensors`, flushed to disk so that no measured run
 * pays for the generator's writeback; returns their paths and the weights' size in MiB.
 */
export async function writeMediumEdit(dir: string) {
  const modelDir = join(dir, "model");
  await writeTinyGpt2(modelDir, { ...SHAPE, prefix: true });
  const embeddings = join(dir, "embeddings.safetensors");
  const weights = join(modelDir, "model.safetensors");
  await writeSyntheticEmbeddings(embeddings, {
    layers: SHAPE.layers,
    pairs: PAIRS,
    hidden: SHAPE.hidden,
    noise: 0.3,
    // As embeddings saved by `profs edit --save-embeddings` are: stamped with the weights' sha256, which every
    // edit from them checks.
    modelSha256: await hashFiles([weights]),
  });
  for (const path of [weights, embeddings]) {
    using file = await Deno.open(path, { read: true });
    await file.sync();
  }
  return { modelDir, embeddings, modelMb: (await Deno.stat(weights)).size / 2 ** 20 };
}
