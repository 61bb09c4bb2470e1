/**
 * The OpenAPI document is the whole HTTP contract: every operation named, public routes marked `security: []`,
 * servers and licence, the headers and content types the server really uses, input and output schemas apart,
 * outbound webhooks declared; and an unrouted method on a known path is a 405 with Allow.
 */
import assert from "node:assert/strict";
import { createHarness, json } from "./harness.ts";

// deno-lint-ignore no-explicit-any
type Doc = Record<string, any>;

async function documentOf(): Promise<Doc> {
  const h = await createHarness();
  try {
    return await json(await h.app.request("/openapi.json")) as Doc;
  } finally {
    await h.close();
  }
}

Deno.test("openapi.json: every operation has a unique operationId and explicit security", async () => {
  const doc = await documentOf();
  const ids: string[] = [];
  for (const [path, item] of Object.entries<Doc>(doc.paths)) {
    for (const [method, op] of Object.entries<Doc>(item)) {
      assert.ok(op.operationId, `${method} ${path} has an operationId`);
      ids.push(op.operationId);
      assert.ok(Array.isArray(op.security), `${method} ${path} declares security`);
    }
  }
  assert.equal(new Set(ids).size, ids.length, "operationIds are unique");
  for (
    const [method, path] of [["get", "/healthz"], ["get", "/readyz"], ["get", "/metrics"], [
      "post",
      "/v1/triggers/{id}/fire",
    ]]
  ) {
    assert.deepEqual(doc.paths[path][method].security, [], `${method} ${path} is public`);
  }
  assert.deepEqual(doc.paths["/v1/edits"].post.security, [{ apiKey: [] }]);
  assert.equal(doc.paths["/v1/edits/{id}/cancel"].post.operationId, "postV1EditsByIdCancel");
  assert.ok(doc.servers.length >= 1);
  // The licence the repository carries: the SPDX id of package.json, whose LICENSE file is at the root.
  const pkg = JSON.parse(await Deno.readTextFile(new URL("../../package.json", import.meta.url)));
  assert.deepEqual(doc.info.license, { name: "Apache 2.0", identifier: pkg.license });
  const license = await Deno.readTextFile(new URL("../../LICENSE", import.meta.url));
  assert.match(license, /^\s*Apache License\s+Version 2\.0, January 2004/);
});

Deno.test("openapi.json: artifacts, metrics, events and fire declare the headers and content the server uses", async () => {
  const doc = await documentOf();
  const artifact = doc.paths["/v1/edits/{id}/artifacts/{name}"].get;
  for (const status of ["200", "206"]) {
    assert.deepEqual(
      Object.keys(artifact.responses[status].content).sort(),
      [
        "application/json",
        "application/octet-stream",
        "application/x-tar",
        "text/html; charset=utf-8",
        "text/markdown; charset=utf-8",
      ],
    );
    assert.ok(artifact.responses[status].headers.ETag && artifact.responses[status].headers["Accept-Ranges"]);
  }
  assert.ok(artifact.responses["206"].headers["Content-Range"]);
  const refs = (op: Doc) => op.parameters.map((p: Doc) => p.$ref ?? p.name);
  for (const p of ["Range", "IfNoneMatch", "IfRange"]) {
    assert.ok(refs(artifact).includes(`#/components/parameters/${p}`));
  }
  assert.ok(refs(doc.paths["/v1/edits/{id}/events"].get).includes("#/components/parameters/LastEventId"));
  assert.ok(doc.paths["/v1/edits/{id}/events"].get.responses["422"], "after=-1 → 422 declared");
  for (const p of ["WebhookId", "WebhookTimestamp", "WebhookSignature"]) {
    assert.ok(refs(doc.paths["/v1/triggers/{id}/fire"].post).includes(`#/components/parameters/${p}`));
  }
  assert.ok(doc.paths["/v1/edits"].post.responses["200"].headers["Idempotent-Replayed"]);
  assert.ok(doc.paths["/v1/edits"].post.responses["401"].headers["WWW-Authenticate"]);
  assert.ok(doc.paths["/v1/edits"].post.responses["201"].headers["X-Request-Id"]);
  assert.ok(doc.paths["/metrics"].get.responses["200"].content["text/plain; version=0.0.4; charset=utf-8"]);
  assert.deepEqual(Object.keys(doc.webhooks).sort(), [
    "check.completed",
    "edit.canceled",
    "edit.failed",
    "edit.succeeded",
  ]);
});

Deno.test("openapi.json: EditParams (input) keeps defaulted fields optional; the edit shows EditParamsView with them required", async () => {
  const doc = await documentOf();
  const schemas = doc.components.schemas;
  assert.equal(schemas.EditParams.required, undefined, 'a client may send {"rank": 2}');
  assert.deepEqual(
    [...schemas.EditParamsView.required].sort(),
    ["centering", "layers", "max_pairs", "max_tokens", "rank", "seed"],
  );
  assert.equal(schemas.Edit.properties.params.$ref, "#/components/schemas/EditParamsView");
});

Deno.test("an unrouted method on a known path → 405 with Allow; an unknown path → 404", async () => {
  const h = await createHarness();
  try {
    const r = await h.app.request("/healthz", { method: "DELETE" });
    assert.equal(r.status, 405);
    assert.equal(r.headers.get("Allow"), "GET, HEAD");
    assert.equal(r.headers.get("Content-Type"), "application/problem+json");
    await r.body?.cancel();
    const edits = await h.app.request("/v1/edits/abc", { method: "PUT", headers: h.keyA });
    assert.equal(edits.status, 405);
    assert.equal(edits.headers.get("Allow"), "GET, HEAD");
    await edits.body?.cancel();
    const missing = await h.app.request("/nowhere", { method: "GET" });
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
  } finally {
    await h.close();
  }
});
