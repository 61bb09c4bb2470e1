import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { createHarness, type Harness, json, storedKeys } from "./harness.ts";
import { f32, safetensorsBytes, streamOf, tinyModelFiles } from "./fixtures.ts";
import { noPostgres, testDatabaseUrl } from "../helpers/env.ts";
import { createApiKey, revokeApiKey } from "../../api/auth/index.ts";
import { createLocalBlobStore } from "../../shared/blobs/local.ts";
import type { BlobStore } from "../../shared/blobs/store.ts";

function put(h: Harness, path: string, body: BodyInit, headers: Record<string, string> = {}) {
  return h.app.request(path, {
    method: "PUT",
    body,
    headers: { ...h.keyA, "Content-Type": "application/octet-stream", ...headers },
    // deno-lint-ignore no-explicit-any
    ...({ duplex: "half" } as any),
  });
}

async function createModel(h: Harness, name = "m"): Promise<string> {
  const response = await h.app.request("/v1/models", {
    method: "POST",
    headers: { ...h.keyA, "Content-Type": "application/json" },
    body: JSON.stringify({ name }),
  });
  assert.equal(response.status, 201);
  return (await response.json()).id;
}

async function assertProblem(
  response: Response,
  status: number,
  type: string,
): Promise<Record<string, unknown>> {
  const body = await json(response);
  assert.equal(response.status, status, JSON.stringify(body));
  assert.equal(response.headers.get("Content-Type"), "application/problem+json");
  assert.equal(body.type, `/docs#problem-${type}`);
  assert.equal(body.status, status);
  assert.equal(body.request_id, response.headers.get("X-Request-Id"));
  return body;
}

async function assertServing(h: Harness) {
  assert.equal((await h.app.request("/healthz")).status, 200);
  assert.equal((await h.app.request("/v1/models?limit=1", { headers: h.keyA })).status, 200);
}

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

