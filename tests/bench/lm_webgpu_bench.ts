/**
 * The WebGPU LM engine (gpu-worker/lm/webgpu/): tokens per second of layer-major embedding extraction and of
 * greedy generation with a KV cache, per family, on random models in BF16 (weights generated per tensor on
 * demand, so the host never holds the model), on the available adapter, printed with its name and the peak
 * device memory the engine held. Shapes (LM_BENCH_SIZE):
 *   small (default; lavapipe): D 512, 4 blocks, 8 heads, vocabulary 32000 (~40M parameters)
 *   100m: D 768, 12 blocks, 12 heads, I 3072, vocabulary 32000 (~110M parameters)
 *   7b:   Mistral-7B's shape — D 4096, 32 blocks, 32 heads / 8 kv heads, I 14336, vocabulary 32000
 * Workload: LM_BENCH_TEXTS texts × LM_BENCH_TOKENS tokens embedded (default 8 × 32), LM_BENCH_PROMPTS prompts
 * × LM_BENCH_NEW new tokens generated (default 4 × 8). LM_BENCH_FAMILIES=llama,gpt2 limits the families.
 *
 *   deno task bench lm_webgpu
 */
import { lmFamilyFrom } from "../../gpu-worker/lm/family.ts";
import { createWebGpuLm } from "../../gpu-worker/lm/webgpu/engine.ts";
import type { WeightSource } from "../../gpu-worker/lm/webgpu/weights.ts";
import { acquireGpu } from "../../gpu-worker/runtime/mod.ts";
import type { DType } from "../../shared/safetensors/dtype.ts";

const SIZES = {
  small: { d: 512, layers: 4, heads: 8, kv: 4, inner: 1408, vocab: 32000 },
  "100m": { d: 768, layers: 12, heads: 12, kv: 4, inner: 3072, vocab: 32000 },
  "7b": { d: 4096, layers: 32, heads: 32, kv: 8, inner: 14336, vocab: 32000 },
};
const sizeName = (Deno.env.get("LM_BENCH_SIZE") ?? "small") as keyof typeof SIZES;
const s = SIZES[sizeName];
const env = (name: string, fallback: number) => Number(Deno.env.get(name) ?? fallback);
const [texts, tokens, prompts, fresh] = [
  env("LM_BENCH_TEXTS", 8),
  env("LM_BENCH_TOKENS", 32),
  env("LM_BENCH_PROMPTS", 4),
  env("LM_BENCH_NEW", 8),
];

const CONFIGS: Record<string, Record<string, unknown>> = {
  llama: {
    model_type: "llama",
    hidden_size: s.d,
    num_hidden_layers: s.layers,
    num_attention_heads: s.heads,
    num_key_value_heads: s.kv,
    intermediate_size: s.inner,
    vocab_size: s.vocab,
    max_position_embeddings: 4096,
    rms_norm_eps: 1e-5,
  },
  qwen3: {
    model_type: "qwen3",
    hidden_size: s.d,
    head_dim: s.d / s.heads,
    num_hidden_layers: s.layers,
    num_attention_heads: s.heads,
    num_key_value_heads: s.kv,
    intermediate_size: s.inner,
    vocab_size: s.vocab,
    max_position_embeddings: 4096,
    rope_theta: 1e6,
    tie_word_embeddings: true,
  },
  gpt2: {
    model_type: "gpt2",
    n_embd: s.d,
    n_layer: s.layers,
    n_head: s.heads,
    n_positions: 1024,
    vocab_size: s.vocab,
  },
  gptj: {
    model_type: "gptj",
    n_embd: s.d,
    n_layer: s.layers,
    n_head: s.heads,
    n_positions: 2048,
    rotary_dim: Math.min(64, s.d / s.heads),
    vocab_size: s.vocab,
  },
  opt: {
    model_type: "opt",
    hidden_size: s.d,
    num_hidden_layers: s.layers,
    num_attention_heads: s.heads,
    ffn_dim: 4 * s.d,
    vocab_size: s.vocab,
    max_position_embeddings: 2048,
    word_embed_proj_dim: s.d,
  },
};

