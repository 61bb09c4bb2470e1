/**
 * What the edit pipeline and the CLI do with the subspace iteration's two bad outcomes, on the cpu backend:
 * an iteration cap hit is a failed edit (ConvergenceError naming the block, the iterations and the residual; one
 * stderr line and exit 1 from the CLI; a failed job, unretried, with that message; nothing written), and a rank above a block's effective rank is a warning
 * (report.json's layers and warnings, a `warning:` line on stderr) on an edit that succeeds.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runEdit } from "../../gpu-worker/edit/pipeline.ts";
import { main } from "../../main.ts";
import { ConvergenceError } from "../../shared/errors.ts";
import { classifyJobError } from "../../gpu-worker/worker/jobs/job_error.ts";
import { deserializeError, serializeError } from "../../gpu-worker/worker/jobs/thread_messages.ts";
import type { EditReport } from "../../gpu-worker/edit/report.ts";
import { renderReportHtml } from "../../gpu-worker/report/html.ts";
import { editResult } from "../../gpu-worker/worker/jobs/edit_job.ts";
import { writeSyntheticEmbeddings } from "../fixtures/synthetic_embeddings.ts";
import { writeTinyGpt2 } from "../fixtures/tiny_gpt2.ts";

const root = await Deno.makeTempDir({ prefix: "profs-subspace-outcomes-" });
globalThis.addEventListener("unload", () => Deno.removeSync(root, { recursive: true }));
const model = (await writeTinyGpt2(join(root, "model"), { layers: 4, hidden: 24, seed: 1 })).dir;
const noisy = join(root, "noisy.safetensors");
await writeSyntheticEmbeddings(noisy, { layers: 4, pairs: 30, hidden: 24, seed: 2, rank: 4, noise: 0.3 });
const rank2 = join(root, "rank2.safetensors"); // no noise: T has rank 2 in every block
await writeSyntheticEmbeddings(rank2, { layers: 4, pairs: 30, hidden: 24, seed: 3, rank: 2, noise: 0 });

/** Runs `fn` with console.log/error captured. */
async function captured<T>(fn: () => Promise<T>): Promise<{ value: T; stdout: string[]; stderr: string[] }> {
  const { log, error } = console;
  const stdout: string[] = [], stderr: string[] = [];
  console.log = (...args: unknown[]) => stdout.push(args.join(" "));
  console.error = (...args: unknown[]) => stderr.push(args.join(" "));
  try {
    return { value: await fn(), stdout, stderr };
  } finally {
    console.log = log;
    console.error = error;
  }
}

Deno.test("an edit whose subspace iteration hits its cap fails naming the block, iterations and residual", async () => {
  const out = join(root, "capped");
  await assert.rejects(
    runEdit({
      modelDir: model,
      outDir: out,
      embeddingsFile: noisy,
      layers: { from: 2, to: 4 },
      rank: 4,
      centering: false,
      maxIterations: 1,
      backend: "cpu",
    }),
    (e: unknown) =>
      e instanceof ConvergenceError && e.details.block === 2 && e.details.iterations === 1 &&
      /^Cannot compute the toxic subspace \(rank 4\) of block 2 as the subspace iteration must converge within 1 iterations: the residual .* is (Infinity|\d\.\d\de[-+]\d+)/
        .test(e.message),
  );
  assert.deepEqual([...Deno.readDirSync(root)].map((e) => e.name).filter((n) => n.startsWith("capped")), []);
});

Deno.test("a ConvergenceError from the compute thread fails a job at once with its message", async () => {
  const thrown = await runEdit({
    modelDir: model,
    outDir: join(root, "capped-job"),
    embeddingsFile: noisy,
    layers: { from: 3, to: 4 },
    rank: 4,
    maxIterations: 1,
    backend: "cpu",
  }).then(() => null, (e) => e);
  assert.ok(thrown instanceof ConvergenceError);
  // The worker runs runEdit in a thread; the error crosses it serialized, then decides the job's fate.
  const classified = classifyJobError(deserializeError(serializeError(thrown)));
  const { code, message, retryable } = classified;
  assert.deepEqual({ code, message, retryable }, {
    code: "bad_input",
    message: thrown.message,
    retryable: false,
  });
  assert.match(classified.message, /of block 3 as .* within 1 iterations: the residual/);
});

Deno.test("profs edit --max-iterations 1 exits 1 with one line naming the block", async () => {
  const out = join(root, "capped-cli");
  const { value, stdout, stderr } = await captured(() =>
    main([
      "edit",
      "--model",
      model,
      "--embeddings",
      noisy,
      "--out",
      out,
      "--layers",
      "3:4",
      "--rank",
      "4",
      "--max-iterations",
      "1",
      "--backend",
      "cpu",
    ])
  );
  assert.equal(value, 1);
  assert.deepEqual(stdout, []);
  const errors = stderr.filter((line) => line.startsWith("profs edit:"));
  assert.equal(errors.length, 1, stderr.join("\n"));
  assert.match(
    errors[0],
    /^profs edit: Cannot compute .* of block 3 as .* within 1 iterations: the residual/,
  );
  assert.ok(!errors[0].includes("\n"));
});

Deno.test("a rank above the data's effective rank is a warning in report.json and on stderr", async () => {
  const out = join(root, "above-rank");
  const { value, stderr } = await captured(() =>
    main([
      "edit",
      "--model",
      model,
      "--embeddings",
      rank2,
      "--out",
      out,
      "--layers",
      "2:4",
      "--rank",
      "4",
      "--no-centering",
      "--backend",
      "cpu",
    ])
  );
  assert.equal(value, 0, stderr.join("\n"));
  const report: EditReport = JSON.parse(await Deno.readTextFile(join(out, "report.json")));
  for (const layer of report.layers) {
    assert.equal(layer.effectiveRank, 2);
    assert.ok(layer.singularValues[2] <= layer.noiseFloor!, `σ3 ${layer.singularValues[2]}`);
  }
  assert.equal(report.warnings?.length, 2);
  assert.match(
    report.warnings![0],
    /^block 2: rank 4 is above the data's effective rank 2 \(σ3…σ4 ≤ noise floor/,
  );
  const lines = stderr.filter((line) => line.startsWith("warning: "));
  assert.deepEqual(lines, report.warnings!.map((w) => `warning: ${w}`));
  // The same lines in the model card, report.html and the service's job result.
  const card = await Deno.readTextFile(join(out, "README.md"));
  for (const w of report.warnings!) assert.ok(card.includes(`- ${w}`), `model card lacks: ${w}`);
  const html = renderReportHtml({ report });
  assert.match(html, /<h2>Warnings<\/h2><ul><li>block 2: rank 4 is above the data&#39;s effective rank 2/);
  const result = editResult(report);
  assert.deepEqual(result.warnings, report.warnings);
  assert.deepEqual(result.layers.map((l) => l.effective_rank), [2, 2]);
});

Deno.test("an edit within the data's rank has no warnings and records its effective rank", async () => {
  const out = join(root, "within-rank");
  const outcome = await runEdit({
    modelDir: model,
    outDir: out,
    embeddingsFile: noisy,
    layers: { from: 3, to: 4 },
    rank: 2,
    backend: "cpu",
  });
  assert.deepEqual(outcome.report.warnings, []);
  assert.equal(outcome.report.layers[0].effectiveRank, 2);
  assert.equal(editResult(outcome.report).warnings, undefined);
  assert.ok(!(await Deno.readTextFile(join(out, "README.md"))).includes("## Warnings"));
});
