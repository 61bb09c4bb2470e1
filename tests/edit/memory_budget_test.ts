/**
 * The compute memory budget (gpu-worker/runtime/memory_budget.ts): an edit's pooled embeddings are checked
 * against it before they are allocated, and a budget they pass changes nothing; PROFS_WORKER_MEMORY_MB is read
 * strictly.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runEdit } from "../../gpu-worker/edit/pipeline.ts";
import { workerMemoryMb } from "../../gpu-worker/runtime/memory_budget.ts";
import { CapacityError, InputError } from "../../shared/errors.ts";
import { writeTinyGpt2 } from "../fixtures/tiny_gpt2.ts";

Deno.test("runEdit refuses pooled embeddings past the memory budget before running the model, naming the pairs and the limit", async () => {
  const dir = await Deno.makeTempDir({ prefix: "profs-budget-" });
  try {
    const modelDir = join(dir, "model");
    await writeTinyGpt2(modelDir, { layers: 2, hidden: 24 });
    const pairsFile = join(dir, "pairs.jsonl");
    const pairs = Array.from(
      { length: 8 },
      (_, i) => JSON.stringify({ preferred: `kind ${i}`, rejected: `rude ${i}` }),
    );
    await Deno.writeTextFile(pairsFile, pairs.join("\n") + "\n");
    // 8 pairs × 2 sides × 2 blocks × 24 floats × 4 bytes, twice at the peak: 6144 bytes.
    const stages: string[] = [];
    await assert.rejects(
      runEdit({
        modelDir,
        outDir: join(dir, "small"),
        pairsFile,
        backend: "cpu",
        rank: 1,
        memoryMb: 6000 / 1024 ** 2,
      }, {
        onProgress: (stage) => stages.push(stage),
      }),
      (error: unknown) =>
        error instanceof CapacityError && error.resource === "worker_memory" &&
        /embeddings of 8 pairs \(2 blocks × hidden size 24\) as its 6144 bytes must fit/.test(
          error.message,
        ) &&
        /PROFS_WORKER_MEMORY_MB\): use fewer pairs/.test(error.message),
    );
    assert.ok(!stages.includes("embedding"), "refused before the model ran");
    const { report } = await runEdit({
      modelDir,
      outDir: join(dir, "fits"),
      pairsFile,
      backend: "cpu",
      rank: 1,
      memoryMb: 6144 / 1024 ** 2,
    });
    assert.equal(report.source.pairsUsed, 8, "exactly at the budget fits");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("PROFS_WORKER_MEMORY_MB: unset or blank is the default, an integer ≥ 64 is taken, anything else refused", () => {
  const env = (value: string | undefined) => () => value;
  assert.equal(workerMemoryMb(env(undefined)), 4096);
  assert.equal(workerMemoryMb(env(" ")), 4096);
  assert.equal(workerMemoryMb(env("512")), 512);
  for (const bad of ["63", "1.5", "lots", "-1"]) {
    assert.throws(
      () => workerMemoryMb(env(bad)),
      (e: unknown) => e instanceof InputError && e.message.includes(`'${bad}'`),
    );
  }
});