/** Every tensor the family names, BF16, with deterministic values generated for each byte range asked for. */
function randomSource(config: Record<string, unknown>): WeightSource {
  const family = lmFamilyFrom(config, "the bench model");
  const D = family.hiddenSize;
  const shapes = new Map<string, number[]>();
  const norm = (n: { weight: string; bias: string | null; size: number } | null) => {
    if (!n) return;
    shapes.set(n.weight, [n.size]);
    if (n.bias) shapes.set(n.bias, [n.size]);
  };
  const linear = (
    l:
      | { weight: string; bias: string | null; layout: string; inFeatures: number; outFeatures: number }
      | null,
  ) => {
    if (!l) return;
    shapes.set(
      l.weight,
      l.layout === "out-in" ? [l.outFeatures, l.inFeatures] : [l.inFeatures, l.outFeatures],
    );
    if (l.bias) shapes.set(l.bias, [l.outFeatures]);
  };
  shapes.set(family.embedTokens, [family.vocabSize, D]);
  if (family.positions.kind === "learned") shapes.set(family.positions.tensor, [family.positions.rows, D]);
  norm(family.finalNorm);
  shapes.set(family.head.weight, [family.vocabSize, D]);
  if (family.head.bias) shapes.set(family.head.bias, [family.vocabSize]);
  for (let l = 0; l < family.numLayers; l++) {
    const b = family.block(l);
    [b.attnNorm, b.mlpNorm, b.qNorm, b.kNorm].forEach(norm);
    if (b.qkv.kind === "fused") linear(b.qkv.qkv);
    else [b.qkv.q, b.qkv.k, b.qkv.v].forEach(linear);
    [b.o, b.up, b.gate, b.down].forEach(linear);
  }
  return {
    info(name) {
      const shape = shapes.get(name);
      if (!shape) throw new Error(`no tensor '${name}' in the bench model`);
      return { dtype: (shape.length === 1 ? "F32" : "BF16") as DType, shape };
    },
    // deno-lint-ignore require-await
    async bytes(name, range) {
      const shape = shapes.get(name)!;
      const vector = shape.length === 1;
      const size = shape.reduce((a, b) => a * b, 1) * (vector ? 4 : 2);
      const begin = range?.begin ?? 0;
      const out = new Uint8Array((range?.end ?? size) - begin);
      // Copied from a fixed random pattern at a per-tensor offset: generating values one by one in JS would
      // cost more than the forward pass being measured.
      const pattern = vector ? (name.endsWith("bias") ? BIAS : NORM) : MATRIX;
      let from = (begin + name.length * 4099) % pattern.length & ~3;
      for (let at = 0; at < out.length;) {
        const n = Math.min(out.length - at, pattern.length - from);
        out.set(pattern.subarray(from, from + n), at);
        at += n;
        from = 0;
      }
      return out;
    },
  };
}

/** 1 MiB patterns: BF16 weights uniform in ±0.02, f32 norm weights 1 ± 0.05, f32 biases ±0.02. */
function pattern(make: (u: number) => number, bf16: boolean): Uint8Array {
  const values = Float32Array.from(
    { length: 1 << 18 },
    (_, i) => make((Math.imul(i, 2654435761) >>> 0) / 2 ** 32 - 0.5),
  );
  if (!bf16) return new Uint8Array(values.buffer);
  return new Uint8Array(new Uint16Array(new Uint32Array(values.buffer).map((b) => b >>> 16)).buffer);
}
const MATRIX = pattern((u) => 0.04 * u, true);
const NORM = pattern((u) => 1 + 0.1 * u, false);
const BIAS = pattern((u) => 0.04 * u, false);

const gpu = await acquireGpu();
if (!gpu) {
  console.log("lm_webgpu: skipped (no WebGPU adapter)");
  Deno.exit(0);
}
console.log(
  `adapter: ${gpu.adapter.description}${gpu.adapter.software ? " (software)" : ""}; size ${sizeName} ${
    JSON.stringify(s)
  }; BF16 weights; embed ${texts}×${tokens} tokens, generate ${prompts}×${fresh}`,
);
const families = Deno.env.get("LM_BENCH_FAMILIES")?.split(",") ?? Object.keys(CONFIGS);
for (const name of families) {
  const family = lmFamilyFrom(CONFIGS[name], name);
  const engine = await createWebGpuLm(family, randomSource(CONFIGS[name]), { gpu, model: name });
  const ids = (n: number, t: number) =>
    Array.from(
      { length: n },
      (_, i) => Array.from({ length: t }, (_, j) => (i * 7919 + j * 104729) % s.vocab),
    );
  let start = performance.now();
  await engine.embed(ids(texts, tokens));
  const embedSeconds = (performance.now() - start) / 1000;
  start = performance.now();
  await engine.generate(ids(prompts, 8), fresh);
  const genSeconds = (performance.now() - start) / 1000;
  console.log(
    `${name.padEnd(6)} embed ${(texts * tokens / embedSeconds).toFixed(1).padStart(8)} tokens/s (${
      embedSeconds.toFixed(2)
    } s)   generate ${(prompts * fresh / genSeconds).toFixed(1).padStart(7)} tokens/s (${
      genSeconds.toFixed(2)
    } s, prefill included)   peak device ${(engine.peakDeviceBytes / 2 ** 20).toFixed(0)} MiB`,
  );
  engine.dispose();
}
gpu.dispose();
