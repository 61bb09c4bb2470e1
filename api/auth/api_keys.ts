/**
 * API keys in the database: create (the key is returned once), authenticate, list, revoke, and the bootstrap
 * key of the `default` tenant. See api_key_format.ts for the key format and why sha256 suffices.
 *
 * Authentication runs before the tenant is known, so it reads the key table as the connecting role (RLS does
 * not apply); list and revoke take the tenant and run in its scope.
 */
import { and, desc, eq, isNull } from "drizzle-orm";
import { InputError } from "../../shared/errors.ts";
import type { Db } from "../../shared/db/database.ts";
import { type ApiKey, apiKeys } from "../../shared/db/schema.ts";
import { inTenantScope } from "../../shared/db/tenant_scope.ts";
import { DEFAULT_TENANT, ensureTenant } from "../../shared/db/repositories/tenants.ts";
import { generateApiKey, hashKey, lookupId, MIN_BOOTSTRAP_KEY_LENGTH, sameHash } from "./api_key_format.ts";
import { ADMIN_SCOPE, ALL_SCOPES } from "./scopes.ts";

/** Who a valid key speaks for. `keyId` is the key's public id: safe to log. */
export interface KeyPrincipal {
  tenantId: string;
  keyId: string;
  scopes: string[];
}

/** last_used_at is written at most this often per key, so authentication is read-only on most requests. */
export const LAST_USED_RESOLUTION_MS = 60_000;

/** Longer input is not a key; refusing it early bounds the hashing work an anonymous caller can cause. */
const MAX_KEY_LENGTH = 256;

export async function createApiKey(
  db: Db,
  input: { tenant: string; name?: string; scopes?: string[] },
): Promise<{ key: string; apiKey: ApiKey }> {
  const tenant = await ensureTenant(db, input.tenant);
  const generated = await generateApiKey();
  const [apiKey] = await db.insert(apiKeys).values({
    tenantId: tenant.id,
    publicId: generated.publicId,
    secretHash: generated.secretHash,
    name: input.name ?? "",
    scopes: input.scopes ?? [ALL_SCOPES],
  }).returning();
  return { key: generated.key, apiKey };
}

/** The principal of a presented key, or null when it is unknown, malformed, revoked or wrong. */
export async function authenticateApiKey(
  db: Db,
  key: string,
  opts: { now?: Date } = {},
): Promise<KeyPrincipal | null> {
  if (key.length === 0 || key.length > MAX_KEY_LENGTH) return null;
  const publicId = await lookupId(key);
  const [row] = await db.select().from(apiKeys).where(eq(apiKeys.publicId, publicId));
  if (!row || row.revokedAt) return null;
  if (!sameHash(await hashKey(key), row.secretHash)) return null;
  const now = opts.now ?? new Date();
  if (!row.lastUsedAt || now.getTime() - row.lastUsedAt.getTime() >= LAST_USED_RESOLUTION_MS) {
    await db.update(apiKeys).set({ lastUsedAt: now }).where(eq(apiKeys.id, row.id));
  }
  return { tenantId: row.tenantId, keyId: row.publicId, scopes: row.scopes };
}

/** `verifyKey` for the API's auth middleware. */
export function keyVerifier(db: Db): (key: string) => Promise<KeyPrincipal | null> {
  return (key) => authenticateApiKey(db, key);
}

export function listApiKeys(db: Db, tenantId: string): Promise<ApiKey[]> {
  return inTenantScope(
    db,
    tenantId,
    (tx) => tx.select().from(apiKeys).where(eq(apiKeys.tenantId, tenantId)).orderBy(desc(apiKeys.createdAt)),
  );
}

/** Revokes a key of this tenant by its public id; false when the tenant has no such active key. */
export function revokeApiKey(
  db: Db,
  tenantId: string,
  publicId: string,
  opts: { now?: Date } = {},
): Promise<boolean> {
  return inTenantScope(db, tenantId, async (tx) => {
    const revoked = await tx.update(apiKeys).set({ revokedAt: opts.now ?? new Date() })
      .where(and(eq(apiKeys.tenantId, tenantId), eq(apiKeys.publicId, publicId), isNull(apiKeys.revokedAt)))
      .returning({ id: apiKeys.id });
    return revoked.length > 0;
  });
}

/**
 * Makes `key` (PROFS_BOOTSTRAP_KEY) valid, with every scope and `admin` (it may mint other tenants' keys), for
 * the `default` tenant: called at start-up,
 * idempotent, and it re-activates the key if it had been revoked (the environment is the operator's word).
 */
export async function ensureBootstrapKey(db: Db, key: string): Promise<ApiKey> {
  if (key.length < MIN_BOOTSTRAP_KEY_LENGTH || key.length > MAX_KEY_LENGTH || /\s/.test(key)) {
    throw new InputError(
      `Cannot use PROFS_BOOTSTRAP_KEY as it must be ${MIN_BOOTSTRAP_KEY_LENGTH} to ${MAX_KEY_LENGTH} characters ` +
        `without spaces: current length is ${key.length}`,
    );
  }
  const tenant = await ensureTenant(db, DEFAULT_TENANT);
  const values = {
    tenantId: tenant.id,
    secretHash: await hashKey(key),
    name: "bootstrap (PROFS_BOOTSTRAP_KEY)",
    scopes: [ALL_SCOPES, ADMIN_SCOPE],
    revokedAt: null,
  };
  const [apiKey] = await db.insert(apiKeys).values({ publicId: await lookupId(key), ...values })
    .onConflictDoUpdate({ target: apiKeys.publicId, set: values })
    .returning();
  return apiKey;
}
