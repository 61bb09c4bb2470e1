import { gpt2ConfigFrom } from "../../../gpu-worker/lm/gpt2/config.ts";
import { createGpuEngine } from "../../../gpu-worker/lm/gpt2/gpu_forward.ts";
import { type Gpt2Runner, runnerOver } from "../../../gpu-worker/lm/gpt2/runner.ts";
import { acquireGpu } from "../../../gpu-worker/runtime/mod.ts";
import { gpuAdapter, noGpu } from "../../helpers/env.ts";
import { gpt2Tokenizer, referenceModel } from "./reference.ts";
import { checkAgainstReference, checkBatchInvariance } from "./runner_checks.ts";

async function withGpuRunner(fn: (runner: Gpt2Runner) => Promise<void>): Promise<void> {
  const gpu = (await acquireGpu({ adapter: gpuAdapter! }))!;
  try {
    // 20,000-row slices split GPT-2's 50,257-token embedding into three bindings, as GPT-2 small's 154 MB
    // embedding is split on a 128 MiB binding limit; groups of 7 logit rows exercise the row grouping.
    const engine = await createGpuEngine(gpt2ConfigFrom(referenceModel.config), referenceModel, {
      gpu,
      wteSliceRows: 20000,
      logitGroupRows: 7,
    });
    const runner = runnerOver(engine, gpt2Tokenizer);
    try {
      await fn(runner);
    } finally {
      runner.dispose();
    }
  } finally {
    gpu.dispose();
  }
}

Deno.test({
  name:
    "webgpu GPT-2: pooled embeddings, logits, log-probs and greedy tokens match the float64 torch reference",
  ignore: noGpu(),
  fn: () => withGpuRunner((runner) => checkAgainstReference(runner, "webgpu")),
});

Deno.test({
  name: "webgpu GPT-2: batch composition and padding never change a text's embedding",
  ignore: noGpu(),
  fn: () => withGpuRunner((runner) => checkBatchInvariance(runner, "webgpu")),
});
