/**
 * The whole edit (`runEdit`) on the webgpu backend, on the tiny GPT-2 fixture and factor-model embeddings, against
 * the independent float64 PyTorch reference (tests/fixtures/reference/) and against the same edit on the cpu
 * backend: edited weights within 1e-4 relative, subspaces within a small principal angle, every other tensor
 * byte-identical.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runEdit } from "../../../gpu-worker/edit/pipeline.ts";
import { webGpuBackend } from "../../../gpu-worker/profs/webgpu/backend.ts";
import { acquireGpu } from "../../../gpu-worker/runtime/gpu.ts";
import { openModelFolder } from "../../../shared/model/folder.ts";
import { principalAngles } from "../../../gpu-worker/profs/cpu/linalg.ts";
import { openSafetensors } from "../../../shared/safetensors/reader.ts";
import { assertClose } from "../../helpers/assert_close.ts";
import { gpuAdapter, noGpu } from "../../helpers/env.ts";
import {
  EMBEDDINGS_OPTIONS,
  MODEL_OPTIONS,
  REFERENCE_FILE,
  VARIANTS,
} from "../../fixtures/reference/make_profs_reference.ts";
import { writeSyntheticEmbeddings } from "../../fixtures/synthetic_embeddings.ts";
import { writeTinyGpt2 } from "../../fixtures/tiny_gpt2.ts";
import { assertUntouchedIdentical } from "../../fixtures/compare_models.ts";

const ignore = noGpu();

async function expected(name: string): Promise<Float64Array> {
  const reference = await openSafetensors(REFERENCE_FILE);
  try {
    const bytes = await reference.readBytes(name);
    return new Float64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  } finally {
    await reference.close();
  }
}

async function readBasis(out: string, layer: number): Promise<Float64Array> {
  const patch = await openSafetensors(join(out, "patch.safetensors"));
  try {
    return Float64Array.from(await patch.readFloat32(`layers.${layer}.basis`));
  } finally {
    await patch.close();
  }
}

for (const variant of VARIANTS) {
  Deno.test({
    name:
      `webgpu edit matches the float64 PyTorch reference and the cpu edit (${variant.name} ${variant.from}:${variant.to} k=${variant.rank})`,
    ignore,
    async fn() {
      const root = await Deno.makeTempDir({ prefix: "profs-webgpu-edit-" });
      const gpu = (await acquireGpu({ adapter: gpuAdapter! }))!;
      const backend = webGpuBackend(gpu);
      try {
        const embeddings = join(root, "embeddings.safetensors");
        await writeSyntheticEmbeddings(embeddings, EMBEDDINGS_OPTIONS);
        const base = join(root, "model");
        await writeTinyGpt2(base, { ...MODEL_OPTIONS, prefix: true });
        const options = {
          modelDir: base,
          embeddingsFile: embeddings,
          layers: { from: variant.from, to: variant.to },
          rank: variant.rank,
          centering: variant.centering,
        };
        const gpuOut = join(root, "webgpu");
        const cpuOut = join(root, "cpu");
        const { report } = await runEdit({ ...options, outDir: gpuOut, backend });
        await runEdit({ ...options, outDir: cpuOut, backend: "cpu" });
        assert.equal(report.backend, "webgpu");
        const before = await openModelFolder(base);
        const after = await openModelFolder(gpuOut);
        const cpuAfter = await openModelFolder(cpuOut);
        try {
          const edited = new Set<string>();
          for (let l = variant.from; l < variant.to; l++) {
            const name = after.mlpOutputName(l);
            edited.add(name);
            const key = `${variant.name}.layers.${l}`;
            const want = await expected(`${key}.edited`);
            const scale = want.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
            // The bar: edited weights within 1e-4 relative (to the matrix's scale; f32 kernels).
            const weights = await after.readTensor(name);
            assertClose(weights, want, { rtol: 1e-4, atol: 1e-4 * scale, label: `${key} W vs reference` });
            assertClose(weights, await cpuAfter.readTensor(name), {
              rtol: 1e-4,
              atol: 1e-4 * scale,
              label: `${key} W vs cpu`,
            });
            const layer = report.layers.find((r) => r.layer === l)!;
            assert.ok(layer.converged);
            // f32 Grams: σ to ~1e-6 relative; explained variance divides by an f32 ‖T‖²_F.
            assertClose(layer.singularValues, await expected(`${key}.sigma`), {
              rtol: 1e-5,
              label: `${key} σ`,
            });
            assertClose(layer.explainedVariance, await expected(`${key}.explained`), {
              rtol: 1e-4,
              label: `${key} ev`,
            });
            const basis = await readBasis(gpuOut, l);
            const d = MODEL_OPTIONS.hidden;
            const toReference = Math.max(
              ...principalAngles(basis, await expected(`${key}.basis`), d, variant.rank),
            );
            const toCpu = Math.max(...principalAngles(basis, await readBasis(cpuOut, l), d, variant.rank));
            assert.ok(toReference < 1e-4, `${key}: largest principal angle to the reference ${toReference}`);
            assert.ok(toCpu < 1e-4, `${key}: largest principal angle to the cpu basis ${toCpu}`);
          }
          await assertUntouchedIdentical(before, after, edited);
        } finally {
          await before.close();
          await after.close();
          await cpuAfter.close();
        }
      } finally {
        backend.dispose();
        await Deno.remove(root, { recursive: true });
      }
    },
  });
}
