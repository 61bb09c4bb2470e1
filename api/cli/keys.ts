/**
 * `profs keys`: manage API keys in the service database (DATABASE_URL, else the embedded PGlite in
 * PROFS_DATA_DIR). A created key is printed once on stdout (so `KEY=$(profs keys create …)` works) and never
 * again: only its hash is stored.
 */
import { parseArgs } from "node:util";
import { createApiKey, listApiKeys, parseScopes, revokeApiKey } from "../auth/index.ts";
import { openDatabase } from "../../shared/db/index.ts";
import { findTenantByName } from "../../shared/db/repositories/tenants.ts";
import type { Db } from "../../shared/db/database.ts";
import { InputError } from "../../shared/errors.ts";

export const USAGE = `usage: profs keys <create|list|revoke> [options]

  profs keys create --tenant NAME [--scopes S1,S2] [--name LABEL]
        create a key (and the tenant if new); prints the key once. Scopes default to '*' (all); see
        api/auth/scopes.ts for the list (e.g. edits:read,edits:write)
  profs keys list --tenant NAME
        the tenant's keys: public id, name, scopes, created, last used, revoked
  profs keys revoke --tenant NAME PUBLIC_ID
        revoke a key at once

environment: DATABASE_URL (a Postgres server) or PROFS_DATA_DIR (embedded, default .data)`;

export async function run(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      tenant: { type: "string" },
      scopes: { type: "string" },
      name: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
    allowPositionals: true,
  });
  const [action, ...rest] = positionals;
  if (values.help || !action) {
    console.log(USAGE);
    if (!values.help) {
      throw new InputError("Cannot manage keys as an action must be given: create, list or revoke");
    }
    return;
  }
  if (!["create", "list", "revoke"].includes(action)) {
    throw new InputError(
      `Cannot manage keys as the action must be create, list or revoke: current value is '${action}'`,
    );
  }
  const tenantName = values.tenant?.trim();
  if (!tenantName) {
    throw new InputError(`Cannot ${action} keys as '--tenant' must name a tenant: it is missing`);
  }
  if (action !== "revoke" && rest.length) {
    throw new InputError(
      `Cannot ${action} keys as no positional arguments are taken: current value is '${rest[0]}'`,
    );
  }
  if (action === "revoke" && rest.length !== 1) {
    throw new InputError(
      `Cannot revoke a key as exactly one PUBLIC_ID must be given: current count is ${rest.length}`,
    );
  }
  const scopes = values.scopes === undefined ? undefined : parseScopes(values.scopes);

  const database = await openDatabase();
  try {
    if (action === "create") {
      const { key, apiKey } = await createApiKey(database.db, {
        tenant: tenantName,
        name: values.name,
        scopes,
      });
      console.log(key);
      console.error(
        `created key ${apiKey.publicId} for tenant '${tenantName}' with scopes ${apiKey.scopes.join(",")}; ` +
          "store it now: it is not shown again",
      );
    } else if (action === "list") {
      const tenantId = await tenantIdOf(database.db, tenantName);
      console.log(formatKeys(await listApiKeys(database.db, tenantId)));
    } else {
      const tenantId = await tenantIdOf(database.db, tenantName);
      if (!await revokeApiKey(database.db, tenantId, rest[0])) {
        throw new InputError(
          `Cannot revoke key '${rest[0]}' as it must be an active key of tenant '${tenantName}': no such key`,
        );
      }
      console.error(`revoked key ${rest[0]}`);
    }
  } finally {
    await database.close();
  }
}

async function tenantIdOf(db: Db, name: string): Promise<string> {
  const tenant = await findTenantByName(db, name);
  if (!tenant) {
    throw new InputError(`Cannot find tenant '${name}' as it must exist: create a key for it first`);
  }
  return tenant.id;
}

function formatKeys(
  keys: {
    publicId: string;
    name: string;
    scopes: string[];
    createdAt: Date;
    lastUsedAt: Date | null;
    revokedAt: Date | null;
  }[],
): string {
  const rows = [["PUBLIC_ID", "NAME", "SCOPES", "CREATED", "LAST_USED", "REVOKED"]];
  const when = (d: Date | null) => d ? d.toISOString() : "-";
  for (const k of keys) {
    rows.push([
      k.publicId,
      k.name || "-",
      k.scopes.join(","),
      when(k.createdAt),
      when(k.lastUsedAt),
      when(k.revokedAt),
    ]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i])).join("  ").trimEnd()).join("\n");
}
