/**
 * api/auth: API keys (format, storage, authentication, bootstrap key) and scopes.
 *
 * - `createApiKey(db, { tenant, name?, scopes? })` → `{ key, apiKey }`: the key is shown once, only its hash kept.
 * - `authenticateApiKey(db, key)` / `keyVerifier(db)` → `{ tenantId, keyId, scopes }` or null.
 * - `listApiKeys(db, tenantId)`, `revokeApiKey(db, tenantId, publicId)`.
 * - `ensureBootstrapKey(db, process env PROFS_BOOTSTRAP_KEY)` at start-up → valid for the `default` tenant.
 * - `hasScope(scopes, "edits:write")`, `SCOPES`, `parseScopes("a,b")`.
 */
export * from "./api_key_format.ts";
export * from "./api_keys.ts";
export * from "./scopes.ts";
