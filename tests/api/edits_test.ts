import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createJobQueue, type Db, type JobQueue } from "../../shared/db/index.ts";
import type { EditResult } from "../../shared/contracts/edits.ts";
import { createHarness, type Harness, json } from "./harness.ts";
import { f32, pairsJsonl, safetensorsBytes, tinyModelFiles } from "./fixtures.ts";
import { notifyJobFinished } from "../../shared/webhooks/events.ts";
import { generateMessageId, signWebhook } from "../../shared/webhooks/signature.ts";

const MAX_JSON = 1024;

function post(h: Harness, path: string, body: unknown, headers: Record<string, string> = {}) {
  return h.app.request(path, {
    method: "POST",
    headers: { ...h.keyA, "Content-Type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

async function problem(response: Response, status: number, type: string) {
  const body = await json(response);
  assert.equal(response.status, status, JSON.stringify(body));
  assert.equal(response.headers.get("Content-Type"), "application/problem+json");
  assert.equal(body.type, `/docs#problem-${type}`);
  return body;
}

/** A ready model (tiny GPT-2, 2 blocks) and a dataset of a tenant (A unless other headers are given). */
async function setup(h: Harness, key = h.keyA): Promise<{ modelId: string; datasetId: string }> {
  const modelId = String((await json(await post(h, "/v1/models", { name: "tiny" }, key))).id);
  for (const [name, bytes] of await tinyModelFiles()) {
    const r = await h.app.request(`/v1/models/${modelId}/files/${name}`, {
      method: "PUT",
      headers: key,
      body: bytes,
    });
    assert.equal(r.status, 201);
  }
  assert.equal(
    (await h.app.request(`/v1/models/${modelId}/finalize`, { method: "POST", headers: key })).status,
    200,
  );
  const d = await h.app.request("/v1/datasets?name=pairs", {
    method: "POST",
    headers: key,
    body: pairsJsonl(8),
  });
  assert.equal(d.status, 201);
  return { modelId, datasetId: String((await json(d)).id) };
}

/** Reads an SSE body into events until the server ends the stream. */
async function readSse(
  response: Response,
): Promise<{ id: string; event: string; data: Record<string, unknown> }[]> {
  const text = await response.text();
  return text.split("\n\n").filter((block) => block.includes("data:")).map((block) => {
    const field = (name: string) =>
      block.split("\n").find((l) => l.startsWith(`${name}:`))?.slice(name.length + 1).trim() ?? "";
    return { id: field("id"), event: field("event"), data: JSON.parse(field("data")) };
  });
}

/**
 * A fresh harness with a ready model and dataset of tenant A, a queue standing in for a worker, and the request
 * that submits an edit of them (rank 1); closed in `finally`, whatever the test does.
 */
async function withEdits(
  fn: (
    f: {
      h: Harness;
      queue: JobQueue;
      db: Db;
      modelId: string;
      datasetId: string;
      create: Record<string, unknown>;
    },
  ) => Promise<void>,
): Promise<void> {
  const h = await createHarness({ config: { maxJsonBytes: MAX_JSON } });
  try {
    const { modelId, datasetId } = await setup(h);
    const create = { model_id: modelId, dataset_id: datasetId, params: { rank: 1 } };
    await fn({ h, queue: h.queue, db: h.database.db, modelId, datasetId, create });
  } finally {
    await h.close();
  }
}

/** Submits an edit and, acting as its worker, claims it: its id and lease. */
async function claimedEdit(f: { h: Harness; queue: JobQueue; db: Db; create: Record<string, unknown> }) {
  const id = String((await json(await post(f.h, "/v1/edits", f.create))).id);
  const claim = (await f.queue.claim(f.db, { owner: "test-worker", leaseMs: 60_000 }))!;
  assert.equal(claim.job.id, id);
  return { id, claim };
}

Deno.test("edits: submit — defaults, idempotency, validation, the JSON size cap", async (t) => {
  await withEdits(async ({ h, create }) => {
    let id = "";

    await t.step(
      "POST → 201 queued job with the documented defaults and the model's default layers",
      async () => {
        const response = await post(h, "/v1/edits", create, { "Idempotency-Key": "k-1" });
        assert.equal(response.status, 201);
        const edit = await json(response);
        id = String(edit.id);
        assert.equal(edit.status, "queued");
        assert.deepEqual(edit.params, {
          rank: 1,
          centering: true,
          max_pairs: 500,
          seed: 0,
          max_tokens: 128,
          layers: { from: 0, to: 2 },
        });
        assert.equal(edit.attempts, 0);
        assert.deepEqual(edit.links, {
          self: `/v1/edits/${id}`,
          events: `/v1/edits/${id}/events`,
          cancel: `/v1/edits/${id}/cancel`,
        });
      },
    );

    await t.step(
      "the same Idempotency-Key and request → the same job; another request with it → 422",
      async () => {
        const again = await post(h, "/v1/edits", create, { "Idempotency-Key": "k-1" });
        assert.equal(again.status, 200);
        assert.equal(again.headers.get("Idempotent-Replayed"), "true");
        assert.equal((await json(again)).id, id);
        const other = await post(h, "/v1/edits", { ...create, params: { rank: 2 } }, {
          "Idempotency-Key": "k-1",
        });
        await problem(other, 422, "idempotency-key-reused");
        const sameKeyOtherTenant = await post(h, "/v1/edits", create, {
          ...h.keyB,
          "Idempotency-Key": "k-1",
        });
        await problem(sameKeyOtherTenant, 404, "not-found");
      },
    );

    await t.step(
      "bad params, unknown model or dataset, another tenant's model → 4xx naming the problem",
      async () => {
        const past = await problem(
          await post(h, "/v1/edits", { ...create, params: { layers: { from: 1, to: 3 } } }),
          422,
          "validation-error",
        );
        assert.deepEqual((past.errors as { path: string }[]).map((e) => e.path), ["params.layers"]);
        const types = await problem(
          await post(h, "/v1/edits", { ...create, params: { rank: "2", seed: -1 } }),
          422,
          "validation-error",
        );
        assert.deepEqual((types.errors as { path: string }[]).map((e) => e.path).sort(), [
          "params.rank",
          "params.seed",
        ]);
        await problem(
          await post(h, "/v1/edits", { ...create, model_id: crypto.randomUUID() }),
          404,
          "not-found",
        );
        await problem(await post(h, "/v1/edits", { ...create, dataset_id: "nope" }), 404, "not-found");
        await problem(await post(h, "/v1/edits", create, h.keyB), 404, "not-found");
        await problem(await post(h, "/v1/edits", "[1,"), 400, "malformed-json");
        assert.equal((await h.app.request("/healthz")).status, 200);
      },
    );

    await t.step("a JSON body exactly at the cap is read; one byte over → 413", async () => {
      const base = JSON.stringify(create);
      const atLimit = base.slice(0, -1) + " ".repeat(MAX_JSON - base.length) + "}";
      assert.equal(new TextEncoder().encode(atLimit).byteLength, MAX_JSON);
      const ok = await post(h, "/v1/edits", atLimit, { "Idempotency-Key": "k-1" });
      assert.equal(ok.status, 200, "read and matched to the earlier job");
      await problem(
        await post(h, "/v1/edits", atLimit + " ", { "Idempotency-Key": "k-1" }),
        413,
        "payload-too-large",
      );
    });
  });
});

Deno.test("edits: a job's life — running with progress, SSE to the end, result, downloads, tenancy", async (t) => {
  await withEdits(async (f) => {
    const { h, queue, db } = f;
    const { id, claim } = await claimedEdit(f);

    await t.step("a claimed job reads running with progress and attempts", async () => {
      assert.ok(await queue.progress(db, claim.lease, { stage: "embedding", done: 3, total: 8 }));
      const edit = await json(await h.app.request(`/v1/edits/${id}`, { headers: h.keyA }));
      assert.equal(edit.status, "running");
      assert.equal(edit.attempts, 1);
      assert.deepEqual(edit.progress, { stage: "embedding", done: 3, total: 8 });
      assert.equal(typeof (edit.timings as Record<string, unknown>).running_seconds, "number");
      const events = await json(await h.app.request(`/v1/edits/${id}/events`, { headers: h.keyA }));
      assert.deepEqual((events.data as { type: string }[]).map((e) => e.type), [
        "queued",
        "started",
        "progress",
      ]);
      const after = (events.data as { seq: number }[])[1].seq;
      const tail = await json(
        await h.app.request(`/v1/edits/${id}/events?after=${after}`, { headers: h.keyA }),
      );
      assert.deepEqual((tail.data as { type: string }[]).map((e) => e.type), ["progress"]);
      assert.equal(events.has_more, false);
      assert.equal(tail.has_more, false);
      const first = await json(await h.app.request(`/v1/edits/${id}/events?limit=2`, { headers: h.keyA }));
      assert.deepEqual((first.data as { type: string }[]).map((e) => e.type), ["queued", "started"]);
      assert.equal(first.has_more, true, "a page that stops short says more follow");
      const seq = (first.data as { seq: number }[])[1].seq;
      const next = await json(
        await h.app.request(`/v1/edits/${id}/events?after=${seq}&limit=2`, { headers: h.keyA }),
      );
      assert.deepEqual((next.data as { type: string }[]).map((e) => e.type), ["progress"]);
      assert.equal(next.has_more, false);
      await problem(
        await h.app.request(`/v1/edits/${id}/events?limit=1001`, { headers: h.keyA }),
        422,
        "validation-error",
      );
    });

    const patch = new Uint8Array(1000).map((_, i) => i % 251);
    const report = new TextEncoder().encode(JSON.stringify({ ok: true }));
    const result: EditResult = {
      layers: [{
        layer: 0,
        singular_values: [3, 1],
        explained_variance: [0.9],
        top_tokens: [[{ token: "rude", score: 0.5 }]],
      }],
      num_pairs: 8,
    };

    await t.step("SSE streams every event, then ends after the terminal one", async () => {
      const streamed = h.app.request(`/v1/edits/${id}/events`, {
        headers: { ...h.keyA, Accept: "text/event-stream", "Last-Event-ID": "0" },
      });
      const response = await streamed;
      assert.equal(response.status, 200);
      assert.match(response.headers.get("Content-Type") ?? "", /^text\/event-stream/);
      const reading = readSse(response);
      const keys = [];
      for (const [name, bytes] of [["patch.safetensors", patch], ["report.json", report]] as const) {
        const info = await h.blobs.put(`edits/${id}/${name}`, bytes);
        keys.push({ name, blobKey: info.key, size: info.size, sha256: info.sha256 });
      }
      assert.ok(await queue.complete(db, claim.lease, { result, artifacts: keys }));
      const events = await reading;
      assert.deepEqual(events.map((e) => e.event), ["queued", "started", "progress", "succeeded"]);
      assert.deepEqual(events.map((e) => Number(e.id)), events.map((e) => e.data.seq));
      assert.ok(events.every((e, i) => i === 0 || Number(e.id) > Number(events[i - 1].id)));
      const resumed = await readSse(
        await h.app.request(`/v1/edits/${id}/events`, {
          headers: { ...h.keyA, Accept: "text/event-stream", "Last-Event-ID": events[2].id },
        }),
      );
      assert.deepEqual(resumed.map((e) => e.event), ["succeeded"]);
    });

    await t.step("GET → succeeded with result, timings and artifact links", async () => {
      const edit = await json(await h.app.request(`/v1/edits/${id}`, { headers: h.keyA }));
      assert.equal(edit.status, "succeeded");
      assert.deepEqual(edit.result, result);
      assert.ok(edit.finished_at);
      assert.deepEqual((edit.artifacts as { name: string; url: string }[]).map((a) => [a.name, a.url]), [
        ["patch.safetensors", `/v1/edits/${id}/artifacts/patch.safetensors`],
        ["report.json", `/v1/edits/${id}/artifacts/report.json`],
      ]);
    });

    await t.step("artifact downloads: Content-Length, ETag, Range, If-None-Match, 416", async () => {
      const url = `/v1/edits/${id}/artifacts/patch.safetensors`;
      const etag = `"${createHash("sha256").update(patch).digest("hex")}"`;
      const full = await h.app.request(url, { headers: h.keyA });
      assert.equal(full.status, 200);
      assert.equal(full.headers.get("Content-Length"), "1000");
      assert.equal(full.headers.get("ETag"), etag);
      assert.equal(full.headers.get("Accept-Ranges"), "bytes");
      assert.deepEqual(new Uint8Array(await full.arrayBuffer()), patch);

      const cases: [string, number, number][] = [["bytes=0-9", 0, 9], ["bytes=990-", 990, 999], [
        "bytes=-5",
        995,
        999,
      ], ["bytes=500-5000", 500, 999]];
      for (const [range, start, end] of cases) {
        const part = await h.app.request(url, { headers: { ...h.keyA, Range: range } });
        assert.equal(part.status, 206, range);
        assert.equal(part.headers.get("Content-Range"), `bytes ${start}-${end}/1000`);
        assert.equal(part.headers.get("Content-Length"), String(end - start + 1));
        assert.deepEqual(new Uint8Array(await part.arrayBuffer()), patch.subarray(start, end + 1), range);
      }
      const stale = await h.app.request(url, {
        headers: { ...h.keyA, Range: "bytes=0-9", "If-Range": '"other"' },
      });
      assert.equal(stale.status, 200, "If-Range with another ETag sends the whole file");
      await stale.body?.cancel();
      const head = await h.app.request(url, { method: "HEAD", headers: h.keyA });
      assert.equal(head.status, 200);
      assert.equal(head.headers.get("Content-Length"), "1000");
      assert.equal((await head.arrayBuffer()).byteLength, 0, "HEAD has no body");
      const cached = await h.app.request(url, { headers: { ...h.keyA, "If-None-Match": etag } });
      assert.equal(cached.status, 304);
      const outside = await h.app.request(url, { headers: { ...h.keyA, Range: "bytes=1000-" } });
      await problem(outside, 416, "range-not-satisfiable");
      assert.equal(outside.headers.get("Content-Range"), "bytes */1000");
      await problem(
        await h.app.request(`/v1/edits/${id}/artifacts/nope.bin`, { headers: h.keyA }),
        404,
        "not-found",
      );
    });

    await t.step("another tenant's key gets 404 on every edit route", async () => {
      for (
        const [method, path] of [
          ["GET", `/v1/edits/${id}`],
          ["POST", `/v1/edits/${id}/cancel`],
          ["GET", `/v1/edits/${id}/events`],
          ["GET", `/v1/edits/${id}/artifacts/patch.safetensors`],
        ]
      ) {
        await problem(await h.app.request(path, { method, headers: h.keyB }), 404, "not-found");
      }
      assert.deepEqual((await json(await h.app.request("/v1/edits", { headers: h.keyB }))).data, []);
    });
  });
});

Deno.test("edits: cancel, list with a cursor, in-use models and datasets, metrics", async (t) => {
  await withEdits(async (f) => {
    const { h, queue, db, modelId, datasetId, create } = f;
    // One succeeded edit, as a worker would finish it.
    const { id, claim } = await claimedEdit(f);
    assert.ok(await queue.complete(db, claim.lease, { result: { layers: [], num_pairs: 8 } }));

    await t.step("cancel: queued → canceled at once; running → requested; finished → 409", async () => {
      const queued = String((await json(await post(h, "/v1/edits", create))).id);
      const canceled = await json(await post(h, `/v1/edits/${queued}/cancel`, ""));
      assert.equal(canceled.status, "canceled");
      assert.equal(canceled.cancel_requested, true);

      const running = String((await json(await post(h, "/v1/edits", create))).id);
      const c2 = (await queue.claim(db, { owner: "w", leaseMs: 60_000 }))!;
      assert.equal(c2.job.id, running);
      const requested = await json(await post(h, `/v1/edits/${running}/cancel`, ""));
      assert.equal(requested.status, "running");
      assert.equal(requested.cancel_requested, true);
      const beat = await queue.heartbeat(db, c2.lease, { leaseMs: 60_000 });
      assert.ok(beat.ok && beat.cancelRequested, "the worker sees it at its next heartbeat");

      await problem(await post(h, `/v1/edits/${id}/cancel`, ""), 409, "conflict");
    });

    await t.step("list filters by status and pages with a cursor", async () => {
      const all = await json(await h.app.request("/v1/edits?limit=2", { headers: h.keyA }));
      assert.equal((all.data as unknown[]).length, 2);
      const rest = await json(
        await h.app.request(`/v1/edits?limit=2&cursor=${all.next_cursor}`, { headers: h.keyA }),
      );
      assert.deepEqual((rest.data as { id: string }[]).map((e) => e.id), [id]);
      const succeeded = await json(await h.app.request("/v1/edits?status=succeeded", { headers: h.keyA }));
      assert.deepEqual((succeeded.data as { id: string }[]).map((e) => e.id), [id]);
      await problem(
        await h.app.request("/v1/edits?status=done", { headers: h.keyA }),
        422,
        "validation-error",
      );
    });

    await t.step("a model or dataset a running job uses cannot be deleted → 409", async () => {
      await problem(
        await h.app.request(`/v1/models/${modelId}`, { method: "DELETE", headers: h.keyA }),
        409,
        "conflict",
      );
      await problem(
        await h.app.request(`/v1/datasets/${datasetId}`, { method: "DELETE", headers: h.keyA }),
        409,
        "conflict",
      );
      assert.equal((await h.app.request(`/v1/models/${modelId}`, { headers: h.keyA })).status, 200);
    });

    await t.step("metrics count jobs by state", async () => {
      const text = await (await h.app.request("/metrics")).text();
      assert.match(text, /profs_jobs\{kind="edit",status="succeeded"\} 1\n/);
      assert.match(text, /profs_jobs\{kind="edit",status="canceled"\} 1\n/);
      assert.match(text, /profs_job_duration_seconds_count\{kind="edit",status="succeeded"\} 1\n/);
    });
  });
});

Deno.test("edits: GETs asked together (one read per tenant and batch) each get their own edit, or 404", async () => {
  const h = await createHarness();
  const queue = createJobQueue({ onFinish: notifyJobFinished });
  const { db } = h.database;
  try {
    const enqueue = async (tenantId: string, kind: "edit" | "check" = "edit") =>
      (await queue.enqueue(db, { tenantId, kind, params: {} })).id;
    const mine = [await enqueue(h.tenantA), await enqueue(h.tenantA), await enqueue(h.tenantA)];
    const theirs = await enqueue(h.tenantB);
    const check = await enqueue(h.tenantA, "check");
    const get = (edit: string, headers: Record<string, string>) =>
      h.app.request(`/v1/edits/${edit}`, { headers });
    const [own, upper, crossed, theirsToB, theirsToA, notAnEdit] = await Promise.all([
      Promise.all(mine.map((edit) => get(edit, h.keyA))),
      get(mine[1].toUpperCase(), h.keyA),
      Promise.all(mine.map((edit) => get(edit, h.keyB))),
      get(theirs, h.keyB),
      get(theirs, h.keyA),
      get(check, h.keyA),
    ]);
    assert.deepEqual(await Promise.all(own.map(async (r) => (await json(r)).id)), mine);
    assert.equal((await json(upper)).id, mine[1]);
    for (const response of crossed) await problem(response, 404, "not-found");
    assert.equal((await json(theirsToB)).id, theirs);
    await problem(theirsToA, 404, "not-found");
    await problem(notAnEdit, 404, "not-found");
  } finally {
    await h.close();
  }
});

Deno.test("edits: an Idempotency-Key is the tenant's own: another tenant's same key makes its own job", async () => {
  const h = await createHarness();
  try {
    const a = await setup(h);
    const b = await setup(h, h.keyB);
    const key = { "Idempotency-Key": "nightly-1" };
    const first = await post(h, "/v1/edits", { model_id: a.modelId, dataset_id: a.datasetId }, key);
    assert.equal(first.status, 201);
    const theirs = await post(h, "/v1/edits", { model_id: b.modelId, dataset_id: b.datasetId }, {
      ...h.keyB,
      ...key,
    });
    assert.equal(theirs.status, 201, "not a replay of A's job, and not a conflict with it");
    const [jobA, jobB] = [await json(first), await json(theirs)];
    assert.notEqual(jobA.id, jobB.id);
    assert.equal(jobB.model_id, b.modelId);
    const replay = await post(h, "/v1/edits", { model_id: b.modelId, dataset_id: b.datasetId }, {
      ...h.keyB,
      ...key,
    });
    assert.equal(replay.status, 200);
    assert.equal((await json(replay)).id, jobB.id, "B's replay finds B's job");
  } finally {
    await h.close();
  }
});

Deno.test("edits: precomputed embeddings must come from the model: L, D and hash checked at submit", async (t) => {
  const h = await createHarness();
  try {
    const { modelId } = await setup(h);
    const model = await json(await h.app.request(`/v1/models/${modelId}`, { headers: h.keyA }));
    const summary = model.summary as { num_layers: number; hidden_size: number; sha256: string };
    const embeddings = async (layers: number, hidden: number, sha256: string) => {
      const tensor = (name: string) => ({
        name,
        dtype: "F32" as const,
        shape: [layers, 4, hidden],
        data: f32(Array.from({ length: layers * 4 * hidden }, (_, i) => Math.sin(i))),
      });
      const bytes = safetensorsBytes([tensor("preferred"), tensor("rejected")], { model_sha256: sha256 });
      const response = await h.app.request("/v1/datasets?name=emb&kind=embeddings", {
        method: "POST",
        headers: h.keyA,
        body: bytes,
      });
      assert.equal(response.status, 201);
      return String((await json(response)).id);
    };
    const submit = (datasetId: string) => post(h, "/v1/edits", { model_id: modelId, dataset_id: datasetId });
    const { num_layers: L, hidden_size: D, sha256 } = summary;

    await t.step("embeddings of this model → 201 queued", async () => {
      const response = await submit(await embeddings(L, D, sha256));
      assert.equal(response.status, 201);
      assert.equal((await json(response)).status, "queued");
    });
    for (
      const [what, layers, hidden, hash, reason] of [
        ["another layer count", L + 1, D, sha256, `as the model's: it is ${L + 1} × ${D}`],
        ["another hidden size", L, D + 2, sha256, `as the model's: it is ${L} × ${D + 2}`],
        ["another model's hash", L, D, "cd".repeat(32), `current value is ${"cd".repeat(32)}`],
      ] as const
    ) {
      await t.step(`${what} → 422 naming dataset_id and the reason; no job`, async () => {
        const before = (await json(await h.app.request("/v1/edits", { headers: h.keyA }))).data as unknown[];
        const body = await problem(
          await submit(await embeddings(layers, hidden, hash)),
          422,
          "validation-error",
        );
        assert.ok(String(body.detail).includes(reason), String(body.detail));
        assert.deepEqual((body.errors as { path: string }[]).map((e) => e.path), ["dataset_id"]);
        const after = (await json(await h.app.request("/v1/edits", { headers: h.keyA }))).data as unknown[];
        assert.equal(after.length, before.length);
      });
    }

    await t.step(
      "a trigger fired with misfit embeddings → the same 422 as POST /v1/edits; no job",
      async () => {
        const misfit = await embeddings(L, D + 2, sha256);
        const expected = await problem(await submit(misfit), 422, "validation-error");
        const trigger = await json(
          await post(h, "/v1/triggers", { name: "t", template: { model_id: modelId, dataset_id: misfit } }),
        ) as { id: string; secret: string };
        const before = (await json(await h.app.request("/v1/edits", { headers: h.keyA }))).data as unknown[];
        const body = "{}";
        const signed = await signWebhook({ id: generateMessageId(), timestamp: new Date(), body }, [
          trigger.secret,
        ]);
        const fired = await problem(
          await h.app.request(`/v1/triggers/${trigger.id}/fire`, {
            method: "POST",
            headers: { ...signed },
            body,
          }),
          422,
          "validation-error",
        );
        assert.deepEqual([fired.detail, fired.errors], [expected.detail, expected.errors]);
        const after = (await json(await h.app.request("/v1/edits", { headers: h.keyA }))).data as unknown[];
        assert.equal(after.length, before.length);
      },
    );
  } finally {
    await h.close();
  }
});
