import assert from "node:assert/strict";
import { join } from "node:path";
import { run as runEditCli } from "../../gpu-worker/cli/edit.ts";
import { run as runApplyCli } from "../../gpu-worker/cli/apply_patch.ts";
import { runEdit } from "../../gpu-worker/edit/pipeline.ts";
import { main } from "../../main.ts";
import { InputError } from "../../shared/errors.ts";
import { openModelFolder } from "../../shared/model/folder.ts";
import { loadTokenizer } from "../../shared/model/tokenizer.ts";
import type { EditReport } from "../../gpu-worker/edit/report.ts";
import { assertClose } from "../helpers/assert_close.ts";
import { assertUntouchedIdentical } from "../fixtures/compare_models.ts";
import { writeSyntheticEmbeddings } from "../fixtures/synthetic_embeddings.ts";
import { writeTinyGpt2 } from "../fixtures/tiny_gpt2.ts";

const root = await Deno.makeTempDir({ prefix: "profs-cli-" });
globalThis.addEventListener("unload", () => Deno.removeSync(root, { recursive: true }));
const model = (await writeTinyGpt2(join(root, "model"), { layers: 4, hidden: 24, seed: 1 })).dir;
const embeddings = join(root, "embeddings.safetensors");
await writeSyntheticEmbeddings(embeddings, { layers: 4, pairs: 30, hidden: 24, seed: 2 });
let n = 0;
const fresh = (label: string) => join(root, `${label}-${n++}`);

async function quiet<T>(fn: () => Promise<T>): Promise<T> {
  const { log, error } = console;
  console.log = () => {};
  console.error = () => {};
  try {
    return await fn();
  } finally {
    console.log = log;
    console.error = error;
  }
}

/** Entries of the folder holding `path` whose names start with its base name (catches left-over temp dirs). */
function leftovers(path: string): string[] {
  const dir = join(path, "..");
  const base = path.slice(dir.length + 1);
  return [...Deno.readDirSync(dir)].map((e) => e.name).filter((name) => name.startsWith(base));
}

Deno.test("profs edit --embeddings writes the edited model, card, patch and report", async () => {
  const out = fresh("out");
  assert.equal(
    await quiet(() =>
      main(["edit", "--model", model, "--embeddings", embeddings, "--out", out, "--backend", "cpu"])
    ),
    0,
  );
  assert.deepEqual([...Deno.readDirSync(out)].map((e) => e.name).sort(), [
    "README.md",
    "config.json",
    "model.safetensors",
    "patch.safetensors",
    "report.json",
    "tokenizer.json",
  ]);
  assert.equal(
    await Deno.readTextFile(join(out, "config.json")),
    await Deno.readTextFile(join(model, "config.json")),
  );
  const report: EditReport = JSON.parse(await Deno.readTextFile(join(out, "report.json")));
  assert.deepEqual(report.params.layers, { from: 1, to: 4 }, "default ⌊5L/12⌋:L for L = 4");
  assert.equal(report.params.rank, 2);
  assert.equal(report.source.pairsUsed, 30);
  assert.deepEqual(report.layers.map((l) => l.layer), [1, 2, 3]);
  const before = await openModelFolder(model);
  const after = await openModelFolder(out);
  try {
    assert.equal(report.model.sha256, await before.sha256());
    assert.equal(report.editedModelSha256, await after.sha256());
    await assertUntouchedIdentical(before, after, new Set([1, 2, 3].map((l) => before.mlpOutputName(l))));
  } finally {
    await before.close();
    await after.close();
  }
  const card = await Deno.readTextFile(join(out, "README.md"));
  assert.match(card, /ProFS/);
  assert.match(card, new RegExp(report.model.sha256));
  assert.match(card, /\| 3 \| /);
});

