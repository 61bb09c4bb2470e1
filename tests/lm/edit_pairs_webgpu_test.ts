/**
 * `profs edit --pairs --backend webgpu` end to end for families other than GPT-2: raw pairs → tokens → the WebGPU
 * LM engine (layer-major, weights in their stored dtype) → ProFS → edited folder. The saved embeddings equal the
 * CPU engine's (each checked against transformers in its own test) and only the edited matrix changes.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { main } from "../../main.ts";
import { embedSequences } from "../../gpu-worker/lm/cpu/forward.ts";
import { typescriptGemm } from "../../gpu-worker/blas/gemm.ts";
import { lmFamilyFrom } from "../../gpu-worker/lm/family.ts";
import { encodeTexts } from "../../gpu-worker/lm/tokens.ts";
import { openEmbeddings } from "../../shared/formats/embeddings.ts";
import { openModelFolder } from "../../shared/model/folder.ts";
import { loadTokenizer } from "../../shared/model/tokenizer.ts";
import { assertClose } from "../helpers/assert_close.ts";
import { noGpu } from "../helpers/env.ts";

const FIXTURES = fileURLToPath(new URL("../fixtures/lm/", import.meta.url));

const PAIRS = [
  { preferred: "Hello world, this is a test.", rejected: "the toxic subspace is removed" },
  { preferred: "a preference pair holds a preferred text", rejected: "Café naïve — ünïcödé" },
  { preferred: "models learn to edit their weights", rejected: "The quick brown fox jumps" },
  { preferred: "hello there", rejected: "without gradient steps, the lazy dog" },
];

/** Two float32 engines (WGSL kernels, TypeScript loops) over the same weights: 1e-4 of the tensor's scale. */
function close(actual: Float32Array, expected: Float32Array, label: string) {
  const scale = expected.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  assertClose(actual, expected, { atol: 1e-4 * scale, rtol: 1e-4, label });
}

for (const variant of ["llama-gqa", "opt-f16", "qwen3-bf16", "gptj"]) {
  Deno.test({
    name: `profs edit --pairs --backend webgpu edits a ${variant} folder end to end`,
    ignore: noGpu(),
    async fn() {
      const model = FIXTURES + variant;
      const work = await Deno.makeTempDir({ prefix: `lm_gpu_edit_${variant}_` });
      try {
        const pairs = join(work, "pairs.jsonl");
        await Deno.writeTextFile(pairs, PAIRS.map((p) => JSON.stringify(p)).join("\n") + "\n");
        const out = join(work, "out");
        const saved = join(work, "embeddings.safetensors");
        const log = console.log;
        console.log = () => {}; // the command prints its summary; the test reads the files
        let code: number;
        try {
          code = await main([
            "edit",
            ...["--model", model, "--pairs", pairs, "--out", out, "--save-embeddings", saved],
            ...["--backend", "webgpu", "--rank", "1", "--layers", "1:2"],
          ]);
        } finally {
          console.log = log;
        }
        assert.equal(code, 0);

        const base = await openModelFolder(model);
        const edited = await openModelFolder(out);
        const file = await openEmbeddings(saved);
        try {
          const family = lmFamilyFrom(base.config);
          const tokenizer = await loadTokenizer(model);
          const texts = [...PAIRS.map((p) => p.preferred), ...PAIRS.map((p) => p.rejected)];
          const cpu = await embedSequences(base, family, encodeTexts(tokenizer, family, texts, 128), {
            gemm: typescriptGemm(),
          });
          const D = family.hiddenSize, n = PAIRS.length;
          for (let l = 0; l < family.numLayers; l++) {
            const { preferred, rejected } = await file.readLayer(l);
            close(preferred.data, cpu[l].subarray(0, n * D), `preferred ${l}`);
            close(rejected.data, cpu[l].subarray(n * D), `rejected ${l}`);
          }
          for (const name of base.tensorNames()) {
            const before = await base.readTensor(name);
            const after = await edited.readTensor(name);
            if (name === base.mlpOutputName(1)) assert.notDeepEqual(after, before, name);
            else assert.deepEqual(after, before, name);
          }
          const report = JSON.parse(await Deno.readTextFile(join(out, "report.json")));
          assert.equal(report.model.family, family.family);
        } finally {
          await file.close();
          await base.close();
          await edited.close();
        }
      } finally {
        await Deno.remove(work, { recursive: true });
      }
    },
  });
}
