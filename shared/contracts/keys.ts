/**
 * Request and response shapes of /v1/keys (zod; the OpenAPI document and the `profs keys` client use them). The
 * key itself appears only in the response that creates it: only its hash is stored.
 */
import { z } from "zod";

export const ApiKeyCreate = z.strictObject({
  tenant: z.string().trim().min(1).max(200).optional().meta({
    description:
      "tenant name; the caller's own tenant when absent. Another tenant (created if new) needs `admin`",
    example: "acme",
  }),
  name: z.string().max(200).default("").meta({ description: "a label for people", example: "ci pipeline" }),
  scopes: z.array(z.string().min(1).max(50)).min(1).max(20).optional().meta({
    description: '`*`, `admin` or `<resource>:<read|write>` names; `["*"]` when absent. A key cannot mint ' +
      "a scope it lacks",
    example: ["edits:read", "edits:write"],
  }),
}).meta({ id: "ApiKeyCreate" });
export type ApiKeyCreate = z.infer<typeof ApiKeyCreate>;

export const ApiKeyView = z.object({
  id: z.string().meta({ description: "the key's public id (a prefix of the key; safe to log)" }),
  object: z.literal("api_key"),
  tenant: z.string(),
  name: z.string(),
  scopes: z.array(z.string()),
  created_at: z.string(),
  last_used_at: z.string().nullable().meta({ description: "to the minute" }),
  revoked_at: z.string().nullable(),
}).meta({ id: "ApiKey" });
export type ApiKeyView = z.infer<typeof ApiKeyView>;

export const ApiKeyWithSecret = ApiKeyView.extend({
  key: z.string().meta({ description: "the API key; shown only in this response" }),
}).meta({ id: "ApiKeyWithSecret" });
export type ApiKeyWithSecret = z.infer<typeof ApiKeyWithSecret>;

export const ApiKeyList = z.object({ data: z.array(ApiKeyView) }).meta({ id: "ApiKeyList" });
export type ApiKeyList = z.infer<typeof ApiKeyList>;

export const TenantQuery = z.object({
  tenant: z.string().trim().min(1).max(200).optional().meta({
    description: "tenant name; the caller's own tenant when absent. Another tenant needs `admin`",
  }),
});
