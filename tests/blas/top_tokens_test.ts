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
