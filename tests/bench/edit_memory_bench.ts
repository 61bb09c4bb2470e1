/**
 * Peak memory of an edit is bounded by the largest tensor, not the model (issue 3): edits a generated
 * GPT-2-medium-shaped model (24 layers, D = 1024, random weights, ~1.4 GB F32) from generated embeddings
 * (500 pairs, layers 10:24, k = 2) on the CPU backend (PROFS_BENCH_BACKEND=webgpu for the GPU one), in a child
 * process whose peak RSS (VmHWM) is measured, and prints wall time, CPU time and peak RSS next to the model
 * size (CPU time is the fairer comparison on a loaded machine). Then runs the PyTorch CPU baseline (load whole
 * model, edit, save) on the same files when $PROFS_PYTHON (default /usr/bin/python3: Debian's python3-torch,
 * with libopenblas0-pthread for a multi-threaded BLAS) has torch. Files live in a temp dir, deleted after.
 * Both sides use PROFS_THREADS threads for their products (default: every core). EDIT_BENCH_ROUNDS (default 1)
 * repeats the pair, profs then PyTorch, so that a busy machine's swings fall on both; each round prints its
 * ratio, and the end the median ratio of walls and of CPU seconds (issue 18's target: profs ≥ 3× faster).
 *
 *   deno task bench edit_memory          (targets: peak RSS < 400 MB; ≥ 3× faster than PyTorch's wall)
 *   PROFS_THREADS=1 EDIT_BENCH_ROUNDS=3 PROFS_PYTHON=/work/venv/bin/python deno task bench edit_memory
 */
import { join } from "node:path";
import process from "node:process";
import { runEdit } from "../../gpu-worker/edit/pipeline.ts";
import { createLogger } from "../../shared/log.ts";
import { LAYERS, PAIRS, RANK, writeMediumEdit } from "./medium_edit.ts";
import { warmPages } from "./warm_pages.ts";
import { rssMb, sampleThreads } from "./proc_stats.ts";

/** The Python that has torch: Debian's python3-torch by default, another (e.g. a GPU image's) by $PROFS_PYTHON. */
const PYTHON = Deno.env.get("PROFS_PYTHON") ?? "/usr/bin/python3";
const BACKEND = Deno.env.get("PROFS_BENCH_BACKEND") === "webgpu" ? "webgpu" : "cpu";

const ROUNDS = Number(Deno.env.get("EDIT_BENCH_ROUNDS") ?? "1");
/** About the output's size: the memory warmPages frees just before each side's run. */
const WARM_BYTES = 1.5 * 2 ** 30;

const peakRssMb = () => rssMb("self", "VmHWM");

async function child(modelDir: string, embeddings: string, outDir: string) {
  const perThread = sampleThreads("self"); // where the edit's CPU time goes
  const started = performance.now();
  const cpu = process.cpuUsage();
  const peakByStage: Record<string, number> = {}; // VmHWM when each stage was first reported
  let threads: Record<string, unknown> = {}; // where the writing and hashing threads' time went
  const logger = createLogger({
    write: (line) => {
      const entry = JSON.parse(line);
      if (entry.msg === "model written") {
        threads = { writer: entry.threadSeconds, hasher: entry.hashThreadSeconds };
      }
    },
  });
  const { report } = await runEdit({
    modelDir,
    outDir,
    embeddingsFile: embeddings,
    layers: LAYERS,
    rank: RANK,
    backend: BACKEND,
    logger,
  }, { onProgress: (stage) => peakByStage[stage] ??= Math.round(peakRssMb()) });
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const cpuByThread = perThread.stop();
  console.log(JSON.stringify({
    seconds,
    cpuSeconds: (used.user + used.system) / 1e6,
    systemSeconds: used.system / 1e6,
    peakRssMb: peakRssMb(),
    stages: report.seconds,
    threads,
    cpuByThread,
    peakByStage,
    iterations: report.layers.map((l) => l.iterations),
    converged: report.layers.every((l) => l.converged),
  }));
}

