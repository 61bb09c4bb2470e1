/**
 * Trials per second of `runTune` (gpu-worker/tune): each trial runs the base model with a candidate's projection
 * applied inside the forward pass — the held-out margin (2 × 16 texts), KL on 12 benign prompts and perplexity
 * on 6 benign texts — on the demo model (D = 64, 4 blocks) and on a GPT-2-small-shaped planted model (D = 768, 12
 * blocks, 124M parameters, float32), with the machine's load average printed beside the figures.
 *
 *   deno task bench tune     (TUNE_BENCH_SHAPES=demo,small; TUNE_BENCH_BACKENDS=cpu,webgpu;
 *                             TUNE_BENCH_TRIALS=16 on the demo, 3 on the small shape)
 */
import { join } from "node:path";
import { buildTriggerPairs } from "../../infra/demo/data.ts";
import { DEMO_SPEC, type PlantedSpec } from "../../infra/demo/planted_model.ts";
import { pairsJsonl, writeDemoModel } from "../../infra/demo/write_demo.ts";
import { DEFAULT_BENIGN_PROMPTS, DEFAULT_HELD_OUT_TEXTS } from "../../gpu-worker/eval/default_prompts.ts";
import { runTune } from "../../gpu-worker/tune/tune.ts";

const SHAPES: Record<string, { spec: PlantedSpec; trials: number; label: string }> = {
  demo: { spec: DEMO_SPEC, trials: 16, label: "demo model (D 64, L 4, V 50257)" },
  small: {
    spec: { layers: 12, hidden: 768, heads: 12, positions: 1024, vocabSize: 50257, seed: 2405 },
    trials: 3,
    label: "GPT-2-small shape (D 768, L 12, V 50257)",
  },
};

const loadavg = () => Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
const shapes = (Deno.env.get("TUNE_BENCH_SHAPES") ?? "demo,small").split(",");
const adapter = await navigator.gpu?.requestAdapter();
const backends = (Deno.env.get("TUNE_BENCH_BACKENDS") ?? "cpu").split(",")
  .filter((b) => b === "cpu" || (b === "webgpu" && adapter)) as ("cpu" | "webgpu")[];
const work = await Deno.makeTempDir({ prefix: "profs-tune-bench-" });
console.log(`load average before: ${loadavg()}; ${navigator.hardwareConcurrency} cores`);
try {
  for (const name of shapes) {
    const shape = SHAPES[name];
    if (!shape) throw new Error(`unknown shape ${name}: demo or small`);
    const modelDir = join(work, `model-${name}`);
    await Deno.mkdir(modelDir);
    await writeDemoModel(modelDir, shape.spec);
    const pairsFile = join(work, `pairs-${name}.jsonl`);
    await Deno.writeTextFile(pairsFile, pairsJsonl(buildTriggerPairs(40)));
    const trials = Number(Deno.env.get("TUNE_BENCH_TRIALS") ?? shape.trials);
    for (const backend of backends) {
      const stages = new Map<string, number>();
      const started = performance.now();
      const { document } = await runTune({
        modelDir,
        pairsFile,
        outDir: join(work, `tune-${name}-${backend}`),
        benignPrompts: [...DEFAULT_BENIGN_PROMPTS],
        benignTexts: [...DEFAULT_HELD_OUT_TEXTS],
        params: { trials },
        backend,
      }, {
        onProgress: (p) => {
          if (!stages.has(p.stage)) stages.set(p.stage, performance.now());
        },
      });
      const total = (performance.now() - started) / 1000;
      const at = (stage: string) => ((stages.get(stage) ?? performance.now()) - started) / 1000;
      console.log(
        `${shape.label}, ${backend}: ${document.search.ran} trials in ${
          document.search.seconds.toFixed(1)
        } s = ` +
          `${
            document.search.trialsPerSecond.toFixed(3)
          } trials/s (of ${document.search.candidates} candidates); ` +
          `set-up before the first trial ${
            at("baseline").toFixed(1)
          } s (embedding, one rank-8 decomposition ` +
          `per block and centering), base measured in ${
            (at("trials") - at("baseline")).toFixed(1)
          } s, the chosen edit written in ${(total - at("editing")).toFixed(1)} s; total ${
            total.toFixed(1)
          } s; load average ${loadavg()}`,
      );
    }
  }
} finally {
  await Deno.remove(work, { recursive: true });
}