Deno.test("the report's top tokens are the extremes of wte · v for each removed direction", async () => {
  const out = fresh("tokens");
  const { report } = await runEdit({
    modelDir: model,
    outDir: out,
    embeddingsFile: embeddings,
    backend: "cpu",
    layers: { from: 2, to: 3 },
  });
  const folder = await openModelFolder(out);
  const tokenizer = await loadTokenizer(out);
  try {
    const wte = await folder.readTensor("wte.weight"); // [V, 24]
    const patch = await (await import("../../shared/formats/patch.ts")).readPatch(
      join(out, "patch.safetensors"),
    );
    const v = patch.layers[0].basis; // [24, 2]
    for (let j = 0; j < 2; j++) {
      const scores = Array.from({ length: wte.length / 24 }, (_, id) => {
        let s = 0;
        for (let c = 0; c < 24; c++) s += wte[id * 24 + c] * v.data[c * 2 + j];
        return { id, s };
      }).sort((a, b) => b.s - a.s);
      const direction = report.layers[0].directions[j];
      assert.deepEqual(direction.positive.map((t) => t.id), scores.slice(0, 10).map((x) => x.id));
      assert.deepEqual(direction.negative.map((t) => t.id), scores.slice(-10).reverse().map((x) => x.id));
      assert.equal(direction.positive[0].token, tokenizer.decode([scores[0].id]));
      assertClose([direction.positive[0].score], [scores[0].s], { rtol: 1e-6, label: "score" });
    }
  } finally {
    await folder.close();
  }
});

Deno.test("sharded F16 models with old attn.bias buffers keep their files, dtypes and untouched bytes", async () => {
  const base = (await writeTinyGpt2(fresh("f16"), {
    layers: 4,
    hidden: 24,
    seed: 1,
    dtype: "F16",
    shards: 3,
    attnBias: true,
    prefix: false,
  })).dir;
  const out = fresh("f16-out");
  await runEdit({ modelDir: base, outDir: out, embeddingsFile: embeddings, backend: "cpu" });
  const f32 = fresh("f32-out");
  await runEdit({ modelDir: model, outDir: f32, embeddingsFile: embeddings, backend: "cpu" });
  const before = await openModelFolder(base);
  const after = await openModelFolder(out);
  const reference = await openModelFolder(f32);
  try {
    assert.equal(after.weightFiles.length, 3);
    assert.equal(
      await Deno.readTextFile(join(out, "model.safetensors.index.json")),
      await Deno.readTextFile(join(base, "model.safetensors.index.json")),
    );
    await assertUntouchedIdentical(before, after, new Set([1, 2, 3].map((l) => before.mlpOutputName(l))));
    const name = "h.3.mlp.c_proj.weight";
    assert.equal(after.tensorInfo(name).dtype, "F16");
    // The F16 base differs from the F32 one by F16 rounding (2^-11 relative) and the result is rounded again.
    assertClose(await after.readTensor(name), await reference.readTensor(name), {
      rtol: 2e-3,
      atol: 1e-5,
      label: "F16 edit",
    });
  } finally {
    await before.close();
    await after.close();
    await reference.close();
  }
});

Deno.test("apply-patch reproduces the edit bit for bit and --revert restores the base to float32 rounding", async () => {
  const out = fresh("edited");
  await runEdit({ modelDir: model, outDir: out, embeddingsFile: embeddings, backend: "cpu", rank: 3 });
  const patch = join(out, "patch.safetensors");
  const applied = fresh("applied");
  await quiet(() => runApplyCli(["--model", model, "--patch", patch, "--out", applied]));
  assert.deepEqual(
    await Deno.readFile(join(applied, "model.safetensors")),
    await Deno.readFile(join(out, "model.safetensors")),
  );
  const reverted = fresh("reverted");
  await quiet(() => runApplyCli(["--model", out, "--patch", patch, "--out", reverted, "--revert"]));
  const base = await openModelFolder(model);
  const back = await openModelFolder(reverted);
  try {
    await assertUntouchedIdentical(base, back, new Set([1, 2, 3].map((l) => base.mlpOutputName(l))));
    for (const l of [1, 2, 3]) {
      // W ≈ 0.02: two float32 roundings (edit, revert) are ≲ 4e-9.
      assertClose(
        await back.readTensor(base.mlpOutputName(l)),
        await base.readTensor(base.mlpOutputName(l)),
        { atol: 1e-8, label: `layer ${l}` },
      );
    }
  } finally {
    await base.close();
    await back.close();
  }
});

