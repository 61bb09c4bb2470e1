/**
 * The edited model's card keeps its lineage: Hugging Face front matter with base_model (+ relation), the base
 * card's license, library_name, pipeline_tag and tags, and the base card's body below profs' section.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runEdit } from "../../gpu-worker/edit/pipeline.ts";
import { lineageOf, splitFrontMatter } from "../../gpu-worker/edit/model_card.ts";
import { writeSyntheticEmbeddings } from "../fixtures/synthetic_embeddings.ts";
import { baseDir } from "../fixtures/lora/make_adapters.ts";

const BASE_CARD = `---
license: mit
base_model: openai-community/gpt2
datasets:
- some/dataset
---

# Tiny GPT-2

Trained on nothing at all.
`;

async function copyBase(dir: string, card?: string, config?: Record<string, unknown>): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  for (const f of ["model.safetensors", "tokenizer.json", "config.json"]) {
    await Deno.copyFile(join(baseDir("gpt2"), f), join(dir, f));
  }
  if (config) {
    const c = JSON.parse(await Deno.readTextFile(join(dir, "config.json")));
    await Deno.writeTextFile(join(dir, "config.json"), JSON.stringify({ ...c, ...config }));
  }
  if (card) await Deno.writeTextFile(join(dir, "README.md"), card);
}

Deno.test("an edited model's card keeps the base card's license, base_model and body", async () => {
  const root = await Deno.makeTempDir({ prefix: "profs-card-" });
  try {
    await copyBase(join(root, "base"), BASE_CARD);
    const embeddings = join(root, "e.safetensors");
    await writeSyntheticEmbeddings(embeddings, { layers: 2, pairs: 8, hidden: 32, rank: 2, seed: 1 });
    await runEdit({
      modelDir: join(root, "base"),
      outDir: join(root, "out"),
      embeddingsFile: embeddings,
      backend: "cpu",
    });
    const card = await Deno.readTextFile(join(root, "out", "README.md"));
    const { fields, body } = splitFrontMatter(card);
    assert.deepEqual(fields, {
      base_model: "openai-community/gpt2",
      base_model_relation: "finetune",
      license: "mit",
      library_name: "transformers",
      pipeline_tag: "text-generation",
      tags: ["profs", "model-editing", "detoxification"],
    });
    assert.ok(
      body.indexOf("# ProFS-edited gpt2 model") < body.indexOf("# Tiny GPT-2"),
      "profs' section first",
    );
    assert.ok(body.includes("Trained on nothing at all."));
    assert.ok(body.includes("from `e.safetensors` (embeddings)"));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("lineage: the card's base_model, else config _name_or_path (not a local path), else the given name", async () => {
  const root = await Deno.makeTempDir({ prefix: "profs-lineage-" });
  try {
    const dir = join(root, "m");
    await copyBase(dir, "# no front matter\n", { _name_or_path: "EleutherAI/gpt-neo-125m" });
    const config = (p: string) => Deno.readTextFile(join(p, "config.json")).then(JSON.parse);
    let lineage = await lineageOf(dir, await config(dir), undefined);
    assert.equal(lineage.baseModel, "EleutherAI/gpt-neo-125m");
    assert.equal(lineage.license, null);
    assert.equal(lineage.baseCardBody, "# no front matter\n");
    lineage = await lineageOf(dir, { _name_or_path: "/srv/blobs/models/x" }, undefined);
    assert.equal(lineage.baseModel, null, "a local path is not a hub id");
    lineage = await lineageOf(dir, { _name_or_path: "/srv/blobs/models/x" }, "me/my-gpt2");
    assert.equal(lineage.baseModel, "me/my-gpt2");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
