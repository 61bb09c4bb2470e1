import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createHarness, type Harness, json, storedKeys } from "./harness.ts";
import { f32, pairsJsonl, safetensorsBytes, streamOf } from "./fixtures.ts";
import { noPostgres, testDatabaseUrl } from "../helpers/env.ts";

function upload(h: Harness, query: string, body: BodyInit, headers: Record<string, string> = {}) {
  return h.app.request(`/v1/datasets?${query}`, {
    method: "POST",
    body,
    headers: { ...h.keyA, ...headers },
    // deno-lint-ignore no-explicit-any
    ...({ duplex: "half" } as any),
  });
}

async function problem(response: Response, status: number, type: string) {
  const body = await json(response);
  assert.equal(response.status, status, JSON.stringify(body));
  assert.equal(response.headers.get("Content-Type"), "application/problem+json");
  assert.equal(body.type, `/docs#problem-${type}`);
  return body;
}

const encoder = new TextEncoder();
const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

const targets = [
  { db: "PGlite", url: undefined, ignore: false },
  { db: "Postgres", url: testDatabaseUrl, ignore: noPostgres() },
];
for (const target of targets) {
  Deno.test({
    name: `datasets (${target.db}): JSONL uploads, bad input stores nothing, tenancy, delete`,
    ignore: target.ignore,
    fn: async (t) => {
      const good = encoder.encode(pairsJsonl(5));
      const h = await createHarness({ config: { maxPairsBytes: good.byteLength }, url: target.url });
      try {
        let id = "";

        await t.step("JSONL pairs streamed → 201 with rows, detected format and sha256", async () => {
          const response = await upload(h, "name=pairs", streamOf(good, 10), {
            "Content-Type": "application/x-ndjson",
          });
          assert.equal(response.status, 201);
          const body = await json(response);
          id = String(body.id);
          assert.equal(body.rows, 5);
          assert.equal(body.format, "preferred-rejected");
          assert.equal(body.sha256, sha256(good));
          assert.equal(body.size, good.byteLength);
          assert.equal(body.kind, "pairs");
        });

        await t.step("each preference shape is detected", async () => {
          const shapes: [string, unknown][] = [
            ["trl", { prompt: "Say: ", chosen: "hi", rejected: "ugh" }],
            ["openai", {
              input: { messages: [{ role: "user", content: "hey" }] },
              preferred_output: [{ role: "assistant", content: "hello" }],
              non_preferred_output: [{ role: "assistant", content: "go away" }],
            }],
            ["paper", { unpert_gen_text: "nice", pert_gen_text: "mean" }],
          ];
          for (const [format, line] of shapes) {
            const response = await upload(h, `name=${format}`, JSON.stringify(line) + "\n");
            assert.equal(response.status, 201, format);
            assert.equal((await json(response)).format, format);
          }
        });

        await t.step("bad lines → 422 naming each of them, nothing stored", async () => {
          const before = await storedKeys(h);
          const text = [
            JSON.stringify({ preferred: "a", rejected: "b" }),
            "{not json",
            JSON.stringify({ preferred: "a", rejected: "b" }),
            JSON.stringify({ chosen: "a", rejected: "b" }),
            JSON.stringify({ preferred: "", rejected: "b" }),
          ].join("\n");
          const body = await problem(
            await upload(h, "name=bad", streamOf(encoder.encode(text), 7)),
            422,
            "invalid-dataset",
          );
          const errors = body.errors as { path: string; message: string }[];
          assert.deepEqual(errors.map((e) => e.path), ["line 2", "line 4", "line 5"]);
          assert.match(errors[1].message, /same shape as line 1/);
          assert.deepEqual(await storedKeys(h), before);
          const list = await json(await h.app.request("/v1/datasets?limit=100", { headers: h.keyA }));
          assert.equal((list.data as { name: string }[]).some((d) => d.name === "bad"), false);
          assert.equal((await h.app.request("/healthz")).status, 200);
        });

        await t.step("empty body, non-UTF-8 bytes, a missing name → 422", async () => {
          await problem(await upload(h, "name=empty", ""), 422, "invalid-dataset");
          await problem(
            await upload(h, "name=latin1", new Uint8Array([0x7b, 0xff, 0xfe, 0x7d, 0x0a])),
            422,
            "invalid-dataset",
          );
          await problem(await upload(h, "", good), 422, "validation-error");
          await problem(await upload(h, "name=x&kind=images", good), 422, "validation-error");
        });

        await t.step("exactly at the size cap is accepted; one byte over → 413, nothing stored", async () => {
          assert.equal(
            (await upload(h, "name=cap", good, { "Content-Length": String(good.byteLength) })).status,
            201,
          );
          const before = await storedKeys(h);
          const over = encoder.encode(pairsJsonl(5) + " ");
          await problem(
            await upload(h, "name=over", over, { "Content-Length": String(over.byteLength) }),
            413,
            "payload-too-large",
          );
          await problem(await upload(h, "name=over", streamOf(over, 16)), 413, "payload-too-large");
          assert.deepEqual(await storedKeys(h), before);
        });

        await t.step("another tenant's key gets 404 on get and delete and sees an empty list", async () => {
          await problem(await h.app.request(`/v1/datasets/${id}`, { headers: h.keyB }), 404, "not-found");
          await problem(
            await h.app.request(`/v1/datasets/${id}`, { method: "DELETE", headers: h.keyB }),
            404,
            "not-found",
          );
          assert.deepEqual((await json(await h.app.request("/v1/datasets", { headers: h.keyB }))).data, []);
          assert.equal((await h.app.request(`/v1/datasets/${id}`, { headers: h.keyA })).status, 200);
        });

        await t.step("delete removes the row and the blob", async () => {
          const before = (await storedKeys(h)).length;
          assert.equal(
            (await h.app.request(`/v1/datasets/${id}`, { method: "DELETE", headers: h.keyA })).status,
            204,
          );
          assert.equal((await h.app.request(`/v1/datasets/${id}`, { headers: h.keyA })).status, 404);
          assert.equal((await storedKeys(h)).length, before - 1);
        });
      } finally {
        await h.close();
      }
    },
  });
}

