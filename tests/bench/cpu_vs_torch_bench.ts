/**
 * The CPU backend against PyTorch 2 + transformers on the same machine, files and threads, side by side in one
 * run (issue 18's targets):
 *
 * 1. `profs edit --pairs --backend cpu` end to end (load, embed, subspace, write) on a GPT-2-small-shaped model
 *    (12 blocks, D = 768, 12 heads, GPT-2's 50,257-token vocabulary and tokenizer, random weights) from 128
 *    generated pairs, default layers (5:12) and rank 2, against tests/bench/cpu_torch_reference.py doing the
 *    same job the PyTorch way (target: profs ≤ 2× its wall).
 * 2. The same edit from the embeddings step 1 saved (`--embeddings`): no forward pass.
 * 3. Embedding tokens/s (batched masked-mean prefill) and greedy-generation tokens/s (KV cache) of the GPT-2
 *    forward pass, the LM engine on the CPU vs transformers on the same token ids (target: ≥ 0.5× its
 *    throughput). Both hold the weights in memory: profs' are read once before timing, as PyTorch's model is
 *    loaded before its clock starts.
 * 4. The same throughputs on a ~1B Llama-shaped BF16 random model (hidden 2048, 16 layers, 32 heads / 8 kv heads,
 *    intermediate 5632, vocabulary 32000: TinyLlama's shape), both computing in float32.
 *
 * Parts 3 and 4 run each side in a process of its own, one after the other (peak RSS measured apart: the ~1B
 * model is 4.4 GB as float32 on each side, which must not be held twice at once).
 *
 * PROFS_PYTHON names a Python with torch and transformers; without it the reference half is skipped, visibly.
 * PROFS_THREADS sizes both (default: every core). CPU_BENCH_SCALE multiplies the throughput workload (64 texts
 * to embed, 32 new tokens per prompt; fractions shrink it, e.g. 0.5 for the ~1B model on a busy machine).
 * CPU_BENCH_SHAPE=medium runs parts 1–3 on GPT-2-medium's shape (24 blocks, D = 1024, 16 heads) with the paper's
 * layers 10:24; CPU_BENCH_PAIRS sets the pairs (default 128); CPU_BENCH_PARTS picks parts (default "1,2,3,4").
 *
 *   PROFS_PYTHON=/work/venv/bin/python deno task bench cpu_vs_torch
 *   CPU_BENCH_SHAPE=medium CPU_BENCH_PAIRS=500 CPU_BENCH_PARTS=1 PROFS_PYTHON=… deno task bench cpu_vs_torch
 *   CPU_BENCH_PARTS=4 CPU_BENCH_SCALE=0.5 PROFS_PYTHON=… deno task bench cpu_vs_torch
 */
import { join } from "node:path";
import process from "node:process";
import { openGemm } from "../../gpu-worker/blas/gemm.ts";
import type { LmSource } from "../../gpu-worker/lm/cpu/weights.ts";
import { lmFamilyFrom } from "../../gpu-worker/lm/family.ts";
import { createLmCpuRunner, type TextTokenizer } from "../../gpu-worker/lm/runner.ts";
import { type ModelFolder, openModelFolder } from "../../shared/model/folder.ts";
import { writeRandomLm } from "../fixtures/random_lm.ts";
import { createRandom } from "../../gpu-worker/profs/random.ts";
import { writeTinyGpt2 } from "../fixtures/tiny_gpt2.ts";

const PYTHON = Deno.env.get("PROFS_PYTHON");
const MEDIUM = Deno.env.get("CPU_BENCH_SHAPE") === "medium";
const SHAPE = MEDIUM
  ? { layers: 24, hidden: 1024, heads: 16, positions: 1024 }
  : { layers: 12, hidden: 768, heads: 12, positions: 1024 };
