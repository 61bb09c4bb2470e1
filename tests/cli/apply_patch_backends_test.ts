/**
 * `apply-patch` reproduces the edit bit for bit whichever backend made it: the edit writes W − removed·Vᵀ from the
 * float32 basis and removed part it stores in the patch, through the very function apply-patch runs, so a webgpu
 * edit (whose own projection rounds differently) and a cpu edit both apply to the same bytes.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { run as runApplyCli } from "../../gpu-worker/cli/apply_patch.ts";
import { runEdit } from "../../gpu-worker/edit/pipeline.ts";
import { openModelFolder } from "../../shared/model/folder.ts";
import { writeSyntheticEmbeddings } from "../fixtures/synthetic_embeddings.ts";
import { writeTinyGpt2 } from "../fixtures/tiny_gpt2.ts";
import { noGpu } from "../helpers/env.ts";

const root = await Deno.makeTempDir({ prefix: "profs-apply-" });
globalThis.addEventListener("unload", () => Deno.removeSync(root, { recursive: true }));
// D = 64 and rank 8: enough terms per element that two summation orders differ in the last bit somewhere.
const f32 = (await writeTinyGpt2(join(root, "f32"), { layers: 4, hidden: 64, heads: 4, seed: 1 })).dir;
const f16 =
  (await writeTinyGpt2(join(root, "f16"), { layers: 4, hidden: 64, heads: 4, seed: 1, dtype: "F16" })).dir;
const embeddings = join(root, "embeddings.safetensors");
await writeSyntheticEmbeddings(embeddings, { layers: 4, pairs: 40, hidden: 64, rank: 8, seed: 2 });
let n = 0;
const fresh = (label: string) => join(root, `${label}-${n++}`);

for (const backend of ["cpu", "webgpu"] as const) {
  for (const [dtype, model] of [["F32", f32], ["F16", f16]] as const) {
    Deno.test({
      name:
        `a patch made by the ${backend} backend (${dtype}) applied to the base gives the edit's sha256 exactly`,
      ignore: backend === "webgpu" && noGpu(),
      fn: async () => {
        const out = fresh(`${backend}-${dtype}`);
        const { report } = await runEdit({
          modelDir: model,
          outDir: out,
          embeddingsFile: embeddings,
          backend,
          rank: 8,
        });
        const applied = fresh("applied");
        const { log } = console;
        const printed: string[] = [];
        console.log = (line: string) => printed.push(line);
        try {
          await runApplyCli(["--model", model, "--patch", join(out, "patch.safetensors"), "--out", applied]);
        } finally {
          console.log = log;
        }
        assert.match(printed.join("\n"), /its weights match the patch's edited model sha256 exactly/);
        const folder = await openModelFolder(applied);
        try {
          assert.equal(await folder.sha256(), report.editedModelSha256);
        } finally {
          await folder.close();
        }
      },
    });
  }
}
