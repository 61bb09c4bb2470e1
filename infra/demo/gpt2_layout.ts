/**
 * GPT-2's layout, once, for every model profs builds itself — the demo's planted model (planted_model.ts) and
 * the tests' random ones (tests/fixtures/tiny_gpt2.ts, tests/fixtures/gpt2_reference/tiny_weights.ts): the
 * config.json fields and the tensors in checkpoint order, with canonical names (no `transformer.` prefix),
 * shapes and the role that says how a builder fills each one.
 */

export interface Gpt2Shape {
  layers: number; // L
  hidden: number; // D
  heads: number; // H (D must be a multiple)
  positions: number; // P, the context length
  vocabSize: number; // V
}

/**
 * `embedding`/`weight`: matrices; `norm`: LayerNorm scales (ones at init); `bias`: biases and LayerNorm shifts;
 * `mask`/`masked_bias`: the old causal-mask buffers some checkpoints still carry.
 */
export type Gpt2Role = "embedding" | "weight" | "norm" | "bias" | "mask" | "masked_bias";

export interface Gpt2Tensor {
  name: string;
  shape: number[];
  role: Gpt2Role;
}

/** config.json for a GPT-2 of this shape; `extra` adds or overrides fields (dtype, provenance). */
export function gpt2Config(shape: Gpt2Shape, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const { layers: L, hidden: D, heads: H, positions: P, vocabSize: V } = shape;
  if (D % H !== 0) throw new RangeError(`hidden (${D}) must be a multiple of heads (${H})`);
  return {
    model_type: "gpt2",
    architectures: ["GPT2LMHeadModel"],
    vocab_size: V,
    n_positions: P,
    n_ctx: P,
    n_embd: D,
    n_layer: L,
    n_head: H,
    n_inner: null,
    activation_function: "gelu_new",
    layer_norm_epsilon: 1e-5,
    bos_token_id: 50256,
    eos_token_id: 50256,
    tie_word_embeddings: true,
    ...extra,
  };
}

/** Every tensor of a GPT-2 of this shape, in the order checkpoints store them (Conv1D weights are [in, out]). */
export function gpt2Tensors(shape: Gpt2Shape, options: { attnBias?: boolean } = {}): Gpt2Tensor[] {
  const { layers: L, hidden: D, positions: P, vocabSize: V } = shape;
  const tensors: Gpt2Tensor[] = [
    { name: "wte.weight", shape: [V, D], role: "embedding" },
    { name: "wpe.weight", shape: [P, D], role: "embedding" },
  ];
  for (let l = 0; l < L; l++) {
    const h = `h.${l}.`;
    tensors.push(
      { name: h + "ln_1.weight", shape: [D], role: "norm" },
      { name: h + "ln_1.bias", shape: [D], role: "bias" },
      ...(options.attnBias
        ? [
          { name: h + "attn.bias", shape: [1, 1, P, P], role: "mask" as const },
          { name: h + "attn.masked_bias", shape: [], role: "masked_bias" as const },
        ]
        : []),
      { name: h + "attn.c_attn.weight", shape: [D, 3 * D], role: "weight" },
      { name: h + "attn.c_attn.bias", shape: [3 * D], role: "bias" },
      { name: h + "attn.c_proj.weight", shape: [D, D], role: "weight" },
      { name: h + "attn.c_proj.bias", shape: [D], role: "bias" },
      { name: h + "ln_2.weight", shape: [D], role: "norm" },
      { name: h + "ln_2.bias", shape: [D], role: "bias" },
      { name: h + "mlp.c_fc.weight", shape: [D, 4 * D], role: "weight" },
      { name: h + "mlp.c_fc.bias", shape: [4 * D], role: "bias" },
      { name: h + "mlp.c_proj.weight", shape: [4 * D, D], role: "weight" },
      { name: h + "mlp.c_proj.bias", shape: [D], role: "bias" },
    );
  }
  tensors.push(
    { name: "ln_f.weight", shape: [D], role: "norm" },
    { name: "ln_f.bias", shape: [D], role: "bias" },
  );
  return tensors;
}

export function elementCount(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
