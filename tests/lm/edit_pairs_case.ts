/**
 * `profs edit --pairs` end to end for families other than GPT-2, on either backend: raw pairs → tokens with the
 * family's special tokens → layer-major LM engine → ProFS → edited folder. The saved embeddings must equal the CPU
 * engine's (checked against transformers in cpu_reference_test.ts), only the edited matrix changes, and the
 * report's top tokens come from the family's output head and print readably. edit_pairs_test.ts (cpu) and
 * edit_pairs_webgpu_test.ts run it with their own tolerance.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { main } from "../../main.ts";
import { embedSequences } from "../../gpu-worker/lm/cpu/forward.ts";
import type { Gemm } from "../../gpu-worker/blas/gemm.ts";
import { lmFamilyFrom } from "../../gpu-worker/lm/family.ts";
import { encodeTexts } from "../../gpu-worker/lm/tokens.ts";
import { openEmbeddings } from "../../shared/formats/embeddings.ts";
import { openModelFolder } from "../../shared/model/folder.ts";
import { loadTokenizer } from "../../shared/model/tokenizer.ts";

export const FIXTURES = fileURLToPath(new URL("../fixtures/lm/", import.meta.url));

export const PAIRS = [
  { preferred: "Hello world, this is a test.", rejected: "the toxic subspace is removed" },
  { preferred: "a preference pair holds a preferred text", rejected: "Café naïve — ünïcödé" },
  { preferred: "models learn to edit their weights", rejected: "The quick brown fox jumps" },
  { preferred: "hello there", rejected: "without gradient steps, the lazy dog" },
];

/** Writes PAIRS as JSONL to `work/pairs.jsonl` and returns its path. */
export async function writePairs(work: string): Promise<string> {
  const pairs = join(work, "pairs.jsonl");
  await Deno.writeTextFile(pairs, PAIRS.map((p) => JSON.stringify(p)).join("\n") + "\n");
  return pairs;
}

export interface EditPairsBackend {
  name: "cpu" | "webgpu";
  /** The products of the CPU engine that computes the expected embeddings. */
  gemm: () => Gemm;
  /** Asserts the saved embeddings are close enough to the CPU engine's for this backend. */
  close(actual: Float32Array, expected: Float32Array, label: string): void;
}

/** Edits the fixture folder `variant` with `--backend {backend.name}` and checks the output. */
export async function editPairsEndToEnd(variant: string, backend: EditPairsBackend): Promise<void> {
  const model = FIXTURES + variant;
  const work = await Deno.makeTempDir({ prefix: `lm_edit_${backend.name}_${variant}_` });
  try {
    const pairs = await writePairs(work);
    const out = join(work, "out");
    const saved = join(work, "embeddings.safetensors");
    const log = console.log;
    console.log = () => {}; // the command prints its summary; the test reads the files
    let code: number;
    try {
      code = await main([
        "edit",
        ...["--model", model, "--pairs", pairs, "--out", out, "--save-embeddings", saved],
        ...["--backend", backend.name, "--rank", "1", "--layers", "1:2"],
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
        gemm: backend.gemm(),
      });
      const D = family.hiddenSize, n = PAIRS.length;
      for (let l = 0; l < family.numLayers; l++) {
        const { preferred, rejected } = await file.readLayer(l);
        backend.close(preferred.data, expected[l].subarray(0, n * D), `preferred ${l}`);
        backend.close(rejected.data, expected[l].subarray(n * D), `rejected ${l}`);
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
}
