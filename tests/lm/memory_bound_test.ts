/**
 * Embedding extraction is layer-major with memory bounded by one block: between two blocks the engine reads at
 * most one block's tensors, reads every tensor once, and never reads the [V, D] token embedding or the output head
 * whole. Checked by accounting every read on a source whose total weights exceed that budget.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { typescriptGemm } from "../../gpu-worker/blas/gemm.ts";
import { embedSequences } from "../../gpu-worker/lm/cpu/forward.ts";
import type { LmSource } from "../../gpu-worker/lm/cpu/weights.ts";
import { lmFamilyFrom } from "../../gpu-worker/lm/family.ts";
import { openModelFolder } from "../../shared/model/folder.ts";

const FIXTURES = fileURLToPath(new URL("../fixtures/lm/", import.meta.url));

for (const variant of ["llama-gqa", "gptj", "opt"]) {
  Deno.test(`embedding extraction holds at most one block's weights at a time: ${variant}`, async () => {
    const folder = await openModelFolder(FIXTURES + variant);
    try {
      const family = lmFamilyFrom(folder.config);
      const blockNames = (l: number) => {
        const layer = family.block(l).down.weight.match(/^(.*?\.\d+\.)/)![1]; // e.g. "model.layers.1."
        return folder.tensorNames().filter((n) => n.startsWith(layer));
      };
      const floats = (name: string) => folder.tensorInfo(name).shape.reduce((a, b) => a * b, 1);
      const blockFloats = Math.max(
        ...Array.from(
          { length: family.numLayers },
          (_, l) => blockNames(l).reduce((s, n) => s + floats(n), 0),
        ),
      );
      const totalFloats = folder.tensorNames().reduce((s, n) => s + floats(n), 0);
      assert.ok(totalFloats > 2 * blockFloats, "the model is larger than the budget of one block");

      let sinceBlock = 0, peak = 0, largestRowRead = 0;
      const seen = new Set<string>();
      const source: LmSource = {
        async readTensor(name) {
          assert.ok(!seen.has(name), `'${name}' is read once`);
          assert.notEqual(
            name,
            family.embedTokens,
            "the token embedding is gathered by rows, never read whole",
          );
          seen.add(name);
          const data = await folder.readTensor(name);
          sinceBlock += data.length;
          peak = Math.max(peak, sinceBlock);
          return data;
        },
        async readRows(name, start, count) {
          const data = await folder.readRows(name, start, count);
          largestRowRead = Math.max(largestRowRead, data.length);
          return data;
        },
      };
      const order: number[] = [];
      const texts = [[1, 5, 9, 40, 7], [3, 3, 3], [11, 12, 13, 14, 15, 16, 17]];
      const pooled = await embedSequences(source, family, texts, {
        gemm: typescriptGemm(),
        onBlock: (l) => {
          order.push(l);
          sinceBlock = 0;
        },
      });
      assert.deepEqual(
        order,
        Array.from({ length: family.numLayers }, (_, l) => l),
        "blocks in order, once each",
      );
      assert.ok(
        peak <= blockFloats,
        `between two blocks ${peak} floats are read: more than one block (${blockFloats})`,
      );
      // Token rows (and learned positions) come in chunks of at most 1,024 rows of the table.
      assert.ok(largestRowRead <= 1024 * family.hiddenSize, `a row read of ${largestRowRead} floats`);
      assert.equal(pooled.length, family.numLayers);
      const headName = family.head.weight;
      if (!family.head.tied) assert.ok(!seen.has(headName), "the output head is not read for embeddings");
      assert.ok(!seen.has(family.finalNorm.weight), "the final norm is not read for embeddings");
    } finally {
      await folder.close();
    }
  });
}
