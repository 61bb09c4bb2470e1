/**
 * The demo's stage timings on this machine: embedding (the GPT-2 forward over the demo's 96 pairs), SVD (toxic
 * subspace of each edited layer), projection (W ← W − (W V) Vᵀ of each edited c_proj, timed on its own), model
 * writing, and evaluation (checks of base and edited model), printed with the adapter's name. The edit runs
 * the real pipeline (runEdit) on each available backend; checks run on the same backend.
 *
 *   deno task bench demo            (DEMO_BENCH_BACKENDS=cpu limits the backends)
 */
import { join } from "node:path";
import { selectBackend } from "../../gpu-worker/profs/select.ts";
import { runEdit } from "../../gpu-worker/edit/pipeline.ts";
import { evaluateEdit } from "../../gpu-worker/eval/evaluate_edit.ts";
import { writeDemoModel, writeDemoPairs } from "../../infra/demo/write_demo.ts";
import { readPatch } from "../../shared/formats/patch.ts";
import { openModelFolder } from "../../shared/model/folder.ts";
import { matrix } from "../../gpu-worker/profs/backend.ts";
import { createLexiconScorer } from "../../shared/toxicity/lexicon.ts";

const work = await Deno.makeTempDir({ prefix: "profs-demo-bench-" });
const modelDir = join(work, "model");
await Deno.mkdir(modelDir);
await writeDemoModel(modelDir);
const pairsFile = join(work, "pairs.jsonl");
const pairs = await writeDemoPairs(pairsFile);

const adapter = await navigator.gpu?.requestAdapter();
const adapterName = adapter ? adapter.info.description || adapter.info.device || adapter.info.vendor : null;
const wanted = (Deno.env.get("DEMO_BENCH_BACKENDS") ?? "webgpu,cpu").split(",");
const backends = wanted.filter((b) => b === "cpu" || (b === "webgpu" && adapter)) as ("cpu" | "webgpu")[];
if (wanted.includes("webgpu") && !adapter) console.log("no WebGPU adapter: webgpu skipped");

for (const name of backends) {
  const backend = await selectBackend(name);
  const outDir = join(work, `edited-${name}`);
  const started = performance.now();
  const { report } = await runEdit({ modelDir, outDir, pairsFile, backend });
  const editSeconds = (performance.now() - started) / 1000;

  // Projection alone: the pipeline fuses it with writing the model, so time it here on the same inputs.
  const folder = await openModelFolder(modelDir);
  const patch = await readPatch(join(outDir, "patch.safetensors"));
  let projection = 0;
  for (const { layer, basis } of patch.layers) {
    const tensor = folder.mlpOutputName(layer);
    const [rows, cols] = folder.tensorInfo(tensor).shape;
    const weight = matrix(rows, cols, await folder.readTensor(tensor));
    const t = performance.now();
    await backend.project(weight, basis, folder.architecture.orientation);
    projection += (performance.now() - t) / 1000;
  }
  await folder.close();

  const evalStarted = performance.now();
  const { after } = await evaluateEdit({
    baseDir: modelDir,
    editedDir: outDir,
    backend: name,
    scorer: createLexiconScorer(),
  });
  const evaluation = (performance.now() - evalStarted) / 1000;
  backend.dispose();

  const s = report.seconds;
  console.log(
    `demo stages on ${name}${name === "webgpu" ? ` (${adapterName})` : ""}, ${pairs.length} pairs, ` +
      `${report.layers.length} layers, rank ${report.params.rank}:`,
  );
  console.log(`  embedding   ${s.embed.toFixed(2)} s`);
  console.log(`  SVD         ${s.subspace.toFixed(2)} s   (incl. top tokens through the unembedding)`);
  console.log(`  projection  ${projection.toFixed(3)} s   (${patch.layers.length} × c_proj [256, 64])`);
  console.log(`  writing     ${s.write.toFixed(2)} s   (edited model, patch, incl. projection)`);
  console.log(
    `  evaluation  ${evaluation.toFixed(2)} s   (base + edited: toxicity ${
      ((after.timings_ms.toxicity ?? 0) / 1000).toFixed(2)
    } s, perplexity ${((after.timings_ms.perplexity ?? 0) / 1000).toFixed(2)} s, KL ${
      ((after.timings_ms.kl ?? 0) / 1000).toFixed(2)
    } s for the edited model)`,
  );
  console.log(`  edit total  ${editSeconds.toFixed(2)} s; toxic share after ${after.toxicity.share_toxic}`);
}
await Deno.remove(work, { recursive: true });
