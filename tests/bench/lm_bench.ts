/**
 * The LM engine on the CPU (issue 17):
 * 1. per family, a ~100M-parameter random model (BF16 on disk): embedding throughput (layer-major, 16 texts ×
 *    64 tokens) and greedy generation throughput (4 prompts × 16 new tokens, resident model, KV cache);
 * 2. peak RSS (VmHWM, in a child process) of `profs edit --pairs` on a Llama-shaped BF16 model of ≥ 2 GB
 *    (hidden 2048, 16 layers, 16 heads / 4 kv heads, intermediate 8192, vocabulary 32000): the bound is one
 *    block as float32 plus activations, whatever the model's size (target: under 600 MB).
 * Files live in a temp dir, deleted after.
 *
 *   deno task bench lm          (PROFS_LM_BENCH=throughput or =memory runs one part)
 */
import { join } from "node:path";
import process from "node:process";
import { openGemm } from "../../gpu-worker/blas/gemm.ts";
import { runEdit } from "../../gpu-worker/edit/pipeline.ts";
import { embedSequences, loadLmCpuModel } from "../../gpu-worker/lm/cpu/forward.ts";
import { lmFamilyFrom } from "../../gpu-worker/lm/family.ts";
import { openModelFolder } from "../../shared/model/folder.ts";
import { writeRandomLm } from "../fixtures/random_lm.ts";

const LLAMA_100M = {
  model_type: "llama",
  hidden_size: 768,
  num_hidden_layers: 12,
  num_attention_heads: 12,
  num_key_value_heads: 4,
  intermediate_size: 2048,
  vocab_size: 32000,
  max_position_embeddings: 2048,
  rms_norm_eps: 1e-5,
  hidden_act: "silu",
  rope_theta: 10000,
  bos_token_id: 1,
  tie_word_embeddings: false,
};

const FAMILIES: Record<string, Record<string, unknown>> = {
  gpt2: { model_type: "gpt2", n_embd: 768, n_layer: 12, n_head: 12, vocab_size: 50257, n_positions: 1024 },
  llama: LLAMA_100M,
  qwen2: { ...LLAMA_100M, model_type: "qwen2", vocab_size: 50000, tie_word_embeddings: true },
  qwen3: { ...LLAMA_100M, model_type: "qwen3", head_dim: 64, vocab_size: 50000, tie_word_embeddings: true },
  gptj: {
    model_type: "gptj",
    n_embd: 768,
    n_layer: 12,
    n_head: 12,
    rotary_dim: 32,
    vocab_size: 50400,
    n_positions: 2048,
  },
  opt: {
    model_type: "opt",
    hidden_size: 768,
    num_hidden_layers: 12,
    num_attention_heads: 12,
    ffn_dim: 3072,
    vocab_size: 50272,
    max_position_embeddings: 2048,
    word_embed_proj_dim: 768,
    do_layer_norm_before: true,
    activation_function: "relu",
    bos_token_id: 2,
  },
};

const LLAMA_2GB = {
  ...LLAMA_100M,
  hidden_size: 2048,
  num_hidden_layers: 16,
  num_attention_heads: 16,
  num_key_value_heads: 4,
  intermediate_size: 8192,
};

function peakRssMb(): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(Deno.readTextFileSync("/proc/self/status"));
  return match ? Number(match[1]) / 1024 : NaN;
}

function randomTexts(n: number, tokens: number, vocab: number, seed: number): number[][] {
  let s = seed;
  const next = () => (s = (s * 1103515245 + 12345) % 2147483648) % vocab;
  return Array.from({ length: n }, () => Array.from({ length: tokens }, next));
}

async function throughput(dir: string) {
  const gemm = openGemm();
  console.log(`products: ${gemm.name}; machine shared with other work, figures are indicative`);
  for (const [name, config] of Object.entries(FAMILIES)) {
    const folderDir = join(dir, name);
    const { params } = await writeRandomLm(folderDir, config, { dtype: "BF16" });
    const folder = await openModelFolder(folderDir);
    try {
      const family = lmFamilyFrom(folder.config);
      const texts = randomTexts(16, 64, family.vocabSize, 7);
      let started = performance.now();
      await embedSequences(folder, family, texts, { gemm });
      const embedSeconds = (performance.now() - started) / 1000;
      const model = await loadLmCpuModel(folder, family, gemm);
      started = performance.now();
      await model.generate(randomTexts(4, 16, family.vocabSize, 9), 16);
      const genSeconds = (performance.now() - started) / 1000;
      console.log(JSON.stringify({
        family: name,
        params: Math.round(params / 1e6) + "M",
        embedTokensPerSecond: Math.round(16 * 64 / embedSeconds),
        generateTokensPerSecond: Math.round(4 * 16 / genSeconds * 10) / 10,
      }));
    } finally {
      await folder.close();
      await Deno.remove(folderDir, { recursive: true });
    }
  }
}

async function child(modelDir: string, pairs: string, outDir: string) {
  const started = performance.now();
  const cpu = process.cpuUsage();
  const peakByStage: Record<string, number> = {};
  const { report } = await runEdit({
    modelDir,
    outDir,
    pairsFile: pairs,
    layers: { from: 8, to: 16 },
    rank: 2,
    backend: "cpu",
    maxTokens: 32,
  }, {
    onProgress: (stage) => peakByStage[stage] ??= Math.round(peakRssMb()),
  });
  const used = process.cpuUsage(cpu);
  console.log(JSON.stringify({
    seconds: (performance.now() - started) / 1000,
    cpuSeconds: (used.user + used.system) / 1e6,
    peakRssMb: Math.round(peakRssMb()),
    stages: report.seconds,
    peakByStage,
  }));
}

async function memory(dir: string) {
  const modelDir = join(dir, "llama-2gb");
  const { bytes, params } = await writeRandomLm(modelDir, LLAMA_2GB, { dtype: "BF16" });
  const pairs = join(dir, "pairs.jsonl");
  const words = "the quick brown fox jumps over a lazy dog while models learn to edit weights".split(" ");
  const lines = Array.from({ length: 16 }, (_, i) =>
    JSON.stringify({
      preferred: Array.from({ length: 30 }, (_, j) => words[(i * 7 + j * 3) % words.length]).join(" "),
      rejected: Array.from({ length: 30 }, (_, j) => words[(i * 5 + j * 11) % words.length]).join(" "),
    }));
  await Deno.writeTextFile(pairs, lines.join("\n") + "\n");
  console.log(
    `model: ${(bytes / 2 ** 30).toFixed(2)} GiB BF16, ${
      (params / 1e9).toFixed(2)
    }B parameters; one block as float32: ${Math.round(((params - 2 * 32000 * 2048) / 16) * 4 / 2 ** 20)} MiB`,
  );
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      new URL(import.meta.url).pathname,
      "child",
      modelDir,
      pairs,
      join(dir, "out"),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim().split("\n").pop()!;
  console.log(`edit --pairs (16 pairs, 32 tokens, layers 8:16, cpu): ${text}`);
  if (!out.success) throw new Error("the edit child failed");
}

if (Deno.args[0] === "child") {
  await child(Deno.args[1], Deno.args[2], Deno.args[3]);
} else {
  const dir = await Deno.makeTempDir({ prefix: "profs-lm-bench-" });
  try {
    const part = Deno.env.get("PROFS_LM_BENCH");
    if (part !== "memory") await throughput(dir);
    if (part !== "throughput") await memory(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
