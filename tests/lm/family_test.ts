import assert from "node:assert/strict";
import { InputError } from "../../shared/errors.ts";
import { checkContext, lmFamilyFrom, rotaryInvFreq } from "../../gpu-worker/lm/family.ts";

const LLAMA = {
  model_type: "llama",
  hidden_size: 32,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  intermediate_size: 48,
  vocab_size: 300,
  max_position_embeddings: 64,
  rms_norm_eps: 1e-6,
  hidden_act: "silu",
  rope_theta: 10000,
  bos_token_id: 1,
  tie_word_embeddings: false,
};

const OPT = {
  model_type: "opt",
  hidden_size: 32,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  ffn_dim: 64,
  vocab_size: 300,
  max_position_embeddings: 64,
  word_embed_proj_dim: 32,
  do_layer_norm_before: true,
  activation_function: "relu",
  bos_token_id: 2,
};

Deno.test("lmFamilyFrom() reads a Llama config: GQA, half-split rotary, SwiGLU, untied head, <s> first", () => {
  const f = lmFamilyFrom(LLAMA);
  assert.deepEqual([f.numHeads, f.numKvHeads, f.headDim], [4, 2, 8]);
  assert.deepEqual(f.positions, {
    kind: "rotary",
    convention: "half-split",
    rotaryDim: 8,
    theta: 10000,
    scaling: null,
  });
  assert.deepEqual(f.mlp, { activation: "silu", gated: true });
  assert.deepEqual(f.head, { tied: false, weight: "lm_head.weight", bias: null });
  assert.deepEqual(f.prependTokens, [1]);
  const b = f.block(1);
  assert(b.qkv.kind === "separate");
  assert.deepEqual(b.qkv.k.weight, "model.layers.1.self_attn.k_proj.weight");
  assert.deepEqual(b.qkv.k.outFeatures, 16);
  assert.deepEqual(f.edited.name(1), "model.layers.1.mlp.down_proj.weight");
  assert.deepEqual(f.edited.orientation, "d-rows");
});

Deno.test("lmFamilyFrom() reads Transformers 5's rope_parameters as well as rope_theta/rope_scaling", () => {
  const v4 = lmFamilyFrom({
    ...LLAMA,
    rope_theta: 500000,
    rope_scaling: {
      rope_type: "llama3",
      factor: 8,
      low_freq_factor: 1,
      high_freq_factor: 4,
      original_max_position_embeddings: 16,
    },
  });
  const v5 = lmFamilyFrom({
    ...LLAMA,
    rope_theta: undefined,
    rope_parameters: {
      rope_type: "llama3",
      rope_theta: 500000,
      factor: 8,
      low_freq_factor: 1,
      high_freq_factor: 4,
      original_max_position_embeddings: 16,
    },
  });
  assert.deepEqual(v4.positions, v5.positions);
  const linear = lmFamilyFrom({ ...LLAMA, rope_scaling: { type: "linear", factor: 2 } });
  assert.deepEqual(linear.positions.kind === "rotary" && linear.positions.scaling, {
    type: "linear",
    factor: 2,
  });
});

Deno.test("rotaryInvFreq() divides long wavelengths by the llama3 factor and keeps short ones", () => {
  const f = lmFamilyFrom({
    ...LLAMA,
    rope_scaling: {
      rope_type: "llama3",
      factor: 8,
      low_freq_factor: 1,
      high_freq_factor: 4,
      original_max_position_embeddings: 32,
    },
  });
  assert(f.positions.kind === "rotary");
  const scaled = rotaryInvFreq(f.positions);
  const plain = rotaryInvFreq({ ...f.positions, scaling: null });
  assert.deepEqual(scaled[0], plain[0]); // wavelength 2π < 32/4 (high_freq_factor): kept
  assert.deepEqual(scaled[3], plain[3] / 8); // wavelength 2π·10000^(3/4) > 32 (low_freq_factor 1): divided
});

