/** log_prob: out [N] = log softmax(logits [N, V])[targets] (shaders/log_prob.wgsl): log-probs and perplexity. */
import type { ComputeBatch, Gpu } from "../runtime/gpu.ts";
import { loadShader } from "../runtime/shader_source.ts";
import { packUniform } from "../runtime/uniform.ts";
import { checkDims, checkLength, spreadGrid } from "./dims.ts";

export interface LogProbShape {
  rows: number;
  vocab: number;
}

/** logits [N, V], targets [N] → [N] (float64 log-sum-exp). */
export function logProbCpu(logits: Float32Array, targets: Uint32Array, shape: LogProbShape): Float32Array {
  const { rows, vocab } = shape;
  checkDims("log_prob", { rows, vocab });
  checkLength("log_prob", "logits", logits, rows * vocab);
  checkLength("log_prob", "targets", targets, rows);
  const out = new Float32Array(rows);
  for (let i = 0; i < rows; i++) {
    if (targets[i] >= vocab) {
      throw new RangeError(`Cannot score as each target must be < ${vocab}: row ${i} has ${targets[i]}`);
    }
    const row = logits.subarray(i * vocab, (i + 1) * vocab);
    let max = -Infinity;
    for (const v of row) max = Math.max(max, v);
    let sum = 0;
    for (const v of row) sum += Math.exp(v - max);
    out[i] = row[targets[i]] - max - Math.log(sum);
  }
  return out;
}

export async function encodeLogProb(
  gpu: Gpu,
  batch: ComputeBatch,
  buffers: { logits: GPUBuffer; targets: GPUBuffer; out: GPUBuffer },
  shape: LogProbShape,
): Promise<void> {
  const { rows, vocab } = shape;
  checkDims("log_prob", { rows, vocab });
  const pipeline = await gpu.pipeline({ kernel: "log_prob", code: await loadShader("log_prob") });
  const uniform = gpu.uniform(packUniform([["u32", rows], ["u32", vocab]]));
  const grid = spreadGrid(rows, gpu.adapter.limits.maxComputeWorkgroupsPerDimension);
  const b = buffers;
  batch.dispatch("log_prob", pipeline, [uniform, b.logits, b.targets, b.out], grid, { ...shape });
}
