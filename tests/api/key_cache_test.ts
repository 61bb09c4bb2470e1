import assert from "node:assert/strict";
import type { Principal } from "../../api/env.ts";
import { cachedVerifier } from "../../api/key_cache.ts";

Deno.test("cachedVerifier answers a valid key from memory until its TTL, then asks again", async () => {
  let calls = 0;
  let valid = true;
  const principal: Principal = { tenantId: "t", keyId: "k", scopes: ["*"] };
  let clock = 1_000;
  const verify = cachedVerifier(() => {
    calls++;
    return Promise.resolve(valid ? principal : null);
  }, { ttlMs: 100, now: () => clock });
  assert.equal(await verify("key"), principal);
  clock += 99;
  assert.equal(await verify("key"), principal);
  assert.equal(calls, 1);
  valid = false; // revoked
  clock += 1;
  assert.equal(await verify("key"), null, "at the TTL the revocation is seen");
  assert.equal(calls, 2);
});

Deno.test("cachedVerifier never caches a failure", async () => {
  let calls = 0;
  const verify = cachedVerifier(() => {
    calls++;
    return Promise.resolve(null);
  });
  assert.equal(await verify("bad"), null);
  assert.equal(await verify("bad"), null);
  assert.equal(calls, 2);
});