Deno.test("datasets: precomputed embeddings are a dataset; wrong tensors are refused", async (t) => {
  const L = 2, N = 3, D = 4;
  const tensor = (name: string, dtype: "F32" | "F16" = "F32", shape = [L, N, D]) => ({
    name,
    dtype,
    shape,
    data: dtype === "F32"
      ? f32(Array.from({ length: shape.reduce((a, b) => a * b) }, (_, i) => i))
      : new Uint8Array(shape.reduce((a, b) => a * b) * 2),
  });
  const bytes = safetensorsBytes([tensor("preferred"), tensor("rejected")], {
    model_sha256: "ab".repeat(32),
    pooling: "mean",
    max_tokens: "128",
  });
  const h = await createHarness({ config: { maxEmbeddingsBytes: bytes.byteLength } });
  try {
    await t.step(
      "embeddings exactly at the cap, F32 [L, N, D] with metadata → 201 with their facts",
      async () => {
        const response = await upload(h, "name=emb&kind=embeddings", streamOf(bytes, 33));
        assert.equal(response.status, 201);
        const body = await json(response);
        assert.equal(body.format, "embeddings");
        assert.equal(body.rows, N);
        assert.deepEqual(body.embeddings, {
          num_layers: L,
          rows: N,
          hidden_size: D,
          model_sha256: "ab".repeat(32),
          pooling: "mean",
          max_tokens: 128,
        });
      },
    );
    await t.step("one byte over the embeddings cap → 413, nothing stored", async () => {
      const before = await storedKeys(h);
      const over = new Uint8Array([...bytes, 0]);
      await problem(
        await upload(h, "name=big&kind=embeddings", over, { "Content-Length": String(over.byteLength) }),
        413,
        "payload-too-large",
      );
      assert.deepEqual(await storedKeys(h), before);
    });
    await t.step(
      "a missing tensor, a wrong dtype, unequal shapes, a truncated file → 422, nothing stored",
      async () => {
        const before = await storedKeys(h);
        const cases = [
          safetensorsBytes([tensor("preferred")]),
          safetensorsBytes([tensor("preferred", "F16"), tensor("rejected", "F16")]),
          safetensorsBytes([tensor("preferred"), tensor("rejected", "F32", [L, N + 1, D])]),
          safetensorsBytes([tensor("preferred"), tensor("rejected")]).subarray(0, 100),
        ];
        for (const bytes of cases) {
          await problem(await upload(h, "name=bad&kind=embeddings", bytes.slice()), 422, "invalid-dataset");
        }
        assert.deepEqual(await storedKeys(h), before);
      },
    );
  } finally {
    await h.close();
  }
});