for (
  const target of [{ db: "PGlite", url: undefined, ignore: false }, {
    db: "Postgres",
    url: testDatabaseUrl,
    ignore: noPostgres(),
  }]
) {
  Deno.test({
    name: `models (${target.db}): upload, validation of every upload, finalize, tenancy, delete`,
    ignore: target.ignore,
    fn: async (t) => {
      const files = await tinyModelFiles();
      const weights = files.get("model.safetensors")!;
      const cap = weights.byteLength;
      const h = await createHarness({ config: { maxModelFileBytes: cap }, url: target.url });
      try {
        const id = await createModel(h);

        await t.step("POST with a wrong type or unknown key → 422 naming the field", async () => {
          const response = await h.app.request("/v1/models", {
            method: "POST",
            headers: { ...h.keyA, "Content-Type": "application/json" },
            body: JSON.stringify({ name: 5, colour: "red" }),
          });
          const body = await assertProblem(response, 422, "validation-error");
          const paths = (body.errors as { path: string }[]).map((e) => e.path).sort();
          assert.deepEqual(paths, ["colour", "name"]);
        });

        await t.step("POST with malformed JSON → 400 malformed-json", async () => {
          const response = await h.app.request("/v1/models", {
            method: "POST",
            headers: { ...h.keyA, "Content-Type": "application/json" },
            body: '{"name": "x",',
          });
          await assertProblem(response, 400, "malformed-json");
          await assertServing(h);
        });

        await t.step("POST as text/plain → 415", async () => {
          const response = await h.app.request("/v1/models", {
            method: "POST",
            headers: { ...h.keyA, "Content-Type": "text/plain" },
            body: '{"name":"x"}',
          });
          await assertProblem(response, 415, "unsupported-media-type");
        });

        await t.step("PUT a truncated safetensors file → 422 and no file stored", async () => {
          const short = weights.subarray(0, weights.byteLength - 100);
          // Declares the full size but the stream ends early, as when a client dies mid-upload.
          const response = await put(h, `/v1/models/${id}/files/model.safetensors`, streamOf(short), {
            "Content-Length": String(weights.byteLength),
          });
          const body = await assertProblem(response, 422, "invalid-upload");
          assert.match(String(body.detail), /ended after/);
          // Without a Content-Length the header's own offsets say where the file must end.
          await assertProblem(
            await put(h, `/v1/models/${id}/files/model.safetensors`, streamOf(short)),
            422,
            "invalid-upload",
          );
          assert.deepEqual(await storedKeys(h), []);
          await assertServing(h);
        });

        await t.step(
          "PUT corrupt safetensors (bad header JSON, overlapping offsets, trailing bytes) → 422",
          async () => {
            const good = safetensorsBytes([{ name: "a", dtype: "F32", shape: [2], data: f32([1, 2]) }]);
            const badJson = good.slice();
            badJson[8] = "[".charCodeAt(0);
            const header =
              `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`;
            const overlap = new Uint8Array([
              ...u64(header.length),
              ...new TextEncoder().encode(header),
              ...new Uint8Array(8),
            ]);
            const trailing = new Uint8Array([...good, 0, 0, 0]);
            const hugeHeader = new Uint8Array([...u64(2 ** 40), ...new Uint8Array(16)]);
            for (
              const [label, bytes] of [["json", badJson], ["overlap", overlap], ["trailing", trailing], [
                "huge header",
                hugeHeader,
              ]] as const
            ) {
              const response = await put(h, `/v1/models/${id}/files/model.safetensors`, bytes);
              await assertProblem(response, 422, "invalid-upload");
              const streamed = await put(h, `/v1/models/${id}/files/model.safetensors`, streamOf(bytes, 7));
              await assertProblem(streamed, 422, "invalid-upload").catch((e) => {
                throw new Error(`${label} (streamed): ${e.message}`);
              });
            }
            assert.deepEqual(await storedKeys(h), []);
            await assertServing(h);
          },
        );

        await t.step(
          "PUT exactly at the size cap is stored; one byte over → 413 and nothing stored",
          async () => {
            const over = new Uint8Array(cap + 1);
            await assertProblem(
              await put(h, `/v1/models/${id}/files/extra.bin`, over, { "Content-Length": String(cap + 1) }),
              413,
              "payload-too-large",
            );
            await assertProblem(
              await put(h, `/v1/models/${id}/files/extra.bin`, streamOf(over)),
              413,
              "payload-too-large",
            );
            assert.deepEqual(await storedKeys(h), []);
            const response = await put(h, `/v1/models/${id}/files/model.safetensors`, streamOf(weights), {
              "Content-Length": String(cap),
            });
            assert.equal(response.status, 201);
            assert.deepEqual(await response.json(), {
              name: "model.safetensors",
              size: cap,
              sha256: sha256(weights),
            });
            await assertServing(h);
          },
        );

        await t.step("PUT a .json file that does not parse → 422; a bad file name → 422", async () => {
          await assertProblem(
            await put(h, `/v1/models/${id}/files/config.json`, "{nope"),
            422,
            "invalid-upload",
          );
          await assertProblem(await put(h, `/v1/models/${id}/files/.hidden`, "x"), 422, "validation-error");
          await assertProblem(
            await put(h, `/v1/models/${id}/files/a%2F..%2Fb`, "x"),
            422,
            "validation-error",
          );
        });

        await t.step(
          "finalize without a tokenizer → 422 invalid-model naming it; the model is invalid",
          async () => {
            assert.equal(
              (await put(h, `/v1/models/${id}/files/config.json`, files.get("config.json")!)).status,
              201,
            );
            const response = await h.app.request(`/v1/models/${id}/finalize`, {
              method: "POST",
              headers: h.keyA,
            });
            const body = await assertProblem(response, 422, "invalid-model");
            assert.match(String(body.detail), /tokenizer\.json/);
            assert.doesNotMatch(String(body.detail), new RegExp(h.blobDir), "server paths stay private");
            const model = await json(await h.app.request(`/v1/models/${id}`, { headers: h.keyA }));
            assert.equal(model.status, "invalid");
            assert.equal((model.errors as string[]).length, 1);
          },
        );

        await t.step("upload the missing file, finalize → ready with a summary", async () => {
          assert.equal(
            (await put(h, `/v1/models/${id}/files/tokenizer.json`, files.get("tokenizer.json")!)).status,
            201,
          );
          const pending = await json(await h.app.request(`/v1/models/${id}`, { headers: h.keyA }));
          assert.equal(pending.status, "pending");
          const response = await h.app.request(`/v1/models/${id}/finalize`, {
            method: "POST",
            headers: h.keyA,
          });
          assert.equal(response.status, 200);
          const model = await json(response);
          assert.equal(model.status, "ready");
          const summary = model.summary as Record<string, unknown>;
          assert.equal(summary.family, "gpt2");
          assert.equal(summary.num_layers, 2);
          assert.equal(summary.hidden_size, 24);
          assert.equal(summary.sha256, sha256(weights));
          assert.deepEqual(summary.default_layers, { from: 0, to: 2 });
          assert.deepEqual((model.files as { name: string }[]).map((f) => f.name), [
            "config.json",
            "model.safetensors",
            "tokenizer.json",
          ]);
          await assertProblem(await put(h, `/v1/models/${id}/files/config.json`, "{}"), 409, "conflict");
        });

        await t.step("another tenant's key gets 404 on every model route", async () => {
          for (
            const [method, path] of [
              ["GET", `/v1/models/${id}`],
              ["PUT", `/v1/models/${id}/files/x.bin`],
              ["POST", `/v1/models/${id}/finalize`],
              ["DELETE", `/v1/models/${id}`],
            ]
          ) {
            const response = await h.app.request(path, {
              method,
              headers: h.keyB,
              body: method === "PUT" ? "x" : undefined,
            });
            await assertProblem(response, 404, "not-found");
          }
          const list = await json(await h.app.request("/v1/models", { headers: h.keyB }));
          assert.deepEqual(list.data, []);
          assert.equal(
            (await h.app.request(`/v1/models/${id}`, { headers: h.keyA })).status,
            200,
            "still there",
          );
        });

        await t.step("auth: no key → 401, unknown key → 401, read-only key writing → 403", async () => {
          const none = await h.app.request("/v1/models");
          await assertProblem(none, 401, "unauthorized");
          assert.match(none.headers.get("WWW-Authenticate") ?? "", /^Bearer/);
          const bad = await h.app.request("/v1/models", { headers: { Authorization: "Bearer nope" } });
          assert.match(bad.headers.get("WWW-Authenticate") ?? "", /invalid_token/);
          await assertProblem(bad, 401, "unauthorized");
          const weak = await h.app.request("/v1/models", {
            method: "POST",
            headers: { ...h.readOnlyA, "Content-Type": "application/json" },
            body: JSON.stringify({ name: "x" }),
          });
          await assertProblem(weak, 403, "forbidden");
          assert.equal((await h.app.request("/v1/models", { headers: h.readOnlyA })).status, 200);
        });

        await t.step(
          "a revoked key → 401 (read from the key table here; `profs serve` caches valid keys up to 10 s)",
          async () => {
            const { key, apiKey } = await createApiKey(h.database.db, {
              tenant: `revoked-${crypto.randomUUID()}`,
            });
            const headers = { Authorization: `Bearer ${key}` };
            assert.equal((await h.app.request("/v1/models", { headers })).status, 200);
            assert.ok(await revokeApiKey(h.database.db, apiKey.tenantId, apiKey.publicId));
            const revoked = await h.app.request("/v1/models", { headers });
            await assertProblem(revoked, 401, "unauthorized");
            assert.match(revoked.headers.get("WWW-Authenticate") ?? "", /invalid_token/);
          },
        );

        await t.step("list pages with a cursor, newest first", async () => {
          const more = [await createModel(h, "m2"), await createModel(h, "m3")];
          const first = await json(await h.app.request("/v1/models?limit=2", { headers: h.keyA }));
          // Three models of this tenant: m3, m2, then the one the steps above used.
          assert.deepEqual((first.data as { id: string }[]).map((m) => m.id), [more[1], more[0]]);
          const second = await json(
            await h.app.request(`/v1/models?limit=2&cursor=${first.next_cursor}`, { headers: h.keyA }),
          );
          assert.deepEqual((second.data as { id: string }[]).map((m) => m.id), [id]);
          assert.equal(second.next_cursor, null);
          await assertProblem(
            await h.app.request("/v1/models?limit=0", { headers: h.keyA }),
            422,
            "validation-error",
          );
          await assertProblem(
            await h.app.request("/v1/models?cursor=zzz", { headers: h.keyA }),
            422,
            "validation-error",
          );
        });

        await t.step("delete removes the model and its files", async () => {
          assert.equal(
            (await h.app.request(`/v1/models/${id}`, { method: "DELETE", headers: h.keyA })).status,
            204,
          );
          assert.equal((await h.app.request(`/v1/models/${id}`, { headers: h.keyA })).status, 404);
          assert.deepEqual((await storedKeys(h)).filter((k) => k.includes(id)), []);
        });
      } finally {
        await h.close();
      }
    },
  });
}

