/**
 * `profs edit --pairs` end to end on GPT-2's reference model: raw preference pairs → the LM engine's forward pass → ProFS →
 * edited mlp.c_proj weights equal to the edit the float64 torch reference computes from its own embeddings with
 * exact SVDs (gpt2_reference.py), on both backends; the embeddings it saves reproduce the edit without the model.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { main } from "../../main.ts";
import { openModelFolder } from "../../shared/model/folder.ts";
import { assertClose } from "../helpers/assert_close.ts";
import { noGpu } from "../helpers/env.ts";
import { reference, withReferenceFolder } from "./gpt2_reference.ts";
import { COMPUTE_BACKENDS } from "../../gpu-worker/runtime/backends.ts";

for (const backend of COMPUTE_BACKENDS) {
  Deno.test({
    name:
      `profs edit --pairs (${backend}) on the tiny reference model matches the float64 torch reference edit`,
    ignore: backend === "webgpu" && noGpu(),
    async fn() {
      await withReferenceFolder(async (model) => {
        const work = await Deno.makeTempDir({ prefix: "gpt2_edit_" });
        try {
          const pairs = join(work, "pairs.jsonl");
          await Deno.writeTextFile(pairs, reference.pairs.map((p) => JSON.stringify(p)).join("\n") + "\n");
          const out = join(work, "out");
          const saved = join(work, "embeddings.safetensors");
          const [from, to] = reference.edit.layers;
          const edit = async (source: string[], outDir: string) => {
            const log = console.log;
            console.log = () => {}; // the command prints its summary; the test reads the files instead
            try {
              const common = [
                "--backend",
                backend,
                "--rank",
                String(reference.edit.rank),
                "--layers",
                `${from}:${to}`,
              ];
              const code = await main(["edit", "--model", model.dir, ...source, "--out", outDir, ...common]);
              assert.equal(code, 0);
            } finally {
              console.log = log;
            }
          };
          await edit(["--pairs", pairs, "--save-embeddings", saved], out);
          const again = join(work, "again");
          await edit(["--embeddings", saved], again);
          const edited = await openModelFolder(out);
          try {
            for (let l = from; l < to; l++) {
              const expected = reference.edit.per_layer[String(l)].edited;
              const actual = await edited.readTensor(`h.${l}.mlp.c_proj.weight`);
              const scale = expected.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
              // float32 embeddings (~1e-6 relative) move the rank-2 subspace by about that over the spectral gap
              // (σ₂/σ₃ ≈ 1.2–1.3 here), and the subspace iteration stops at sin θ ≤ 1e-6: 1e-4 of the scale.
              assertClose(actual, expected, {
                rtol: 1e-4,
                atol: 1e-4 * scale,
                label: `${backend} c_proj ${l}`,
              });
            }
            const report = JSON.parse(await Deno.readTextFile(join(out, "report.json")));
            assert.equal(report.backend, backend);
            assert.match(report.backendReason, new RegExp(`^--backend ${backend}`));
            const untouched = await edited.readTensor(`h.0.mlp.c_proj.weight`);
            assert.deepEqual(
              untouched,
              await model.readTensor("h.0.mlp.c_proj.weight"),
              "block 0 is not edited",
            );
          } finally {
            await edited.close();
          }
        } finally {
          await Deno.remove(work, { recursive: true });
        }
      });
    },
  });
}