const SHAPE_NAME = MEDIUM ? "GPT-2-medium" : "GPT-2-small";
const PAIRS = Number(Deno.env.get("CPU_BENCH_PAIRS") ?? "128");
const LAYERS = MEDIUM ? { from: 10, to: 24 } : { from: 5, to: 12 }; // the paper's for medium; defaultLayers(12)
const RANK = 2;
const PARTS = new Set((Deno.env.get("CPU_BENCH_PARTS") ?? "1,2,3,4").split(",").map(Number));
const LLAMA_1B = {
  model_type: "llama",
  hidden_size: 2048,
  num_hidden_layers: 16,
  num_attention_heads: 32,
  num_key_value_heads: 8,
  intermediate_size: 5632,
  vocab_size: 32000,
  max_position_embeddings: 2048,
  rms_norm_eps: 1e-5,
  hidden_act: "silu",
  rope_theta: 10000,
  bos_token_id: 1,
  eos_token_id: 2,
  tie_word_embeddings: false,
  torch_dtype: "bfloat16",
};
const MAX_TOKENS = 128;
const BATCH = 8; // the runner's default batch size, used by both sides
const SCALE = Number(Deno.env.get("CPU_BENCH_SCALE") ?? "1");
const REFERENCE = new URL("./cpu_torch_reference.py", import.meta.url).pathname;
const MAIN = new URL("../../main.ts", import.meta.url).pathname;

const WORDS = ("the a you they we this that people really never always think know said going thing time " +
  "work city night friend world story money music game movie idiot stupid hate love awful great terrible " +
  "wonderful morning weather street computer language history house water ocean mountain garden river " +
  "because although when while after before quickly slowly honestly probably maybe definitely").split(" ");

/** Two sentences per pair, 6–45 words each (about 8–60 GPT-2 tokens), from a seeded word list. */
function generatePairs(count: number): { preferred: string; rejected: string }[] {
  const random = createRandom(18);
  const sentence = () =>
    Array.from({ length: 6 + random.int(40) }, () => WORDS[random.int(WORDS.length)]).join(" ") + ".";
  return Array.from({ length: count }, () => ({ preferred: sentence(), rejected: sentence() }));
}

interface Timed {
  seconds: number;
  /** user + system CPU seconds and peak RSS of the process, from /usr/bin/time when it exists. */
  cpuSeconds?: number;
  peakRssMb?: number;
  stdout: string;
}

const TIME = (() => {
  try {
    return Deno.statSync("/usr/bin/time").isFile ? "/usr/bin/time" : null;
  } catch {
    return null;
  }
})();

async function timed(command: string, args: string[]): Promise<Timed> {
  const usage = TIME ? await Deno.makeTempFile() : null;
  const [cmd, argv] = usage ? [TIME!, ["-o", usage, "-f", "%U %S %M", command, ...args]] : [command, args];
  const started = performance.now();
  const output = await new Deno.Command(cmd, { args: argv, stderr: "piped", stdout: "piped" }).output();
  const seconds = (performance.now() - started) / 1000;
  const stdout = new TextDecoder().decode(output.stdout);
  if (!output.success) {
    throw new Error(
      `${command} ${args.join(" ")} failed: ${new TextDecoder().decode(output.stderr).slice(-2000)}`,
    );
  }
  if (!usage) return { seconds, stdout };
  const [user, sys, rssKb] = (await Deno.readTextFile(usage)).trim().split("\n").pop()!.split(" ").map(
    Number,
  );
  await Deno.remove(usage);
  return { seconds, cpuSeconds: user + sys, peakRssMb: rssKb / 1024, stdout };
}

const usageOf = (t: Timed) =>
  t.cpuSeconds === undefined ? "" : `, ${fmt(t.cpuSeconds)} s CPU, peak RSS ${fmt(t.peakRssMb!, 0)} MiB`;

async function python(
  args: string[],
): Promise<(Timed & { json: Record<string, number | string> }) | null> {
  if (!PYTHON) return null;
  try {
    const run = await timed(PYTHON, [REFERENCE, ...args]);
    return { ...run, json: JSON.parse(run.stdout.trim().split("\n").pop()!) };
  } catch (error) {
    console.log(`  reference failed: ${(error as Error).message.slice(0, 500)}`);
    return null;
  }
}

