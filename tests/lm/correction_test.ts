/**
 * The rank-k MLP correction applied inside the forward pass (gpu-worker/lm/correction.ts) is the model edited by
 * runEdit: the base model run with the patch's bases gives the edited model's logits, log-probabilities and
 * greedy tokens, on the cpu engine and on the webgpu engine (lavapipe in CI), for both orientations (GPT-2's
 * Conv1D c_proj [I, D] with a bias; Llama's down_proj [D, I]; OPT's fc2 with a bias; GPT-J's parallel block).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runEdit } from "../../gpu-worker/edit/pipeline.ts";
import { openRunner } from "../../gpu-worker/eval/evaluate_edit.ts";
import type { ComputeBackend } from "../../gpu-worker/runtime/backends.ts";
import { readPatch } from "../../shared/formats/patch.ts";
import { assertClose } from "../helpers/assert_close.ts";
import { noGpu } from "../helpers/env.ts";

const FIXTURES = fileURLToPath(new URL("../fixtures/lm/", import.meta.url));
const WORDS = ["calm", "river", "stone", "light", "green", "quiet", "maple", "cloud", "hills", "amber"];
const BAD = ["rage", "spite", "curse", "venom", "brute", "scorn", "wrath", "snarl", "gloom", "sneer"];
const TEXTS = ["the calm river runs", "a stone in the light", "green hills under cloud", "quiet maple"];

async function writePairs(path: string) {
  const lines = WORDS.map((w, i) =>
    JSON.stringify({
      preferred: `the ${w} ${WORDS[(i + 3) % 10]} is ${w}`,
      rejected: `the ${BAD[i]} ${BAD[(i + 3) % 10]} is ${BAD[i]}`,
    })
  );
  await Deno.writeTextFile(path, lines.join("\n") + "\n");
}

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, label: string) {
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]));
  assertClose(actual, expected, { atol: 2e-5 * Math.max(1, scale), label });
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

async function checkCorrection(variant: string, backend: ComputeBackend) {
  const root = await Deno.makeTempDir({ prefix: `profs-correction-${variant}-` });
  try {
    const base = FIXTURES + variant;
    const pairs = join(root, "pairs.jsonl");
    await writePairs(pairs);
    const out = join(root, "edited");
    await runEdit({
      modelDir: base,
      outDir: out,
      pairsFile: pairs,
      layers: { from: 0, to: 2 },
      rank: 3,
      backend: "cpu",
    });
    const patch = await readPatch(join(out, "patch.safetensors"));
    const correction = { layers: patch.layers.map((l) => ({ layer: l.layer, basis: l.basis })) };

    const corrected = await openRunner(base, backend);
    const edited = await openRunner(out, backend);
    try {
      const plain = await corrected.logits(TEXTS);
      corrected.setCorrection(correction);
      const expected = await edited.logits(TEXTS);
      const actual = await corrected.logits(TEXTS);
      close(actual, expected, `${variant} ${backend} logits`);
      // The test could fail: the edit moves the logits by far more than the tolerance.
      assert.ok(maxDiff(plain, expected) > 1e-3, `${variant}: the edit changes the logits`);
      const [a, e] = [await corrected.logProbs(TEXTS), await edited.logProbs(TEXTS)];
      a.forEach((t, i) => close(t.tokenLogProbs, e[i].tokenLogProbs, `${variant} ${backend} log-probs ${i}`));
      const options = { maxNewTokens: 4, stopAtEos: false };
      assert.deepEqual(
        (await corrected.generate(TEXTS, options)).map((g) => g.tokens),
        (await edited.generate(TEXTS, options)).map((g) => g.tokens),
      );
      corrected.setCorrection(null); // back to the stored model
      close(await corrected.logits(TEXTS), plain, `${variant} ${backend} logits without the correction`);
    } finally {
      corrected.dispose();
      edited.dispose();
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

for (const variant of ["gpt2", "llama-gqa", "opt", "gptj"]) {
  Deno.test(`the MLP correction on the cpu engine equals the model runEdit wrote: ${variant}`, async () => {
    await checkCorrection(variant, "cpu");
  });
  Deno.test({
    name: `the MLP correction on the webgpu engine equals the model runEdit wrote: ${variant}`,
    ignore: noGpu(),
    fn: () => checkCorrection(variant, "webgpu"),
  });
}

async function checkResume(backend: ComputeBackend) {
  const root = await Deno.makeTempDir({ prefix: "profs-correction-prefix-" });
  try {
    const base = FIXTURES + "llama-gqa";
    const pairs = join(root, "pairs.jsonl");
    await writePairs(pairs);
    const out = join(root, "edited");
    await runEdit({
      modelDir: base,
      outDir: out,
      pairsFile: pairs,
      layers: { from: 1, to: 2 },
      rank: 3,
      backend: "cpu",
    });
    const { basis } = (await readPatch(join(out, "patch.safetensors"))).layers[0];
    const first = { rows: basis.rows, cols: 1, data: basis.data.filter((_, i) => i % 3 === 0) };
    const warm = await openRunner(base, backend);
    const cold = await openRunner(base, backend);
    const edited = await openRunner(out, backend);
    try {
      warm.setCorrection({ layers: [{ layer: 1, basis: first }] });
      await warm.logits(TEXTS); // keeps block 1's input for these texts
      await warm.logProbs(TEXTS);
      warm.setCorrection({ layers: [{ layer: 1, basis }] }); // starts at block 1 again: resumes there
      cold.setCorrection({ layers: [{ layer: 1, basis }] });
      assert.deepEqual(await warm.logits(TEXTS), await cold.logits(TEXTS));
      const [w, c] = [await warm.logProbs(TEXTS), await cold.logProbs(TEXTS)];
      w.forEach((t, i) => assert.deepEqual(t.tokenLogProbs, c[i].tokenLogProbs));
      close(await warm.logits(TEXTS), await edited.logits(TEXTS), "resumed logits vs the edited model");
    } finally {
      warm.dispose();
      cold.dispose();
      edited.dispose();
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("corrected runs on the cpu engine resume from the stored residual stream at the first corrected block, bit for bit", () =>
  checkResume("cpu"));
Deno.test({
  name:
    "corrected runs on the webgpu engine resume from the stored residual stream at the first corrected block, bit for bit",
  ignore: noGpu(),
  fn: () => checkResume("webgpu"),
});

Deno.test("a correction whose basis does not fit the model is refused with the block named", async () => {
  const runner = await openRunner(FIXTURES + "gpt2", "cpu");
  try {
    assert.throws(
      () =>
        runner.setCorrection({
          layers: [{ layer: 0, basis: { rows: 5, cols: 1, data: new Float32Array(5) } }],
        }),
      /Cannot correct block 0 as its basis must be \[32, k ≥ 1\]/,
    );
    assert.throws(
      () =>
        runner.setCorrection({
          layers: [{ layer: 9, basis: { rows: 32, cols: 1, data: new Float32Array(32) } }],
        }),
      /Cannot correct block 9/,
    );
  } finally {
    runner.dispose();
  }
});
