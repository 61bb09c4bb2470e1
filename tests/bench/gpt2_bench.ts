/**
 * GPT-2 forward-pass throughput: tokens per second of embedding extraction (prefill + per-block pooling) and of
 * greedy generation (KV-cached decode steps), for a GPT-2-small-shaped model (12 blocks, D = 768, 12 heads,
 * GPT-2's full 50,257-token vocabulary, random weights) on the available WebGPU adapter, printed with its name.
 * The CPU backend (the plain TypeScript twins) is measured on a small workload too. The default workload is
 * tiny so the run stays near two minutes on lavapipe, a software adapter; on a real GPU raise it with
 * GPT2_BENCH_SCALE (texts, tokens, prompts and new tokens scale with it).
 *
 *   deno task bench gpt2
 */
import { type Gpt2Config, gpt2ConfigFrom } from "../../gpu-worker/lm/gpt2/config.ts";
import { createCpuEngine } from "../../gpu-worker/lm/gpt2/cpu_forward.ts";
import type { Gpt2Engine } from "../../gpu-worker/lm/gpt2/engine.ts";
import { createGpuEngine } from "../../gpu-worker/lm/gpt2/gpu_forward.ts";
import { runnerOver, type TextTokenizer } from "../../gpu-worker/lm/gpt2/runner.ts";
import { loadGpt2Weights } from "../../gpu-worker/lm/gpt2/weights.ts";

const CONFIG = {
  n_layer: 12,
  n_embd: 768,
  n_head: 12,
  n_positions: 1024,
  vocab_size: 50257,
  activation_function: "gelu_new",
};

/** Random weights generated per tensor on demand, so the host never holds the whole model. */
function randomSource(config: Gpt2Config) {
  const { hiddenSize: D, innerSize: I, vocabSize: V, maxPositions: P } = config;
  const shapes: Record<string, number> = {
    "wte.weight": V * D,
    "wpe.weight": P * D,
    "ln_f.weight": D,
    "ln_f.bias": D,
    "ln_1.weight": D,
    "ln_1.bias": D,
    "attn.c_attn.weight": D * 3 * D,
    "attn.c_attn.bias": 3 * D,
    "attn.c_proj.weight": D * D,
    "attn.c_proj.bias": D,
    "ln_2.weight": D,
    "ln_2.bias": D,
    "mlp.c_fc.weight": D * I,
    "mlp.c_fc.bias": I,
    "mlp.c_proj.weight": I * D,
    "mlp.c_proj.bias": D,
  };
  let seed = 1;
  return {
    config: CONFIG,
    // deno-lint-ignore require-await
    async readTensor(name: string) {
      const key = name.replace(/^h\.\d+\./, "");
      const out = new Float32Array(shapes[key]);
      const ones = key.endsWith("ln_1.weight") || key.endsWith("ln_2.weight") || key === "ln_f.weight";
      for (let i = 0; i < out.length; i++) {
        seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
        out[i] = (ones ? 1 : 0) + 0.04 * (seed / 2 ** 32 - 0.5);
      }
      return out;
    },
  };
}

/** Texts are keys into pre-made token ids, so the figures measure the model, not the tokenizer. */
function syntheticTokenizer(sequences: Map<string, number[]>): TextTokenizer {
  return { encode: (text) => sequences.get(text)!, decode: (ids) => ids.join(" "), eosTokenId: 50256 };
}

async function measure(
  engine: Gpt2Engine,
  work: { texts: number; tokens: number; prompts: number; promptTokens: number; newTokens: number },
) {
  const sequences = new Map<string, number[]>();
  const make = (prefix: string, count: number, length: number) =>
    Array.from({ length: count }, (_, i) => {
      const key = `${prefix}${i}`;
      sequences.set(key, Array.from({ length }, (_, t) => (i * 7919 + t * 104729) % 50000));
      return key;
    });
  const texts = make("text", work.texts, work.tokens);
  const prompts = make("prompt", work.prompts, work.promptTokens);
  const runner = runnerOver(engine, syntheticTokenizer(sequences));
  await runner.generate([prompts[0]], { maxNewTokens: 1 }); // compile pipelines, warm the buffer pool

  let start = performance.now();
  await runner.embed(texts, { batchSize: 8 });
  const embedSeconds = (performance.now() - start) / 1000;
  start = performance.now();
  await runner.generate(prompts, { maxNewTokens: work.newTokens, stopAtEos: false, batchSize: work.prompts });
  const generateSeconds = (performance.now() - start) / 1000;
  const embedded = work.texts * work.tokens;
  const generated = work.prompts * work.newTokens;
  console.log(
    `  embedding: ${embedded} tokens (${work.texts} texts × ${work.tokens}) in ${
      embedSeconds.toFixed(2)
    } s → ` +
      `${(embedded / embedSeconds).toFixed(1)} tokens/s`,
  );
  console.log(
    `  generation: ${generated} tokens (${work.prompts} prompts × ${work.newTokens} new, ${work.promptTokens}-token ` +
      `prompts, prefill included) in ${generateSeconds.toFixed(2)} s → ${
        (generated / generateSeconds).toFixed(1)
      } tokens/s`,
  );
  runner.dispose();
}

const config = gpt2ConfigFrom(CONFIG);
const scale = Number(Deno.env.get("GPT2_BENCH_SCALE") ?? "1");
console.log("GPT-2-small shape: 12 blocks, D=768, 12 heads, vocabulary 50257, random weights");

let engine: Gpt2Engine | null = null;
try {
  engine = await createGpuEngine(config, randomSource(config));
} catch (error) {
  console.log(`webgpu: skipped (${(error as Error).message})`);
}
if (engine) {
  console.log(`webgpu on ${engine.device}`);
  await measure(engine, {
    texts: 2 * scale,
    tokens: 8 * scale,
    prompts: 2 * scale,
    promptTokens: 2,
    newTokens: 3 * scale,
  });
}

const cpu = createCpuEngine(config, await loadGpt2Weights(randomSource(config), config));
console.log("cpu (plain TypeScript twins)");
await measure(cpu, { texts: 2, tokens: 8, prompts: 1, promptTokens: 4, newTokens: 2 });
