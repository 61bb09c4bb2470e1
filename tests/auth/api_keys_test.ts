import assert from "node:assert/strict";
import { eq } from "drizzle-orm";
import {
  authenticateApiKey,
  createApiKey,
  ensureBootstrapKey,
  generateApiKey,
  hashKey,
  hasScope,
  LAST_USED_RESOLUTION_MS,
  listApiKeys,
  lookupId,
  parseScopes,
  revokeApiKey,
  sameHash,
} from "../../api/auth/index.ts";
import { apiKeys } from "../../shared/db/index.ts";
import { ensureTenant } from "../../shared/db/repositories/tenants.ts";
import { engineTests } from "../db/harness.ts";

Deno.test("generateApiKey() makes prefixed keys with a 12-char public id and 256 secret bits, all distinct", async () => {
  const keys = await Promise.all(Array.from({ length: 50 }, () => generateApiKey()));
  for (const k of keys) {
    assert.match(k.key, /^profs_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$/);
    assert.equal(k.key.slice(6, 18), k.publicId);
    assert.equal(await lookupId(k.key), k.publicId);
    assert.equal(k.secretHash, await hashKey(k.key));
    assert.ok(!k.secretHash.includes(k.key.slice(19)), "the secret is not stored");
  }
  assert.equal(new Set(keys.map((k) => k.key)).size, 50);
  assert.equal(new Set(keys.map((k) => k.publicId)).size, 50);
});

Deno.test("sameHash() compares digests exactly, unequal lengths included", () => {
  assert.equal(sameHash("ab12", "ab12"), true);
  assert.equal(sameHash("ab12", "ab13"), false);
  assert.equal(sameHash("ab12", "ab1"), false);
});

Deno.test("parseScopes() accepts known scopes and '*', and refuses others naming the culprit", () => {
  assert.deepEqual(parseScopes("edits:read, edits:write,edits:read"), ["edits:read", "edits:write"]);
  assert.deepEqual(parseScopes("*"), ["*"]);
  assert.throws(() => parseScopes("edits:delete"), /current value is 'edits:delete'/);
  assert.throws(() => parseScopes(" , "), /at least one scope/);
  assert.equal(hasScope(["*"], "models:write"), true);
  assert.equal(hasScope(["models:write"], "models:read"), false, "write does not imply read");
});

engineTests(
  "a created key authenticates to its tenant and scopes; a wrong or revoked one does not",
  async ({ db }) => {
    const { key, apiKey } = await createApiKey(db, { tenant: "acme", scopes: ["edits:read"], name: "ci" });
    const acme = await ensureTenant(db, "acme");
    assert.equal(apiKey.tenantId, acme.id);
    assert.deepEqual(await authenticateApiKey(db, key), {
      tenantId: acme.id,
      keyId: apiKey.publicId,
      scopes: ["edits:read"],
    });

    const [stored] = await db.select().from(apiKeys).where(eq(apiKeys.id, apiKey.id));
    assert.ok(!JSON.stringify(stored).includes(key.slice(19)), "the row holds no part of the secret");

    // Same public id, different secret: the hash comparison refuses it.
    const forged = key.slice(0, 19) + (key[19] === "A" ? "B" : "A") + key.slice(20);
    assert.equal(await authenticateApiKey(db, forged), null);
    assert.equal(await authenticateApiKey(db, ""), null);
    assert.equal(await authenticateApiKey(db, "x".repeat(10_000)), null);

    const other = await ensureTenant(db, "other");
    assert.equal(await revokeApiKey(db, other.id, apiKey.publicId), false, "another tenant cannot revoke it");
    assert.ok(await authenticateApiKey(db, key));
    assert.equal(await revokeApiKey(db, acme.id, apiKey.publicId), true);
    assert.equal(await revokeApiKey(db, acme.id, apiKey.publicId), false, "already revoked");
    assert.equal(await authenticateApiKey(db, key), null);
  },
);

engineTests("last_used_at is written on first use and then at most once per resolution", async ({ db }) => {
  const { key, apiKey } = await createApiKey(db, { tenant: "acme" });
  const t0 = new Date("2030-01-01T00:00:00Z");
  const lastUsed = async () =>
    (await db.select().from(apiKeys).where(eq(apiKeys.id, apiKey.id)))[0].lastUsedAt?.getTime();
  assert.equal(await lastUsed(), undefined);
  await authenticateApiKey(db, key, { now: t0 });
  assert.equal(await lastUsed(), t0.getTime());
  await authenticateApiKey(db, key, { now: new Date(t0.getTime() + LAST_USED_RESOLUTION_MS - 1) });
  assert.equal(await lastUsed(), t0.getTime());
  await authenticateApiKey(db, key, { now: new Date(t0.getTime() + LAST_USED_RESOLUTION_MS) });
  assert.equal(await lastUsed(), t0.getTime() + LAST_USED_RESOLUTION_MS);
});

engineTests("listApiKeys() shows only the tenant's own keys", async ({ db }) => {
  await createApiKey(db, { tenant: "acme", name: "a1" });
  await createApiKey(db, { tenant: "acme", name: "a2" });
  await createApiKey(db, { tenant: "other", name: "o1" });
  const acme = await ensureTenant(db, "acme");
  assert.deepEqual((await listApiKeys(db, acme.id)).map((k) => k.name).sort(), ["a1", "a2"]);
});

engineTests(
  "PROFS_BOOTSTRAP_KEY is valid for the default tenant, idempotently, and must be long",
  async ({ db }) => {
    const key = "bootstrap-" + "s".repeat(30);
    await ensureBootstrapKey(db, key);
    await ensureBootstrapKey(db, key);
    const principal = await authenticateApiKey(db, key);
    const defaultTenant = await ensureTenant(db, "default");
    assert.deepEqual(principal, {
      tenantId: defaultTenant.id,
      keyId: await lookupId(key),
      scopes: ["*", "admin"],
    });
    assert.equal((await listApiKeys(db, defaultTenant.id)).length, 1);

    await revokeApiKey(db, defaultTenant.id, principal!.keyId);
    await ensureBootstrapKey(db, key);
    assert.ok(await authenticateApiKey(db, key), "the environment re-activates it at start-up");
    await assert.rejects(ensureBootstrapKey(db, "short"), /PROFS_BOOTSTRAP_KEY.*current length is 5/);
  },
);