Deno.test("apply-patch refuses a model whose hash or shapes do not match, leaving nothing behind", async () => {
  const out = fresh("edited");
  await runEdit({ modelDir: model, outDir: out, embeddingsFile: embeddings, backend: "cpu" });
  const patch = join(out, "patch.safetensors");
  const target = fresh("refused");
  await assert.rejects(
    runApplyCli(["--model", out, "--patch", patch, "--out", target]),
    /must have sha256 .* \(the base model it was made from\)/,
  );
  await assert.rejects(
    runApplyCli(["--model", model, "--patch", patch, "--out", target, "--revert"]),
    /the edited model/,
  );
  // A patch that claims this model's hash but was made for another shape.
  const other = (await writeTinyGpt2(fresh("wide"), { layers: 4, hidden: 36, seed: 1, tokenizer: true })).dir;
  const otherEmb = fresh("wide-emb");
  await writeSyntheticEmbeddings(otherEmb, { layers: 4, pairs: 30, hidden: 36 });
  const otherOut = fresh("wide-out");
  await runEdit({ modelDir: other, outDir: otherOut, embeddingsFile: otherEmb, backend: "cpu" });
  const { readPatch, writePatch } = await import("../../shared/formats/patch.ts");
  const forged = await readPatch(join(otherOut, "patch.safetensors"));
  const base = await openModelFolder(model);
  forged.metadata.baseModelSha256 = await base.sha256();
  await base.close();
  const forgedPath = fresh("forged.safetensors");
  await writePatch(forgedPath, forged);
  await assert.rejects(
    runApplyCli(["--model", model, "--patch", forgedPath, "--out", target]),
    (e: Error) => {
      assert.ok(e instanceof InputError);
      assert.match(
        e.message,
        /its basis for 'transformer.h.1.mlp.c_proj.weight' must be \[24, 2\]: it is \[36, 2\]/,
      );
      return true;
    },
  );
  assert.deepEqual(leftovers(target), []);
});

Deno.test("a failed edit leaves no output behind", async () => {
  const out = fresh("failed");
  // Shape mismatch: caught before any work.
  const wrong = fresh("wrong.safetensors");
  await writeSyntheticEmbeddings(wrong, { layers: 4, pairs: 10, hidden: 12 });
  await assert.rejects(
    runEdit({ modelDir: model, outDir: out, embeddingsFile: wrong, backend: "cpu" }),
    /must have L = 4 and D = 24: it is \[4, 10, 12\]/,
  );
  // Hash mismatch: found after the model was copied (the copy hashes it), so the temp folder must be cleaned.
  const stale = fresh("stale.safetensors");
  await writeSyntheticEmbeddings(stale, { layers: 4, pairs: 10, hidden: 24, modelSha256: "0".repeat(64) });
  await assert.rejects(
    runEdit({ modelDir: model, outDir: out, embeddingsFile: stale, backend: "cpu" }),
    /model_sha256 must match the model's weights/,
  );
  // Malformed preference data: the error names the line.
  const bad = fresh("bad.jsonl");
  await Deno.writeTextFile(bad, '{"preferred":"a","rejected":"b"}\n{"preferred":"a"}\n');
  await assert.rejects(
    runEdit({ modelDir: model, outDir: out, pairsFile: bad, backend: "cpu" }),
    /line 2 must be a JSON object/,
  );
  // Aborted while writing.
  const controller = new AbortController();
  await assert.rejects(
    runEdit({ modelDir: model, outDir: out, embeddingsFile: embeddings, backend: "cpu" }, {
      signal: controller.signal,
      onProgress: (stage) => stage === "writing" && controller.abort(new Error("stop")),
    }),
    /stop/,
  );
  // A malformed model file.
  const broken = (await writeTinyGpt2(fresh("broken"), { layers: 4, hidden: 24 })).dir;
  const file = join(broken, "model.safetensors");
  await Deno.truncate(file, (await Deno.stat(file)).size - 4);
  await assert.rejects(
    runEdit({ modelDir: broken, outDir: out, embeddingsFile: embeddings, backend: "cpu" }),
    /Cannot read safetensors file .* must contain all tensor data/,
  );
  assert.deepEqual(leftovers(out), []);
});

