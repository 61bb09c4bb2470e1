/**
 * /v1/keys through HTTP on the composed service: a tenant key manages its own tenant's keys and cannot mint a
 * stronger one; the bootstrap key (scope `admin`) mints keys for any tenant; a revoked key stops working.
 */
import assert from "node:assert/strict";
import { ensureBootstrapKey } from "../../api/auth/index.ts";
import { createHarness, type Harness, json } from "./harness.ts";

const BOOTSTRAP = "bootstrap-" + "k".repeat(32);

async function withHarness(fn: (h: Harness, admin: Record<string, string>) => Promise<void>) {
  const h = await createHarness();
  try {
    await ensureBootstrapKey(h.database.db, BOOTSTRAP);
    await fn(h, { Authorization: `Bearer ${BOOTSTRAP}` });
  } finally {
    await h.close();
  }
}

const send = (h: Harness, method: string, path: string, auth: Record<string, string>, body?: unknown) =>
  h.app.request(path, {
    method,
    headers: { ...auth, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

Deno.test("POST /v1/keys with the bootstrap key mints a key for a new tenant that then works", async () => {
  await withHarness(async (h, admin) => {
    const created = await send(h, "POST", "/v1/keys", admin, {
      tenant: "acme",
      name: "ci",
      scopes: ["models:read"],
    });
    assert.equal(created.status, 201);
    const body = await json(created);
    assert.equal(body.object, "api_key");
    assert.equal(body.tenant, "acme");
    assert.deepEqual(body.scopes, ["models:read"]);
    assert.equal(typeof body.key, "string");
    const acme = { Authorization: `Bearer ${body.key}` };
    assert.equal((await send(h, "GET", "/v1/models", acme)).status, 200);
    assert.equal(
      (await send(h, "POST", "/v1/models", acme, { name: "m" })).status,
      403,
      "scope is models:read",
    );

    const listed = await json(await send(h, "GET", "/v1/keys?tenant=acme", admin));
    const data = listed.data as Record<string, unknown>[];
    assert.deepEqual(data.map((k) => [k.id, k.name]), [[body.id, "ci"]]);
    assert.equal("key" in data[0], false, "the key is shown once only");
  });
});

Deno.test("a tenant key manages its own keys and cannot reach another tenant or mint a stronger key", async () => {
  await withHarness(async (h, admin) => {
    const created = await send(h, "POST", "/v1/keys", h.keyA, { name: "ro", scopes: ["edits:read"] });
    assert.equal(created.status, 201);
    const ro = await json(created);
    assert.notEqual(ro.tenant, "default");

    const other = await send(h, "POST", "/v1/keys", h.keyA, { tenant: "default" });
    assert.equal(other.status, 403);
    assert.match(String((await json(other)).detail), /'admin'/);
    assert.equal((await send(h, "GET", "/v1/keys?tenant=default", h.keyA)).status, 403);

    const escalate = await send(h, "POST", "/v1/keys", h.keyA, { scopes: ["admin"] });
    assert.equal(escalate.status, 403);
    assert.match(String((await json(escalate)).detail), /scope 'admin'/);
    const weak = { Authorization: `Bearer ${ro.key}` };
    assert.equal((await send(h, "POST", "/v1/keys", weak, {})).status, 403, "edits:read lacks keys:write");
    assert.equal((await send(h, "POST", "/v1/keys", admin, { scopes: ["edits:fly"] })).status, 422);

    const revoked = await send(h, "DELETE", `/v1/keys/${ro.id}`, h.keyA);
    assert.equal(revoked.status, 200);
    assert.equal(typeof (await json(revoked)).revoked_at, "string");
    assert.equal((await send(h, "GET", "/v1/edits", weak)).status, 401, "revoked at once");
    assert.equal((await send(h, "DELETE", `/v1/keys/${ro.id}`, h.keyA)).status, 404, "already revoked");
    assert.equal((await send(h, "DELETE", `/v1/keys/${ro.id}?tenant=nope`, admin)).status, 404);
  });
});
