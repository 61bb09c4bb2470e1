/**
 * Bearer API keys. `authenticate(verify)` turns `Authorization: Bearer <key>` into the key's tenant and
 * scopes, or answers 401; `requireScope(scope)` answers 403 when the key lacks a scope. Both answer with
 * `WWW-Authenticate` as RFC 6750 §3 asks, so clients can tell a missing key from a bad one from a weak one.
 */
import type { MiddlewareHandler } from "hono";
import type { ApiEnv, Principal } from "../env.ts";
import { ApiError } from "../errors.ts";
import { hasScope, type Scope, SCOPES } from "../auth/scopes.ts";

export type VerifyKey = (key: string) => Promise<Principal | null>;

export { SCOPES };
export type { Scope };

export function authenticate(verify: VerifyKey): MiddlewareHandler<ApiEnv> {
  return async function authenticate(c, next) {
    const header = c.req.header("Authorization");
    if (!header) {
      throw new ApiError(
        401,
        "unauthorized",
        "This route needs an API key: send 'Authorization: Bearer <key>'",
        {
          headers: { "WWW-Authenticate": 'Bearer realm="profs"' },
        },
      );
    }
    const match = /^Bearer[ ]+([^\s]+)\s*$/i.exec(header);
    const principal = match ? await verify(match[1]) : null;
    if (!principal) {
      throw new ApiError(401, "unauthorized", "The API key is not valid (unknown, malformed or revoked)", {
        headers: { "WWW-Authenticate": 'Bearer realm="profs", error="invalid_token"' },
      });
    }
    c.set("principal", principal);
    await next();
  };
}

export function requireScope(scope: Scope): MiddlewareHandler<ApiEnv> {
  return async function requireScope(c, next) {
    if (!hasScope(c.get("principal").scopes, scope)) {
      throw new ApiError(403, "forbidden", `This API key lacks the scope '${scope}' this route needs`, {
        headers: { "WWW-Authenticate": `Bearer realm="profs", error="insufficient_scope", scope="${scope}"` },
      });
    }
    await next();
  };
}
