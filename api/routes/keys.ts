/**
 * /v1/keys: API keys over HTTP, so a running service (embedded `profs serve` holds its database) needs no second
 * process to mint keys. A key with `keys:write` manages its own tenant's keys and can mint only scopes it holds;
 * a key with `admin` (PROFS_BOOTSTRAP_KEY) names any tenant with `tenant`, creating it on its first key. The key
 * itself is in the create response only.
 */
import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import {
  ApiKeyCreate,
  ApiKeyList,
  ApiKeyView,
  ApiKeyWithSecret,
  TenantQuery,
} from "../../shared/contracts/keys.ts";
import type { ApiKey, Tenant } from "../../shared/db/schema.ts";
import { ensureTenant, findTenantById, findTenantByName } from "../../shared/db/repositories/tenants.ts";
import { checkScopes, createApiKey, isAdmin, listApiKeys, revokeApiKey, ungrantable } from "../auth/index.ts";
import type { ApiDeps } from "../deps.ts";
import type { ApiEnv, Principal } from "../env.ts";
import { ApiError, validationHook } from "../errors.ts";
import { requireScope } from "../middleware/auth.ts";
import { IdParam, iso, jsonLimit, problems } from "./common.ts";

export function keysRoutes(deps: ApiDeps) {
  const app = new OpenAPIHono<ApiEnv>({ defaultHook: validationHook });
  const { db } = deps.database;
  const security = [{ apiKey: [] }];
  const tags = ["keys"];

  /** The tenant a request acts on: the caller's own, or (admin only) the named one. */
  async function tenantOf(principal: Principal, name: string | undefined, create: boolean): Promise<Tenant> {
    const own = await findTenantById(db, principal.tenantId);
    if (!own) throw new ApiError(401, "unauthorized", "The API key's tenant no longer exists");
    if (name === undefined || name === own.name) return own;
    if (!isAdmin(principal.scopes)) {
      throw new ApiError(
        403,
        "forbidden",
        `Cannot act on tenant '${name}' as only a key with the scope 'admin' may name another tenant`,
      );
    }
    const tenant = create ? await ensureTenant(db, name) : await findTenantByName(db, name);
    if (!tenant) throw new ApiError(404, "not-found", `No tenant named '${name}' exists`);
    return tenant;
  }

  app.openapi(
    createRoute({
      method: "post",
      path: "/",
      tags,
      security,
      summary: "Create an API key; the response holds the key, shown once",
      middleware: [requireScope("keys:write"), jsonLimit(deps)] as const,
      request: { body: { required: true, content: { "application/json": { schema: ApiKeyCreate } } } },
      responses: {
        201: { description: "created", content: { "application/json": { schema: ApiKeyWithSecret } } },
        ...problems(400, 401, 403, 404, 413, 415, 422),
      },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const principal = c.get("principal");
      const scopes = body.scopes === undefined ? ["*"] : checkScopes(body.scopes);
      const missing = ungrantable(principal.scopes, scopes);
      if (missing !== null) {
        throw new ApiError(
          403,
          "forbidden",
          `Cannot create a key with the scope '${missing}' as a key may only grant scopes it holds`,
        );
      }
      const tenant = await tenantOf(principal, body.tenant, true);
      const { key, apiKey } = await createApiKey(db, { tenant: tenant.name, name: body.name, scopes });
      deps.logger.info("api key created", {
        request_id: c.get("requestId"),
        by: principal.keyId,
        key_id: apiKey.publicId,
        tenant: tenant.name,
      });
      return c.json({ ...view(apiKey, tenant), key }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/",
      tags,
      security,
      summary: "List a tenant's API keys, newest first (revoked ones included)",
      middleware: [requireScope("keys:read")] as const,
      request: { query: TenantQuery },
      responses: {
        200: { description: "the keys", content: { "application/json": { schema: ApiKeyList } } },
        ...problems(401, 403, 404, 422),
      },
    }),
    async (c) => {
      const tenant = await tenantOf(c.get("principal"), c.req.valid("query").tenant, false);
      const keys = await listApiKeys(db, tenant.id);
      return c.json({ data: keys.map((k) => view(k, tenant)) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/{id}",
      tags,
      security,
      summary: "Revoke an API key at once",
      middleware: [requireScope("keys:write")] as const,
      request: { params: IdParam, query: TenantQuery },
      responses: {
        200: { description: "the revoked key", content: { "application/json": { schema: ApiKeyView } } },
        ...problems(401, 403, 404, 422),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const principal = c.get("principal");
      const tenant = await tenantOf(principal, c.req.valid("query").tenant, false);
      if (!await revokeApiKey(db, tenant.id, id)) {
        throw new ApiError(
          404,
          "not-found",
          `No active key with id '${id}' exists for tenant '${tenant.name}'`,
        );
      }
      const revoked = (await listApiKeys(db, tenant.id)).find((k) => k.publicId === id)!;
      deps.logger.info("api key revoked", {
        request_id: c.get("requestId"),
        by: principal.keyId,
        key_id: id,
      });
      return c.json(view(revoked, tenant), 200);
    },
  );
  return app;
}

function view(k: ApiKey, tenant: Tenant): ApiKeyView {
  return {
    id: k.publicId,
    object: "api_key",
    tenant: tenant.name,
    name: k.name,
    scopes: k.scopes,
    created_at: k.createdAt.toISOString(),
    last_used_at: iso(k.lastUsedAt),
    revoked_at: iso(k.revokedAt),
  };
}