async function main() {
  const dir = await Deno.makeTempDir({ prefix: "profs-edit-bench-" });
  try {
    const genStarted = performance.now();
    const { modelDir: model, embeddings, modelMb } = await writeMediumEdit(dir);
    console.log(
      `generated model (${modelMb.toFixed(0)} MiB) and embeddings in ${
        ((performance.now() - genStarted) / 1000).toFixed(1)
      } s`,
    );

    const walls: number[] = [], cpus: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      console.log(`round ${round} of ${ROUNDS}: load average ${loadAverage()}`);
      await warmPages(dir, WARM_BYTES); // each side starts with the same kind of free memory (warm_pages.ts)
      const result = await profsEdit(model, embeddings, join(dir, "out"));
      console.log(
        `profs edit (${BACKEND}, streaming): ${result.seconds.toFixed(1)} s wall, ${
          result.cpuSeconds.toFixed(1)
        } s CPU (system ${result.systemSeconds.toFixed(1)}), peak RSS ${result.peakRssMb.toFixed(0)} MiB, ` +
          `model ${modelMb.toFixed(0)} MiB, layers ${LAYERS.from}:${LAYERS.to}, k=${RANK}, ${PAIRS} pairs`,
      );
      console.log(`  stages (s): ${JSON.stringify(result.stages)}`);
      console.log(`  writing and hashing threads, wall (s): ${JSON.stringify(result.threads)}`);
      console.log(`  CPU by thread (s): ${JSON.stringify(result.cpuByThread)}`);
      console.log(`  peak RSS (MiB) when each stage began: ${JSON.stringify(result.peakByStage)}`);
      console.log(
        `  iterations per layer: ${result.iterations.join(" ")}; all converged: ${result.converged}`,
      );
      console.log(`  target peak RSS < 400 MiB: ${result.peakRssMb < 400 ? "met" : "MISSED"}`);
      await Deno.remove(join(dir, "out"), { recursive: true });
      await warmPages(dir, WARM_BYTES);
      const t = await torchEdit(model, embeddings, join(dir, "torch.safetensors"));
      if (!t) {
        console.log(`PyTorch baseline skipped (${PYTHON} with torch not available or it failed)`);
        continue;
      }
      console.log(
        `PyTorch ${t.torch} CPU baseline (load all, edit, save; ${t.threads} threads): ${
          t.seconds.toFixed(1)
        } s wall, ${t.cpu_seconds.toFixed(1)} s CPU (system ${t.system_seconds.toFixed(1)}), peak RSS ${
          t.peak_rss_mb.toFixed(0)
        } MiB`,
      );
      walls.push(t.seconds / result.seconds);
      cpus.push(t.cpu_seconds / result.cpuSeconds);
      console.log(
        `  profs is ${walls.at(-1)!.toFixed(2)}× faster (wall), ${
          cpus.at(-1)!.toFixed(2)
        }× less CPU; target ≥ 3× (wall)`,
      );
      await Deno.remove(join(dir, "torch.safetensors")).catch(() => {});
    }
    if (walls.length > 1) {
      console.log(
        `median over ${walls.length} rounds: profs ${median(walls).toFixed(2)}× faster (wall), ${
          median(cpus).toFixed(2)
        }× less CPU; load average at the end ${loadAverage()}`,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function profsEdit(model: string, embeddings: string, out: string) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", new URL(import.meta.url).pathname, "--child", model, embeddings, out],
    stderr: "inherit",
  }).output();
  if (!output.success) throw new Error("edit child process failed");
  return JSON.parse(new TextDecoder().decode(output.stdout).trim().split("\n").pop()!);
}

async function torchEdit(model: string, embeddings: string, out: string) {
  const torch = await new Deno.Command(PYTHON, {
    args: [
      new URL("./edit_torch_reference.py", import.meta.url).pathname,
      model,
      embeddings,
      out,
      String(LAYERS.from),
      String(LAYERS.to),
      String(RANK),
    ],
    stderr: "inherit",
  }).output().catch(() => null);
  return torch?.success ? JSON.parse(new TextDecoder().decode(torch.stdout).trim()) : null;
}

const loadAverage = () => Deno.loadavg().map((x) => x.toFixed(1)).join(" ");

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

if (Deno.args[0] === "--child") await child(Deno.args[1], Deno.args[2], Deno.args[3]);
else await main();