Deno.test("models: a server-side folder registers only under a configured root", async (t) => {
  const root = await Deno.makeTempDir({ prefix: "profs-roots-" });
  const outside = await Deno.makeTempDir({ prefix: "profs-outside-" });
  const h = await createHarness({ config: { modelRoots: [root] } });
  try {
    const files = await tinyModelFiles();
    for (const dir of [join(root, "gpt2"), outside]) {
      await Deno.mkdir(dir, { recursive: true });
      for (const [name, bytes] of files) await Deno.writeFile(join(dir, name), bytes);
    }
    await Deno.symlink(outside, join(root, "escape"));
    const register = (path: string) =>
      h.app.request("/v1/models", {
        method: "POST",
        headers: { ...h.keyA, "Content-Type": "application/json" },
        body: JSON.stringify({ name: "local", path }),
      });

    await t.step("under the root → 201 ready", async () => {
      const response = await register(join(root, "gpt2"));
      assert.equal(response.status, 201);
      const model = await json(response);
      assert.equal(model.status, "ready");
      assert.equal(model.source, "folder");
    });
    await t.step("outside, through a symlink, or with ../ → 403", async () => {
      for (const path of [outside, join(root, "escape"), `${root}/gpt2/../../${outside}`, "gpt2"]) {
        await assertProblem(await register(path), 403, "forbidden");
      }
      // Outside the roots, an existing and a missing folder read the same: no probing of the filesystem.
      const existing = await assertProblem(await register(outside), 403, "forbidden");
      const missing = await assertProblem(await register(`${outside}-missing`), 403, "forbidden");
      assert.equal(
        String(existing.detail).replace(outside, "P"),
        String(missing.detail).replace(`${outside}-missing`, "P"),
      );
    });
    await t.step("an invalid folder under the root → 422 invalid-model", async () => {
      await Deno.mkdir(join(root, "empty"));
      await assertProblem(await register(join(root, "empty")), 422, "invalid-model");
    });
  } finally {
    await h.close();
    await Deno.remove(root, { recursive: true });
    await Deno.remove(outside, { recursive: true });
  }
});

