/**
 * Remembers valid API keys for a few seconds, so a client polling a job costs one key lookup per TTL instead of
 * one per request. The price is revocation latency: a revoked key keeps working for at most `ttlMs` on each API
 * process. Entries are keyed by sha256(key), so the map holds no key material; failures are never cached (each
 * bad attempt is checked afresh).
 */
import { createHash } from "node:crypto";
import type { Principal } from "./env.ts";
import type { VerifyKey } from "./middleware/auth.ts";

export const DEFAULT_KEY_CACHE_TTL_MS = 10_000;
const MAX_ENTRIES = 10_000;

export function cachedVerifier(
  verify: VerifyKey,
  options: { ttlMs?: number; now?: () => number } = {},
): VerifyKey {
  const ttlMs = options.ttlMs ?? DEFAULT_KEY_CACHE_TTL_MS;
  const now = options.now ?? Date.now;
  const entries = new Map<string, { principal: Principal; expires: number }>();
  return async function verifyCached(key) {
    const id = createHash("sha256").update(key).digest("hex");
    const hit = entries.get(id);
    if (hit && hit.expires > now()) return hit.principal;
    entries.delete(id);
    const principal = await verify(key);
    if (principal) {
      // Insertion order is age order: dropping the first entry drops the oldest.
      if (entries.size >= MAX_ENTRIES) entries.delete(entries.keys().next().value!);
      entries.set(id, { principal, expires: now() + ttlMs });
    }
    return principal;
  };
}
