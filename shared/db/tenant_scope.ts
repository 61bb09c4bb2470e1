/**
 * Runs tenant-facing queries under Postgres row-level security: the second tenant boundary.
 *
 * Repositories filter every query by tenant id (the first boundary). `inTenantScope` also switches the
 * transaction to the role `profs_tenant` and sets `profs.tenant_id`, so the policies of migration
 * 0001_row_level_security hide other tenants' rows even from a query that forgets its filter. The connecting role
 * (superuser on PGlite, owner on a server) bypasses RLS, which is what the queue and key lookup need; the switch
 * makes the policies apply on both engines.
 *
 * Both settings are transaction-local (`set_config(…, true)`): given a transaction, the rest of that transaction
 * stays scoped to the tenant, so do not mix cross-tenant work (claims, the reaper) into it.
 */
import { sql } from "drizzle-orm";
import { PgTransaction } from "drizzle-orm/pg-core";
import type { Db } from "./database.ts";

export const TENANT_ROLE = "profs_tenant";

export async function inTenantScope<T>(db: Db, tenantId: string, fn: (tx: Db) => Promise<T>): Promise<T> {
  // Tenant ids come from authentication, never from a URL: a malformed one is a bug.
  if (!isUuid(tenantId)) throw new Error(`inTenantScope: tenant id must be a uuid, got '${tenantId}'`);
  const scoped = async (tx: Db) => {
    await tx.execute(
      sql`SELECT set_config('role', ${TENANT_ROLE}, true), set_config('profs.tenant_id', ${tenantId}, true)`,
    );
    return await fn(tx);
  };
  return isTransaction(db) ? await scoped(db) : await db.transaction(scoped);
}

/** Whether `db` is already a transaction (a plain boolean, so TypeScript keeps the schema-typed `Db`). */
export function isTransaction(db: Db): boolean {
  return db instanceof PgTransaction;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids arrive from URLs: anything that is not a uuid names no row (and must not reach a uuid cast). */
export function isUuid(value: string): boolean {
  return UUID.test(value);
}
