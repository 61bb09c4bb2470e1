/**
 * Tenants: the owner of every object. Named by operators (`keys create --tenant NAME`); `default` is the tenant
 * of PROFS_BOOTSTRAP_KEY. These are operator calls, not tenant-facing ones, so they run without a tenant scope.
 */
import { eq } from "drizzle-orm";
import type { Db } from "../database.ts";
import { type Tenant, tenants } from "../schema.ts";

export const DEFAULT_TENANT = "default";

/** The tenant with this name, created if missing (safe under concurrency). */
export async function ensureTenant(db: Db, name: string): Promise<Tenant> {
  await db.insert(tenants).values({ name }).onConflictDoNothing();
  const [tenant] = await db.select().from(tenants).where(eq(tenants.name, name));
  return tenant;
}

export async function findTenantByName(db: Db, name: string): Promise<Tenant | null> {
  const [tenant] = await db.select().from(tenants).where(eq(tenants.name, name));
  return tenant ?? null;
}

export async function findTenantById(db: Db, id: string): Promise<Tenant | null> {
  const [tenant] = await db.select().from(tenants).where(eq(tenants.id, id));
  return tenant ?? null;
}
