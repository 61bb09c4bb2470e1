/**
 * `profs edit --pairs --backend webgpu` end to end for families other than GPT-2 (edit_pairs_case.ts): the WebGPU
 * LM engine (layer-major, weights in their stored dtype) saves the CPU engine's embeddings to 1e-4.
 */
import { typescriptGemm } from "../../gpu-worker/blas/gemm.ts";
import { assertClose } from "../helpers/assert_close.ts";
import { noGpu } from "../helpers/env.ts";
import { editPairsEndToEnd } from "./edit_pairs_case.ts";

const webgpu = {
  name: "webgpu" as const,
  gemm: typescriptGemm,
  /** Two float32 engines (WGSL kernels, TypeScript loops) over the same weights: 1e-4 of the tensor's scale. */
  close(actual: Float32Array, expected: Float32Array, label: string) {
    const scale = expected.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    assertClose(actual, expected, { atol: 1e-4 * scale, rtol: 1e-4, label });
  },
};

for (const variant of ["llama-gqa", "opt-f16", "qwen3-bf16", "gptj"]) {
  Deno.test({
    name: `profs edit --pairs --backend webgpu edits a ${variant} folder end to end`,
    ignore: noGpu(),
    fn: () => editPairsEndToEnd(variant, webgpu),
  });
}
