/**
 * The edit as a PEFT LoRA adapter (gpu-worker/edit/lora.ts): base + adapter must be the edited model to float32
 * rounding. Checked twice per family (GPT-2's Conv1D with fan_in_fan_out; Llama, OPT, GPT-J Linear layouts):
 * against the tensors PEFT itself merged (tests/fixtures/lora/expected.safetensors, made by peft_merge.py with
 * PEFT 0.21 from the very adapters make_adapters.ts writes), and by merging B A in TypeScript.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { main } from "../../main.ts";
import { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE } from "../../gpu-worker/edit/lora.ts";
import { splitFrontMatter } from "../../gpu-worker/edit/model_card.ts";
import { openModelFolder } from "../../shared/model/folder.ts";
import { openSafetensors } from "../../shared/safetensors/reader.ts";
import { assertClose } from "../helpers/assert_close.ts";
import { baseDir, LORA_CASES, LORA_EDIT, makeAdapters } from "../fixtures/lora/make_adapters.ts";

const root = await Deno.makeTempDir({ prefix: "profs-lora-" });
globalThis.addEventListener("unload", () => Deno.removeSync(root, { recursive: true }));
await makeAdapters(root);
const expectedFile = fileURLToPath(new URL("../fixtures/lora/expected.safetensors", import.meta.url));

async function tensors(path: string): Promise<Map<string, { shape: number[]; data: Float32Array }>> {
  const reader = await openSafetensors(path);
  try {
    const out = new Map();
    for (const t of reader.header.tensors) {
      out.set(t.name, { shape: t.shape, data: await reader.readFloat32(t.name) });
    }
    return out;
  } finally {
    await reader.close();
  }
}

for (const name of LORA_CASES) {
  Deno.test(`${name}: the LoRA adapter merged by PEFT (fixture) and by B·A equals profs' edited tensor`, async () => {
    const config = JSON.parse(await Deno.readTextFile(join(root, name, "lora", ADAPTER_CONFIG_FILE)));
    assert.equal(config.r, LORA_EDIT.rank);
    assert.equal(config.lora_alpha, LORA_EDIT.rank);
    assert.deepEqual(config.layers_to_transform, [1]);
    assert.equal(config.fan_in_fan_out, name === "gpt2");
    assert.equal(config.base_model_name_or_path, `profs-fixtures/tiny-${name}`);
    const adapter = await tensors(join(root, name, "lora", ADAPTER_WEIGHTS_FILE));
    const expected = await tensors(expectedFile);
    const base = await openModelFolder(baseDir(name));
    const edited = await openModelFolder(join(root, name, "edited"));
    try {
      const stored = edited.mlpOutputName(1);
      const modulePath = {
        gpt2: "transformer.h.1.mlp.c_proj",
        "llama-gqa": "model.layers.1.mlp.down_proj",
        opt: "model.decoder.layers.1.fc2",
        gptj: "transformer.h.1.mlp.fc_out",
      }[name];
      assert.deepEqual([...adapter.keys()].sort(), [
        `base_model.model.${modulePath}.lora_A.weight`,
        `base_model.model.${modulePath}.lora_B.weight`,
      ]);
      const editedW = await edited.readTensor(stored);
      const peft = [...expected.entries()].filter(([k]) => k.startsWith(`${name}/`));
      assert.equal(peft.length, 1, `PEFT changed exactly the edited tensor of ${name}`);
      // PEFT merges B A in float32 and adds it; profs rounds removed·Vᵀ once: a few float32 ulps of |W| ≈ 0.1.
      assertClose(editedW, peft[0][1].data, { atol: 1e-6, rtol: 0, label: `${name} PEFT merge` });

      const a = adapter.get(`base_model.model.${modulePath}.lora_A.weight`)!; // [k, in]
      const b = adapter.get(`base_model.model.${modulePath}.lora_B.weight`)!; // [out, k]
      const w = await base.readTensor(stored);
      const [k, inF] = a.shape;
      const outF = b.shape[0];
      const merged = Float32Array.from(w);
      for (let o = 0; o < outF; o++) {
        for (let i = 0; i < inF; i++) {
          let s = 0;
          for (let j = 0; j < k; j++) s += b.data[o * k + j] * a.data[j * inF + i];
          // Conv1D [in, out] (fan_in_fan_out: PEFT transposes B A); Linear [out, in].
          merged[config.fan_in_fan_out ? i * outF + o : o * inF + i] += s;
        }
      }
      assertClose(merged, editedW, { atol: 1e-6, rtol: 0, label: `${name} B·A merge` });
      const block0 = edited.mlpOutputName(0);
      assert.deepEqual(await edited.readTensor(block0), await base.readTensor(block0), "block 0 untouched");
    } finally {
      await base.close();
      await edited.close();
    }
  });
}

Deno.test("profs export-lora writes from the patch the very adapter `profs edit --lora-out` wrote", async () => {
  const out = join(root, "exported");
  const code = await main([
    "export-lora",
    "--model",
    baseDir("gpt2"),
    "--patch",
    join(root, "gpt2", "edited", "patch.safetensors"),
    "--out",
    out,
    "--base-model",
    "profs-fixtures/tiny-gpt2",
  ]);
  assert.equal(code, 0);
  for (const file of [ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, "README.md"]) {
    assert.deepEqual(
      await Deno.readFile(join(out, file)),
      await Deno.readFile(join(root, "gpt2", "lora", file)),
      file,
    );
  }
  const { fields } = splitFrontMatter(await Deno.readTextFile(join(out, "README.md")));
  assert.equal(fields.base_model, "profs-fixtures/tiny-gpt2");
  assert.equal(fields.base_model_relation, "adapter");
  assert.equal(fields.library_name, "peft");
});

Deno.test("profs export-lora refuses a base model the patch was not made from, and writes nothing", async () => {
  const out = join(root, "refused");
  const errors: string[] = [];
  const { error } = console;
  console.error = (line: string) => errors.push(line);
  try {
    const code = await main([
      "export-lora",
      "--model",
      join(root, "gpt2", "edited"), // same family and shapes, other weights
      "--patch",
      join(root, "gpt2", "edited", "patch.safetensors"),
      "--out",
      out,
    ]);
    assert.equal(code, 1);
  } finally {
    console.error = error;
  }
  assert.match(errors.join("\n"), /must have sha256 [0-9a-f]{64} \(the base model it was made from\)/);
  await assert.rejects(Deno.lstat(out), Deno.errors.NotFound);
});
