/**
 * `profs edit --pairs` end to end on the CPU for families other than GPT-2 (edit_pairs_case.ts: the saved
 * embeddings are the engine's own to float32 rounding), and a refused folder that writes nothing.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { main } from "../../main.ts";
import { openGemm } from "../../gpu-worker/blas/gemm.ts";
import { assertClose } from "../helpers/assert_close.ts";
import { editPairsEndToEnd, FIXTURES, writePairs } from "./edit_pairs_case.ts";

const cpu = {
  name: "cpu" as const,
  gemm: openGemm,
  // The same float32 computation (the pipeline's BLAS) over a different chunking of texts: BLAS may block the
  // products differently per row count, so equal to float32 rounding (~1e-7), not bit for bit.
  close: (actual: Float32Array, expected: Float32Array, label: string) =>
    assertClose(actual, expected, { rtol: 1e-6, atol: 1e-6, label }),
};

for (const variant of ["llama-gqa", "opt", "qwen3-bf16", "gptj"]) {
  Deno.test(`profs edit --pairs --backend cpu edits a ${variant} folder end to end`, async () => {
    await editPairsEndToEnd(variant, cpu);
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
    const pairs = await writePairs(work);
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
