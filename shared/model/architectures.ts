/**
 * Which tensor ProFS edits in each model family, and how to read the family's config. Adding a family is one
 * entry: the MLP output ("value") matrix name, where D sits in it, and the config keys for L and D.
 */
import { InputError } from "../errors.ts";
import type { Orientation } from "../formats/matrix.ts";

export type Family = "gpt2" | "llama" | "mistral" | "qwen2" | "qwen3" | "gptj" | "opt";

export interface Architecture {
  family: Family;
  /** config.json `model_type` values of this family. */
  modelTypes: string[];
  /** Canonical name of block l's MLP output matrix; `{l}` is the block index. */
  mlpOutput: string;
  orientation: Orientation;
  /** config.json keys holding L and D (the first present wins). */
  layerCountKeys: string[];
  hiddenSizeKeys: string[];
  /** Prefixes a checkpoint may put before canonical names (GPT-2 checkpoints exist with and without `transformer.`). */
  optionalPrefixes: string[];
  /** Token embedding [V, D] and (if present) untied output head [V, D], canonical names. */
  embedding: string;
  lmHead: string;
  /** Old buffers that some checkpoints carry and nothing reads (GPT-2's causal masks). */
  ignoredTensors: RegExp;
}

const NO_BUFFERS = /^$/;

/**
 * The Llama layout, which Mistral and Qwen2/3 checkpoints share name for name: only the family and its
 * `model_type` differ.
 */
function llamaLike(family: "llama" | "mistral" | "qwen2" | "qwen3"): Architecture {
  return {
    family,
    modelTypes: [family],
    mlpOutput: "model.layers.{l}.mlp.down_proj.weight", // Linear(intermediate → D): [D, I]
    orientation: "d-rows",
    layerCountKeys: ["num_hidden_layers"],
    hiddenSizeKeys: ["hidden_size"],
    optionalPrefixes: [],
    embedding: "model.embed_tokens.weight",
    lmHead: "lm_head.weight",
    ignoredTensors: /(^|\.)rotary_emb\.inv_freq$/,
  };
}

export const ARCHITECTURES: readonly Architecture[] = [
  {
    family: "gpt2",
    modelTypes: ["gpt2"],
    mlpOutput: "h.{l}.mlp.c_proj.weight", // Conv1D: [4D, D]
    orientation: "d-cols",
    layerCountKeys: ["n_layer", "num_hidden_layers"],
    hiddenSizeKeys: ["n_embd", "hidden_size"],
    optionalPrefixes: ["transformer."],
    embedding: "wte.weight",
    lmHead: "lm_head.weight",
    ignoredTensors: /(^|\.)attn\.(bias|masked_bias)$/,
  },
  llamaLike("llama"),
  llamaLike("mistral"),
  llamaLike("qwen2"),
  llamaLike("qwen3"),
  {
    family: "gptj",
    modelTypes: ["gptj"],
    mlpOutput: "transformer.h.{l}.mlp.fc_out.weight", // Linear(4D → D): [D, 4D]
    orientation: "d-rows",
    layerCountKeys: ["n_layer"],
    hiddenSizeKeys: ["n_embd"],
    optionalPrefixes: [],
    embedding: "transformer.wte.weight",
    lmHead: "lm_head.weight",
    ignoredTensors: /(^|\.)attn\.(bias|masked_bias)$/,
  },
  {
    family: "opt",
    modelTypes: ["opt"],
    mlpOutput: "model.decoder.layers.{l}.fc2.weight", // Linear(ffn → D): [D, ffn]
    orientation: "d-rows",
    layerCountKeys: ["num_hidden_layers"],
    hiddenSizeKeys: ["hidden_size"],
    optionalPrefixes: ["model."], // facebook/opt-* checkpoints store the bare OPTModel's `decoder.…` names
    embedding: "model.decoder.embed_tokens.weight",
    lmHead: "lm_head.weight",
    ignoredTensors: NO_BUFFERS,
  },
];

/** The table entry for a parsed config.json (by `model_type`). */
export function architectureFor(config: Record<string, unknown>, source: string): Architecture {
  const modelType = config.model_type;
  const entry = ARCHITECTURES.find((a) => typeof modelType === "string" && a.modelTypes.includes(modelType));
  if (!entry) {
    const known = ARCHITECTURES.flatMap((a) => a.modelTypes).join(", ");
    throw new InputError(
      `Cannot open model '${source}' as its config.json 'model_type' must be one of ${known}: current value is ${
        JSON.stringify(modelType ?? null)
      }`,
    );
  }
  return entry;
}

/** Canonical name of block `layer`'s MLP output matrix. */
export function mlpOutputName(architecture: Architecture, layer: number): string {
  return architecture.mlpOutput.replace("{l}", String(layer));
}

/** Reads the first positive integer among `keys` from the config. */
export function configInteger(
  config: Record<string, unknown>,
  keys: string[],
  what: string,
  source: string,
): number {
  for (const key of keys) {
    const value = config[key];
    if (value === undefined) continue;
    if (typeof value === "number" && Number.isSafeInteger(value) && value > 0) return value;
    throw new InputError(
      `Cannot open model '${source}' as config.json '${key}' (${what}) must be a positive integer: current value is ${
        JSON.stringify(value)
      }`,
    );
  }
  throw new InputError(
    `Cannot open model '${source}' as config.json must give ${what} in one of ${keys.join(", ")}`,
  );
}
