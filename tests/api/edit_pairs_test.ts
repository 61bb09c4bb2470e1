/**
 * An edit needs at least `rank` pairs (after `max_pairs`) and a rank the model's hidden size allows: POST /v1/edits
 * and a trigger's fire refuse the rest with 422 problem+json naming `params.rank`, and queue nothing — where a
 * worker used to embed the pairs and then fail (or, before that was fixed, wait forever).
 */
import assert from "node:assert/strict";
import { jobs } from "../../shared/db/schema.ts";
import { generateMessageId, signWebhook } from "../../shared/webhooks/signature.ts";
import { createHarness, type Harness, json } from "./harness.ts";
import { f32, pairsJsonl, safetensorsBytes, tinyModelFiles } from "./fixtures.ts";

function post(h: Harness, path: string, body: unknown) {
  return h.app.request(path, {
    method: "POST",
    headers: { ...h.keyA, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
}

async function readyModel(h: Harness): Promise<{ id: string; hiddenSize: number }> {
  const id = String((await json(await post(h, "/v1/models", { name: "tiny" }))).id);
  for (const [name, bytes] of await tinyModelFiles()) {
    const r = await h.app.request(`/v1/models/${id}/files/${name}`, {
      method: "PUT",
      headers: h.keyA,
      body: bytes,
    });
    assert.equal(r.status, 201);
  }
  const finalized = await h.app.request(`/v1/models/${id}/finalize`, { method: "POST", headers: h.keyA });
  assert.equal(finalized.status, 200);
  const model = await json(await h.app.request(`/v1/models/${id}`, { headers: h.keyA }));
  return { id, hiddenSize: (model.summary as { hidden_size: number }).hidden_size };
}

async function pairsDataset(h: Harness, rows: number): Promise<string> {
  const d = await h.app.request("/v1/datasets?name=pairs", {
    method: "POST",
    headers: h.keyA,
    body: pairsJsonl(rows),
  });
  assert.equal(d.status, 201);
  return String((await json(d)).id);
}

async function jobCount(h: Harness): Promise<number> {
  return (await h.database.db.select({ id: jobs.id }).from(jobs)).length;
}

async function assertRankProblem(response: Response, detail: RegExp): Promise<void> {
  const body = await json(response);
  assert.equal(response.status, 422, JSON.stringify(body));
  assert.equal(response.headers.get("Content-Type"), "application/problem+json");
  assert.equal(body.type, "/docs#problem-validation-error");
  assert.match(String(body.detail), detail);
  assert.deepEqual((body.errors as { path: string }[]).map((e) => e.path), ["params.rank"]);
}

Deno.test("POST /v1/edits with fewer pairs than the rank → 422 naming params.rank and the count; no job", async () => {
  const h = await createHarness();
  try {
    const model = await readyModel(h);
    const one = await pairsDataset(h, 1);
    await assertRankProblem(
      await post(h, "/v1/edits", { model_id: model.id, dataset_id: one }),
      new RegExp(`rank 2 as it needs at least 2 usable pairs .*dataset '${one}' has 1`),
    );
    const three = await pairsDataset(h, 3);
    await assertRankProblem(
      await post(h, "/v1/edits", {
        model_id: model.id,
        dataset_id: three,
        params: { rank: 2, max_pairs: 1 },
      }),
      /has 1 \(3 pairs; 1 after 'max_pairs' 1\)/,
    );
    assert.equal(await jobCount(h), 0);
  } finally {
    await h.close();
  }
});

Deno.test("POST /v1/edits with exactly rank pairs → 201 (N = k is an edit)", async () => {
  const h = await createHarness();
  try {
    const model = await readyModel(h);
    const response = await post(h, "/v1/edits", {
      model_id: model.id,
      dataset_id: await pairsDataset(h, 2),
      params: { rank: 2 },
    });
    assert.equal(response.status, 201);
    const oneAtRankOne = await post(h, "/v1/edits", {
      model_id: model.id,
      dataset_id: await pairsDataset(h, 1),
      params: { rank: 1 },
    });
    assert.equal(oneAtRankOne.status, 201);
  } finally {
    await h.close();
  }
});

Deno.test("POST /v1/edits with a rank of the hidden size (with centering) → 422; without centering → 201", async () => {
  const h = await createHarness();
  try {
    const model = await readyModel(h);
    const dataset = await pairsDataset(h, model.hiddenSize + 1);
    await assertRankProblem(
      await post(h, "/v1/edits", {
        model_id: model.id,
        dataset_id: dataset,
        params: { rank: model.hiddenSize },
      }),
      new RegExp(`'rank' must be at most ${model.hiddenSize - 1} for hidden size ${model.hiddenSize}`),
    );
    const uncentered = await post(h, "/v1/edits", {
      model_id: model.id,
      dataset_id: dataset,
      params: { rank: model.hiddenSize, centering: false },
    });
    assert.equal(uncentered.status, 201);
  } finally {
    await h.close();
  }
});

Deno.test("a trigger fired with fewer pairs than the rank → 422 naming params.rank; no job", async () => {
  const h = await createHarness();
  try {
    const model = await readyModel(h);
    const dataset = await pairsDataset(h, 1);
    const created = await post(h, "/v1/triggers", {
      name: "t",
      template: { model_id: model.id, dataset_id: dataset },
    });
    assert.equal(created.status, 201);
    const trigger = await json(created) as { id: string; secret: string };
    const body = "";
    const signed = await signWebhook({ id: generateMessageId(), timestamp: new Date(), body }, [
      trigger.secret,
    ]);
    const fired = await h.app.request(`/v1/triggers/${trigger.id}/fire`, {
      method: "POST",
      headers: { ...signed, "content-type": "application/json" },
      body,
    });
    await assertRankProblem(fired, /needs at least 2 usable pairs/);
    assert.equal(await jobCount(h), 0);
  } finally {
    await h.close();
  }
});

Deno.test("a trigger fired with embeddings of the wrong shape → 422 naming dataset_id, as POST /v1/edits; no job", async () => {
  const h = await createHarness();
  try {
    const model = await readyModel(h);
    const tensor = (name: string) => ({
      name,
      dtype: "F32" as const,
      shape: [1, 4, model.hiddenSize + 1], // one block and D + 1 columns: from no model of this shape
      data: f32(Array.from({ length: 4 * (model.hiddenSize + 1) }, (_, i) => Math.sin(i))),
    });
    const d = await h.app.request("/v1/datasets?name=emb&kind=embeddings", {
      method: "POST",
      headers: h.keyA,
      body: safetensorsBytes([tensor("preferred"), tensor("rejected")]),
    });
    assert.equal(d.status, 201);
    const dataset = String((await json(d)).id);
    const direct = await post(h, "/v1/edits", { model_id: model.id, dataset_id: dataset });
    const created = await post(h, "/v1/triggers", {
      name: "t",
      template: { model_id: model.id, dataset_id: dataset },
    });
    const trigger = await json(created) as { id: string; secret: string };
    const signed = await signWebhook({ id: generateMessageId(), timestamp: new Date(), body: "" }, [
      trigger.secret,
    ]);
    const fired = await h.app.request(`/v1/triggers/${trigger.id}/fire`, {
      method: "POST",
      headers: { ...signed, "content-type": "application/json" },
      body: "",
    });
    for (const response of [direct, fired]) {
      const body = await json(response);
      assert.equal(response.status, 422, JSON.stringify(body));
      assert.match(String(body.detail), /must come from this model/);
      assert.deepEqual((body.errors as { path: string }[]).map((e) => e.path), ["dataset_id"]);
    }
    assert.equal(await jobCount(h), 0);
  } finally {
    await h.close();
  }
});
