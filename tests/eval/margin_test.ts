/**
 * The preference margin (gpu-worker/eval/margin.ts) on the CPU engine against transformers' float64
 * log-probabilities of the same texts (tests/fixtures/lm/<variant>/expected.json): per pair the mean per-token
 * log-likelihood of one text minus another's, summed here by hand from the reference; and the summary's rules.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { heldOutMargin, pairMargins, summarizeMargins } from "../../gpu-worker/eval/margin.ts";
import { lmFamilyFrom } from "../../gpu-worker/lm/family.ts";
import { createLmCpuRunner } from "../../gpu-worker/lm/runner.ts";
import { openModelFolder } from "../../shared/model/folder.ts";
import { loadTokenizer } from "../../shared/model/tokenizer.ts";

const FIXTURES = fileURLToPath(new URL("../fixtures/lm/", import.meta.url));

for (const variant of ["gpt2", "llama-gqa"]) {
  Deno.test(`pairMargins on the CPU engine equals the margins of transformers' log-probs: ${variant}`, async () => {
    const dir = FIXTURES + variant;
    const expected: { texts: string[]; log_probs: number[][] } = JSON.parse(
      await Deno.readTextFile(`${dir}/expected.json`),
    );
    const folder = await openModelFolder(dir);
    try {
      const runner = await createLmCpuRunner(
        folder,
        lmFamilyFrom(folder.config, variant),
        await loadTokenizer(dir),
      );
      const t = expected.texts;
      // Text 3 is "a": GPT-2 predicts none of its tokens (a null margin); Llama predicts "a" after <s>.
      const pairs = [[0, 1], [2, 0], [1, 2], [1, 3]].map(([p, r]) => ({ preferred: t[p], rejected: t[r] }));
      const meanOf = (i: number) => {
        const lp = expected.log_probs[i];
        return lp.length === 0 ? null : lp.reduce((a, b) => a + b, 0) / lp.length;
      };
      const want = [[0, 1], [2, 0], [1, 2], [1, 3]].map(([p, r]) => {
        const a = meanOf(p);
        const b = meanOf(r);
        return a === null || b === null ? null : a - b;
      });
      const got = await pairMargins(runner, pairs, { batchSize: 3 });
      assert.equal(got.length, want.length);
      for (const [i, w] of want.entries()) {
        if (w === null) assert.equal(got[i], null, `pair ${i}: a side with no predicted token`);
        else assert.ok(Math.abs(got[i]! - w) < 1e-4, `pair ${i}: ${got[i]} vs reference ${w}`);
      }
      assert.equal(
        want[3] === null,
        variant === "gpt2",
        "the fixture's premise: only GPT-2 predicts nothing of 'a'",
      );
      const { summary } = await heldOutMargin(runner, pairs, { batchSize: 3 });
      assert.deepEqual(summary, summarizeMargins(got));
      runner.dispose();
    } finally {
      await folder.close();
    }
  });
}

Deno.test("summarizeMargins: mean over counted pairs, accuracy is the share strictly above 0, nulls skipped", () => {
  assert.deepEqual(summarizeMargins([0.5, -0.25, 0, null, 1]), {
    pairs: 4,
    skipped: 1,
    meanMargin: (0.5 - 0.25 + 0 + 1) / 4,
    accuracy: 2 / 4, // a margin of exactly 0 prefers neither text
  });
  assert.deepEqual(summarizeMargins([]), { pairs: 0, skipped: 0, meanMargin: 0, accuracy: 0 });
  assert.deepEqual(summarizeMargins([null]), { pairs: 0, skipped: 1, meanMargin: 0, accuracy: 0 });
});

Deno.test("pairMargins: one logProbs call with every preferred text, then every rejected one", async () => {
  const calls: string[][] = [];
  const fake = {
    logProbs(texts: string[]) {
      calls.push(texts);
      // log-likelihood per token = −(text length), over 2 tokens
      return Promise.resolve(
        texts.map((s) => ({ tokenLogProbs: new Float32Array(2), sum: -2 * s.length, count: 2 })),
      );
    },
  };
  const margins = await pairMargins(fake, [{ preferred: "ab", rejected: "abcd" }, {
    preferred: "xyz",
    rejected: "x",
  }]);
  assert.deepEqual(calls, [["ab", "xyz", "abcd", "x"]]);
  assert.deepEqual(margins, [-2 + 4, -3 + 1]);
  assert.deepEqual(await pairMargins(fake, []), []);
  assert.equal(calls.length, 1, "no call for no pairs");
});