Deno.test("lmFamilyFrom() reads every family's topology and special tokens", () => {
  const gpt2 = lmFamilyFrom({
    model_type: "gpt2",
    n_embd: 16,
    n_head: 2,
    n_layer: 2,
    vocab_size: 50,
    n_positions: 32,
  });
  assert.deepEqual([gpt2.topology, gpt2.mlp.activation, gpt2.positions.kind, gpt2.prependTokens], [
    "sequential",
    "gelu-tanh",
    "learned",
    [],
  ]);
  assert.deepEqual(gpt2.block(0).qkv.kind, "fused");
  const gptj = lmFamilyFrom({
    model_type: "gptj",
    n_embd: 32,
    n_head: 4,
    n_layer: 2,
    vocab_size: 50,
    n_positions: 32,
    rotary_dim: 4,
  });
  assert.deepEqual(gptj.topology, "parallel");
  assert.deepEqual(
    gptj.positions.kind === "rotary" && [gptj.positions.convention, gptj.positions.rotaryDim],
    [
      "interleaved",
      4,
    ],
  );
  assert.deepEqual(gptj.head.bias, "lm_head.bias");
  const opt = lmFamilyFrom(OPT);
  assert.deepEqual(opt.positions, {
    kind: "learned",
    tensor: "model.decoder.embed_positions.weight",
    offset: 2,
    rows: 66,
  });
  assert.deepEqual(opt.prependTokens, [2]);
  assert.deepEqual(opt.head.tied, true);
  const qwen2 = lmFamilyFrom({ ...LLAMA, model_type: "qwen2" });
  const q2 = qwen2.block(0).qkv;
  assert(q2.kind === "separate" && q2.q.bias !== null && qwen2.block(0).o.bias === null);
  assert.deepEqual(qwen2.prependTokens, []);
  const qwen3 = lmFamilyFrom({ ...LLAMA, model_type: "qwen3", head_dim: 16 });
  assert.deepEqual(qwen3.block(0).qNorm?.size, 16);
  assert.deepEqual(qwen3.block(0).o.inFeatures, 64);
});

/** Each refused config names the field and its value. */
const REFUSED: [string, Record<string, unknown>, RegExp][] = [
  ["MoE", { ...LLAMA, num_local_experts: 8 }, /'num_local_experts'.*8/],
  [
    "rope_scaling yarn",
    { ...LLAMA, rope_scaling: { rope_type: "yarn", factor: 4 } },
    /'rope_scaling.rope_type'.*"yarn"/,
  ],
  [
    "rope_scaling dynamic (v4 'type')",
    { ...LLAMA, rope_scaling: { type: "dynamic", factor: 2 } },
    /'rope_scaling.type'.*"dynamic"/,
  ],
  ["OPT post-LN", { ...OPT, do_layer_norm_before: false }, /'do_layer_norm_before'.*false/],
  ["OPT project_in/out", { ...OPT, word_embed_proj_dim: 16 }, /'word_embed_proj_dim'.*16/],
  ["unknown model_type", { ...LLAMA, model_type: "gemma" }, /'model_type'.*"gemma"/],
  ["activation", { ...LLAMA, hidden_act: "gelu" }, /'hidden_act'.*"gelu"/],
  ["kv heads", { ...LLAMA, num_key_value_heads: 3 }, /'num_key_value_heads'.*3/],
  ["partial rotary factor", { ...LLAMA, partial_rotary_factor: 0.5 }, /'partial_rotary_factor'.*0\.5/],
  ["GPT-2 layer-index scaling", {
    model_type: "gpt2",
    n_embd: 16,
    n_head: 2,
    n_layer: 2,
    vocab_size: 50,
    n_positions: 32,
    scale_attn_by_inverse_layer_idx: true,
  }, /'scale_attn_by_inverse_layer_idx'/],
];

for (const [what, config, message] of REFUSED) {
  Deno.test(`lmFamilyFrom() refuses ${what} naming the field and value`, () => {
    assert.throws(
      () => lmFamilyFrom(config, "model 'x'"),
      (e) => e instanceof InputError && message.test(e.message),
    );
  });
}

Deno.test("checkContext() refuses texts longer than Mistral's sliding window, and accepts those within it", () => {
  const f = lmFamilyFrom({ ...LLAMA, model_type: "mistral", sliding_window: 16 });
  checkContext(f, 16);
  assert.throws(
    () => checkContext(f, 17),
    (e) => e instanceof InputError && /'sliding_window'.*16/.test(e.message),
  );
  // Qwen2's window only applies with use_sliding_window.
  checkContext(
    lmFamilyFrom({ ...LLAMA, model_type: "qwen2", sliding_window: 16, use_sliding_window: false }),
    40,
  );
  assert.throws(
    () =>
      checkContext(
        lmFamilyFrom({ ...LLAMA, model_type: "qwen2", sliding_window: 16, use_sliding_window: true }),
        40,
      ),
    InputError,
  );
});
