/**
 * The program tests/api/generated_client_test.ts writes beside a client generated from /openapi.json, type-checks
 * with `deno check` and then runs: the whole lifecycle as an outside user codes it against the generated types
 * (openapi-fetch), with nothing but the document to go by. It is text here because its types exist only once the
 * document has been generated; `deno check` on the written file is what makes a compile error fail the test.
 *
 * What it drives: health, readiness and metrics; a key minted for the run (and revoked at the end); a model
 * uploaded file by file and finalized; preference pairs and prompts uploaded; a webhook endpoint; an edit (and
 * its idempotent replay) followed over Server-Sent Events to the end, again from Last-Event-ID, and as JSON
 * after a seq; its artifacts downloaded whole, by range (206, 416) and conditionally (304); a check of the edit;
 * synchronous toxicity scores; a trigger fired with a Standard Webhooks signature (and replayed), its edit
 * canceled; the delivery log, a replay, the secret rotated, the endpoint re-enabled; the problems a client meets
 * (404, 422, 401); and every delete.
 */
export const LIFECYCLE_PROGRAM = `
import assert from "node:assert/strict";
import createClient from "openapi-fetch";
import { Webhook } from "standardwebhooks";
import type { components, paths } from "./schema.d.ts";

export interface Inputs {
  baseUrl: string;
  /** an API key with every scope */
  key: string;
  fetch: (request: Request) => Promise<Response>;
  modelFiles: { name: string; bytes: Uint8Array<ArrayBuffer> }[];
  pairs: string;
  prompts: string;
  /** the body of the README.md among modelFiles (whose front matter names acme/tiny-gpt2, licence mit) */
  baseCardBody: string;
  /** where the webhook receiver listens */
  receiverUrl: string;
  /** the requests the receiver got so far */
  received: () => { headers: Headers; body: string }[];
  waitFor: <T>(probe: () => Promise<T | false | undefined>, what: string) => Promise<T>;
}

type Edit = components["schemas"]["Edit"];
type Check = components["schemas"]["Check"];
const TERMINAL = ["succeeded", "failed", "canceled"];
/** Bytes go out as they are (openapi-fetch serializes JSON otherwise). */
const asIs = (body: unknown) => body as BodyInit;

async function sha256(bytes: ArrayBuffer): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

function sseEvents(text: string): { id: number; event: string; data: { seq: number; type: string } }[] {
  return text.split("\\n\\n").filter((block) => block.includes("data:")).map((block) => {
    const field = (name: string) =>
      block.split("\\n").find((line) => line.startsWith(name + ":"))?.slice(name.length + 1).trim() ?? "";
    return { id: Number(field("id")), event: field("event"), data: JSON.parse(field("data")) };
  });
}

export async function lifecycle(inputs: Inputs): Promise<void> {
  const as = (key?: string) =>
    createClient<paths>({
      baseUrl: inputs.baseUrl,
      headers: key ? { Authorization: \`Bearer \${key}\` } : {},
      fetch: inputs.fetch,
    });

  // The operational routes need no key.
  const anonymous = as();
  const health = await anonymous.GET("/healthz");
  assert.equal(health.data?.status, "ok");
  const ready = await anonymous.GET("/readyz");
  assert.equal(ready.data?.status, "ready");
  const metrics = await anonymous.GET("/metrics", { parseAs: "text" });
  assert.match(metrics.data ?? "", /^# TYPE /m);
  const noKey = await anonymous.GET("/v1/edits");
  assert.equal(noKey.response.status, 401);
  assert.match(noKey.response.headers.get("WWW-Authenticate") ?? "", /^Bearer/);

  // A key of its own, for this program.
  const minted = await as(inputs.key).POST("/v1/keys", { body: { name: "lifecycle" } });
  assert.ok(minted.data, JSON.stringify(minted.error));
  const keyId = minted.data.id;
  const client = as(minted.data.key);
  const keys = await client.GET("/v1/keys");
  assert.ok(keys.data?.data.some((k) => k.id === keyId));

  // A model: created, its files PUT, finalized.
  const model = await client.POST("/v1/models", { body: { name: "tiny" } });
  assert.ok(model.data, JSON.stringify(model.error));
  const model_id = model.data.id;
  for (const file of inputs.modelFiles) {
    const put = await client.PUT("/v1/models/{id}/files/{filename}", {
      params: { path: { id: model_id, filename: file.name } },
      body: new Blob([file.bytes]),
      bodySerializer: asIs,
      headers: { "Content-Type": "application/octet-stream" },
    });
    assert.equal(put.response.status, 201, JSON.stringify(put.error));
    assert.equal(put.data?.size, file.bytes.byteLength);
  }
  const finalized = await client.POST("/v1/models/{id}/finalize", { params: { path: { id: model_id } } });
  assert.equal(finalized.data?.status, "ready", JSON.stringify(finalized.error));
  assert.ok((await client.GET("/v1/models")).data?.data.some((m) => m.id === model_id));
  assert.equal((await client.GET("/v1/models/{id}", { params: { path: { id: model_id } } })).data?.id, model_id);

  // Preference pairs, and prompts for the check.
  const upload = async (name: string, kind: "pairs" | "texts", text: string) => {
    const created = await client.POST("/v1/datasets", {
      params: { query: { name, kind } },
      body: text,
      bodySerializer: asIs,
      headers: { "Content-Type": "application/x-ndjson" },
    });
    assert.ok(created.data, JSON.stringify(created.error));
    assert.equal(created.data.kind, kind);
    return created.data.id;
  };
  const dataset_id = await upload("pairs", "pairs", inputs.pairs);
  const prompts_id = await upload("prompts", "texts", inputs.prompts);
  assert.equal((await client.GET("/v1/datasets")).data?.data.length, 2);
  assert.equal(
    (await client.GET("/v1/datasets/{id}", { params: { path: { id: dataset_id } } })).data?.rows,
    inputs.pairs.trim().split("\\n").length,
  );

  // Every event type, to the receiver.
  const endpoint = await client.POST("/v1/webhook-endpoints", {
    body: {
      url: inputs.receiverUrl + "/hooks",
      events: ["edit.succeeded", "edit.failed", "edit.canceled", "check.completed"],
    },
  });
  assert.ok(endpoint.data, JSON.stringify(endpoint.error));
  const endpointId = endpoint.data.id;
  let secret = endpoint.data.secret;

  // An edit with only the rank and layers given; the same Idempotency-Key again is the same edit.
  const body = { model_id, dataset_id, params: { rank: 2, layers: { from: 0, to: 2 }, max_tokens: 16 } };
  const created = await client.POST("/v1/edits", { body, params: { header: { "idempotency-key": "run-1" } } });
  assert.equal(created.response.status, 201, JSON.stringify(created.error));
  assert.ok(created.data);
  const rank: number = created.data.params.rank;
  assert.equal(rank, 2);
  assert.equal(created.data.params.max_pairs, 500, "defaults applied in the answer");
  const id = created.data.id;
  const again = await client.POST("/v1/edits", { body, params: { header: { "idempotency-key": "run-1" } } });
  assert.equal(again.response.status, 200);
  assert.equal(again.response.headers.get("Idempotent-Replayed"), "true");
  assert.equal(again.data?.id, id);

  // Followed over SSE until the terminal event; the stream ends with the job.
  const path = { path: { id } };
  const stream = await client.GET("/v1/edits/{id}/events", {
    params: path,
    parseAs: "text",
    headers: { Accept: "text/event-stream" },
  });
  assert.equal(stream.response.headers.get("Content-Type")?.split(";")[0], "text/event-stream");
  const sse = sseEvents(stream.data ?? "");
  assert.deepEqual([sse[0].event, sse.at(-1)?.event], ["queued", "succeeded"]);
  assert.ok(sse.every((e) => e.id === e.data.seq && e.event === e.data.type));
  // Reconnecting with Last-Event-ID sends only what came after.
  const resumed = await client.GET("/v1/edits/{id}/events", {
    params: { ...path, header: { "Last-Event-ID": String(sse[1].id) } },
    parseAs: "text",
    headers: { Accept: "text/event-stream" },
  });
  assert.deepEqual(sseEvents(resumed.data ?? "").map((e) => e.id), sse.slice(2).map((e) => e.id));
  // As JSON after a seq (the answer is JSON or SSE by Accept: the types hold both).
  const after = await client.GET("/v1/edits/{id}/events", {
    params: { ...path, query: { after: sse[1].id } },
    headers: { Accept: "application/json" },
  });
  assert.ok(typeof after.data === "object");
  assert.deepEqual(after.data.data.map((e) => e.seq), sse.slice(2).map((e) => e.id));
  const badAfter = await client.GET("/v1/edits/{id}/events", {
    params: { ...path, query: { after: -1 } },
    headers: { Accept: "application/json" },
  });
  assert.equal(badAfter.response.status, 422);

  const done = await client.GET("/v1/edits/{id}", { params: path });
  assert.equal(done.data?.status, "succeeded", JSON.stringify(done.data?.error));
  const edit: Edit = done.data!;
  assert.ok((await client.GET("/v1/edits", { params: { query: { status: "succeeded" } } })).data?.data
    .some((e) => e.id === id));

  // Artifacts: whole (sha256 as listed), a range, a range past the end, and conditionally.
  for (const artifact of edit.artifacts) {
    const params = { path: { id, name: artifact.name } };
    const whole = await client.GET("/v1/edits/{id}/artifacts/{name}", { params, parseAs: "arrayBuffer" });
    assert.equal(whole.response.status, 200, artifact.name);
    assert.equal(await sha256(whole.data!), artifact.sha256, artifact.name);
    const etag = whole.response.headers.get("ETag")!;
    assert.equal(etag, \`"\${artifact.sha256}"\`);
    const part = await client.GET("/v1/edits/{id}/artifacts/{name}", {
      params: { ...params, header: { Range: "bytes=0-9" } },
      parseAs: "arrayBuffer",
    });
    assert.equal(part.response.status, 206);
    assert.equal(part.response.headers.get("Content-Range"), \`bytes 0-9/\${artifact.size}\`);
    assert.deepEqual(new Uint8Array(part.data!), new Uint8Array(whole.data!).slice(0, 10));
    const past = await client.GET("/v1/edits/{id}/artifacts/{name}", {
      params: { ...params, header: { Range: \`bytes=\${artifact.size}-\` } },
    });
    assert.equal(past.response.status, 416);
    const unchanged = await client.GET("/v1/edits/{id}/artifacts/{name}", {
      params: { ...params, header: { "If-None-Match": etag } },
    });
    assert.equal(unchanged.response.status, 304);
    const stale = await client.GET("/v1/edits/{id}/artifacts/{name}", {
      params: { ...params, header: { Range: "bytes=0-9", "If-Range": '"0"' } },
      parseAs: "arrayBuffer",
    });
    assert.equal(stale.response.status, 200, "a stale If-Range gets the whole file");
  }
  const lora = edit.artifacts.find((a) => a.name === "lora.tar");
  assert.ok(lora, "the LoRA adapter is an artifact");
  // The model card, pushed to a hub as it is, shows the base model and its licence, and keeps the base's card.
  const card = await client.GET("/v1/edits/{id}/artifacts/{name}", {
    params: { path: { id, name: "README.md" } },
    parseAs: "text",
  });
  const front = /^---\\n([\\s\\S]*?)\\n---\\n/.exec(card.data ?? "")?.[1] ?? "";
  assert.match(front, /^base_model: "?acme\\/tiny-gpt2"?$/m);
  assert.match(front, /^base_model_relation: finetune$/m);
  assert.match(front, /^license: "?mit"?$/m);
  assert.match(front, /^library_name: transformers$/m);
  assert.match(front, /^pipeline_tag: text-generation$/m);
  assert.ok(card.data?.endsWith(inputs.baseCardBody), "the base card's body follows profs' section");

  // A check of the edit, with the uploaded prompts; while it runs, a trigger fires a second edit, canceled
  // while it waits (the worker claims jobs oldest first, one at a time).
  const trigger = await client.POST("/v1/triggers", {
    body: { name: "nightly", template: { model_id, dataset_id, params: { rank: 1 } } },
  });
  assert.ok(trigger.data, JSON.stringify(trigger.error));
  const check = await client.POST("/v1/checks", {
    body: { edit_id: id, params: { max_new_tokens: 2, max_tokens: 16, challenge_dataset_id: prompts_id } },
  });
  assert.equal(check.response.status, 201, JSON.stringify(check.error));
  const checkId = check.data!.id;
  const fire = (messageId: string) => {
    const payload = JSON.stringify({ params: { max_tokens: 8 } });
    const timestamp = new Date();
    return anonymous.POST("/v1/triggers/{id}/fire", {
      params: {
        path: { id: trigger.data!.id },
        header: {
          "webhook-id": messageId,
          "webhook-timestamp": String(Math.floor(timestamp.getTime() / 1000)),
          "webhook-signature": new Webhook(trigger.data!.secret).sign(messageId, timestamp, payload),
        },
      },
      body: { params: { max_tokens: 8 } },
    });
  };
  const fired = await fire("msg_1");
  assert.equal(fired.response.status, 202, JSON.stringify(fired.error));
  assert.equal(fired.data?.replayed, false);
  const canceled = await client.POST("/v1/edits/{id}/cancel", {
    params: { path: { id: fired.data!.edit_id } },
  });
  assert.equal(canceled.data?.status, "canceled", JSON.stringify(canceled.data ?? canceled.error));
  const replayed = await fire("msg_1");
  assert.deepEqual(
    [replayed.data?.replayed, replayed.data?.edit_id, replayed.data?.status],
    [true, fired.data?.edit_id, "canceled"],
  );
  const finished = await client.POST("/v1/edits/{id}/cancel", { params: { path: { id } } });
  assert.equal(finished.response.status, 409, "a succeeded edit has nothing to cancel");
  assert.ok((await client.GET("/v1/triggers")).data?.data.some((t) => t.id === trigger.data!.id));
  const firedOnce = await client.GET("/v1/triggers/{id}", { params: { path: { id: trigger.data!.id } } });
  assert.ok(firedOnce.data?.last_fired_at);

  const checked: Check = await inputs.waitFor(async () => {
    const got = await client.GET("/v1/checks/{id}", { params: { path: { id: checkId } } });
    return TERMINAL.includes(got.data?.status ?? "") && got.data;
  }, "the check finishing");
  assert.equal(checked.status, "succeeded", JSON.stringify(checked.error));
  assert.ok((await client.GET("/v1/checks")).data?.data.some((c) => c.id === checkId));
  for (const artifact of checked.artifacts) {
    const got = await client.GET("/v1/checks/{id}/artifacts/{name}", {
      params: { path: { id: checkId, name: artifact.name } },
      parseAs: "arrayBuffer",
    });
    assert.equal(await sha256(got.data!), artifact.sha256, artifact.name);
  }

  const scores = await client.POST("/v1/toxicity", { body: { texts: ["have a nice day", "you bastard"] } });
  assert.deepEqual(scores.data?.results.map((r) => r.toxic), [false, true]);

  // The receiver got each event, signed with the endpoint's secret.
  const wanted = ["edit.succeeded", "edit.canceled", "check.completed"];
  const received = await inputs.waitFor(async () => {
    const got = inputs.received();
    const types = got.map((r) => JSON.parse(r.body).type);
    return wanted.every((t) => types.includes(t)) && got;
  }, "the webhooks arriving");
  for (const request of received) {
    new Webhook(secret).verify(request.body, Object.fromEntries(request.headers));
  }
  const deliveries = await client.GET("/v1/webhook-endpoints/{id}/deliveries", {
    params: { path: { id: endpointId } },
  });
  assert.ok((deliveries.data?.data.length ?? 0) >= wanted.length);
  const replay = await client.POST("/v1/webhook-endpoints/{id}/deliveries/{delivery_id}/replay", {
    params: { path: { id: endpointId, delivery_id: deliveries.data!.data[0].id } },
  });
  assert.equal(replay.response.status, 202);
  const rotated = await client.POST("/v1/webhook-endpoints/{id}/rotate-secret", {
    params: { path: { id: endpointId } },
  });
  assert.notEqual(rotated.data?.secret, secret);
  secret = rotated.data!.secret;
  const enabled = await client.POST("/v1/webhook-endpoints/{id}/enable", { params: { path: { id: endpointId } } });
  assert.equal(enabled.data?.disabled, false);
  assert.equal((await client.GET("/v1/webhook-endpoints")).data?.data.length, 1);
  assert.equal(
    (await client.GET("/v1/webhook-endpoints/{id}", { params: { path: { id: endpointId } } })).data?.id,
    endpointId,
  );

  const missing = await client.GET("/v1/edits/{id}", { params: { path: { id: "nope" } } });
  assert.equal(missing.response.status, 404);
  assert.equal(missing.error?.status, 404);

  // Deletes, each then a 404.
  const gone = async (status: number | undefined, get: () => Promise<{ response: Response }>) => {
    assert.equal(status, 204);
    assert.equal((await get()).response.status, 404);
  };
  const triggerPath = { params: { path: { id: trigger.data!.id } } };
  await gone((await client.DELETE("/v1/triggers/{id}", triggerPath)).response.status, () =>
    client.GET("/v1/triggers/{id}", triggerPath));
  const endpointPath = { params: { path: { id: endpointId } } };
  await gone((await client.DELETE("/v1/webhook-endpoints/{id}", endpointPath)).response.status, () =>
    client.GET("/v1/webhook-endpoints/{id}", endpointPath));
  for (const dataset of [dataset_id, prompts_id]) {
    const datasetPath = { params: { path: { id: dataset } } };
    await gone((await client.DELETE("/v1/datasets/{id}", datasetPath)).response.status, () =>
      client.GET("/v1/datasets/{id}", datasetPath));
  }
  const modelPath = { params: { path: { id: model_id } } };
  await gone((await client.DELETE("/v1/models/{id}", modelPath)).response.status, () =>
    client.GET("/v1/models/{id}", modelPath));

  // The key revoked, it no longer opens anything.
  const revoked = await as(inputs.key).DELETE("/v1/keys/{id}", { params: { path: { id: keyId } } });
  assert.ok(revoked.data?.revoked_at);
  assert.equal((await client.GET("/v1/edits")).response.status, 401);
}
`;
