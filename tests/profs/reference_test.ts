/**
 * The edit pipeline against an independent float64 PyTorch reference (tests/fixtures/reference/, regenerate with
 * make_profs_reference.ts): edited weights, singular values, explained variance and subspaces, in both GPT-2
 * name layouts; every other tensor byte-identical.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runEdit } from "../../gpu-worker/edit/pipeline.ts";
import { openModelFolder } from "../../shared/model/folder.ts";
import { principalAngles } from "../../gpu-worker/profs/cpu/linalg.ts";
import { openSafetensors } from "../../shared/safetensors/reader.ts";
import { assertClose } from "../helpers/assert_close.ts";
import {
  EMBEDDINGS_OPTIONS,
  fileSha256,
  MODEL_OPTIONS,
  REFERENCE_FILE,
  REFERENCE_VERSION,
  VARIANTS,
} from "../fixtures/reference/make_profs_reference.ts";
import { writeSyntheticEmbeddings } from "../fixtures/synthetic_embeddings.ts";
import { writeTinyGpt2 } from "../fixtures/tiny_gpt2.ts";
import { assertUntouchedIdentical } from "../fixtures/compare_models.ts";

const root = await Deno.makeTempDir({ prefix: "profs-reference-test-" });
globalThis.addEventListener("unload", () => Deno.removeSync(root, { recursive: true }));
const reference = await openSafetensors(REFERENCE_FILE);
const embeddings = join(root, "embeddings.safetensors");
await writeSyntheticEmbeddings(embeddings, EMBEDDINGS_OPTIONS);

async function expected(name: string): Promise<Float64Array> {
  const bytes = await reference.readBytes(name);
  return new Float64Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 8);
}

Deno.test("the reference fixture was made from the inputs this test generates", async () => {
  const meta = reference.header.metadata;
  assert.equal(meta.version, REFERENCE_VERSION);
  const { dir } = await writeTinyGpt2(join(root, "check"), { ...MODEL_OPTIONS, prefix: true });
  const hint = "generators changed: rerun deno run -A tests/fixtures/reference/make_profs_reference.ts";
  assert.equal(await fileSha256(join(dir, "model.safetensors")), meta.model_sha256, hint);
  assert.equal(await fileSha256(embeddings), meta.embeddings_sha256, hint);
});

for (const prefix of [true, false]) {
  for (const variant of VARIANTS) {
    const label = `${variant.name} ${variant.from}:${variant.to} k=${variant.rank}, ${
      prefix ? "transformer." : "bare"
    } names`;
    Deno.test(`edit matches the float64 PyTorch reference (${label})`, async () => {
      const base = join(root, `model-${prefix}-${variant.name}`);
      await writeTinyGpt2(base, { ...MODEL_OPTIONS, prefix });
      const out = join(root, `out-${prefix}-${variant.name}`);
      const { report } = await runEdit({
        modelDir: base,
        outDir: out,
        embeddingsFile: embeddings,
        layers: { from: variant.from, to: variant.to },
        rank: variant.rank,
        centering: variant.centering,
        backend: "cpu",
      });
      const before = await openModelFolder(base);
      const after = await openModelFolder(out);
      try {
        const edited = new Set<string>();
        for (let l = variant.from; l < variant.to; l++) {
          const name = after.mlpOutputName(l);
          edited.add(name);
          const key = `${variant.name}.layers.${l}`;
          const want = await expected(`${key}.edited`);
          const maxAbs = want.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
          // 1e-5 relative to the matrix's scale: float32 storage alone contributes ~6e-8; an error in the
          // subspace of angle θ moves W by about θ·|W|.
          assertClose(await after.readTensor(name), want, {
            rtol: 1e-5,
            atol: 1e-5 * maxAbs,
            label: `${key} W`,
          });
          const layer = report.layers.find((r) => r.layer === l)!;
          // float64 on both sides; the iteration stops at a subspace change of 1e-6, σ converges quadratically.
          assertClose(layer.singularValues, await expected(`${key}.sigma`), {
            rtol: 1e-9,
            label: `${key} σ`,
          });
          assertClose(layer.explainedVariance, await expected(`${key}.explained`), {
            rtol: 1e-9,
            label: `${key} ev`,
          });
          assert.ok(layer.converged);
          const patch = await openSafetensors(join(out, "patch.safetensors"));
          const basis = Float64Array.from(await patch.readFloat32(`layers.${l}.basis`));
          await patch.close();
          const angle = Math.max(...principalAngles(basis, await expected(`${key}.basis`), 24, variant.rank));
          assert.ok(angle < 1e-5, `${key}: largest principal angle to the reference basis ${angle}`);
        }
        await assertUntouchedIdentical(before, after, edited);
      } finally {
        await before.close();
        await after.close();
      }
    });
  }
}
