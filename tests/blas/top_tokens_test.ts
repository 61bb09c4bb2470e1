/**
 * The report's top tokens per removed direction (E·v over the whole output head) are the same whether the
 * scores come from OpenBLAS's dgemm or from the TypeScript loop.
 */
import assert from "node:assert/strict";
import { topTokens } from "../../gpu-worker/edit/report.ts";
import { createRandom } from "../../gpu-worker/profs/random.ts";
import { openModelFolder } from "../../shared/model/folder.ts";
import { loadTokenizer } from "../../shared/model/tokenizer.ts";
import { writeTinyGpt2 } from "../fixtures/tiny_gpt2.ts";
import { blasGemm, noBlas } from "../helpers/env.ts";

Deno.test({
  name: "topTokens on OpenBLAS picks the tokens and scores the TypeScript loop picks",
  ignore: noBlas(),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "top_tokens_" });
    try {
      await writeTinyGpt2(dir, { layers: 2, hidden: 24, heads: 3 });
      const model = await openModelFolder(dir);
      try {
        const tokenizer = await loadTokenizer(dir);
        const random = createRandom(4);
        const basis = (k: number) => ({
          rows: 24,
          cols: k,
          data: Float32Array.from({ length: 24 * k }, () => random.normal()),
        });
        const bases = [basis(2), basis(3)];
        const blas = await topTokens(model, tokenizer, bases, 10, blasGemm);
        const plain = await topTokens(model, tokenizer, bases, 10, null);
        assert.deepEqual(
          blas.map((l) => l.map((d) => d.positive.map((t) => t.id))),
          plain.map((l) => l.map((d) => d.positive.map((t) => t.id))),
        );
        assert.deepEqual(
          blas.map((l) => l.map((d) => d.negative.map((t) => t.id))),
          plain.map((l) => l.map((d) => d.negative.map((t) => t.id))),
        );
        blas.flat().forEach((d, i) => {
          const p = plain.flat()[i];
          // float64 sums of 24 products in another order: equal to ~1e-15 relative.
          d.positive.forEach((t, j) =>
            assert.ok(Math.abs(t.score - p.positive[j].score) <= 1e-12 * Math.abs(t.score))
          );
        });
      } finally {
        await model.close();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("topTokens keeps the tokens a full sort keeps: largest and smallest E·v, ties to the lower id", async () => {
  const dir = await Deno.makeTempDir({ prefix: "top_tokens_sort_" });
  try {
    await writeTinyGpt2(dir, { layers: 2, hidden: 16, heads: 2 });
    const model = await openModelFolder(dir);
    try {
      const tokenizer = await loadTokenizer(dir);
      const name = model.unembeddingName();
      const [vocab, d] = model.tensorInfo(name).shape;
      const e = await model.reader(model.tensorInfo(name).file).readFloat32(name);
      const random = createRandom(9);
      const v = Float32Array.from({ length: d }, () => random.normal());
      const zero = new Float32Array(d); // every score 0: all tie, so the lowest ids win both ways
      const [[scored, tied]] = await topTokens(
        model,
        tokenizer,
        [{
          rows: d,
          cols: 2,
          data: Float32Array.from({ length: 2 * d }, (_, i) => i % 2 === 0 ? v[i >> 1] : zero[i >> 1]),
        }],
        7,
        null,
      );
      const score = (id: number) => {
        let s = 0;
        for (let t = 0; t < d; t++) s += e[id * d + t] * v[t];
        return s;
      };
      const ids = Array.from({ length: vocab }, (_, id) => id);
      const byScore = [...ids].sort((a, b) => score(b) - score(a) || a - b);
      const byNegative = [...ids].sort((a, b) => score(a) - score(b) || a - b);
      assert.deepEqual(scored.positive.map((t) => t.id), byScore.slice(0, 7));
      assert.deepEqual(scored.negative.map((t) => t.id), byNegative.slice(0, 7));
      assert.deepEqual(tied.positive.map((t) => t.id), [0, 1, 2, 3, 4, 5, 6]);
      assert.deepEqual(tied.negative.map((t) => t.id), [0, 1, 2, 3, 4, 5, 6]);
    } finally {
      await model.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
