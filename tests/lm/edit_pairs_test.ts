/**
 * `profs edit --pairs` end to end on the CPU for families other than GPT-2: raw pairs → tokens with the family's
 * special tokens → layer-major LM engine → ProFS → edited folder. The saved embeddings must be the engine's own
 * (checked against transformers in cpu_reference_test.ts), only the edited matrices change, and the report's
 * top tokens come from the family's output head and print readably.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { main } from "../../main.ts";
import { embedSequences } from "../../gpu-worker/lm/cpu/forward.ts";
import { openGemm } from "../../gpu-worker/blas/gemm.ts";
import { lmFamilyFrom } from "../../gpu-worker/lm/family.ts";
import { encodeTexts } from "../../gpu-worker/lm/tokens.ts";
import { openEmbeddings } from "../../shared/formats/embeddings.ts";
import { openModelFolder } from "../../shared/model/folder.ts";
import { loadTokenizer } from "../../shared/model/tokenizer.ts";
import { assertClose } from "../helpers/assert_close.ts";

const FIXTURES = fileURLToPath(new URL("../fixtures/lm/", import.meta.url));

const PAIRS = [
  { preferred: "Hello world, this is a test.", rejected: "the toxic subspace is removed" },
  { preferred: "a preference pair holds a preferred text", rejected: "Café naïve — ünïcödé" },
  { preferred: "models learn to edit their weights", rejected: "The quick brown fox jumps" },
  { preferred: "hello there", rejected: "without gradient steps, the lazy dog" },
];

for (const variant of ["llama-gqa", "opt", "qwen3-bf16", "gptj"]) {
  Deno.test(`profs edit --pairs --backend cpu edits a ${variant} folder end to end`, async () => {
    const model = FIXTURES + variant;
    const work = await Deno.makeTempDir({ prefix: `lm_edit_${variant}_` });
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
          "--model",
          model,
          "--pairs",
          pairs,
          "--out",
          out,
          "--save-embeddings",
          saved,
          "--backend",
          "cpu",
          "--rank",
          "1",
          "--layers",
          "1:2",
        ]);
      } finally {
        console.log = log;
      }
      assert.equal(code, 0);

      // The pipeline's embeddings are the engine's: same tokens, same layer-major pass.
      const base = await openModelFolder(model);
      const edited = await openModelFolder(out);
      const file = await openEmbeddings(saved);
      try {
        const family = lmFamilyFrom(base.config);
        const tokenizer = await loadTokenizer(model);
        const texts = [...PAIRS.map((p) => p.preferred), ...PAIRS.map((p) => p.rejected)];
        const expected = await embedSequences(base, family, encodeTexts(tokenizer, family, texts, 128), {
          gemm: openGemm(),
        });
        const D = family.hiddenSize, n = PAIRS.length;
        for (let l = 0; l < family.numLayers; l++) {
          const { preferred, rejected } = await file.readLayer(l);
          // The same float32 computation (the pipeline's BLAS) over a different chunking of texts: BLAS may block
          // the products differently per row count, so equal to float32 rounding (~1e-7), not bit for bit.
          assertClose(preferred.data, expected[l].subarray(0, n * D), {
            rtol: 1e-6,
            atol: 1e-6,
            label: `preferred ${l}`,
          });
          assertClose(rejected.data, expected[l].subarray(n * D), {
            rtol: 1e-6,
            atol: 1e-6,
            label: `rejected ${l}`,
          });
        }

        // Only block 1's edited matrix changes, and it loses exactly a rank-1 direction from its D side.
        for (const name of base.tensorNames()) {
          const before = await base.readTensor(name);
          const after = await edited.readTensor(name);
          if (name === base.mlpOutputName(1)) assert.notDeepEqual(after, before, name);
          else assert.deepEqual(after, before, name);
        }

        const report = JSON.parse(await Deno.readTextFile(join(out, "report.json")));
        assert.equal(report.model.family, family.family);
        const tokens = report.layers[0].directions[0].positive.map((t: { token: string }) => t.token);
        assert.equal(tokens.length, 10);
        for (const t of tokens) {
          assert.ok(!t.includes("\uFFFD"), `top token ${JSON.stringify(t)} prints readably`);
        }
      } finally {
        await file.close();
        await base.close();
        await edited.close();
      }
    } finally {
      await Deno.remove(work, { recursive: true });
    }
  });
}

Deno.test("profs edit --pairs refuses an OPT post-LN folder naming the field, and writes nothing", async () => {
  const work = await Deno.makeTempDir({ prefix: "lm_edit_refused_" });
  try {
    const model = join(work, "opt-post-ln");
    await Deno.mkdir(model);
    for (const file of ["tokenizer.json", "model.safetensors"]) {
      await Deno.copyFile(join(FIXTURES, "opt", file), join(model, file));
    }
    const config = JSON.parse(await Deno.readTextFile(join(FIXTURES, "opt", "config.json")));
    await Deno.writeTextFile(
      join(model, "config.json"),
      JSON.stringify({ ...config, do_layer_norm_before: false }),
    );
    const pairs = join(work, "pairs.jsonl");
    await Deno.writeTextFile(pairs, PAIRS.map((p) => JSON.stringify(p)).join("\n") + "\n");
    const out = join(work, "out");
    const errors: string[] = [];
    const error = console.error;
    console.error = (...args: unknown[]) => errors.push(args.join(" "));
    let code: number;
    try {
      code = await main(["edit", "--model", model, "--pairs", pairs, "--out", out, "--backend", "cpu"]);
    } finally {
      console.error = error;
    }
    assert.notEqual(code, 0);
    assert.match(errors.join("\n"), /'do_layer_norm_before'.*false/);
    assert.deepEqual([...Deno.readDirSync(work)].map((e) => e.name).sort(), ["opt-post-ln", "pairs.jsonl"]);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});
