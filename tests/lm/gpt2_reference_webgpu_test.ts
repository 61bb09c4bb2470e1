/**
 * The WebGPU LM engine on GPT-2's float64 torch reference (GPT-2's real tokenizer and 50,257-token vocabulary),
 * with the head and the token table split across small bindings: embeddings, logits, log-probs and greedy tokens,
 * and batch invariance.
 */
import { join } from "node:path";
import { lmFamilyFrom } from "../../gpu-worker/lm/family.ts";
import type { LmRunner } from "../../gpu-worker/lm/runner.ts";
import { createLmWebGpuRunner } from "../../gpu-worker/lm/webgpu/runner.ts";
import { folderSource } from "../../gpu-worker/lm/webgpu/weights.ts";
import { acquireGpu } from "../../gpu-worker/runtime/mod.ts";
import { gpt2TokenizerJson } from "../../infra/demo/gpt2_tokenizer_json.ts";
import { openModelFolder } from "../../shared/model/folder.ts";
import { gpuAdapter, noGpu } from "../helpers/env.ts";
import { toSafetensors } from "../fixtures/gpt2_reference/tiny_weights.ts";
import { gpt2Tokenizer, referenceModel } from "./gpt2_reference.ts";
import { checkAgainstReference, checkBatchInvariance } from "./gpt2_reference_checks.ts";

async function withGpuRunner(fn: (runner: LmRunner) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "gpt2_reference_gpu_" });
  const gpu = (await acquireGpu({ adapter: gpuAdapter! }))!;
  try {
    await Deno.writeTextFile(join(dir, "config.json"), JSON.stringify(referenceModel.config));
    await Deno.writeTextFile(join(dir, "tokenizer.json"), await gpt2TokenizerJson());
    await Deno.writeFile(join(dir, "model.safetensors"), toSafetensors(referenceModel));
    const folder = await openModelFolder(dir);
    try {
      const family = lmFamilyFrom(folder.config, "the GPT-2 reference model");
      const runner = await createLmWebGpuRunner(folderSource(folder), family, gpt2Tokenizer, { gpu });
      try {
        await fn(runner);
      } finally {
        runner.dispose();
      }
    } finally {
      await folder.close();
    }
  } finally {
    gpu.dispose();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name:
    "webgpu engine on GPT-2: pooled embeddings, logits, log-probs and greedy tokens match the float64 torch reference",
  ignore: noGpu(),
  fn: () => withGpuRunner((runner) => checkAgainstReference(runner, "webgpu")),
});

Deno.test({
  name: "webgpu engine on GPT-2: batch composition changes a text's embedding by float32 rounding at most",
  ignore: noGpu(),
  fn: () => withGpuRunner((runner) => checkBatchInvariance(runner, "webgpu", "rounding")),
});
