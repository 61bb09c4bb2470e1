import assert from "node:assert/strict";
import { join } from "node:path";
import { InputError } from "../../shared/errors.ts";
import { openEmbeddings, selectRows, writeEmbeddings } from "../../shared/formats/embeddings.ts";
import { type Patch, PATCH_FORMAT, readPatch, writePatch } from "../../shared/formats/patch.ts";
import { fromFloat32 } from "../../shared/safetensors/dtype.ts";
import { writeSafetensorsFile } from "../../shared/safetensors/writer.ts";

const dir = await Deno.makeTempDir({ prefix: "profs-formats-" });
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
let n = 0;
const path = () => join(dir, `f${n++}.safetensors`);

Deno.test("embeddings round-trip per layer with their metadata", async () => {
  const p = path();
  const layer = (l: number, side: number) =>
    Float32Array.from({ length: 3 * 4 }, (_, i) => 100 * l + 10 * side + i);
  await writeEmbeddings(p, {
    preferred: [layer(0, 0), layer(1, 0)],
    rejected: [layer(0, 1), layer(1, 1)],
    numPairs: 3,
    hiddenSize: 4,
  }, { modelSha256: "ab".repeat(32), maxTokens: 64 });
  const e = await openEmbeddings(p);
  try {
    assert.deepEqual([e.numLayers, e.numPairs, e.hiddenSize], [2, 3, 4]);
    assert.deepEqual(e.metadata, { modelSha256: "ab".repeat(32), pooling: "masked-mean", maxTokens: 64 });
    const { preferred, rejected } = await e.readLayer(1);
    assert.deepEqual(preferred.data, layer(1, 0));
    assert.deepEqual(rejected.data, layer(1, 1));
    assert.deepEqual(
      selectRows(preferred, [2, 0]).data,
      Float32Array.from([108, 109, 110, 111, 100, 101, 102, 103]),
    );
  } finally {
    await e.close();
  }
});

async function rawEmbeddings(
  tensors: { name: string; dtype: "F32" | "F16"; shape: number[] }[],
  metadata: Record<string, string> = {},
) {
  const p = path();
  await writeSafetensorsFile(
    p,
    tensors.map((t) => ({
      ...t,
      data: new Uint8Array(t.shape.reduce((a, b) => a * b, 1) * (t.dtype === "F32" ? 4 : 2)),
    })),
    metadata,
  );
  return p;
}

for (
  const [name, make, message] of [
    [
      "a missing side",
      () => rawEmbeddings([{ name: "preferred", dtype: "F32", shape: [1, 2, 3] }]),
      /exactly the tensors 'preferred' and 'rejected': it has preferred/,
    ],
    [
      "a wrong dtype",
      () =>
        rawEmbeddings([{ name: "preferred", dtype: "F16", shape: [1, 2, 3] }, {
          name: "rejected",
          dtype: "F32",
          shape: [1, 2, 3],
        }]),
      /'preferred' must be F32 \[L, N, D\]: it is F16/,
    ],
    [
      "mismatched sides",
      () =>
        rawEmbeddings([{ name: "preferred", dtype: "F32", shape: [1, 2, 3] }, {
          name: "rejected",
          dtype: "F32",
          shape: [1, 3, 3],
        }]),
      /must have the same shape/,
    ],
    [
      "a bad max_tokens",
      () =>
        rawEmbeddings([{ name: "preferred", dtype: "F32", shape: [1, 2, 3] }, {
          name: "rejected",
          dtype: "F32",
          shape: [1, 2, 3],
        }], { max_tokens: "12x" }),
      /'max_tokens' must be a positive integer: current value is '12x'/,
    ],
  ] as const
) {
  Deno.test(`embeddings with ${name} are refused`, async () => {
    await assert.rejects(openEmbeddings(await make()), (e: Error) => {
      assert.ok(e instanceof InputError);
      assert.match(e.message, /^Cannot read embeddings file '/);
      assert.match(e.message, message);
      return true;
    });
  });
}

const patch: Patch = {
  metadata: {
    family: "gpt2",
    baseModelSha256: "1".repeat(64),
    editedModelSha256: "2".repeat(64),
    target: "h.{l}.mlp.c_proj.weight",
    orientation: "d-cols",
    rank: 2,
    layers: [3, 5],
  },
  layers: [3, 5].map((layer) => ({
    layer,
    basis: { rows: 4, cols: 2, data: Float32Array.from({ length: 8 }, (_, i) => layer + i) },
    removed: { rows: 16, cols: 2, data: Float32Array.from({ length: 32 }, (_, i) => -layer - i) },
  })),
};

Deno.test("a patch round-trips with its metadata", async () => {
  const p = path();
  await writePatch(p, patch);
  assert.deepEqual(await readPatch(p), patch);
});

Deno.test("malformed patches are refused with the rule they break", async () => {
  const meta = {
    format: PATCH_FORMAT,
    family: "gpt2",
    base_model_sha256: "1",
    edited_model_sha256: "2",
    target: "x",
    orientation: "d-cols",
    rank: "1",
    layers: "[0]",
  };
  const m = (rows: number, cols: number) => ({
    dtype: "F32" as const,
    shape: [rows, cols],
    data: fromFloat32(new Float32Array(rows * cols), "F32"),
  });
  const cases: [Record<string, string>, { name: string }[] | null, RegExp][] = [
    [{ ...meta, format: "other/1" }, null, /'format' must be 'profs-patch\/1': current value is 'other\/1'/],
    [{ ...meta, rank: undefined as unknown as string }, null, /metadata must have 'rank'/],
    [{ ...meta, orientation: "cols" }, null, /'orientation' must be d-cols or d-rows/],
    [{ ...meta, layers: "0:2" }, null, /'layers' must be a JSON list of layer indices/],
    [meta, [{ name: "layers.0.basis" }], /exactly a basis and a removed tensor per listed layer/],
  ];
  for (const [metadata, names, message] of cases) {
    const p = path();
    const tensors = (names ?? [{ name: "layers.0.basis" }, { name: "layers.0.removed" }]).map((t) => ({
      name: t.name,
      ...m(4, 1),
    }));
    await writeSafetensorsFile(p, tensors, JSON.parse(JSON.stringify(metadata)));
    await assert.rejects(readPatch(p), message);
  }
});
