/** Text Postgres refuses (NUL, unpaired surrogates) is the tenant's error: 422 naming the field, never a 500. */
import assert from "node:assert/strict";
import { createHarness, type Harness, json, storedKeys } from "./harness.ts";
import { noPostgres, testDatabaseUrl } from "../helpers/env.ts";

async function expect422(response: Response, path: string) {
  const body = await json(response);
  assert.equal(response.status, 422, JSON.stringify(body));
  const paths = (body.errors as { path: string }[]).map((e) => e.path);
  assert.ok(
    paths.some((p) => p === path || p.endsWith(path)),
    `${JSON.stringify(paths)} should name ${path}`,
  );
}

const post = (h: Harness, url: string, body: unknown) =>
  h.app.request(url, {
    method: "POST",
    body: JSON.stringify(body),
    headers: { ...h.keyA, "Content-Type": "application/json" },
  });

const targets = [
  { db: "PGlite", url: undefined, ignore: false },
  { db: "Postgres", url: testDatabaseUrl, ignore: noPostgres() },
];
for (const target of targets) {
  Deno.test({
    name: `NUL bytes (${target.db}): every string a tenant supplies → 422 naming the field, nothing stored`,
    ignore: target.ignore,
    fn: async () => {
      const h = await createHarness({ url: target.url });
      try {
        await expect422(await post(h, "/v1/models", { name: "a\u0000b" }), "name");
        await expect422(await post(h, "/v1/models", { name: "lone \ud800 surrogate" }), "name");
        await expect422(
          await post(h, "/v1/webhook-endpoints", {
            url: "https://example.com/hook",
            events: ["edit.succeeded"],
            description: "x\u0000",
          }),
          "description",
        );
        await expect422(await post(h, "/v1/edits", { model_id: "m\u0000", dataset_id: "d" }), "model_id");
        const before = await storedKeys(h);
        await expect422(
          await h.app.request("/v1/datasets?name=a%00b", {
            method: "POST",
            body: '{"text":"x"}\n',
            headers: h.keyA,
          }),
          "name",
        );
        const texts = await h.app.request("/v1/datasets?name=t&kind=texts", {
          method: "POST",
          body: '{"text":"ok"}\n{"text":"bad\\u0000"}\n',
          headers: h.keyA,
        });
        const body = await json(texts);
        assert.equal(texts.status, 422, JSON.stringify(body));
        assert.deepEqual((body.errors as { path: string }[]).map((e) => e.path), ["line 2"]);
        assert.match(JSON.stringify(body), /NUL/);
        assert.deepEqual(await storedKeys(h), before, "nothing stored");
        for (const url of ["/v1/models/%00", "/v1/datasets/a%00", "/v1/edits/x%00/artifacts/a%00"]) {
          const response = await h.app.request(url, { headers: h.keyA });
          assert.ok([404, 422].includes(response.status), `${url}: ${response.status}`);
        }
      } finally {
        await h.close();
      }
    },
  });
}