function u64(n: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true);
  return out;
}

Deno.test("models: finalize refuses weights that do not fit the config, or an unsupported family, naming why", async (t) => {
  const files = await tinyModelFiles();
  const config = JSON.parse(new TextDecoder().decode(files.get("config.json")!));
  const h = await createHarness();
  /** A model holding the tiny folder's files with this config; finalize's answer. */
  const finalizeWith = async (changed: Record<string, unknown>) => {
    const id = await createModel(h);
    for (const [name, bytes] of files) {
      const body = name === "config.json" ? JSON.stringify({ ...config, ...changed }) : bytes;
      assert.equal((await put(h, `/v1/models/${id}/files/${name}`, body)).status, 201);
    }
    const response = await h.app.request(`/v1/models/${id}/finalize`, { method: "POST", headers: h.keyA });
    return { id, response };
  };
  try {
    await t.step("a hidden size the tensors do not have → 422 naming a tensor and its shape", async () => {
      const { id, response } = await finalizeWith({ n_embd: config.n_embd * 2 });
      const body = await assertProblem(response, 422, "invalid-model");
      assert.match(
        String(body.detail),
        new RegExp(`c_proj\.weight' must be .* ${config.n_embd * 2} columns`),
      );
      assert.doesNotMatch(String(body.detail), new RegExp(h.blobDir), "server paths stay private");
      assert.equal(
        (await json(await h.app.request(`/v1/models/${id}`, { headers: h.keyA }))).status,
        "invalid",
      );
    });
    await t.step("more layers than the weights hold → 422 naming the missing tensor", async () => {
      const { response } = await finalizeWith({ n_layer: config.n_layer + 1 });
      const body = await assertProblem(response, 422, "invalid-model");
      assert.match(String(body.detail), new RegExp(`h\\.${config.n_layer}\\.`));
    });
    await t.step("a model_type no family supports → 422 naming it", async () => {
      const { response } = await finalizeWith({ model_type: "mamba" });
      const body = await assertProblem(response, 422, "invalid-model");
      assert.match(String(body.detail), /mamba/);
      await assertServing(h);
    });
  } finally {
    await h.close();
  }
});