Deno.test("embeddings with a matching model_sha256 are accepted and sampling uses --max-pairs", async () => {
  const base = await openModelFolder(model);
  const sha = await base.sha256();
  await base.close();
  const stamped = fresh("stamped.safetensors");
  await writeSyntheticEmbeddings(stamped, {
    layers: 4,
    pairs: 30,
    hidden: 24,
    seed: 2,
    modelSha256: sha,
    maxTokens: 64,
  });
  const a = await runEdit({
    modelDir: model,
    outDir: fresh("s"),
    embeddingsFile: stamped,
    maxPairs: 12,
    seed: 4,
    backend: "cpu",
  });
  assert.equal(a.report.source.pairsUsed, 12);
  assert.equal(a.report.source.pairsAvailable, 30);
  assert.equal(a.report.params.maxTokens, 64);
  const b = await runEdit({
    modelDir: model,
    outDir: fresh("s"),
    embeddingsFile: stamped,
    maxPairs: 12,
    seed: 4,
    backend: "cpu",
  });
  assert.equal(b.report.editedModelSha256, a.report.editedModelSha256, "same seed, same edit");
  const c = await runEdit({
    modelDir: model,
    outDir: fresh("s"),
    embeddingsFile: stamped,
    maxPairs: 12,
    seed: 5,
    backend: "cpu",
  });
  assert.notEqual(c.report.editedModelSha256, a.report.editedModelSha256, "another sample, another edit");
});

Deno.test("profs edit --pairs embeds the texts, and --save-embeddings reproduces the same edit", async () => {
  const pairs = fresh("pairs.jsonl");
  const lines = Array.from(
    { length: 6 },
    (_, i) =>
      JSON.stringify({
        preferred: `Thank you, friend number ${i}.`,
        rejected: `Shut up, you idiot number ${i}!`,
      }),
  );
  await Deno.writeTextFile(pairs, lines.join("\n") + "\n");
  const saved = fresh("saved.safetensors");
  const first = fresh("from-pairs");
  await quiet(() =>
    runEditCli([
      "--model",
      model,
      "--pairs",
      pairs,
      "--out",
      first,
      "--backend",
      "cpu",
      "--max-tokens",
      "16",
      "--save-embeddings",
      saved,
    ])
  );
  const second = fresh("from-saved");
  await quiet(() =>
    runEditCli(["--model", model, "--embeddings", saved, "--out", second, "--backend", "cpu"])
  );
  const r1: EditReport = JSON.parse(await Deno.readTextFile(join(first, "report.json")));
  const r2: EditReport = JSON.parse(await Deno.readTextFile(join(second, "report.json")));
  assert.equal(r1.source.kind, "pairs");
  assert.equal(r1.source.format, "preferred-rejected");
  assert.equal(r2.params.maxTokens, 16, "max_tokens travels in the embeddings metadata");
  assert.equal(r2.editedModelSha256, r1.editedModelSha256);
});

for (
  const [args, message] of [
    [["--model", "m", "--out", "o"], /exactly one of '--pairs' and '--embeddings'/],
    [["--model", "m", "--pairs", "p", "--embeddings", "e", "--out", "o"], /exactly one of/],
    [["--embeddings", "e", "--out", "o"], /'--model' is required/],
    [["--model", "m", "--embeddings", "e"], /'--out' is required/],
    [
      ["--model", "m", "--embeddings", "e", "--out", "o", "--layers", "5:3"],
      /'--layers' as it must be FROM:TO with FROM < TO .*'5:3'/,
    ],
    [
      ["--model", "m", "--embeddings", "e", "--out", "o", "--rank", "0"],
      /'--rank' must be an integer from 1 to 64: current value is '0'/,
    ],
    [
      ["--model", "m", "--embeddings", "e", "--out", "o", "--max-pairs", "1.5"],
      /'--max-pairs' must be an integer/,
    ],
    [
      ["--model", "m", "--embeddings", "e", "--out", "o", "--backend", "tpu"],
      /'--backend' must be auto, cpu or webgpu/,
    ],
  ] as const
) {
  Deno.test(`profs edit ${args.join(" ")} is refused with a clear message`, async () => {
    await assert.rejects(runEditCli([...args]), (e: Error) => {
      assert.ok(e instanceof InputError, String(e));
      assert.match(e.message, message);
      return true;
    });
  });
}

Deno.test("profs edit refuses layers past the model, an existing --out and unknown flags", async () => {
  await assert.rejects(
    runEditCli(["--model", model, "--embeddings", embeddings, "--out", fresh("x"), "--layers", "2:9"]),
    /0 ≤ FROM < TO ≤ 4: current value is 2:9/,
  );
  await assert.rejects(
    runEditCli(["--model", model, "--embeddings", embeddings, "--out", model]),
    /'--out' as it must not exist yet/,
  );
  assert.equal(await quiet(() => main(["edit", "--model", model, "--frobnicate"])), 1);
});