const fmt = (x: number, digits = 1) => x.toFixed(digits);

/** Parts 1 and 2: the edit from pairs against the PyTorch script, then the edit from the saved embeddings. */
async function editParts(dir: string, model: string, pairs: string) {
  // 1. Edit from pairs, end to end, each in its own process.
  const embeddings = join(dir, "embeddings.safetensors");
  const editArgs = ["--model", model, "--rank", String(RANK), "--layers", `${LAYERS.from}:${LAYERS.to}`];
  const profs = await timed(Deno.execPath(), [
    "run",
    "--allow-all",
    MAIN,
    "edit",
    ...editArgs,
    "--pairs",
    pairs,
    "--backend",
    "cpu",
    "--max-tokens",
    String(MAX_TOKENS),
    "--save-embeddings",
    embeddings,
    "--out",
    join(dir, "profs-out"),
  ]);
  const report = JSON.parse(await Deno.readTextFile(join(dir, "profs-out", "report.json")));
  const s = report.seconds;
  console.log(
    `\nedit from ${PAIRS} pairs, layers ${LAYERS.from}:${LAYERS.to}, k=${RANK} (${SHAPE_NAME} shape)`,
  );
  console.log(
    `  profs cpu: ${fmt(profs.seconds)} s wall (process${usageOf(profs)}); report: embed ${
      fmt(s.embed)
    } s, subspace ${fmt(s.subspace)} s, write ${fmt(s.write)} s (overlaps subspace), held-out margin ${
      fmt(s.margin ?? 0)
    } s (${report.heldOut?.pairs ?? 0} pairs held out, on the base and the edited model), total ${
      fmt(s.total)
    } s`,
  );
  const torch = await python([
    "edit",
    model,
    pairs,
    join(dir, "torch-out"),
    String(LAYERS.from),
    String(LAYERS.to),
    String(RANK),
    String(MAX_TOKENS),
    String(BATCH),
  ]);
  if (torch) {
    const t = torch.json as Record<string, number>;
    console.log(
      `  PyTorch ${torch.json.torch} + transformers (${t.threads} threads): ${fmt(torch.seconds)} s wall ` +
        `(process, imports included${usageOf(torch)}); in-script: load ${fmt(t.load_s)} s, embed ${
          fmt(t.embed_s)
        } s ` +
        `(${t.tokens} tokens), SVD + projection ${fmt(t.subspace_s)} s, write ${fmt(t.write_s)} s, total ${
          fmt(t.seconds)
        } s`,
    );
    console.log(
      `  ratio profs / PyTorch (process walls): ${fmt(profs.seconds / torch.seconds, 2)} (target ≤ 2)` +
        (profs.cpuSeconds && torch.cpuSeconds
          ? `; CPU seconds: ${fmt(profs.cpuSeconds / torch.cpuSeconds, 2)}`
          : ""),
    );
  }

  // 2. Edit from the saved embeddings.
  const fromEmbeddings = await timed(Deno.execPath(), [
    "run",
    "--allow-all",
    MAIN,
    "edit",
    ...editArgs,
    "--embeddings",
    embeddings,
    "--backend",
    "cpu",
    "--out",
    join(dir, "profs-emb-out"),
  ]);
  const r2 = JSON.parse(await Deno.readTextFile(join(dir, "profs-emb-out", "report.json"))).seconds;
  console.log(
    `  profs cpu from embeddings: ${fmt(fromEmbeddings.seconds)} s wall${usageOf(fromEmbeddings)}; subspace ${
      fmt(r2.subspace)
    } s, ` +
      `write ${fmt(r2.write)} s, total ${fmt(r2.total)} s`,
  );
}