Deno.test("models: a file stored while finalize validates the folder → 409 and still pending; finalize again → ready", async () => {
  const files = await tinyModelFiles();
  const dir = await Deno.makeTempDir({ prefix: "profs-api-race-" });
  const local = await createLocalBlobStore(dir);
  // A store without local paths, so finalize reads the folder through get(): the first get lets an upload of
  // another config.json finish first, as if it had raced the finalize.
  let duringFinalize: (() => Promise<void>) | undefined;
  const blobs: BlobStore = {
    ...local,
    localPath: () => null,
    async get(key, range) {
      const race = duringFinalize;
      duringFinalize = undefined;
      await race?.();
      return await local.get(key, range);
    },
  };
  const h = await createHarness({ blobs });
  try {
    const id = await createModel(h);
    for (const [name, bytes] of files) {
      assert.equal((await put(h, `/v1/models/${id}/files/${name}`, bytes)).status, 201);
    }
    const config = JSON.parse(new TextDecoder().decode(files.get("config.json")!));
    duringFinalize = async () => {
      const raced = await put(
        h,
        `/v1/models/${id}/files/config.json`,
        JSON.stringify({ ...config, note: "v2" }),
      );
      assert.equal(raced.status, 201);
    };
    const finalize = () => h.app.request(`/v1/models/${id}/finalize`, { method: "POST", headers: h.keyA });
    const refused = await assertProblem(await finalize(), 409, "conflict");
    assert.match(String(refused.detail), /uploaded while it was being validated/);
    assert.equal(duringFinalize, undefined, "the racing upload ran");
    assert.equal(
      (await json(await h.app.request(`/v1/models/${id}`, { headers: h.keyA }))).status,
      "pending",
    );

    const ready = await finalize();
    assert.equal(ready.status, 200);
    const model = await json(ready);
    assert.equal(model.status, "ready");
    const stored = (model.files as { name: string; sha256: string }[]).find((f) => f.name === "config.json")!;
    assert.equal(stored.sha256, sha256(new TextEncoder().encode(JSON.stringify({ ...config, note: "v2" }))));
  } finally {
    await h.close();
    await Deno.remove(dir, { recursive: true });
  }
});
