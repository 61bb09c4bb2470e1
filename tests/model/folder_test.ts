import assert from "node:assert/strict";
import { join } from "node:path";
import { InputError } from "../../shared/errors.ts";
import { architectureFor, ARCHITECTURES, mlpOutputName } from "../../shared/model/architectures.ts";
import { openModelFolder } from "../../shared/model/folder.ts";
import { writeTinyGpt2 } from "../fixtures/tiny_gpt2.ts";

const root = await Deno.makeTempDir({ prefix: "profs-folder-" });
globalThis.addEventListener("unload", () => Deno.removeSync(root, { recursive: true }));
const opts = { layers: 2, hidden: 12, heads: 2, tokenizer: false };

Deno.test("a GPT-2 folder reads the same tensors with and without the transformer. prefix", async () => {
  const plain = await openModelFolder(
    (await writeTinyGpt2(join(root, "plain"), { ...opts, prefix: false })).dir,
  );
  const prefixed = await openModelFolder((await writeTinyGpt2(join(root, "prefixed"), opts)).dir);
  try {
    assert.equal(plain.numLayers, 2);
    assert.equal(plain.hiddenSize, 12);
    assert.equal(plain.architecture.family, "gpt2");
    assert.equal(plain.mlpOutputName(1), "h.1.mlp.c_proj.weight");
    assert.equal(prefixed.mlpOutputName(1), "transformer.h.1.mlp.c_proj.weight");
    for (const name of ["h.1.mlp.c_proj.weight", "transformer.h.1.mlp.c_proj.weight"]) {
      assert.deepEqual(await plain.readTensor(name), await prefixed.readTensor(name), name);
    }
    assert.deepEqual(plain.tensorInfo("transformer.wte.weight").shape, [50257, 12]);
    assert.equal(prefixed.unembeddingName(), "transformer.wte.weight", "tied lm_head → wte");
    assert.deepEqual(
      await plain.readRows("wte.weight", 3, 2),
      (await plain.readTensor("wte.weight")).slice(36, 60),
    );
    assert.equal(plain.tensorNames()[0], "wte.weight");
  } finally {
    await plain.close();
    await prefixed.close();
  }
});

Deno.test("old attn.bias buffers are tolerated and listed as ignored by the architecture", async () => {
  const { dir } = await writeTinyGpt2(join(root, "buffers"), { ...opts, attnBias: true });
  const model = await openModelFolder(dir);
  try {
    const ignored = model.tensorNames().filter((n) => model.architecture.ignoredTensors.test(n));
    assert.deepEqual(ignored, [
      "transformer.h.0.attn.bias",
      "transformer.h.0.attn.masked_bias",
      "transformer.h.1.attn.bias",
      "transformer.h.1.attn.masked_bias",
    ]);
    assert.ok(!model.architecture.ignoredTensors.test("transformer.h.0.attn.c_attn.bias"));
  } finally {
    await model.close();
  }
});

Deno.test("F16 and BF16 folders read as float32 close to the F32 weights", async () => {
  const f32 = await openModelFolder((await writeTinyGpt2(join(root, "f32"), opts)).dir);
  for (const dtype of ["F16", "BF16"] as const) {
    const half = await openModelFolder((await writeTinyGpt2(join(root, dtype), { ...opts, dtype })).dir);
    try {
      assert.equal(half.tensorInfo("h.0.mlp.c_proj.weight").dtype, dtype);
      const a = await half.readTensor("h.0.mlp.c_proj.weight");
      const b = await f32.readTensor("h.0.mlp.c_proj.weight");
      // Relative rounding: F16 has 11 significant bits, BF16 8.
      const rel = dtype === "F16" ? 2 ** -11 : 2 ** -8;
      for (let i = 0; i < a.length; i++) {
        assert.ok(Math.abs(a[i] - b[i]) <= rel * Math.abs(b[i]) + 1e-7, `${i}`);
      }
    } finally {
      await half.close();
    }
  }
  await f32.close();
});

