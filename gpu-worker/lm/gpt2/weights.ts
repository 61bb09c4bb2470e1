/**
 * GPT-2's tensors as row-major float32 arrays, read one block at a time from a model folder so a caller can
 * hold (or upload) one block's weights while it streams the rest. Hugging Face's GPT-2 stores its linear layers
 * as `Conv1D`, i.e. [in, out], which is the layout the matmul kernels take.
 */
import { InputError } from "../../../shared/errors.ts";
import { type Gpt2Config, gpt2ConfigFrom } from "./config.ts";

/** The part of a `ModelFolder` (shared/model/folder.ts) the forward pass reads. */
export interface Gpt2Source {
  config: Record<string, unknown>;
  /** Any stored dtype converted to f32; GPT-2 names accepted with or without `transformer.`. */
  readTensor(name: string): Promise<Float32Array>;
}

export interface Gpt2Embeddings {
  wte: Float32Array; // [V, D] token embedding, tied with the unembedding
  wpe: Float32Array; // [P, D] position embedding
  lnFGamma: Float32Array; // [D]
  lnFBeta: Float32Array; // [D]
}

export interface Gpt2Block {
  ln1Gamma: Float32Array; // [D]
  ln1Beta: Float32Array; // [D]
  attnW: Float32Array; // [D, 3D] c_attn, columns q | k | v, head h at columns h·D/H .. (h+1)·D/H of each
  attnB: Float32Array; // [3D]
  attnProjW: Float32Array; // [D, D]
  attnProjB: Float32Array; // [D]
  ln2Gamma: Float32Array; // [D]
  ln2Beta: Float32Array; // [D]
  fcW: Float32Array; // [D, I] c_fc
  fcB: Float32Array; // [I]
  projW: Float32Array; // [I, D] mlp.c_proj, the matrix ProFS edits
  projB: Float32Array; // [D]
}

export interface Gpt2Weights extends Gpt2Embeddings {
  blocks: Gpt2Block[]; // L entries
}

/** Reads a tensor and checks its size against the shape the config implies. */
export async function readShaped(source: Gpt2Source, name: string, shape: number[]): Promise<Float32Array> {
  const data = await source.readTensor(name);
  const size = shape.reduce((a, b) => a * b, 1);
  if (data.length !== size) {
    throw new InputError(
      `Cannot load GPT-2 tensor '${name}' as it must have shape [${
        shape.join(", ")
      }] (${size} values): has ${data.length}`,
    );
  }
  return data;
}

export async function loadGpt2Embeddings(source: Gpt2Source, config: Gpt2Config): Promise<Gpt2Embeddings> {
  const { vocabSize: v, maxPositions: p, hiddenSize: d } = config;
  return {
    wte: await readShaped(source, "wte.weight", [v, d]),
    wpe: await readShaped(source, "wpe.weight", [p, d]),
    lnFGamma: await readShaped(source, "ln_f.weight", [d]),
    lnFBeta: await readShaped(source, "ln_f.bias", [d]),
  };
}

export async function loadGpt2Block(
  source: Gpt2Source,
  config: Gpt2Config,
  layer: number,
): Promise<Gpt2Block> {
  const { hiddenSize: d, innerSize: i } = config;
  const t = (suffix: string, shape: number[]) => readShaped(source, `h.${layer}.${suffix}`, shape);
  return {
    ln1Gamma: await t("ln_1.weight", [d]),
    ln1Beta: await t("ln_1.bias", [d]),
    attnW: await t("attn.c_attn.weight", [d, 3 * d]),
    attnB: await t("attn.c_attn.bias", [3 * d]),
    attnProjW: await t("attn.c_proj.weight", [d, d]),
    attnProjB: await t("attn.c_proj.bias", [d]),
    ln2Gamma: await t("ln_2.weight", [d]),
    ln2Beta: await t("ln_2.bias", [d]),
    fcW: await t("mlp.c_fc.weight", [d, i]),
    fcB: await t("mlp.c_fc.bias", [i]),
    projW: await t("mlp.c_proj.weight", [i, d]),
    projB: await t("mlp.c_proj.bias", [d]),
  };
}

export async function loadGpt2Weights(
  source: Gpt2Source,
  config: Gpt2Config = gpt2ConfigFrom(source.config),
): Promise<Gpt2Weights> {
  const embeddings = await loadGpt2Embeddings(source, config);
  const blocks: Gpt2Block[] = [];
  for (let l = 0; l < config.numLayers; l++) blocks.push(await loadGpt2Block(source, config, l));
  return { ...embeddings, blocks };
}
