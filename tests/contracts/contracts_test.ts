import assert from "node:assert/strict";
import {
  checkEditFitsData,
  defaultLayers,
  EditParams,
  editParamsFromFlags,
  heldOutCount,
  resolveLayers,
} from "../../shared/contracts/edit_params.ts";
import { EditCreate } from "../../shared/contracts/edits.ts";
import { InputError } from "../../shared/errors.ts";

Deno.test("EditParams fills in the documented defaults and leaves layers to the model", () => {
  assert.deepEqual(EditParams.parse({}), {
    rank: 2,
    centering: true,
    max_pairs: 500,
    seed: 0,
    max_tokens: 128,
    holdout: 0.2,
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
    [{ holdout: 0.6 }, "holdout"],
    [{ holdout: -0.1 }, "holdout"],
    [{ holdout: "0.2" }, "holdout"],
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

Deno.test("heldOutCount: none for share 0 or under 32 usable pairs, else max(16, round(share · usable))", () => {
  assert.equal(heldOutCount(500, 0), 0);
  assert.equal(heldOutCount(31, 0.2), 0);
  assert.equal(heldOutCount(32, 0.2), 16);
  assert.equal(heldOutCount(96, 0.2), 19);
  assert.equal(heldOutCount(500, 0.2), 100);
  assert.equal(heldOutCount(500, 0.5), 250);
});

Deno.test("editParamsFromFlags: --holdout is a share from 0 to 0.5, and an error names the flag", () => {
  assert.equal(editParamsFromFlags({ holdout: "0" }).holdout, 0);
  assert.equal(editParamsFromFlags({ holdout: "0.35" }).holdout, 0.35);
  assert.equal(editParamsFromFlags({ holdout: ".1" }).holdout, 0.1);
  assert.equal(editParamsFromFlags({}).holdout, 0.2);
  for (const bad of ["0.6", "-0.1", "a", "", "1e-1"]) {
    assert.throws(
      () => editParamsFromFlags({ holdout: bad }),
      /'--holdout' must be a share from 0 to 0.5/,
      bad,
    );
  }
});

Deno.test("checkEditFitsData counts the held-out pairs out of the subspace's (pairs only, not embeddings)", () => {
  const params = { rank: 20, max_pairs: 500, centering: true, holdout: 0.5 };
  // 40 rows: 20 held out, 20 left for rank 20.
  checkEditFitsData(params, { id: "d", rows: 40, kind: "pairs" }, 64);
  assert.throws(
    () => checkEditFitsData({ ...params, rank: 21 }, { id: "d", rows: 40, kind: "pairs" }, 64),
    /needs at least 21 usable pairs .*20 held out for the margin.*lower 'holdout'/,
  );
  checkEditFitsData({ ...params, rank: 21 }, { id: "d", rows: 40, kind: "embeddings" }, 64);
  checkEditFitsData({ ...params, rank: 21, holdout: 0 }, { id: "d", rows: 40, kind: "pairs" }, 64);
});

Deno.test("editParamsFromFlags: --base-model follows the API's rule for base_model, and an error names the flag", () => {
  assert.equal(
    editParamsFromFlags({ base_model: "openai-community/gpt2" }).base_model,
    "openai-community/gpt2",
  );
  assert.equal(editParamsFromFlags({}).base_model, undefined);
  for (const bad of ["", "/abs/path", "has space", "x".repeat(201)]) {
    assert.throws(
      () => editParamsFromFlags({ base_model: bad }),
      (e: Error) =>
        e instanceof InputError && /^Cannot edit as '--base-model' must be a hub id/.test(e.message) &&
        !EditParams.safeParse({ base_model: bad }).success,
      JSON.stringify(bad),
    );
  }
});
