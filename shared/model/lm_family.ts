/**
 * A decoder family as data: `lmFamilyFrom(config)` reads a Hugging Face `config.json` (its own field names) into
 * an `LmFamily` — norm, positions, attention, MLP, block topology, output head, the special tokens the model's
 * tokenizer adds, and every tensor's canonical name and layout — or throws an InputError naming the config field
 * and its value. Both LM engines (gpu-worker/lm/cpu/ and gpu-worker/lm/webgpu/) are composed from this
 * description only; nothing downstream branches on the family name. It lives in shared/ because it is pure
 * config reading: the API's model finalize uses it to record whether the engine can run a folder.
 *
 * Supported: gpt2, llama, mistral, qwen2, qwen3, gptj, opt (pre-LN, no project_in/out). Refused: MoE fields,
 * sliding windows shorter than a text (checked per run by `checkContext`), rope_scaling other than llama3 and
 * linear, OPT post-LN, partial_rotary_factor outside GPT-J.
 */
import { InputError } from "../errors.ts";
import { type Architecture, architectureFor, type Family, mlpOutputName } from "./architectures.ts";
import type { Orientation } from "../formats/matrix.ts";

export type FamilyName = Family;

/**
 * A linear layer's tensors. `out-in` is nn.Linear's [out, in] (y = x·Wᵀ + b); `in-out` is GPT-2's Conv1D
 * [in, out] (y = x·W + b).
 */
export interface LinearTensors {
  weight: string;
  bias: string | null;
  layout: "out-in" | "in-out";
  inFeatures: number;
  outFeatures: number;
}

/** A norm's tensors: LayerNorm has weight and bias, RMSNorm a weight only. `size` is the normalised width. */
export interface NormTensors {
  kind: "layernorm" | "rmsnorm";
  weight: string;
  bias: string | null;
  eps: number;
  size: number;
}

/**
 * Query/key/value projections: separate (q [H·hd], k [Hkv·hd], v [Hkv·hd] outputs) or GPT-2's fused c_attn whose
 * output columns are q | k | v.
 */
export type QkvTensors =
  | { kind: "separate"; q: LinearTensors; k: LinearTensors; v: LinearTensors }
  | { kind: "fused"; qkv: LinearTensors };

export interface BlockTensors {
  /** The norm before attention (in the parallel topology, the one norm feeding attention and MLP). */
  attnNorm: NormTensors;
  /** The norm before the MLP; null in the parallel topology. */
  mlpNorm: NormTensors | null;
  qkv: QkvTensors;
  /** Qwen3's per-head RMSNorm over hd, applied to q and k before rotary; null elsewhere. */
  qNorm: NormTensors | null;
  kNorm: NormTensors | null;
  o: LinearTensors;
  /** MLP input (fc1 / c_fc / fc_in / up_proj). */
  up: LinearTensors;
  /** SwiGLU gate (gate_proj); null for the GELU/ReLU MLPs. */
  gate: LinearTensors | null;
  /** MLP output (fc2 / c_proj / fc_out / down_proj): the matrix ProFS edits. */
  down: LinearTensors;
}

export type RopeScaling =
  | { type: "linear"; factor: number }
  | {
    type: "llama3";
    factor: number;
    lowFreqFactor: number;
    highFreqFactor: number;
    originalMaxPositions: number;
  };

export type Positions =
  /** Row `position + offset` of the position embedding is added to the token embedding (OPT: offset 2). */
  | { kind: "learned"; tensor: string; offset: number; rows: number }
  /**
   * Rotary on the first `rotaryDim` of each head: `half-split` pairs (i, i + rotaryDim/2) (Llama's rotate_half),
   * `interleaved` pairs (2i, 2i+1) (GPT-J's rotate_every_two); inverse frequencies from `rotaryInvFreq`.
   */
  | {
    kind: "rotary";
    convention: "half-split" | "interleaved";
    rotaryDim: number;
    theta: number;
    scaling: RopeScaling | null;
  };

