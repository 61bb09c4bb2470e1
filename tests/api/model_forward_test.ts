/**
 * A folder whose config the LM engine cannot run still finalizes — an edit from precomputed embeddings needs no
 * forward pass — and its summary says so (`forward: { supported: false, reason }`, the config field and value);
 * an edit from pairs, an edit with `check`, and a check of it are refused at submit with 422 naming that field,
 * and queue nothing. A folder the engine runs records `forward: { supported: true }`.
 */
import assert from "node:assert/strict";
import { jobs } from "../../shared/db/schema.ts";
import { createHarness, type Harness, json } from "./harness.ts";
import { f32, pairsJsonl, safetensorsBytes, tinyModelFiles } from "./fixtures.ts";

function post(h: Harness, path: string, body: unknown) {
  return h.app.request(path, {
    method: "POST",
    headers: { ...h.keyA, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
}

/** A tiny GPT-2 folder uploaded and finalized, its config.json extended by `extra`; returns the model view. */
async function finalizedModel(h: Harness, extra: Record<string, unknown>): Promise<Record<string, unknown>> {
  const id = String((await json(await post(h, "/v1/models", { name: "tiny" }))).id);
  for (const [name, bytes] of await tinyModelFiles()) {
    const body = name === "config.json"
      ? new TextEncoder().encode(JSON.stringify({ ...JSON.parse(new TextDecoder().decode(bytes)), ...extra }))
      : bytes;
    const r = await h.app.request(`/v1/models/${id}/files/${name}`, { method: "PUT", headers: h.keyA, body });
    assert.equal(r.status, 201);
  }
  const finalized = await h.app.request(`/v1/models/${id}/finalize`, { method: "POST", headers: h.keyA });
  assert.equal(finalized.status, 200, JSON.stringify(await json(finalized)));
  return await json(await h.app.request(`/v1/models/${id}`, { headers: h.keyA }));
}

async function jobCount(h: Harness): Promise<number> {
  return (await h.database.db.select({ id: jobs.id }).from(jobs)).length;
}

async function assertRefused(response: Response, path: string): Promise<void> {
  const body = await json(response);
  assert.equal(response.status, 422, JSON.stringify(body));
  assert.equal(response.headers.get("Content-Type"), "application/problem+json");
  assert.match(String(body.detail), /cannot run its forward pass: .*'scale_attn_by_inverse_layer_idx'.*true/);
  assert.deepEqual((body.errors as { path: string }[]).map((e) => e.path), [path]);
}

Deno.test("a model the LM engine cannot run finalizes with forward unsupported; pairs edits and checks → 422, embeddings edits → 201", async () => {
  const h = await createHarness();
  try {
    const model = await finalizedModel(h, { scale_attn_by_inverse_layer_idx: true });
    const summary = model.summary as {
      num_layers: number;
      hidden_size: number;
      sha256: string;
      forward: { supported: boolean; reason: string };
    };
    assert.equal(model.status, "ready");
    assert.equal(summary.forward.supported, false);
    assert.match(summary.forward.reason, /'scale_attn_by_inverse_layer_idx'/);

    const pairs = await h.app.request("/v1/datasets?name=pairs", {
      method: "POST",
      headers: h.keyA,
      body: pairsJsonl(4),
    });
    const pairsId = String((await json(pairs)).id);
    await assertRefused(
      await post(h, "/v1/edits", { model_id: model.id, dataset_id: pairsId }),
      "dataset_id",
    );
    await assertRefused(await post(h, "/v1/checks", { model_id: model.id }), "model_id");
    assert.equal(await jobCount(h), 0);

    const { num_layers: L, hidden_size: D, sha256 } = summary;
    const tensor = (name: string) => ({
      name,
      dtype: "F32" as const,
      shape: [L, 4, D],
      data: f32(Array.from({ length: L * 4 * D }, (_, i) => Math.sin(i))),
    });
    const embeddings = await h.app.request("/v1/datasets?name=emb&kind=embeddings", {
      method: "POST",
      headers: h.keyA,
      body: safetensorsBytes([tensor("preferred"), tensor("rejected")], { model_sha256: sha256 }),
    });
    assert.equal(embeddings.status, 201);
    const embeddingsId = String((await json(embeddings)).id);
    await assertRefused(
      await post(h, "/v1/edits", { model_id: model.id, dataset_id: embeddingsId, params: { check: true } }),
      "params.check",
    );
    const edit = await post(h, "/v1/edits", { model_id: model.id, dataset_id: embeddingsId });
    assert.equal(edit.status, 201, JSON.stringify(await json(edit.clone())));
    assert.equal(await jobCount(h), 1);
  } finally {
    await h.close();
  }
});

Deno.test("a model the LM engine runs records forward supported in its summary", async () => {
  const h = await createHarness();
  try {
    const model = await finalizedModel(h, {});
    assert.deepEqual((model.summary as { forward: unknown }).forward, { supported: true });
  } finally {
    await h.close();
  }
});
