import assert from "node:assert/strict";
import { defaultLayers, EditParams, resolveLayers } from "../../shared/contracts/edit_params.ts";
import { EditCreate } from "../../shared/contracts/edits.ts";
import { InputError } from "../../shared/errors.ts";

Deno.test("EditParams fills in DESIGN.md defaults and leaves layers to the model", () => {
  assert.deepEqual(EditParams.parse({}), {
    rank: 2,
    centering: true,
    max_pairs: 500,
    seed: 0,
    max_tokens: 128,
  });
  assert.deepEqual(EditCreate.parse({ model_id: "m", dataset_id: "d" }).params, EditParams.parse({}));
});

Deno.test("EditParams rejects unknown keys, wrong types and empty layer ranges with field paths", () => {
  const cases: [unknown, string][] = [
    [{ rnak: 3 }, ""],
    [{ rank: "2" }, "rank"],
    [{ rank: 0 }, "rank"],
    [{ rank: 1.5 }, "rank"],
    [{ layers: { from: 5, to: 5 } }, "layers.to"],
    [{ layers: { from: -1, to: 5 } }, "layers.from"],
    [{ centering: "yes" }, "centering"],
  ];
  for (const [input, path] of cases) {
    const result = EditParams.safeParse(input);
    assert.equal(result.success, false, JSON.stringify(input));
    assert.equal(result.error!.issues[0].path.join("."), path, JSON.stringify(input));
  }
});

Deno.test("default layers are floor(5L/12):L, 10:24 for GPT-2 medium", () => {
  assert.deepEqual(defaultLayers(24), { from: 10, to: 24 });
  assert.deepEqual(defaultLayers(12), { from: 5, to: 12 });
  assert.deepEqual(defaultLayers(2), { from: 0, to: 2 });
});

Deno.test("resolveLayers refuses a range past the model's last block", () => {
  assert.deepEqual(resolveLayers({ layers: { from: 1, to: 12 } }, 12), { from: 1, to: 12 });
  assert.deepEqual(resolveLayers({}, 12), { from: 5, to: 12 });
  assert.throws(() => resolveLayers({ layers: { from: 1, to: 13 } }, 12), InputError);
});