Deno.test("a sharded folder reads through its index and hashes shards in order", async () => {
  const single = await openModelFolder((await writeTinyGpt2(join(root, "single"), opts)).dir);
  const sharded = await openModelFolder(
    (await writeTinyGpt2(join(root, "sharded"), { ...opts, shards: 3 })).dir,
  );
  try {
    assert.deepEqual(sharded.weightFiles, [
      "model-00001-of-00003.safetensors",
      "model-00002-of-00003.safetensors",
      "model-00003-of-00003.safetensors",
    ]);
    assert.deepEqual(sharded.tensorNames(), single.tensorNames());
    assert.deepEqual(
      await sharded.readTensor("h.1.mlp.c_proj.weight"),
      await single.readTensor("h.1.mlp.c_proj.weight"),
    );
    assert.equal(sharded.tensorInfo("ln_f.weight").file, "model-00003-of-00003.safetensors");
    const expected = await concatenatedSha256(sharded.weightFiles.map((f) => join(sharded.dir, f)));
    assert.equal(await sharded.sha256(), expected);
    assert.equal(await single.sha256(), await concatenatedSha256([join(single.dir, "model.safetensors")]));
  } finally {
    await single.close();
    await sharded.close();
  }
});

Deno.test("an index that disagrees with its shards is rejected", async () => {
  const { dir } = await writeTinyGpt2(join(root, "bad-index"), { ...opts, shards: 2 });
  const path = join(dir, "model.safetensors.index.json");
  const index = JSON.parse(await Deno.readTextFile(path));
  index.weight_map["transformer.wte.weight"] = "model-00002-of-00002.safetensors";
  await Deno.writeTextFile(path, JSON.stringify(index));
  await assert.rejects(
    openModelFolder(dir),
    /index.json must match the shards: 'transformer.wte.weight' is not in model-00002/,
  );
  delete index.weight_map["transformer.wte.weight"];
  await Deno.writeTextFile(path, JSON.stringify(index));
  await assert.rejects(openModelFolder(dir), /must list every tensor: 'transformer.wte.weight'/);
});

Deno.test("unsupported or broken folders fail with a clear message", async () => {
  const dir = join(root, "bert");
  await writeTinyGpt2(dir, opts);
  await Deno.writeTextFile(join(dir, "config.json"), JSON.stringify({ model_type: "bert" }));
  await assert.rejects(openModelFolder(dir), (e: Error) => {
    assert.ok(e instanceof InputError);
    assert.match(
      e.message,
      /'model_type' must be one of gpt2, llama, mistral, qwen2, qwen3, gptj, opt: current value is "bert"/,
    );
    return true;
  });
  await Deno.writeTextFile(
    join(dir, "config.json"),
    JSON.stringify({ model_type: "gpt2", n_layer: 3, n_embd: 12 }),
  );
  await assert.rejects(openModelFolder(dir), /must have 'h.2.mlp.c_proj.weight' \(3 layers in config.json\)/);
  await Deno.writeTextFile(
    join(dir, "config.json"),
    JSON.stringify({ model_type: "gpt2", n_layer: 2, n_embd: 16 }),
  );
  await assert.rejects(
    openModelFolder(dir),
    /must be a F32\/F16\/BF16 matrix with 16 columns: it is F32 \[48, 12\]/,
  );
  await Deno.remove(join(dir, "model.safetensors"));
  await assert.rejects(
    openModelFolder(dir),
    /must contain model.safetensors or model.safetensors.index.json/,
  );
  await assert.rejects(openModelFolder(join(root, "missing")), /must contain config.json/);
});

Deno.test("the architecture table names one MLP output matrix per family", () => {
  const byFamily = Object.fromEntries(ARCHITECTURES.map((a) => [a.family, a]));
  assert.equal(mlpOutputName(byFamily.llama, 3), "model.layers.3.mlp.down_proj.weight");
  assert.equal(mlpOutputName(byFamily.mistral, 0), "model.layers.0.mlp.down_proj.weight");
  assert.equal(mlpOutputName(byFamily.gptj, 5), "transformer.h.5.mlp.fc_out.weight");
  assert.equal(mlpOutputName(byFamily.opt, 2), "model.decoder.layers.2.fc2.weight");
  assert.equal(byFamily.gpt2.orientation, "d-cols");
  for (const f of ["llama", "mistral", "qwen2", "qwen3", "gptj", "opt"]) {
    assert.equal(byFamily[f].orientation, "d-rows", f);
  }
  assert.equal(architectureFor({ model_type: "mistral" }, "x").family, "mistral");
});

async function concatenatedSha256(paths: string[]): Promise<string> {
  const parts = await Promise.all(paths.map((p) => Deno.readFile(p)));
  const all = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let offset = 0;
  for (const p of parts) {
    all.set(p, offset);
    offset += p.byteLength;
  }
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}