/** Parts 3 and 4: embedding and greedy-generation tokens/s on the same token ids, profs vs PyTorch. */
async function throughput(dir: string, model: string, label: string, vocab: number) {
  // 3. Forward-pass throughput on the same token ids. Each side runs in a process of its own, one after the
  // other, so their peak RSS is measured apart and never adds up (a ~1B model is 4.4 GB as float32 on each side).
  const random = createRandom(7);
  const ids = (n: number) => Array.from({ length: n }, () => random.int(vocab));
  const work: ThroughputWork = {
    batch: BATCH,
    embed: Array.from({ length: Math.max(2, Math.round(64 * SCALE)) }, (_, i) => ids(16 + (i * 7) % 48)),
    prompts: Array.from({ length: 8 }, () => ids(16)),
    new_tokens: Math.max(2, Math.round(32 * SCALE)),
  };
  const workFile = join(dir, "work.json");
  await Deno.writeTextFile(workFile, JSON.stringify(work));
  const child = await timed(Deno.execPath(), [
    "run",
    "--allow-all",
    new URL(import.meta.url).pathname,
    "--throughput-child",
    model,
    workFile,
  ]);
  const profs = JSON.parse(child.stdout.trim().split("\n").pop()!) as {
    embedS: number;
    embedCpuS: number;
    generateS: number;
    generateCpuS: number;
    device: string;
  };
  const embedded = work.embed.reduce((a, x) => a + x.length, 0);
  const generated = work.prompts.length * work.new_tokens;
  console.log(`\n${label} forward pass (${profs.device}; weights read into memory before the clock starts)`);
  console.log(
    `  embedding: ${embedded} tokens (${work.embed.length} texts of 16–63, batches of ${BATCH}) → ` +
      `profs ${fmt(embedded / profs.embedS)} tokens/s (${fmt(embedded / profs.embedCpuS)} per CPU second)`,
  );
  console.log(
    `  generation: ${generated} tokens (8 prompts of 16 tokens, ${work.new_tokens} new each) → ` +
      `profs ${fmt(generated / profs.generateS)} tokens/s (${
        fmt(generated / profs.generateCpuS)
      } per CPU second)`,
  );
  console.log(`  profs process: ${fmt(child.seconds)} s wall${usageOf(child)}`);
  const ref = await python(["throughput", model, workFile]);
  if (ref) {
    const t = ref.json as Record<string, number>;
    const refEmbed = t.embed_tokens / t.embed_s, refGen = t.generate_tokens / t.generate_s;
    console.log(
      `  PyTorch ${ref.json.torch} + transformers (${t.threads} threads): embedding ${fmt(refEmbed)} ` +
        `tokens/s (${fmt(t.embed_tokens / t.embed_cpu_s)} per CPU second), generation ${
          fmt(refGen)
        } tokens/s ` +
        `(${fmt(t.generate_tokens / t.generate_cpu_s)} per CPU second); process ${fmt(ref.seconds)} s wall${
          usageOf(ref)
        }`,
    );
    console.log(
      `  ratio profs / PyTorch: embedding ${fmt(embedded / profs.embedS / refEmbed, 2)}, generation ${
        fmt(generated / profs.generateS / refGen, 2)
      } (target ≥ 0.5); per CPU second: embedding ${fmt(t.embed_cpu_s / profs.embedCpuS, 2)}, generation ${
        fmt(t.generate_cpu_s / profs.generateCpuS, 2)
      }`,
    );
  } else if (!PYTHON) {
    console.log("  PyTorch reference skipped: set PROFS_PYTHON to a Python with torch and transformers");
  }
}

interface ThroughputWork {
  batch: number;
  embed: number[][];
  prompts: number[][];
  new_tokens: number;
}

