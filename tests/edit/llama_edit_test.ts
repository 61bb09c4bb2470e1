/**
 * A d-rows family end to end: a tiny Llama-shaped folder (down_proj [D, I]) edited from embeddings; the edit
 * must be W − V (Vᵀ W) with every other tensor byte-identical, and the patch must revert it.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { applyPatch } from "../../gpu-worker/edit/apply_patch.ts";
import { runEdit } from "../../gpu-worker/edit/pipeline.ts";
import { createRandom } from "../../gpu-worker/profs/random.ts";
import { readPatch } from "../../shared/formats/patch.ts";
import { gpt2TokenizerJson } from "../../infra/demo/gpt2_tokenizer_json.ts";
import { openModelFolder } from "../../shared/model/folder.ts";
import { fromFloat32 } from "../../shared/safetensors/dtype.ts";
import { writeSafetensorsFile } from "../../shared/safetensors/writer.ts";
import { assertClose } from "../helpers/assert_close.ts";
import { assertUntouchedIdentical } from "../fixtures/compare_models.ts";
import { writeSyntheticEmbeddings } from "../fixtures/synthetic_embeddings.ts";

const L = 3, D = 16, I = 40, V = 50257;

async function writeTinyLlama(dir: string) {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    join(dir, "config.json"),
    JSON.stringify({ model_type: "llama", num_hidden_layers: L, hidden_size: D, intermediate_size: I }),
  );
  await Deno.writeTextFile(join(dir, "tokenizer.json"), await gpt2TokenizerJson());
  const random = createRandom(9);
  const tensor = (name: string, shape: number[]) => ({
    name,
    dtype: "BF16" as const,
    shape,
    data: fromFloat32(
      Float32Array.from({ length: shape.reduce((a, b) => a * b) }, () => 0.02 * random.normal()),
      "BF16",
    ),
  });
  const tensors = [tensor("model.embed_tokens.weight", [V, D])];
  for (let l = 0; l < L; l++) {
    tensors.push(
      tensor(`model.layers.${l}.mlp.up_proj.weight`, [I, D]),
      tensor(`model.layers.${l}.mlp.down_proj.weight`, [D, I]),
    );
  }
  tensors.push(tensor("lm_head.weight", [V, D]));
  await writeSafetensorsFile(join(dir, "model.safetensors"), tensors, { format: "pt" });
}

Deno.test("a Llama-shaped (d-rows, BF16) model is edited as W − V(VᵀW) and reverted by its patch", async () => {
  const root = await Deno.makeTempDir({ prefix: "profs-llama-" });
  globalThis.addEventListener("unload", () => Deno.removeSync(root, { recursive: true }));
  const base = join(root, "base");
  await writeTinyLlama(base);
  const embeddings = join(root, "emb.safetensors");
  await writeSyntheticEmbeddings(embeddings, { layers: L, pairs: 25, hidden: D, seed: 3 });
  const out = join(root, "out");
  const { report } = await runEdit({
    modelDir: base,
    outDir: out,
    embeddingsFile: embeddings,
    backend: "cpu",
  });
  assert.deepEqual(report.params.layers, { from: 1, to: 3 });
  const before = await openModelFolder(base);
  const after = await openModelFolder(out);
  try {
    assert.equal(after.unembeddingName(), "lm_head.weight", "an untied head is used for top tokens");
    const names = [1, 2].map((l) => `model.layers.${l}.mlp.down_proj.weight`);
    await assertUntouchedIdentical(before, after, new Set(names));
    const patch = await readPatch(join(out, "patch.safetensors"));
    assert.equal(patch.metadata.orientation, "d-rows");
    for (const [i, name] of names.entries()) {
      const w = await before.readTensor(name); // [D, I]
      const v = patch.layers[i].basis.data; // [D, k]
      const expected = new Float64Array(D * I);
      for (let c = 0; c < I; c++) {
        const proj = [0, 1].map((j) => {
          let s = 0;
          for (let r = 0; r < D; r++) s += v[r * 2 + j] * w[r * I + c];
          return s;
        });
        for (let r = 0; r < D; r++) {
          expected[r * I + c] = w[r * I + c] - v[r * 2] * proj[0] - v[r * 2 + 1] * proj[1];
        }
      }
      assert.equal(after.tensorInfo(name).dtype, "BF16");
      // Written back as BF16 (8 significant bits): rounding to nearest is within 2^-8 relative.
      assertClose(await after.readTensor(name), expected, { rtol: 2 ** -8, atol: 1e-7, label: name });
    }
  } finally {
    await before.close();
    await after.close();
  }
  const reverted = join(root, "reverted");
  await applyPatch({
    modelDir: out,
    patchFile: join(out, "patch.safetensors"),
    outDir: reverted,
    revert: true,
  });
  const back = await openModelFolder(reverted);
  const orig = await openModelFolder(base);
  try {
    const name = "model.layers.2.mlp.down_proj.weight";
    // The edit and the revert each round to BF16 once (2^-8 relative each); the removed part is ~|W|·k/√D.
    assertClose(await back.readTensor(name), await orig.readTensor(name), {
      rtol: 2 ** -6,
      atol: 1e-4,
      label: "revert",
    });
  } finally {
    await back.close();
    await orig.close();
  }
});