Deno.test("datasets: texts (JSONL {text} lines) for checks; a bad line names itself and stores nothing", async (t) => {
  const texts = ["The river was calm", "We planted tomatoes", "The library opens at nine"];
  const good = encoder.encode(texts.map((text) => JSON.stringify({ text })).join("\n") + "\n");
  const h = await createHarness({ config: { maxPairsBytes: good.byteLength } });
  try {
    let id = "";
    await t.step("streamed, exactly at the JSONL cap → 201 kind texts with its row count", async () => {
      const response = await upload(h, "name=prompts&kind=texts", streamOf(good, 7), {
        "Content-Type": "application/x-ndjson",
      });
      const body = await json(response);
      assert.equal(response.status, 201, JSON.stringify(body));
      id = String(body.id);
      assert.equal(body.kind, "texts");
      assert.equal(body.format, "texts");
      assert.equal(body.rows, texts.length);
      assert.equal(body.sha256, sha256(good));
      assert.equal(body.embeddings, null);
    });

    await t.step("bad lines → 422 naming each of them, nothing stored", async () => {
      const before = await storedKeys(h);
      const text = [
        JSON.stringify({ text: "fine" }),
        JSON.stringify({ prompt: "wrong key" }),
        "",
        "[1, 2]",
        JSON.stringify({ text: "  " }),
        JSON.stringify({ text: 7 }),
      ].join("\n");
      const body = await problem(
        await upload(h, "name=bad&kind=texts", streamOf(encoder.encode(text), 5)),
        422,
        "invalid-dataset",
      );
      const errors = body.errors as { path: string; message: string }[];
      assert.deepEqual(errors.map((e) => e.path), ["line 2", "line 4", "line 5", "line 6"]);
      assert.match(errors[0].message, /line 2 must have a string 'text': it is undefined/);
      assert.match(errors[2].message, /'text' must not be empty/);
      assert.match(String(body.detail), /4 bad lines; nothing was stored/);
      assert.deepEqual(await storedKeys(h), before);
      await problem(await upload(h, "name=empty&kind=texts", "\n\n"), 422, "invalid-dataset");
      assert.deepEqual(await storedKeys(h), before);
    });

    await t.step("over the JSONL cap → 413, nothing stored", async () => {
      const before = await storedKeys(h);
      const over = new Uint8Array([...good, 0x0a]);
      await problem(await upload(h, "name=big&kind=texts", streamOf(over, 9)), 413, "payload-too-large");
      assert.deepEqual(await storedKeys(h), before);
    });

    await t.step(
      "listed and got like the others; another tenant gets 404; delete removes the blob",
      async () => {
        const list = await json(await h.app.request("/v1/datasets", { headers: h.keyA }));
        assert.deepEqual((list.data as { id: string; kind: string }[]).map((d) => [d.id, d.kind]), [[
          id,
          "texts",
        ]]);
        assert.equal((await json(await h.app.request(`/v1/datasets/${id}`, { headers: h.keyA }))).rows, 3);
        await problem(await h.app.request(`/v1/datasets/${id}`, { headers: h.keyB }), 404, "not-found");
        const before = (await storedKeys(h)).length;
        assert.equal(
          (await h.app.request(`/v1/datasets/${id}`, { method: "DELETE", headers: h.keyA })).status,
          204,
        );
        assert.equal((await storedKeys(h)).length, before - 1);
      },
    );
  } finally {
    await h.close();
  }
});
