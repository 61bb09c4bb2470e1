/**
 * The checks' runner against the transformers references for non-GPT-2 families, on either backend:
 * runner_checks_test.ts (cpu) and runner_webgpu_test.ts run it with their own runner.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { lmFamilyFrom } from "../../gpu-worker/lm/family.ts";
import type { LmRunner } from "../../gpu-worker/lm/runner.ts";
import type { LmFamily } from "../../shared/model/lm_family.ts";
import { type ModelFolder, openModelFolder } from "../../shared/model/folder.ts";
import { loadTokenizer, type Tokenizer } from "../../shared/model/tokenizer.ts";
import { assertClose } from "../helpers/assert_close.ts";

export const FIXTURES = fileURLToPath(new URL("../fixtures/lm/", import.meta.url));

/** A check's inputs small enough for the fixture folders. */
export const CHECK_INPUTS = {
  challengePrompts: ["Hello world", "the lazy dog"],
  benignPrompts: ["a preference pair"],
  heldOutTexts: ["The quick brown fox jumps over the lazy dog"],
};

function close(actual: ArrayLike<number>, expected: number[], label: string) {
  const scale = expected.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  // float32 engine vs float64 reference; see cpu_reference_test.ts and webgpu_engine_test.ts for the tolerance.
  assertClose(actual, expected, { atol: 1e-4 * scale, rtol: 1e-4, label });
}

export interface RunnerUnderTest {
  open(folder: ModelFolder, family: LmFamily, tokenizer: Tokenizer): Promise<LmRunner>;
  /** Sequences generated at once. */
  generateBatchSize: number;
}

/** Logits, log-probs, greedy generation and pooled embeddings of fixture `variant` against its expected.json. */
export async function checkRunnerAgainstReference(variant: string, runnerUnderTest: RunnerUnderTest) {
  const dir = FIXTURES + variant;
  const expected = JSON.parse(await Deno.readTextFile(`${dir}/expected.json`));
  const folder = await openModelFolder(dir);
  try {
    const family = lmFamilyFrom(folder.config);
    const runner = await runnerUnderTest.open(folder, family, await loadTokenizer(dir));
    const texts: string[] = expected.texts;
    close(await runner.logits(texts, { batchSize: 3 }), expected.last_logits, "logits");
    const lp = await runner.logProbs(texts, { batchSize: 3 });
    lp.forEach((t, n) => {
      close(t.tokenLogProbs, expected.log_probs[n], `log-probs ${n}`);
      assert.equal(t.count, expected.ids[n].length - 1);
    });
    const prompts = (expected.prompts as number[]).map((p) => texts[p]);
    const generations = await runner.generate(prompts, {
      maxNewTokens: 5,
      stopAtEos: false,
      batchSize: runnerUnderTest.generateBatchSize,
    });
    assert.deepEqual(generations.map((g) => g.tokens), expected.greedy);
    const pooled = await runner.embed(texts);
    pooled.forEach((p, l) => close(p, expected.pooled[l], `pooled ${l}`));
    runner.dispose();
  } finally {
    await folder.close();
  }
}
