/**
 * The CPU LM engine against float64 references from transformers (tests/fixtures/lm/generate.py): per family a
 * tiny random model in exact Hugging Face layout with a real tokenizer.json. Checks tokens (with the family's
 * special tokens), every block's hidden states, pooled embeddings, last-token logits, log-probabilities and
 * greedy tokens.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { lmFamilyFrom } from "../../gpu-worker/lm/family.ts";
import { embedSequences, loadLmCpuModel } from "../../gpu-worker/lm/cpu/forward.ts";
import { openGemm, typescriptGemm } from "../../gpu-worker/blas/gemm.ts";
import { encodeTexts } from "../../gpu-worker/lm/tokens.ts";
import { openModelFolder } from "../../shared/model/folder.ts";
import { loadTokenizer, readableToken } from "../../shared/model/tokenizer.ts";
import { assertClose } from "../helpers/assert_close.ts";

const FIXTURES = fileURLToPath(new URL("../fixtures/lm/", import.meta.url));
const FIXTURE_VERSION = 1;

interface Expected {
  version: number;
  texts: string[];
  ids: number[][];
  prompts: number[];
  hidden: number[][][]; // [L][N][T·D]
  pooled: number[][]; // [L][N·D]
  last_logits: number[]; // [N·V]
  log_probs: number[][];
  greedy: number[][];
}

const VARIANTS = [
  "gpt2", // learned positions, fused Conv1D attention, GELU-tanh, tied head
  "llama-gqa", // GQA 4/2, half-split rotary, SwiGLU, untied head, <s> first, byte fallback
  "llama3-bf16", // BF16 weights, llama3 rope scaling, 1 kv head, tied head, Transformers 5 rope_parameters
  "mistral-f16", // F16 weights, linear rope scaling
  "llama-bias", // attention_bias (q/k/v/o) and mlp_bias, 3 heads of 8
  "qwen2", // q/k/v biases, θ = 1e6, tied head
  "qwen3-bf16", // per-head q/k RMSNorm, head_dim 16 ≠ D/H, BF16
  "gptj", // parallel block, interleaved partial rotary (rotary_dim 4 of 8), untied head with bias
  "opt", // learned positions +2, ReLU, </s> first
  "opt-f16", // F16 weights, 2 heads
];

/**
 * The engine computes in float32 (references are float64 from the same stored weights): 1e-4 of the tensor's
 * largest magnitude is ~1,000 float32 ulps, ample for these 2-block models and tight enough to catch any wrong
 * term (a missing bias or a mis-rotated pair moves values by ~1e-1).
 */
function close(actual: ArrayLike<number>, expected: number[], label: string) {
  const scale = expected.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  assertClose(actual, expected, { atol: 1e-4 * scale, rtol: 1e-4, label });
}

const GEMMS = { typescript: typescriptGemm, openblas: openGemm };

for (const [gemmName, gemmOf] of Object.entries(GEMMS)) {
  for (const variant of VARIANTS) {
    const dir = FIXTURES + variant;
    Deno.test(`the CPU engine (${gemmName} products) matches transformers' float64 reference: ${variant}`, async () => {
      const expected: Expected = JSON.parse(await Deno.readTextFile(`${dir}/expected.json`));
      assert.equal(expected.version, FIXTURE_VERSION);
      const folder = await openModelFolder(dir);
      try {
        const family = lmFamilyFrom(folder.config, `model '${dir}'`);
        const tokenizer = await loadTokenizer(dir);
        const ids = encodeTexts(tokenizer, family, expected.texts, 128);
        assert.deepEqual(ids, expected.ids, "token ids with the family's special tokens");

        const gemm = gemmOf();
        const D = family.hiddenSize;
        const seen = new Set<string>();
        const pooled = await embedSequences(folder, family, ids, {
          gemm,
          maxRows: 40, // several chunks per block: texts of 13..34 tokens
          maxResidualBytes: 60 * D * 4, // and several groups of texts, each through every block
          onBlockOutput: (l, x, starts, counts, firstText) => {
            starts.forEach((start, i) => {
              const rows = x.subarray(start * D, (start + counts[i]) * D);
              const n = firstText + i;
              close(rows, expected.hidden[l][n], `hidden states after block ${l}, text ${n}`);
              seen.add(`${l}:${n}`);
            });
          },
        });
        assert.equal(
          seen.size,
          family.numLayers * ids.length,
          "every text's states after every block checked",
        );
        assert.equal(pooled.length, family.numLayers);
        pooled.forEach((p, l) => close(p, expected.pooled[l], `pooled embeddings after block ${l}`));

        // Resident, and streamed from the folder per step (a budget below the model's size).
        for (const maxResidentBytes of [Infinity, 0]) {
          const model = await loadLmCpuModel(folder, family, gemm, { maxResidentBytes });
          assert.equal(model.resident, maxResidentBytes > 0);
          const how = model.resident ? "resident" : "streamed";
          close(await model.lastLogits(ids), expected.last_logits, `last-token logits (${how})`);
          (await model.logProbs(ids)).forEach((lp, n) =>
            close(lp, expected.log_probs[n], `log-probs of text ${n} (${how})`)
          );
          const greedy = await model.generate(expected.prompts.map((p) => ids[p]), expected.greedy[0].length);
          assert.deepEqual(greedy, expected.greedy, `greedy tokens (KV cache, ${how})`);
        }
      } finally {
        await folder.close();
      }
    });
  }
}

Deno.test("byte-fallback and lone byte-level tokens print as <0xNN> in reports, whole characters as themselves", async () => {
  const tokenizer = await loadTokenizer(FIXTURES + "llama-gqa");
  assert.equal(readableToken(tokenizer, 3 + 0xC3), "<0xC3>"); // half of "é": no character on its own
  assert.equal(readableToken(tokenizer, 3 + 0x2C), ","); // a whole ASCII byte decodes to itself
  const byteLevel = await loadTokenizer(FIXTURES + "gpt2");
  const half = byteLevel.encode("é")[0]; // byte-level: "é" is two byte tokens, Ã (0xC3) and © (0xA9)
  assert.equal(readableToken(byteLevel, half), "<0xC3>");
  assert.equal(readableToken(byteLevel, byteLevel.encode(" the")[0]), " the");
});
