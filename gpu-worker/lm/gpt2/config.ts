/**
 * The GPT-2 hyper-parameters the forward pass needs, read from a Hugging Face `config.json`.
 */
import { InputError } from "../../../shared/errors.ts";

export interface Gpt2Config {
  /** L, the number of transformer blocks (`n_layer`). */
  numLayers: number;
  /** D, the residual width (`n_embd`). */
  hiddenSize: number;
  /** H, attention heads (`n_head`); D must be a multiple of H. */
  numHeads: number;
  /** V, rows of the tied token embedding (`vocab_size`). */
  vocabSize: number;
  /** P, rows of the position embedding (`n_positions`): the longest sequence the model accepts. */
  maxPositions: number;
  /** Inner width of the MLP (`n_inner`, 4D when null). */
  innerSize: number;
  /** LayerNorm epsilon (`layer_norm_epsilon`). */
  layerNormEps: number;
}

/** GPT-2's activations that are the tanh approximation the kernels implement. */
const TANH_GELUS = new Set(["gelu_new", "gelu_pytorch_tanh", "gelu_fast"]);

export function gpt2ConfigFrom(config: Record<string, unknown>): Gpt2Config {
  const int = (key: string, fallback?: unknown): number => {
    const value = config[key] ?? fallback;
    if (typeof value !== "number" || !Number.isInteger(value) || value <= 0) {
      throw new InputError(
        `Cannot read the GPT-2 config as '${key}' must be a positive integer: current value is ${
          JSON.stringify(value)
        }`,
      );
    }
    return value;
  };
  const hiddenSize = int("n_embd");
  const numHeads = int("n_head");
  if (hiddenSize % numHeads !== 0) {
    throw new InputError(
      `Cannot read the GPT-2 config as 'n_embd' must be a multiple of 'n_head' (${numHeads}): current value is ${hiddenSize}`,
    );
  }
  const activation = config.activation_function ?? "gelu_new";
  if (typeof activation !== "string" || !TANH_GELUS.has(activation)) {
    throw new InputError(
      `Cannot run the GPT-2 forward pass as 'activation_function' must be one of ${
        [...TANH_GELUS].join(", ")
      }: current value is ${JSON.stringify(activation)}`,
    );
  }
  const eps = config.layer_norm_epsilon ?? 1e-5;
  if (typeof eps !== "number" || !(eps > 0)) {
    throw new InputError(
      `Cannot read the GPT-2 config as 'layer_norm_epsilon' must be a positive number: current value is ${
        JSON.stringify(eps)
      }`,
    );
  }
  return {
    numLayers: int("n_layer"),
    hiddenSize,
    numHeads,
    vocabSize: int("vocab_size"),
    maxPositions: int("n_positions", config.n_ctx),
    innerSize: config.n_inner == null ? 4 * hiddenSize : int("n_inner"),
    layerNormEps: eps,
  };
}