/** The profs half of parts 3 and 4, in its own process: prints one JSON line of seconds. */
async function throughputChild(model: string, workFile: string) {
  const work = JSON.parse(await Deno.readTextFile(workFile)) as ThroughputWork;
  const byKey = new Map(
    [...work.embed, ...work.prompts].map((s, i) => [`t${i}`, s] as [string, number[]]),
  );
  const folder = await openModelFolder(model);
  const config = folder.config as { eos_token_id?: number };
  const tokenizer: TextTokenizer = {
    encode: (text) => byKey.get(text)!,
    decode: (tokens) => tokens.join(" "),
    eosTokenId: config.eos_token_id ?? 0,
  };
  const runner = await createLmCpuRunner(inMemory(folder), lmFamilyFrom(folder.config), tokenizer);
  const embedKeys = work.embed.map((_, i) => `t${i}`);
  const promptKeys = work.prompts.map((_, i) => `t${work.embed.length + i}`);
  await runner.embed(embedKeys.slice(0, 2), { batchSize: work.batch }); // warm up (JIT, OpenBLAS threads)
  const cpuSeconds = () => {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1e6;
  };
  let started = performance.now(), cpu = cpuSeconds();
  await runner.embed(embedKeys, { batchSize: work.batch, maxTokens: 1024 });
  const embedS = (performance.now() - started) / 1000, embedCpuS = cpuSeconds() - cpu;
  await runner.generate(promptKeys.slice(0, 1), { maxNewTokens: 1 });
  started = performance.now(), cpu = cpuSeconds();
  await runner.generate(promptKeys, { maxNewTokens: work.new_tokens, stopAtEos: false, batchSize: 8 });
  const generateS = (performance.now() - started) / 1000, generateCpuS = cpuSeconds() - cpu;
  console.log(JSON.stringify({ embedS, embedCpuS, generateS, generateCpuS, device: runner.device }));
  runner.dispose();
  await folder.close();
}

/**
 * A folder's tensors read once and kept (the bench's stand-in for PyTorch's loaded model): embedding extraction
 * otherwise reads each block from disk per call, which is what an edit does but not what a throughput measures.
 */
function inMemory(folder: ModelFolder): LmSource {
  const tensors = new Map<string, Promise<Float32Array>>();
  const read = (name: string) => tensors.get(name) ?? tensors.set(name, folder.readTensor(name)).get(name)!;
  return {
    readTensor: read,
    async readRows(name, start, count) {
      const all = await read(name);
      const width = all.length / folder.tensorInfo(name).shape[0];
      return all.subarray(start * width, (start + count) * width);
    },
  };
}

async function main() {
  const dir = await Deno.makeTempDir({ prefix: "profs-cpu-bench-" });
  try {
    const gemm = openGemm();
    console.log(
      `profs cpu products: ${gemm.name}; PyTorch reference: ${PYTHON ?? "skipped (set PROFS_PYTHON)"}`,
    );
    console.log(
      `machine: ${navigator.hardwareConcurrency} cores, load average ${
        Deno.loadavg().map((x) => x.toFixed(1)).join(" ")
      } at start`,
    );
    const model = join(dir, "model");
    const pairs = join(dir, "pairs.jsonl");
    if (PARTS.has(1) || PARTS.has(3)) {
      const started = performance.now();
      await writeTinyGpt2(model, { ...SHAPE, prefix: true });
      await Deno.writeTextFile(pairs, generatePairs(PAIRS).map((p) => JSON.stringify(p)).join("\n") + "\n");
      console.log(
        `generated a ${SHAPE_NAME}-shaped model and ${PAIRS} pairs in ${
          fmt((performance.now() - started) / 1000)
        } s`,
      );
    }

    if (PARTS.has(1)) await editParts(dir, model, pairs);
    if (PARTS.has(3)) await throughput(dir, model, `${SHAPE_NAME} shape`, 50000);
    if (PARTS.has(4)) {
      const llama = join(dir, "llama");
      const t0 = performance.now();
      const { bytes, params } = await writeRandomLm(llama, LLAMA_1B, { dtype: "BF16" });
      console.log(
        `\ngenerated a Llama-shaped BF16 model: ${(params / 1e9).toFixed(2)}B parameters, ${
          (bytes / 2 ** 30).toFixed(2)
        } GiB, in ${fmt((performance.now() - t0) / 1000)} s`,
      );
      await throughput(dir, llama, "~1B Llama shape (BF16 on disk, float32 compute)", 32000);
    }
    console.log(`load average at the end: ${Deno.loadavg().map((x) => x.toFixed(1)).join(" ")}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (Deno.args[0] === "--throughput-child") await throughputChild(Deno.args[1], Deno.args[2]);
else await main();