export interface LmFamily {
  family: FamilyName;
  /** The edit-side table entry (shared/model/architectures.ts): edited tensor, orientation, embedding names. */
  architecture: Architecture;
  numLayers: number; // L
  hiddenSize: number; // D
  numHeads: number; // H query heads
  numKvHeads: number; // Hkv key/value heads (H for multi-head attention; H is a multiple of Hkv)
  headDim: number; // hd
  intermediateSize: number; // I, the MLP's inner width
  vocabSize: number; // V, rows of the embedding and the head
  /** Longest sequence the model accepts (learned positions: rows of the table; rotary: max_position_embeddings). */
  maxPositions: number;
  positions: Positions;
  attention: {
    /** Scores are q·k · scale (1/√hd in every supported family). */
    scale: number;
    /** Keys further back than this are not attended; null = full causal attention. Enforced by checkContext. */
    slidingWindow: number | null;
  };
  mlp: { activation: "gelu-tanh" | "relu" | "silu"; gated: boolean };
  /** sequential: x += attn(norm1 x); x += mlp(norm2 x). parallel (GPT-J): h = norm1 x; x += attn(h) + mlp(h). */
  topology: "sequential" | "parallel";
  embedTokens: string; // [V, D]
  finalNorm: NormTensors;
  /** Output head [V, D] (`out-in`): the tied token embedding or lm_head, with GPT-J's bias. */
  head: { tied: boolean; weight: string; bias: string | null };
  /** Token ids the model's tokenizer puts before every text by default (`<s>` Llama/Mistral, `</s>` OPT). */
  prependTokens: number[];
  /** Block `l`'s tensors (canonical names; a ModelFolder resolves the stored ones). */
  block(layer: number): BlockTensors;
  /** ProFS's edited matrix of block `layer` and where D sits in it. */
  edited: { name(layer: number): string; orientation: Orientation };
}

type Config = Record<string, unknown>;

/** Reads `config` (a parsed config.json) into a family, or throws an InputError naming the field and its value. */
export function lmFamilyFrom(config: Config, source = "the model"): LmFamily {
  const architecture = architectureFor(config, source);
  const read = new ConfigReader(config, source);
  refuseMixtureOfExperts(read);
  switch (architecture.family) {
    case "gpt2":
      return gpt2(read, architecture);
    case "gptj":
      return gptj(read, architecture);
    case "opt":
      return opt(read, architecture);
    case "llama":
    case "mistral":
    case "qwen2":
    case "qwen3":
      return llamaLike(read, architecture);
  }
}

/** Refuses a run over `tokens` positions that the family cannot compute exactly (a shorter sliding window). */
export function checkContext(family: LmFamily, tokens: number, source = "the model"): void {
  const window = family.attention.slidingWindow;
  if (window !== null && tokens > window) {
    throw new InputError(
      `Cannot run ${source} over ${tokens} tokens as config.json 'sliding_window' must be at least the tokens per text (sliding-window attention is not implemented): current value is ${window}`,
    );
  }
  if (tokens > family.maxPositions) {
    throw new InputError(
      `Cannot run ${source} over ${tokens} tokens as a text must have at most ${family.maxPositions} tokens (the model's positions)`,
    );
  }
}

/**
 * Rotary inverse frequencies [rotaryDim / 2] in float64: θ^(−2i/rotaryDim), then the config's scaling (linear:
 * ÷ factor; llama3: long wavelengths ÷ factor, short ones kept, smooth blend between — Hugging Face's
 * `_compute_llama3_parameters`). Pair i of a head rotates by position · invFreq[i].
 */
export function rotaryInvFreq(p: Extract<Positions, { kind: "rotary" }>): Float64Array {
  const half = p.rotaryDim / 2;
  const out = new Float64Array(half);
  for (let i = 0; i < half; i++) out[i] = 1 / Math.pow(p.theta, (2 * i) / p.rotaryDim);
  const s = p.scaling;
  if (s?.type === "linear") {
    for (let i = 0; i < half; i++) out[i] /= s.factor;
  } else if (s?.type === "llama3") {
    const lowFreqWavelen = s.originalMaxPositions / s.lowFreqFactor;
    const highFreqWavelen = s.originalMaxPositions / s.highFreqFactor;
    for (let i = 0; i < half; i++) {
      const wavelen = (2 * Math.PI) / out[i];
      if (wavelen > lowFreqWavelen) out[i] /= s.factor;
      else if (wavelen >= highFreqWavelen) {
        const smooth = (s.originalMaxPositions / wavelen - s.lowFreqFactor) /
          (s.highFreqFactor - s.lowFreqFactor);
        out[i] = (1 - smooth) * (out[i] / s.factor) + smooth * out[i];
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Families

const TANH_GELUS = ["gelu_new", "gelu_pytorch_tanh", "gelu_fast"];

function gpt2(read: ConfigReader, architecture: Architecture): LmFamily {
  const d = read.int("n_embd");
  const h = read.int("n_head");
  const hd = read.divide(d, h, "n_embd", "n_head");
  const inner = read.intOr("n_inner", 4 * d);
  const eps = read.numberOr("layer_norm_epsilon", 1e-5);
  read.oneOf("activation_function", TANH_GELUS, "gelu_new");
  read.notTrue("scale_attn_by_inverse_layer_idx", "scaling attention by the layer index is not implemented");
  read.notTrue("add_cross_attention", "cross-attention is not a decoder-only model");
  if (read.config.scale_attn_weights === false) {
    read.refuse("scale_attn_weights", "unscaled attention is not implemented");
  }
  const positions = read.int("n_positions", "n_ctx");
  const ln = (name: string) => layerNorm(name, eps, d);
  const conv = (name: string, inF: number, outF: number): LinearTensors => ({
    weight: `${name}.weight`,
    bias: `${name}.bias`,
    layout: "in-out",
    inFeatures: inF,
    outFeatures: outF,
  });
  return {
    ...common(architecture),
    numLayers: read.int("n_layer"),
    hiddenSize: d,
    numHeads: h,
    numKvHeads: h,
    headDim: hd,
    intermediateSize: inner,
    vocabSize: read.int("vocab_size"),
    maxPositions: positions,
    positions: { kind: "learned", tensor: "wpe.weight", offset: 0, rows: positions },
    attention: { scale: 1 / Math.sqrt(hd), slidingWindow: null },
    mlp: { activation: "gelu-tanh", gated: false },
    topology: "sequential",
    embedTokens: "wte.weight",
    finalNorm: ln("ln_f"),
    head: { tied: true, weight: "wte.weight", bias: null }, // GPT2LMHeadModel always ties lm_head to wte
    prependTokens: [],
    block: (l) => ({
      attnNorm: ln(`h.${l}.ln_1`),
      mlpNorm: ln(`h.${l}.ln_2`),
      qkv: { kind: "fused", qkv: conv(`h.${l}.attn.c_attn`, d, 3 * d) },
      qNorm: null,
      kNorm: null,
      o: conv(`h.${l}.attn.c_proj`, d, d),
      up: conv(`h.${l}.mlp.c_fc`, d, inner),
      gate: null,
      down: conv(`h.${l}.mlp.c_proj`, inner, d),
    }),
  };
}

function gptj(read: ConfigReader, architecture: Architecture): LmFamily {
  const d = read.int("n_embd");
  const h = read.int("n_head");
  const hd = read.divide(d, h, "n_embd", "n_head");
  const inner = read.intOr("n_inner", 4 * d);
  const eps = read.numberOr("layer_norm_epsilon", 1e-5);
  read.oneOf("activation_function", TANH_GELUS, "gelu_new");
  const rotaryDim = read.intOr("rotary_dim", hd);
  if (rotaryDim > hd || rotaryDim % 2 !== 0) {
    read.refuse("rotary_dim", `it must be an even number at most the head size ${hd}`);
  }
  const tied = read.boolOr("tie_word_embeddings", false);
  const ln = (name: string) => layerNorm(name, eps, d);
  const p = `transformer.h`;
  return {
    ...common(architecture),
    numLayers: read.int("n_layer"),
    hiddenSize: d,
    numHeads: h,
    numKvHeads: h,
    headDim: hd,
    intermediateSize: inner,
    vocabSize: read.int("vocab_size"),
    maxPositions: read.int("n_positions"),
    // GPT-J's sin/cos table uses base 10000 (no rope_theta field).
    positions: { kind: "rotary", convention: "interleaved", rotaryDim, theta: 10000, scaling: null },
    attention: { scale: 1 / Math.sqrt(hd), slidingWindow: null },
    mlp: { activation: "gelu-tanh", gated: false },
    topology: "parallel",
    embedTokens: "transformer.wte.weight",
    finalNorm: ln("transformer.ln_f"),
    head: tied
      ? { tied, weight: "transformer.wte.weight", bias: "lm_head.bias" }
      : { tied, weight: "lm_head.weight", bias: "lm_head.bias" },
    prependTokens: [],
    block: (l) => ({
      attnNorm: ln(`${p}.${l}.ln_1`),
      mlpNorm: null,
      qkv: separateQkv(`${p}.${l}.attn`, d, d, d, false),
      qNorm: null,
      kNorm: null,
      o: linear(`${p}.${l}.attn.out_proj`, d, d, false),
      up: linear(`${p}.${l}.mlp.fc_in`, d, inner, true),
      gate: null,
      down: linear(`${p}.${l}.mlp.fc_out`, inner, d, true),
    }),
  };
}

function opt(read: ConfigReader, architecture: Architecture): LmFamily {
  const d = read.int("hidden_size");
  const h = read.int("num_attention_heads");
  const hd = read.divide(d, h, "hidden_size", "num_attention_heads");
  const ffn = read.int("ffn_dim");
  const projDim = read.intOr("word_embed_proj_dim", d);
  if (projDim !== d) {
    read.refuse(
      "word_embed_proj_dim",
      `it must equal hidden_size ${d} (project_in/project_out models are not implemented)`,
    );
  }
  if (read.config.do_layer_norm_before === false) {
    read.refuse("do_layer_norm_before", "post-LN OPT is not implemented (only the pre-LN variant)");
  }
  read.notTrue("_remove_final_layer_norm", "OPT without its final layer norm is not implemented");
  if (read.config.layer_norm_elementwise_affine === false) {
    read.refuse("layer_norm_elementwise_affine", "layer norms without weights are not implemented");
  }
  const bias = read.boolOr("enable_bias", true);
  read.oneOf("activation_function", ["relu"], "relu");
  const positions = read.int("max_position_embeddings");
  const eps = 1e-5; // OPT's nn.LayerNorm default; config.json has no field for it
  const ln = (name: string) => layerNorm(name, eps, d);
  const p = "model.decoder.layers";
  const tied = read.boolOr("tie_word_embeddings", true);
  return {
    ...common(architecture),
    numLayers: read.int("num_hidden_layers"),
    hiddenSize: d,
    numHeads: h,
    numKvHeads: h,
    headDim: hd,
    intermediateSize: ffn,
    vocabSize: read.int("vocab_size"),
    maxPositions: positions,
    positions: {
      kind: "learned",
      tensor: "model.decoder.embed_positions.weight",
      offset: 2,
      rows: positions + 2,
    },
    attention: { scale: 1 / Math.sqrt(hd), slidingWindow: null },
    mlp: { activation: "relu", gated: false },
    topology: "sequential",
    embedTokens: "model.decoder.embed_tokens.weight",
    finalNorm: ln("model.decoder.final_layer_norm"),
    head: { tied, weight: tied ? "model.decoder.embed_tokens.weight" : "lm_head.weight", bias: null },
    prependTokens: [read.intOr("bos_token_id", 2, true)], // OPT's tokenizer puts `</s>` (id 2) first
    block: (l) => ({
      attnNorm: ln(`${p}.${l}.self_attn_layer_norm`),
      mlpNorm: ln(`${p}.${l}.final_layer_norm`),
      qkv: separateQkv(`${p}.${l}.self_attn`, d, d, d, bias),
      qNorm: null,
      kNorm: null,
      o: linear(`${p}.${l}.self_attn.out_proj`, d, d, bias),
      up: linear(`${p}.${l}.fc1`, d, ffn, bias),
      gate: null,
      down: linear(`${p}.${l}.fc2`, ffn, d, bias),
    }),
  };
}

/** llama, mistral, qwen2, qwen3: RMSNorm, half-split rotary, GQA, SwiGLU. */
function llamaLike(read: ConfigReader, architecture: Architecture): LmFamily {
  const family = architecture.family;
  const d = read.int("hidden_size");
  const h = read.int("num_attention_heads");
  const kv = read.intOr("num_key_value_heads", h);
  if (h % kv !== 0) {
    read.refuse("num_key_value_heads", `it must divide num_attention_heads ${h}`);
  }
  const hd = read.config.head_dim == null
    ? read.divide(d, h, "hidden_size", "num_attention_heads")
    : read.int("head_dim");
  if (hd % 2 !== 0) read.refuse("head_dim", "it must be even (rotary pairs)");
  const inner = read.int("intermediate_size");
  const eps = read.numberOr("rms_norm_eps", 1e-6);
  read.oneOf("hidden_act", ["silu"], "silu");
  const rope = ropeOf(read, hd);
  // As transformers builds them: Qwen2 always has q/k/v biases (o none); Llama and Qwen3 put `attention_bias` on
  // q/k/v/o; Mistral has none. Only Llama reads `mlp_bias`.
  const attentionBias = family === "llama" || family === "qwen3"
    ? read.boolOr("attention_bias", false)
    : false;
  const qkvBias = family === "qwen2" || attentionBias;
  const oBias = attentionBias;
  const mlpBias = family === "llama" ? read.boolOr("mlp_bias", false) : false;
  const qkNorm = family === "qwen3";
  const tied = read.boolOr("tie_word_embeddings", false);
  const rms = (name: string, size = d): NormTensors => ({
    kind: "rmsnorm",
    weight: `${name}.weight`,
    bias: null,
    eps,
    size,
  });
  const p = "model.layers";
  const bos = read.intOr("bos_token_id", 1, true);
  return {
    ...common(architecture),
    numLayers: read.int("num_hidden_layers"),
    hiddenSize: d,
    numHeads: h,
    numKvHeads: kv,
    headDim: hd,
    intermediateSize: inner,
    vocabSize: read.int("vocab_size"),
    maxPositions: read.int("max_position_embeddings"),
    positions: rope,
    attention: { scale: 1 / Math.sqrt(hd), slidingWindow: slidingWindowOf(read) },
    mlp: { activation: "silu", gated: true },
    topology: "sequential",
    embedTokens: "model.embed_tokens.weight",
    finalNorm: rms("model.norm"),
    head: { tied, weight: tied ? "model.embed_tokens.weight" : "lm_head.weight", bias: null },
    // Llama/Mistral's tokenizers put `<s>` (bos_token_id) first; Qwen's add nothing.
    prependTokens: family === "llama" || family === "mistral" ? [bos] : [],
    block: (l) => ({
      attnNorm: rms(`${p}.${l}.input_layernorm`),
      mlpNorm: rms(`${p}.${l}.post_attention_layernorm`),
      qkv: separateQkv(`${p}.${l}.self_attn`, d, h * hd, kv * hd, qkvBias),
      qNorm: qkNorm ? rms(`${p}.${l}.self_attn.q_norm`, hd) : null,
      kNorm: qkNorm ? rms(`${p}.${l}.self_attn.k_norm`, hd) : null,
      o: linear(`${p}.${l}.self_attn.o_proj`, h * hd, d, oBias),
      up: linear(`${p}.${l}.mlp.up_proj`, d, inner, mlpBias),
      gate: linear(`${p}.${l}.mlp.gate_proj`, d, inner, mlpBias),
      down: linear(`${p}.${l}.mlp.down_proj`, inner, d, mlpBias),
    }),
  };
}

function common(architecture: Architecture): Pick<LmFamily, "family" | "architecture" | "edited"> {
  return {
    family: architecture.family,
    architecture,
    edited: {
      name: (l: number) => mlpOutputName(architecture, l),
      orientation: architecture.orientation,
    },
  };
}

function linear(name: string, inF: number, outF: number, bias: boolean): LinearTensors {
  return {
    weight: `${name}.weight`,
    bias: bias ? `${name}.bias` : null,
    layout: "out-in",
    inFeatures: inF,
    outFeatures: outF,
  };
}

/** `{prefix}.q_proj`, `.k_proj`, `.v_proj`: nn.Linear projections from `inF` to q's and k/v's widths. */
function separateQkv(prefix: string, inF: number, qOut: number, kvOut: number, bias: boolean): QkvTensors {
  return {
    kind: "separate",
    q: linear(`${prefix}.q_proj`, inF, qOut, bias),
    k: linear(`${prefix}.k_proj`, inF, kvOut, bias),
    v: linear(`${prefix}.v_proj`, inF, kvOut, bias),
  };
}

/** A LayerNorm with weight and bias over `size`. */
function layerNorm(name: string, eps: number, size: number): NormTensors {
  return { kind: "layernorm", weight: `${name}.weight`, bias: `${name}.bias`, eps, size };
}

/**
 * Rotary settings from either config style: Transformers 4 (`rope_theta`, `rope_scaling` with `type` or
 * `rope_type`) or Transformers 5 (`rope_parameters` holding `rope_theta` and `rope_type`).
 */
function ropeOf(read: ConfigReader, hd: number): Extract<Positions, { kind: "rotary" }> {
  const partial = read.config.partial_rotary_factor;
  if (partial != null && partial !== 1) {
    read.refuse("partial_rotary_factor", "partial rotary is implemented for gptj's rotary_dim only");
  }
  const params = read.config.rope_parameters;
  const scalingField = params != null ? "rope_parameters" : "rope_scaling";
  const scaling = (params ?? read.config.rope_scaling) as Config | null | undefined;
  if (scaling != null && (typeof scaling !== "object" || Array.isArray(scaling))) {
    read.refuse(scalingField, "it must be an object or null");
  }
  const theta = params != null
    ? read.numberIn(scaling!, "rope_parameters.rope_theta", 10000)
    : read.numberOr("rope_theta", 10000);
  const base = { kind: "rotary" as const, convention: "half-split" as const, rotaryDim: hd, theta };
  if (scaling == null) return { ...base, scaling: null };
  const typeField = scaling.rope_type !== undefined ? "rope_type" : "type";
  const type = scaling[typeField] ?? "default";
  const field = `${scalingField}.${typeField}`;
  if (type === "default") return { ...base, scaling: null };
  const factor = read.numberIn(scaling, `${scalingField}.factor`);
  if (type === "linear") return { ...base, scaling: { type, factor } };
  if (type === "llama3") {
    const low = read.numberIn(scaling, `${scalingField}.low_freq_factor`);
    const high = read.numberIn(scaling, `${scalingField}.high_freq_factor`);
    if (!(high > low)) {
      read.refuse(`${scalingField}.high_freq_factor`, `it must exceed low_freq_factor ${low}`, high);
    }
    return {
      ...base,
      scaling: {
        type,
        factor,
        lowFreqFactor: low,
        highFreqFactor: high,
        originalMaxPositions: read.numberIn(scaling, `${scalingField}.original_max_position_embeddings`),
      },
    };
  }
  throw new InputError(
    `Cannot run ${read.source} as config.json '${field}' must be one of default, linear, llama3 (other rope scalings are not implemented): current value is ${
      JSON.stringify(type)
    }`,
  );
}

/**
 * The attention window, or null when every layer attends to all earlier tokens. Mistral applies `sliding_window`
 * whenever it is set; Qwen2/3 only with `use_sliding_window` (or a Transformers 5 `layer_types` entry
 * "sliding_attention").
 */
function slidingWindowOf(read: ConfigReader): number | null {
  const c = read.config;
  const window = c.sliding_window;
  if (window == null) return null;
  const family = read.config.model_type;
  const layerTypes = Array.isArray(c.layer_types) ? c.layer_types : [];
  const used = family === "mistral" || c.use_sliding_window === true ||
    layerTypes.includes("sliding_attention");
  if (!used) return null;
  return read.int("sliding_window");
}

/** Mixture-of-experts fields (Mixtral, Qwen-MoE, DeepSeek): refused rather than silently run as a dense model. */
function refuseMixtureOfExperts(read: ConfigReader): void {
  for (
    const field of [
      "num_local_experts",
      "num_experts",
      "n_routed_experts",
      "num_experts_per_tok",
      "moe_intermediate_size",
    ]
  ) {
    const value = read.config[field];
    if (value != null && value !== 0) read.refuse(field, "mixture-of-experts models are not implemented");
  }
}

/** Typed reads of config.json fields with the house error style. */
class ConfigReader {
  constructor(readonly config: Config, readonly source: string) {}

  refuse(field: string, rule: string, value: unknown = this.config[field]): never {
    throw new InputError(
      `Cannot run ${this.source} as config.json '${field}' is not supported (${rule}): current value is ${
        JSON.stringify(value ?? null)
      }`,
    );
  }

  /** The first present of `fields` as a positive integer. */
  int(...fields: string[]): number {
    for (const field of fields) {
      const value = this.config[field];
      if (value == null) continue;
      if (typeof value === "number" && Number.isSafeInteger(value) && value > 0) return value;
      throw new InputError(
        `Cannot run ${this.source} as config.json '${field}' must be a positive integer: current value is ${
          JSON.stringify(value)
        }`,
      );
    }
    throw new InputError(`Cannot run ${this.source} as config.json must give '${fields.join("' or '")}'`);
  }

  /** A positive integer (non-negative with `zeroOk`) or `fallback` when absent or null. */
  intOr(field: string, fallback: number, zeroOk = false): number {
    const value = this.config[field];
    if (value == null) return fallback;
    if (typeof value === "number" && Number.isSafeInteger(value) && (value > 0 || (zeroOk && value === 0))) {
      return value;
    }
    throw new InputError(
      `Cannot run ${this.source} as config.json '${field}' must be a ${
        zeroOk ? "non-negative" : "positive"
      } integer: current value is ${JSON.stringify(value)}`,
    );
  }

  numberOr(field: string, fallback: number): number {
    return this.numberIn(this.config, field, fallback);
  }

  /** A positive number at `object[last part of path]`, reported under `path`. */
  numberIn(object: Config, path: string, fallback?: number): number {
    const key = path.slice(path.lastIndexOf(".") + 1);
    const value = object[key];
    if (value == null && fallback !== undefined) return fallback;
    if (typeof value === "number" && Number.isFinite(value) && value > 0) return value;
    throw new InputError(
      `Cannot run ${this.source} as config.json '${path}' must be a positive number: current value is ${
        JSON.stringify(value ?? null)
      }`,
    );
  }

  boolOr(field: string, fallback: boolean): boolean {
    const value = this.config[field];
    if (value == null) return fallback;
    if (typeof value === "boolean") return value;
    throw new InputError(
      `Cannot run ${this.source} as config.json '${field}' must be true or false: current value is ${
        JSON.stringify(value)
      }`,
    );
  }

  notTrue(field: string, rule: string): void {
    if (this.config[field] === true) this.refuse(field, rule);
  }

  oneOf(field: string, allowed: string[], fallback: string): string {
    const value = this.config[field] ?? fallback;
    if (typeof value === "string" && allowed.includes(value)) return value;
    throw new InputError(
      `Cannot run ${this.source} as config.json '${field}' must be one of ${
        allowed.join(", ")
      }: current value is ${JSON.stringify(value)}`,
    );
  }

  divide(total: number, parts: number, totalField: string, partsField: string): number {
    if (total % parts !== 0) {
      throw new InputError(
        `Cannot run ${this.source} as config.json '${totalField}' must be a multiple of '${partsField}' (${parts}): current value is ${total}`,
      );
    }
    return total / parts;
  }
}
